import { fail } from '../core/errors.js';
import { NoiseSource } from '../core/rng.js';
import type { Tensor } from '../core/tensor.js';
import { upscaleNearest } from '../io/grid.js';
import type { Operator } from '../inverse/operators/operator.js';
import type { Denoiser } from '../models/denoiser.js';

/** True when the model's path carries an anchor (b(t) != 0 somewhere): a restoration model. */
export function isRestorationModel(denoiser: Denoiser): boolean {
  const p = denoiser.path;
  return p.b(p.tMax) !== 0;
}

/** Nearest-neighbour upsampling of [N, C, H, W] by an integer factor (the pseudo-inverse of average pooling). */
export function upscaleBatch(x: Tensor, factor: number): Tensor {
  if (!(Number.isInteger(factor) && factor >= 1)) fail('USAGE', `--upscale ${factor}: use an integer factor >= 1, e.g. --upscale 4`);
  if (factor === 1) return x;
  const [n, c, h, w] = x.shape as [number, number, number, number];
  return upscaleNearest(x.reshape([n * c, h, w]), factor).reshape([n, c, h * factor, w * factor]);
}

/**
 * The restoration models' degraded input mu for clean images x [N, ...] under an operator spec
 * (e.g. "sr:factor=4,noise=0.01"): y = A x + noise, and mu = y when A keeps the image size
 * (denoising, deblurring) or mu = A^+ y otherwise (nearest upsampling for average-pooling SR).
 */
export function degradedAnchor(op: Operator, x: Tensor, seed: number): Tensor {
  const y = op.measure(x, new NoiseSource(seed));
  if (op.outShape.join(',') === op.inShape.join(',')) return y;
  if (!op.pinv) fail('UNSUPPORTED', `${op.name} changes the image size and has no pseudo-inverse to bring y back to the model's grid`);
  return op.pinv(y);
}
