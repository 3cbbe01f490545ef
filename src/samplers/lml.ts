import type { Tensor } from '../core/tensor.js';
import type { Path } from '../paths/path.js';
import { ALL_PREDICTIONS } from './common.js';
import { defineSampler, type SamplerDef } from './types.js';

/**
 * Levenberg-Marquardt-Langevin (Wang et al., ICCV 2025, arXiv 2505.24222) as the official code does
 * it (zituitui/LML-diffusion-sampler: scheduler/scheduling_dpmsolver_multistep_lm.py `lm_correct`,
 * scheduler/scheduling_ddim_lm.py). Let n be the increment of the base step and p the previous step's
 * (uncorrected) increment; with e = kappa p + (1 - kappa) n the correction is the damped rank-one
 * Sherman-Morrison solve (lambda I + e e^T)^{-1} n, up to scale, rescaled to the length of n (per sample):
 *
 *   n' = n - e <n, e> / (lambda + <e, e>),   n' <- n' |n| / |n'|.
 *
 * DDIM base: n = eps_hat, z_t = a_t x0_hat + s_t n' (x0_hat unchanged), skipped while the time is in
 * the first `freeze` fraction of the time range. DPM-Solver++ base (2M, data prediction):
 * n = a_t (1 - e^{-h}) (D0 + D1/2) (midpoint) and z_t = (s_t/s_s) z + n'.
 *
 * With e = n (kappa = 0, or the first step) the correction is algebraically the identity; it is then
 * skipped, so kappa = 0 gives the base sampler bit for bit (the shipped default: the README commands
 * never pass --kappa).
 */

/** Per-sample LM correction of the increment n in place, given the previous increment p. */
function lmCorrect(n: Tensor, p: Tensor, kappa: number, lambda: number): void {
  const m = n.itemSize, nd = n.data, pd = p.data;
  for (let b = 0; b < n.batch; b++) {
    const o = b * m;
    let nn = 0, ne = 0, ee = 0;
    for (let i = o; i < o + m; i++) {
      const e = kappa * pd[i]! + (1 - kappa) * nd[i]!;
      nn += nd[i]! * nd[i]!;
      ne += nd[i]! * e;
      ee += e * e;
    }
    const c = ne / (lambda + ee);
    let mm = 0;
    for (let i = o; i < o + m; i++) {
      const e = kappa * pd[i]! + (1 - kappa) * nd[i]!;
      const v = nd[i]! - c * e;
      mm += v * v;
    }
    // Restore the length of n; a zero corrected increment (n parallel to e with lambda = 0) keeps n.
    if (!(mm > 0) || !(nn > 0)) continue;
    const scale = Math.sqrt(nn) / Math.sqrt(mm);
    for (let i = o; i < o + m; i++) {
      const e = kappa * pd[i]! + (1 - kappa) * nd[i]!;
      nd[i] = (nd[i]! - c * e) * scale;
    }
  }
}

/** Fraction of the time range at t, as the code's `timestep < 1000 - 1000 freeze` test on discrete VP. */
function timeFraction(path: Path, t: number): number {
  if (path.family === 'vp-discrete') return t / (path.tMax + 1);
  return (t - path.tMin) / (path.tMax - path.tMin);
}

export const lml = defineSampler({
  name: 'lml',
  description: 'Levenberg-Marquardt-Langevin (Wang et al., ICCV 2025): damped rank-one correction of the DDIM or DPM-Solver++(2M) increment; 1 NFE per step',
  order: 2,
  nfePerStep: 1,
  stochastic: false,
  predictions: ALL_PREDICTIONS,
  params: {
    base: { type: 'choice', default: 'dpm-solver++', values: ['dpm-solver++', 'ddim'], doc: 'the base sampler: DPM-Solver++(2M) multistep (data prediction) or DDIM' },
    kappa: { type: 'number', default: 0, min: 0, max: 1, doc: 'weight of the previous increment in e = kappa p + (1 - kappa) n; 0 (the official default) makes the correction the identity' },
    lambda: { type: 'number', default: 1e-3, min: 0, doc: 'Levenberg-Marquardt damping (README: 8e-4 to 1e-3 for 5-15 NFE, 5e-4 at 20, 3e-4 at 30; the scheduler default is 1.0)' },
    freeze: { type: 'number', default: 0, min: 0, max: 1, doc: 'DDIM base only: no correction while the time is in the first (noisiest) `freeze` fraction of the time range' },
    solver_type: { type: 'choice', default: 'midpoint', values: ['midpoint', 'heun'], doc: "DPM-Solver++ base: diffusers' second-order variant" },
    lower_order_final: {
      type: 'boolean',
      default: true,
      doc: "DPM-Solver++ base: first-order last step when steps < 15 (diffusers); the step into clean data is always first order (diffusers' final_sigmas_type zero)",
    },
  },
  notes:
    'kappa = 0 (the official default) is exactly the base sampler, bit for bit (order 1 for ddim, 2 for dpm-solver++). With kappa > 0 and lambda much smaller than ' +
    '|e|^2 the correction keeps only the part of n orthogonal to e (the O(kappa h) change of the increment) and rescales it to |n|, which turns the step ' +
    'direction and ruins the solution (measured on the test mixture: errors of order 1 for kappa = 0.1, lambda = 1e-3); lambda much larger than |n|^2 leaves n unchanged.',
  async run({ fn, path, grid, z, params, report }) {
    const base = params.base;
    const kappa = params.kappa, lambda = params.lambda, freeze = params.freeze;
    const heun = params.solver_type === 'heun';
    const steps = grid.length - 1;
    const lowerOrderFinal = params.lower_order_final && steps < 15;
    const inc = z.zerosLike(); // n, corrected in place
    const raw = z.zerosLike(); // n before the correction
    let prevInc: Tensor | null = null; // p: the previous step's uncorrected increment
    let m1: Tensor | null = null; // previous x0 estimate (DPM-Solver++)
    for (let i = 0; i < steps; i++) {
      const from = grid[i]!, to = grid[i + 1]!;
      const { x0, eps } = await fn.estimate(z, from);
      const nd = inc.data, xd = x0.data, zd = z.data;
      if (base === 'ddim') {
        nd.set(eps.data);
        if (kappa > 0 && prevInc !== null && timeFraction(path, from.t) < 1 - freeze) lmCorrect(inc, prevInc, kappa, lambda);
        prevInc = eps; // the code keeps the raw eps (self.prev_noise = pred_epsilon)
        for (let k = 0; k < zd.length; k++) zd[k] = to.a * xd[k]! + to.s * nd[k]!;
      } else {
        // DPM-Solver++ (2M): h = lambda_t - lambda_s; first order on the first step, on the last step
        // when lower_order_final and steps < 15, and into clean data (diffusers DPMSolverMultistepScheduler).
        const h = Math.log(to.a) - Math.log(to.s) - (Math.log(from.a) - Math.log(from.s));
        const phi = -Math.expm1(-h); // 1 - e^{-h}
        const ratio = to.s / from.s;
        const first = m1 === null || (i === steps - 1 && lowerOrderFinal) || to.s === 0;
        if (first) {
          const c0 = to.a * phi;
          for (let k = 0; k < nd.length; k++) nd[k] = c0 * xd[k]!;
        } else {
          const prev = grid[i - 1]!;
          const h0 = Math.log(from.a) - Math.log(from.s) - (Math.log(prev.a) - Math.log(prev.s));
          const invR = h / h0; // 1/r0, D1 = (m0 - m1)/r0; 0 when the previous point has a = 0
          const m1d = m1!.data;
          const c0 = to.a * phi;
          // heun: a_t ((e^{-h} - 1)/h + 1) D1, which tends to 0 with h (a zero-length last step has h = 0).
          const c1 = heun ? (h === 0 ? 0 : to.a * (1 - phi / h) * invR) : 0.5 * to.a * phi * invR;
          for (let k = 0; k < nd.length; k++) nd[k] = c0 * xd[k]! + c1 * (xd[k]! - m1d[k]!);
        }
        if (kappa > 0 && prevInc !== null) {
          raw.data.set(nd);
          lmCorrect(inc, prevInc, kappa, lambda);
          prevInc.data.set(raw.data);
        } else {
          prevInc ??= z.zerosLike();
          prevInc.data.set(nd);
        }
        for (let k = 0; k < zd.length; k++) zd[k] = ratio * zd[k]! + nd[k]!;
        m1 = x0;
      }
      await report(i + 1, i + 1, z, x0);
    }
    return z;
  },
});

export const LML_SAMPLERS: readonly SamplerDef[] = [lml];
