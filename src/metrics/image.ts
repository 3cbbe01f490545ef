import { Tensor, assertSameShape, type Data } from '../core/tensor.js';
import { fail } from '../core/errors.js';

/**
 * Full-reference image metrics. Shapes: [H, W] is one gray image, [C, H, W] one image with
 * C channels, [N, C, H, W] a batch. Every metric returns one value per image (length N, or 1).
 *
 * The data range is never guessed from the dtype: pass the range of the pixel scale you use
 * (1 for [0, 1] images, 2 for [-1, 1], 255 for 8-bit values), or 'auto' for max - min of each
 * reference image, which is only right when the reference spans the full scale.
 */
export type DataRange = number | 'auto';

interface Layout {
  n: number;
  c: number;
  h: number;
  w: number;
}

function layout(t: Tensor, what: string): Layout {
  const s = t.shape;
  if (s.length === 2) return { n: 1, c: 1, h: s[0]!, w: s[1]! };
  if (s.length === 3) return { n: 1, c: s[0]!, h: s[1]!, w: s[2]! };
  if (s.length === 4) return { n: s[0]!, c: s[1]!, h: s[2]!, w: s[3]! };
  return fail('BAD_SHAPE', `${what}: expected an image [H, W], [C, H, W] or a batch [N, C, H, W], got [${s.join(', ')}]`);
}

function resolveRange(range: DataRange, ref: Data, off: number, len: number, what: string): number {
  let r: number;
  if (range === 'auto') {
    let lo = Infinity, hi = -Infinity;
    for (let i = off; i < off + len; i++) {
      const v = ref[i]!;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    r = hi - lo;
  } else {
    r = range;
  }
  if (!(r > 0) || !Number.isFinite(r)) {
    fail('BAD_INPUT', `${what}: data range must be a positive finite number, got ${r}` +
      (range === 'auto' ? ' (the reference image is constant; pass the data range explicitly)' : ''));
  }
  return r;
}

/** Peak signal-to-noise ratio in dB, 10 log10(R^2 / MSE), per image; Infinity when x equals ref. */
export function psnr(x: Tensor, ref: Tensor, dataRange: DataRange): Float64Array {
  assertSameShape(x, ref, 'psnr');
  const { n, c, h, w } = layout(ref, 'psnr');
  const m = c * h * w;
  const out = new Float64Array(n);
  const a = x.data, b = ref.data;
  for (let k = 0; k < n; k++) {
    const off = k * m;
    const r = resolveRange(dataRange, b, off, m, 'psnr');
    let se = 0;
    for (let i = off; i < off + m; i++) {
      const d = a[i]! - b[i]!;
      se += d * d;
    }
    out[k] = 10 * Math.log10((r * r) / (se / m));
  }
  return out;
}

export interface SsimOptions {
  /** Range of the pixel scale (required; see DataRange). */
  dataRange: DataRange;
  /** Gaussian window (default, Wang et al. 2004) or a uniform winSize x winSize window. */
  gaussian?: boolean;
  /** Standard deviation of the Gaussian window, default 1.5 (radius floor(3.5 sigma + 0.5) = 5: 11x11). */
  sigma?: number;
  /** Side of the uniform window, default 7 (ignored for the Gaussian window). */
  winSize?: number;
  k1?: number;
  k2?: number;
  /** Scale local (co)variances by NP/(NP-1), NP = winSize^2, as skimage does by default. */
  sampleCovariance?: boolean;
}

/** Normalized 1-D window; the 2-D window is its outer product. */
function window1d(opts: SsimOptions): Float64Array {
  if (opts.gaussian ?? true) {
    const sigma = opts.sigma ?? 1.5;
    if (!(sigma > 0)) fail('BAD_INPUT', `ssim: sigma must be positive, got ${sigma}`);
    const r = Math.floor(3.5 * sigma + 0.5); // scipy.ndimage.gaussian_filter with truncate=3.5
    const win = new Float64Array(2 * r + 1);
    let sum = 0;
    for (let i = -r; i <= r; i++) sum += win[i + r] = Math.exp((-0.5 * i * i) / (sigma * sigma));
    for (let i = 0; i < win.length; i++) win[i] = win[i]! / sum;
    return win;
  }
  const k = opts.winSize ?? 7;
  if (!Number.isInteger(k) || k < 1 || k % 2 === 0) fail('BAD_INPUT', `ssim: winSize must be an odd positive integer, got ${k}`);
  return new Float64Array(k).fill(1 / k);
}

/**
 * Mean structural similarity (Wang, Bovik, Sheikh, Simoncelli 2004), per image, following
 * skimage.metrics.structural_similarity(gaussian_weights=True, use_sample_covariance=True) by
 * default: local statistics under an 11x11 Gaussian window (sigma 1.5), C1 = (K1 R)^2,
 * C2 = (K2 R)^2, and the SSIM map averaged over the valid region only, i.e. skimage's crop of
 * (winSize-1)/2 pixels at every border (so the padding mode never matters). Multi-channel
 * images: the mean over channels of the per-channel mean SSIM. Computed in float64.
 */
export function ssim(x: Tensor, ref: Tensor, opts: SsimOptions): Float64Array {
  assertSameShape(x, ref, 'ssim');
  const { n, c, h, w } = layout(ref, 'ssim');
  const win = window1d(opts);
  const k = win.length;
  if (h < k || w < k) fail('BAD_SHAPE', `ssim: images of ${h}x${w} are smaller than the ${k}x${k} window; use a smaller window or larger images`);
  const k1 = opts.k1 ?? 0.01, k2 = opts.k2 ?? 0.03;
  const np = k * k;
  const covNorm = (opts.sampleCovariance ?? true) ? np / (np - 1) : 1;
  const ho = h - k + 1, wo = w - k + 1;
  // Horizontal pass results for mu_x, mu_y, E[x^2], E[y^2], E[xy]: h rows of wo columns.
  const tmp = Array.from({ length: 5 }, () => new Float64Array(h * wo));
  const [tx, ty, txx, tyy, txy] = tmp as [Float64Array, Float64Array, Float64Array, Float64Array, Float64Array];
  const a = x.data, b = ref.data;
  const out = new Float64Array(n);
  for (let img = 0; img < n; img++) {
    const r = resolveRange(opts.dataRange, b, img * c * h * w, c * h * w, 'ssim');
    const c1 = (k1 * r) ** 2, c2 = (k2 * r) ** 2;
    let total = 0;
    for (let ch = 0; ch < c; ch++) {
      const base = (img * c + ch) * h * w;
      for (let i = 0; i < h; i++) {
        const row = base + i * w;
        for (let j = 0; j < wo; j++) {
          let sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
          for (let t = 0; t < k; t++) {
            const g = win[t]!, u = a[row + j + t]!, v = b[row + j + t]!;
            sx += g * u; sy += g * v;
            sxx += g * u * u; syy += g * v * v; sxy += g * u * v;
          }
          const o = i * wo + j;
          tx[o] = sx; ty[o] = sy; txx[o] = sxx; tyy[o] = syy; txy[o] = sxy;
        }
      }
      let sum = 0;
      for (let i = 0; i < ho; i++) {
        for (let j = 0; j < wo; j++) {
          let mx = 0, my = 0, mxx = 0, myy = 0, mxy = 0;
          for (let t = 0; t < k; t++) {
            const g = win[t]!, o = (i + t) * wo + j;
            mx += g * tx[o]!; my += g * ty[o]!;
            mxx += g * txx[o]!; myy += g * tyy[o]!; mxy += g * txy[o]!;
          }
          const vx = covNorm * (mxx - mx * mx);
          const vy = covNorm * (myy - my * my);
          const vxy = covNorm * (mxy - mx * my);
          sum += ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2));
        }
      }
      total += sum / (ho * wo);
    }
    out[img] = total / c;
  }
  return out;
}
