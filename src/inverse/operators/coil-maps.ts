import { fail } from '../../core/errors.js';
import { ifft2c } from '../../core/fft.js';
import { householderEigen } from '../../core/linalg.js';
import type { CoilMaps } from './mri-multicoil.js';

/**
 * Coil sensitivities from the autocalibration (ACS) lines: the fully sampled block of k-space
 * columns around the centre that every Cartesian fastMRI mask keeps. Two methods: ESPIRiT
 * (espiritCoilMaps, below) and the simpler one here, which ESPIRiT starts from.
 *
 * Method "acs" (the low-resolution coil images divided by their root-sum-of-squares, as in
 * SENSE's reference-scan normalisation, Pruessmann et al. 1999, and the sum-of-squares
 * normalisation of McKenzie et al. 2002): keep only the ACS columns of every coil (no taper: on
 * the ch2 fixture a Hann taper over 4-8 lines lost 9-15 dB of combined-image PSNR to the lost
 * resolution), transform to the image, and divide each coil image by the RSS over coils. The maps then satisfy sum_c |S_c|^2 = 1 wherever the RSS is above
 * 1e-6 of its maximum (0 elsewhere) and equal the true maps times the phase of the low-resolution
 * image where the true maps are smooth on the scale of W / (ACS lines).
 */

/**
 * The fewest ACS lines the maps are estimated from. On the 8-coil ch2 fixture (64 columns) the fully
 * sampled image combined with the estimated maps has PSNR 28.9 dB against the RSS from 2 lines,
 * 42.1 from 3, 46.8 from 4 and 57.7 from 8: below 3 the low-resolution image cannot follow the coils.
 */
export const MIN_ACS_LINES = 3;

/** [start, end) of the sampled run of columns that holds the centre column floor(W / 2) (empty when the centre is not sampled). */
export function acsBlock(columns: ArrayLike<number>): [number, number] {
  const w = columns.length, c = Math.floor(w / 2);
  if (!(columns[c]! > 0)) return [c, c];
  let a = c, b = c + 1;
  while (a > 0 && columns[a - 1]! > 0) a--;
  while (b < w && columns[b]! > 0) b++;
  return [a, b];
}

/**
 * Maps [coils, h, w] from k-space planes re/im [coils, h, w] (centred, fft2c) and the sampled
 * columns [w]. `fix` names the option that raises the ACS lines, for the error message.
 */
export function acsCoilMaps(re: Float64Array, im: Float64Array, coils: number, h: number, w: number, columns: ArrayLike<number>, fix: string): CoilMaps {
  const [a, b] = acsBlock(columns), lines = b - a;
  if (lines < MIN_ACS_LINES) {
    fail('BAD_CONFIG', `coil maps need at least ${MIN_ACS_LINES} fully sampled centre (ACS) lines, but the mask has ${lines} of ${w}; raise them with ${fix}, or give the maps (--coil-maps FILE.npy)`);
  }
  const n = h * w, mr = new Float64Array(coils * n), mi = new Float64Array(coils * n);
  for (let j = a; j < b; j++) {
    for (let c = 0; c < coils; c++) {
      for (let i = 0; i < h; i++) {
        const k = c * n + i * w + j;
        mr[k] = re[k]!;
        mi[k] = im[k]!;
      }
    }
  }
  ifft2c(mr, mi, [coils, h, w]);
  const rss = new Float64Array(n);
  let peak = 0;
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let c = 0; c < coils; c++) s += mr[c * n + i]! ** 2 + mi[c * n + i]! ** 2;
    rss[i] = Math.sqrt(s);
    peak = Math.max(peak, rss[i]!);
  }
  for (let i = 0; i < n; i++) {
    const k = rss[i]! > 1e-6 * peak ? 1 / rss[i]! : 0;
    for (let c = 0; c < coils; c++) {
      mr[c * n + i] = mr[c * n + i]! * k;
      mi[c * n + i] = mi[c * n + i]! * k;
    }
  }
  return { coils, h, w, re: mr, im: mi };
}

export interface EspiritOptions {
  /**
   * Kernel size [rows, columns] (default [6, clamp(floor((ACS lines - 1) / 2), 1, 6)]: 2 columns from 5 ACS lines, 1
   * from 3; on the ch2 fixture at 4x a 6x2 kernel gave maps 2.3x closer to the true ones than the "acs" maps, while
   * 6x3 to 6x5 kernels, with fewer calibration patches than unknowns per patch, did worse than "acs").
   */
  kernel?: readonly [number, number];
  /** Keep calibration singular values above this fraction of the largest (default 0.02, BART's ecalib). */
  threshold?: number;
  /** Power iterations per pixel (default 30, started from the "acs" maps). */
  iterations?: number;
}

/**
 * ESPIRiT (Uecker et al., MRM 71:990, 2014): the calibration matrix of all kernel-sized patches of the ACS block
 * [C * kh * kw columns], its signal subspace V_s (singular values above `threshold` of the largest; the complex
 * Gram matrix is diagonalised through its real symmetric embedding), and the image-space operator G(r) of the
 * k-space projection W = (1/(kh kw)) sum_patches R^T V_s V_s^H R (eq. 9): W is a convolution, so G(r) is the
 * C x C matrix sum_delta h[delta] exp(-2 pi i delta . (r - r0) / N) at every pixel. The maps are G(r)'s top
 * eigenvector (eigenvalue 1 where the data are consistent; one set of maps, no eigenvalue crop), by power
 * iteration from the "acs" maps, whose phase they are then given (so a real image stays real).
 */
export function espiritCoilMaps(re: Float64Array, im: Float64Array, coils: number, h: number, w: number, columns: ArrayLike<number>, fix: string, o: EspiritOptions = {}): CoilMaps {
  const start = acsCoilMaps(re, im, coils, h, w, columns, fix);
  const [a, b] = acsBlock(columns), lines = b - a;
  const [kh, kw] = o.kernel ?? [Math.min(6, h), Math.max(1, Math.min(6, Math.floor((lines - 1) / 2)))];
  const n = coils * kh * kw, N = h * w;
  // Gram matrix of the calibration patches, as the real symmetric embedding [[Re, -Im], [Im, Re]] (2n x 2n).
  const M2 = new Float64Array(4 * n * n), pr = new Float64Array(n), pi = new Float64Array(n);
  for (let y0 = 0; y0 + kh <= h; y0++) {
    for (let x0 = a; x0 + kw <= b; x0++) {
      for (let c = 0, p = 0; c < coils; c++) for (let dy = 0; dy < kh; dy++) for (let dx = 0; dx < kw; dx++, p++) {
        const k = c * N + (y0 + dy) * w + x0 + dx;
        pr[p] = re[k]!;
        pi[p] = im[k]!;
      }
      // sum p_i conj(p_j) (the patches as columns span the eigenvectors of this, not of A^H A = its conjugate):
      // real part pr_i pr_j + pi_i pi_j, imaginary pi_i pr_j - pr_i pi_j.
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          const gr = pr[i]! * pr[j]! + pi[i]! * pi[j]!, gi = pi[i]! * pr[j]! - pr[i]! * pi[j]!;
          M2[i * 2 * n + j] += gr;
          M2[(n + i) * 2 * n + n + j] += gr;
          M2[(n + i) * 2 * n + j] += gi;
          M2[i * 2 * n + n + j] -= gi;
        }
      }
    }
  }
  const { values, vectors } = householderEigen(M2, 2 * n);
  const top = values[0]!, t = (o.threshold ?? 0.02) ** 2 * top;
  // Projector onto the signal subspace: P = Re + i Im from the real projector's blocks.
  const Pr = new Float64Array(n * n), Pi = new Float64Array(n * n), V = vectors!;
  for (let e = 0; e < 2 * n && values[e]! > t; e++) {
    for (let i = 0; i < n; i++) {
      const ui = V[i * 2 * n + e]!, vi = V[(n + i) * 2 * n + e]!;
      for (let j = 0; j < n; j++) {
        const uj = V[j * 2 * n + e]!;
        Pr[i * n + j] += ui * uj; // the (0, 0) block of e e^T
        Pi[i * n + j] += vi * uj; // the (1, 0) block
      }
    }
  }
  // h_cc'[delta] = (1/(kh kw)) sum over d, d' with d' - d = delta of P[(c, d), (c', d')].
  const dh = 2 * kh - 1, dw = 2 * kw - 1, hr = new Float64Array(coils * coils * dh * dw), hi = new Float64Array(hr.length);
  for (let c = 0; c < coils; c++) for (let c2 = 0; c2 < coils; c2++) {
    for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) for (let y2 = 0; y2 < kh; y2++) for (let x2 = 0; x2 < kw; x2++) {
      const i = (c * kh + y) * kw + x, j = (c2 * kh + y2) * kw + x2;
      const at = ((c * coils + c2) * dh + (y2 - y + kh - 1)) * dw + (x2 - x + kw - 1);
      hr[at] += Pr[i * n + j]! / (kh * kw);
      hi[at] += Pi[i * n + j]! / (kh * kw);
    }
  }
  // Per pixel: G(r) = sum_delta h[delta] e^{-2 pi i delta.(r - r0)/N}, then power iteration from the "acs" maps.
  const ry0 = Math.floor(h / 2), rx0 = Math.floor(w / 2), iters = o.iterations ?? 30;
  const Gr = new Float64Array(coils * coils), Gi = new Float64Array(coils * coils), vr = new Float64Array(coils), vi = new Float64Array(coils);
  const mr = new Float64Array(coils * N), mi = new Float64Array(coils * N);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      Gr.fill(0);
      Gi.fill(0);
      for (let py = 0; py < dh; py++) for (let px = 0; px < dw; px++) {
        const ang = -2 * Math.PI * (((py - kh + 1) * (y - ry0)) / h + ((px - kw + 1) * (x - rx0)) / w), cr = Math.cos(ang), ci = Math.sin(ang);
        for (let cc = 0; cc < coils * coils; cc++) {
          const at = (cc * dh + py) * dw + px, ar = hr[at]!, ai = hi[at]!;
          Gr[cc] += ar * cr - ai * ci;
          Gi[cc] += ar * ci + ai * cr;
        }
      }
      const pix = y * w + x;
      let norm = 0;
      for (let c = 0; c < coils; c++) {
        vr[c] = start.re[c * N + pix]!;
        vi[c] = start.im[c * N + pix]!;
        norm += vr[c]! ** 2 + vi[c]! ** 2;
      }
      if (norm === 0) continue;
      for (let it = 0; it < iters; it++) {
        const ur = new Float64Array(coils), ui = new Float64Array(coils);
        let s = 0;
        for (let c = 0; c < coils; c++) {
          for (let c2 = 0; c2 < coils; c2++) {
            const gr = Gr[c * coils + c2]!, gi = Gi[c * coils + c2]!;
            ur[c] += gr * vr[c2]! - gi * vi[c2]!;
            ui[c] += gr * vi[c2]! + gi * vr[c2]!;
          }
          s += ur[c]! ** 2 + ui[c]! ** 2;
        }
        const k = s > 0 ? 1 / Math.sqrt(s) : 0;
        for (let c = 0; c < coils; c++) [vr[c], vi[c]] = [ur[c]! * k, ui[c]! * k];
      }
      // The phase of the "acs" maps: multiply by q / |q|, q = sum_c conj(v_c) acs_c.
      let qr = 0, qi = 0;
      for (let c = 0; c < coils; c++) {
        const sr = start.re[c * N + pix]!, si = start.im[c * N + pix]!;
        qr += vr[c]! * sr + vi[c]! * si;
        qi += vr[c]! * si - vi[c]! * sr;
      }
      const qa = Math.hypot(qr, qi) || 1;
      for (let c = 0; c < coils; c++) {
        mr[c * N + pix] = (vr[c]! * qr - vi[c]! * qi) / qa;
        mi[c * N + pix] = (vr[c]! * qi + vi[c]! * qr) / qa;
      }
    }
  }
  return { coils, h, w, re: mr, im: mi };
}
