import { lincomb3, lincomb2 } from '../core/ops.js';
import { Stream } from '../core/rng.js';
import type { GridPoint } from '../paths/path.js';
import { ALL_PREDICTIONS } from './common.js';
import type { SamplerDef } from './types.js';

/**
 * Noise scale of the DDIM family (Song et al. 2021, eq. 16) on any affine path: from s to t,
 * c = eta s_t sqrt(1 - e^{-2h}), h = lambda_t - lambda_s; eta = 1 is the DDPM posterior.
 */
export function ddimNoiseScale(from: GridPoint, to: GridPoint, eta: number): number {
  if (eta === 0 || to.s === 0) return 0;
  const r = (from.a * to.s) / (to.a * from.s); // e^{-h}
  return eta * to.s * Math.sqrt(Math.max(0, 1 - r * r));
}

export const ddim: SamplerDef = {
  name: 'ddim',
  description: 'DDIM (Song et al. 2021): x_t = a_t x0 + sqrt(s_t^2 - c^2) eps + c xi; eta = 0 is the first-order exponential integrator of the probability-flow ODE, eta = 1 ancestral DDPM',
  order: 1,
  nfePerStep: 1,
  stochastic: false,
  predictions: ALL_PREDICTIONS,
  params: { eta: { type: 'number', default: 0, min: 0, doc: 'noise scale: 0 deterministic, 1 the DDPM posterior' } },
  notes: 'deterministic at the default eta = 0; stochastic when eta > 0',
  async run({ fn, grid, z, noise, params, report }) {
    const eta = params.eta as number;
    for (let i = 0; i < grid.length - 1; i++) {
      const from = grid[i]!, to = grid[i + 1]!;
      const { x0, eps } = await fn.estimate(z, from);
      const c = ddimNoiseScale(from, to, eta);
      const ce = Math.sqrt(Math.max(0, to.s * to.s - c * c));
      if (c > 0) lincomb3(z, to.a, x0, ce, eps, c, noise.normal(z.shape, i, Stream.noise, z.dtype));
      else lincomb2(z, to.a, x0, ce, eps);
      await report(i + 1, i + 1, z, x0);
    }
    return z;
  },
};

/**
 * DDIM inversion: the deterministic DDIM update run from data towards noise. The model is evaluated at
 * the current point, or at the next one when the current point is clean data (s = 0), as diffusers'
 * DDIMInverseScheduler does for its first step.
 */
export const ddimInverse: SamplerDef = {
  name: 'ddim-inverse',
  description: 'DDIM inversion: deterministic DDIM from data to noise (for editing and reconstruction)',
  order: 1,
  nfePerStep: 1,
  stochastic: false,
  inverse: true,
  predictions: ALL_PREDICTIONS,
  params: {},
  async run({ fn, grid, z, report }) {
    for (let i = 0; i < grid.length - 1; i++) {
      const from = grid[i]!, to = grid[i + 1]!;
      const at = from.s === 0 ? { ...to } : from;
      const { x0, eps } = await fn.estimate(from.s === 0 ? rescale(z, from, to) : z, at);
      lincomb2(z, to.a, x0, to.s, eps);
      await report(i + 1, i + 1, z, x0);
    }
    return z;
  },
};

/** Clean data seen from the next point: the model input a_t x0 (no noise yet). */
function rescale(z: import('../core/tensor.js').Tensor, from: GridPoint, to: GridPoint) {
  const out = z.zerosLike();
  const r = to.a / from.a;
  for (let i = 0; i < out.data.length; i++) out.data[i] = r * z.data[i]!;
  return out;
}
