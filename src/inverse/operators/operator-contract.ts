import type { NoiseSource } from '../../core/rng.js';
import type { Tensor } from '../../core/tensor.js';

// The operator contract (DESIGN: A, A^T, shapes and the closed forms an operator has). The machinery
// shared by implementations is in operator.ts; svd.ts and pseudo-inverse.ts need only this contract.

/**
 * A singular value decomposition A = U diag(s) V^T in a "spectral" space of `size` =
 * prod(inShape) coordinates, laid out as `spectralShape` (flattened in the tensors).
 *
 * - `applyVt`: [B, ...inShape] -> [B, size], `applyV` its inverse (V is orthogonal).
 * - `singularValues[i]` belongs to spectral coordinate i; 0 marks the null space of A.
 * - `applyU`: [B, size] -> [B, ...outShape] uses only coordinates with s > 0 (the thin U);
 *   `applyUt` returns 0 on coordinates with s = 0. So U diag(s) V^T x = A x, U^T U = I on
 *   the support, and A^T y = V diag(s) U^T y.
 * Singular values below the operator's numerical resolution are stored as exact zeros
 * (documented per operator), so the decomposition is exact to that resolution.
 */
export interface OperatorSVD {
  readonly size: number;
  readonly spectralShape: readonly number[];
  readonly singularValues: Float64Array;
  applyVt(x: Tensor): Tensor;
  applyV(z: Tensor): Tensor;
  applyU(z: Tensor): Tensor;
  applyUt(y: Tensor): Tensor;
}

export type OperatorKind = 'identity' | 'inpaint' | 'sr' | 'blur' | 'color' | 'mri' | 'mri-multicoil' | 'ct' | 'matrix';

export interface NormOptions {
  /** Lanczos steps at most (default 500). */
  maxIter?: number;
  /** Stop when the estimate changes by less than tol relative on two steps (default 1e-9). */
  tol?: number;
  /** Seed of the random start vector (default 0). */
  seed?: number;
}

export interface Operator {
  /** A readable description, e.g. "mri(equispaced 4x, 32x32)". */
  readonly name: string;
  readonly kind: OperatorKind;
  readonly inShape: readonly number[];
  readonly outShape: readonly number[];
  /** Standard deviation of the Gaussian measurement noise (0: noiseless). */
  readonly noiseSigma: number;
  /** True when the last output axis is (re, im) of complex data. */
  readonly complexOutput: boolean;
  /** A x, batched: [B, ...inShape] -> [B, ...outShape]. */
  forward(x: Tensor): Tensor;
  /** A^T y (A^H for complex data, real inner product), batched. */
  adjoint(y: Tensor): Tensor;
  readonly svd?: OperatorSVD;
  /** The Moore-Penrose pseudo-inverse A^+ y. */
  pinv?(y: Tensor): Tensor;
  /**
   * argmin_x ||A x - y||^2 / (2 sigma^2) + rho/2 ||x - v||^2 in closed form, sigma defaulting
   * to `noiseSigma`. sigma = 0 gives the limit: the projection v + A^+(y - A v) onto {A x = y}.
   */
  proxDataConsistency?(v: Tensor, y: Tensor, rho: number, noiseSigma?: number): Tensor;
  /**
   * y = A x + noiseSigma * n with n ~ N(0, I) from `noise` (stream MEASUREMENT_STREAM, `step`),
   * on the measured entries only (unsampled k-space and missing pixels stay 0).
   */
  measure(x: Tensor, noise: NoiseSource, step?: number): Tensor;
  /** 1 for the entries of one output item that are measured (and so carry noise), 0 for those A always zeroes; undefined: all. */
  measuredEntries?(): Float64Array | undefined;
  /** ||A||_2 by the Lanczos (Krylov power) iteration on A^T A. */
  normEstimate(options?: NormOptions): number;
}
