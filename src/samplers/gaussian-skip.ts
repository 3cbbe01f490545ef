import { fail } from '../core/errors.js';
import type { Tensor } from '../core/tensor.js';
import type { Denoiser } from '../models/denoiser.js';
import { gaussianFitFromMoments, type GaussianFit } from '../models/gaussian-fit.js';
import type { GridPoint, Path } from '../paths/path.js';
import { ALL_PREDICTIONS } from './common.js';
import { ddim } from './ddim.js';
import { evodiff } from './evodiff.js';
import { lml } from './lml.js';
import { resolveParams, type NumberParam, type ParamSpecs, type ParamsOf, type ParamValues } from './method.js';
import { defineSampler, type SamplerContext, type SamplerDef } from './types.js';

/**
 * Closed-form probability flow for Gaussian data (Wang & Vastola, "Diffusion models generate images
 * like painters", arXiv 2303.02490; used to skip early steps in their 2024 follow-up, arXiv 2412.09726).
 * For x0 ~ N(mu, Sigma), Sigma = U diag(lam) U^T, the centered state z = a x0 + s eps has marginal
 * N(a mu, C), C = a^2 Sigma + s^2 I, and the probability-flow ODE is solved by
 *
 *   z_t = a_t mu + C_t^{1/2} C_T^{-1/2} (z_T - a_T mu),  i.e. per eigendirection the gain sqrt((a_t^2 lam + s_t^2)/(a_T^2 lam + s_T^2)).
 *
 * The fit (models/gaussian-fit.ts) keeps the top K eigenpairs and one isotropic variance for the rest.
 */
export { fitGaussian, gaussianFitFromMoments, type GaussianFit } from '../models/gaussian-fit.js';

const pointOf = (path: Path, p: GridPoint | number): GridPoint => (typeof p === 'number' ? path.point(p) : p);

/**
 * Move the centered state z (z = x - b mu; just x on generative paths) along the exact probability
 * flow of the Gaussian fit from `from` to `to` (times or grid points), 0 NFE. Writes into `out`
 * (default a new tensor). Any batch size; each item has fit.dim elements.
 */
export function gaussianSkip(fit: GaussianFit, path: Path, from: GridPoint | number, to: GridPoint | number, zFrom: Tensor, out?: Tensor): Tensor {
  const p = pointOf(path, from), q = pointOf(path, to);
  const d = fit.dim;
  if (zFrom.itemSize !== d) fail('BAD_SHAPE', `gaussianSkip: state items have ${zFrom.itemSize} elements but the fit has dimension ${d}`);
  if (!(p.s > 0)) fail('BAD_INPUT', `gaussianSkip: the start point must be noisy (s > 0), got t = ${p.t}`);
  const K = fit.values.length;
  const gain = (lam: number) => Math.sqrt((q.a * q.a * lam + q.s * q.s) / (p.a * p.a * lam + p.s * p.s));
  const gk = Float64Array.from(fit.values, gain);
  const gRest = gain(fit.rest);
  const res = out ?? zFrom.zerosLike();
  const r = new Float64Array(d), c = new Float64Array(K);
  const { mean, vectors } = fit;
  for (let b = 0; b < zFrom.batch; b++) {
    const off = b * d;
    for (let i = 0; i < d; i++) r[i] = zFrom.data[off + i]! - p.a * mean[i]!;
    for (let k = 0; k < K; k++) {
      let acc = 0;
      for (let i = 0; i < d; i++) acc += vectors[k * d + i]! * r[i]!;
      c[k] = (gk[k]! - gRest) * acc;
    }
    for (let i = 0; i < d; i++) {
      let acc = q.a * mean[i]! + gRest * r[i]!;
      for (let k = 0; k < K; k++) acc += c[k]! * vectors[k * d + i]!;
      res.data[off + i] = acc;
    }
  }
  return res;
}

/** Fits attached to denoisers (the statistics of the data a model was trained on). */
const attached = new WeakMap<Denoiser, GaussianFit>();

/** Attach a Gaussian fit of the training data to a denoiser, for the `gaussian-skip` sampler. Returns the denoiser. */
export function attachGaussianFit<D extends Denoiser>(denoiser: D, fit: GaussianFit): D {
  attached.set(denoiser, fit);
  return denoiser;
}

/** The attached fit, else the exact moments of an analytic mixture model, else null. */
function fitFor(denoiser: Denoiser): GaussianFit | null {
  const fit = attached.get(denoiser);
  if (fit) return fit;
  const mixture = (denoiser as { mixture?: { moments?: () => { mean: Float64Array; cov: Float64Array } } }).mixture;
  if (mixture && typeof mixture.moments === 'function') {
    const m = mixture.moments();
    const f = gaussianFitFromMoments(m.mean, m.cov);
    attached.set(denoiser, f);
    return f;
  }
  return null;
}

const skipSpec = {
  type: 'number',
  default: 0.2,
  min: 0,
  max: 1,
  doc: 'fraction of the grid steps jumped by the Gaussian closed form (0 NFE); at least one step is left to the finishing sampler',
} as const satisfies NumberParam;

/** Run `then` on the rest of the grid after jumping the first steps in closed form. */
async function skipThenRun(ctx: SamplerContext, fit: GaussianFit, fraction: number, then: SamplerDef, thenParams: ParamsOf<ParamSpecs>): Promise<Tensor> {
  const { grid, z, path } = ctx;
  const steps = grid.length - 1;
  const k = Math.min(steps - 1, Math.round(fraction * steps));
  if (k <= 0) return then.run({ ...ctx, params: thenParams });
  if (!(grid[0]!.s > 0)) fail('BAD_INPUT', 'gaussian-skip: the grid must start at a noisy point');
  // Point by point (the closed-form maps compose exactly), so progress and cancellation see every skipped step.
  for (let j = 1; j <= k; j++) {
    gaussianSkip(fit, path, grid[j - 1]!, grid[j]!, z, z);
    await ctx.report(j, j, z, null);
  }
  return then.run({
    ...ctx,
    grid: grid.slice(k),
    z,
    params: thenParams,
    report: (step, pointIndex, zs, x0) => ctx.report(k + step, k + pointIndex, zs, x0),
  });
}

/**
 * A sampler that jumps the first `skipFraction` of the grid with the Gaussian closed form of `fit`
 * and lets `then` (any deterministic or stochastic sampler) finish. Its params are `skip_fraction`
 * plus those of `then`.
 */
export function makeGaussianSkipSampler(fit: GaussianFit, opts: { skipFraction?: number; then?: SamplerDef } = {}): SamplerDef {
  const then: SamplerDef = opts.then ?? ddim;
  if (then.inverse) fail('BAD_INPUT', `gaussian-skip cannot finish with the inversion sampler ${then.name}`);
  if ('skip_fraction' in then.params) fail('BAD_INPUT', `gaussian-skip: ${then.name} already has a skip_fraction option`);
  return defineSampler({
    name: 'gaussian-skip',
    description: `Gaussian closed-form jump over the first steps (0 NFE), then ${then.name}`,
    order: then.order,
    nfePerStep: then.nfePerStep,
    stochastic: then.stochastic,
    predictions: then.predictions,
    params: { skip_fraction: { ...skipSpec, default: opts.skipFraction ?? skipSpec.default }, ...then.params },
    notes: `Exact for Gaussian data; for other data the jump carries the error of the Gaussian approximation of the early flow. Finishes with ${then.name}.`,
    async run(ctx) {
      const { skip_fraction, ...rest } = ctx.params;
      return skipThenRun(ctx, fit, skip_fraction, then, rest);
    },
  });
}

const FINISHERS: Record<string, { def: SamplerDef; params: Partial<ParamValues> }> = {
  ddim: { def: ddim, params: {} },
  'dpm-solver++': { def: lml, params: { base: 'dpm-solver++', kappa: 0 } },
  evodiff: { def: evodiff, params: {} },
};

/**
 * The registry form: the fit comes from attachGaussianFit(denoiser, fit), or, for the analytic mixture
 * model, from its exact mean and covariance. The finisher is chosen by name with its default options.
 */
export const gaussianSkipSampler = defineSampler({
  name: 'gaussian-skip',
  description: 'Gaussian closed-form jump over the first steps (Wang & Vastola 2023), then a finishing sampler; the data fit comes from attachGaussianFit',
  order: 1,
  nfePerStep: 1,
  stochastic: false,
  predictions: ALL_PREDICTIONS,
  params: {
    skip_fraction: skipSpec,
    then: { type: 'choice', default: 'ddim', values: Object.keys(FINISHERS), doc: 'the sampler that finishes from the jump (with its default options; dpm-solver++ is the 2M multistep)' },
  },
  notes:
    'Needs a Gaussian fit of the data: attachGaussianFit(denoiser, fitGaussian(samples, {rank})) or makeGaussianSkipSampler(fit, {skipFraction, then}) for any ' +
    'finishing sampler and its options. Exact (to rounding) for Gaussian data; the order is that of the finisher (1 for ddim, 2 for dpm-solver++).',
  async run(ctx) {
    const fit = fitFor(ctx.fn.denoiser);
    if (!fit) {
      fail('UNSUPPORTED', 'gaussian-skip needs a Gaussian fit of the data: attach one with attachGaussianFit(denoiser, fitGaussian(samples, { rank })), or build the sampler with makeGaussianSkipSampler(fit, { skipFraction, then })');
    }
    const finisher = FINISHERS[ctx.params.then]!;
    return skipThenRun(ctx, fit, ctx.params.skip_fraction, finisher.def, resolveParams(finisher.def, finisher.params));
  },
});

export const GAUSSIAN_SKIP_SAMPLERS: readonly SamplerDef[] = [gaussianSkipSampler];
