import { lincomb } from '../core/ops.js';
import type { Tensor } from '../core/tensor.js';
import { ALL_PREDICTIONS } from './common.js';
import { lagrangeIntegrals01 } from './lagrange.js';
import { defineSampler, type SamplerDef } from './types.js';

/**
 * Linear multistep in sigma (k-diffusion sample_lms, diffusers LMSDiscreteScheduler): Adams-Bashforth on the
 * variance-exploding ODE d(z/a)/d sigma = eps, sigma = s/a, with coefficients c_j = int_{sigma_i}^{sigma_i+1}
 * L_j(tau) d tau of the Lagrange basis through the last min(i + 1, order) sigmas. The integrand is a polynomial,
 * integrated exactly here (k-diffusion and diffusers use scipy quad with epsrel 1e-4). As both, the step into
 * sigma = 0 keeps the full order (the polynomial integral is finite there).
 * Written as the DDIM step a_t x0 + s_t eps_0 plus a_t sum_{j>=1} c_j (eps_j - eps_0), so a start at a = 0
 * (sigma = inf, rectified flow at t = 1) is a first-order step and drops out of later stencils (the limit of the
 * Lagrange basis as a node goes to infinity).
 */

interface Hist {
  eps: Tensor;
  sigma: number;
}

export const lms = defineSampler({
  name: 'lms',
  description: 'Linear multistep (Adams-Bashforth) in sigma = s/a on the probability-flow ODE (k-diffusion sample_lms, diffusers LMSDiscreteScheduler)',
  order: 4,
  nfePerStep: 1,
  stochastic: false,
  predictions: ALL_PREDICTIONS,
  params: {
    order: { type: 'number', default: 4, min: 1, max: 6, integer: true, doc: 'number of past derivatives in the stencil (diffusers step(order=4), k-diffusion order=4)' },
  },
  notes:
    'measured log-log slopes (continuous VP, log-SNR grid, 10-160 NFE / 80-640 NFE): order 2: -1.80 / -1.95; 3: -2.44 / -2.89; 4: -3.05 / -3.87 (pre-asymptotic at low NFE). ' +
    'The warm-up steps use orders 1, 2, 3 (as k-diffusion and diffusers), so the first step is locally second order: where it starts at moderate noise ' +
    '(EDM, sigma-uniform grid 5 -> 0.5) order 4 falls to 2 asymptotically (-3.30 at 10-160 NFE, -2.32 at 80-640); from high noise that error is negligible',
  async run({ fn, grid, z, params, report }) {
    const maxOrder = params.order;
    const steps = grid.length - 1;
    let hist: Hist[] = [];
    for (let i = 0; i < steps; i++) {
      const from = grid[i]!, to = grid[i + 1]!;
      const est = await fn.estimate(z, from);
      hist = [{ eps: est.eps, sigma: from.s / from.a }, ...hist].slice(0, maxOrder);
      let order = 0;
      while (order < hist.length && Number.isFinite(hist[order]!.sigma)) order++;
      // tau = sigma_i + H u, H = sigma_i+1 - sigma_i: c_j = H int_0^1 L_j(u) du (a zero-length step is the identity).
      const sI = hist[0]!.sigma, H = to.s / to.a - sI;
      if (H === 0) order = 1;

      const coeffs = [to.a, to.s], terms = [est.x0, est.eps];
      if (order >= 2) {
        const c = lagrangeIntegrals01(hist.slice(0, order).map((e) => (e.sigma - sI) / H));
        for (let j = 1; j < order; j++) {
          const w = to.a * H * c[j]!;
          coeffs.push(w);
          terms.push(hist[j]!.eps);
          coeffs[1]! -= w;
        }
      }
      lincomb(z, coeffs, terms);
      await report(i + 1, i + 1, z, est.x0);
    }
    return z;
  },
});

export const LMS_SAMPLERS: SamplerDef[] = [lms];
