import { fail } from '../core/errors.js';
import { fillUniform, Stream } from '../core/rng.js';
import { Tensor } from '../core/tensor.js';

/** The levels of 8-bit data. */
export const LEVELS = 256;

/** Data ready for the likelihood: values in the model's range, and whether they were dequantized from 8-bit levels. */
export interface LikelihoodData {
  x: Tensor;
  dequantized: boolean;
}

/**
 * Score-SDE's uniform dequantization into the value range [lo, hi]: level k in 0..255 becomes
 * lo + (hi - lo) (k + U) / 256 with U uniform in (0, 1], one draw per value from (seed, firstItem + b).
 */
export function dequantize(levels: Tensor, range: readonly [number, number], seed = 0, firstItem = 0): Tensor {
  const [lo, hi] = range, m = levels.itemSize;
  const x = Tensor.zeros(levels.shape, 'float32');
  for (let b = 0; b < levels.batch; b++) fillUniform(x.data, b * m, m, seed, firstItem + b, 0, Stream.init);
  for (let i = 0; i < x.size; i++) x.data[i] = lo + ((hi - lo) * (levels.data[i]! + x.data[i]!)) / LEVELS;
  return x;
}

/**
 * bits/dim from log p(x) in nats for items of D values. For dequantized data the discrete probability of the
 * levels k is bounded by Jensen (Score-SDE's offset): with u = (k + U)/256 in [0, 1]^D and x = lo + (hi - lo) u,
 * log P(k) = log E_U[p_u(u)] - D log 256 >= E_U[log p_x(x)] + D log(hi - lo) - D log 256, so
 * bits/dim <= -log p(x) / (D ln 2) + log2(256) - log2(hi - lo): an offset of 7 for [-1, 1], 8 for [0, 1].
 */
export function bitsPerDim(logLikelihood: number, D: number, dequantizedInto: readonly [number, number] | null): number {
  const offset = dequantizedInto ? Math.log2(LEVELS) - Math.log2(dequantizedInto[1] - dequantizedInto[0]) : 0;
  return -logLikelihood / (D * Math.LN2) + offset;
}

/**
 * Data for the likelihood of a model with items of `itemShape` and values in `range`: 8-bit levels (`eightBit`)
 * are dequantized, anything else is taken as it is and must lie in the range. `name` (a file) is named in errors.
 */
export function likelihoodData(t: Tensor, eightBit: boolean, itemShape: readonly number[], range: readonly [number, number], name: string, seed = 0): LikelihoodData {
  const want = `[N, ${itemShape.join(', ')}]`;
  if (t.shape.length !== itemShape.length + 1 || itemShape.some((d, i) => t.shape[i + 1] !== d) || t.batch === 0) {
    fail('BAD_SHAPE', `${name} has shape [${t.shape.join(', ')}]; the model takes items of shape [${itemShape.join(', ')}], so give ${want} with N >= 1`);
  }
  if (eightBit) return { x: dequantize(t, range, seed), dequantized: true };
  let min = Infinity, max = -Infinity;
  for (let i = 0; i < t.size; i++) {
    const v = t.data[i]!;
    if (!Number.isFinite(v)) fail('BAD_INPUT', `${name} has ${v} at element ${i}; give finite values`);
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const [lo, hi] = range;
  if (min < lo || max > hi) {
    fail('BAD_INPUT', `${name} has values in [${min}, ${max}], outside the model's value range [${lo}, ${hi}]; scale the data into [${lo}, ${hi}] or give 8-bit levels (uint8 .npy), which are dequantized into it`);
  }
  return { x: t.toDtype('float32'), dequantized: false };
}
