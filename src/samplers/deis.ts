import { lincomb } from '../core/ops.js';
import type { Tensor } from '../core/tensor.js';
import { ALL_PREDICTIONS } from './common.js';
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

/** I_n = int_0^W w^n e^w dw for n = 0..2 (series for |W| < 1, where the closed form cancels). */
function expMoments(W: number): [number, number, number] {
  if (Math.abs(W) < 1) {
    const out: [number, number, number] = [0, 0, 0];
    for (let n = 0; n < 3; n++) {
      let pw = W ** (n + 1), fact = 1, sum = 0;
      for (let k = 0; k < 40; k++) {
        const term = pw / (fact * (n + k + 1));
        sum += term;
        if (Math.abs(term) < 1e-18 * Math.abs(sum)) break;
        pw *= W;
        fact *= k + 1;
      }
      out[n] = sum;
    }
    return out;
  }
  const e = Math.exp(W);
  const i0 = Math.expm1(W);
  const i1 = W * e - i0;
  return [i0, i1, W * W * e - 2 * i1];
}

/**
 * int_0^W L_j(w) e^w dw for the Lagrange basis on nodes w (w[0] = 0): the DEIS coefficients divided by rho_s,
 * in w = log(rho / rho_s).
 */
export function deisCoefficients(nodes: number[], W: number): number[] {
  const I = expMoments(W);
  return nodes.map((wj, j) => {
    let poly = [1];
    let den = 1;
    nodes.forEach((wm, m) => {
      if (m === j) return;
      const next = new Array<number>(poly.length + 1).fill(0);
      poly.forEach((c, k) => {
        next[k + 1]! += c;
        next[k]! -= wm * c;
      });
      poly = next;
      den *= wj - wm;
    });
    return poly.reduce((acc, c, k) => acc + c * I[k]!, 0) / den;
  });
}

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
        const c = deisCoefficients(used.map((e) => lamS - e.lam), lamS - lamT);
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
