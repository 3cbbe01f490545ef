import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../src/core/tensor.js';
import { NoiseSource } from '../src/core/rng.js';
import { CTOperator, CT_MATRIX_CACHE, MAX_CT_MATRIX_BYTES, parallelBeamAngles, type CTOptions } from '../src/inverse/operators/ct.js';
import { CTMatrixCache, buildCTSystemMatrix, ctMatrixBytesBound, transposeCsr, type CTSystemMatrix } from '../src/inverse/operators/ct-system-matrix.js';

const randn = (shape: readonly number[], seed: number, dtype: 'float32' | 'float64' = 'float64'): Tensor => new NoiseSource(seed).normal(shape, 0, 0, dtype);

function dot(a: Tensor, b: Tensor): number {
  let s = 0;
  for (let i = 0; i < a.data.length; i++) s += a.data[i]! * b.data[i]!;
  return s;
}

/** max |a - b| / max |b|. */
function maxRelDiff(a: Tensor, b: Tensor): number {
  assert.deepEqual(a.shape, b.shape);
  let d = 0, m = 0;
  for (let i = 0; i < a.data.length; i++) {
    d = Math.max(d, Math.abs(a.data[i]! - b.data[i]!));
    m = Math.max(m, Math.abs(b.data[i]!));
  }
  return d / m;
}

/** Geometries: both projectors, a non-square image, a limited angle, detectors given, three channels. */
const GEOMETRIES: { name: string; shape: number[]; options: CTOptions }[] = [
  { name: 'footprint 32x32, 30 views', shape: [1, 32, 32], options: { angles: parallelBeamAngles(30) } },
  { name: 'linear 32x32, 30 views', shape: [1, 32, 32], options: { angles: parallelBeamAngles(30), projector: 'linear' } },
  { name: 'footprint 20x28, 17 views over 120 deg, 25 bins', shape: [1, 20, 28], options: { angles: parallelBeamAngles(17, 120), detectors: 25 } },
  { name: 'linear 3x16x12, 45 views', shape: [3, 16, 12], options: { angles: parallelBeamAngles(45), projector: 'linear' } },
  { name: 'footprint 3x16x12, 9 irregular views', shape: [3, 16, 12], options: { angles: [0, 0.1, 0.35, 0.7, 0.785398, 1.2, 1.5707963, 2.1, 3] } },
];

test('CT system matrix: <A x, y> = <x, A^T y> to float64 rounding', () => {
  for (const g of GEOMETRIES) {
    const op = new CTOperator(g.shape, g.options);
    assert.equal(op.usesSystemMatrix, true);
    const x = randn([2, ...op.inShape], 1), y = randn([2, ...op.outShape], 2);
    const lhs = dot(op.forward(x), y), rhs = dot(x, op.adjoint(y));
    // Each side sums about 3 x views x pixels products of unit-size terms: float64 rounding is ~1e-16 of that scale.
    const scale = Math.sqrt(dot(x, x) * dot(y, y));
    assert.ok(Math.abs(lhs - rhs) <= 1e-14 * scale, `${g.name}: <Ax, y> ${lhs} vs <x, A^T y> ${rhs}`);
  }
});

test('CT system matrix: forward and adjoint equal the on-the-fly projector (float64 and float32)', () => {
  for (const g of GEOMETRIES) {
    const fast = new CTOperator(g.shape, g.options);
    const fly = new CTOperator(g.shape, { ...g.options, systemMatrix: false });
    assert.equal(fly.usesSystemMatrix, false);
    for (const [dtype, tol] of [['float64', 1e-13], ['float32', 2 ** -23]] as const) {
      const x = randn([2, ...fast.inShape], 3, dtype), y = randn([2, ...fast.outShape], 4, dtype);
      const fwd = maxRelDiff(fast.forward(x), fly.forward(x)), adj = maxRelDiff(fast.adjoint(y), fly.adjoint(y));
      assert.ok(fwd <= tol, `${g.name} ${dtype}: forward differs by ${fwd} relative`);
      assert.ok(adj <= tol, `${g.name} ${dtype}: adjoint differs by ${adj} relative`);
    }
  }
});

test('CT system matrix: the transpose of the transpose is the matrix, the bound holds', () => {
  for (const g of GEOMETRIES) {
    const [, h, w] = g.shape as [number, number, number];
    const op = new CTOperator(g.shape, { ...g.options, systemMatrix: false });
    const m = buildCTSystemMatrix(h * w, op.angles.length, op.detectors, (a, first, wts) => (op as unknown as { weightsAt: (a: number, f: Int32Array, w: Float64Array) => void }).weightsAt(a, first, wts));
    const back = transposeCsr(m.adjoint);
    assert.deepEqual([back.rowStart, back.col, back.value], [m.forward.rowStart, m.forward.col, m.forward.value]);
    assert.ok(m.bytes <= ctMatrixBytesBound(h * w, op.angles.length, op.detectors, op.projector === 'linear' ? 2 : 3), g.name);
  }
});

const fakeMatrix = (bytes: number): CTSystemMatrix => {
  const empty = { rows: 0, cols: 0, rowStart: new Int32Array(1), col: new Int32Array(0), value: new Float64Array(0) };
  return { forward: empty, adjoint: empty, bytes };
};

test('CT matrix cache: bounded bytes, least recently used dropped first, oversize never kept', () => {
  const cache = new CTMatrixCache(1000);
  let builds = 0;
  const get = (key: string, bytes = 300) => cache.get(key, () => (builds++, fakeMatrix(bytes)));
  for (let i = 0; i < 50; i++) {
    get(`g${i}`);
    assert.ok(cache.bytes <= 1000 && cache.size <= 3, `after ${i + 1} geometries: ${cache.bytes} bytes in ${cache.size} entries`);
  }
  assert.equal(builds, 50);
  get('g47'); // touch the oldest of g47, g48, g49: g48 goes next
  get('new');
  assert.equal(builds, 51);
  get('g47');
  get('g49');
  assert.equal(builds, 51, 'g47 (recently used) and g49 stayed');
  get('g48');
  assert.equal(builds, 52, 'g48 (least recently used) was dropped');
  const big = get('big', 1001);
  assert.equal(big.bytes, 1001);
  assert.ok(cache.bytes <= 1000);
  get('big', 1001);
  assert.equal(builds, 54, 'a matrix over the budget is built each time, never kept');
});

test('CT operators share the global cache, which stays within its cap; an oversize geometry projects on the fly with one line', () => {
  // Eight geometries of about 55 MB each: more than the cap in all.
  let built = 0;
  for (let views = 100; views < 108; views++) {
    const op = new CTOperator([1, 96, 96], { angles: parallelBeamAngles(views) });
    const before = CT_MATRIX_CACHE.bytes;
    op.forward(randn([1, ...op.inShape], views));
    built += CT_MATRIX_CACHE.bytes - before;
    assert.ok(CT_MATRIX_CACHE.bytes <= MAX_CT_MATRIX_BYTES, `${views} views: ${CT_MATRIX_CACHE.bytes} bytes cached`);
  }
  assert.ok(built < 8 * 40e6, 'the cache dropped some of them');
  const lines: string[] = [];
  const op = new CTOperator([1, 256, 256], { angles: parallelBeamAngles(180), warn: (m) => lines.push(m) });
  assert.equal(op.usesSystemMatrix, false);
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /ct\(180 views, 364 bins, footprint, 1x256x256\): its system matrix could take 810 MiB, over the 256 MiB cap, so it projects on the fly/);
  const quiet = new CTOperator([1, 256, 256], { angles: parallelBeamAngles(180), systemMatrix: false, warn: (m) => lines.push(m) });
  assert.equal(quiet.usesSystemMatrix, false);
  assert.equal(lines.length, 1, 'asking for the on-the-fly projector warns of nothing');
});
