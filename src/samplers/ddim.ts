import { lincomb2 } from '../core/ops.js';
import { Stream, type NoiseSource } from '../core/rng.js';
import type { Data, Tensor } from '../core/tensor.js';
import { estimateBuffers } from '../models/model-fn.js';
import type { GridPoint } from '../paths/path.js';
import { ALL_PREDICTIONS } from './common.js';
import { defineSampler } from './types.js';

/**
 * Noise scale of the DDIM family (Song et al. 2021, eq. 16) on any affine path: from s to t,
 * c = eta s_t sqrt(1 - e^{-2h}), h = lambda_t - lambda_s; eta = 1 is the DDPM posterior.
 */
export function ddimNoiseScale(from: GridPoint, to: GridPoint, eta: number): number {
  if (eta === 0 || to.s === 0) return 0;
  const r = (from.a * to.s) / (to.a * from.s); // e^{-h}
  return eta * to.s * Math.sqrt(Math.max(0, 1 - r * r));
}

/** The weights of one denoising step z' = a x0 + eps * eps_hat + noise * xi. */
export interface StepCoefficients {
  a: number;
  eps: number;
  noise: number;
}

/** DDIM with eta (Song et al. 2021, eq. 12): a_to x0 + sqrt(s_to^2 - c^2) eps + c xi, c = ddimNoiseScale. */
export function ddimCoefficients(from: GridPoint, to: GridPoint, eta: number): StepCoefficients {
  const c = ddimNoiseScale(from, to, eta);
  return { a: to.a, eps: Math.sqrt(Math.max(0, to.s * to.s - c * c)), noise: c };
}

/**
 * The eta split of DDRM / DDNM / DDS (Kawar et al. 2022, eq. 7; Wang et al. 2023, eq. 13): at noise
 * level s the fresh noise is eta s and the carried noise sqrt(1 - eta^2) s; eta is the fraction of
 * fresh noise, not DDIM's eta.
 */
export function etaSplitCoefficients(a: number, s: number, eta: number): StepCoefficients {
  return { a, eps: Math.sqrt(Math.max(0, 1 - eta * eta)) * s, noise: eta * s };
}

/**
 * One denoising step written into z: z <- k.a x0 + k.eps eps + k.noise xi, xi the standard normal noise
 * of step `index` (drawn only when k.noise > 0). Samplers and posterior solvers take their steps with it.
 * The noise is drawn into z itself (the step does not read z), so x0 and eps must not share z's array.
 */
export function ddimStep(z: Tensor, x0: Data, eps: Data, k: StepCoefficients, noise: NoiseSource, index: number): Tensor {
  const o = z.data, { a, eps: ce, noise: c } = k;
  if (c > 0) {
    noise.fillNormal(z, index, Stream.noise);
    for (let i = 0; i < o.length; i++) o[i] = a * x0[i]! + ce * eps[i]! + c * o[i]!;
  } else {
    for (let i = 0; i < o.length; i++) o[i] = a * x0[i]! + ce * eps[i]!;
  }
  return z;
}

export const ddim = defineSampler({
  name: 'ddim',
  description: 'DDIM (Song et al. 2021): x_t = a_t x0 + sqrt(s_t^2 - c^2) eps + c xi; eta = 0 is the first-order exponential integrator of the probability-flow ODE, eta = 1 ancestral DDPM',
  order: 1,
  nfePerStep: 1,
  stochastic: false,
  predictions: ALL_PREDICTIONS,
  params: { eta: { type: 'number', default: 0, min: 0, doc: 'noise scale: 0 deterministic, 1 the DDPM posterior' } },
  notes: 'deterministic at the default eta = 0; stochastic when eta > 0',
  async run({ fn, grid, z, noise, params, report }) {
    const est = estimateBuffers(z);
    for (let i = 0; i < grid.length - 1; i++) {
      const from = grid[i]!, to = from.ddimTo ?? grid[i + 1]!;
      const { x0, eps } = await fn.estimate(z, from, false, est);
      ddimStep(z, x0.data, eps.data, ddimCoefficients(from, to, params.eta), noise, i);
      await report(i + 1, i + 1, z, x0);
    }
    return z;
  },
});

/**
 * DDIM inversion: the deterministic DDIM update run from data towards noise. The model is evaluated at the current
 * point; at clean data (s = 0) either at the next point on the input a_next x (clean_start next-point) or there as it
 * is, x0 the sample and eps the model's output (as-is: diffusers' DDIMInverseScheduler with set_alpha_to_one, whose
 * grid points carry the timestep it hands the model, see src/samplers/diffusers.ts).
 */
export const ddimInverse = defineSampler({
  name: 'ddim-inverse',
  description: 'DDIM inversion: deterministic DDIM from data to noise (for editing and reconstruction)',
  order: 1,
  nfePerStep: 1,
  stochastic: false,
  inverse: true,
  predictions: ALL_PREDICTIONS,
  params: {
    clean_start: { type: 'choice', default: 'next-point', values: ['next-point', 'as-is'], doc: 'at clean data: evaluate at the next point on a_next x, or as-is (eps and v models: x0 = the sample, eps = the output; diffusers DDIMInverseScheduler)' },
  },
  async run({ fn, grid, z, params, report }) {
    for (let i = 0; i < grid.length - 1; i++) {
      const from = grid[i]!, to = from.ddimTo ?? grid[i + 1]!;
      const moved = from.s === 0 && params.clean_start === 'next-point';
      const { x0, eps } = await fn.estimate(moved ? rescale(z, from, to) : z, moved ? { ...to } : from, from.s === 0);
      lincomb2(z, to.a, x0, to.s, eps);
      await report(i + 1, i + 1, z, x0);
    }
    return z;
  },
});

/** Clean data seen from the next point: the model input a_t x0 (no noise yet). */
function rescale(z: Tensor, from: GridPoint, to: GridPoint) {
  const out = z.zerosLike();
  const r = to.a / from.a;
  for (let i = 0; i < out.data.length; i++) out.data[i] = r * z.data[i]!;
  return out;
}
