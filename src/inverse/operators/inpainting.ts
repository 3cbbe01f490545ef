import { Tensor } from '../../core/tensor.js';
import { fail } from '../../core/errors.js';
import { NoiseSource, Stream } from '../../core/rng.js';
import { pngToTensor, type PngImage } from '../../io/png.js';
import { LinearOperator, proxArgs, type OperatorSVD } from './operator.js';
import { fromSpectral, proxFromSVD, toSpectral } from './svd.js';

/**
 * Inpainting: A = diag(m) with a binary pixel mask m [H, W] shared by all channels
 * (1 = observed, 0 = missing). y has the image's shape, zero where missing (as deepinv).
 * SVD: V = U = I, s = m. Norm 1.
 */
export class InpaintingOperator extends LinearOperator {
  readonly kind = 'inpaint' as const;
  readonly name: string;
  /** The pixel mask [H * W], row-major, entries 0 or 1. */
  readonly mask: Float64Array;
  readonly svd: OperatorSVD;

  constructor(shape: readonly [number, number, number], mask: ArrayLike<number>, noiseSigma = 0, label = 'mask') {
    super(shape, shape, noiseSigma);
    const [c, h, w] = shape;
    if (mask.length !== h * w) {
      fail('BAD_SHAPE', `inpainting mask has ${mask.length} pixels but the image is ${h}x${w}; make the mask the image's size`);
    }
    this.mask = Float64Array.from(mask, (v) => (v > 0 ? 1 : 0));
    const kept = this.mask.reduce((a, b) => a + b, 0);
    if (kept === 0) fail('BAD_CONFIG', `inpainting ${label}: the mask keeps no pixels; observe at least one pixel (a smaller box, a larger random fraction)`);
    this.name = `inpaint(${label}, ${((100 * kept) / (h * w)).toFixed(1)}% observed, ${c}x${h}x${w})`;
    const size = this.inSize, plane = h * w;
    const s = new Float64Array(size);
    for (let ch = 0; ch < c; ch++) s.set(this.mask, ch * plane);
    const what = `${this.name} svd`;
    this.svd = {
      size,
      spectralShape: [...shape],
      singularValues: s,
      applyVt: (x) => toSpectral(x, shape, what),
      applyV: (z) => fromSpectral(z, shape, what),
      applyU: (z) => this.forward(fromSpectral(z, shape, what)),
      applyUt: (y) => toSpectral(this.adjoint(y), shape, what),
    };
  }

  protected forwardInto(x: Tensor, y: Tensor): void {
    const m = this.mask, plane = m.length, xd = x.data, yd = y.data;
    for (let i = 0; i < xd.length; i++) yd[i] = m[i % plane]! * xd[i]!;
  }
  protected adjointInto(y: Tensor, x: Tensor): void {
    this.forwardInto(y, x);
  }

  protected override measuredEntries(): Float64Array {
    return this.svd.singularValues; // the mask repeated over the channels
  }

  /** A^+ = A (a projection). */
  pinv(y: Tensor): Tensor {
    return this.adjoint(y);
  }

  /** (m y / sigma^2 + rho v) / (m / sigma^2 + rho), pixelwise. */
  proxDataConsistency(v: Tensor, y: Tensor, rho: number, noiseSigma?: number): Tensor {
    return proxFromSVD(this.svd, v, y, rho, proxArgs(this, rho, noiseSigma, `${this.name} prox`));
  }
}

// ---------------------------------------------------------------------------------------
// Masks: Float64Array [H * W], 1 = observed.

/**
 * Exactly round(keep * H * W) observed pixels chosen uniformly at random (seeded Philox
 * uniforms, ranked). `keep` is the observed fraction, as deepinv's Inpainting(mask=0.7).
 */
export function randomPixelMask(h: number, w: number, keep: number, seed = 0): Float64Array {
  if (!(keep >= 0 && keep <= 1)) fail('BAD_CONFIG', `inpainting random=${keep}: the observed fraction must lie in [0, 1], e.g. random=0.3 keeps 30% of the pixels`);
  const n = h * w, count = Math.round(keep * n);
  const u = new NoiseSource(seed).uniform(n, 0, 0, Stream.aux);
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => u[a]! - u[b]! || a - b);
  const mask = new Float64Array(n);
  for (let k = 0; k < count; k++) mask[order[k]!] = 1;
  return mask;
}

/**
 * A missing box of bw x bh pixels (observed elsewhere), centered unless the top-left corner
 * (x0, y0) is given.
 */
export function boxMask(h: number, w: number, bw: number, bh = bw, x0?: number, y0?: number): Float64Array {
  for (const [k, v] of [['box width', bw], ['box height', bh]] as const) {
    if (!Number.isInteger(v) || v < 1) fail('BAD_CONFIG', `inpainting ${k} ${v} must be a positive integer number of pixels`);
  }
  const x = x0 ?? Math.floor((w - bw) / 2), y = y0 ?? Math.floor((h - bh) / 2);
  if (!Number.isInteger(x) || !Number.isInteger(y) || x < 0 || y < 0 || x + bw > w || y + bh > h) {
    fail('BAD_CONFIG', `inpainting box ${bw}x${bh} at x=${x}, y=${y} does not fit in the ${w}x${h} image; use a smaller box or move it inside`);
  }
  const mask = new Float64Array(h * w).fill(1);
  for (let i = y; i < y + bh; i++) for (let j = x; j < x + bw; j++) mask[i * w + j] = 0;
  return mask;
}

export type HalfSide = 'left' | 'right' | 'top' | 'bottom';

/** The given half missing (default: the right half, columns j >= floor(W/2)). */
export function halfMask(h: number, w: number, side: HalfSide = 'right'): Float64Array {
  const mask = new Float64Array(h * w);
  const hh = Math.floor(h / 2), hw = Math.floor(w / 2);
  for (let i = 0; i < h; i++) {
    for (let j = 0; j < w; j++) {
      const missing = side === 'right' ? j >= hw : side === 'left' ? j < hw : side === 'bottom' ? i >= hh : i < hh;
      mask[i * w + j] = missing ? 0 : 1;
    }
  }
  return mask;
}

/**
 * A mask from an image: white (first channel >= 0.5 of full scale) = observed, black = missing.
 * The image must have the operator's H x W.
 */
export function maskFromImage(img: PngImage, h: number, w: number, name = 'mask image'): Float64Array {
  if (img.width !== w || img.height !== h) {
    fail('BAD_SHAPE', `${name} is ${img.width}x${img.height} but the image is ${w}x${h}; resize the mask to the image size`);
  }
  const t: Tensor = pngToTensor(img);
  const mask = new Float64Array(h * w);
  for (let i = 0; i < h * w; i++) mask[i] = t.data[i]! >= 0.5 ? 1 : 0;
  return mask;
}
