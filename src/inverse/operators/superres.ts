import { Tensor } from '../../core/tensor.js';
import { fail } from '../../core/errors.js';
import { checkBatch, type OperatorSVD } from './operator.js';
import { imageShape, type Bad, type OperatorDef, type SpecItems } from './spec-grammar.js';
import { applyHouseholder, checkSpectral, denseSVD, householderFor, type DenseSVD } from './svd.js';
import { SVDOperator } from './svd-operator.js';

/** Super-resolution: [C, H, W] -> [C, H/f, W/f] by average pooling or antialiased bicubic downsampling. */

function checkFactor(shape: readonly number[], factor: number): [number, number, number] {
  if (shape.length !== 3) fail('BAD_SHAPE', `super-resolution expects an image shape [C, H, W], got [${shape.join(', ')}]`);
  const [c, h, w] = shape as [number, number, number];
  if (!Number.isInteger(factor) || factor < 2) fail('BAD_CONFIG', `super-resolution factor=${factor}: use an integer >= 2 (2 or 4)`);
  if (h % factor !== 0 || w % factor !== 0) {
    fail('BAD_CONFIG', `super-resolution factor=${factor} does not divide the image size ${h}x${w}; pick a factor that divides both sides or crop the image`);
  }
  return [c, h, w];
}

/**
 * Average pooling by f: y = mean of each f x f block. A A^T = I / f^2, so ||A|| = 1/f and
 * A^+ y = nearest-neighbour upsampling. SVD per block: the first right singular vector is
 * the normalised constant (s = 1/f), a Householder reflection completes the basis (s = 0).
 * Spectral layout [C, H/f, W/f, f*f], coordinate 0 of each block the observed one.
 */
export class PoolingSROperator extends SVDOperator {
  readonly kind = 'sr' as const;
  readonly name: string;
  readonly factor: number;
  readonly svd: OperatorSVD;

  constructor(shape: readonly number[], factor: number, noiseSigma = 0) {
    const [c, h, w] = checkFactor(shape, factor);
    super(shape, [c, h / factor, w / factor], noiseSigma);
    this.factor = factor;
    this.name = `sr(pool x${factor}, ${c}x${h}x${w})`;
    const f = factor, f2 = f * f, hl = h / f, wl = w / f, size = this.inSize, blocks = c * hl * wl;
    const hv = householderFor(new Float64Array(f2).fill(1 / f));
    const s = new Float64Array(size);
    for (let k = 0; k < blocks; k++) s[k * f2] = 1 / f;
    const what = `${this.name} svd`;
    // Gather/scatter between the image [C, H, W] and the block layout [C, hl, wl, f*f].
    const toBlocks = (x: Tensor): Tensor => {
      const batch = checkBatch(x, this.inShape, what);
      const z = new Float64Array(batch * size), d = x.data;
      for (let b = 0; b < batch; b++) {
        for (let ch = 0; ch < c; ch++) {
          for (let i = 0; i < h; i++) {
            for (let j = 0; j < w; j++) {
              const blk = (ch * hl + Math.floor(i / f)) * wl + Math.floor(j / f);
              z[b * size + blk * f2 + (i % f) * f + (j % f)] = d[b * size + (ch * h + i) * w + j]!;
            }
          }
        }
      }
      for (let k = 0; k < batch * blocks; k++) applyHouseholder(hv, z, k * f2, 1);
      return new Tensor([batch, size], x.dtype === 'float64' ? z : Float32Array.from(z));
    };
    const fromBlocks = (zt: Tensor): Tensor => {
      const batch = checkSpectral(zt, size, what);
      const z = Float64Array.from(zt.data);
      for (let k = 0; k < batch * blocks; k++) applyHouseholder(hv, z, k * f2, 1);
      const x = Tensor.zeros([batch, ...this.inShape], zt.dtype), d = x.data;
      for (let b = 0; b < batch; b++) {
        for (let ch = 0; ch < c; ch++) {
          for (let i = 0; i < h; i++) {
            for (let j = 0; j < w; j++) {
              const blk = (ch * hl + Math.floor(i / f)) * wl + Math.floor(j / f);
              d[b * size + (ch * h + i) * w + j] = z[b * size + blk * f2 + (i % f) * f + (j % f)]!;
            }
          }
        }
      }
      return x;
    };
    this.svd = {
      size,
      spectralShape: [c, hl, wl, f2],
      singularValues: s,
      applyVt: toBlocks,
      applyV: fromBlocks,
      applyU: (zt) => {
        const batch = checkSpectral(zt, size, what);
        const y = Tensor.zeros([batch, ...this.outShape], zt.dtype);
        for (let k = 0; k < batch * blocks; k++) y.data[k] = zt.data[k * f2]!;
        return y;
      },
      applyUt: (y) => {
        const batch = checkBatch(y, this.outShape, what);
        const z = Tensor.zeros([batch, size], y.dtype);
        for (let k = 0; k < batch * blocks; k++) z.data[k * f2] = y.data[k]!;
        return z;
      },
    };
  }

  protected forwardInto(x: Tensor, y: Tensor, batch: number): void {
    const [c, h, w] = this.inShape as [number, number, number];
    const f = this.factor, hl = h / f, wl = w / f, inv = 1 / (f * f), xd = x.data, yd = y.data;
    for (let p = 0; p < batch * c; p++) {
      for (let i = 0; i < hl; i++) {
        for (let j = 0; j < wl; j++) {
          let acc = 0;
          for (let a = 0; a < f; a++) {
            const row = (p * h + i * f + a) * w + j * f;
            for (let b = 0; b < f; b++) acc += xd[row + b]!;
          }
          yd[(p * hl + i) * wl + j] = acc * inv;
        }
      }
    }
  }

  protected adjointInto(y: Tensor, x: Tensor, batch: number): void {
    const [c, h, w] = this.inShape as [number, number, number];
    const f = this.factor, hl = h / f, wl = w / f, inv = 1 / (f * f), xd = x.data, yd = y.data;
    for (let p = 0; p < batch * c; p++) {
      for (let i = 0; i < h; i++) {
        for (let j = 0; j < w; j++) xd[(p * h + i) * w + j] = yd[(p * hl + Math.floor(i / f)) * wl + Math.floor(j / f)]! * inv;
      }
    }
  }

  /** Nearest-neighbour upsampling (= f^2 A^T). */
  override pinv(y: Tensor): Tensor {
    const x = this.adjoint(y), f2 = this.factor * this.factor;
    for (let i = 0; i < x.data.length; i++) x.data[i] = x.data[i]! * f2;
    return x;
  }
}

// ---------------------------------------------------------------------------------------
// Bicubic

/** Keys' cubic convolution kernel (a = -0.5: Catmull-Rom, the kernel of MATLAB imresize/PIL bicubic). */
export function keysCubic(t: number, a = -0.5): number {
  const x = Math.abs(t);
  if (x <= 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return a * (((x - 5) * x + 8) * x - 4);
  return 0;
}

/** Half-sample symmetric reflection of index j into [0, n): -1 -> 0, n -> n-1. */
function reflectIndex(j: number, n: number): number {
  for (;;) {
    if (j < 0) j = -j - 1;
    else if (j >= n) j = 2 * n - j - 1;
    else return j;
  }
}

/** A sparse row-major matrix: row r has entries idx/val[start[r] .. start[r+1]). */
interface Csr {
  rows: number;
  cols: number;
  start: Int32Array;
  idx: Int32Array;
  val: Float64Array;
  dense: Float64Array;
}

/**
 * The 1-D antialiased bicubic downsampling matrix (n/f x n), as MATLAB's imresize(x, 1/f):
 * output i sits at input coordinate u = (i + 0.5) f - 0.5, weights keys((u - j)/f)/f over
 * |u - j| < 2f, indices past the border reflected (half-sample symmetric), each row
 * normalised to sum 1.
 */
export function bicubicDownsampleMatrix(n: number, factor: number, a = -0.5): Float64Array {
  const m = n / factor, out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    const u = (i + 0.5) * factor - 0.5;
    let sum = 0;
    for (let j = Math.floor(u - 2 * factor); j <= Math.ceil(u + 2 * factor); j++) {
      const wgt = keysCubic((u - j) / factor, a) / factor;
      if (wgt === 0) continue;
      out[i * n + reflectIndex(j, n)] += wgt;
      sum += wgt;
    }
    for (let j = 0; j < n; j++) out[i * n + j] = out[i * n + j]! / sum;
  }
  return out;
}

function toCsr(dense: Float64Array, rows: number, cols: number): Csr {
  const start = new Int32Array(rows + 1), idx: number[] = [], val: number[] = [];
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = dense[r * cols + c]!;
      if (v !== 0) {
        idx.push(c);
        val.push(v);
      }
    }
    start[r + 1] = idx.length;
  }
  return { rows, cols, start, idx: Int32Array.from(idx), val: Float64Array.from(val), dense };
}

/**
 * Bicubic downsampling by f: Y = Wy X Wx^T per channel with the 1-D matrices of
 * `bicubicDownsampleMatrix`; the adjoint applies the same weights transposed, Wy^T Y Wx.
 * SVD: separable, from the SVDs of Wy and Wx (A = (Uy x Ux)(Sy x Sx)(Vy x Vx)^T, as DDRM's
 * SRConv); spectral layout [C, H, W] with s[c, p, q] = sy[p] sx[q] (0 for p >= H/f or q >= W/f).
 * Computed on first use.
 */
export class BicubicSROperator extends SVDOperator {
  readonly kind = 'sr' as const;
  readonly name: string;
  readonly factor: number;
  private readonly wy: Csr;
  private readonly wx: Csr;
  private cachedSvd: OperatorSVD | undefined;

  constructor(shape: readonly number[], factor: number, noiseSigma = 0) {
    const [c, h, w] = checkFactor(shape, factor);
    super(shape, [c, h / factor, w / factor], noiseSigma);
    this.factor = factor;
    this.name = `sr(bicubic x${factor}, ${c}x${h}x${w})`;
    this.wy = toCsr(bicubicDownsampleMatrix(h, factor), h / factor, h);
    this.wx = toCsr(bicubicDownsampleMatrix(w, factor), w / factor, w);
  }

  protected forwardInto(x: Tensor, y: Tensor, batch: number): void {
    const [c, h, w] = this.inShape as [number, number, number];
    const { wy, wx } = this, hl = wy.rows, wl = wx.rows;
    const t = new Float64Array(h * wl), xd = x.data, yd = y.data;
    for (let p = 0; p < batch * c; p++) {
      const xo = p * h * w, yo = p * hl * wl;
      for (let i = 0; i < h; i++) {
        for (let q = 0; q < wl; q++) {
          let acc = 0;
          for (let k = wx.start[q]!; k < wx.start[q + 1]!; k++) acc += wx.val[k]! * xd[xo + i * w + wx.idx[k]!]!;
          t[i * wl + q] = acc;
        }
      }
      for (let r = 0; r < hl; r++) {
        for (let q = 0; q < wl; q++) {
          let acc = 0;
          for (let k = wy.start[r]!; k < wy.start[r + 1]!; k++) acc += wy.val[k]! * t[wy.idx[k]! * wl + q]!;
          yd[yo + r * wl + q] = acc;
        }
      }
    }
  }

  protected adjointInto(y: Tensor, x: Tensor, batch: number): void {
    const [c, h, w] = this.inShape as [number, number, number];
    const { wy, wx } = this, hl = wy.rows, wl = wx.rows;
    const t = new Float64Array(h * wl), row = new Float64Array(w), xd = x.data, yd = y.data;
    for (let p = 0; p < batch * c; p++) {
      const xo = p * h * w, yo = p * hl * wl;
      t.fill(0);
      for (let r = 0; r < hl; r++) {
        for (let k = wy.start[r]!; k < wy.start[r + 1]!; k++) {
          const i = wy.idx[k]!, v = wy.val[k]!;
          for (let q = 0; q < wl; q++) t[i * wl + q] = t[i * wl + q]! + v * yd[yo + r * wl + q]!;
        }
      }
      for (let i = 0; i < h; i++) {
        row.fill(0);
        for (let q = 0; q < wl; q++) {
          const tv = t[i * wl + q]!;
          for (let k = wx.start[q]!; k < wx.start[q + 1]!; k++) row[wx.idx[k]!] = row[wx.idx[k]!]! + wx.val[k]! * tv;
        }
        for (let j = 0; j < w; j++) xd[xo + i * w + j] = row[j]!;
      }
    }
  }

  get svd(): OperatorSVD {
    this.cachedSvd ??= this.buildSvd();
    return this.cachedSvd;
  }

  private buildSvd(): OperatorSVD {
    const [c, h, w] = this.inShape as [number, number, number];
    const hl = this.wy.rows, wl = this.wx.rows, size = this.inSize;
    const sy = denseSVD(this.wy.dense, hl, h), sx = denseSVD(this.wx.dense, wl, w);
    if (sy.rank < hl || sx.rank < wl) fail('UNSUPPORTED', `${this.name}: the bicubic downsampling matrix is rank deficient; use a larger image`);
    const s = new Float64Array(size);
    for (let ch = 0; ch < c; ch++) for (let p = 0; p < hl; p++) for (let q = 0; q < wl; q++) s[(ch * h + p) * w + q] = sy.s[p]! * sx.s[q]!;
    const what = `${this.name} svd`;
    return this.separableSvd(sy, sx, s, what);
  }

  private separableSvd(sy: DenseSVD, sx: DenseSVD, s: Float64Array, what: string): OperatorSVD {
    const [c, h, w] = this.inShape as [number, number, number];
    const hl = this.wy.rows, wl = this.wx.rows, size = this.inSize;
    // dst = L X R on one plane, L (ro x ri) and R (ci x co) dense row-major, row-streaming loops.
    const tmp = new Float64Array(Math.max(h, hl) * Math.max(w, wl)), acc = new Float64Array(Math.max(w, wl));
    const product = (
      src: Float64Array | Float32Array, srcOff: number, ri: number, ci: number, srcStride: number,
      dst: Float64Array | Float32Array, dstOff: number, ro: number, co: number, dstStride: number,
      L: Float64Array, R: Float64Array,
    ): void => {
      tmp.fill(0, 0, ri * co);
      for (let i = 0; i < ri; i++) {
        for (let j = 0; j < ci; j++) {
          const v = src[srcOff + i * srcStride + j]!;
          if (v === 0) continue;
          for (let q = 0, t = i * co, rr = j * co; q < co; q++) tmp[t + q] += v * R[rr + q]!;
        }
      }
      for (let r = 0; r < ro; r++) {
        acc.fill(0, 0, co);
        for (let i = 0; i < ri; i++) {
          const v = L[r * ri + i]!;
          for (let q = 0, t = i * co; q < co; q++) acc[q] += v * tmp[t + q]!;
        }
        for (let q = 0; q < co; q++) dst[dstOff + r * dstStride + q] = acc[q]!;
      }
    };
    // Dense factors: V (n x n, columns = right vectors), U (m x n, its first m columns valid).
    const block = (M: Float64Array, ld: number, rows: number, cols: number, transposed: boolean): Float64Array => {
      const out = new Float64Array(rows * cols);
      for (let r = 0; r < rows; r++) for (let q = 0; q < cols; q++) out[r * cols + q] = transposed ? M[q * ld + r]! : M[r * ld + q]!;
      return out;
    };
    const Vy = block(sy.V, h, h, h, false), VyT = block(sy.V, h, h, h, true);
    const Vx = block(sx.V, w, w, w, false), VxT = block(sx.V, w, w, w, true);
    const Uy = block(sy.U, h, hl, hl, false), UyT = block(sy.U, h, hl, hl, true);
    const Ux = block(sx.U, w, wl, wl, false), UxT = block(sx.U, w, wl, wl, true);
    return {
      size,
      spectralShape: [c, h, w],
      singularValues: s,
      // Z = Vy^T X Vx
      applyVt: (x) => {
        const batch = checkBatch(x, this.inShape, what);
        const z = Tensor.zeros([batch, size], x.dtype);
        for (let p = 0; p < batch * c; p++) {
          product(x.data, p * h * w, h, w, w, z.data, p * h * w, h, w, w, VyT, Vx);
        }
        return z;
      },
      // X = Vy Z Vx^T
      applyV: (z) => {
        const batch = checkSpectral(z, size, what);
        const x = Tensor.zeros([batch, ...this.inShape], z.dtype);
        for (let p = 0; p < batch * c; p++) {
          product(z.data, p * h * w, h, w, w, x.data, p * h * w, h, w, w, Vy, VxT);
        }
        return x;
      },
      // Y = Uy Z[:hl, :wl] Ux^T   (Uy is hl x h row-major with its first hl columns valid)
      applyU: (z) => {
        const batch = checkSpectral(z, size, what);
        const y = Tensor.zeros([batch, ...this.outShape], z.dtype);
        for (let p = 0; p < batch * c; p++) {
          product(z.data, p * h * w, hl, wl, w, y.data, p * hl * wl, hl, wl, wl, Uy, UxT);
        }
        return y;
      },
      // Z[:hl, :wl] = Uy^T Y Ux
      applyUt: (y) => {
        const batch = checkBatch(y, this.outShape, what);
        const z = Tensor.zeros([batch, size], y.dtype);
        for (let p = 0; p < batch * c; p++) {
          product(y.data, p * hl * wl, hl, wl, wl, z.data, p * h * w, hl, wl, w, UyT, Ux);
        }
        return z;
      },
    };
  }
}

// ---------------------------------------------------------------------------------------
// Spec: sr:factor=4[,kernel=pool|bicubic]

export interface SRConfig {
  kind: 'sr';
  noise: number;
  factor: number;
  kernel: 'pool' | 'bicubic';
}

export const srDef: OperatorDef<SRConfig> = {
  name: 'sr',
  aliases: ['superres', 'super-resolution'],
  keys: ['factor', 'kernel', 'noise'],
  image: true,
  doc: 'sr:factor=4[,kernel=pool|bicubic]          average pooling (default) or bicubic',
  parse: parseSR,
  build: (config: SRConfig, inShape: readonly number[], bad: Bad) => {
    const [, h, w] = imageShape('sr', inShape, bad), { factor } = config;
    if (h % factor !== 0 || w % factor !== 0) bad(`factor=${factor} does not divide the image size ${h}x${w}; pick a factor that divides both sides or crop the image`);
    return config.kernel === 'bicubic' ? new BicubicSROperator(inShape, factor, config.noise) : new PoolingSROperator(inShape, factor, config.noise);
  },
};

function parseSR(items: SpecItems): SRConfig {
  const factor = items.int('factor', 4);
  if (factor < 2) items.bad(`factor=${factor}: the downsampling factor must be an integer >= 2`);
  const kernel = (items.get('kernel') ?? 'pool').toLowerCase();
  if (['pool', 'avg', 'average', 'box'].includes(kernel)) return { kind: 'sr', noise: items.noise, factor, kernel: 'pool' };
  if (['bicubic', 'cubic'].includes(kernel)) return { kind: 'sr', noise: items.noise, factor, kernel: 'bicubic' };
  return items.bad(`kernel=${kernel}: unknown downsampling kernel; use kernel=pool (average pooling) or kernel=bicubic`);
}
