import { Tensor } from '../../src/core/tensor.js';
import { areaMatrix } from '../../src/volume/model-space.js';

/**
 * Geometric changes of image batches [N, 1, H, W] for the shifted test sets of bench priors: pixel size, rotation,
 * field of view. Pixel (i, j) is the unit square centred at (i + 0.5, j + 0.5) in input pixel units.
 */

/**
 * [nOut, nIn] matrix taking nIn pixels to nOut pixels over the same extent. Shrinking averages exact areas (a box
 * filter as wide as the output pixel: the anti-aliasing); enlarging interpolates linearly between pixel centres
 * (nothing to alias), clamped at the edges.
 */
export function resampleMatrix(nIn: number, nOut: number): Float64Array {
  if (nOut <= nIn) return areaMatrix(nIn, nOut);
  const R = new Float64Array(nOut * nIn), s = nIn / nOut;
  for (let i = 0; i < nOut; i++) {
    const u = Math.min(nIn - 1, Math.max(0, (i + 0.5) * s - 0.5)), j = Math.min(nIn - 2, Math.floor(u)), f = u - j;
    R[i * nIn + j] = 1 - f;
    R[i * nIn + j + 1] = f;
  }
  return R;
}

/** Each image resampled to [h, w] over the same extent (pixel size scaled by H / h and W / w): Ry X Rx^T. */
export function resampleImages(x: Tensor, h: number, w: number): Tensor {
  const [n, c, H, W] = x.shape as [number, number, number, number];
  const Ry = resampleMatrix(H, h), Rx = resampleMatrix(W, w);
  const out = Tensor.zeros([n, c, h, w]), rows = new Float64Array(h * W);
  for (let p = 0; p < n * c; p++) {
    const src = x.data.subarray(p * H * W, (p + 1) * H * W);
    rows.fill(0);
    for (let i = 0; i < h; i++) for (let k = 0; k < H; k++) {
      const r = Ry[i * H + k]!;
      if (r !== 0) for (let j = 0; j < W; j++) rows[i * W + j] += r * src[k * W + j]!;
    }
    for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) {
      let s = 0;
      for (let k = 0; k < W; k++) s += Rx[j * W + k]! * rows[i * W + k]!;
      out.data[(p * h + i) * w + j] = s;
    }
  }
  return out;
}

/**
 * Each image rotated by `degrees` (counter-clockwise as displayed, rows downwards) about its centre on the same grid,
 * bilinear; points that come from outside the image take `fill`.
 */
export function rotateImages(x: Tensor, degrees: number, fill: number): Tensor {
  const [n, c, H, W] = x.shape as [number, number, number, number];
  const th = (degrees * Math.PI) / 180, cos = Math.cos(th), sin = Math.sin(th);
  const cy = (H - 1) / 2, cx = (W - 1) / 2, out = Tensor.zeros(x.shape);
  for (let p = 0; p < n * c; p++) {
    const src = x.data.subarray(p * H * W, (p + 1) * H * W);
    for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) {
      // Output (i, j) shows the input at the point rotated back by -theta (x to the right, y up on the display).
      const dx = j - cx, dy = cy - i;
      const u = cy - (-sin * dx + cos * dy), v = cx + (cos * dx + sin * dy);
      out.data[(p * H + i) * W + j] = bilinear(src, H, W, u, v, fill);
    }
  }
  return out;
}

function bilinear(src: ArrayLike<number>, H: number, W: number, u: number, v: number, fill: number): number {
  const eps = 1e-9;
  if (u < -eps || v < -eps || u > H - 1 + eps || v > W - 1 + eps) return fill;
  const i = Math.min(H - 2, Math.max(0, Math.floor(u))), j = Math.min(W - 2, Math.max(0, Math.floor(v)));
  const a = u - i, b = v - j;
  return (1 - a) * ((1 - b) * src[i * W + j]! + b * src[i * W + j + 1]!) + a * ((1 - b) * src[(i + 1) * W + j]! + b * src[(i + 1) * W + j + 1]!);
}
