import { lincomb } from '../core/ops.js';
import type { Tensor } from '../core/tensor.js';
import { ALL_PREDICTIONS } from './common.js';
import { lagrangeExpIntegrals } from './lagrange.js';
import { defineSampler, type SamplerDef } from './types.js';

/**
 * DEIS (Zhang & Chen 2023, arXiv 2204.13902) as diffusers' DEISMultistepScheduler runs it (algorithm 'deis',
 * solver 'logrho'; scheduling_deis_multistep.py): the exponential integrator of the ODE
 * d(z/a)/d rho = eps with rho = s/a, where eps is extrapolated by the Lagrange polynomial in log rho through
 * the last `order` outputs: z_t = a_t (z_s / a_s + sum_j c_j eps_j), c_j = int_{rho_s}^{rho_t} L_j(log rho) d rho.
 * Written as the DDIM step a_t x0 + s_t eps_0 plus a_t sum_{j>=1} c_j (eps_j - eps_0) (sum_j c_j = rho_t - rho_s),
 * which stays finite at a = 0 (first point of a flow grid) and s = 0.
 * Matched from diffusers: warm-up orders 1, 2, ...; with lower_order_final and fewer than 15 steps the last step
 * is first order and the one before at most second order. Beyond diffusers (whose DEIS never steps to sigma = 0):
 * a step into clean data is first order, and history points at a = 0 (rho = inf) are dropped.
 */

interface Hist {
  eps: Tensor;
  lam: number;
}

export const deis = defineSampler({
  name: 'deis',
  description: "DEIS (Zhang & Chen 2023): multistep exponential integrator with eps extrapolated in log(sigma) (diffusers' 'logrho' solver)",
  order: 2,
  nfePerStep: 1,
  stochastic: false,
  predictions: ALL_PREDICTIONS,
  params: {
    order: { type: 'number', default: 2, min: 1, max: 3, integer: true, doc: 'multistep order (diffusers solver_order)' },
    lower_order_final: { type: 'boolean', default: true, doc: 'with fewer than 15 steps, first order on the last step and at most second order on the one before (diffusers)' },
  },
  notes:
    'measured log-log slopes (continuous VP, log-SNR grid, 10-160 NFE / 80-640 NFE): order 1: -1.03 / -1.00; 2: -1.84 / -1.95; 3: -2.56 / -2.96 (pre-asymptotic below about 40 NFE)',
  async run({ fn, grid, z, params, report }) {
    const maxOrder = params.order;
    const lowerFinal = params.lower_order_final;
    const steps = grid.length - 1;
    let hist: Hist[] = [];
    for (let i = 0; i < steps; i++) {
      const from = grid[i]!, to = grid[i + 1]!;
      const est = await fn.estimate(z, from);
      const lamS = Math.log(from.a) - Math.log(from.s);
      hist = [{ eps: est.eps, lam: lamS }, ...hist].slice(0, maxOrder);
      let order = maxOrder;
      if (lowerFinal && steps < 15) {
        if (i === steps - 1) order = 1;
        else if (i === steps - 2) order = Math.min(order, 2);
      }
      let usable = 0;
      while (usable < hist.length && Number.isFinite(hist[usable]!.lam)) usable++;
      order = Math.max(1, Math.min(order, usable));
      if (to.s === 0) order = 1;

      const coeffs = [to.a, to.s], terms = [est.x0, est.eps];
      if (order >= 2) {
        // w = log(rho / rho_s) = lambda_s - lambda; the step ends at W = -(lambda_t - lambda_s).
        const used = hist.slice(0, order);
        const lamT = Math.log(to.a) - Math.log(to.s);
        // int_0^W L_j(w) e^w dw: the DEIS coefficients divided by rho_s, in w = log(rho / rho_s).
        const c = lagrangeExpIntegrals(used.map((e) => lamS - e.lam), lamS - lamT);
        const k = (to.a * from.s) / from.a; // a_t rho_s
        for (let j = 1; j < order; j++) {
          coeffs.push(k * c[j]!);
          terms.push(used[j]!.eps);
          coeffs[1]! -= k * c[j]!;
        }
      }
      lincomb(z, coeffs, terms);
      await report(i + 1, i + 1, z, est.x0);
    }
    return z;
  },
});

export const DEIS_SAMPLERS: SamplerDef[] = [deis];
