import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NoiseSource, philox4x32, Stream } from '../src/core/rng.js';

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
