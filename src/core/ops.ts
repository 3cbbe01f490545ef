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

/** out = sum_k coeffs[k] * terms[k] (any number of terms, one pass per term block). */
export function lincomb(out: Tensor, coeffs: readonly number[], terms: readonly Tensor[]): Tensor {
  const o = out.data;
  const n = o.length;
  if (terms.length === 0) {
    o.fill(0);
    return out;
  }
  const t0 = terms[0]!.data, c0 = coeffs[0]!;
  // Read every input before writing, so `out` may alias any term.
  if (terms.length === 1) {
    for (let i = 0; i < n; i++) o[i] = c0 * t0[i]!;
    return out;
  }
  if (terms.length === 2) return lincomb2(out, c0, terms[0]!, coeffs[1]!, terms[1]!);
  if (terms.length === 3) return lincomb3(out, c0, terms[0]!, coeffs[1]!, terms[1]!, coeffs[2]!, terms[2]!);
  const datas = terms.map((t) => t.data);
  for (let i = 0; i < n; i++) {
    let acc = 0;
    for (let k = 0; k < datas.length; k++) acc += coeffs[k]! * datas[k]![i]!;
    o[i] = acc;
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
