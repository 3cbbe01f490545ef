import { fail } from '../core/errors.js';
import { householderEigen } from '../core/linalg.js';
import { countPoints, sampleCovariance, sampleMean, sqDist, type Points } from './distribution.js';

/**
 * Sample quality in a classifier's feature space: the Frechet distance of Gaussian fits (FID's formula),
 * precision and recall by k-NN balls, and the share of samples the classifier cannot place. A feature set is a
 * flat row-major array of n points of dimension d, as in distribution.ts.
 */

/** n, after checking that x holds at least `min` points of dimension d and no NaN or infinite value. */
function checkedCount(x: Points, d: number, what: string, min: number): number {
  const n = countPoints(x, d, what, min);
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i]!)) fail('BAD_INPUT', `${what}: value ${x[i]} at point ${Math.floor(i / d)}, coordinate ${i % d}; the features must be finite (check the samples and the classifier)`);
  }
  return n;
}

/** The statistics FID fits a Gaussian with: mean and unbiased covariance (d x d, row-major) of a feature set. */
export interface FeatureStats {
  mean: Float64Array;
  cov: Float64Array;
  d: number;
}

/** The mean and covariance of n >= 2 points of dimension d. */
export function featureStats(x: Points, d: number, what = 'featureStats'): FeatureStats {
  checkedCount(x, d, what, 2);
  return { mean: sampleMean(x, d), cov: sampleCovariance(x, d), d };
}

/** Eigendecomposition of a symmetric positive semi-definite matrix with its eigenvalues clamped at 0 (rounding). */
function psdEigen(A: Float64Array, n: number, vectors: boolean): { values: Float64Array; vectors: Float64Array | null } {
  const e = householderEigen(A, n, { vectors });
  for (let i = 0; i < n; i++) e.values[i] = Math.max(0, e.values[i]!);
  return e;
}

/**
 * Frechet (2-Wasserstein) distance between two Gaussians, Dowson & Landau 1982 (FID, Heusel et al. 2017):
 * |mu1 - mu2|^2 + tr C1 + tr C2 - 2 tr (C1^1/2 C2 C1^1/2)^1/2. The middle matrix is symmetric, so both square
 * roots are eigendecompositions (float64); tr (C1 C2)^1/2 of scipy.linalg.sqrtm is the same trace.
 */
export function frechetDistanceOfStats(a: FeatureStats, b: FeatureStats): number {
  const d = a.d;
  if (b.d !== d) fail('BAD_SHAPE', `frechetDistance: the feature dimensions differ (${a.d} and ${b.d}); compute both feature sets with the same network`);
  const { values, vectors } = psdEigen(a.cov, d, true);
  const V = vectors!;
  // S = C1^1/2 = V diag(sqrt(l)) V^T; then M = S C2 S.
  const S = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = i; j < d; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += V[i * d + k]! * Math.sqrt(values[k]!) * V[j * d + k]!;
      S[i * d + j] = s;
      S[j * d + i] = s;
    }
  }
  const T = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let k = 0; k < d; k++) {
      const sik = S[i * d + k]!;
      for (let j = 0; j < d; j++) T[i * d + j] += sik * b.cov[k * d + j]!;
    }
  }
  const M = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = i; j < d; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += T[i * d + k]! * S[k * d + j]!;
      M[i * d + j] = s;
      M[j * d + i] = s;
    }
  }
  let traceRoot = 0;
  for (const l of psdEigen(M, d, false).values) traceRoot += Math.sqrt(l);
  let fd = -2 * traceRoot;
  for (let k = 0; k < d; k++) fd += (a.mean[k]! - b.mean[k]!) ** 2 + a.cov[k * d + k]! + b.cov[k * d + k]!;
  return Math.max(0, fd);
}

/** Frechet distance between the Gaussian fits of two feature sets (n, m >= 2 points of dimension d). */
export function frechetDistance(x: Points, y: Points, d: number): number {
  return frechetDistanceOfStats(featureStats(x, d, 'frechetDistance (first set)'), featureStats(y, d, 'frechetDistance (second set)'));
}

/** Squared distance of each point to its k-th nearest other point in the same set (n > k points). */
export function knnRadii2(x: Points, d: number, k = 3): Float64Array {
  if (!Number.isInteger(k) || k < 1) fail('BAD_INPUT', `knnRadii: k must be a positive integer, got ${k}`);
  const n = checkedCount(x, d, 'knnRadii', k + 1);
  // nearest[i * k ..] holds point i's k smallest squared distances so far, ascending.
  const nearest = new Float64Array(n * k).fill(Infinity);
  const offer = (i: number, v: number) => {
    const o = i * k;
    if (v >= nearest[o + k - 1]!) return;
    let p = k - 1;
    while (p > 0 && nearest[o + p - 1]! > v) {
      nearest[o + p] = nearest[o + p - 1]!;
      p--;
    }
    nearest[o + p] = v;
  };
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const v = sqDist(x, i, x, j, d);
      offer(i, v);
      offer(j, v);
    }
  }
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = nearest[i * k + k - 1]!;
  return out;
}

export interface PrecisionRecallOptions {
  /** Neighbourhood size (default 3, as Kynkaanniemi et al. 2019). */
  k?: number;
  /** knnRadii2(real, d, k), when it is already known (it costs n^2 distances). */
  realRadii2?: Float64Array;
}

/**
 * Improved precision and recall (Kynkaanniemi et al. 2019, eqs. 1-2): each set's manifold is the union of balls
 * around its points with radius the distance to the k-th nearest neighbour; precision is the share of generated
 * points inside the real manifold, recall the share of real points inside the generated one.
 */
export function precisionRecall(real: Points, generated: Points, d: number, opts: PrecisionRecallOptions = {}): { precision: number; recall: number } {
  const k = opts.k ?? 3;
  const n = checkedCount(real, d, 'precisionRecall (real set)', k + 1);
  const m = checkedCount(generated, d, 'precisionRecall (generated set)', k + 1);
  const realR = opts.realRadii2 ?? knnRadii2(real, d, k);
  if (realR.length !== n) fail('BAD_SHAPE', `precisionRecall: realRadii2 has ${realR.length} radii for ${n} real points; compute it with knnRadii2 on the same set`);
  const genR = knnRadii2(generated, d, k);
  const inReal = new Uint8Array(m), inGenerated = new Uint8Array(n);
  for (let j = 0; j < m; j++) {
    for (let i = 0; i < n; i++) {
      const v = sqDist(generated, j, real, i, d);
      if (v <= realR[i]!) inReal[j] = 1;
      if (v <= genR[j]!) inGenerated[i] = 1;
    }
  }
  return { precision: inReal.reduce((s, v) => s + v, 0) / m, recall: inGenerated.reduce((s, v) => s + v, 0) / n };
}

/** The share of rows of logits [n, classes] whose largest softmax probability is below `threshold` (default 0.5). */
export function unplaceableShare(logits: Points, classes: number, threshold = 0.5): number {
  const n = checkedCount(logits, classes, 'unplaceableShare', 1);
  let unplaced = 0;
  for (let i = 0; i < n; i++) {
    let max = -Infinity;
    for (let c = 0; c < classes; c++) max = Math.max(max, logits[i * classes + c]!);
    // max softmax = 1 / sum_c exp(l_c - max).
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += Math.exp(logits[i * classes + c]! - max);
    if (1 / sum < threshold) unplaced++;
  }
  return unplaced / n;
}

/**
 * The share of rows of logits [n, classes] whose largest logit (the first, on ties) is the class requested for that
 * sample, `requested[i]`: a class-conditional sampler's accuracy in a classifier's eyes.
 */
export function classAccuracy(logits: Points, classes: number, requested: ArrayLike<number>): number {
  const n = checkedCount(logits, classes, 'classAccuracy', 1);
  if (requested.length !== n) fail('BAD_SHAPE', `classAccuracy: ${requested.length} requested classes for ${n} rows of logits; give one per row`);
  let hits = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (logits[i * classes + c]! > logits[i * classes + best]!) best = c;
    if (best === requested[i]) hits++;
  }
  return hits / n;
}

/** Classes 0..classes-1 requested for n samples in turn (sample i asks for class i mod classes): counts differ by at most one. */
export function spreadClasses(n: number, classes: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => i % classes);
}
