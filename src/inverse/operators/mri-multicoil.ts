import { Tensor } from '../../core/tensor.js';
import { fail } from '../../core/errors.js';
import { fft2c, ifft2c } from '../../core/fft.js';
import { LinearOperator } from './operator.js';
import { checkKspaceMask } from './mri.js';

/** Coil sensitivity maps: complex [coils, H, W] as split planes. */
export interface CoilMaps {
  readonly coils: number;
  readonly h: number;
  readonly w: number;
  readonly re: Float64Array;
  readonly im: Float64Array;
}

/**
 * Smooth synthetic sensitivities for tests and demos: coil c is a Gaussian bump centred at
 * angle 2 pi c / coils on a circle of 0.7 x the half-size around the image centre (width
 * 0.45 x the size) with a smooth linear phase, normalised so that sum_c |S_c|^2 = 1 at every pixel.
 */
export function syntheticCoilMaps(coils: number, h: number, w: number): CoilMaps {
  if (!Number.isInteger(coils) || coils < 1) fail('BAD_CONFIG', `mri coils=${coils}: the number of coils must be a positive integer, e.g. coils=8`);
  const n = h * w, re = new Float64Array(coils * n), im = new Float64Array(coils * n);
  const ci = (h - 1) / 2, cj = (w - 1) / 2, size = Math.min(h, w), ring = 0.35 * size, width = 0.45 * size;
  for (let c = 0; c < coils; c++) {
    const a = (2 * Math.PI * c) / coils, pi = ci + ring * Math.sin(a), pj = cj + ring * Math.cos(a);
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        const mag = Math.exp(-((i - pi) ** 2 + (j - pj) ** 2) / (2 * width * width));
        const phase = a + (Math.PI / 2) * (((j - cj) * Math.cos(a) + (i - ci) * Math.sin(a)) / Math.max(h, w));
        re[c * n + i * w + j] = mag * Math.cos(phase);
        im[c * n + i * w + j] = mag * Math.sin(phase);
      }
    }
  }
  normaliseCoilMaps(re, im, coils, n);
  return { coils, h, w, re, im };
}

function normaliseCoilMaps(re: Float64Array, im: Float64Array, coils: number, n: number): void {
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let c = 0; c < coils; c++) s += re[c * n + i]! ** 2 + im[c * n + i]! ** 2;
    const k = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let c = 0; c < coils; c++) {
      re[c * n + i] = re[c * n + i]! * k;
      im[c * n + i] = im[c * n + i]! * k;
    }
  }
}

/** Maps from a tensor [coils, H, W, 2] (e.g. an NPY file), used as given (not renormalised). */
export function coilMapsFromTensor(t: Tensor, name = 'coil maps'): CoilMaps {
  const s = t.shape;
  if (s.length !== 4 || s[3] !== 2) fail('BAD_SHAPE', `${name} have shape [${s.join(', ')}]; expected [coils, H, W, 2] with (re, im) last`);
  const [coils, h, w] = s as [number, number, number, number];
  const n = h * w, re = new Float64Array(coils * n), im = new Float64Array(coils * n);
  for (let k = 0; k < coils * n; k++) {
    re[k] = t.data[2 * k]!;
    im[k] = t.data[2 * k + 1]!;
  }
  for (let k = 0; k < re.length; k++) {
    if (!Number.isFinite(re[k]!) || !Number.isFinite(im[k]!)) fail('BAD_INPUT', `${name} contain NaN or Infinity; fix the maps file`);
  }
  return { coils, h, w, re, im };
}

export interface MultiCoilOptions {
  mask: ArrayLike<number>;
  maps: CoilMaps;
  complex?: boolean;
  noiseSigma?: number;
  label?: string;
}

/**
 * Multi-coil Cartesian MRI (SENSE model): y_c = M fft2c(S_c x), y of shape
 * [coils, H, W, 2]; the adjoint is sum_c conj(S_c) ifft2c(M y_c) (its real part for real
 * images [1, H, W]; complex images are [2, H, W]). With sum_c |S_c|^2 = 1, ||A|| <= 1
 * (= 1 when fully sampled). No closed-form prox or pseudo-inverse: use conjugate gradient.
 */
export class MultiCoilMRIOperator extends LinearOperator {
  readonly kind = 'mri-multicoil' as const;
  readonly name: string;
  readonly mask: Float64Array;
  readonly maps: CoilMaps;
  readonly complexInput: boolean;

  constructor(shape: readonly number[], options: MultiCoilOptions) {
    if (shape.length !== 3) fail('BAD_SHAPE', `multi-coil mri expects an image shape [1, H, W] (or [2, H, W] complex), got [${shape.join(', ')}]`);
    const [c, h, w] = shape as [number, number, number];
    const complex = options.complex ?? false;
    if (c !== (complex ? 2 : 1)) {
      fail('BAD_SHAPE', `multi-coil mri takes one real image [1, H, W] or a complex one [2, H, W] with "complex", got [${shape.join(', ')}]`);
    }
    const maps = options.maps;
    if (maps.h !== h || maps.w !== w) fail('BAD_SHAPE', `coil maps are ${maps.h}x${maps.w} but the image is ${h}x${w}; give maps of the image size`);
    super(shape, [maps.coils, h, w, 2], options.noiseSigma ?? 0, true);
    const label = options.label ?? 'mask';
    this.mask = checkKspaceMask(options.mask, h, w, label);
    this.maps = maps;
    this.complexInput = complex;
    this.name = `mri(${maps.coils} coils, ${label}, ${(h * w / this.mask.reduce((a, b) => a + b, 0)).toFixed(2)}x sampled, ${c}x${h}x${w})`;
  }

  protected forwardInto(x: Tensor, y: Tensor, batch: number): void {
    const { coils, h, w, re: sr, im: si } = this.maps, n = h * w, m = this.mask;
    const re = new Float64Array(coils * n), im = new Float64Array(coils * n), xd = x.data, yd = y.data;
    const inItem = this.inSize, outItem = this.outSize;
    for (let b = 0; b < batch; b++) {
      const xo = b * inItem;
      for (let c = 0; c < coils; c++) {
        for (let i = 0; i < n; i++) {
          const xr = xd[xo + i]!, xi = this.complexInput ? xd[xo + n + i]! : 0;
          const ar = sr[c * n + i]!, ai = si[c * n + i]!;
          re[c * n + i] = ar * xr - ai * xi;
          im[c * n + i] = ar * xi + ai * xr;
        }
      }
      fft2c(re, im, [coils, h, w]);
      const yo = b * outItem;
      for (let k = 0; k < coils * n; k++) {
        const mk = m[k % n]!;
        yd[yo + 2 * k] = mk * re[k]!;
        yd[yo + 2 * k + 1] = mk * im[k]!;
      }
    }
  }

  protected adjointInto(y: Tensor, x: Tensor, batch: number): void {
    const { coils, h, w, re: sr, im: si } = this.maps, n = h * w, m = this.mask;
    const re = new Float64Array(coils * n), im = new Float64Array(coils * n), xd = x.data, yd = y.data;
    const inItem = this.inSize, outItem = this.outSize;
    for (let b = 0; b < batch; b++) {
      const yo = b * outItem;
      for (let k = 0; k < coils * n; k++) {
        const mk = m[k % n]!;
        re[k] = mk * yd[yo + 2 * k]!;
        im[k] = mk * yd[yo + 2 * k + 1]!;
      }
      ifft2c(re, im, [coils, h, w]);
      const xo = b * inItem;
      for (let i = 0; i < n; i++) {
        let accR = 0, accI = 0;
        for (let c = 0; c < coils; c++) {
          const ar = sr[c * n + i]!, ai = si[c * n + i]!, zr = re[c * n + i]!, zi = im[c * n + i]!;
          accR += ar * zr + ai * zi; // conj(S) z
          accI += ar * zi - ai * zr;
        }
        xd[xo + i] = accR;
        if (this.complexInput) xd[xo + n + i] = accI;
      }
    }
  }

  /** Sampled k-space entries of one item: the mask over coils and (re, im). */
  override measuredEntries(): Float64Array {
    const n = this.mask.length, out = new Float64Array(this.outSize);
    for (let k = 0; k < this.outSize / 2; k++) out[2 * k] = out[2 * k + 1] = this.mask[k % n]!;
    return out;
  }

  /** The SENSE-combined zero-filled image sum_c conj(S_c) F^H M y_c (= A^H y). */
  zeroFilled(y: Tensor): Tensor {
    return this.adjoint(y);
  }
}
