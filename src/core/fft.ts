import { fail } from './errors.js';
import { ComplexTensor, shapeSize, type Data } from './tensor.js';

/**
 * Fast Fourier transforms of any length on split-complex planes (separate `re` and `im`).
 *
 * - n = 2^a * q (q odd): iterative radix-2 with cached twiddles and bit-reversal tables,
 *   whose length-q base blocks use a direct DFT (q < 16) or Bluestein's chirp-z algorithm
 *   over a cached power-of-two transform (q >= 17). Powers of two are pure radix-2, so
 *   MRI sizes such as 320 = 64 * 5 or 368 = 16 * 23 stay close to power-of-two speed.
 *
 * Conventions follow numpy: the forward transform X[k] = sum_j x[j] exp(-2 pi i jk/n) is
 * unnormalised and the inverse divides by n. The centered orthonormal transforms
 * `fft2c`/`ifft2c` are the ones MRI code uses (fastMRI):
 *   fft2c(x)  = fftshift(fft2(ifftshift(x))) / sqrt(N)
 *   ifft2c(y) = fftshift(ifft2(ifftshift(y))) * sqrt(N)    (exact inverse and adjoint of fft2c)
 * All transforms work in place. Float32 planes are accepted and computed in float64
 * internally (results are rounded back to float32 once, at the end).
 */

// ---------------------------------------------------------------------------------------
// Plans: one per length, cached. A plan transforms n float64 values at an offset, forward.

interface Plan {
  readonly n: number;
  /** Forward (unnormalised) DFT of re/im[off .. off+n), in place. */
  forward(re: Float64Array, im: Float64Array, off: number): void;
}

const plans = new Map<number, Plan>();
/** Odd lengths below this use a direct O(n^2) DFT; longer odd lengths use Bluestein. */
const DIRECT_MAX = 16;

function planFor(n: number): Plan {
  let p = plans.get(n);
  if (!p) {
    let q = n; // n = 2^a * q with q odd
    while (q > 0 && q % 2 === 0) q /= 2;
    if (q === n && n > 1) p = n < DIRECT_MAX ? directPlan(n) : bluesteinPlan(n);
    else p = radix2Plan(n, q);
    plans.set(n, p);
  }
  return p;
}

/**
 * Iterative radix-2 decimation in time for n = 2^a * q, q odd. The base blocks are length-q
 * DFTs of the stride-2^a subsequences x[s + 2^a t] (placed at bit-reversed block positions);
 * for a power of two q = 1 and this is the textbook in-place bit-reversal FFT.
 */
function radix2Plan(n: number, q: number): Plan {
  const blocks = n / q;
  const bits = Math.round(Math.log2(blocks));
  const rev = new Uint32Array(blocks);
  for (let i = 0; i < blocks; i++) {
    let r = 0;
    for (let b = 0, v = i; b < bits; b++, v >>= 1) r = (r << 1) | (v & 1);
    rev[i] = r;
  }
  // Twiddles w_t = exp(-2 pi i t/n), t < n/2, each computed directly (no recurrence drift).
  const half = n >> 1;
  const wr = new Float64Array(half), wi = new Float64Array(half);
  for (let t = 0; t < half; t++) {
    wr[t] = Math.cos((2 * Math.PI * t) / n);
    wi[t] = -Math.sin((2 * Math.PI * t) / n);
  }
  const base = q > 1 ? planFor(q) : undefined;
  const sr = new Float64Array(q > 1 ? n : 0), si = new Float64Array(q > 1 ? n : 0);
  return {
    n,
    forward(re, im, off) {
      const end = off + n;
      let size: number;
      if (base) {
        for (let p = 0, d = 0; p < blocks; p++) {
          for (let j = off + rev[p]!; j < end; j += blocks, d++) {
            sr[d] = re[j]!;
            si[d] = im[j]!;
          }
        }
        re.set(sr, off);
        im.set(si, off);
        for (let p = 0; p < blocks; p++) base.forward(re, im, off + p * q);
        size = 2 * q;
      } else {
        for (let i = 0; i < n; i++) {
          const j = rev[i]!;
          if (j > i) {
            const a = off + i, b = off + j;
            const tr = re[a]!, ti = im[a]!;
            re[a] = re[b]!; im[a] = im[b]!;
            re[b] = tr; im[b] = ti;
          }
        }
        // Stage size 2 has unit twiddles: x[a], x[b] <- x[a] + x[b], x[a] - x[b].
        for (let a = off; a + 1 < end; a += 2) {
          const ar = re[a]!, ai = im[a]!, br = re[a + 1]!, bi = im[a + 1]!;
          re[a] = ar + br; im[a] = ai + bi;
          re[a + 1] = ar - br; im[a + 1] = ai - bi;
        }
        size = 4;
      }
      for (; size <= n; size *= 2) {
        const h = size / 2, step = n / size;
        if (h < step) {
          // Few twiddles, many blocks: twiddle loop outermost, so each twiddle is loaded once.
          for (let k = 0, t = 0; k < h; k++, t += step) {
            const cr = wr[t]!, ci = wi[t]!;
            for (let a = off + k; a < end; a += size) {
              const b = a + h;
              const br = re[b]!, bi = im[b]!;
              const xr = br * cr - bi * ci, xi = br * ci + bi * cr;
              const ar = re[a]!, ai = im[a]!;
              re[b] = ar - xr; im[b] = ai - xi;
              re[a] = ar + xr; im[a] = ai + xi;
            }
          }
        } else {
          // Long blocks: walk each block contiguously (cache friendly for large n).
          for (let start = off; start < end; start += size) {
            for (let k = 0, t = 0; k < h; k++, t += step) {
              const a = start + k, b = a + h;
              const cr = wr[t]!, ci = wi[t]!;
              const br = re[b]!, bi = im[b]!;
              const xr = br * cr - bi * ci, xi = br * ci + bi * cr;
              const ar = re[a]!, ai = im[a]!;
              re[b] = ar - xr; im[b] = ai - xi;
              re[a] = ar + xr; im[a] = ai + xi;
            }
          }
        }
      }
    },
  };
}

/** Direct DFT for short odd lengths, X_k = sum_j x_j w^(jk mod n), with a cached table of w^t. */
function directPlan(n: number): Plan {
  const wr = new Float64Array(n), wi = new Float64Array(n);
  for (let t = 0; t < n; t++) {
    wr[t] = Math.cos((2 * Math.PI * t) / n);
    wi[t] = -Math.sin((2 * Math.PI * t) / n);
  }
  const xr = new Float64Array(n), xi = new Float64Array(n);
  return {
    n,
    forward(re, im, off) {
      for (let j = 0; j < n; j++) {
        xr[j] = re[off + j]!;
        xi[j] = im[off + j]!;
      }
      for (let k = 0; k < n; k++) {
        let accR = 0, accI = 0;
        for (let j = 0, t = 0; j < n; j++, t = t + k < n ? t + k : t + k - n) {
          const cr = wr[t]!, ci = wi[t]!;
          accR += xr[j]! * cr - xi[j]! * ci;
          accI += xr[j]! * ci + xi[j]! * cr;
        }
        re[off + k] = accR;
        im[off + k] = accI;
      }
    },
  };
}

function bluesteinPlan(n: number): Plan {
  let m = 1;
  while (m < 2 * n - 1) m <<= 1;
  const inner = planFor(m);
  // With jk = (j^2 + k^2 - (k-j)^2)/2, the DFT becomes X_k = w_k sum_j (x_j w_j) conj(w_{k-j}),
  // w_k = exp(-i pi k^2/n): a chirp, a convolution with conj(w) (done by FFT), a chirp.
  const cr = new Float64Array(n), ci = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const angle = (Math.PI * ((k * k) % (2 * n))) / n; // k^2 mod 2n keeps the angle small and exact
    cr[k] = Math.cos(angle);
    ci[k] = -Math.sin(angle);
  }
  const fr = new Float64Array(m), fi = new Float64Array(m); // FFT of the filter conj(w_l), l = -(n-1)..n-1
  fr[0] = cr[0]!; fi[0] = -ci[0]!;
  for (let l = 1; l < n; l++) {
    fr[l] = fr[m - l] = cr[l]!;
    fi[l] = fi[m - l] = -ci[l]!;
  }
  inner.forward(fr, fi, 0);
  const ar = new Float64Array(m), ai = new Float64Array(m); // scratch, reused every call
  return {
    n,
    forward(re, im, off) {
      for (let j = 0; j < n; j++) {
        const xr = re[off + j]!, xi = im[off + j]!;
        ar[j] = xr * cr[j]! - xi * ci[j]!;
        ai[j] = xr * ci[j]! + xi * cr[j]!;
      }
      ar.fill(0, n);
      ai.fill(0, n);
      inner.forward(ar, ai, 0);
      // Multiply by the filter and conjugate, so a forward FFT acts as the inverse one.
      for (let k = 0; k < m; k++) {
        const xr = ar[k]!, xi = ai[k]!, yr = fr[k]!, yi = fi[k]!;
        ar[k] = xr * yr - xi * yi;
        ai[k] = -(xr * yi + xi * yr);
      }
      inner.forward(ar, ai, 0);
      const s = 1 / m;
      for (let k = 0; k < n; k++) {
        const vr = ar[k]! * s, vi = -ai[k]! * s;
        re[off + k] = vr * cr[k]! - vi * ci[k]!;
        im[off + k] = vr * ci[k]! + vi * cr[k]!;
      }
    },
  };
}

// ---------------------------------------------------------------------------------------
// Float64 kernels on [rows, cols] blocks at an offset.

/** Grow-only float64 scratch planes, reused across calls (transforms are synchronous). */
class Scratch {
  re = new Float64Array(0);
  im = new Float64Array(0);
  ensure(n: number): void {
    if (this.re.length < n) {
      this.re = new Float64Array(n);
      this.im = new Float64Array(n);
    }
  }
}
const work = new Scratch(); // float32 conversion and shifted copies
const column = new Scratch(); // a gathered block of columns
const COLUMN_BLOCK = 16;

function transform1d(plan: Plan, re: Float64Array, im: Float64Array, off: number, inverse: boolean): void {
  const n = plan.n;
  if (!inverse) {
    plan.forward(re, im, off);
    return;
  }
  // ifft(x) = conj(fft(conj(x))) / n
  for (let i = off; i < off + n; i++) im[i] = -im[i]!;
  plan.forward(re, im, off);
  const s = 1 / n;
  for (let i = off; i < off + n; i++) {
    re[i] = re[i]! * s;
    im[i] = -im[i]! * s;
  }
}

function transform2d(re: Float64Array, im: Float64Array, off: number, rows: number, cols: number, inverse: boolean): void {
  if (rows === 0 || cols === 0) return;
  const rowPlan = planFor(cols), colPlan = planFor(rows);
  for (let r = 0; r < rows; r++) transform1d(rowPlan, re, im, off + r * cols, inverse);
  // Columns in blocks of COLUMN_BLOCK: gathering a block reads short contiguous row runs
  // (a blocked transpose), far kinder to the cache than one strided column at a time.
  column.ensure(rows * COLUMN_BLOCK);
  const cre = column.re, cim = column.im;
  for (let c0 = 0; c0 < cols; c0 += COLUMN_BLOCK) {
    const nb = Math.min(COLUMN_BLOCK, cols - c0);
    for (let r = 0; r < rows; r++) {
      const src = off + r * cols + c0;
      for (let c = 0, d = r; c < nb; c++, d += rows) {
        cre[d] = re[src + c]!;
        cim[d] = im[src + c]!;
      }
    }
    for (let c = 0; c < nb; c++) transform1d(colPlan, cre, cim, c * rows, inverse);
    for (let r = 0; r < rows; r++) {
      const dst = off + r * cols + c0;
      for (let c = 0, d = r; c < nb; c++, d += rows) {
        re[dst + c] = cre[d]!;
        im[dst + c] = cim[d]!;
      }
    }
  }
}

function checkPlanes(re: Data, im: Data, n: number, what: string): void {
  if (re.length !== n || im.length !== n) {
    fail('BAD_SHAPE', `${what}: re and im planes have ${re.length} and ${im.length} elements but ${n} are needed; pass planes of the size the shape describes`);
  }
}

function checkDims(dims: readonly number[], what: string): void {
  for (const d of dims) {
    if (!Number.isInteger(d) || d < 0) fail('BAD_SHAPE', `${what}: invalid dimension ${d}; dimensions must be non-negative integers`);
  }
}

/** Runs `f` on float64 views of re/im[off .. off+n): the planes themselves, or copies for float32. */
function withFloat64(re: Data, im: Data, off: number, n: number, f: (re: Float64Array, im: Float64Array, off: number) => void): void {
  if (re instanceof Float64Array && im instanceof Float64Array) {
    f(re, im, off);
    return;
  }
  work.ensure(n);
  const wr = work.re, wi = work.im;
  for (let i = 0; i < n; i++) {
    wr[i] = re[off + i]!;
    wi[i] = im[off + i]!;
  }
  f(wr, wi, 0);
  for (let i = 0; i < n; i++) {
    re[off + i] = wr[i]!;
    im[off + i] = wi[i]!;
  }
}

// ---------------------------------------------------------------------------------------
// Public API

/** In-place 1-D DFT of the complex vector (re, im). Forward is unnormalised; inverse divides by n. */
export function fft1d(re: Data, im: Data, inverse = false): void {
  const n = re.length;
  checkPlanes(re, im, n, 'fft1d');
  if (n === 0) return;
  const plan = planFor(n);
  withFloat64(re, im, 0, n, (r, i, off) => transform1d(plan, r, i, off, inverse));
}

/** In-place 1-D inverse DFT (divides by n). Same as `fft1d(re, im, true)`. */
export function ifft1d(re: Data, im: Data): void {
  fft1d(re, im, true);
}

/** In-place 2-D DFT of a row-major [rows, cols] complex plane. Inverse divides by rows*cols. */
export function fft2d(re: Data, im: Data, rows: number, cols: number, inverse = false): void {
  checkDims([rows, cols], 'fft2d');
  checkPlanes(re, im, rows * cols, `fft2d [${rows}, ${cols}]`);
  withFloat64(re, im, 0, rows * cols, (r, i, off) => transform2d(r, i, off, rows, cols, inverse));
}

/** In-place 2-D DFT over the last two axes of a row-major array of shape [..., rows, cols]. */
export function fft2dBatch(re: Data, im: Data, shape: readonly number[], inverse = false): void {
  const [batch, rows, cols] = splitShape(shape, 'fft2dBatch');
  checkPlanes(re, im, batch * rows * cols, `fft2dBatch [${shape.join(', ')}]`);
  const n = rows * cols;
  for (let b = 0; b < batch; b++) {
    withFloat64(re, im, b * n, n, (r, i, off) => transform2d(r, i, off, rows, cols, inverse));
  }
}

/**
 * In-place centered orthonormal 2-D DFT over the last two axes of [..., H, W]:
 * fftshift(fft2(ifftshift(x))) / sqrt(H*W). Unitary; its inverse and adjoint is `ifft2c`.
 */
export function fft2c(re: Data, im: Data, shape: readonly number[]): void {
  centered(re, im, shape, false);
}

/** In-place inverse of `fft2c` (also its adjoint): fftshift(ifft2(ifftshift(y))) * sqrt(H*W). */
export function ifft2c(re: Data, im: Data, shape: readonly number[]): void {
  centered(re, im, shape, true);
}

/** fft2c on a ComplexTensor of shape [..., H, W]; returns a new tensor of the same dtype. */
export function fft2cTensor(x: ComplexTensor): ComplexTensor {
  const y = new ComplexTensor(x.shape, x.re.slice(), x.im.slice());
  fft2c(y.re, y.im, y.shape);
  return y;
}

/** ifft2c on a ComplexTensor of shape [..., H, W]; returns a new tensor of the same dtype. */
export function ifft2cTensor(x: ComplexTensor): ComplexTensor {
  const y = new ComplexTensor(x.shape, x.re.slice(), x.im.slice());
  ifft2c(y.re, y.im, y.shape);
  return y;
}

/**
 * numpy.fft.fftshift: moves the zero frequency to the center, out[(i + floor(n/2)) mod n] = in[i]
 * along each listed axis (default: all axes of `shape`, default shape: [x.length]). Returns a new array.
 */
export function fftshift<T extends Data>(x: T, shape: readonly number[] = [x.length], axes?: readonly number[]): T {
  return shiftAxes(x, shape, axes, false, 'fftshift');
}

/** numpy.fft.ifftshift, the inverse of `fftshift` (they differ for odd sizes). Returns a new array. */
export function ifftshift<T extends Data>(x: T, shape: readonly number[] = [x.length], axes?: readonly number[]): T {
  return shiftAxes(x, shape, axes, true, 'ifftshift');
}

// ---------------------------------------------------------------------------------------

function splitShape(shape: readonly number[], what: string): [number, number, number] {
  if (shape.length < 2) {
    fail('BAD_SHAPE', `${what}: shape [${shape.join(', ')}] needs at least two axes [..., H, W]; reshape 1-D data to [1, n]`);
  }
  checkDims(shape, what);
  const rows = shape[shape.length - 2]!, cols = shape[shape.length - 1]!;
  const batch = shapeSize(shape.slice(0, -2));
  return [batch, rows, cols];
}

function centered(re: Data, im: Data, shape: readonly number[], inverse: boolean): void {
  const what = inverse ? 'ifft2c' : 'fft2c';
  const [batch, rows, cols] = splitShape(shape, what);
  const n = rows * cols;
  checkPlanes(re, im, batch * n, `${what} [${shape.join(', ')}]`);
  if (n === 0) return;
  // Both ifftshift (gather) and fftshift (scatter) use the index map p(i) = (i + floor(n/2)) mod n.
  const hr = rows >> 1, hc = cols >> 1;
  const scale = 1 / Math.sqrt(n); // ortho: sqrt(N)/N for the inverse is the same number
  work.ensure(n);
  const wr = work.re, wi = work.im;
  for (let b = 0; b < batch; b++) {
    const off = b * n;
    for (let r = 0; r < rows; r++) {
      const src = off + ((r + hr) % rows) * cols, dst = r * cols;
      for (let c = 0, s = hc; c < cols; c++, s = s + 1 === cols ? 0 : s + 1) {
        wr[dst + c] = re[src + s]!;
        wi[dst + c] = im[src + s]!;
      }
    }
    // The unnormalised forward transform is used both ways; inverse = conj(F conj(.)).
    if (inverse) for (let i = 0; i < n; i++) wi[i] = -wi[i]!;
    transform2d(wr, wi, 0, rows, cols, false);
    const si = inverse ? -scale : scale;
    for (let r = 0; r < rows; r++) {
      const dst = off + ((r + hr) % rows) * cols, src = r * cols;
      for (let c = 0, d = hc; c < cols; c++, d = d + 1 === cols ? 0 : d + 1) {
        re[dst + d] = wr[src + c]! * scale;
        im[dst + d] = wi[src + c]! * si;
      }
    }
  }
}

function shiftAxes<T extends Data>(x: T, shape: readonly number[], axes: readonly number[] | undefined, inverse: boolean, what: string): T {
  checkDims(shape, what);
  if (shapeSize(shape) !== x.length) {
    fail('BAD_SHAPE', `${what}: array has ${x.length} elements but shape [${shape.join(', ')}] needs ${shapeSize(shape)}; pass the array's shape`);
  }
  const list = axes ?? shape.map((_, i) => i);
  let src = x.slice() as T;
  let dst = x.slice() as T;
  for (const a0 of list) {
    const axis = a0 < 0 ? a0 + shape.length : a0;
    if (!Number.isInteger(axis) || axis < 0 || axis >= shape.length) {
      fail('BAD_SHAPE', `${what}: axis ${a0} is out of range for shape [${shape.join(', ')}]`);
    }
    const n = shape[axis]!;
    if (n <= 1) continue;
    const k = inverse ? n - (n >> 1) : n >> 1; // roll amount: floor(n/2) forward, ceil(n/2) inverse
    const inner = shapeSize(shape.slice(axis + 1));
    const outer = shapeSize(shape.slice(0, axis));
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < n; i++) {
        const from = (o * n + i) * inner, to = (o * n + ((i + k) % n)) * inner;
        for (let j = 0; j < inner; j++) dst[to + j] = src[from + j]!;
      }
    }
    const t = src; src = dst; dst = t;
  }
  return src;
}
