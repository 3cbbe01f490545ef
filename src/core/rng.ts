import { Tensor, shapeSize, type Data } from './tensor.js';
import { fail } from './errors.js';

/**
 * Counter-based random numbers: Philox4x32-10 (Salmon et al., "Parallel random numbers:
 * as easy as 1, 2, 3", SC 2011). A draw is a pure function of (key, counter), so the normal
 * noise of sample i at step k depends only on (seed, i, k): the same seed gives the same
 * samples bit for bit whatever the batch size or the order of evaluation.
 *
 * Counter layout: [element block, step, sample index, stream]; key: the seed's low and high 32 bits.
 */

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/** High 32 bits of the unsigned 64-bit product a*b. */
function mulhi(a: number, b: number): number {
  const aLo = a & 0xffff, aHi = a >>> 16, bLo = b & 0xffff, bHi = b >>> 16;
  const loLo = aLo * bLo, hiLo = aHi * bLo, loHi = aLo * bHi, hiHi = aHi * bHi;
  const cross = (loLo >>> 16) + (hiLo & 0xffff) + loHi;
  return (hiHi + (hiLo >>> 16) + Math.floor(cross / 65536)) >>> 0;
}

/** One Philox4x32-10 block: writes four uint32 words into out. */
export function philox4x32(c0: number, c1: number, c2: number, c3: number, k0: number, k1: number, out: Uint32Array): void {
  let x0 = c0 >>> 0, x1 = c1 >>> 0, x2 = c2 >>> 0, x3 = c3 >>> 0;
  let key0 = k0 >>> 0, key1 = k1 >>> 0;
  for (let r = 0; r < 10; r++) {
    const hi0 = mulhi(M0, x0), lo0 = Math.imul(M0, x0) >>> 0;
    const hi1 = mulhi(M1, x2), lo1 = Math.imul(M1, x2) >>> 0;
    x0 = (hi1 ^ x1 ^ key0) >>> 0;
    x1 = lo1;
    x2 = (hi0 ^ x3 ^ key1) >>> 0;
    x3 = lo0;
    key0 = (key0 + W0) >>> 0;
    key1 = (key1 + W1) >>> 0;
  }
  out[0] = x0; out[1] = x1; out[2] = x2; out[3] = x3;
}

function seedWords(seed: number): [number, number] {
  if (!Number.isSafeInteger(seed) || seed < 0) fail('BAD_INPUT', `seed ${seed} must be a non-negative integer below 2^53`);
  return [seed >>> 0, Math.floor(seed / 4294967296) >>> 0];
}

const TWO_PI = 2 * Math.PI;
/** uint32 -> uniform in (0, 1], never 0 so the logarithm of Box-Muller is finite. */
const toUnit = (u: number): number => (u + 1) / 4294967296;

/**
 * Fill `out[offset .. offset+count)` with standard normal draws of one sample.
 * Element j uses block floor(j/4) through Box-Muller on the block's word pairs.
 */
export function fillNormal(out: Data, offset: number, count: number, seed: number, sample: number, step: number, stream = 0): void {
  const [k0, k1] = seedWords(seed);
  const w = new Uint32Array(4);
  for (let j = 0, block = 0; j < count; j += 4, block++) {
    philox4x32(block, step, sample, stream, k0, k1, w);
    for (let p = 0; p < 2; p++) {
      const r = Math.sqrt(-2 * Math.log(toUnit(w[2 * p]!)));
      const th = TWO_PI * toUnit(w[2 * p + 1]!);
      const i = j + 2 * p;
      if (i < count) out[offset + i] = r * Math.cos(th);
      if (i + 1 < count) out[offset + i + 1] = r * Math.sin(th);
    }
  }
}

/** Fill with uniforms in (0, 1]. */
export function fillUniform(out: Data, offset: number, count: number, seed: number, sample: number, step: number, stream = 0): void {
  const [k0, k1] = seedWords(seed);
  const w = new Uint32Array(4);
  for (let j = 0, block = 0; j < count; j += 4, block++) {
    philox4x32(block, step, sample, stream, k0, k1, w);
    for (let q = 0; q < 4 && j + q < count; q++) out[offset + j + q] = toUnit(w[q]!);
  }
}

/** Named streams keep independent uses of one (seed, sample, step) apart. */
export const Stream = { noise: 0, init: 1, corrector: 2, resample: 3, aux: 4, brownian: 5 } as const;

/**
 * The noise of a run: batch item b is global sample `firstSample + b`, so splitting a run
 * into batches (with matching firstSample) reproduces it bit for bit; a run split into steps
 * (`fromStep(k)`: its step 0 draws step k) reproduces it too.
 */
export class NoiseSource {
  readonly seed: number;
  readonly firstSample: number;
  /** Added to every step index the source is asked for. */
  readonly firstStep: number;
  constructor(seed: number, firstSample = 0, firstStep = 0) {
    seedWords(seed);
    this.seed = seed;
    this.firstSample = firstSample;
    this.firstStep = firstStep;
  }

  /** The same noise, with step k of this source as step 0: a run resumed at step k draws what the whole run would. */
  fromStep(k: number): NoiseSource {
    return new NoiseSource(this.seed, this.firstSample, this.firstStep + k);
  }

  /** Standard normal tensor of `shape` (first axis = batch) for `step` and `stream`. */
  normal(shape: readonly number[], step: number, stream: number = Stream.noise, dtype: 'float32' | 'float64' = 'float32'): Tensor {
    const t = Tensor.zeros(shape, dtype);
    this.fillNormal(t, step, stream);
    return t;
  }

  fillNormal(t: Tensor, step: number, stream: number = Stream.noise): Tensor {
    const m = t.itemSize;
    for (let b = 0; b < t.batch; b++) fillNormal(t.data, b * m, m, this.seed, this.firstSample + b, this.firstStep + step, stream);
    return t;
  }

  /** `count` uniforms in (0, 1] for batch item b. */
  uniform(count: number, b: number, step: number, stream: number = Stream.aux): Float64Array {
    const out = new Float64Array(count);
    fillUniform(out, 0, count, this.seed, this.firstSample + b, this.firstStep + step, stream);
    return out;
  }

  /** One normal vector of `shapeSize(shape)` draws for an arbitrary sample index (e.g. exact samples of a prior). */
  normalForSample(shape: readonly number[], sample: number, step: number, stream: number): Float64Array {
    const n = shapeSize(shape);
    const out = new Float64Array(n);
    fillNormal(out, 0, n, this.seed, this.firstSample + sample, this.firstStep + step, stream);
    return out;
  }
}
