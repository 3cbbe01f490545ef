import { Tensor } from '../../core/tensor.js';

/**
 * Test images for CT and MRI: ellipses on the [-1, 1]^2 square (x right, y up, the image
 * spanning the full square), sampled at pixel centres.
 */

/** [value, a, b, x0, y0, phi (degrees)]: intensities add where ellipses overlap. */
export type Ellipse = readonly [number, number, number, number, number, number];

/**
 * The modified Shepp-Logan head phantom (Toft's contrast-enhanced version, as MATLAB's
 * phantom('Modified Shepp-Logan')): skull 1, brain 0.2, ventricles 0, small features 0.1-0.4.
 */
export const MODIFIED_SHEPP_LOGAN: readonly Ellipse[] = [
  [1, 0.69, 0.92, 0, 0, 0],
  [-0.8, 0.6624, 0.874, 0, -0.0184, 0],
  [-0.2, 0.11, 0.31, 0.22, 0, -18],
  [-0.2, 0.16, 0.41, -0.22, 0, 18],
  [0.1, 0.21, 0.25, 0, 0.35, 0],
  [0.1, 0.046, 0.046, 0, 0.1, 0],
  [0.1, 0.046, 0.046, 0, -0.1, 0],
  [0.1, 0.046, 0.023, -0.08, -0.605, 0],
  [0.1, 0.023, 0.023, 0, -0.606, 0],
  [0.1, 0.023, 0.046, 0.06, -0.605, 0],
];

/** Pixel (i, j) -> [-1, 1]^2 coordinates of its centre. */
export function pixelToUnit(i: number, j: number, h: number, w: number): [number, number] {
  return [(2 * j + 1) / w - 1, 1 - (2 * i + 1) / h];
}

/**
 * A float64 image [1, H, W] of summed ellipses, each pixel the mean of `supersample`^2
 * point samples (1: the value at the pixel centre; more: antialiased edges).
 */
export function ellipsePhantom(h: number, w: number, ellipses: readonly Ellipse[], supersample = 1): Tensor {
  const out = Tensor.zeros([1, h, w], 'float64'), k = Math.max(1, Math.floor(supersample));
  for (let i = 0; i < h; i++) {
    for (let j = 0; j < w; j++) {
      let v = 0;
      for (let si = 0; si < k; si++) {
        for (let sj = 0; sj < k; sj++) {
          const x = (2 * (j + (sj + 0.5) / k)) / w - 1, y = 1 - (2 * (i + (si + 0.5) / k)) / h;
          for (const [val, a, b, x0, y0, phi] of ellipses) {
            const t = (phi * Math.PI) / 180, dx = x - x0, dy = y - y0;
            const u = dx * Math.cos(t) + dy * Math.sin(t), q = -dx * Math.sin(t) + dy * Math.cos(t);
            if ((u * u) / (a * a) + (q * q) / (b * b) <= 1) v += val;
          }
        }
      }
      out.data[i * w + j] = v / (k * k);
    }
  }
  return out;
}

export function sheppLoganPhantom(h: number, w = h, supersample = 1): Tensor {
  return ellipsePhantom(h, w, MODIFIED_SHEPP_LOGAN, supersample);
}

/** A centred disc of the given radius (fraction of the half-size) and value. */
export function discPhantom(h: number, w = h, radius = 0.5, value = 1, supersample = 1): Tensor {
  return ellipsePhantom(h, w, [[value, radius, radius, 0, 0, 0]], supersample);
}
