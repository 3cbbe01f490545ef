import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fillNormal, fillUniform, NoiseSource, philox4x32, Stream } from '../src/core/rng.js';

test('Philox4x32-10 matches the Random123 known-answer vectors', () => {
  const out = new Uint32Array(4);
  const hex = (a: Uint32Array) => [...a].map((x) => x.toString(16).padStart(8, '0')).join(' ');
  philox4x32(0, 0, 0, 0, 0, 0, out);
  assert.equal(hex(out), '6627e8d5 e169c58d bc57ac4c 9b00dbd8');
  philox4x32(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, out);
  assert.equal(hex(out), '408f276d 41c83b0e a20bc7c6 6d5451fd');
  philox4x32(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, out);
  assert.equal(hex(out), 'd16cfe09 94fdcceb 5001e420 24126ea1');
});

test('noise of sample i is bit-identical at batch size 1 and 64', () => {
  const src = new NoiseSource(1234);
  const big = src.normal([64, 3, 5, 5], 7);
  for (const i of [0, 1, 17, 63]) {
    const single = new NoiseSource(1234, i).normal([1, 3, 5, 5], 7);
    assert.deepEqual(single.data, big.sliceBatch(i, i + 1).data);
  }
});

test('steps, streams and seeds give different draws', () => {
  const src = new NoiseSource(1);
  const a = src.normal([1, 16], 0);
  assert.notDeepEqual(a.data, src.normal([1, 16], 1).data);
  assert.notDeepEqual(a.data, src.normal([1, 16], 0, Stream.corrector).data);
  assert.notDeepEqual(a.data, new NoiseSource(2).normal([1, 16], 0).data);
  assert.deepEqual(a.data, new NoiseSource(1).normal([1, 16], 0).data);
});

test('normal draws have mean 0, variance 1 and Gaussian tails', () => {
  const n = 200_000;
  const x = new NoiseSource(99).normal([1, n], 0, Stream.noise, 'float64').data;
  let m = 0, v = 0, k4 = 0, beyond2 = 0;
  for (const xi of x) m += xi;
  m /= n;
  for (const xi of x) {
    v += (xi - m) ** 2;
    k4 += (xi - m) ** 4;
    if (Math.abs(xi) > 2) beyond2++;
  }
  v /= n;
  k4 /= n;
  assert.ok(Math.abs(m) < 5 / Math.sqrt(n), `mean ${m}`);
  assert.ok(Math.abs(v - 1) < 5 * Math.sqrt(2 / n), `variance ${v}`);
  assert.ok(Math.abs(k4 / (v * v) - 3) < 0.1, `kurtosis ${k4 / (v * v)}`);
  // P(|x| > 2) = 0.0455 for a standard normal.
  assert.ok(Math.abs(beyond2 / n - 0.0455) < 0.003, `tail ${beyond2 / n}`);
});

test('uniforms lie in (0, 1] with mean 1/2', () => {
  const u = new NoiseSource(5).uniform(100_000, 0, 0);
  let s = 0;
  for (const x of u) {
    assert.ok(x > 0 && x <= 1);
    s += x;
  }
  assert.ok(Math.abs(s / u.length - 0.5) < 0.005);
});

test('a seed that is not a non-negative integer is rejected', () => {
  assert.throws(() => new NoiseSource(-1), /seed -1/);
  assert.throws(() => new NoiseSource(1.5), /seed 1.5/);
});

/** The draws as first written (a Philox block per call into a Uint32Array, Box-Muller per element): the reference. */
function referenceMulhi(a: number, b: number): number {
  const aLo = a & 0xffff, aHi = a >>> 16, bLo = b & 0xffff, bHi = b >>> 16;
  const loLo = aLo * bLo, hiLo = aHi * bLo, loHi = aLo * bHi, hiHi = aHi * bHi;
  const cross = (loLo >>> 16) + (hiLo & 0xffff) + loHi;
  return (hiHi + (hiLo >>> 16) + Math.floor(cross / 65536)) >>> 0;
}
function referencePhilox(c: number[], k0: number, k1: number, out: Uint32Array): void {
  let [x0, x1, x2, x3] = c.map((v) => v >>> 0) as [number, number, number, number];
  let key0 = k0 >>> 0, key1 = k1 >>> 0;
  for (let r = 0; r < 10; r++) {
    const hi0 = referenceMulhi(0xd2511f53, x0), lo0 = Math.imul(0xd2511f53, x0) >>> 0;
    const hi1 = referenceMulhi(0xcd9e8d57, x2), lo1 = Math.imul(0xcd9e8d57, x2) >>> 0;
    [x0, x1, x2, x3] = [(hi1 ^ x1 ^ key0) >>> 0, lo1, (hi0 ^ x3 ^ key1) >>> 0, lo0];
    key0 = (key0 + 0x9e3779b9) >>> 0;
    key1 = (key1 + 0xbb67ae85) >>> 0;
  }
  out.set([x0, x1, x2, x3]);
}
const referenceUnit = (u: number): number => (u + 1) / 4294967296;
function referenceNormal(out: Float32Array | Float64Array, count: number, seed: number, sample: number, step: number, stream: number, uniform: boolean): void {
  const k0 = seed >>> 0, k1 = Math.floor(seed / 4294967296) >>> 0, w = new Uint32Array(4);
  for (let j = 0, block = 0; j < count; j += 4, block++) {
    referencePhilox([block, step, sample, stream], k0, k1, w);
    if (uniform) {
      for (let q = 0; q < 4 && j + q < count; q++) out[j + q] = referenceUnit(w[q]!);
      continue;
    }
    for (let p = 0; p < 2; p++) {
      const r = Math.sqrt(-2 * Math.log(referenceUnit(w[2 * p]!)));
      const th = 2 * Math.PI * referenceUnit(w[2 * p + 1]!);
      if (j + 2 * p < count) out[j + 2 * p] = r * Math.cos(th);
      if (j + 2 * p + 1 < count) out[j + 2 * p + 1] = r * Math.sin(th);
    }
  }
}

test('normal and uniform draws are bit-identical to the plain reference for seeds, samples, steps, streams and odd counts', () => {
  const seeds = [0, 1, 7, 0xffffffff, 2 ** 32, 2 ** 40 + 12345, Number.MAX_SAFE_INTEGER];
  const counts = [1, 2, 3, 5, 7, 1023, 1024, 1025, 1030, 4099];
  let cases = 0;
  for (const seed of seeds) {
    for (const [sample, step, stream] of [[0, 0, 0], [3, 17, 5], [2 ** 31 + 5, 2 ** 31 - 1, 4], [65535, 2 ** 32 - 1, 1]] as const) {
      for (const count of counts) {
        for (const make of [(n: number) => new Float64Array(n), (n: number) => new Float32Array(n)]) {
          const want = make(count + 2), got = make(count + 2);
          referenceNormal(want.subarray(1), count, seed, sample, step, stream, false);
          fillNormal(got, 1, count, seed, sample, step, stream);
          assert.deepEqual(got, want, `normal seed ${seed} sample ${sample} step ${step} stream ${stream} count ${count}`);
          const wantU = make(count), gotU = make(count);
          referenceNormal(wantU, count, seed, sample, step, stream, true);
          fillUniform(gotU, 0, count, seed, sample, step, stream);
          assert.deepEqual(gotU, wantU, `uniform seed ${seed} count ${count}`);
          cases++;
        }
      }
    }
  }
  assert.equal(cases, seeds.length * 4 * counts.length * 2);
});

test('Philox blocks equal the plain reference on random counters and keys', () => {
  const got = new Uint32Array(4), want = new Uint32Array(4);
  let s = 12345;
  const next = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) ^ (Math.imul(s, 2654435761) >>> 0);
  for (let i = 0; i < 2000; i++) {
    const c = [next() >>> 0, next() >>> 0, next() >>> 0, next() >>> 0], k0 = next() >>> 0, k1 = next() >>> 0;
    philox4x32(c[0]!, c[1]!, c[2]!, c[3]!, k0, k1, got);
    referencePhilox(c, k0, k1, want);
    assert.deepEqual(got, want, `counter ${c} key ${k0} ${k1}`);
  }
});
