import { fail } from './errors.js';

/** A flat real vector: float64, or float32 for image data (dot products are always float64). */
export type Vec = Float32Array | Float64Array;

export interface CGOptions<T extends Vec = Vec> {
  /** Iteration cap (default: n, where exact arithmetic terminates). */
  maxIter?: number;
  /** Stop when ||b - A x|| <= tol * ||b|| (default 1e-6). */
  tol?: number;
  /** Called after each iteration with its 1-based count, the relative residual and the iterate (do not keep `x`). */
  onIter?: (iteration: number, relativeResidual: number, x: T) => void;
}

export interface CGResult<T extends Vec = Vec> {
  x: T;
  iterations: number;
  /** ||b - A x|| as tracked by the recurrence. */
  residualNorm: number;
  /** residualNorm / ||b|| (0 when b = 0). */
  relativeResidual: number;
  converged: boolean;
}

/**
 * Conjugate gradient for A x = b with A symmetric positive definite, given as
 * `applyA(x, out)` writing A x into `out` (both of b's array type; `out` must not alias `x`).
 * Starts from `x0` (not modified) or zero. Returns x = 0 with 0 iterations when b = 0.
 * Throws BAD_INPUT when A shows a non-positive or non-finite curvature p.Ap, i.e. it is not SPD.
 *
 * Complex systems: a Hermitian positive definite complex A (for example A^H A + lambda I)
 * acting on z = u + i v is, on the concatenation [u; v], the real matrix
 * [[Re A, -Im A], [Im A, Re A]], which is symmetric positive definite; pass re/im concatenated.
 */
export function conjugateGradient<T extends Vec>(
  applyA: (x: T, out: T) => void,
  b: T,
  x0?: T,
  options: CGOptions<T> = {},
): CGResult<T> {
  const n = b.length;
  const maxIter = options.maxIter ?? n;
  const tol = options.tol ?? 1e-6;
  if (x0 && x0.length !== n) {
    fail('BAD_SHAPE', `conjugateGradient: x0 has ${x0.length} elements but b has ${n}; pass an initial guess of b's length`);
  }
  if (!Number.isInteger(maxIter) || maxIter < 0) fail('BAD_CONFIG', `conjugateGradient: maxIter must be a non-negative integer, got ${maxIter}`);
  if (!(tol >= 0)) fail('BAD_CONFIG', `conjugateGradient: tol must be >= 0, got ${tol}`);

  const make = (): T => (b instanceof Float64Array ? new Float64Array(n) : new Float32Array(n)) as T;
  const x = make();
  const bNorm = Math.sqrt(dot(b, b));
  if (!Number.isFinite(bNorm)) fail('BAD_INPUT', 'conjugateGradient: b contains NaN or Infinity; check the right-hand side');
  if (bNorm === 0) return { x, iterations: 0, residualNorm: 0, relativeResidual: 0, converged: true };

  const r = make(), p = make(), ap = make();
  if (x0) {
    x.set(x0);
    applyA(x, ap);
    for (let i = 0; i < n; i++) r[i] = b[i]! - ap[i]!;
  } else {
    r.set(b);
  }
  p.set(r);
  let rr = dot(r, r);
  let iterations = 0;
  const target = tol * bNorm;
  while (Math.sqrt(rr) > target && iterations < maxIter) {
    applyA(p, ap);
    const pAp = dot(p, ap);
    if (!(pAp > 0)) {
      fail('BAD_INPUT', `conjugateGradient: p.Ap = ${pAp} at iteration ${iterations + 1}; the operator must be symmetric positive definite (add a positive damping term, or check applyA for NaN)`);
    }
    const alpha = rr / pAp;
    let rrNew = 0;
    for (let i = 0; i < n; i++) {
      x[i] = x[i]! + alpha * p[i]!;
      r[i] = r[i]! - alpha * ap[i]!;
      const ri = r[i]!; // read back, so float32 residuals are measured as stored
      rrNew += ri * ri;
    }
    const beta = rrNew / rr;
    for (let i = 0; i < n; i++) p[i] = r[i]! + beta * p[i]!;
    rr = rrNew;
    iterations++;
    options.onIter?.(iterations, Math.sqrt(rr) / bNorm, x);
  }
  const residualNorm = Math.sqrt(rr);
  return { x, iterations, residualNorm, relativeResidual: residualNorm / bNorm, converged: residualNorm <= target };
}

function dot(a: Vec, b: Vec): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}
