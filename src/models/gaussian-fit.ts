import { fail } from '../core/errors.js';
import { householderEigen } from '../core/linalg.js';
import { NoiseSource, Stream } from '../core/rng.js';
import { Tensor } from '../core/tensor.js';

/**
 * A Gaussian fit N(mean, Sigma) of data, Sigma = U diag(lam) U^T, kept as its top K eigenpairs and one isotropic
 * variance `rest` for the orthogonal complement (rest is unused when K = d). Its closed forms serve the
 * gaussian-skip sampler (the probability flow) and the diagnostics (the denoiser): Wang & Vastola ("Diffusion
 * models generate images like painters", arXiv 2303.02490; "The hidden linear structure in score-based models
 * and its application", arXiv 2311.10892) found trained networks close to this linear denoiser at large noise.
 */
export interface GaussianFit {
  dim: number;
  mean: Float64Array;
  /** Eigenvalues, descending (length K). */
  values: Float64Array;
  /** Eigenvectors as rows, K x dim, row-major. */
  vectors: Float64Array;
  /** Variance of every direction orthogonal to the K eigenvectors. */
  rest: number;
}

/** An exact fit from a mean and a full covariance (dim x dim, row-major), e.g. GaussianMixture.moments(). */
export function gaussianFitFromMoments(mean: ArrayLike<number>, cov: ArrayLike<number>): GaussianFit {
  const d = mean.length;
  if (cov.length !== d * d) fail('BAD_SHAPE', `gaussian fit: covariance has ${cov.length} entries, expected ${d} x ${d}`);
  const { values, vectors } = householderEigen(Float64Array.from(cov), d);
  return sortedFit(Float64Array.from(mean), values, vectors!, d, d, 0);
}

/** Eigenpairs (vectors as columns of a dim x k matrix) sorted descending into a fit with rows. */
function sortedFit(mean: Float64Array, values: Float64Array, columns: Float64Array, d: number, k: number, rest: number): GaussianFit {
  const order = Array.from({ length: k }, (_, i) => i).sort((p, q) => values[q]! - values[p]!);
  const vals = new Float64Array(k), rows = new Float64Array(k * d);
  order.forEach((src, dst) => {
    vals[dst] = Math.max(0, values[src]!);
    for (let i = 0; i < d; i++) rows[dst * d + i] = columns[i * k + src]!;
  });
  return { dim: d, mean, values: vals, vectors: rows, rest: Math.max(0, rest) };
}

/**
 * Fit N(mean, covariance) to samples [n, ...shape]. Without `rank` (or rank >= d) the full sample
 * covariance is diagonalised (d up to a few hundred); with rank K < d the top K eigenpairs are found
 * by subspace iteration on the implicit covariance (cost O(n d K) per iteration, any d) and the
 * remaining variance is spread evenly over the other d - K directions.
 */
export function fitGaussian(samples: Tensor, opts: { rank?: number; iterations?: number } = {}): GaussianFit {
  const n = samples.batch, d = samples.itemSize;
  if (n < 2) fail('BAD_INPUT', `fitGaussian needs at least 2 samples, got ${n}`);
  const x = samples.data;
  const mean = new Float64Array(d);
  for (let s = 0; s < n; s++) for (let i = 0; i < d; i++) mean[i] += x[s * d + i]! / n;
  const rank = opts.rank ?? d;
  if (!Number.isInteger(rank) || rank < 1) fail('BAD_INPUT', `fitGaussian: rank must be a positive integer, got ${rank}`);
  let total = 0; // trace of the sample covariance
  for (let s = 0; s < n; s++) for (let i = 0; i < d; i++) total += (x[s * d + i]! - mean[i]!) ** 2;
  total /= n - 1;
  if (rank >= d) {
    const cov = new Float64Array(d * d);
    const c = new Float64Array(d);
    for (let s = 0; s < n; s++) {
      for (let i = 0; i < d; i++) c[i] = x[s * d + i]! - mean[i]!;
      for (let i = 0; i < d; i++) {
        const ci = c[i]! / (n - 1);
        for (let j = i; j < d; j++) cov[i * d + j] += ci * c[j]!;
      }
    }
    for (let i = 0; i < d; i++) for (let j = 0; j < i; j++) cov[i * d + j] = cov[j * d + i]!;
    return gaussianFitFromMoments(mean, cov);
  }
  // Subspace iteration with oversampling, Rayleigh-Ritz on the small projected matrix.
  const k = Math.min(d, rank + Math.min(10, rank));
  const covTimes = (V: Float64Array, out: Float64Array) => {
    // out (d x k) = Xc^T (Xc V) / (n - 1)
    out.fill(0);
    const proj = new Float64Array(k);
    for (let s = 0; s < n; s++) {
      proj.fill(0);
      for (let i = 0; i < d; i++) {
        const ci = x[s * d + i]! - mean[i]!;
        for (let j = 0; j < k; j++) proj[j] += ci * V[i * k + j]!;
      }
      for (let i = 0; i < d; i++) {
        const ci = (x[s * d + i]! - mean[i]!) / (n - 1);
        for (let j = 0; j < k; j++) out[i * k + j] += ci * proj[j]!;
      }
    }
  };
  let V: Float64Array = new NoiseSource(0).normalForSample([d * k], 0, 0, Stream.aux);
  orthonormalize(V, d, k);
  let W: Float64Array = new Float64Array(d * k);
  for (let it = 0; it < (opts.iterations ?? 30); it++) {
    covTimes(V, W);
    [V, W] = [W, V];
    orthonormalize(V, d, k);
  }
  covTimes(V, W);
  const T = new Float64Array(k * k); // V^T C V
  for (let p = 0; p < k; p++) for (let q = 0; q < k; q++) {
    let acc = 0;
    for (let i = 0; i < d; i++) acc += V[i * k + p]! * W[i * k + q]!;
    T[p * k + q] = acc;
  }
  for (let p = 0; p < k; p++) for (let q = 0; q < p; q++) T[p * k + q] = T[q * k + p] = 0.5 * (T[p * k + q]! + T[q * k + p]!);
  const small = householderEigen(T, k);
  const cols = new Float64Array(d * k); // V times the small eigenvectors
  for (let i = 0; i < d; i++) for (let j = 0; j < k; j++) {
    let acc = 0;
    for (let p = 0; p < k; p++) acc += V[i * k + p]! * small.vectors![p * k + j]!;
    cols[i * k + j] = acc;
  }
  const full = sortedFit(mean, small.values, cols, d, k, 0);
  const values = full.values.slice(0, rank), vectors = full.vectors.slice(0, rank * d);
  let kept = 0;
  for (const v of values) kept += v;
  return { dim: d, mean, values, vectors, rest: Math.max(0, (total - kept) / (d - rank)) };
}

/**
 * Gram-Schmidt, twice, on the k columns of a d x k row-major matrix. A column (numerically) in the span of the
 * previous ones, as when the data have rank below k, is replaced by a coordinate vector orthogonalised in turn:
 * normalising its rounding residue would break orthogonality and double-count directions in Rayleigh-Ritz.
 */
function orthonormalize(V: Float64Array, d: number, k: number): void {
  const project = (j: number) => {
    for (let pass = 0; pass < 2; pass++) {
      for (let p = 0; p < j; p++) {
        let dp = 0;
        for (let i = 0; i < d; i++) dp += V[i * k + j]! * V[i * k + p]!;
        for (let i = 0; i < d; i++) V[i * k + j] -= dp * V[i * k + p]!;
      }
    }
  };
  const norm = (j: number) => {
    let nn = 0;
    for (let i = 0; i < d; i++) nn += V[i * k + j]! ** 2;
    return Math.sqrt(nn);
  };
  for (let j = 0; j < k; j++) {
    let floor = 1e-10 * norm(j);
    project(j);
    let nn = norm(j);
    for (let e = j; !(nn > floor) && e < j + d; e++) {
      for (let i = 0; i < d; i++) V[i * k + j] = i === e % d ? 1 : 0;
      project(j);
      nn = norm(j);
      floor = 1e-6;
    }
    for (let i = 0; i < d; i++) V[i * k + j] = V[i * k + j]! / nn;
  }
}

/** E[x0 | z] under the fit on z = a x0 + s eps, per item: mean + sum_k g(lam_k) u_k u_k^T r + g(rest) (r - sum_k u_k u_k^T r), r = z - a mean, g(lam) = a lam / (a^2 lam + s^2); float64. */
export function gaussianFitDenoise(fit: GaussianFit, z: Tensor, a: number, s: number): Tensor {
  const d = fit.dim, K = fit.values.length;
  if (z.itemSize !== d) fail('BAD_SHAPE', `state items have ${z.itemSize} values but the Gaussian fit has ${d}`);
  const gain = (lam: number) => (a * lam) / (a * a * lam + s * s);
  const gRest = gain(fit.rest);
  const out = Tensor.zeros(z.shape, 'float64');
  const r = new Float64Array(d), c = new Float64Array(K);
  for (let b = 0; b < z.batch; b++) {
    const off = b * d;
    for (let i = 0; i < d; i++) r[i] = z.data[off + i]! - a * fit.mean[i]!;
    for (let k = 0; k < K; k++) {
      let acc = 0;
      for (let i = 0; i < d; i++) acc += fit.vectors[k * d + i]! * r[i]!;
      c[k] = (gain(fit.values[k]!) - gRest) * acc;
    }
    for (let i = 0; i < d; i++) {
      let acc = fit.mean[i]! + gRest * r[i]!;
      for (let k = 0; k < K; k++) acc += c[k]! * fit.vectors[k * d + i]!;
      out.data[off + i] = acc;
    }
  }
  return out;
}
