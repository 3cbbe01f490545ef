import { Tensor } from '../core/tensor.js';

/**
 * Dynamic thresholding (Saharia et al. 2022, Imagen, sec. 2.3): per sample, s = the `ratio` quantile
 * of |x0| clamped to [1, maxValue]; x0 <- clamp(x0, -s, s) / s. Quantile with linear interpolation,
 * as torch.quantile and diffusers compute it. In place.
 */
export function dynamicThreshold(x0: Tensor, ratio: number, maxValue: number): Tensor {
  const m = x0.itemSize, d = x0.data;
  const abs = new Float64Array(m);
  for (let b = 0; b < x0.batch; b++) {
    const off = b * m;
    for (let i = 0; i < m; i++) abs[i] = Math.abs(d[off + i]!);
    abs.sort();
    const pos = ratio * (m - 1);
    const lo = Math.floor(pos), hi = Math.min(lo + 1, m - 1);
    const q = abs[lo]! + (pos - lo) * (abs[hi]! - abs[lo]!);
    const s = Math.min(Math.max(q, 1), maxValue);
    for (let i = 0; i < m; i++) {
      const v = d[off + i]!;
      d[off + i] = (v < -s ? -s : v > s ? s : v) / s;
    }
  }
  return x0;
}
