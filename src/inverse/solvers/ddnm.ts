import { fail } from '../../core/errors.js';
import { Stream } from '../../core/rng.js';
import { etaSplitCoefficients } from '../../samplers/ddim.js';
import { defineSolver, type SolverDef } from './types.js';
import { fromSpectralInto, spectral, spectralMeasurement } from './ddrm.js';

/**
 * The time-travel schedule of DDNM / RePaint on grid indices 0..steps (0 = noisiest): for each grid
 * index i, how many times the sampler jumps back from i to i - length after reaching it. Travel points
 * are i = steps-1, steps-1-length, ... while i >= length (the authors' get_schedule_jump with their
 * index k = steps-1-i), each repeated `repeat - 1` times.
 */
export function timeTravelJumps(steps: number, length: number, repeat: number): Map<number, number> {
  const jumps = new Map<number, number>();
  if (repeat <= 1) return jumps;
  for (let k = 0; k < steps - length; k += length) jumps.set(steps - 1 - k, repeat - 1);
  return jumps;
}

/** Model evaluations of DDNM with time travel on a grid of `steps` steps. */
export function ddnmNfe(steps: number, length: number, repeat: number): number {
  let extra = 0;
  for (const r of timeTravelJumps(steps, length, repeat).values()) extra += r * length;
  return steps + extra;
}

/**
 * DDNM (Wang et al. 2023, "Zero-Shot Image Restoration Using Denoising Diffusion Null-Space Model").
 * Each step corrects the x0 estimate in the range of A and keeps its null-space part (eq. 11-13):
 *   x0' = x0 - A^+ (A x0 - y),      z' = a' x0' + eta s' xi + sqrt(1-eta^2) s' eps.
 * DDNM+ (sec. 3.3, eq. 17-19, in the per-singular-value form of the authors' SVD code, Lambda and
 * Lambda_noise): the correction is scaled, x0' = x0 - V Sigma_t V^T A^+(A x0 - y), so that the
 * measurement noise it carries in, a' sigma_y / s_i, never exceeds the noise level s' of the target:
 *   s' >= a' sigma_y / s_i:  lambda_i = 1,  fresh noise sqrt(s'^2 - (a' sigma_y / s_i)^2), no eps term;
 *   s' <  a' sigma_y / s_i:  lambda_i = s_i s' sqrt(1-eta^2) / (a' sigma_y),  fresh noise eta s', no eps term;
 * null-space coordinates (s_i = 0) take the plain step. Time travel (sec. 3.4, from RePaint): after
 * reaching a travel point the state is diffused forward `travel_length` grid points,
 * z <- (a_j / a_i) z + sqrt(s_j^2 - (a_j s_i / a_i)^2) xi, and the steps are redone.
 */
export const ddnm = defineSolver({
  name: 'ddnm',
  description: 'DDNM / DDNM+: range-null-space decomposition, x0 <- x0 - A^+(A x0 - y) in the SVD space, scaled for noisy measurements (DDNM+), with optional time travel',
  needs: { svd: true },
  stochastic: true,
  nfePerStep: '1, plus travel_length x (travel_repeat - 1) at each time-travel point',
  params: {
    eta: { type: 'number', default: 0.85, min: 0, max: 1, doc: 'fresh-noise fraction of each step (the authors\' eta: noise eta s_t xi + sqrt(1-eta^2) s_t eps_hat; not DDIM\'s eta)' },
    variant: { type: 'choice', default: 'auto', values: ['auto', 'ddnm', 'ddnm+'], doc: 'ddnm: hard range-space replacement (noiseless A x = y); ddnm+: correction and noise scaled by the measurement noise sigma_y (sec. 3.3); auto: ddnm+ when sigma_y > 0, else ddnm (they coincide at sigma_y = 0)' },
    travel_length: { type: 'number', default: 1, min: 1, integer: true, doc: 'time-travel jump back, in grid points (authors\' config: 1)' },
    travel_repeat: { type: 'number', default: 1, min: 1, integer: true, doc: 'times each travel interval is sampled (1 = no time travel; authors\' config: 1); each repeat costs travel_length NFE' },
  },
  notes: 'With sigma_y = 0 the result meets A x = y exactly. The plain ddnm variant ignores the measurement noise (it projects onto A x = y). ' +
    'DDNM+ in this per-singular-value form equals DDRM with eta_b = 1 apart from the initial state (DDRM starts from p(x_T | y)). ' +
    'Time travel diffuses the current state forward as the paper (Alg. 3) and RePaint; the authors\' svd_ddnm.py instead re-noises the last uncorrected x0 estimate.',
  async run({ fn, grid, op, y, sigmaY, z, noise, params, report }) {
    const eta = params.eta;
    const variant = params.variant;
    const plus = variant === 'ddnm+' || (variant === 'auto' && sigmaY > 0);
    const length = params.travel_length, repeat = params.travel_repeat;
    const svd = op.svd!;
    const s = svd.singularValues, n = svd.size, B = z.batch;
    const { ybar } = spectralMeasurement(svd, y);
    const steps = grid.length - 1;
    if (repeat > 1 && length >= steps) fail('BAD_CONFIG', `ddnm: travel_length ${length} must be smaller than the number of steps (${steps}); lower travel_length or add steps`);
    const jumps = timeTravelJumps(steps, length, repeat);

    const next = new Float64Array(B * n);
    let i = 0, count = 0;
    while (i < steps) {
      const from = grid[i]!, to = grid[i + 1]!;
      const { x0, eps } = await fn!.estimate(z, from);
      const v0 = spectral(svd, x0), ve = spectral(svd, eps);
      const xi = noise.normal([B, n], count, Stream.noise, 'float64').data;
      const a = to.a, st = to.s;
      // eps and fresh-noise weights of the plain step, sqrt(1 - eta^2) s' and eta s'.
      const { eps: ce, noise: cn } = etaSplitCoefficients(a, st, eta);
      for (let k = 0; k < next.length; k++) {
        const si = s[k % n]!;
        let v: number;
        if (si === 0) {
          v = a * v0[k]! + ce * ve[k]! + cn * xi[k]!;
        } else if (!plus || sigmaY === 0 || !(a > 0)) {
          // Range-space replacement: (I - A^+ A) x0 + A^+ y in spectral coordinates.
          v = a * ybar[k]! + ce * ve[k]! + cn * xi[k]!;
        } else {
          const thr = (a * sigmaY) / si; // std of the measurement noise y_bar carries into a' x0'
          if (st >= thr) {
            v = a * ybar[k]! + Math.sqrt(Math.max(0, st * st - thr * thr)) * xi[k]!;
          } else {
            const lambda = ce / thr;
            v = a * (v0[k]! - lambda * (v0[k]! - ybar[k]!)) + cn * xi[k]!;
          }
        }
        next[k] = v;
      }
      fromSpectralInto(svd, next, z);
      count++;
      i++;
      await report(count, i, z, x0);
      const left = jumps.get(i) ?? 0;
      if (left > 0) {
        // Time travel: diffuse forward from grid[i] to grid[i - length] (q(x_{t+l} | x_t)).
        jumps.set(i, left - 1);
        const p = grid[i]!, q = grid[i - length]!;
        const r = q.a / p.a, c = Math.sqrt(Math.max(0, q.s * q.s - r * r * p.s * p.s));
        const w = noise.normal(z.shape, count, Stream.aux, z.dtype).data, d = z.data;
        for (let k = 0; k < d.length; k++) d[k] = r * d[k]! + c * w[k]!;
        i -= length;
      }
    }
    return z;
  },
});

export const DDNM_SOLVERS: readonly SolverDef[] = [ddnm];
