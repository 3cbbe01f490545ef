import { fail } from '../core/errors.js';
import type { Tensor } from '../core/tensor.js';
import type { Denoiser } from './denoiser.js';
import { MixtureDenoiser, type GaussianMixture } from './gmm.js';
import type { Path } from '../paths/path.js';

/**
 * A noise-level estimator: the posterior p(t | x) over a fixed set of path times (the levels) under a
 * uniform prior on them, for each item of a batch. Denoising MCMC's Gibbs step over t draws from it.
 */
export interface NoiseLevelEstimator {
  /** Path times of the levels, each once. */
  readonly levels: readonly number[];
  /** log p(level k | x) of item b at [b * K + k]. */
  logPosterior(x: Tensor): Promise<Float64Array>;
}

/** Normalise per item, in place: row b of K log weights becomes a log posterior. */
export function normaliseLogRows(logw: Float64Array, K: number): Float64Array {
  for (let o = 0; o < logw.length; o += K) {
    let mx = -Infinity;
    for (let k = 0; k < K; k++) mx = Math.max(mx, logw[o + k]!);
    let tot = 0;
    for (let k = 0; k < K; k++) tot += Math.exp(logw[o + k]! - mx);
    const lse = mx + Math.log(tot);
    for (let k = 0; k < K; k++) logw[o + k] = logw[o + k]! - lse;
  }
  return logw;
}

/**
 * The exact posterior over levels for Gaussian-mixture data: p(t_k | x) is proportional to p_{t_k}(x), the
 * exact marginal likelihood of the mixture pushed to t_k (a mixture of N(a m_j, a^2 S_j + s^2 I)), since the
 * prior over the levels is uniform. Generative paths only (b(t) = 0).
 */
export function exactMixtureNoiseLevels(mixture: GaussianMixture, path: Path, levels: readonly number[]): NoiseLevelEstimator {
  const points = levels.map((t) => path.point(t));
  if (points.some((p) => p.b !== 0)) fail('UNSUPPORTED', 'the exact noise-level posterior is for generative paths (b(t) = 0); restoration paths have an anchor');
  const coefficients = points.map((p) => mixture.coefficients(p.a, p.s));
  const d = mixture.dim;
  const x0 = new Float64Array(d), score = new Float64Array(d);
  return {
    levels,
    async logPosterior(x) {
      if (x.itemSize !== d) fail('BAD_SHAPE', `noise-level posterior: items of ${x.itemSize} values do not fit the mixture of dimension ${d}`);
      const K = levels.length;
      const out = new Float64Array(x.batch * K);
      for (let b = 0; b < x.batch; b++) for (let k = 0; k < K; k++) out[b * K + k] = mixture.statsInto(x.data, b * d, coefficients[k]!, x0, score, 0);
      return normaliseLogRows(out, K);
    },
  };
}

/** Estimators attached to denoisers (a trained network beside an ONNX model). */
const attached = new WeakMap<Denoiser, NoiseLevelEstimator>();

/** Attach a noise-level estimator to a denoiser, for the `dmcmc` sampler. Returns the denoiser. */
export function attachNoiseLevelEstimator<D extends Denoiser>(denoiser: D, estimator: NoiseLevelEstimator): D {
  attached.set(denoiser, estimator);
  return denoiser;
}

/** The attached estimator, else for an analytic mixture the exact posterior over `exactLevels` levels uniform in t; else null. */
export function noiseLevelEstimatorFor(denoiser: Denoiser, exactLevels: number): NoiseLevelEstimator | null {
  const given = attached.get(denoiser);
  if (given) return given;
  if (!(denoiser instanceof MixtureDenoiser)) return null;
  const { tMin, tMax } = denoiser.path;
  const levels = Array.from({ length: exactLevels }, (_, k) => tMin + ((tMax - tMin) * (k + 1)) / exactLevels);
  return exactMixtureNoiseLevels(denoiser.mixture, denoiser.path, levels);
}
