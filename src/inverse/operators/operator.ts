import { Tensor, shapeSize, type Data } from '../../core/tensor.js';
import { fail } from '../../core/errors.js';
import { NoiseSource } from '../../core/rng.js';
import { batchedConjugateGradient } from '../../core/cg.js';
import { checkBatch } from './batch.js';
import type { NormOptions, Operator, OperatorKind } from './operator-contract.js';
import { pseudoInverse } from './pseudo-inverse.js';

export { checkBatch } from './batch.js';

/**
 * The linear measurement operators of the inverse problems: y = A x + noise.
 *
 * Shapes. `inShape` and `outShape` are item shapes; `forward` takes [B, ...inShape] and
 * returns [B, ...outShape], `adjoint` the reverse. The output dtype follows the input dtype
 * (float32 in, float32 out); work is done in float64 internally where it accumulates.
 *
 * Complex measurements (MRI k-space) are real tensors with a trailing axis of 2 holding
 * (re, im), as fastMRI stores k-space. The adjoint is the true adjoint for the real inner
 * product <a, b> = sum(a_re * b_re + a_im * b_im); for a real image x and complex data y
 * that is A^T y = Re(A^H y). Complex images are [2, H, W] (re and im planes, as deepinv).
 *
 * Closed forms are optional: `svd` (A = U diag(s) V^T), `pinv` (A^+) and
 * `proxDataConsistency` (argmin_x ||Ax - y||^2 / (2 sigma^2) + rho/2 ||x - v||^2). Solvers
 * use them when present and conjugate gradient otherwise (see `proxDataConsistency` below).
 */

/** Stream of the NoiseSource used for measurement noise (kept apart from sampler streams 0-4). */
export const MEASUREMENT_STREAM = 7;

export type { NormOptions, Operator, OperatorKind, OperatorSVD } from './operator-contract.js';

// ---------------------------------------------------------------------------------------

/** Shared machinery: shape checks, output allocation, noisy measurement and the norm estimate. */
export abstract class LinearOperator implements Operator {
  abstract readonly name: string;
  abstract readonly kind: OperatorKind;
  readonly inShape: readonly number[];
  readonly outShape: readonly number[];
  readonly inSize: number;
  readonly outSize: number;
  readonly noiseSigma: number;
  readonly complexOutput: boolean;

  constructor(inShape: readonly number[], outShape: readonly number[], noiseSigma = 0, complexOutput = false) {
    if (!(noiseSigma >= 0) || !Number.isFinite(noiseSigma)) {
      fail('BAD_CONFIG', `operator noise sigma must be a finite number >= 0, got ${noiseSigma}; use noise=0.05 style values`);
    }
    this.inShape = [...inShape];
    this.outShape = [...outShape];
    this.inSize = shapeSize(inShape);
    this.outSize = shapeSize(outShape);
    this.noiseSigma = noiseSigma;
    this.complexOutput = complexOutput;
  }

  forward(x: Tensor): Tensor {
    const batch = checkBatch(x, this.inShape, `${this.name} forward`);
    const y = Tensor.zeros([batch, ...this.outShape], x.dtype);
    this.forwardInto(x, y, batch);
    return y;
  }

  adjoint(y: Tensor): Tensor {
    const batch = checkBatch(y, this.outShape, `${this.name} adjoint`);
    const x = Tensor.zeros([batch, ...this.inShape], y.dtype);
    this.adjointInto(y, x, batch);
    return x;
  }

  /** Writes A x into the zero-filled y. */
  protected abstract forwardInto(x: Tensor, y: Tensor, batch: number): void;
  /** Writes A^T y into the zero-filled x. */
  protected abstract adjointInto(y: Tensor, x: Tensor, batch: number): void;

  measure(x: Tensor, noise: NoiseSource, step = 0): Tensor {
    const y = this.forward(x);
    if (this.noiseSigma > 0) addGaussianNoise(y, this.noiseSigma, noise, step, this.measuredEntries());
    return y;
  }

  /**
   * 1 for the output entries of one item that are measurements, 0 for entries A always sets
   * to zero (unsampled k-space, missing pixels), which stay noise-free; undefined: all measured.
   */
  measuredEntries(): Float64Array | undefined {
    return undefined;
  }

  normEstimate(options: NormOptions = {}): number {
    return powerIterationNorm(this, options);
  }
}

/**
 * y += sigma * n, n ~ N(0, I) from the measurement stream (re and im of complex data each
 * get variance sigma^2), only where `support` (one item, repeated over the batch) is nonzero.
 */
export function addGaussianNoise(y: Tensor, sigma: number, noise: NoiseSource, step = 0, support?: Float64Array): void {
  const n = noise.normal(y.shape, step, MEASUREMENT_STREAM, 'float64').data;
  const d = y.data, m = support?.length ?? 1;
  for (let i = 0; i < d.length; i++) if (!support || support[i % m] !== 0) d[i] = d[i]! + sigma * n[i]!;
}

/**
 * ||A||_2 from the largest eigenvalue of A^T A by the Lanczos iteration (three-term
 * recurrence, float64, from a seeded Gaussian start; three vectors of memory). The largest
 * Ritz value increases monotonically to lambda_max and, unlike the plain power method, also
 * converges quickly when the top of the spectrum is clustered (pooling, bicubic, coil maps).
 * Stops when it changes by less than `tol` relative on two consecutive steps, or after
 * `maxIter` steps; returns 0 for A = 0.
 */
export function powerIterationNorm(op: Pick<Operator, 'forward' | 'adjoint' | 'inShape'>, options: NormOptions = {}): number {
  const maxIter = options.maxIter ?? 500;
  const tol = options.tol ?? 1e-9;
  let q = new NoiseSource(options.seed ?? 0).normal([1, ...op.inShape], 0, MEASUREMENT_STREAM, 'float64');
  if (!scaleToUnit(q.data)) return 0;
  const n = q.data.length;
  let qPrev: Float64Array = new Float64Array(n);
  const alpha: number[] = [], beta: number[] = [];
  let theta = 0, calm = 0;
  for (let k = 0; k < maxIter; k++) {
    const w = op.adjoint(op.forward(q)).data as Float64Array;
    let a = 0;
    for (let i = 0; i < n; i++) a += w[i]! * q.data[i]!;
    const bPrev = k > 0 ? beta[k - 1]! : 0;
    let bb = 0;
    for (let i = 0; i < n; i++) {
      const v = w[i]! - a * q.data[i]! - bPrev * qPrev[i]!;
      w[i] = v;
      bb += v * v;
    }
    alpha.push(a);
    const next = largestTridiagonalEigenvalue(alpha, beta);
    const b = Math.sqrt(bb);
    if (next === 0 && k === 0 && b === 0) return 0;
    if (Math.abs(next - theta) <= tol * next) calm++;
    else calm = 0;
    theta = next;
    if (calm >= 2 || b <= 1e-13 * Math.max(theta, 1e-300)) break; // converged, or an invariant subspace
    beta.push(b);
    qPrev = q.data as Float64Array;
    for (let i = 0; i < n; i++) w[i] = w[i]! / b;
    q = new Tensor(q.shape, w);
  }
  return Math.sqrt(Math.max(theta, 0));
}

/**
 * Largest eigenvalue of the symmetric tridiagonal matrix with diagonal `alpha` and
 * off-diagonal `beta` (length alpha.length - 1 or more; extra entries ignored), by Sturm
 * bisection inside the Gershgorin bounds.
 */
export function largestTridiagonalEigenvalue(alpha: readonly number[], beta: readonly number[]): number {
  const k = alpha.length;
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < k; i++) {
    const r = (i > 0 ? Math.abs(beta[i - 1]!) : 0) + (i < k - 1 ? Math.abs(beta[i]!) : 0);
    lo = Math.min(lo, alpha[i]! - r);
    hi = Math.max(hi, alpha[i]! + r);
  }
  // count(x) = number of eigenvalues < x (Sturm sequence of the LDL^T pivots).
  const count = (x: number): number => {
    let c = 0, d = 1;
    for (let i = 0; i < k; i++) {
      const b2 = i > 0 ? beta[i - 1]! * beta[i - 1]! : 0;
      d = alpha[i]! - x - (i > 0 ? b2 / d : 0);
      if (d === 0) d = -1e-300;
      if (d < 0) c++;
    }
    return c;
  };
  for (let it = 0; it < 200 && hi - lo > 1e-15 * Math.max(Math.abs(lo), Math.abs(hi)); it++) {
    const mid = 0.5 * (lo + hi);
    if (count(mid) >= k) hi = mid;
    else lo = mid;
  }
  return 0.5 * (lo + hi);
}

function sumSq(a: Data): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * a[i]!;
  return s;
}

function scaleToUnit(a: Data): boolean {
  const n = Math.sqrt(sumSq(a));
  if (!(n > 0) || !Number.isFinite(n)) return false;
  for (let i = 0; i < a.length; i++) a[i] = a[i]! / n;
  return true;
}

// ---------------------------------------------------------------------------------------
// Data-consistency step for any operator: the closed form when there is one, else CG.

export interface ProxCGOptions {
  /** Relative residual tolerance of CG (default 1e-10). */
  tol?: number;
  /** CG iteration cap (default 10 * prod(inShape), enough for the small systems of tests). */
  maxIter?: number;
  /** Projection (sigma = 0) only: CGLS stops once ||y - A x|| <= misfit, as `PinvOptions.misfit`. */
  misfit?: number;
}

/** Validates rho and sigma of a prox call and returns sigma (defaulting to the operator's). */
export function proxArgs(op: Operator, rho: number, noiseSigma: number | undefined, what: string): number {
  const sigma = noiseSigma ?? op.noiseSigma;
  if (!(rho > 0) || !Number.isFinite(rho)) fail('BAD_CONFIG', `${what}: rho must be a finite number > 0, got ${rho}`);
  if (!(sigma >= 0) || !Number.isFinite(sigma)) fail('BAD_CONFIG', `${what}: noise sigma must be a finite number >= 0, got ${sigma}`);
  return sigma;
}

/**
 * argmin_x ||A x - y||^2 / (2 sigma^2) + rho/2 ||x - v||^2 by conjugate gradient on the
 * normal equations (A^T A / sigma^2 + rho I) x = A^T y / sigma^2 + rho v, every batch item at
 * once (one forward and one adjoint of the batch per iteration; each item its own steps and stop),
 * warm-started at v. sigma = 0 gives the projection onto {A x = y} (below).
 */
export function proxByConjugateGradient(op: Operator, v: Tensor, y: Tensor, rho: number, noiseSigma?: number, options: ProxCGOptions = {}): Tensor {
  const sigma = proxArgs(op, rho, noiseSigma, `${op.name} prox (conjugate gradient)`);
  const batch = checkBatch(v, op.inShape, `${op.name} prox v`);
  const yb = checkBatch(y, op.outShape, `${op.name} prox y`);
  if (yb !== batch) fail('BAD_SHAPE', `${op.name} prox: v has batch ${batch} but y has batch ${yb}; pass matching batches`);
  if (sigma === 0) return projectByConjugateGradient(op, v, y, options);
  const n = shapeSize(op.inShape), w = 1 / (sigma * sigma);
  const rhs = op.adjoint(y), x0 = Float64Array.from(v.data), bvec = new Float64Array(batch * n);
  for (let i = 0; i < bvec.length; i++) bvec[i] = w * rhs.data[i]! + rho * x0[i]!;
  const shape = [batch, ...op.inShape];
  const applyA = (x: Float64Array, outv: Float64Array): void => {
    const ata = op.adjoint(op.forward(new Tensor(shape, x))).data;
    for (let i = 0; i < outv.length; i++) outv[i] = w * ata[i]! + rho * x[i]!;
  };
  const r = batchedConjugateGradient(applyA, bvec, batch, x0, {
    tol: options.tol ?? 1e-10,
    maxIter: options.maxIter ?? 10 * n,
    onBreakdown: (item, pAp, iteration) =>
      fail('BAD_INPUT', `${op.name} prox (conjugate gradient): p.Ap = ${pAp} at iteration ${iteration} of item ${item}; check v and y for NaN or Infinity`),
  });
  const out = Tensor.zeros(v.shape, v.dtype);
  out.data.set(r.x);
  return out;
}

/**
 * The projection of v onto {A x = y} (the least-squares solution nearest to v when y is not in the
 * range): x = v + A^+ (y - A v), A^+ by CGLS, capped at 100 iterations by default (sparse-view CT
 * converges slowly; the cap keeps a diffusion step to a fraction of a second).
 */
function projectByConjugateGradient(op: Operator, v: Tensor, y: Tensor, options: ProxCGOptions): Tensor {
  const ax = op.forward(v);
  const r = y.zerosLike();
  for (let i = 0; i < r.size; i++) r.data[i] = y.data[i]! - ax.data[i]!;
  const d = pseudoInverse(op, r, { method: 'cg', tol: options.tol ?? 1e-9, maxIter: options.maxIter ?? 100, misfit: options.misfit }).x;
  const out = v.clone();
  for (let i = 0; i < out.size; i++) out.data[i] = out.data[i]! + d.data[i]!;
  return out;
}

/** How many entries of one output item are measured (and so carry noise). */
export function measuredCount(op: Operator): number {
  const support = op.measuredEntries?.();
  return support ? support.reduce((n, v) => n + (v !== 0 ? 1 : 0), 0) : shapeSize(op.outShape);
}

/** The data-consistency prox of any operator: its closed form when present, else CG. */
export function proxDataConsistency(op: Operator, v: Tensor, y: Tensor, rho: number, noiseSigma?: number, options: ProxCGOptions = {}): Tensor {
  if (op.proxDataConsistency) return op.proxDataConsistency(v, y, rho, noiseSigma);
  return proxByConjugateGradient(op, v, y, rho, noiseSigma, options);
}
