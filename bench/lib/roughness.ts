import { Tensor } from '../../src/core/tensor.js';
import { percentile } from '../../src/volume/model-space.js';

/**
 * Sample roughness, as training/tweedie_train/preview.py counts it: the mean |5-point Laplacian| of each image
 * [N, C, H, W] (interior pixels), and how many samples are rougher than the `quantile` of real images. Speckled,
 * noisy failures score high; without a classifier for brain slices this is the sample-quality figure bench priors
 * reports.
 */
export function roughness(x: Tensor): Float64Array {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const out = new Float64Array(n), d = x.data;
  for (let k = 0; k < n; k++) {
    let s = 0;
    for (let p = 0; p < c; p++) {
      const o = (k * c + p) * h * w;
      for (let i = 1; i < h - 1; i++) for (let j = 1; j < w - 1; j++) {
        const q = o + i * w + j;
        s += Math.abs(4 * d[q]! - d[q - w]! - d[q + w]! - d[q - 1]! - d[q + 1]!);
      }
    }
    out[k] = s / (c * (h - 2) * (w - 2));
  }
  return out;
}

/** How many samples are rougher than the `quantile` of the real images' roughness, and that threshold. */
export function roughCount(samples: Tensor, real: Tensor, q = 0.99): { rough: number; threshold: number } {
  // torch.quantile's default is the same linear interpolation as numpy's percentile.
  const threshold = percentile(roughness(real), 100 * q);
  return { rough: roughness(samples).filter((r) => r > threshold).length, threshold };
}

/** All size x size windows of images [N, 1, H, W] at `stride` whose mean is above `minMean` (some tissue). */
export function windows(x: Tensor, size: number, stride: number, minMean: number): Tensor {
  const [n, , H, W] = x.shape as [number, number, number, number];
  const out: Float32Array[] = [];
  for (let k = 0; k < n; k++) for (let i = 0; i + size <= H; i += stride) for (let j = 0; j + size <= W; j += stride) {
    const win = new Float32Array(size * size);
    for (let r = 0; r < size; r++) win.set(x.data.subarray((k * H + i + r) * W + j, (k * H + i + r) * W + j + size), r * size);
    if (win.reduce((p, q) => p + q, 0) / win.length > minMean) out.push(win);
  }
  const t = new Tensor([out.length, 1, size, size]);
  out.forEach((w, k) => t.data.set(w, k * size * size));
  return t;
}
