import { fail } from '../../core/errors.js';
import { Tensor, shapeSize } from '../../core/tensor.js';
import { checkBatch } from './batch.js';
import type { Operator } from './operator.js';
import { pinvFromSVD } from './svd.js';

export interface PinvOptions {
  /** Tikhonov weight: solves min ||A x - y||^2 + lambda ||x||^2 (0: the pseudo-inverse). */
  lambda?: number;
  /** 'auto': op.pinv, then the SVD, then CGLS (lambda > 0 always uses CGLS); 'cg': CGLS always. */
  method?: 'auto' | 'cg';
  /** CGLS iteration cap (default 1000). */
  maxIter?: number;
  /** CGLS stops when ||A^T (y - A x) - lambda x|| <= tol ||A^T y|| (default 1e-10). */
  tol?: number;
}

export interface PinvResult {
  x: Tensor;
  /** 'pinv' | 'svd' | 'cgls'. */
  method: string;
  /** CGLS iterations of the slowest batch item (0 for closed forms). */
  iterations: number;
  /** Largest relative normal-equation residual over the batch (0 for closed forms). */
  relativeResidual: number;
}

/**
 * A^+ y (lambda = 0) or the Tikhonov solution (A^T A + lambda I)^{-1} A^T y, batched.
 * Closed forms first (op.pinv, then V diag(1/s) U^T y from op.svd); otherwise CGLS (conjugate
 * gradient on the normal equations in the least-squares form of Hestenes & Stiefel 1952 / Paige &
 * Saunders 1982, which loses less accuracy than CG on A^T A): started from x = 0 every iterate
 * lies in range(A^T), so with lambda = 0 it converges to the minimum-norm least-squares solution,
 * which is exactly A^+ y. Float64 throughout; the result has y's dtype.
 */
export function pseudoInverse(op: Operator, y: Tensor, options: PinvOptions = {}): PinvResult {
  const lambda = options.lambda ?? 0, method = options.method ?? 'auto';
  if (!(lambda >= 0) || !Number.isFinite(lambda)) fail('BAD_CONFIG', `pinv lambda=${lambda}: the Tikhonov weight must be a finite number >= 0 (0 = the pseudo-inverse)`);
  const batch = checkBatch(y, op.outShape, `${op.name} pinv`);
  if (method === 'auto' && lambda === 0) {
    if (op.pinv) return { x: op.pinv(y), method: 'pinv', iterations: 0, relativeResidual: 0 };
    if (op.svd) return { x: pinvFromSVD(op.svd, y), method: 'svd', iterations: 0, relativeResidual: 0 };
  }
  const n = shapeSize(op.inShape), m = shapeSize(op.outShape);
  const maxIter = options.maxIter ?? 1000, tol = options.tol ?? 1e-10;
  const out = Tensor.zeros([batch, ...op.inShape], y.dtype);
  let worstIter = 0, worstRes = 0;
  const fwd = (v: Float64Array): Float64Array => op.forward(new Tensor([1, ...op.inShape], v)).data as Float64Array;
  const adj = (v: Float64Array): Float64Array => op.adjoint(new Tensor([1, ...op.outShape], v)).data as Float64Array;
  for (let b = 0; b < batch; b++) {
    const x = new Float64Array(n), r = Float64Array.from(y.data.subarray(b * m, (b + 1) * m));
    let s = adj(r);
    const p = Float64Array.from(s);
    const s0 = Math.sqrt(dot(s, s));
    let gamma = s0 * s0, it = 0;
    while (it < maxIter && Math.sqrt(gamma) > tol * s0) {
      const q = fwd(p);
      const delta = dot(q, q) + lambda * dot(p, p);
      if (!(delta > 0)) break; // p is in the null space: nothing left to fit
      const alpha = gamma / delta;
      for (let i = 0; i < n; i++) x[i] = x[i]! + alpha * p[i]!;
      for (let i = 0; i < m; i++) r[i] = r[i]! - alpha * q[i]!;
      s = adj(r);
      if (lambda > 0) for (let i = 0; i < n; i++) s[i] = s[i]! - lambda * x[i]!;
      const g = dot(s, s), beta = g / gamma;
      gamma = g;
      for (let i = 0; i < n; i++) p[i] = s[i]! + beta * p[i]!;
      it++;
    }
    out.data.set(x, b * n);
    worstIter = Math.max(worstIter, it);
    worstRes = Math.max(worstRes, s0 > 0 ? Math.sqrt(gamma) / s0 : 0);
  }
  return { x: out, method: 'cgls', iterations: worstIter, relativeResidual: worstRes };
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}
