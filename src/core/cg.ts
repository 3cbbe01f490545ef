import { fail } from './errors.js';

/** A flat real vector: float64, or float32 for image data (dot products are always float64). */
export type Vec = Float32Array | Float64Array;

/**
 * What the conjugate-gradient recurrence needs from a system of `batch` independent items laid end to
 * end in one vector: the curvature of a search direction and the residual after a step along it.
 */
export interface KrylovSystem<T extends Vec> {
  /** Writes each item's curvature p^T M p into `curvature` (M applied to the whole batch at once). */
  curvature(p: T, curvature: Float64Array): void;
  /**
   * For each active item: steps its residual `r` to the new iterate (the one after x += alpha p, with the
   * M p of the last `curvature` call) and writes ||r||^2 into `rr`.
   */
  advance(alpha: Float64Array, active: Uint8Array, r: T, rr: Float64Array): void;
  /** Whether an item is done on a criterion of the system's own (asked at the start and after each `advance`). */
  done?(item: number): boolean;
}

export interface KrylovHooks {
  /** Called when an item's curvature is not positive; the item stops where it is (throw to fail instead). */
  onBreakdown?: (item: number, curvature: number, iteration: number) => void;
  /** Called after each iteration of the batch with its 1-based count, the iterate and the squared residual norms (do not keep them). */
  onIter?: (iteration: number, x: Vec, rr: Float64Array) => void;
}

/**
 * The conjugate-gradient recurrence (Hestenes & Stiefel 1952) on every item of a batch at once, with
 * per-item step sizes and stopping: x += alpha p, r advanced by the system, p = r + beta p, until
 * ||r|| <= target (per item) or `maxIter` iterations. On entry `r` is the residual at `x` and `rr` its
 * squared norms; x, r and rr are updated in place. Returns the iterations each item took.
 */
export function krylovRecurrence<T extends Vec>(
  system: KrylovSystem<T>,
  x: T,
  r: T,
  rr: Float64Array,
  target: Float64Array,
  maxIter: number,
  hooks: KrylovHooks = {},
): Int32Array {
  const batch = rr.length, m = x.length / batch;
  const p = r.slice() as T;
  const active = new Uint8Array(batch), curvature = new Float64Array(batch), alpha = new Float64Array(batch), rrNew = new Float64Array(batch);
  const iterations = new Int32Array(batch);
  const stop = (b: number): boolean => !(Math.sqrt(rr[b]!) > target[b]!) || system.done?.(b) === true;
  for (let b = 0; b < batch; b++) active[b] = stop(b) ? 0 : 1;
  for (let it = 0; it < maxIter && active.includes(1); it++) {
    system.curvature(p, curvature);
    for (let b = 0; b < batch; b++) {
      if (!active[b]) continue;
      const c = curvature[b]!;
      if (!(c > 0)) {
        active[b] = 0;
        hooks.onBreakdown?.(b, c, iterations[b]! + 1);
        continue;
      }
      const a = rr[b]! / c;
      alpha[b] = a;
      for (let k = b * m; k < (b + 1) * m; k++) x[k] = x[k]! + a * p[k]!;
    }
    system.advance(alpha, active, r, rrNew);
    for (let b = 0; b < batch; b++) {
      if (!active[b]) continue;
      const beta = rrNew[b]! / rr[b]!;
      for (let k = b * m; k < (b + 1) * m; k++) p[k] = r[k]! + beta * p[k]!;
      rr[b] = rrNew[b]!;
      iterations[b]!++;
      if (stop(b)) active[b] = 0;
    }
    hooks.onIter?.(it + 1, x, rr);
  }
  return iterations;
}

/** Sum of a[k] b[k] over k in [lo, hi), in float64 and index order. */
export function dotRange(a: Vec, b: Vec, lo: number, hi: number): number {
  let s = 0;
  for (let k = lo; k < hi; k++) s += a[k]! * b[k]!;
  return s;
}

/** Checks the batch layout and the iteration options of a Krylov solve. */
export function checkKrylovArgs(what: string, n: number, batch: number, maxIter: number, tol: number, x0?: Vec): void {
  if (!Number.isInteger(batch) || batch < 1 || n % batch !== 0) fail('BAD_SHAPE', `${what}: ${n} elements do not split into ${batch} items; pass a batch that divides the length`);
  if (x0 && x0.length !== n) fail('BAD_SHAPE', `${what}: x0 has ${x0.length} elements but b has ${n}; pass an initial guess of b's length`);
  if (!Number.isInteger(maxIter) || maxIter < 0) fail('BAD_CONFIG', `${what}: maxIter must be a non-negative integer, got ${maxIter}`);
  if (!(tol >= 0)) fail('BAD_CONFIG', `${what}: tol must be >= 0, got ${tol}`);
}

export interface BatchedCGOptions extends KrylovHooks {
  /** Iteration cap (default: the item length, where exact arithmetic terminates). */
  maxIter?: number;
  /** An item stops when ||b - A x|| <= tol * ||b|| (default 1e-6). */
  tol?: number;
}

export interface BatchedCGResult<T extends Vec = Vec> {
  x: T;
  /** Per item. */
  iterations: Int32Array;
  /** Per item ||b - A x|| as tracked by the recurrence. */
  residualNorm: Float64Array;
  /** Per item residualNorm / ||b|| (0 when b = 0). */
  relativeResidual: Float64Array;
}

/**
 * Conjugate gradient for A x = b on `batch` independent systems laid end to end (item i holds entries
 * [i m, (i + 1) m)), A symmetric positive (semi-)definite and block diagonal, given as `applyA(p, out)`
 * on the whole batch (out must not alias p). One application per iteration serves every item; each
 * item has its own step sizes and stops on its own residual, or where its curvature p.Ap is not
 * positive (a singular system once converged; `onBreakdown` is told). Starts from `x0` (not modified)
 * or zero.
 */
export function batchedConjugateGradient<T extends Vec>(
  applyA: (p: T, out: T) => void,
  b: T,
  batch: number,
  x0?: T,
  options: BatchedCGOptions = {},
): BatchedCGResult<T> {
  const n = b.length, m = n / batch;
  const maxIter = options.maxIter ?? m, tol = options.tol ?? 1e-6;
  checkKrylovArgs('batchedConjugateGradient', n, batch, maxIter, tol, x0);
  const make = (): T => (b instanceof Float64Array ? new Float64Array(n) : new Float32Array(n)) as T;
  const x = make(), r = make(), ap = make();
  if (x0) {
    x.set(x0);
    applyA(x, ap);
    for (let i = 0; i < n; i++) r[i] = b[i]! - ap[i]!;
  } else {
    r.set(b);
  }
  const rr = new Float64Array(batch), bNorm = new Float64Array(batch), target = new Float64Array(batch);
  for (let i = 0; i < batch; i++) {
    rr[i] = dotRange(r, r, i * m, (i + 1) * m);
    bNorm[i] = Math.sqrt(dotRange(b, b, i * m, (i + 1) * m));
    target[i] = tol * bNorm[i]!;
  }
  const system: KrylovSystem<T> = {
    curvature(p, c) {
      applyA(p, ap);
      for (let i = 0; i < batch; i++) c[i] = dotRange(p, ap, i * m, (i + 1) * m);
    },
    advance(alpha, active, res, out) {
      for (let i = 0; i < batch; i++) {
        if (!active[i]) continue;
        const a = alpha[i]!;
        let s = 0;
        for (let k = i * m; k < (i + 1) * m; k++) {
          res[k] = res[k]! - a * ap[k]!;
          const rk = res[k]!; // read back, so float32 residuals are measured as stored
          s += rk * rk;
        }
        out[i] = s;
      }
    },
  };
  const iterations = krylovRecurrence(system, x, r, rr, target, maxIter, options);
  const residualNorm = rr.map(Math.sqrt);
  const relativeResidual = residualNorm.map((v, i) => (bNorm[i]! > 0 ? v / bNorm[i]! : 0));
  return { x, iterations, residualNorm, relativeResidual };
}

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
  checkKrylovArgs('conjugateGradient', n, 1, maxIter, tol, x0);
  const bNorm = Math.sqrt(dotRange(b, b, 0, n));
  if (!Number.isFinite(bNorm)) fail('BAD_INPUT', 'conjugateGradient: b contains NaN or Infinity; check the right-hand side');
  if (bNorm === 0) {
    const x = (b instanceof Float64Array ? new Float64Array(n) : new Float32Array(n)) as T;
    return { x, iterations: 0, residualNorm: 0, relativeResidual: 0, converged: true };
  }
  const res = batchedConjugateGradient(applyA, b, 1, x0, {
    maxIter,
    tol,
    onBreakdown: (_, pAp, iteration) =>
      fail('BAD_INPUT', `conjugateGradient: p.Ap = ${pAp} at iteration ${iteration}; the operator must be symmetric positive definite (add a positive damping term, or check applyA for NaN)`),
    onIter: options.onIter && ((it, x, rr) => options.onIter!(it, Math.sqrt(rr[0]!) / bNorm, x as T)),
  });
  const residualNorm = res.residualNorm[0]!;
  return { x: res.x, iterations: res.iterations[0]!, residualNorm, relativeResidual: residualNorm / bNorm, converged: residualNorm <= tol * bNorm };
}
