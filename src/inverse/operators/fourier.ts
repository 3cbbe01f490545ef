import { fft2c, fft2dBatch } from '../../core/fft.js';

/**
 * Real orthonormal transforms that diagonalise the operators built on the 2-D DFT.
 *
 * The Hartley transform Hx = Re(F x) - Im(F x) of a real image (F unitary: `fft2c`, or the
 * plain DFT divided by sqrt(HW)) is real, symmetric, orthogonal and its own inverse. If a real
 * operator has A^T A = F^H diag(d) F (circular blur: d = |K|^2; a k-space mask seen from real
 * images: d = (M + M reflected) / 2), the Hartley basis vectors Re(phi_k) + Im(phi_k) are its
 * eigenvectors with eigenvalues d_k. That gives real SVDs with V = H and s = sqrt(d), in the
 * same index layout as the k-space (centered for `fft2c`, natural order for the plain DFT).
 */

/** In-place Hartley transform over the last two axes of real planes [..., H, W]. */
export function hartley2(x: Float64Array, shape: readonly number[], centered: boolean): void {
  const im = new Float64Array(x.length);
  if (centered) {
    fft2c(x, im, shape);
    for (let i = 0; i < x.length; i++) x[i] = x[i]! - im[i]!;
    return;
  }
  fft2dBatch(x, im, shape);
  const h = shape[shape.length - 2]!, w = shape[shape.length - 1]!;
  const s = 1 / Math.sqrt(h * w);
  for (let i = 0; i < x.length; i++) x[i] = (x[i]! - im[i]!) * s;
}

/**
 * Index of the frequency -k in a centered (fftshift) layout of length n: frequency
 * f = i - floor(n/2) maps to -f, wrapping the Nyquist bin of even n onto itself.
 */
export function reflectCentered(i: number, n: number): number {
  const r = 2 * Math.floor(n / 2) - i;
  return r >= n ? r - n : r < 0 ? r + n : r;
}

/** The symmetric part (m + m reflected) / 2 of a centered k-space weight map [H, W]. */
export function symmetrizeCentered(mask: ArrayLike<number>, h: number, w: number): Float64Array {
  const out = new Float64Array(h * w);
  for (let i = 0; i < h; i++) {
    const ri = reflectCentered(i, h);
    for (let j = 0; j < w; j++) out[i * w + j] = 0.5 * (mask[i * w + j]! + mask[ri * w + reflectCentered(j, w)]!);
  }
  return out;
}
