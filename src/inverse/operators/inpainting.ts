import { Tensor } from '../../core/tensor.js';
import { fail } from '../../core/errors.js';
import { NoiseSource, Stream } from '../../core/rng.js';
import type { OperatorSVD } from './operator.js';
import { imageShape, loadedData, type DataSource, type OperatorDef, type SpecItems } from './spec-grammar.js';
import { fromSpectral, toSpectral } from './svd.js';
import { SVDOperator } from './svd-operator.js';

/**
 * Inpainting: A = diag(m) with a binary pixel mask m [H, W] shared by all channels
 * (1 = observed, 0 = missing). y has the image's shape, zero where missing (as deepinv).
 * SVD: V = U = I, s = m. Norm 1.
 */
export class InpaintingOperator extends SVDOperator {
  readonly kind = 'inpaint' as const;
  readonly name: string;
  /** The pixel mask [H * W], row-major, entries 0 or 1. */
  readonly mask: Float64Array;
  readonly svd: OperatorSVD;

  constructor(shape: readonly [number, number, number], mask: ArrayLike<number>, noiseSigma = 0, label = 'mask') {
    super(shape, shape, noiseSigma);
    const [c, h, w] = shape;
    if (mask.length !== h * w) {
      fail('BAD_SHAPE', `inpainting mask has ${mask.length} pixels but the image is ${h}x${w}; make the mask the image's size`);
    }
    this.mask = Float64Array.from(mask, (v) => (v > 0 ? 1 : 0));
    const kept = this.mask.reduce((a, b) => a + b, 0);
    if (kept === 0) fail('BAD_CONFIG', `inpainting ${label}: the mask keeps no pixels; observe at least one pixel (a smaller box, a larger random fraction)`);
    this.name = `inpaint(${label}, ${((100 * kept) / (h * w)).toFixed(1)}% observed, ${c}x${h}x${w})`;
    const size = this.inSize, plane = h * w;
    const s = new Float64Array(size);
    for (let ch = 0; ch < c; ch++) s.set(this.mask, ch * plane);
    const what = `${this.name} svd`;
    this.svd = {
      size,
      spectralShape: [...shape],
      singularValues: s,
      applyVt: (x) => toSpectral(x, shape, what),
      applyV: (z) => fromSpectral(z, shape, what),
      applyU: (z) => this.forward(fromSpectral(z, shape, what)),
      applyUt: (y) => toSpectral(this.adjoint(y), shape, what),
    };
  }

  protected forwardInto(x: Tensor, y: Tensor): void {
    const m = this.mask, plane = m.length, xd = x.data, yd = y.data;
    for (let i = 0; i < xd.length; i++) yd[i] = m[i % plane]! * xd[i]!;
  }
  protected adjointInto(y: Tensor, x: Tensor): void {
    this.forwardInto(y, x);
  }

  override measuredEntries(): Float64Array {
    return this.svd.singularValues; // the mask repeated over the channels
  }

  /** A^+ = A (a projection). The prox is (m y / sigma^2 + rho v) / (m / sigma^2 + rho), pixelwise. */
  override pinv(y: Tensor): Tensor {
    return this.adjoint(y);
  }
}

// ---------------------------------------------------------------------------------------
// Masks: Float64Array [H * W], 1 = observed.

/**
 * Exactly round(keep * H * W) observed pixels chosen uniformly at random (seeded Philox
 * uniforms, ranked). `keep` is the observed fraction, as deepinv's Inpainting(mask=0.7).
 */
export function randomPixelMask(h: number, w: number, keep: number, seed = 0): Float64Array {
  if (!(keep >= 0 && keep <= 1)) fail('BAD_CONFIG', `inpainting random=${keep}: the observed fraction must lie in [0, 1], e.g. random=0.3 keeps 30% of the pixels`);
  const n = h * w, count = Math.round(keep * n);
  const u = new NoiseSource(seed).uniform(n, 0, 0, Stream.aux);
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => u[a]! - u[b]! || a - b);
  const mask = new Float64Array(n);
  for (let k = 0; k < count; k++) mask[order[k]!] = 1;
  return mask;
}

/**
 * A missing box of bw x bh pixels (observed elsewhere), centered unless the top-left corner
 * (x0, y0) is given.
 */
export function boxMask(h: number, w: number, bw: number, bh = bw, x0?: number, y0?: number): Float64Array {
  for (const [k, v] of [['box width', bw], ['box height', bh]] as const) {
    if (!Number.isInteger(v) || v < 1) fail('BAD_CONFIG', `inpainting ${k} ${v} must be a positive integer number of pixels`);
  }
  const x = x0 ?? Math.floor((w - bw) / 2), y = y0 ?? Math.floor((h - bh) / 2);
  if (!Number.isInteger(x) || !Number.isInteger(y) || x < 0 || y < 0 || x + bw > w || y + bh > h) {
    fail('BAD_CONFIG', `inpainting box ${bw}x${bh} at x=${x}, y=${y} does not fit in the ${w}x${h} image; use a smaller box or move it inside`);
  }
  const mask = new Float64Array(h * w).fill(1);
  for (let i = y; i < y + bh; i++) for (let j = x; j < x + bw; j++) mask[i * w + j] = 0;
  return mask;
}

export type HalfSide = 'left' | 'right' | 'top' | 'bottom';

/** The given half missing (default: the right half, columns j >= floor(W/2)). */
export function halfMask(h: number, w: number, side: HalfSide = 'right'): Float64Array {
  const mask = new Float64Array(h * w);
  const hh = Math.floor(h / 2), hw = Math.floor(w / 2);
  for (let i = 0; i < h; i++) {
    for (let j = 0; j < w; j++) {
      const missing = side === 'right' ? j >= hw : side === 'left' ? j < hw : side === 'bottom' ? i >= hh : i < hh;
      mask[i * w + j] = missing ? 0 : 1;
    }
  }
  return mask;
}

// ---------------------------------------------------------------------------------------
// Spec: inpaint:box=16 | box=16x8,x=4,y=2 | random=0.7[,seed=1] | half[=left|right|top|bottom] | mask=FILE.png

/** Exactly one of box, random, half and mask says which pixels are missing. */
export interface InpaintConfig {
  kind: 'inpaint';
  noise: number;
  /** A missing box, centered unless x, y (top-left) are given. */
  box?: { width: number; height: number; x?: number; y?: number };
  /** Random pixels, the fraction `keep` observed. */
  random?: { keep: number; seed: number };
  half?: HalfSide;
  /** A mask image [H, W]: >= 0.5 observed (a PNG's first channel, white = observed). */
  mask?: DataSource;
}

export const inpaintDef: OperatorDef<InpaintConfig> = {
  name: 'inpaint',
  aliases: ['inpainting'],
  keys: ['box', 'x', 'y', 'random', 'seed', 'half', 'mask', 'noise'],
  words: ['half'],
  image: true,
  doc: 'inpaint:box=16 | box=16x8,x=4,y=2 | random=0.7[,seed=1] | half[=left|right|top|bottom] | mask=FILE.png (white = observed)',
  parse: parseInpaint,
  build: buildInpaint,
};

function parseInpaint(items: SpecItems): InpaintConfig {
  const { bad } = items, noise = items.noise;
  const chosen = ['box', 'random', 'half', 'mask'].filter((k) => items.has(k) || items.words.includes(k));
  if (chosen.length !== 1) {
    bad(chosen.length === 0 ? 'say which pixels are missing: box=16, random=0.7 (fraction observed), half, or mask=FILE.png' : `give only one of ${chosen.join(', ')}`);
  }
  for (const k of ['x', 'y']) if (items.has(k) && chosen[0] !== 'box') bad(`${k}= places a box; use it with box=SIZE`);
  if (items.has('seed') && chosen[0] !== 'random') bad('seed= applies to random=FRACTION masks only');
  switch (chosen[0]) {
    case 'box': {
      const v = items.get('box')!;
      const m = /^(\d+)(?:x(\d+))?$/.exec(v);
      if (!m) bad(`box=${v}: give the box size in pixels, box=16 or box=16x8 (width x height)`);
      const width = Number(m![1]), height = m![2] ? Number(m![2]) : width;
      const x = items.has('x') ? items.int('x') : undefined, y = items.has('y') ? items.int('y') : undefined;
      if ((x === undefined) !== (y === undefined)) bad('give both x= and y= (top-left corner of the box), or neither for a centered box');
      return { kind: 'inpaint', noise, box: { width, height, x, y } };
    }
    case 'random': {
      const keep = items.num('random');
      if (!(keep > 0 && keep <= 1)) bad(`random=${keep}: the observed fraction must lie in (0, 1], e.g. random=0.3 keeps 30% of the pixels`);
      return { kind: 'inpaint', noise, random: { keep, seed: items.int('seed', 0) } };
    }
    case 'half': {
      const side = (items.get('half') ?? 'right').toLowerCase();
      if (!['left', 'right', 'top', 'bottom'].includes(side)) bad(`half=${side}: name the missing half, half=left|right|top|bottom`);
      return { kind: 'inpaint', noise, half: side as HalfSide };
    }
    default:
      return { kind: 'inpaint', noise, mask: { file: items.get('mask')!, format: 'png' } };
  }
}

function buildInpaint(config: InpaintConfig, inShape: readonly number[], bad: (m: string) => never): InpaintingOperator {
  const [c, h, w] = imageShape('inpaint', inShape, bad);
  const { box, random, half, mask: source } = config;
  if ([box, random, half, source].filter((v) => v !== undefined).length !== 1) bad('say which pixels are missing: box=16, random=0.7 (fraction observed), half, or mask=FILE.png');
  let mask: Float64Array, label: string;
  if (box) {
    if (box.width > w || box.height > h) bad(`box=${box.width === box.height ? box.width : `${box.width}x${box.height}`} is larger than the ${w}x${h} image; use a smaller box`);
    mask = boxMask(h, w, box.width, box.height, box.x, box.y);
    label = `box ${box.width}x${box.height}`;
  } else if (random) {
    mask = randomPixelMask(h, w, random.keep, random.seed);
    label = `random ${random.keep}`;
  } else if (half) {
    mask = halfMask(h, w, half);
    label = `half ${half}`;
  } else {
    const data = loadedData(source!, bad);
    label = data.file === undefined ? 'mask' : `mask ${data.file}`;
    const [mh, mw] = data.shape;
    if (data.shape.length !== 2 || mh !== h || mw !== w) fail('BAD_SHAPE', `${label} is ${mw}x${mh} but the image is ${w}x${h}; resize the mask to the image size`);
    mask = Float64Array.from(data.data, (v) => (v >= 0.5 ? 1 : 0));
  }
  if (!mask.some((v) => v > 0)) bad('the mask keeps no pixels; observe at least one pixel');
  return new InpaintingOperator([c, h, w], mask, config.noise, label);
}
