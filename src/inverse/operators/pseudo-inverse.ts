import { fail } from '../../core/errors.js';
import { batchedCGLS } from '../../core/cgls.js';
import { Tensor } from '../../core/tensor.js';
import { checkBatch } from './batch.js';
import type { Operator } from './operator-contract.js';
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
  /** CGLS also stops an item once ||y - A x|| <= misfit (the discrepancy principle; see `CGLSOptions`). */
  misfit?: number;
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
 * Closed forms first (op.pinv, then V diag(1/s) U^T y from op.svd); otherwise CGLS (`batchedCGLS`,
 * all batch items at once), which with lambda = 0 converges to the minimum-norm least-squares
 * solution, exactly A^+ y. Float64 throughout; the result has y's dtype.
 */
export function pseudoInverse(op: Operator, y: Tensor, options: PinvOptions = {}): PinvResult {
  const lambda = options.lambda ?? 0, method = options.method ?? 'auto';
  if (!(lambda >= 0) || !Number.isFinite(lambda)) fail('BAD_CONFIG', `pinv lambda=${lambda}: the Tikhonov weight must be a finite number >= 0 (0 = the pseudo-inverse)`);
  const batch = checkBatch(y, op.outShape, `${op.name} pinv`);
  if (method === 'auto' && lambda === 0) {
    if (op.pinv) return { x: op.pinv(y), method: 'pinv', iterations: 0, relativeResidual: 0 };
    if (op.svd) return { x: pinvFromSVD(op.svd, y), method: 'svd', iterations: 0, relativeResidual: 0 };
  }
  const fwd = (v: Float64Array): Float64Array => op.forward(new Tensor([batch, ...op.inShape], v)).data as Float64Array;
  const adj = (v: Float64Array): Float64Array => op.adjoint(new Tensor([batch, ...op.outShape], v)).data as Float64Array;
  const r = batchedCGLS(fwd, adj, Float64Array.from(y.data), batch, { lambda, maxIter: options.maxIter, tol: options.tol, misfit: options.misfit });
  const out = Tensor.zeros([batch, ...op.inShape], y.dtype);
  out.data.set(r.x);
  return { x: out, method: 'cgls', iterations: Math.max(0, ...r.iterations), relativeResidual: Math.max(0, ...r.relativeResidual) };
}
