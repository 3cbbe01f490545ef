import { fail } from '../core/errors.js';
import { NoiseSource, Stream } from '../core/rng.js';

/**
 * Distances between two point clouds. A cloud is a flat row-major array of n points in
 * dimension d (n x d), as stored in a Tensor [n, d].
 */
export type Points = Float32Array | Float64Array;

/** The number of points in a cloud of dimension d; fails unless there are at least `min`. */
export function countPoints(x: Points, d: number, what: string, min = 1): number {
  if (!Number.isInteger(d) || d < 1) fail('BAD_INPUT', `${what}: dimension d must be a positive integer, got ${d}`);
  if (x.length % d !== 0) fail('BAD_SHAPE', `${what}: ${x.length} values do not form points of dimension ${d}`);
  const n = x.length / d;
  if (n < min) fail('BAD_INPUT', `${what}: needs at least ${min} point(s), got ${n}`);
  return n;
}

/** Sample mean of n points (length d). */
export function sampleMean(x: Points, d: number): Float64Array {
  const n = countPoints(x, d, 'sampleMean');
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let k = 0; k < d; k++) mean[k] += x[i * d + k]!;
  for (let k = 0; k < d; k++) mean[k] = mean[k]! / n;
  return mean;
}

/** Sample covariance (d x d, row-major), normalized by n - ddof (default 1, unbiased). */
export function sampleCovariance(x: Points, d: number, ddof = 1): Float64Array {
  const n = countPoints(x, d, 'sampleCovariance', ddof + 1);
  const mean = sampleMean(x, d);
  const cov = new Float64Array(d * d);
  const r = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < d; k++) r[k] = x[i * d + k]! - mean[k]!;
    for (let p = 0; p < d; p++) {
      const rp = r[p]!;
      for (let q = p; q < d; q++) cov[p * d + q] += rp * r[q]!;
    }
  }
  for (let p = 0; p < d; p++) {
    for (let q = p; q < d; q++) {
      const v = cov[p * d + q]! / (n - ddof);
      cov[p * d + q] = v;
      cov[q * d + p] = v;
    }
  }
  return cov;
}

/** Euclidean norm of the difference of the sample means. */
export function meanError(x: Points, y: Points, d: number): number {
  const mx = sampleMean(x, d), my = sampleMean(y, d);
  let s = 0;
  for (let k = 0; k < d; k++) s += (mx[k]! - my[k]!) ** 2;
  return Math.sqrt(s);
}

/** Frobenius norm of the difference of the sample covariances (both normalized by n - 1). */
export function covarianceError(x: Points, y: Points, d: number): number {
  const cx = sampleCovariance(x, d), cy = sampleCovariance(y, d);
  let s = 0;
  for (let i = 0; i < d * d; i++) s += (cx[i]! - cy[i]!) ** 2;
  return Math.sqrt(s);
}

/**
 * Exact squared 2-Wasserstein distance between the empirical measures of two sorted samples:
 * the integral over u in (0, 1) of (F^-1(u) - G^-1(u))^2, with F^-1 and G^-1 step functions
 * with jumps at i/n and j/m. Merging the jumps splits (0, 1) into intervals where both
 * quantile functions are constant; for n = m this is the mean squared sorted difference.
 */
export function wasserstein2Sorted1d(a: Float64Array, b: Float64Array): number {
  const n = a.length, m = b.length;
  let i = 0, j = 0, u = 0, acc = 0;
  while (i < n && j < m) {
    // Compare the next jumps (i+1)/n and (j+1)/m in integers to treat ties exactly.
    const ci = (i + 1) * m, cj = (j + 1) * n;
    const next = ci <= cj ? (i + 1) / n : (j + 1) / m;
    const diff = a[i]! - b[j]!;
    acc += (next - u) * diff * diff;
    u = next;
    if (ci <= cj) i++;
    if (cj <= ci) j++;
  }
  return acc;
}

export interface SlicedWassersteinOptions {
  /** Number of random directions, default 128. */
  projections?: number;
  /** Seed of the directions (default 0); ignored when `rng` is given. */
  seed?: number;
  /** Noise source for the directions: direction p is its standard normal draw for sample p, step 0, Stream.aux, normalized. */
  rng?: NoiseSource;
}

/**
 * Sliced 2-Wasserstein distance sqrt(mean_theta W2^2(theta.x, theta.y)) over directions drawn
 * uniformly on the unit sphere from a seeded noise source (deterministic). W2 per direction is
 * exact for the two empirical measures (see wasserstein2Sorted1d), so n may differ from m.
 */
export function slicedWasserstein(x: Points, y: Points, d: number, opts: SlicedWassersteinOptions = {}): number {
  const n = countPoints(x, d, 'slicedWasserstein');
  const m = countPoints(y, d, 'slicedWasserstein');
  const projections = opts.projections ?? 128;
  if (!Number.isInteger(projections) || projections < 1) fail('BAD_INPUT', `slicedWasserstein: projections must be a positive integer, got ${projections}`);
  const rng = opts.rng ?? new NoiseSource(opts.seed ?? 0);
  const px = new Float64Array(n), py = new Float64Array(m);
  let total = 0;
  for (let p = 0; p < projections; p++) {
    const theta = rng.normalForSample([d], p, 0, Stream.aux);
    let norm = 0;
    for (let k = 0; k < d; k++) norm += theta[k]! * theta[k]!;
    norm = Math.sqrt(norm);
    for (let k = 0; k < d; k++) theta[k] = theta[k]! / norm;
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += theta[k]! * x[i * d + k]!;
      px[i] = s;
    }
    for (let i = 0; i < m; i++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += theta[k]! * y[i * d + k]!;
      py[i] = s;
    }
    px.sort();
    py.sort();
    total += wasserstein2Sorted1d(px, py);
  }
  return Math.sqrt(total / projections);
}

/** Squared Euclidean distance between point i of x and point j of y. */
export function sqDist(x: Points, i: number, y: Points, j: number, d: number): number {
  let s = 0;
  for (let k = 0; k < d; k++) {
    const t = x[i * d + k]! - y[j * d + k]!;
    s += t * t;
  }
  return s;
}

/**
 * Median heuristic bandwidth: the median Euclidean distance between distinct points of the
 * pooled sample. To bound the cost, the pool is thinned to at most `maxPoints` points taken
 * at evenly spaced indices (deterministic).
 */
export function medianBandwidth(x: Points, y: Points, d: number, maxPoints = 1000): number {
  const n = countPoints(x, d, 'medianBandwidth');
  const m = countPoints(y, d, 'medianBandwidth');
  const total = n + m;
  const k = Math.min(total, Math.max(2, maxPoints));
  const idx = new Int32Array(k);
  for (let i = 0; i < k; i++) idx[i] = Math.floor((i * total) / k);
  const point = (g: number): [Points, number] => (g < n ? [x, g] : [y, g - n]);
  const dists = new Float64Array((k * (k - 1)) / 2);
  let c = 0;
  for (let i = 0; i < k; i++) {
    const [pa, ia] = point(idx[i]!);
    for (let j = i + 1; j < k; j++) {
      const [pb, ib] = point(idx[j]!);
      dists[c++] = sqDist(pa, ia, pb, ib, d);
    }
  }
  if (c === 0) fail('BAD_INPUT', 'medianBandwidth: needs at least two points');
  dists.sort();
  const mid = c >> 1;
  const med = c % 2 === 1 ? dists[mid]! : 0.5 * (dists[mid - 1]! + dists[mid]!);
  const h = Math.sqrt(med);
  if (!(h > 0)) fail('BAD_INPUT', 'medianBandwidth: the median pairwise distance is 0 (mostly repeated points); pass a bandwidth explicitly');
  return h;
}

export interface MmdOptions {
  /** RBF bandwidth h in k(a, b) = exp(-|a - b|^2 / (2 h^2)); default: medianBandwidth(x, y, d). */
  bandwidth?: number;
}

/**
 * Unbiased estimate of the squared maximum mean discrepancy with an RBF kernel
 * (Gretton et al. 2012, eq. 3): mean over i != j of k(x_i, x_j) plus the same for y, minus
 * twice the mean of k(x_i, y_j). It can be slightly negative when the distributions agree.
 */
export function mmd2(x: Points, y: Points, d: number, opts: MmdOptions = {}): number {
  const n = countPoints(x, d, 'mmd2', 2);
  const m = countPoints(y, d, 'mmd2', 2);
  const h = opts.bandwidth ?? medianBandwidth(x, y, d);
  if (!(h > 0) || !Number.isFinite(h)) fail('BAD_INPUT', `mmd2: bandwidth must be positive and finite, got ${h}`);
  const g = -1 / (2 * h * h);
  let sxx = 0, syy = 0, sxy = 0;
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) sxx += Math.exp(g * sqDist(x, i, x, j, d));
  for (let i = 0; i < m; i++) for (let j = i + 1; j < m; j++) syy += Math.exp(g * sqDist(y, i, y, j, d));
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) sxy += Math.exp(g * sqDist(x, i, y, j, d));
  return (2 * sxx) / (n * (n - 1)) + (2 * syy) / (m * (m - 1)) - (2 * sxy) / (n * m);
}
