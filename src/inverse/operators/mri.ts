import { Tensor } from '../../core/tensor.js';
import { fail } from '../../core/errors.js';
import { fft2c, ifft2c } from '../../core/fft.js';
import { LinearOperator, checkBatch, proxArgs, type OperatorSVD } from './operator.js';
import { hartley2, symmetrizeCentered } from './fourier.js';
import { checkSpectral, svdFromV } from './svd.js';

/** Checks a k-space mask [H * W] (binary, at least one sample) and returns it as 0/1 floats. */
export function checkKspaceMask(mask: ArrayLike<number>, h: number, w: number, label: string): Float64Array {
  if (mask.length !== h * w) fail('BAD_SHAPE', `mri mask (${label}) has ${mask.length} entries but k-space is ${h}x${w}; give an [H, W] mask (or [W] columns) of the image size`);
  const m = Float64Array.from(mask, (v) => (v > 0 ? 1 : 0));
  if (!m.some((v) => v > 0)) fail('BAD_CONFIG', `mri mask (${label}) has no samples; sample at least one k-space point (check the mask file or lower accel)`);
  return m;
}

export interface MRIOptions {
  /** Sampling mask [H * W] in the centered k-space layout of fft2c (1 = sampled). */
  mask: ArrayLike<number>;
  /** Complex images [2, H, W] (re, im planes) instead of real images [C, H, W]. */
  complex?: boolean;
  noiseSigma?: number;
  /** Words for the name, e.g. "equispaced 4x". */
  label?: string;
}

/**
 * Single-coil Cartesian MRI: y = M fft2c(x) on the full k-space grid (zeros where not
 * sampled), y of shape [P, H, W, 2] with (re, im) last: P = C for real images [C, H, W]
 * (each channel its own scan), P = 1 for complex images [2, H, W].
 *
 * Complex images: A = M F with F unitary, so ||A|| = 1, A^+ = A^H, and the SVD is V^T = F
 * (as a real orthogonal map onto [H, W, 2]), s = M, U = I (spectral layout [H, W, 2]).
 * Real images: A^T y = Re(F^H M y) and A^T A = F^H D F with D = (M + M reflected)/2
 * (k and -k carry the same information for a real image), so s = sqrt(D) in {0, 1/sqrt 2, 1}
 * with V the centered Hartley transform (spectral layout [C, H, W]); ||A|| = 1 because the
 * DC line is sampled. Prox and pseudo-inverse are closed forms in k-space, x = F^H[F b / (D/sigma^2 + rho)].
 */
export class MRIOperator extends LinearOperator {
  readonly kind = 'mri' as const;
  readonly name: string;
  readonly mask: Float64Array;
  readonly complexInput: boolean;
  /** k-space weights of A^T A: M (complex images) or (M + M reflected)/2 (real images). */
  readonly gram: Float64Array;
  readonly svd: OperatorSVD;
  private readonly planes: number;
  private readonly h: number;
  private readonly w: number;

  constructor(shape: readonly number[], options: MRIOptions) {
    if (shape.length !== 3) fail('BAD_SHAPE', `mri expects an image shape [C, H, W] (or [2, H, W] complex), got [${shape.join(', ')}]`);
    const [c, h, w] = shape as [number, number, number];
    const complex = options.complex ?? false;
    if (complex && c !== 2) fail('BAD_SHAPE', `complex mri images have 2 planes (re, im), got [${shape.join(', ')}]; drop "complex" for real images`);
    const planes = complex ? 1 : c;
    super(shape, [planes, h, w, 2], options.noiseSigma ?? 0, true);
    const label = options.label ?? 'mask';
    this.mask = checkKspaceMask(options.mask, h, w, label);
    this.complexInput = complex;
    this.planes = planes;
    this.h = h;
    this.w = w;
    this.gram = complex ? this.mask.slice() : symmetrizeCentered(this.mask, h, w);
    this.name = `mri(${label}, ${(h * w / this.mask.reduce((a, b) => a + b, 0)).toFixed(2)}x sampled, ${complex ? 'complex ' : ''}${c}x${h}x${w})`;
    this.svd = complex ? this.complexSvd() : this.realSvd();
  }

  /** Image planes of x (batch item order) as complex planes re/im of [B * P, H, W]. */
  private toComplex(x: Tensor, batch: number): [Float64Array, Float64Array] {
    const n = this.h * this.w, count = batch * this.planes * n;
    const re = new Float64Array(count), im = new Float64Array(count), d = x.data;
    if (this.complexInput) {
      for (let b = 0; b < batch; b++) {
        for (let i = 0; i < n; i++) {
          re[b * n + i] = d[b * 2 * n + i]!;
          im[b * n + i] = d[b * 2 * n + n + i]!;
        }
      }
    } else {
      for (let i = 0; i < count; i++) re[i] = d[i]!;
    }
    return [re, im];
  }

  /** Complex planes back to images: (re, im) planes for complex input, the real part otherwise. */
  private fromComplex(re: Float64Array, im: Float64Array, x: Tensor, batch: number): void {
    const n = this.h * this.w, d = x.data;
    if (this.complexInput) {
      for (let b = 0; b < batch; b++) {
        for (let i = 0; i < n; i++) {
          d[b * 2 * n + i] = re[b * n + i]!;
          d[b * 2 * n + n + i] = im[b * n + i]!;
        }
      }
    } else {
      for (let i = 0; i < re.length; i++) d[i] = re[i]!;
    }
  }

  protected forwardInto(x: Tensor, y: Tensor, batch: number): void {
    const n = this.h * this.w, m = this.mask;
    const [re, im] = this.toComplex(x, batch);
    fft2c(re, im, [batch * this.planes, this.h, this.w]);
    const yd = y.data;
    for (let k = 0; k < re.length; k++) {
      const mk = m[k % n]!;
      yd[2 * k] = mk * re[k]!;
      yd[2 * k + 1] = mk * im[k]!;
    }
  }

  protected adjointInto(y: Tensor, x: Tensor, batch: number): void {
    const n = this.h * this.w, m = this.mask, count = batch * this.planes * n, yd = y.data;
    const re = new Float64Array(count), im = new Float64Array(count);
    for (let k = 0; k < count; k++) {
      const mk = m[k % n]!;
      re[k] = mk * yd[2 * k]!;
      im[k] = mk * yd[2 * k + 1]!;
    }
    ifft2c(re, im, [batch * this.planes, this.h, this.w]);
    this.fromComplex(re, im, x, batch);
  }

  /** Sampled k-space entries of one item: the mask over planes (or coils) and (re, im). */
  override measuredEntries(): Float64Array {
    const n = this.mask.length, out = new Float64Array(this.outSize);
    for (let k = 0; k < this.outSize / 2; k++) out[2 * k] = out[2 * k + 1] = this.mask[k % n]!;
    return out;
  }

  /** The zero-filled reconstruction A^H y (its real part for real images). */
  zeroFilled(y: Tensor): Tensor {
    return this.adjoint(y);
  }

  /** A^+ y = F^H[F(A^T y) / D] on D > 0. */
  pinv(y: Tensor): Tensor {
    return this.kspaceSolve(y, undefined, 0, 0);
  }

  proxDataConsistency(v: Tensor, y: Tensor, rho: number, noiseSigma?: number): Tensor {
    const sigma = proxArgs(this, rho, noiseSigma, `${this.name} prox`);
    return this.kspaceSolve(y, v, rho, sigma);
  }

  /**
   * x = F^H X with X = (B / sigma^2 + rho V) / (D / sigma^2 + rho), B = F A^T y, V = F v;
   * sigma = 0 (or no v): X = B / D where D > 0, else V (or 0).
   */
  private kspaceSolve(y: Tensor, v: Tensor | undefined, rho: number, sigma: number): Tensor {
    const batch = checkBatch(y, this.outShape, `${this.name} solve`);
    if (v && checkBatch(v, this.inShape, `${this.name} prox`) !== batch) fail('BAD_SHAPE', `${this.name} prox: v and y batches differ`);
    const n = this.h * this.w, shape = [batch * this.planes, this.h, this.w], d = this.gram;
    const [br, bi]: Float64Array[] = this.toComplex(this.adjoint(y), batch);
    fft2c(br, bi, shape);
    let vr: Float64Array = new Float64Array(0), vi: Float64Array = vr;
    if (v) {
      [vr, vi] = this.toComplex(v, batch);
      fft2c(vr, vi, shape);
    }
    const wgt = sigma > 0 ? 1 / (sigma * sigma) : 0;
    for (let k = 0; k < br.length; k++) {
      const dk = d[k % n]!;
      if (v && sigma > 0) {
        const den = dk * wgt + rho;
        br[k] = (br[k]! * wgt + rho * vr[k]!) / den;
        bi[k] = (bi[k]! * wgt + rho * vi[k]!) / den;
      } else if (dk > 0) {
        br[k] = br[k]! / dk;
        bi[k] = bi[k]! / dk;
      } else {
        br[k] = v ? vr[k]! : 0;
        bi[k] = v ? vi[k]! : 0;
      }
    }
    ifft2c(br, bi, shape);
    const out = Tensor.zeros([batch, ...this.inShape], y.dtype);
    this.fromComplex(br, bi, out, batch);
    return out;
  }

  private complexSvd(): OperatorSVD {
    const n = this.h * this.w, size = 2 * n, what = `${this.name} svd`;
    const s = new Float64Array(size);
    for (let i = 0; i < n; i++) s[2 * i] = s[2 * i + 1] = this.mask[i]!;
    const outShape = this.outShape;
    const project = (src: Tensor, batch: number, shapeOut: readonly number[]): Tensor => {
      const out = Tensor.zeros(shapeOut, src.dtype);
      for (let k = 0; k < batch * size; k++) out.data[k] = s[k % size]! > 0 ? src.data[k]! : 0;
      return out;
    };
    return {
      size,
      spectralShape: [this.h, this.w, 2],
      singularValues: s,
      // V^T x = F x, interleaved (re, im): the forward transform without the mask.
      applyVt: (x) => {
        const batch = checkBatch(x, this.inShape, what);
        const [re, im] = this.toComplex(x, batch);
        fft2c(re, im, [batch, this.h, this.w]);
        const z = Tensor.zeros([batch, size], x.dtype);
        for (let k = 0; k < re.length; k++) {
          z.data[2 * k] = re[k]!;
          z.data[2 * k + 1] = im[k]!;
        }
        return z;
      },
      applyV: (z) => {
        const batch = checkSpectral(z, size, what);
        const re = new Float64Array(batch * n), im = new Float64Array(batch * n);
        for (let k = 0; k < re.length; k++) {
          re[k] = z.data[2 * k]!;
          im[k] = z.data[2 * k + 1]!;
        }
        ifft2c(re, im, [batch, this.h, this.w]);
        const x = Tensor.zeros([batch, ...this.inShape], z.dtype);
        this.fromComplex(re, im, x, batch);
        return x;
      },
      applyU: (z) => project(z, checkSpectral(z, size, what), [z.batch, ...outShape]),
      applyUt: (y) => project(y, checkBatch(y, outShape, what), [y.batch, size]),
    };
  }

  private realSvd(): OperatorSVD {
    const c = this.planes, h = this.h, w = this.w, size = this.inSize, what = `${this.name} svd`;
    const s = new Float64Array(size);
    for (let p = 0; p < c; p++) for (let i = 0; i < h * w; i++) s[p * h * w + i] = Math.sqrt(this.gram[i]!);
    const hartley = (t: Tensor, batch: number, shapeOut: readonly number[]): Tensor => {
      const d = Float64Array.from(t.data);
      hartley2(d, [batch * c, h, w], true);
      return new Tensor(shapeOut, t.dtype === 'float64' ? d : Float32Array.from(d));
    };
    return svdFromV(
      this,
      [c, h, w],
      s,
      (z) => hartley(z, checkSpectral(z, size, what), [z.batch, c, h, w]),
      (x) => hartley(x, checkBatch(x, this.inShape, what), [x.batch, size]),
    );
  }
}
