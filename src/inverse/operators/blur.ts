import { Tensor } from '../../core/tensor.js';
import { fail } from '../../core/errors.js';
import { fft2dBatch } from '../../core/fft.js';
import { LinearOperator, checkBatch, proxArgs, type OperatorSVD } from './operator.js';
import { hartley2 } from './fourier.js';
import { imageShape, type Bad, type OperatorDef, type SpecItems } from './spec-grammar.js';
import { checkSpectral, svdFromV } from './svd.js';

/** A square odd-sized convolution kernel, row-major, centered at ((size-1)/2, (size-1)/2). */
export interface Kernel {
  readonly size: number;
  readonly data: Float64Array;
}

/** Normalised Gaussian kernel exp(-r^2 / (2 sigma^2)); default size 2 ceil(3 sigma) + 1. */
export function gaussianKernel(sigma: number, size?: number): Kernel {
  if (!(sigma > 0) || !Number.isFinite(sigma)) fail('BAD_CONFIG', `blur:gaussian sigma=${sigma}: the width must be a number > 0 (pixels), e.g. sigma=2`);
  const k = size ?? 2 * Math.ceil(3 * sigma) + 1;
  checkKernelSize(k);
  const c = (k - 1) / 2, data = new Float64Array(k * k);
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) data[i * k + j] = Math.exp(-((i - c) ** 2 + (j - c) ** 2) / (2 * sigma * sigma));
  return { size: k, data: normalise(data) };
}

/**
 * Linear motion blur: an antialiased line of `length` pixels through the centre at `angleDeg`
 * degrees counterclockwise from the x axis (image rows grow downwards), weight
 * max(0, 1 - distance to the segment), normalised to sum 1. Angle 0 and an odd length give
 * exactly `length` taps of 1/length. Default size: 2 ceil((length - 1)/2) + 3.
 */
export function motionKernel(length: number, angleDeg: number, size?: number): Kernel {
  if (!(length >= 1) || !Number.isFinite(length)) fail('BAD_CONFIG', `blur:motion length=${length}: the line length must be a number >= 1 (pixels), e.g. length=9`);
  if (!Number.isFinite(angleDeg)) fail('BAD_CONFIG', `blur:motion angle=${angleDeg}: give the angle in degrees, e.g. angle=30`);
  const half = (length - 1) / 2;
  const k = size ?? 2 * Math.ceil(half) + 3;
  checkKernelSize(k);
  const c = (k - 1) / 2, th = (angleDeg * Math.PI) / 180;
  const dx = Math.cos(th), dy = -Math.sin(th);
  const data = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      const px = j - c, py = i - c;
      const t = Math.max(-half, Math.min(half, px * dx + py * dy));
      const dist = Math.hypot(px - t * dx, py - t * dy);
      data[i * k + j] = Math.max(0, 1 - dist);
    }
  }
  return { size: k, data: normalise(data) };
}

function checkKernelSize(k: number): void {
  if (!Number.isInteger(k) || k < 1 || k % 2 === 0) fail('BAD_CONFIG', `blur kernel size ${k} must be an odd positive integer, e.g. size=13`);
}

function normalise(d: Float64Array): Float64Array {
  let s = 0;
  for (let i = 0; i < d.length; i++) s += d[i]!;
  for (let i = 0; i < d.length; i++) d[i] = d[i]! / s;
  return d;
}

/**
 * Circular convolution y = k (*) x of each channel of [C, H, W] with a centered kernel, by FFT:
 * A = F^H diag(K) F with K the DFT of the kernel wrapped so its centre sits at pixel (0, 0).
 * The adjoint is the circular correlation (conj(K)). A^T A = F^H |K|^2 F, so the SVD has
 * V = the (natural-order) Hartley transform and s = |K|; singular values below 1e-8 max|K|
 * (only reachable by very smooth kernels) are stored as zeros. ||A|| = max|K| = 1 for a
 * non-negative normalised kernel.
 */
export class BlurOperator extends LinearOperator {
  readonly kind = 'blur' as const;
  readonly name: string;
  readonly kernel: Kernel;
  /** DFT of the wrapped kernel, natural order, [H * W]. */
  readonly transferRe: Float64Array;
  readonly transferIm: Float64Array;
  /** |K| at or below this counts as 0 in the SVD and the pseudo-inverse. */
  readonly cutoff: number;
  readonly svd: OperatorSVD;

  constructor(shape: readonly number[], kernel: Kernel, noiseSigma = 0, label = 'kernel') {
    if (shape.length !== 3) fail('BAD_SHAPE', `blur expects an image shape [C, H, W], got [${shape.join(', ')}]`);
    super(shape, shape, noiseSigma);
    const [c, h, w] = shape as [number, number, number];
    const k = kernel.size;
    checkKernelSize(k);
    if (kernel.data.length !== k * k) fail('BAD_SHAPE', `blur kernel has ${kernel.data.length} taps, expected ${k}x${k}`);
    if (k > h || k > w) fail('BAD_CONFIG', `blur kernel of ${k}x${k} is larger than the ${h}x${w} image; use a smaller kernel (sigma, length or size) or a larger image`);
    this.kernel = kernel;
    this.name = `blur(${label}, ${c}x${h}x${w})`;
    const re = new Float64Array(h * w), im = new Float64Array(h * w), r = (k - 1) / 2;
    for (let a = 0; a < k; a++) {
      for (let b = 0; b < k; b++) {
        const i = (a - r + h) % h, j = (b - r + w) % w;
        re[i * w + j] = re[i * w + j]! + kernel.data[a * k + b]!;
      }
    }
    fft2dBatch(re, im, [h, w]);
    this.transferRe = re;
    this.transferIm = im;
    let max = 0;
    const mag = new Float64Array(h * w);
    for (let i = 0; i < h * w; i++) {
      mag[i] = Math.hypot(re[i]!, im[i]!);
      max = Math.max(max, mag[i]!);
    }
    this.cutoff = 1e-8 * max;
    const s = new Float64Array(this.inSize);
    for (let ch = 0; ch < c; ch++) for (let i = 0; i < h * w; i++) s[ch * h * w + i] = mag[i]! > this.cutoff ? mag[i]! : 0;
    const what = `${this.name} svd`;
    const hartley = (t: Tensor, batch: number, shapeOut: readonly number[]): Tensor => {
      const d = Float64Array.from(t.data);
      hartley2(d, [batch * c, h, w], false);
      return new Tensor(shapeOut, t.dtype === 'float64' ? d : Float32Array.from(d));
    };
    this.svd = svdFromV(
      this,
      [c, h, w],
      s,
      (z) => hartley(z, checkSpectral(z, this.inSize, what), [z.batch, c, h, w]),
      (x) => hartley(x, checkBatch(x, this.inShape, what), [x.batch, this.inSize]),
    );
  }

  /** FFT of every plane, multiply by K (or conj K), inverse FFT, real part. */
  private filter(src: Tensor, dst: Tensor, batch: number, conjugate: boolean): void {
    const [c, h, w] = this.inShape as [number, number, number];
    const n = h * w, re = Float64Array.from(src.data), im = new Float64Array(re.length);
    fft2dBatch(re, im, [batch * c, h, w]);
    const kr = this.transferRe, ki = conjugate ? this.transferIm.map((v) => -v) : this.transferIm;
    for (let p = 0; p < batch * c; p++) {
      for (let i = 0; i < n; i++) {
        const o = p * n + i, xr = re[o]!, xi = im[o]!;
        re[o] = xr * kr[i]! - xi * ki[i]!;
        im[o] = xr * ki[i]! + xi * kr[i]!;
      }
    }
    fft2dBatch(re, im, [batch * c, h, w], true);
    dst.data.set(re);
  }

  protected forwardInto(x: Tensor, y: Tensor, batch: number): void {
    this.filter(x, y, batch, false);
  }
  protected adjointInto(y: Tensor, x: Tensor, batch: number): void {
    this.filter(y, x, batch, true);
  }

  /** F^H (conj(K) / |K|^2) F y on |K| > cutoff, 0 elsewhere. */
  pinv(y: Tensor): Tensor {
    return this.fourierSolve(y, undefined, 0, 0);
  }

  /**
   * (conj(K) Y / sigma^2 + rho V) / (|K|^2 / sigma^2 + rho) per frequency; sigma = 0 replaces
   * the frequencies with |K| > cutoff by Y / K and keeps V elsewhere.
   */
  proxDataConsistency(v: Tensor, y: Tensor, rho: number, noiseSigma?: number): Tensor {
    const sigma = proxArgs(this, rho, noiseSigma, `${this.name} prox`);
    return this.fourierSolve(y, v, rho, sigma);
  }

  private fourierSolve(y: Tensor, v: Tensor | undefined, rho: number, sigma: number): Tensor {
    const [c, h, w] = this.inShape as [number, number, number];
    const batch = checkBatch(y, this.outShape, `${this.name} solve`);
    if (v && checkBatch(v, this.inShape, `${this.name} prox`) !== batch) fail('BAD_SHAPE', `${this.name} prox: v and y batches differ`);
    const n = h * w, shape = [batch * c, h, w];
    const yr = Float64Array.from(y.data), yi = new Float64Array(yr.length);
    fft2dBatch(yr, yi, shape);
    const vr = v ? Float64Array.from(v.data) : new Float64Array(0), vi = new Float64Array(vr.length);
    if (v) fft2dBatch(vr, vi, shape);
    const kr = this.transferRe, ki = this.transferIm, wgt = sigma > 0 ? 1 / (sigma * sigma) : 0;
    for (let p = 0; p < batch * c; p++) {
      for (let i = 0; i < n; i++) {
        const o = p * n + i, a = kr[i]!, b = ki[i]!, k2 = a * a + b * b;
        // conj(K) Y
        const cr = a * yr[o]! + b * yi[o]!, ci = a * yi[o]! - b * yr[o]!;
        if (v && sigma > 0) {
          const den = k2 * wgt + rho;
          yr[o] = (cr * wgt + rho * vr[o]!) / den;
          yi[o] = (ci * wgt + rho * vi[o]!) / den;
        } else if (Math.sqrt(k2) > this.cutoff) {
          yr[o] = cr / k2;
          yi[o] = ci / k2;
        } else {
          yr[o] = v ? vr[o]! : 0;
          yi[o] = v ? vi[o]! : 0;
        }
      }
    }
    fft2dBatch(yr, yi, shape, true);
    const out = Tensor.zeros([batch, ...this.inShape], y.dtype);
    out.data.set(yr);
    return out;
  }
}

// ---------------------------------------------------------------------------------------
// Spec: blur:gaussian,sigma=2[,size=13] | blur:motion,length=9,angle=30[,size=]

export type BlurConfig = { kind: 'blur'; noise: number; size?: number } & ({ type: 'gaussian'; sigma: number } | { type: 'motion'; length: number; angle: number });

export const blurDef: OperatorDef<BlurConfig> = {
  name: 'blur',
  aliases: ['deblur'],
  keys: ['type', 'sigma', 'size', 'length', 'angle', 'noise'],
  words: ['gaussian', 'motion'],
  image: true,
  doc: 'blur:gaussian,sigma=2[,size=13] | blur:motion,length=9,angle=30[,size=]   circular blur',
  parse: parseBlur,
  build: buildBlur,
};

function parseBlur(items: SpecItems): BlurConfig {
  const { bad } = items, noise = items.noise;
  const types: string[] = items.words.filter((x) => x === 'gaussian' || x === 'motion');
  if (items.has('type')) types.push(items.get('type')!.toLowerCase());
  if (types.length !== 1 || !['gaussian', 'motion'].includes(types[0]!)) bad('say which blur: blur:gaussian,sigma=2 or blur:motion,length=9,angle=30');
  const size = items.has('size') ? items.int('size') : undefined;
  if (size !== undefined && (size < 1 || size % 2 === 0)) bad(`size=${size}: the kernel size must be an odd positive integer`);
  if (types[0] === 'gaussian') {
    for (const k of ['length', 'angle']) if (items.has(k)) bad(`${k}= belongs to blur:motion; a Gaussian blur takes sigma= (and size=)`);
    const sigma = items.num('sigma', 3);
    if (!(sigma > 0)) bad(`sigma=${sigma}: the blur width must be > 0 pixels`);
    return { kind: 'blur', noise, type: 'gaussian', sigma, size };
  }
  if (items.has('sigma')) bad('sigma= belongs to blur:gaussian; a motion blur takes length= and angle=');
  const length = items.num('length', 9), angle = items.num('angle', 0);
  if (!(length >= 1)) bad(`length=${length}: the motion length must be >= 1 pixel`);
  return { kind: 'blur', noise, type: 'motion', length, angle, size };
}

function buildBlur(config: BlurConfig, inShape: readonly number[], bad: Bad): BlurOperator {
  const [, h, w] = imageShape('blur', inShape, bad);
  if (config.type === 'gaussian') {
    const k = gaussianKernel(config.sigma, config.size);
    if (k.size > Math.min(h, w)) bad(`a Gaussian of sigma=${config.sigma} needs a ${k.size}x${k.size} kernel, larger than the ${h}x${w} image; lower sigma or pass a smaller size=`);
    return new BlurOperator(inShape, k, config.noise, `gaussian sigma ${config.sigma}`);
  }
  const k = motionKernel(config.length, config.angle, config.size);
  if (k.size > Math.min(h, w)) bad(`a motion blur of length=${config.length} needs a ${k.size}x${k.size} kernel, larger than the ${h}x${w} image; use a shorter length`);
  return new BlurOperator(inShape, k, config.noise, `motion length ${config.length} angle ${config.angle}`);
}
