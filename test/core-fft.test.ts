import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  fft1d, ifft1d, fft2d, fft2dBatch, fft2c, ifft2c, fft2cTensor, ifft2cTensor, fftshift, ifftshift,
} from '../src/core/fft.js';
import { ComplexTensor } from '../src/core/tensor.js';
import { TweedieError } from '../src/core/errors.js';

// Expectations come from the DFT's definition and from numpy's documented outputs.

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
  };
}

function randomPlanes(n: number, seed: number): [Float64Array, Float64Array] {
  const r = rng(seed);
  return [Float64Array.from({ length: n }, r), Float64Array.from({ length: n }, r)];
}

/** Direct O(n^2) DFT, X[k] = sum_j x[j] exp(sign * 2 pi i jk/n), angle reduced mod n exactly. */
function dft(re: ArrayLike<number>, im: ArrayLike<number>, sign = -1): [Float64Array, Float64Array] {
  const n = re.length;
  const outRe = new Float64Array(n), outIm = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    let sr = 0, si = 0;
    for (let j = 0; j < n; j++) {
      const a = (sign * 2 * Math.PI * ((j * k) % n)) / n;
      const c = Math.cos(a), s = Math.sin(a);
      sr += re[j]! * c - im[j]! * s;
      si += re[j]! * s + im[j]! * c;
    }
    outRe[k] = sr;
    outIm[k] = si;
  }
  return [outRe, outIm];
}

/** Direct 2-D DFT by the double sum over (j1, j2) for each (k1, k2). */
function dft2(re: ArrayLike<number>, im: ArrayLike<number>, rows: number, cols: number): [Float64Array, Float64Array] {
  const outRe = new Float64Array(rows * cols), outIm = new Float64Array(rows * cols);
  for (let k1 = 0; k1 < rows; k1++) {
    for (let k2 = 0; k2 < cols; k2++) {
      let sr = 0, si = 0;
      for (let j1 = 0; j1 < rows; j1++) {
        for (let j2 = 0; j2 < cols; j2++) {
          const a = -2 * Math.PI * (((j1 * k1) % rows) / rows + ((j2 * k2) % cols) / cols);
          const c = Math.cos(a), s = Math.sin(a);
          const xr = re[j1 * cols + j2]!, xi = im[j1 * cols + j2]!;
          sr += xr * c - xi * s;
          si += xr * s + xi * c;
        }
      }
      outRe[k1 * cols + k2] = sr;
      outIm[k1 * cols + k2] = si;
    }
  }
  return [outRe, outIm];
}

function relErr(aRe: ArrayLike<number>, aIm: ArrayLike<number>, bRe: ArrayLike<number>, bIm: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < aRe.length; i++) {
    num += (aRe[i]! - bRe[i]!) ** 2 + (aIm[i]! - bIm[i]!) ** 2;
    den += bRe[i]! ** 2 + bIm[i]! ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-300));
}

function energy(re: ArrayLike<number>, im: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < re.length; i++) s += re[i]! ** 2 + im[i]! ** 2;
  return s;
}

/** Complex inner product <a, b> = sum a * conj(b), as [re, im]. */
function inner(aRe: ArrayLike<number>, aIm: ArrayLike<number>, bRe: ArrayLike<number>, bIm: ArrayLike<number>): [number, number] {
  let sr = 0, si = 0;
  for (let i = 0; i < aRe.length; i++) {
    sr += aRe[i]! * bRe[i]! + aIm[i]! * bIm[i]!;
    si += aIm[i]! * bRe[i]! - aRe[i]! * bIm[i]!;
  }
  return [sr, si];
}

// Covers the power-of-two path, the direct odd base (3..15), Bluestein (odd >= 17) and mixed 2^a * q.
const SIZES = [1, 2, 3, 5, 7, 8, 12, 15, 16, 17, 34, 45, 64, 97, 100, 128, 320, 368];

test('fft1d matches the direct DFT for power-of-two and other sizes', () => {
  for (const n of SIZES) {
    const [re, im] = randomPlanes(n, n);
    const [eRe, eIm] = dft(re, im);
    fft1d(re, im);
    assert.ok(relErr(re, im, eRe, eIm) < 1e-10, `n=${n}: error ${relErr(re, im, eRe, eIm)}`);
  }
});

test('inverse fft1d matches the direct inverse DFT divided by n, and round-trips', () => {
  for (const n of SIZES) {
    const [re, im] = randomPlanes(n, 100 + n);
    const [eRe, eIm] = dft(re, im, +1);
    for (let i = 0; i < n; i++) { eRe[i] = eRe[i]! / n; eIm[i] = eIm[i]! / n; }
    const [r2, i2] = [re.slice(), im.slice()];
    fft1d(r2, i2, true);
    assert.ok(relErr(r2, i2, eRe, eIm) < 1e-10, `inverse n=${n}`);
    const [r3, i3] = [re.slice(), im.slice()];
    fft1d(r3, i3);
    ifft1d(r3, i3);
    assert.ok(relErr(r3, i3, re, im) < 1e-12, `round trip n=${n}: ${relErr(r3, i3, re, im)}`);
  }
});

test("Parseval: sum |X|^2 = n sum |x|^2", () => {
  for (const n of SIZES) {
    const [re, im] = randomPlanes(n, 200 + n);
    const before = energy(re, im);
    fft1d(re, im);
    assert.ok(Math.abs(energy(re, im) / (n * before) - 1) < 1e-12, `n=${n}`);
  }
});

test('fft1d of a delta is all ones, of a constant is n times a delta', () => {
  for (const n of [6, 8, 13]) {
    const re = new Float64Array(n), im = new Float64Array(n);
    re[0] = 1;
    fft1d(re, im);
    for (let k = 0; k < n; k++) {
      assert.ok(Math.abs(re[k]! - 1) < 1e-14 && Math.abs(im[k]!) < 1e-14);
    }
    const cr = new Float64Array(n).fill(1), ci = new Float64Array(n);
    fft1d(cr, ci);
    assert.ok(Math.abs(cr[0]! - n) < 1e-12);
    for (let k = 1; k < n; k++) assert.ok(Math.abs(cr[k]!) < 1e-12 && Math.abs(ci[k]!) < 1e-12);
  }
});

test('fft1d accepts float32 planes (computed in float64, rounded once)', () => {
  for (const n of [16, 12]) {
    const [re, im] = randomPlanes(n, 300 + n);
    const r32 = Float32Array.from(re), i32 = Float32Array.from(im);
    const [eRe, eIm] = dft(r32, i32);
    fft1d(r32, i32);
    assert.ok(r32 instanceof Float32Array);
    assert.ok(relErr(r32, i32, eRe, eIm) < 1e-6);
  }
});

test('fft2d matches the direct 2-D DFT on 6x10 and 8x8, inverse round-trips', () => {
  for (const [rows, cols] of [[6, 10], [8, 8], [1, 5], [3, 1], [17, 9]] as const) {
    const [re, im] = randomPlanes(rows * cols, rows * 31 + cols);
    const [eRe, eIm] = dft2(re, im, rows, cols);
    const [r2, i2] = [re.slice(), im.slice()];
    fft2d(r2, i2, rows, cols);
    assert.ok(relErr(r2, i2, eRe, eIm) < 1e-10, `${rows}x${cols}: ${relErr(r2, i2, eRe, eIm)}`);
    fft2d(r2, i2, rows, cols, true);
    assert.ok(relErr(r2, i2, re, im) < 1e-12);
  }
});

test('fft2dBatch transforms each [rows, cols] item independently', () => {
  const shape = [2, 3, 6, 10];
  const item = 60;
  const [re, im] = randomPlanes(6 * item, 7);
  const [bRe, bIm] = [re.slice(), im.slice()];
  fft2dBatch(bRe, bIm, shape);
  for (let b = 0; b < 6; b++) {
    const [eRe, eIm] = dft2(re.subarray(b * item, (b + 1) * item), im.subarray(b * item, (b + 1) * item), 6, 10);
    assert.ok(relErr(bRe.subarray(b * item, (b + 1) * item), bIm.subarray(b * item, (b + 1) * item), eRe, eIm) < 1e-10);
  }
  const f32re = Float32Array.from(re), f32im = Float32Array.from(im);
  fft2dBatch(f32re, f32im, shape);
  assert.ok(relErr(f32re, f32im, bRe, bIm) < 1e-6);
});

test('fftshift / ifftshift match numpy for odd and even sizes', () => {
  assert.deepEqual([...fftshift(Float64Array.of(0, 1, 2, 3, 4))], [3, 4, 0, 1, 2]);
  assert.deepEqual([...ifftshift(Float64Array.of(0, 1, 2, 3, 4))], [2, 3, 4, 0, 1]);
  assert.deepEqual([...fftshift(Float64Array.of(0, 1, 2, 3))], [2, 3, 0, 1]);
  assert.deepEqual([...ifftshift(Float64Array.of(0, 1, 2, 3))], [2, 3, 0, 1]);
  // fftshift(fftfreq(n)) sorts the frequencies: fftfreq(5)*5 = [0,1,2,-2,-1], fftfreq(4)*4 = [0,1,-2,-1]
  assert.deepEqual([...fftshift(Float64Array.of(0, 1, 2, -2, -1))], [-2, -1, 0, 1, 2]);
  assert.deepEqual([...fftshift(Float64Array.of(0, 1, -2, -1))], [-2, -1, 0, 1]);
  // numpy docs: fftshift(fftfreq(9, 1/9).reshape(3, 3), axes=(1,))
  const freqs = Float64Array.of(0, 1, 2, 3, 4, -4, -3, -2, -1);
  assert.deepEqual([...fftshift(freqs, [3, 3], [1])], [2, 0, 1, -4, 3, 4, -1, -3, -2]);
  // ... and ifftshift(fftshift(freqs)) == freqs (all axes)
  assert.deepEqual([...ifftshift(fftshift(freqs, [3, 3]), [3, 3])], [...freqs]);
  // np.fft.fftshift(np.arange(6).reshape(2, 3)) = [[5, 3, 4], [2, 0, 1]]
  assert.deepEqual([...fftshift(Float32Array.of(0, 1, 2, 3, 4, 5), [2, 3])], [5, 3, 4, 2, 0, 1]);
  assert.ok(fftshift(Float32Array.of(1, 2)) instanceof Float32Array);
});

const CENTERED_SHAPES: number[][] = [[8, 8], [5, 7], [6, 5], [2, 3, 4], [1, 1]];

test('fft2c of a centered delta is constant 1/sqrt(N); of a constant is sqrt(N) at the center', () => {
  for (const shape of [[8, 8], [5, 7], [6, 5], [4, 9]]) {
    const [h, w] = shape as [number, number];
    const N = h * w;
    const re = new Float64Array(N), im = new Float64Array(N);
    re[(h >> 1) * w + (w >> 1)] = 1; // the center as numpy's fftshift puts the zero frequency
    fft2c(re, im, shape);
    for (let i = 0; i < N; i++) {
      assert.ok(Math.abs(re[i]! - 1 / Math.sqrt(N)) < 1e-14 && Math.abs(im[i]!) < 1e-14, `${shape} at ${i}`);
    }
    const cr = new Float64Array(N).fill(1), ci = new Float64Array(N);
    fft2c(cr, ci, shape);
    for (let i = 0; i < N; i++) {
      const want = i === (h >> 1) * w + (w >> 1) ? Math.sqrt(N) : 0;
      assert.ok(Math.abs(cr[i]! - want) < 1e-12 && Math.abs(ci[i]!) < 1e-12, `${shape} at ${i}`);
    }
  }
});

test('fft2c equals the centered DFT sum_j x[j] exp(-2 pi i (j-c)(k-c)/n) / sqrt(N), c = floor(n/2)', () => {
  for (const [h, w] of [[5, 6], [4, 4], [3, 7]] as const) {
    const N = h * w;
    const [re, im] = randomPlanes(N, h * 10 + w);
    const eRe = new Float64Array(N), eIm = new Float64Array(N);
    const ch = h >> 1, cw = w >> 1;
    for (let k1 = 0; k1 < h; k1++) for (let k2 = 0; k2 < w; k2++) {
      let sr = 0, si = 0;
      for (let j1 = 0; j1 < h; j1++) for (let j2 = 0; j2 < w; j2++) {
        const a = -2 * Math.PI * (((j1 - ch) * (k1 - ch)) / h + ((j2 - cw) * (k2 - cw)) / w);
        const c = Math.cos(a), s = Math.sin(a), xr = re[j1 * w + j2]!, xi = im[j1 * w + j2]!;
        sr += xr * c - xi * s;
        si += xr * s + xi * c;
      }
      eRe[k1 * w + k2] = sr / Math.sqrt(N);
      eIm[k1 * w + k2] = si / Math.sqrt(N);
    }
    fft2c(re, im, [h, w]);
    assert.ok(relErr(re, im, eRe, eIm) < 1e-10, `${h}x${w}`);
  }
});

test('fft2c is orthonormal, ifft2c is its exact inverse and its adjoint', () => {
  for (const shape of CENTERED_SHAPES) {
    const N = shape.reduce((a, b) => a * b, 1);
    const [xr, xi] = randomPlanes(N, N + 1);
    const [yr, yi] = randomPlanes(N, N + 2);
    const [fr, fi] = [xr.slice(), xi.slice()];
    fft2c(fr, fi, shape);
    assert.ok(Math.abs(energy(fr, fi) / energy(xr, xi) - 1) < 1e-12, `norm ${shape}`);
    const [br, bi] = [fr.slice(), fi.slice()];
    ifft2c(br, bi, shape);
    assert.ok(relErr(br, bi, xr, xi) < 1e-12, `inverse ${shape}`);
    const [gr, gi] = [yr.slice(), yi.slice()];
    ifft2c(gr, gi, shape);
    assert.ok(Math.abs(energy(gr, gi) / energy(yr, yi) - 1) < 1e-12, `ifft2c norm ${shape}`);
    const lhs = inner(fr, fi, yr, yi); // <F x, y>
    const rhs = inner(xr, xi, gr, gi); // <x, F^H y>
    const scale = Math.sqrt(energy(xr, xi) * energy(yr, yi));
    assert.ok(Math.abs(lhs[0] - rhs[0]) < 1e-12 * scale && Math.abs(lhs[1] - rhs[1]) < 1e-12 * scale, `adjoint ${shape}`);
  }
});

test('fft2c on a batch equals fft2c on each item; float32 planes work', () => {
  const shape = [3, 5, 6];
  const [re, im] = randomPlanes(90, 11);
  const [bRe, bIm] = [re.slice(), im.slice()];
  fft2c(bRe, bIm, shape);
  for (let b = 0; b < 3; b++) {
    const r = re.slice(b * 30, b * 30 + 30), i = im.slice(b * 30, b * 30 + 30);
    fft2c(r, i, [5, 6]);
    assert.ok(relErr(bRe.subarray(b * 30, b * 30 + 30), bIm.subarray(b * 30, b * 30 + 30), r, i) < 1e-15);
  }
  const r32 = Float32Array.from(re), i32 = Float32Array.from(im);
  fft2c(r32, i32, shape);
  assert.ok(relErr(r32, i32, bRe, bIm) < 1e-6);
});

test('fft2cTensor / ifft2cTensor return new tensors of the same shape and dtype', () => {
  const [re, im] = randomPlanes(2 * 7 * 6, 5);
  const x = new ComplexTensor([2, 7, 6], Float32Array.from(re), Float32Array.from(im));
  const before = x.re.slice();
  const y = fft2cTensor(x);
  assert.deepEqual(y.shape, [2, 7, 6]);
  assert.ok(y.re instanceof Float32Array && y.im instanceof Float32Array);
  assert.deepEqual(x.re, before, 'input unchanged');
  const [er, ei] = [re.slice(), im.slice()];
  fft2c(er, ei, [2, 7, 6]);
  assert.ok(relErr(y.re, y.im, er, ei) < 1e-6);
  const z = ifft2cTensor(y);
  assert.ok(relErr(z.re, z.im, x.re, x.im) < 1e-6);
  const x64 = new ComplexTensor([4, 4], new Float64Array(16), new Float64Array(16));
  assert.ok(fft2cTensor(x64).re instanceof Float64Array);
});

test('bad sizes throw BAD_SHAPE', () => {
  const isBadShape = (e: unknown) => e instanceof TweedieError && e.code === 'BAD_SHAPE';
  assert.throws(() => fft1d(new Float64Array(4), new Float64Array(3)), isBadShape);
  assert.throws(() => fft2d(new Float64Array(12), new Float64Array(12), 3, 5), isBadShape);
  assert.throws(() => fft2d(new Float64Array(12), new Float64Array(12), 2.5, 4), isBadShape);
  assert.throws(() => fft2c(new Float64Array(12), new Float64Array(12), [12]), isBadShape);
  assert.throws(() => fft2dBatch(new Float64Array(12), new Float64Array(12), [2, 3, 3]), isBadShape);
  assert.throws(() => fftshift(new Float64Array(6), [2, 2]), isBadShape);
  assert.throws(() => fftshift(new Float64Array(6), [2, 3], [2]), isBadShape);
});
