/**
 * The int8 arithmetic of ONNX QuantizeLinear / DequantizeLinear (ONNX operator spec): q = saturate(round(x / scale)
 * + zero_point), rounding halves to even, and x' = (q - zero_point) * scale.
 */

/** Round to the nearest integer, halves to even (QuantizeLinear's rounding). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);

/** A weight quantized per channel: symmetric int8 (zero point 0), scale_c = max|w_c| / 127. */
export interface ChannelQuantized {
  scales: Float32Array;
  values: Int8Array;
}

/**
 * Per-channel symmetric int8 weights along `axis` of a tensor of shape `dims`: each channel's scale is its largest
 * magnitude over 127, so that value maps to +-127 and nothing saturates (an all-zero channel gets scale 1).
 */
export function quantizePerChannel(w: Float32Array, dims: readonly number[], axis: number): ChannelQuantized {
  const channels = dims[axis]!, inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const channelOf = (i: number) => Math.floor(i / inner) % channels;
  const maxAbs = new Float32Array(channels);
  w.forEach((v, i) => {
    const c = channelOf(i);
    maxAbs[c] = Math.max(maxAbs[c]!, Math.abs(v));
  });
  const scales = maxAbs.map((m) => (m > 0 ? m / 127 : 1));
  const values = new Int8Array(w.length);
  w.forEach((v, i) => (values[i] = clamp(roundHalfEven(v / scales[channelOf(i)]!), -127, 127)));
  return { scales, values };
}

/** Asymmetric uint8 parameters of an activation tensor. */
export interface ActivationParams {
  scale: number;
  zeroPoint: number;
}

/** uint8 parameters covering [lo, hi], widened to hold 0 exactly (zero padding must stay exact). */
export function uint8Params(lo: number, hi: number): ActivationParams {
  const a = Math.min(lo, 0), b = Math.max(hi, 0);
  const scale = b > a ? (b - a) / 255 : 1;
  return { scale, zeroPoint: clamp(roundHalfEven(-a / scale), 0, 255) };
}

/** x after a uint8 QuantizeLinear / DequantizeLinear round trip. */
export function fakeQuantize(x: number, p: ActivationParams): number {
  return (clamp(roundHalfEven(x / p.scale) + p.zeroPoint, 0, 255) - p.zeroPoint) * p.scale;
}

/** Clipping factors tried by mseParams: 1.00, 0.99, ..., 0.20 of the observed range. */
const SHRINK_STEPS = 81;

/**
 * uint8 parameters for an activation by MSE search, as PTQ4DM's activation quantizer does ("mse" init of QDrop):
 * the observed range [lo, hi] is shrunk by a factor a = 1, 0.99, ..., 0.2 at both ends, and the factor whose
 * round trip has the least mean squared error on `sample` (values seen in calibration) wins.
 */
export function mseParams(sample: Float32Array, lo: number, hi: number): ActivationParams {
  let best = uint8Params(lo, hi), bestErr = Infinity;
  for (let k = 0; k < SHRINK_STEPS; k++) {
    const a = 1 - k * 0.01, p = uint8Params(a * lo, a * hi);
    let err = 0;
    for (const v of sample) err += (v - fakeQuantize(v, p)) ** 2;
    if (err < bestErr) [best, bestErr] = [p, err];
  }
  return best;
}
