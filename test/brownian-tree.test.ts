/**
 * The Brownian tree behind dpm++sde: its statistics checked exactly against Brownian motion's law (increments over
 * disjoint intervals are independent N(0, length)), and its determinism (W(t) is a function of the seed, the sample
 * and t: the same whatever the other queries and their order).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BrownianTree } from '../src/core/brownian-tree.js';
import { fillNormal, NoiseSource, Stream } from '../src/core/rng.js';
import { Tensor } from '../src/core/tensor.js';
import { TweedieError } from '../src/core/errors.js';

/** 20,000 independent paths (one batch item each, item size 1) on [0.03, 14.6], a Karras sigma range. */
const N = 20000, T0 = 0.03, T1 = 14.6;
const tree = () => new BrownianTree(T0, T1, new NoiseSource(42), N, 1);

const increments = (w: BrownianTree, a: number, b: number) => {
  const wa = w.at(a), wb = w.at(b);
  return Float64Array.from(wa, (v, i) => wb[i]! - v);
};
const mean = (x: Float64Array) => x.reduce((p, q) => p + q, 0) / x.length;
const cov = (x: Float64Array, y: Float64Array) => {
  const mx = mean(x), my = mean(y);
  let s = 0;
  for (let i = 0; i < x.length; i++) s += (x[i]! - mx) * (y[i]! - my);
  return s / (x.length - 1);
};

test('W(t0) = 0 and W(t1) ~ N(0, t1 - t0)', () => {
  const w = tree();
  assert.ok(w.at(T0).every((v) => v === 0));
  const v = cov(w.at(T1), w.at(T1));
  // The sample variance of N normals has relative standard deviation sqrt(2 / N) = 1%: 5 sigma is 5%.
  assert.ok(Math.abs(v / (T1 - T0) - 1) < 5 * Math.sqrt(2 / N), `Var W(t1) = ${v}, expected ${T1 - T0}`);
});

test('increments over disjoint intervals: variance = length, uncorrelated (dyadic and non-dyadic ends, long and short)', () => {
  const w = tree();
  // Ends chosen off the dyadic grid, including an interval far shorter than a level-10 cell.
  const cuts = [T0, 0.0417, 0.3, 1.2345678, 1.2346, 5.5, 9.87654321, T1];
  const incs = cuts.slice(1).map((b, i) => increments(w, cuts[i]!, b));
  const tol = 5 * Math.sqrt(2 / N), corrTol = 5 / Math.sqrt(N);
  incs.forEach((d, i) => {
    const len = cuts[i + 1]! - cuts[i]!;
    assert.ok(Math.abs(cov(d, d) / len - 1) < tol, `interval ${i} [${cuts[i]}, ${cuts[i + 1]}]: variance ${cov(d, d)}, length ${len}`);
    assert.ok(Math.abs(mean(d)) < 5 * Math.sqrt(len / N), `interval ${i}: mean ${mean(d)}`);
  });
  for (let i = 0; i < incs.length; i++) {
    for (let j = i + 1; j < incs.length; j++) {
      const r = cov(incs[i]!, incs[j]!) / Math.sqrt(cov(incs[i]!, incs[i]!) * cov(incs[j]!, incs[j]!));
      assert.ok(Math.abs(r) < corrTol, `intervals ${i} and ${j}: correlation ${r}`);
    }
  }
  // Overlapping intervals are correlated as Brownian motion says: Cov(W(b) - W(a), W(c) - W(a)) = b - a for a < b < c.
  const ab = increments(w, 0.3, 1.2345678), ac = increments(w, 0.3, 5.5);
  assert.ok(Math.abs(cov(ab, ac) / (1.2345678 - 0.3) - 1) < tol, `overlap covariance ${cov(ab, ac)}`);
});

test('the same seed gives the same W(t) whatever the query order and the other queries', () => {
  const times = [0.05, 7.3, 0.9, 14.6, 3.14159, 0.03, 11.11];
  const small = (seed = 42, first = 0, batch = 50) => new BrownianTree(T0, T1, new NoiseSource(seed, first), batch, 2);
  const a = small(), b = small(), c = small();
  const fwd = times.map((t) => Float64Array.from(a.at(t)));
  const rev = [...times].reverse().map((t) => Float64Array.from(b.at(t))).reverse();
  // c is asked on a fine grid first (a sampler with more steps), then at the same times.
  for (let k = 0; k <= 200; k++) c.at(T0 + ((T1 - T0) * k) / 200);
  const fine = times.map((t) => Float64Array.from(c.at(t)));
  for (let i = 0; i < times.length; i++) {
    assert.deepEqual(rev[i], fwd[i], `t = ${times[i]}: reversed order`);
    assert.deepEqual(fine[i], fwd[i], `t = ${times[i]}: after a fine grid`);
  }
  // Another seed is another path; the batch split keeps each sample's path (sample index = firstSample + b).
  const other = small(43).at(7.3);
  assert.ok(other.some((v, i) => v !== fwd[1]![i]));
  const tail = small(42, 5, 3).at(7.3);
  assert.deepEqual([...tail], [...fwd[1]!.slice(10, 16)]);
});

test('increment() is the normalised increment, and queries outside [t0, t1] are refused', () => {
  const w = new BrownianTree(T0, T1, new NoiseSource(1), 2, 3);
  const out = w.increment(new Tensor([2, 3], new Float64Array(6)), 4, 2.5);
  const wa = w.at(4), wb = w.at(2.5);
  out.data.forEach((v, i) => assert.ok(Math.abs(v - (wb[i]! - wa[i]!) / Math.sqrt(1.5)) < 1e-15));
  assert.throws(() => w.at(20), (e: unknown) => e instanceof TweedieError && /outside/.test(e.message));
  assert.throws(() => new BrownianTree(1, 1, new NoiseSource(1), 1, 1), (e: unknown) => e instanceof TweedieError);
});

/** The tree as first written (fresh arrays per level, every query from the root): the reference for the values. */
function referenceTreeAt(seed: number, firstSample: number, batch: number, m: number, t0: number, t1: number, t: number): Float64Array {
  const n = batch * m, width = t1 - t0, draw = new Float64Array(m);
  const addDraw = (out: Float64Array, node: number, scale: number) => {
    for (let b = 0; b < batch; b++) {
      fillNormal(draw, 0, m, seed, firstSample + b, node, Stream.brownian);
      for (let j = 0; j < m; j++) out[b * m + j]! += scale * draw[j]!;
    }
  };
  let lo = new Float64Array(n), hi = new Float64Array(n);
  addDraw(hi, 1, Math.sqrt(width));
  let l = 0, r = 1, node = 1;
  const u = (t - t0) / width;
  if (u === 0) return lo;
  if (u === 1) return hi;
  for (let d = 0; d < 30; d++) {
    const mPoint = 0.5 * (l + r), mid = new Float64Array(n);
    for (let i = 0; i < n; i++) mid[i] = 0.5 * (lo[i]! + hi[i]!);
    addDraw(mid, 2 * node, 0.5 * Math.sqrt((r - l) * width));
    if (u === mPoint) return mid;
    if (u < mPoint) [hi, r, node] = [mid, mPoint, 2 * node];
    else [lo, l, node] = [mid, mPoint, 2 * node + 1];
  }
  const f = (u - l) / (r - l), w = new Float64Array(n);
  for (let i = 0; i < n; i++) w[i] = lo[i]! + f * (hi[i]! - lo[i]!);
  addDraw(w, 2 * node, Math.sqrt(f * (1 - f) * (r - l) * width));
  return w;
}

test('W(t) is bit-identical to the plain reference descent, whatever path prefix the previous queries left', () => {
  const [t0, t1, batch, m] = [0.03, 14.6, 3, 5];
  const w = new BrownianTree(t0, t1, new NoiseSource(7, 2), batch, m);
  // A sampler's order (sigma falling, a midpoint between each pair), repeats, a dyadic midpoint, the ends, then a jump back.
  const times = [14.6, 9.1, 9.1, 5.2, 3.3, 3.3000001, 1.1, (t0 + t1) / 2, t0 + (t1 - t0) * 0.375, 0.03, 0.031, 12.5, 14.6, 9.1];
  for (const t of times) assert.deepEqual(w.at(t), referenceTreeAt(7, 2, batch, m, t0, t1, t), `t = ${t}`);
});
