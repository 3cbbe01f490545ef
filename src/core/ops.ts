import { Tensor, assertSameShape, type Data } from './tensor.js';

/**
 * Fused elementwise helpers. Each writes into `out` (allocated by the caller once per run)
 * and returns it, so sampler hot loops make one pass and no garbage.
 */

/** out = ca*a + cb*b */
export function lincomb2(out: Tensor, ca: number, a: Tensor, cb: number, b: Tensor): Tensor {
  assertSameShape(a, b, 'lincomb2');
  const o = out.data, x = a.data, y = b.data;
  for (let i = 0; i < o.length; i++) o[i] = ca * x[i]! + cb * y[i]!;
  return out;
}

/** out = ca*a + cb*b + cc*c */
export function lincomb3(out: Tensor, ca: number, a: Tensor, cb: number, b: Tensor, cc: number, c: Tensor): Tensor {
  const o = out.data, x = a.data, y = b.data, z = c.data;
  for (let i = 0; i < o.length; i++) o[i] = ca * x[i]! + cb * y[i]! + cc * z[i]!;
  return out;
}

/** Elements per block of `lincomb`: its float64 accumulator stays in the L1 cache. */
const BLOCK = 1024;
const blockAcc = new Float64Array(BLOCK);

/**
 * out = sum_k coeffs[k] * terms[k], any number of terms: the one combinator of multistep and multi-stage
 * updates. Every element is the float64 sum from 0 in term order, stored once, and nothing is allocated:
 * four or more terms go in blocks whose accumulator stays in cache, the first four terms in one pass over
 * the block and one pass per further term.
 */
export function lincomb(out: Tensor, coeffs: readonly number[], terms: readonly Tensor[]): Tensor {
  const o = out.data;
  const n = o.length;
  const K = terms.length;
  if (K === 2) return lincomb2(out, coeffs[0]!, terms[0]!, coeffs[1]!, terms[1]!);
  if (K === 3) return lincomb3(out, coeffs[0]!, terms[0]!, coeffs[1]!, terms[1]!, coeffs[2]!, terms[2]!);
  if (K < 2) {
    const x = K ? terms[0]!.data : null, c = K ? coeffs[0]! : 0;
    for (let i = 0; i < n; i++) o[i] = x ? c * x[i]! : 0;
    return out;
  }
  const x0 = terms[0]!.data, x1 = terms[1]!.data, x2 = terms[2]!.data, x3 = terms[3]!.data;
  const c0 = coeffs[0]!, c1 = coeffs[1]!, c2 = coeffs[2]!, c3 = coeffs[3]!;
  // Every term of a block is read before the block is written, so `out` may alias any term.
  for (let start = 0; start < n; start += BLOCK) {
    const len = Math.min(BLOCK, n - start);
    for (let j = 0, i = start; j < len; j++, i++) blockAcc[j] = 0 + c0 * x0[i]! + c1 * x1[i]! + c2 * x2[i]! + c3 * x3[i]!;
    for (let k = 4; k < K; k++) {
      const ck = coeffs[k]!, t = terms[k]!.data;
      for (let j = 0, i = start; j < len; j++, i++) blockAcc[j] += ck * t[i]!;
    }
    for (let j = 0, i = start; j < len; j++, i++) o[i] = blockAcc[j]!;
  }
  return out;
}

/** out = a * c */
export function scale(out: Tensor, c: number, a: Tensor): Tensor {
  const o = out.data, x = a.data;
  for (let i = 0; i < o.length; i++) o[i] = c * x[i]!;
  return out;
}

/** y += c * x (in place) */
export function axpy(y: Tensor, c: number, x: Tensor): Tensor {
  const o = y.data, d = x.data;
  for (let i = 0; i < o.length; i++) o[i] = o[i]! + c * d[i]!;
  return y;
}

export function copyInto(out: Tensor, a: Tensor): Tensor {
  out.data.set(a.data);
  return out;
}

export function sub(out: Tensor, a: Tensor, b: Tensor): Tensor {
  return lincomb2(out, 1, a, -1, b);
}
export function add(out: Tensor, a: Tensor, b: Tensor): Tensor {
  return lincomb2(out, 1, a, 1, b);
}

export function clampInPlace(t: Tensor, lo: number, hi: number): Tensor {
  const d = t.data;
  for (let i = 0; i < d.length; i++) d[i] = d[i]! < lo ? lo : d[i]! > hi ? hi : d[i]!;
  return t;
}

export function dot(a: Data, b: Data): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

export function sumSquares(a: Data): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * a[i]!;
  return s;
}

export function norm2(a: Data): number {
  return Math.sqrt(sumSquares(a));
}

export function sum(a: Data): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  return s;
}

export function mean(a: Data): number {
  return a.length === 0 ? NaN : sum(a) / a.length;
}

export function maxAbs(a: Data): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const v = Math.abs(a[i]!);
    if (v > m || Number.isNaN(v)) m = v;
  }
  return m;
}

/** Index of the first non-finite element, or -1. */
export function firstNonFinite(a: Data): number {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return i;
  return -1;
}

/** Per-batch-item sum of squares. */
export function itemSumSquares(t: Tensor): Float64Array {
  const m = t.itemSize, out = new Float64Array(t.batch), d = t.data;
  for (let b = 0; b < t.batch; b++) {
    let s = 0;
    for (let i = b * m; i < (b + 1) * m; i++) s += d[i]! * d[i]!;
    out[b] = s;
  }
  return out;
}

/** Relative L2 difference ||a - b|| / ||b||. */
export function relativeError(a: Data, b: Data): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    num += d * d;
    den += b[i]! * b[i]!;
  }
  return Math.sqrt(num / (den || 1));
}
