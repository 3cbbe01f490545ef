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
const W0 = 0x9e3779b9 | 0;
const W1 = 0xbb67ae85 | 0;
/** The multipliers' 16-bit halves: the high word of M a is put together from four exact products of halves. */
const M0_HI = M0 >>> 16, M0_LO = M0 & 0xffff, M1_HI = M1 >>> 16, M1_LO = M1 & 0xffff;

/** Philox words of the blocks being turned into draws: 256 blocks of four uint32 words (as int32 bit patterns). */
const WORDS = 1024;
const words = new Int32Array(WORDS);

/**
 * Philox4x32-10 of counters [firstBlock + k, c1, c2, c3] under key (k0, k1), k < nBlocks (at most WORDS / 4), into
 * `words`. The state is kept as int32 bit patterns in locals (XOR, imul and the additions mod 2^32 do not care about
 * the sign); the high word of each 32 x 32 product is the sum of the 16 x 16 partial products with their carries.
 */
function philoxWords(firstBlock: number, nBlocks: number, c1: number, c2: number, c3: number, k0: number, k1: number): void {
  for (let b = 0, j = 0; b < nBlocks; b++, j += 4) {
    let x0 = (firstBlock + b) | 0, x1 = c1 | 0, x2 = c2 | 0, x3 = c3 | 0, key0 = k0 | 0, key1 = k1 | 0;
    for (let r = 0; r < 10; r++) {
      const aLo = x0 & 0xffff, aHi = x0 >>> 16, cLo = x2 & 0xffff, cHi = x2 >>> 16;
      const aHiM0Lo = aHi * M0_LO, cross0 = ((aLo * M0_LO) >>> 16) + (aHiM0Lo & 0xffff) + aLo * M0_HI;
      const hi0 = aHi * M0_HI + (aHiM0Lo >>> 16) + (cross0 >>> 16);
      const cHiM1Lo = cHi * M1_LO, cross1 = ((cLo * M1_LO) >>> 16) + (cHiM1Lo & 0xffff) + cLo * M1_HI;
      const hi1 = cHi * M1_HI + (cHiM1Lo >>> 16) + (cross1 >>> 16);
      const lo0 = Math.imul(M0, x0), lo1 = Math.imul(M1, x2);
      x0 = hi1 ^ x1 ^ key0;
      x1 = lo1;
      x2 = hi0 ^ x3 ^ key1;
      x3 = lo0;
      key0 = (key0 + W0) | 0;
      key1 = (key1 + W1) | 0;
    }
    words[j] = x0;
    words[j + 1] = x1;
    words[j + 2] = x2;
    words[j + 3] = x3;
  }
}

/** One Philox4x32-10 block: writes four uint32 words into out. */
export function philox4x32(c0: number, c1: number, c2: number, c3: number, k0: number, k1: number, out: Uint32Array): void {
  philoxWords(c0, 1, c1, c2, c3, k0, k1);
  for (let q = 0; q < 4; q++) out[q] = words[q]!;
}

/** The key of a seed is its low and high 32 bits: it must be an integer in [0, 2^53). */
function checkSeed(seed: number): void {
  if (!Number.isSafeInteger(seed) || seed < 0) fail('BAD_INPUT', `seed ${seed} must be a non-negative integer below 2^53`);
}
const seedHigh = (seed: number): number => Math.floor(seed / 4294967296);

const TWO_PI = 2 * Math.PI;
/** uint32 (given as its int32 bit pattern) -> uniform in (0, 1], never 0 so the logarithm of Box-Muller is finite. */
const toUnit = (w: number): number => ((w >>> 0) + 1) / 4294967296;

/**
 * Fill `out[offset .. offset+count)` with standard normal draws of one sample.
 * Element j uses block floor(j/4) through Box-Muller on the block's word pairs.
 * Blocks go in batches of WORDS / 4: their Philox words first, then Box-Muller over the word pairs.
 */
export function fillNormal(out: Data, offset: number, count: number, seed: number, sample: number, step: number, stream = 0): void {
  checkSeed(seed);
  const k1 = seedHigh(seed);
  for (let start = 0; start < count; start += WORDS) {
    const len = Math.min(WORDS, count - start), o = offset + start;
    philoxWords(start / 4, (len + 3) >>> 2, step, sample, stream, seed, k1);
    let j = 0;
    for (; j + 1 < len; j += 2) {
      const r = Math.sqrt(-2 * Math.log(toUnit(words[j]!))), th = TWO_PI * toUnit(words[j + 1]!);
      out[o + j] = r * Math.cos(th);
      out[o + j + 1] = r * Math.sin(th);
    }
    if (j < len) out[o + j] = Math.sqrt(-2 * Math.log(toUnit(words[j]!))) * Math.cos(TWO_PI * toUnit(words[j + 1]!));
  }
}

/** Fill with uniforms in (0, 1]. */
export function fillUniform(out: Data, offset: number, count: number, seed: number, sample: number, step: number, stream = 0): void {
  checkSeed(seed);
  const k1 = seedHigh(seed);
  for (let start = 0; start < count; start += WORDS) {
    const len = Math.min(WORDS, count - start), o = offset + start;
    philoxWords(start / 4, (len + 3) >>> 2, step, sample, stream, seed, k1);
    for (let j = 0; j < len; j++) out[o + j] = toUnit(words[j]!);
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
    checkSeed(seed);
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
