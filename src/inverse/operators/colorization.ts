import { Tensor } from '../../core/tensor.js';
import { fail } from '../../core/errors.js';
import { checkBatch, type OperatorSVD } from './operator.js';
import type { OperatorDef, SpecItems } from './spec-grammar.js';
import { applyHouseholder, checkSpectral, householderFor } from './svd.js';
import { SVDOperator } from './svd-operator.js';

/** ITU-R BT.601 luma weights. */
export const LUMA_WEIGHTS: readonly [number, number, number] = [0.299, 0.587, 0.114];
export const MEAN_WEIGHTS: readonly [number, number, number] = [1 / 3, 1 / 3, 1 / 3];

/**
 * Colorization: [3, H, W] -> [1, H, W], y = w_r R + w_g G + w_b B; the adjoint broadcasts
 * x_c = w_c y. Per pixel A = w^T, so ||A|| = |w| (0.6686 for luma, 1/sqrt(3) for the mean),
 * A^+ y = w y / |w|^2. SVD: V per pixel is the Householder reflection whose first column is
 * w/|w| (s = |w|), the other two span the colours invisible in gray (s = 0); U = 1.
 * Spectral layout [3, H, W], plane 0 the observed direction.
 */
export class ColorizationOperator extends SVDOperator {
  readonly kind = 'color' as const;
  readonly name: string;
  readonly weights: readonly [number, number, number];
  readonly svd: OperatorSVD;

  constructor(shape: readonly number[], weights: readonly [number, number, number] = LUMA_WEIGHTS, noiseSigma = 0, label = 'luma') {
    if (shape.length !== 3 || shape[0] !== 3) {
      fail('BAD_SHAPE', `colorization needs an RGB image [3, H, W], got [${shape.join(', ')}]; load a color image`);
    }
    const [, h, w] = shape as [number, number, number];
    super(shape, [1, h, w], noiseSigma);
    const norm = Math.hypot(...weights);
    if (!(norm > 0)) fail('BAD_CONFIG', 'colorization weights are all zero; use luma or mean weights');
    this.weights = [...weights] as [number, number, number];
    this.name = `color(${label}, 3x${h}x${w})`;
    const plane = h * w, size = 3 * plane;
    const hv = householderFor(Float64Array.from(weights, (v) => v / norm));
    const s = new Float64Array(size);
    s.fill(norm, 0, plane);
    const what = `${this.name} svd`;
    const reflect = (src: Tensor, batch: number, shapeOut: readonly number[]): Tensor => {
      const d = Float64Array.from(src.data);
      for (let b = 0; b < batch; b++) for (let i = 0; i < plane; i++) applyHouseholder(hv, d, b * size + i, plane);
      return new Tensor(shapeOut, src.dtype === 'float64' ? d : Float32Array.from(d));
    };
    this.svd = {
      size,
      spectralShape: [3, h, w],
      singularValues: s,
      applyVt: (x) => reflect(x, checkBatch(x, this.inShape, what), [x.batch, size]),
      applyV: (z) => reflect(z, checkSpectral(z, size, what), [z.batch, 3, h, w]),
      applyU: (z) => {
        const batch = checkSpectral(z, size, what);
        const y = Tensor.zeros([batch, 1, h, w], z.dtype);
        for (let b = 0; b < batch; b++) for (let i = 0; i < plane; i++) y.data[b * plane + i] = z.data[b * size + i]!;
        return y;
      },
      applyUt: (y) => {
        const batch = checkBatch(y, this.outShape, what);
        const z = Tensor.zeros([batch, size], y.dtype);
        for (let b = 0; b < batch; b++) for (let i = 0; i < plane; i++) z.data[b * size + i] = y.data[b * plane + i]!;
        return z;
      },
    };
  }

  protected forwardInto(x: Tensor, y: Tensor, batch: number): void {
    const plane = this.outSize, [wr, wg, wb] = this.weights, xd = x.data, yd = y.data;
    for (let b = 0; b < batch; b++) {
      const o = b * 3 * plane;
      for (let i = 0; i < plane; i++) yd[b * plane + i] = wr * xd[o + i]! + wg * xd[o + plane + i]! + wb * xd[o + 2 * plane + i]!;
    }
  }

  protected adjointInto(y: Tensor, x: Tensor, batch: number): void {
    const plane = this.outSize, xd = x.data, yd = y.data;
    for (let b = 0; b < batch; b++) {
      for (let ch = 0; ch < 3; ch++) {
        const wc = this.weights[ch]!, o = (b * 3 + ch) * plane;
        for (let i = 0; i < plane; i++) xd[o + i] = wc * yd[b * plane + i]!;
      }
    }
  }

  /** w y / |w|^2. */
  override pinv(y: Tensor): Tensor {
    const x = this.adjoint(y);
    const n2 = this.weights.reduce((a, v) => a + v * v, 0);
    for (let i = 0; i < x.data.length; i++) x.data[i] = x.data[i]! / n2;
    return x;
  }
}

// ---------------------------------------------------------------------------------------
// Spec: color | color:mean

export interface ColorConfig {
  kind: 'color';
  noise: number;
  mode: 'luma' | 'mean';
}

export const colorDef: OperatorDef<ColorConfig> = {
  name: 'color',
  aliases: ['colorization', 'colorize', 'gray'],
  keys: ['mode', 'noise'],
  words: ['luma', 'mean'],
  doc: 'color | color:mean                         RGB -> gray (BT.601 luma or mean)',
  parse: parseColor,
  build: (config, inShape, bad) => {
    if (inShape.length !== 3 || inShape[0] !== 3) bad(`colorization needs an RGB image [3, H, W], but the input shape is [${inShape.join(', ')}]`);
    return new ColorizationOperator(inShape, config.mode === 'mean' ? MEAN_WEIGHTS : LUMA_WEIGHTS, config.noise, config.mode);
  },
};

function parseColor(items: SpecItems): ColorConfig {
  const modes: string[] = items.words.filter((x) => x === 'luma' || x === 'mean');
  if (items.has('mode')) modes.push(items.get('mode')!.toLowerCase());
  if (modes.length > 1) items.bad('give one mode: color (luma weights) or color:mean');
  const mode = modes[0] ?? 'luma';
  if (mode !== 'luma' && mode !== 'mean') items.bad(`mode=${mode}: use luma (0.299, 0.587, 0.114) or mean`);
  return { kind: 'color', noise: items.noise, mode: mode as 'luma' | 'mean' };
}
