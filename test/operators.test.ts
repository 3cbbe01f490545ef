import { PaddedOperator } from '../src/inverse/operators/padded.js';
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor } from '../src/core/tensor.js';
import { TweedieError } from '../src/core/errors.js';
import { NoiseSource } from '../src/core/rng.js';
import { roundHalfEven } from '../src/core/numeric.js';
import { symmetricEigen } from '../src/core/linalg.js';
import { writeNpy } from '../src/io/npy.js';
import { writePng } from '../src/io/png.js';
import {
  BicubicSROperator, BlurOperator, CTOperator, ColorizationOperator, IdentityOperator, InpaintingOperator, MRIOperator, MatrixOperator,
  MultiCoilMRIOperator, PoolingSROperator, bicubicDownsampleMatrix, boxMask, centerRange, defaultCenterFraction, discPhantom,
  equispacedLineMask, gaussianKernel, halfMask, keysCubic, lineMask2D, maskAcceleration, motionKernel, parallelBeamAngles,
  poissonDiscMask, poissonSample, proxByConjugateGradient, randomLineMask, randomPixelMask,
  sheppLoganPhantom, syntheticCoilMaps, type Operator,
} from '../src/inverse/operators/index.js';
import { OPERATOR_DEFS, buildOperator, operatorConfigFromSpec, type OperatorConfig } from '../src/inverse/operators/registry.js';
import { loadOperatorFiles, parseOperatorSpec, readDataFile } from '../src/inverse/operators/spec-file.js';

// ---------------------------------------------------------------------------------------
// Helpers

const TMP = mkdtempSync(join(tmpdir(), 'tweedie-operators-'));
after(() => rmSync(TMP, { recursive: true, force: true }));

const randn = (shape: readonly number[], seed: number, dtype: 'float32' | 'float64' = 'float64'): Tensor =>
  new NoiseSource(seed).normal(shape, 0, 0, dtype);

function dot(a: Tensor, b: Tensor): number {
  let s = 0;
  for (let i = 0; i < a.data.length; i++) s += a.data[i]! * b.data[i]!;
  return s;
}
const norm = (a: Tensor): number => Math.sqrt(dot(a, a));
function relDiff(a: Tensor, b: Tensor): number {
  assert.deepEqual(a.shape, b.shape);
  let num = 0, den = 0;
  for (let i = 0; i < a.data.length; i++) {
    num += (a.data[i]! - b.data[i]!) ** 2;
    den += b.data[i]! ** 2;
  }
  return Math.sqrt(num / (den || 1));
}

/** assert.throws validator: a TweedieError with this code whose message matches every pattern. */
const tweedie = (code: string, ...patterns: RegExp[]) => (e: unknown): boolean => {
  assert.ok(e instanceof TweedieError, `expected a TweedieError, got ${String(e)}`);
  assert.equal(e.code, code, e.message);
  for (const p of patterns) assert.match(e.message, p);
  return true;
};

/** Largest singular value from the dense A^T A or A A^T (the smaller; all basis vectors in one batch) and Jacobi. */
function denseNorm(op: Operator): number {
  const n = op.inShape.reduce((a, b) => a * b, 1), m = op.outShape.reduce((a, b) => a * b, 1);
  const k = Math.min(m, n), shape = m < n ? op.outShape : op.inShape;
  const e = Tensor.zeros([k, ...shape], 'float64');
  for (let i = 0; i < k; i++) e.data[i * k + i] = 1;
  const g = (m < n ? op.forward(op.adjoint(e)) : op.adjoint(op.forward(e))).data as Float64Array; // symmetric k x k
  const { values } = symmetricEigen(Float64Array.from(g), k);
  return Math.sqrt(Math.max(...values));
}

/** A random orthogonal n x n matrix (row-major): a product of n Householder reflections. */
function randomOrthogonal(n: number, seed: number): Float64Array {
  const Q = new Float64Array(n * n);
  for (let i = 0; i < n; i++) Q[i * n + i] = 1;
  for (let k = 0; k < n; k++) {
    const v = randn([1, n], seed * 1000 + k).data;
    let vv = 0;
    for (let i = 0; i < n; i++) vv += v[i]! ** 2;
    for (let r = 0; r < n; r++) {
      // row r of Q times (I - 2 v v^T / vv)
      let d = 0;
      for (let i = 0; i < n; i++) d += Q[r * n + i]! * v[i]!;
      for (let i = 0; i < n; i++) Q[r * n + i] = Q[r * n + i]! - (2 * d * v[i]!) / vv;
    }
  }
  return Q;
}

/** A = Q1[:, :k] diag(s) Q2[:, :k]^T with known singular values s (k = s.length). */
function matrixWithSingularValues(m: number, n: number, s: readonly number[], seed: number): Float64Array {
  const Q1 = randomOrthogonal(m, seed), Q2 = randomOrthogonal(n, seed + 1), A = new Float64Array(m * n);
  for (let r = 0; r < m; r++) {
    for (let c = 0; c < n; c++) {
      let acc = 0;
      for (let k = 0; k < s.length; k++) acc += Q1[r * m + k]! * s[k]! * Q2[c * n + k]!;
      A[r * n + c] = acc;
    }
  }
  return A;
}

// ---------------------------------------------------------------------------------------
// The shared operator list

const S12x20 = [7, 5, 3.5, 2.5, 2, 1.5, 1, 0.7, 0.5, 0.3, 0.2, 0.1];
const S20x12 = [4, 3, 2, 1.5, 1, 0.8, 0.6, 0.4, 0.3, 0.2, 0.1, 0.05];

// Fixture files for the spec-built cases.
const MASK_PNG = join(TMP, 'mask16.png');
{
  const data = new Uint8Array(16 * 16);
  for (let i = 0; i < 16; i++) for (let j = 0; j < 16; j++) data[i * 16 + j] = (i * 7 + j * 3) % 5 < 2 ? 255 : 0;
  writePng(MASK_PNG, { width: 16, height: 16, channels: 1, data });
}
const MRI_MASK_NPY = join(TMP, 'mri-mask16.npy');
writeNpy(MRI_MASK_NPY, new Tensor([16, 16], Float64Array.from(poissonDiscMask(16, 16, 3, { calib: [2, 2], seed: 4 }))));
const MAPS_NPY = join(TMP, 'maps16.npy');
{
  const m = syntheticCoilMaps(3, 16, 16), t = Tensor.zeros([3, 16, 16, 2], 'float64');
  for (let k = 0; k < m.re.length; k++) {
    t.data[2 * k] = 0.9 * m.re[k]!;
    t.data[2 * k + 1] = 0.9 * m.im[k]!;
  }
  writeNpy(MAPS_NPY, t);
}
const MATRIX_NPY = join(TMP, 'A12x20.npy');
writeNpy(MATRIX_NPY, new Tensor([12, 20], matrixWithSingularValues(12, 20, S12x20, 5)));

interface Case {
  name: string;
  make: (() => Operator) & { spec?: string; shape?: readonly number[] };
  /** The known ||A||: a number, 'dense' (from the explicit A^T A) or 'svd' (the largest singular value of the operator's SVD). */
  norm: number | 'dense' | 'svd' | (() => number);
}

/** A case built from a spec keeps the spec, for the configuration round trip. */
const spec = (s: string, shape: readonly number[]) => Object.assign((): Operator => parseOperatorSpec(s, shape), { spec: s, shape });
const CASES: Case[] = [
  { name: 'identity', make: spec('identity', [3, 16, 16]), norm: 1 },
  { name: 'inpaint random 0.3', make: spec('inpaint:random=0.3,seed=2', [3, 16, 16]), norm: 1 },
  { name: 'inpaint box centered', make: spec('inpaint:box=6', [1, 16, 16]), norm: 1 },
  { name: 'inpaint box at x,y', make: spec('inpaint:box=5x3,x=1,y=9', [1, 16, 16]), norm: 1 },
  { name: 'inpaint half', make: spec('inpaint:half', [3, 16, 16]), norm: 1 },
  { name: 'inpaint png mask', make: spec(`inpaint:mask=${MASK_PNG}`, [1, 16, 16]), norm: 1 },
  { name: 'sr pool x2', make: spec('sr:factor=2', [3, 16, 16]), norm: 1 / 2 },
  { name: 'sr pool x4', make: spec('sr:factor=4', [1, 16, 16]), norm: 1 / 4 },
  { name: 'sr bicubic x2', make: spec('sr:factor=2,kernel=bicubic', [1, 16, 16]), norm: 'dense' },
  { name: 'sr bicubic x4', make: spec('sr:factor=4,kernel=bicubic', [3, 32, 32]), norm: 'svd' },
  { name: 'blur gaussian sigma 2', make: spec('blur:gaussian,sigma=2', [3, 16, 16]), norm: 1 },
  { name: 'blur gaussian sigma 1', make: spec('blur:gaussian,sigma=1', [1, 16, 16]), norm: 1 },
  { name: 'blur motion 9 @ 30', make: spec('blur:motion,length=9,angle=30', [1, 16, 16]), norm: 1 },
  { name: 'blur motion 5 @ 0', make: spec('blur:motion,length=5,angle=0', [3, 16, 16]), norm: 1 },
  { name: 'color luma', make: spec('color', [3, 16, 16]), norm: Math.hypot(0.299, 0.587, 0.114) },
  { name: 'color mean', make: spec('color:mean', [3, 16, 16]), norm: 1 / Math.sqrt(3) },
  { name: 'mri equispaced 4x', make: spec('mri:accel=4,mask=equispaced,acs=0.08', [1, 32, 32]), norm: 1 },
  { name: 'mri random 8x', make: spec('mri:accel=8,mask=random,seed=1', [1, 32, 32]), norm: 1 },
  { name: 'mri poisson 6x', make: spec('mri:mask=poisson,accel=6', [1, 32, 32]), norm: 1 },
  { name: 'mri 3-channel real 4x', make: spec('mri:accel=4', [3, 16, 16]), norm: 1 },
  { name: 'mri complex 4x', make: spec('mri:accel=4,complex', [2, 16, 16]), norm: 1 },
  { name: 'mri npy mask', make: spec(`mri:mask=${MRI_MASK_NPY}`, [1, 16, 16]), norm: 1 },
  { name: 'mri odd size 15x17', make: () => new MRIOperator([1, 15, 17], { mask: lineMask2D(equispacedLineMask(17, 3, { offset: 1 }).columns, 15) }), norm: 1 },
  { name: 'mri multicoil 4 coils 4x', make: spec('mri:coils=4,accel=4', [1, 16, 16]), norm: 'dense' },
  { name: 'mri multicoil complex', make: spec('mri:coils=3,accel=2,mask=random,complex', [2, 8, 8]), norm: 'dense' },
  { name: 'mri multicoil npy maps', make: spec(`mri:maps=${MAPS_NPY},accel=4,mask=poisson`, [1, 16, 16]), norm: 'dense' },
  { name: 'ct 8 views', make: spec('ct:views=8', [1, 16, 16]), norm: 'dense' },
  { name: 'ct limited angle 10 views / 120 deg', make: spec('ct:views=10,angle=120', [1, 16, 16]), norm: 'dense' },
  { name: 'ct 12 views linear projector', make: spec('ct:views=12,projector=linear', [1, 16, 16]), norm: 'dense' },
  { name: 'ct 30 views 3 channels', make: spec('ct:views=30', [3, 16, 12]), norm: () => denseNorm(parseOperatorSpec('ct:views=30', [1, 16, 12])) },
  { name: 'matrix 12x20', make: spec(`matrix:${MATRIX_NPY}`, [20]), norm: S12x20[0]! },
  { name: 'matrix 20x12', make: () => new MatrixOperator(matrixWithSingularValues(20, 12, S20x12, 9), 20, 12), norm: S20x12[0]! },
  // A C on a layout model's padded grid (C the centred crop): ||A C|| = ||A||, closed forms carried over.
  { name: 'padded inpaint box 13x11 -> 16x16', make: () => new PaddedOperator(parseOperatorSpec('inpaint:box=4', [3, 13, 11]), [3, 16, 16]), norm: 1 },
  { name: 'padded mri 15x17 -> 16x24', make: () => new PaddedOperator(new MRIOperator([1, 15, 17], { mask: lineMask2D(equispacedLineMask(17, 3, { offset: 1 }).columns, 15) }), [1, 16, 24]), norm: 1 },
  { name: 'padded blur 13x14 -> 16x16', make: () => new PaddedOperator(parseOperatorSpec('blur:gaussian,sigma=1', [1, 13, 14]), [1, 16, 16]), norm: 1 },
];

const figures: string[] = [];
after(() => {
  console.log('# operator figures (adjointness float64 / float32, power-iteration norm vs reference):');
  for (const f of figures) console.log(`#   ${f}`);
});

for (const c of CASES) {
  test(`operators [${c.name}]: adjointness, norm, closed forms`, () => {
    const op = c.make();
    const outItem = op.outShape.reduce((a, b) => a * b, 1);
    assert.ok(outItem > 0);

    // Adjointness with random x, y: |<Ax, y> - <x, A^T y>| / (|Ax| |y|).
    const adj: number[] = [];
    for (const [dtype, tol] of [['float64', 1e-5], ['float32', 1e-4]] as const) {
      const x = randn([2, ...op.inShape], 11, dtype), y = randn([2, ...op.outShape], 12, dtype);
      const ax = op.forward(x), aty = op.adjoint(y);
      assert.equal(ax.dtype, dtype);
      assert.equal(aty.dtype, dtype);
      assert.deepEqual(ax.shape, [2, ...op.outShape]);
      assert.deepEqual(aty.shape, [2, ...op.inShape]);
      const err = Math.abs(dot(ax, y) - dot(x, aty)) / (norm(ax) * norm(y));
      assert.ok(err < tol, `${c.name} ${dtype} adjointness ${err}`);
      adj.push(err);
    }
    // Batch items are independent: item 1 of a batch equals a batch of one.
    {
      const x = randn([2, ...op.inShape], 13);
      const both = op.forward(x), second = op.forward(x.sliceBatch(1, 2).clone());
      assert.ok(relDiff(both.sliceBatch(1, 2), second) < 1e-12);
    }

    // Operator norm by power iteration vs the known value.
    const est = op.normEstimate();
    const ref = c.norm === 'dense' ? denseNorm(op) : c.norm === 'svd' ? Math.max(...op.svd!.singularValues) : typeof c.norm === 'function' ? c.norm() : c.norm;
    assert.ok(Math.abs(est - ref) <= 1e-4 * ref, `${c.name}: norm ${est} vs ${ref}`);
    figures.push(`${c.name.padEnd(38)} adj ${adj[0]!.toExponential(1)} / ${adj[1]!.toExponential(1)}   norm ${est.toFixed(6)} vs ${ref.toFixed(6)} rel ${(Math.abs(est - ref) / ref).toExponential(1)} (${typeof c.norm === 'number' ? 'exact' : typeof c.norm === 'function' ? 'dense' : c.norm})`);

    const x = randn([2, ...op.inShape], 21), ax = op.forward(x);

    // SVD: U diag(s) V^T x = A x; V^T V = I; U^T U = I on the support; A^T y = V diag(s) U^T y.
    if (op.svd) {
      const { svd } = op, s = svd.singularValues;
      assert.equal(s.length, svd.size);
      assert.ok(s.every((v) => v >= 0 && Number.isFinite(v)));
      const z = svd.applyVt(x);
      assert.deepEqual(z.shape, [2, svd.size]);
      for (let i = 0; i < z.data.length; i++) z.data[i] = z.data[i]! * s[i % svd.size]!;
      assert.ok(relDiff(svd.applyU(z), ax) < 1e-9, `${c.name}: U S V^T x != A x (${relDiff(svd.applyU(z), ax)})`);
      const w = randn([2, svd.size], 22);
      assert.ok(relDiff(svd.applyVt(svd.applyV(w)), w) < 1e-10, `${c.name}: V^T V != I`);
      assert.ok(relDiff(svd.applyV(svd.applyVt(x)), x) < 1e-10, `${c.name}: V V^T != I`);
      for (let i = 0; i < w.data.length; i++) if (s[i % svd.size] === 0) w.data[i] = 0;
      assert.ok(relDiff(svd.applyUt(svd.applyU(w)), w) < 1e-9, `${c.name}: U^T U != I on the support`);
      const y = randn([2, ...op.outShape], 23), uty = svd.applyUt(y);
      for (let i = 0; i < uty.data.length; i++) uty.data[i] = uty.data[i]! * s[i % svd.size]!;
      assert.ok(relDiff(svd.applyV(uty), op.adjoint(y)) < 1e-9, `${c.name}: V S U^T y != A^T y`);
    }

    // Pseudo-inverse: A A^+ A = A, A^+ A x = x on the row space, A^+ y in the row space.
    if (op.pinv) {
      assert.ok(relDiff(op.forward(op.pinv(ax)), ax) < 1e-9, `${c.name}: A A^+ A x != A x (${relDiff(op.forward(op.pinv(ax)), ax)})`);
      const r = op.adjoint(randn([2, ...op.outShape], 24)); // in the row space
      const back = op.pinv(op.forward(r));
      const tol = op.kind === 'blur' ? 1e-5 : 1e-9; // blur: cond(A) up to 1e8 on its resolved frequencies
      assert.ok(relDiff(back, r) < tol, `${c.name}: A^+ A r != r on the row space (${relDiff(back, r)})`);
      const x32 = randn([1, ...op.inShape], 25, 'float32'), a32 = op.forward(x32);
      assert.ok(relDiff(op.forward(op.pinv(a32)), a32) < 1e-4, `${c.name}: float32 A A^+ A`);
    }

    // Closed-form data consistency vs conjugate gradient on the normal equations.
    if (op.proxDataConsistency) {
      const v = randn([2, ...op.inShape], 26), y = op.forward(randn([2, ...op.inShape], 27));
      for (let i = 0; i < y.data.length; i++) y.data[i] = y.data[i]! + 0.1 * Math.sin(i);
      for (const [rho, sigma] of [[0.7, 0.3], [5, 1.5]] as const) {
        const closed = op.proxDataConsistency(v, y, rho, sigma);
        const cg = proxByConjugateGradient(op, v, y, rho, sigma, { tol: 1e-13 });
        assert.ok(relDiff(closed, cg) < 1e-6, `${c.name}: prox rho=${rho} sigma=${sigma} differs from CG by ${relDiff(closed, cg)}`);
      }
      // sigma = 0: the projection onto {A x = y} for y in the range.
      const proj = op.proxDataConsistency(v, ax, 1, 0);
      assert.ok(relDiff(op.forward(proj), ax) < 1e-8, `${c.name}: noiseless prox is not data consistent`);
    }
  });
}

// ---------------------------------------------------------------------------------------
// Operator-specific facts

// A spec's configuration is plain data: through JSON (no files) or a structured clone (file contents
// as typed arrays, as a worker thread receives it) it builds the operator parseOperatorSpec builds.
for (const c of CASES.filter((k) => k.make.spec !== undefined)) {
  test(`operators [${c.name}]: spec -> config -> ${/[:=,]\//.test(c.make.spec!) ? 'files read -> structured clone' : 'JSON'} -> build`, () => {
    const { spec: s, shape } = c.make as { spec: string; shape: readonly number[] };
    const config = operatorConfigFromSpec(s, shape);
    const hasFiles = JSON.stringify(config).includes('"file"');
    const sent: OperatorConfig = hasFiles ? structuredClone(loadOperatorFiles(config)) : JSON.parse(JSON.stringify(config));
    if (hasFiles) assert.ok(!JSON.stringify(sent).includes('"format"'), 'no file reference left');
    const op = buildOperator(sent, shape), ref = parseOperatorSpec(s, shape);
    assert.equal(op.name, ref.name);
    assert.equal(op.constructor, ref.constructor);
    assert.equal(op.noiseSigma, ref.noiseSigma);
    const x = randn([2, ...shape], 21), y = randn([2, ...op.outShape], 22);
    assert.deepEqual(op.forward(x).data, ref.forward(x).data);
    assert.deepEqual(op.adjoint(y).data, ref.adjoint(y).data);
  });
}

test('specs are pure until built: files stay references, an unread one cannot be built, data needs no file', () => {
  const config = operatorConfigFromSpec('inpaint:mask=missing/m.png,noise=0.1');
  assert.deepEqual(config, { kind: 'inpaint', noise: 0.1, mask: { file: 'missing/m.png', format: 'png' } });
  assert.deepEqual(operatorConfigFromSpec('mri:accel=8,mask=random,seed=1'), { kind: 'mri', noise: 0, complex: false, mask: 'random', accel: 8, acs: 0.04, seed: 1, offset: undefined });
  assert.throws(() => buildOperator(config, [1, 16, 16]), tweedie('BAD_CONFIG', /^operator config inpaint: missing\/m\.png has not been read/));
  assert.throws(() => buildOperator(config, [1, 16, 16], 'inpaint:mask=missing/m.png'), tweedie('BAD_CONFIG', /^operator spec 'inpaint:mask=missing\/m\.png': /));
  // A mask given as data (a volume worker's case): >= 0.5 observed.
  const data = Float64Array.from({ length: 64 }, (_, i) => (i % 3 === 0 ? 0.9 : 0.2));
  const op = buildOperator({ kind: 'inpaint', noise: 0, mask: { shape: [8, 8], data } }, [1, 8, 8]) as InpaintingOperator;
  assert.deepEqual(op.mask, Float64Array.from(data, (v) => (v >= 0.5 ? 1 : 0)));
  assert.match(op.name, /^inpaint\(mask, /);
  assert.throws(() => buildOperator({ kind: 'inpaint', noise: 0, mask: { shape: [4, 16], data } }, [1, 8, 8]), tweedie('BAD_SHAPE', /mask is 16x4 but the image is 8x8/));
});

test('the file edge reads masks relative to baseDir: a PNG as its first channel, an .npy as stored', () => {
  const png = readDataFile({ file: 'mask16.png', format: 'png' }, { baseDir: TMP });
  assert.deepEqual(png.shape, [16, 16]);
  assert.equal(png.file, 'mask16.png');
  for (let i = 0; i < 16; i++) for (let j = 0; j < 16; j++) assert.equal(png.data[i * 16 + j], (i * 7 + j * 3) % 5 < 2 ? 1 : 0);
  const npy = readDataFile({ file: 'mri-mask16.npy', format: 'npy' }, { baseDir: TMP });
  assert.deepEqual(npy.shape, [16, 16]);
  assert.deepEqual(npy.data, Float64Array.from(poissonDiscMask(16, 16, 3, { calib: [2, 2], seed: 4 })));
  const mri = buildOperator(loadOperatorFiles(operatorConfigFromSpec('mri:mask=mri-mask16.npy'), { baseDir: TMP }), [1, 16, 16]) as MRIOperator;
  assert.deepEqual(mri.mask, npy.data);
  assert.equal(mri.name, parseOperatorSpec('mri:mask=mri-mask16.npy', [1, 16, 16], { baseDir: TMP }).name);
  assert.throws(() => readDataFile({ file: 'nope.npy', format: 'npy' }, { baseDir: TMP }), tweedie('UNREADABLE_FILE', /nope\.npy/));
});

test('each operator def rejects an unknown key with the spec parser\'s message, aliases included', () => {
  // The keys each kind took before the defs moved into the operator files.
  const keys: Record<string, string> = {
    identity: 'noise',
    inpaint: 'box, x, y, random, seed, half, mask, noise',
    sr: 'factor, kernel, noise',
    blur: 'type, sigma, size, length, angle, noise',
    color: 'mode, noise',
    mri: 'accel, mask, acs, seed, offset, coils, maps, complex, noise',
    ct: 'views, angle, det, filter, projector, poisson, scale, noise',
    matrix: 'file, noise',
  };
  assert.deepEqual(OPERATOR_DEFS.map((d) => d.name), Object.keys(keys));
  for (const def of OPERATOR_DEFS) {
    for (const kind of [def.name, ...def.aliases]) {
      const s = `${kind}:bogus=1`;
      assert.throws(() => operatorConfigFromSpec(s), tweedie('BAD_CONFIG', new RegExp(`^operator spec '${s}': unknown key 'bogus' for ${def.name}; ${def.name} takes ${keys[def.name]}$`)), s);
    }
    assert.ok(def.doc.startsWith(def.name), `${def.name} documents its grammar`);
  }
});

test('matrix SVD recovers the known singular values (both orientations)', () => {
  for (const [m, n, s, seed] of [[12, 20, S12x20, 5], [20, 12, S20x12, 9]] as const) {
    const op = new MatrixOperator(matrixWithSingularValues(m, n, s, seed), m, n);
    const got = op.svd.singularValues;
    for (let i = 0; i < s.length; i++) assert.ok(Math.abs(got[i]! - s[i]!) < 1e-12 * s[0]!, `s${i}: ${got[i]} vs ${s[i]}`);
    for (let i = s.length; i < n; i++) assert.equal(got[i], 0);
    assert.equal(op.denseSvd.rank, s.length);
  }
});

test('inpainting masks: random keeps the exact fraction, box and half remove the right pixels', () => {
  const r = randomPixelMask(16, 16, 0.3, 7);
  assert.equal(r.reduce((a, b) => a + b, 0), Math.round(0.3 * 256));
  assert.deepEqual(randomPixelMask(16, 16, 0.3, 7), r, 'seeded');
  assert.notDeepEqual(randomPixelMask(16, 16, 0.3, 8), r);
  const b = boxMask(16, 16, 4, 2, 3, 5);
  for (let i = 0; i < 16; i++) for (let j = 0; j < 16; j++) assert.equal(b[i * 16 + j], i >= 5 && i < 7 && j >= 3 && j < 7 ? 0 : 1);
  const bc = boxMask(16, 16, 6);
  assert.equal(bc[5 * 16 + 5], 0);
  assert.equal(bc[10 * 16 + 10], 0);
  assert.equal(bc[11 * 16 + 11], 1);
  assert.equal(bc[4 * 16 + 5], 1);
  const h = halfMask(4, 4);
  assert.deepEqual([...h], [1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0]);
  assert.deepEqual([...halfMask(2, 2, 'top')], [0, 0, 1, 1]);
  const op = new InpaintingOperator([1, 4, 4], h);
  const y = op.forward(Tensor.from([1, 1, 4, 4], Array.from({ length: 16 }, (_, i) => i + 1), 'float64'));
  assert.deepEqual([...y.data], [1, 2, 0, 0, 5, 6, 0, 0, 9, 10, 0, 0, 13, 14, 0, 0]);
});

test('super-resolution: pooling averages blocks; bicubic rows are Keys weights summing to 1', () => {
  const op = new PoolingSROperator([1, 4, 4], 2);
  const y = op.forward(Tensor.from([1, 1, 4, 4], Array.from({ length: 16 }, (_, i) => i), 'float64'));
  assert.deepEqual([...y.data], [2.5, 4.5, 10.5, 12.5]);
  assert.equal(keysCubic(0), 1);
  assert.equal(keysCubic(1), 0);
  assert.equal(keysCubic(2), 0);
  assert.equal(keysCubic(0.5), 0.5625); // Catmull-Rom: (1.5 * 0.125 - 2.5 * 0.25 + 1)
  assert.equal(keysCubic(1.5), -0.0625);
  const W = bicubicDownsampleMatrix(16, 2);
  for (let i = 0; i < 8; i++) {
    let s = 0;
    for (let j = 0; j < 16; j++) s += W[i * 16 + j]!;
    assert.ok(Math.abs(s - 1) < 1e-14);
  }
  // Interior row, factor 2: u = 2i + 0.5, taps keys((u - j)/2)/2 at j = u -+ 0.5, 1.5, 2.5, 3.5.
  const i = 4, u = 2 * i + 0.5, taps = [-3.5, -2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5].map((d) => keysCubic(d / 2) / 2);
  const norm1 = taps.reduce((a, b) => a + b, 0);
  taps.forEach((t, k) => assert.ok(Math.abs(W[i * 16 + (u - 3.5 + k)]! - t / norm1) < 1e-15));
  // A constant image stays constant.
  const bic = new BicubicSROperator([1, 16, 16], 4);
  const ones = bic.forward(Tensor.from([1, 1, 16, 16], new Array(256).fill(1), 'float64'));
  assert.ok(ones.data.every((v) => Math.abs(v - 1) < 1e-14));
});

test('blur: kernels are normalised, a delta blurs into the kernel, motion at 0 degrees is a flat line', () => {
  const g = gaussianKernel(2);
  assert.equal(g.size, 13);
  assert.ok(Math.abs(g.data.reduce((a, b) => a + b, 0) - 1) < 1e-14);
  const m = motionKernel(9, 0);
  assert.equal(m.size, 11);
  for (let i = 0; i < 11; i++) for (let j = 0; j < 11; j++) assert.ok(Math.abs(m.data[i * 11 + j]! - (i === 5 && j >= 1 && j <= 9 ? 1 / 9 : 0)) < 1e-15);
  const m90 = motionKernel(5, 90);
  for (let i = 0; i < 7; i++) for (let j = 0; j < 7; j++) assert.ok(Math.abs(m90.data[i * 7 + j]! - (j === 3 && i >= 1 && i <= 5 ? 0.2 : 0)) < 1e-12);
  const m45 = motionKernel(7, 45); // up and to the right: (row 3 - k, col 3 + k)
  assert.ok(m45.data[(4 - 2) * 9 + 4 + 2]! > 0.1 && m45.data[(4 + 2) * 9 + 4 - 2]! > 0.1 && m45.data[(4 - 2) * 9 + 4 - 2] === 0);
  // Delta at (2, 3) -> kernel centred at (2, 3), wrapping circularly.
  const op = new BlurOperator([1, 16, 16], g);
  const d = Tensor.zeros([1, 1, 16, 16], 'float64');
  d.data[2 * 16 + 3] = 1;
  const y = op.forward(d);
  for (let a = 0; a < 13; a++) {
    for (let b = 0; b < 13; b++) {
      const i = (2 + a - 6 + 16) % 16, j = (3 + b - 6 + 16) % 16;
      assert.ok(Math.abs(y.data[i * 16 + j]! - g.data[a * 13 + b]!) < 1e-14);
    }
  }
});

test('colorization: luma weights forward, broadcast adjoint', () => {
  const op = new ColorizationOperator([3, 1, 2]);
  const y = op.forward(Tensor.from([1, 3, 1, 2], [1, 0, 0, 1, 0, 1], 'float64')); // pixel 0 red, pixel 1 cyan
  assert.ok(Math.abs(y.data[0]! - 0.299) < 1e-15 && Math.abs(y.data[1]! - (0.587 + 0.114)) < 1e-15);
  const x = op.adjoint(Tensor.from([1, 1, 1, 2], [2, 1], 'float64'));
  assert.deepEqual([...x.data].map((v) => +v.toFixed(12)), [0.598, 0.299, 1.174, 0.587, 0.228, 0.114]);
});

// ---------------------------------------------------------------------------------------
// MRI masks

test('fastMRI rounding and default centre fractions', () => {
  assert.deepEqual([0.5, 1.5, 2.5, 2.56, 3.5, 25.6, 12.8].map(roundHalfEven), [0, 2, 2, 3, 4, 26, 13]);
  assert.equal(defaultCenterFraction(4), 0.08);
  assert.equal(defaultCenterFraction(6), 0.08);
  assert.equal(defaultCenterFraction(8), 0.04);
  assert.deepEqual(centerRange(320, 26), [147, 173]); // pad = (320 - 26 + 1) // 2
  assert.deepEqual(centerRange(32, 3), [15, 18]);
});

test('equispaced masks follow fastMRI (adjusted spacing, offsets, centre)', () => {
  // W = 32, 4x: numLow = round(2.56) = 3 at [15, 18), adjusted = 4 (3 - 32) / (12 - 32) = 5.8,
  // lines round(arange(offset, 31, 5.8)).
  const expect = (offset: number): number[] => {
    const set = new Set([15, 16, 17]);
    for (let v = offset; v < 31; v += 5.8) set.add(roundHalfEven(v));
    return [...set].sort((a, b) => a - b);
  };
  const cols = (mask: Uint8Array): number[] => [...mask].flatMap((v, i) => (v ? [i] : []));
  const m0 = equispacedLineMask(32, 4, { offset: 0 });
  assert.deepEqual(cols(m0.columns), [0, 6, 12, 15, 16, 17, 23, 29]);
  assert.equal(m0.adjustedAcceleration, 5.8);
  assert.equal(m0.numLowFrequencies, 3);
  for (let offset = 0; offset < 6; offset++) assert.deepEqual(cols(equispacedLineMask(32, 4, { offset }).columns), expect(offset));
  assert.throws(() => equispacedLineMask(32, 4, { offset: 6 }), tweedie('BAD_CONFIG', /offset=6/, /\[0, 6\)/));
  // Seeded offsets stay in [0, round(adjusted)) and are reproducible.
  const offsets = new Set<number>();
  for (let seed = 0; seed < 40; seed++) {
    const m = equispacedLineMask(32, 4, { seed });
    assert.ok(m.offset! >= 0 && m.offset! < 6);
    assert.deepEqual(cols(m.columns), expect(m.offset!));
    offsets.add(m.offset!);
  }
  assert.ok(offsets.size >= 5, `offsets drawn: ${[...offsets]}`);
  // fastMRI sizes: acceleration reached to within a line, centre fully sampled.
  for (const [w, acc] of [[320, 4], [320, 8], [368, 4], [368, 8], [640, 4]] as const) {
    const m = equispacedLineMask(w, acc, { seed: 3 });
    const [a, b] = centerRange(w, roundHalfEven(w * defaultCenterFraction(acc)));
    for (let j = a; j < b; j++) assert.equal(m.columns[j], 1);
    const lines = m.columns.reduce((s, v) => s + v, 0);
    assert.ok(Math.abs(lines - w / acc) <= 2, `${w} ${acc}x: ${lines} lines vs ${w / acc}`);
  }
});

test('random line masks: expected acceleration, centre, seeds', () => {
  for (const acc of [4, 8]) {
    let total = 0;
    const runs = 60;
    for (let seed = 0; seed < runs; seed++) {
      const m = randomLineMask(320, acc, { seed });
      const [a, b] = centerRange(320, m.numLowFrequencies);
      for (let j = a; j < b; j++) assert.equal(m.columns[j], 1);
      total += m.columns.reduce((s, v) => s + v, 0);
    }
    const mean = total / runs, expected = 320 / acc;
    // Std of the mean: sqrt(N p (1 - p) / runs) < 1 line.
    assert.ok(Math.abs(mean - expected) < 3, `${acc}x: mean ${mean} lines vs ${expected}`);
  }
  assert.deepEqual(randomLineMask(64, 4, { seed: 5 }).columns, randomLineMask(64, 4, { seed: 5 }).columns);
  assert.notDeepEqual(randomLineMask(64, 4, { seed: 5 }).columns, randomLineMask(64, 4, { seed: 6 }).columns);
});

test('Poisson-disc masks: acceleration within 10%, calibration block, density falls off, seeded', () => {
  for (const [h, w, acc] of [[32, 32, 6], [64, 48, 4], [64, 64, 8]] as const) {
    const calib = [roundHalfEven(0.08 * h), roundHalfEven(0.08 * w)] as const;
    const m = poissonDiscMask(h, w, acc, { calib, seed: 1 });
    const got = maskAcceleration(m);
    assert.ok(Math.abs(got - acc) <= 0.1 * acc, `${h}x${w} ${acc}x: ${got}`);
    const [r0, r1] = centerRange(h, calib[0]), [c0, c1] = centerRange(w, calib[1]);
    for (let i = r0; i < r1; i++) for (let j = c0; j < c1; j++) assert.equal(m[i * w + j], 1);
    // Inner disc (r < 0.3) denser than the outer ring (0.7 < r < 1).
    let inN = 0, inS = 0, outN = 0, outS = 0;
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        const r = Math.hypot((i - h / 2) / (h / 2), (j - w / 2) / (w / 2));
        if (r < 0.3) { inN++; inS += m[i * w + j]!; }
        if (r > 0.7 && r < 1) { outN++; outS += m[i * w + j]!; }
      }
    }
    assert.ok(inS / inN > 1.5 * (outS / outN), `density ${inS / inN} inside vs ${outS / outN} outside`);
    assert.deepEqual(poissonDiscMask(h, w, acc, { calib, seed: 1 }), m);
  }
});

test('MRI: zero-filled = A^H y, complex SVD has s = mask, real images see the symmetrised mask', () => {
  const mask = lineMask2D(equispacedLineMask(16, 4, { offset: 1 }).columns, 16);
  const cop = new MRIOperator([2, 16, 16], { mask, complex: true });
  const y = cop.forward(randn([1, 2, 16, 16], 3));
  assert.ok(relDiff(cop.zeroFilled(y), cop.adjoint(y)) === 0);
  assert.ok(relDiff(cop.pinv(y), cop.adjoint(y)) < 1e-14, 'complex single coil: A^+ = A^H');
  const s = cop.svd.singularValues;
  for (let i = 0; i < 256; i++) assert.equal(s[2 * i], mask[i]);
  // Real images: unsampled k whose mirror -k is sampled carries s = 1/sqrt(2).
  const rop = new MRIOperator([1, 16, 16], { mask });
  const counts = new Map<number, number>();
  for (const v of rop.svd.singularValues) counts.set(+v.toFixed(12), (counts.get(+v.toFixed(12)) ?? 0) + 1);
  assert.ok(counts.has(+Math.SQRT1_2.toFixed(12)), `values ${[...counts.keys()]}`);
  // DC of a constant image: y at the centre = sum / sqrt(N).
  const ones = rop.forward(Tensor.from([1, 1, 16, 16], new Array(256).fill(1), 'float64'));
  assert.ok(Math.abs(ones.data[2 * (8 * 16 + 8)]! - 16) < 1e-12);
});

test('multi-coil: synthetic maps satisfy sum |S_c|^2 = 1; fully sampled A^H A = I', () => {
  const maps = syntheticCoilMaps(6, 12, 10);
  for (let i = 0; i < 120; i++) {
    let s = 0;
    for (let c = 0; c < 6; c++) s += maps.re[c * 120 + i]! ** 2 + maps.im[c * 120 + i]! ** 2;
    assert.ok(Math.abs(s - 1) < 1e-12);
  }
  const op = new MultiCoilMRIOperator([2, 12, 10], { mask: new Uint8Array(120).fill(1), maps, complex: true });
  const x = randn([2, 2, 12, 10], 4);
  assert.ok(relDiff(op.adjoint(op.forward(x)), x) < 1e-12);
});

// ---------------------------------------------------------------------------------------
// CT

test('CT geometry: angles, detector count, line integrals of a disc match 2 sqrt(r^2 - t^2)', () => {
  const a = parallelBeamAngles(4);
  assert.deepEqual([...a], [0, Math.PI / 4, Math.PI / 2, (3 * Math.PI) / 4]);
  const la = parallelBeamAngles(60, 120);
  assert.ok(Math.abs(la[59]! - (118 * Math.PI) / 180) < 1e-15); // 2-degree steps from 0
  const n = 64, r = 0.6 * (n / 2); // disc radius in pixels
  const disc = discPhantom(n, n, 0.6, 1, 8); // 8x8 supersampled edges
  let mass = 0;
  for (const v of disc.data) mass += v;
  assert.ok(Math.abs(mass - Math.PI * r * r) < 0.5, `disc area ${mass} vs ${Math.PI * r * r}`);
  const worst: Record<string, number> = {};
  for (const projector of ['footprint', 'linear'] as const) {
    const op = new CTOperator([1, n, n], { angles: parallelBeamAngles(12), projector });
    assert.equal(op.detectors, Math.ceil(Math.sqrt(2) * n) + 1);
    assert.ok(Math.abs(op.angleStep - Math.PI / 12) < 1e-15);
    const y = op.forward(new Tensor([1, 1, n, n], disc.data));
    const D = op.detectors, dc = (D - 1) / 2;
    let err = 0;
    for (let v = 0; v < 12; v++) {
      // Mass is conserved: every projection sums to the image sum.
      let sum = 0;
      for (let d = 0; d < D; d++) sum += y.data[v * D + d]!;
      assert.ok(Math.abs(sum - mass) < 1e-9);
      for (let d = 0; d < D; d++) {
        const t = d - dc;
        if (Math.abs(t) > r - 2) continue;
        const exact = 2 * Math.sqrt(r * r - t * t);
        err = Math.max(err, Math.abs(y.data[v * D + d]! - exact) / exact);
      }
    }
    worst[projector] = err;
  }
  assert.ok(worst.footprint! < 0.015, `footprint projector: worst relative line-integral error ${worst.footprint}`);
  assert.ok(worst.linear! > 0.05, 'linear interpolation aliases near 45 degrees');
  console.log(`# CT disc sinogram (64x64, r = 19.2 px, 12 views): worst interior line-integral error ${(100 * worst.footprint!).toFixed(2)}% footprint, ${(100 * worst.linear!).toFixed(2)}% linear`);
});

function regionMean(img: Float64Array | Float32Array, n: number, x: number, y: number, half: number): number {
  // (x, y) in [-1, 1]^2, y up
  const ci = Math.round(((1 - y) * n) / 2 - 0.5), cj = Math.round(((x + 1) * n) / 2 - 0.5);
  let s = 0, k = 0;
  for (let i = ci - half; i <= ci + half; i++) for (let j = cj - half; j <= cj + half; j++) { s += img[i * n + j]!; k++; }
  return s / k;
}

test('FBP recovers a disc and the Shepp-Logan phantom (Ram-Lak and Hann)', () => {
  const n = 64;
  const disc = new Tensor([1, 1, n, n], discPhantom(n, n, 0.5).data);
  const op = new CTOperator([1, n, n], { angles: parallelBeamAngles(180) });
  const y = op.forward(disc);
  const lines: string[] = [];
  for (const filter of ['ramlak', 'hann'] as const) {
    const rec = op.fbp(y, filter).data;
    let inS = 0, inN = 0, outS = 0, outN = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        const r = Math.hypot(i - (n - 1) / 2, j - (n - 1) / 2);
        if (r < 12) { inS += rec[i * n + j]!; inN++; }
        if (r > 20 && r < 30) { outS += rec[i * n + j]!; outN++; }
      }
    }
    const inside = inS / inN, outside = outS / outN;
    assert.ok(Math.abs(inside - 1) < 0.02, `${filter}: disc interior ${inside}`);
    assert.ok(Math.abs(outside) < 0.02, `${filter}: background ${outside}`);
    lines.push(`disc ${filter}: interior ${inside.toFixed(4)}, background ${outside.toFixed(4)}`);
  }
  const m = 128, phantom = sheppLoganPhantom(m);
  const sl = new CTOperator([1, m, m], { angles: parallelBeamAngles(180) });
  const ys = sl.forward(new Tensor([1, 1, m, m], phantom.data));
  // Regions (name, x, y, value): the 0.3 ellipse, brain 0.2 (two places), both ventricles 0.
  const regions: [string, number, number, number][] = [['ellipse 0.3', 0, 0.35, 0.3], ['brain 0.2', 0, -0.3, 0.2], ['brain 0.2 top', 0, 0.7, 0.2], ['ventricle L 0', -0.22, 0, 0], ['ventricle R 0', 0.22, 0, 0]];
  for (const filter of ['ramlak', 'hann'] as const) {
    const rec = sl.fbp(ys, filter).data;
    const parts: string[] = [];
    for (const [name, x, yy, value] of regions) {
      assert.ok(Math.abs(regionMean(phantom.data, m, x, yy, 2) - value) < 1e-12, `phantom ${name}`);
      const got = regionMean(rec, m, x, yy, 2);
      assert.ok(Math.abs(got - value) < 0.02, `${filter} ${name}: ${got} vs ${value}`);
      parts.push(`${name} ${got.toFixed(3)}`);
    }
    lines.push(`Shepp-Logan ${filter}: ${parts.join(', ')}`);
  }
  for (const l of lines) console.log(`# FBP 180 views: ${l}`);
});

test('CT Poisson counts: exact sampler moments, log transform is unbiased for high counts', () => {
  for (const lambda of [0.7, 3, 50, 800, 1e5]) {
    const N = 20000;
    let m1 = 0, m2 = 0;
    for (let k = 0; k < N; k++) {
      const v = poissonSample(lambda, (k + 0.5) / N);
      m1 += v;
      m2 += v * v;
    }
    const mean = m1 / N, variance = m2 / N - mean * mean;
    assert.ok(Math.abs(mean - lambda) < 1e-3 * lambda + 1e-3, `lambda ${lambda}: mean ${mean}`);
    assert.ok(Math.abs(variance - lambda) < 2e-3 * lambda + 1e-2, `lambda ${lambda}: variance ${variance}`);
  }
  const x = new Tensor([1, 1, 16, 16], discPhantom(16).data);
  const clean = new CTOperator([1, 16, 16], { angles: parallelBeamAngles(8) }).forward(x);
  const hi = new CTOperator([1, 16, 16], { angles: parallelBeamAngles(8), poisson: { i0: 1e9 } }).measure(x, new NoiseSource(1));
  assert.ok(relDiff(hi, clean) < 1e-2, `high counts ${relDiff(hi, clean)}`);
  const lo = new CTOperator([1, 16, 16], { angles: parallelBeamAngles(8), poisson: { i0: 1e3 } });
  const noisy = lo.measure(x, new NoiseSource(1));
  const e = relDiff(noisy, clean);
  assert.ok(e > 1e-3 && e < 0.5, `low counts ${e}`);
  assert.deepEqual(lo.measure(x, new NoiseSource(1)).data, noisy.data, 'seeded');
});

// ---------------------------------------------------------------------------------------
// measure() and the spec parser

test('measure adds Gaussian noise of noiseSigma from the seed', () => {
  const op = parseOperatorSpec('identity:noise=0.1', [1, 64, 64]);
  assert.equal(op.noiseSigma, 0.1);
  const x = Tensor.zeros([1, 1, 64, 64], 'float64');
  const y = op.measure(x, new NoiseSource(3));
  const std = norm(y) / Math.sqrt(y.size);
  assert.ok(Math.abs(std - 0.1) < 0.005, `std ${std}`);
  assert.deepEqual(op.measure(x, new NoiseSource(3)).data, y.data);
  // Noise only on measured entries: unsampled k-space and missing pixels stay 0.
  for (const [sp, shape] of [['mri:accel=4,noise=0.1', [1, 64, 64]], ['mri:coils=2,accel=4,noise=0.1', [1, 64, 64]], ['inpaint:random=0.5,noise=0.1', [3, 64, 64]]] as const) {
    const o = parseOperatorSpec(sp, shape);
    const z = o.measure(Tensor.zeros([1, ...shape], 'float64'), new NoiseSource(5));
    const mask = o instanceof InpaintingOperator || o instanceof MRIOperator || o instanceof MultiCoilMRIOperator ? o.mask : undefined;
    assert.ok(mask);
    const per = o instanceof InpaintingOperator ? 1 : 2; // (re, im) pairs for k-space
    let measured = 0, sum2 = 0, leaks = 0;
    for (let i = 0; i < z.size; i++) {
      if (mask[Math.floor(i / per) % mask.length] === 0) leaks += z.data[i] === 0 ? 0 : 1;
      else { measured++; sum2 += z.data[i]! ** 2; }
    }
    assert.equal(leaks, 0, `${sp}: noise on unmeasured entries`);
    assert.ok(Math.abs(Math.sqrt(sum2 / measured) - 0.1) < 0.005, `${sp}: noise std ${Math.sqrt(sum2 / measured)}`);
  }
  // Noiseless operators measure A x exactly.
  assert.deepEqual(parseOperatorSpec('sr:factor=2', [1, 8, 8]).measure(Tensor.zeros([1, 1, 8, 8]), new NoiseSource(3)).data, new Float32Array(16));
});

test('spec examples parse to the right operators', () => {
  const img = [1, 32, 32], rgb = [3, 32, 32];
  const mri4 = parseOperatorSpec('mri:accel=4,mask=equispaced,acs=0.08', img);
  assert.ok(mri4 instanceof MRIOperator);
  assert.deepEqual(mri4.outShape, [1, 32, 32, 2]);
  assert.ok(Math.abs(maskAcceleration(mri4.mask) - 4) < 0.7);
  const mri8 = parseOperatorSpec('mri:accel=8,mask=random,seed=1', img) as MRIOperator;
  assert.deepEqual(mri8.mask, Float64Array.from(lineMask2D(randomLineMask(32, 8, { seed: 1, centerFraction: 0.04 }).columns, 32)));
  const pois = parseOperatorSpec('mri:mask=poisson,accel=6', img) as MRIOperator;
  assert.ok(Math.abs(maskAcceleration(pois.mask) - 6) <= 0.6);
  const mc = parseOperatorSpec('mri:coils=8,accel=4', img) as MultiCoilMRIOperator;
  assert.ok(mc instanceof MultiCoilMRIOperator);
  assert.deepEqual(mc.outShape, [8, 32, 32, 2]);
  const ct = parseOperatorSpec('ct:views=30', img) as CTOperator;
  assert.ok(ct instanceof CTOperator);
  assert.equal(ct.angles.length, 30);
  assert.ok(Math.abs(ct.angles[29]! - (29 * Math.PI) / 30) < 1e-15);
  const la = parseOperatorSpec('ct:views=60,angle=120', img) as CTOperator;
  assert.equal(la.angles.length, 60);
  assert.ok(Math.abs(la.angles[1]! - (2 * Math.PI) / 180) < 1e-15 && la.angles[59]! < (120 * Math.PI) / 180);
  assert.equal(parseOperatorSpec('ct:views=20,filter=hann', img).kind, 'ct');
  assert.equal((parseOperatorSpec('ct:views=20,filter=hann', img) as CTOperator).filter, 'hann');
  const box = parseOperatorSpec('inpaint:box=16', rgb) as InpaintingOperator;
  assert.equal(box.mask.reduce((a, b) => a + b, 0), 1024 - 256);
  assert.equal(box.mask[16 * 32 + 16], 0);
  const rnd = parseOperatorSpec('inpaint:random=0.7', rgb) as InpaintingOperator;
  assert.equal(rnd.mask.reduce((a, b) => a + b, 0), Math.round(0.7 * 1024));
  const half = parseOperatorSpec('inpaint:half', rgb) as InpaintingOperator;
  assert.equal(half.mask[0], 1);
  assert.equal(half.mask[31], 0);
  const png = parseOperatorSpec(`inpaint:mask=${MASK_PNG}`, [1, 16, 16]) as InpaintingOperator;
  assert.equal(png.mask[0], 1); // (0 * 7 + 0 * 3) % 5 = 0 < 2 -> white
  assert.equal(png.mask[1], 0); // 3 % 5 = 3 -> black
  assert.ok(parseOperatorSpec('sr:factor=4', rgb) instanceof PoolingSROperator);
  const bic = parseOperatorSpec('sr:factor=4,kernel=bicubic', rgb);
  assert.ok(bic instanceof BicubicSROperator);
  assert.deepEqual(bic.outShape, [3, 8, 8]);
  const gb = parseOperatorSpec('blur:gaussian,sigma=2', rgb) as BlurOperator;
  assert.deepEqual(gb.kernel, gaussianKernel(2));
  const mb = parseOperatorSpec('blur:motion,length=9,angle=30', rgb) as BlurOperator;
  assert.deepEqual(mb.kernel, motionKernel(9, 30));
  const col = parseOperatorSpec('color', rgb) as ColorizationOperator;
  assert.deepEqual(col.weights, [0.299, 0.587, 0.114]);
  assert.deepEqual(col.outShape, [1, 32, 32]);
  assert.ok(parseOperatorSpec('identity', rgb) instanceof IdentityOperator);
  const mat = parseOperatorSpec(`matrix:${MATRIX_NPY},noise=0.05`, [20]);
  assert.ok(mat instanceof MatrixOperator);
  assert.equal(mat.noiseSigma, 0.05);
  assert.deepEqual(mat.outShape, [12]);
  // Every kind takes noise=.
  for (const s of ['identity', 'inpaint:half', 'sr:factor=2', 'blur:gaussian,sigma=1', 'color', 'mri:accel=4', 'mri:coils=2,accel=4', 'ct:views=10']) {
    assert.equal(parseOperatorSpec(`${s}${s.includes(':') ? ',' : ':'}noise=0.02`, s.startsWith('color') ? rgb : img).noiseSigma, 0.02, s);
  }
});

test('bad specs throw TweedieError naming the key and the fix', () => {
  const img = [1, 32, 32];
  const cases: [string, readonly number[], RegExp[]][] = [
    ['mri:acel=4', img, [/unknown key 'acel'/, /did you mean accel/]],
    ['mri:accel=4,mask=radial', img, [/mask=radial/, /equispaced, random, poisson/]],
    ['mri:accel=64', img, [/accel=64 cannot be met for 32/]],
    ['mri:accel=8,acs=0.5', img, [/accel=8 cannot be met/, /centre alone/, /lower acs/]],
    ['mri:mask=poisson,accel=1.5,acs=0.9', img, [/calibration block/]],
    ['mri:accel=fast', img, [/accel=fast is not a number/]],
    ['mri:mask=random,offset=2', img, [/offset= applies to mask=equispaced/]],
    ['mri:coils=4,accel=4', [3, 32, 32], [/multi-coil/, /\[1, H, W\]/]],
    ['mri:accel=4,complex', img, [/complex mri images have 2 planes/]],
    ['ct:views=0', img, [/views=0/]],
    ['ct:views=60,angle=270', img, [/angle=270/, /\(0, 180\]/]],
    ['ct:views=10,filter=shepp', img, [/filter=shepp/, /ramlak or filter=hann/]],
    ['ct:views=10,scale=2', img, [/scale=/, /poisson=I0/]],
    ['sr:factor=3', img, [/factor=3 does not divide/, /32x32/]],
    ['sr:factor=2,kernel=lanczos', img, [/kernel=lanczos/]],
    ['inpaint', img, [/box=16, random=0.7/]],
    ['inpaint:random=0', img, [/observed fraction/]],
    ['inpaint:random=0.5,box=4', img, [/only one of/]],
    ['inpaint:box=40', img, [/box=40 is larger than the 32x32 image/]],
    ['inpaint:box=4,x=2', img, [/both x= and y=/]],
    ['inpaint:half=middle', img, [/half=middle/]],
    ['blur:gaussian,sigma=-1', img, [/sigma=-1/]],
    ['blur:gaussian,sigma=10', [1, 16, 16], [/larger than the 16x16 image/, /lower sigma/]],
    ['blur:motion,sigma=2', img, [/sigma= belongs to blur:gaussian/]],
    ['blur:sigma=2', img, [/say which blur/]],
    ['blur:gausian,sigma=2', img, [/unexpected 'gausian'/, /did you mean gaussian/]],
    ['color', img, [/RGB image \[3, H, W\]/]],
    ['identity:noise=abc', img, [/noise=abc is not a number/]],
    ['identity:noise=-1', img, [/noise=-1 must be >= 0/]],
    ['inpaint:random=0.5,random=0.6', img, [/given twice/]],
    ['superresolution:factor=2', img, [/unknown operator 'superresolution'/]],
    ['mir:accel=4', img, [/unknown operator 'mir'/, /did you mean .*mri/]],
    [`matrix:${MATRIX_NPY}`, [30], [/needs n = 30 columns/]],
  ];
  for (const [s, shape, patterns] of cases) assert.throws(() => parseOperatorSpec(s, shape), tweedie('BAD_CONFIG', ...patterns), s);
  // Files: an empty k-space mask, a missing file, wrong sizes.
  const empty = join(TMP, 'empty.npy');
  writeNpy(empty, Tensor.zeros([32, 32], 'float64'));
  assert.throws(() => parseOperatorSpec(`mri:mask=${empty}`, img), tweedie('BAD_CONFIG', /no samples/));
  assert.throws(() => parseOperatorSpec(`mri:mask=${MRI_MASK_NPY}`, img), tweedie('BAD_CONFIG', /shape \[16, 16\]/, /\[32, 32\]/));
  assert.throws(() => parseOperatorSpec(`inpaint:mask=${MASK_PNG}`, img), tweedie('BAD_SHAPE', /16x16 but the image is 32x32/));
  assert.throws(() => parseOperatorSpec(`mri:maps=${MAPS_NPY}`, img), tweedie('BAD_CONFIG', /16x16 but the images are 32x32/));
  assert.throws(() => parseOperatorSpec('matrix:/nonexistent/A.npy', [4]), tweedie('UNREADABLE_FILE', /nonexistent/));
  const blackPng = join(TMP, 'black.png');
  writePng(blackPng, { width: 4, height: 4, channels: 1, data: new Uint8Array(16) });
  assert.throws(() => parseOperatorSpec(`inpaint:mask=${blackPng}`, [1, 4, 4]), tweedie('BAD_CONFIG', /keeps no pixels/));
  // Shapes passed to an operator are checked with a hint.
  const op = parseOperatorSpec('sr:factor=2', img);
  assert.throws(() => op.forward(Tensor.zeros([1, 32, 32])), tweedie('BAD_SHAPE', /add a batch axis/));
});
