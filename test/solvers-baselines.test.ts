import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TweedieError } from '../src/core/errors.js';
import { NoiseSource } from '../src/core/rng.js';
import { Tensor } from '../src/core/tensor.js';
import { CTOperator } from '../src/inverse/operators/ct.js';
import { parseOperatorSpec } from '../src/inverse/operators/spec-file.js';
import { MatrixOperator } from '../src/inverse/operators/matrix.js';
import { InpaintingOperator, randomPixelMask } from '../src/inverse/operators/inpainting.js';
import type { Operator } from '../src/inverse/operators/operator.js';
import { sheppLoganPhantom } from '../src/inverse/operators/phantoms.js';
import {
  BASELINE_SOLVERS,
  TV_DEFAULT_LAMBDA,
  fbp,
  gradient2d,
  gradientAdjoint2d,
  pinv,
  pseudoInverse,
  solveTV,
  totalVariation,
  tv,
  tvObjective,
  zeroFilled,
} from '../src/inverse/solvers/baselines.js';
import { runSolver } from '../src/inverse/solvers/run.js';
import type { SolverDef } from '../src/inverse/solvers/types.js';
import type { ParamValues } from '../src/samplers/types.js';
import { psnr } from '../src/metrics/image.js';

/** Shepp-Logan in [-1, 1] (range 2), [1, 1, n, n], antialiased. */
function phantom(n: number): Tensor {
  const p = sheppLoganPhantom(n, n, 4);
  return new Tensor([1, 1, n, n], Float64Array.from(p.data, (v) => 2 * v - 1));
}

async function solve(def: SolverDef, op: Operator, y: Tensor, params: Partial<ParamValues> = {}, batch = 1): Promise<{ x: Tensor; steps: number; nfe: number }> {
  let steps = 0;
  const r = await runSolver(def, null, [], op, y, Tensor.zeros([batch, ...op.inShape]), { params, onStep: () => void steps++ });
  return { x: r.x, steps, nfe: r.nfe };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function gaussianMatrix(m: number, n: number, seed: number): Float64Array {
  return Float64Array.from(new NoiseSource(seed).normal([1, m * n], 0, 0, 'float64').data, (v) => v / Math.sqrt(n));
}

test('baselines: names, no prior, no NFE', () => {
  assert.deepEqual(BASELINE_SOLVERS.map((d) => d.name), ['zero-filled', 'pinv', 'fbp', 'tv']);
  for (const d of BASELINE_SOLVERS) {
    assert.equal(d.needs.noPrior, true);
    assert.equal(d.nfePerStep, 0);
    assert.equal(d.stochastic, false);
    for (const [k, p] of Object.entries(d.params)) assert.ok(p.doc.length > 10, `${d.name}.${k} documented`);
  }
  assert.equal(tv.params.lambda!.default, TV_DEFAULT_LAMBDA);
  assert.equal(tv.params.iterations!.default, 300);
  assert.equal(tv.params.nonneg!.default, false);
});

test('zero-filled is the adjoint: MRI zero-filled inverse FFT, multi-coil SENSE adjoint', async () => {
  const x = phantom(16);
  const mri = parseOperatorSpec('mri:accel=4', [1, 16, 16]) as Operator & { zeroFilled(y: Tensor): Tensor };
  const y = mri.forward(x);
  const r = await solve(zeroFilled, mri, y);
  assert.deepEqual(r.x.shape, [1, 1, 16, 16]);
  assert.equal(r.x.dtype, 'float32');
  assert.equal(r.nfe, 0);
  assert.equal(r.steps, 1);
  assert.ok(maxAbsDiff(r.x.data, mri.zeroFilled(y).data) < 1e-6);
  const mc = parseOperatorSpec('mri:coils=4,accel=4', [1, 16, 16]) as Operator & { zeroFilled(y: Tensor): Tensor };
  const yc = mc.forward(x);
  const rc = await solve(zeroFilled, mc, yc);
  assert.ok(maxAbsDiff(rc.x.data, mc.zeroFilled(yc).data) < 1e-6);
  // other operators: plain A^T y (inpainting: the masked image)
  const inp = parseOperatorSpec('inpaint:box=6', [1, 16, 16]);
  const ri = await solve(zeroFilled, inp, inp.forward(x));
  assert.ok(maxAbsDiff(ri.x.data, inp.adjoint(inp.forward(x)).data) < 1e-6);
});

test('pinv: exact on a full-rank dense matrix (closed form and CGLS) and on inpainting', async () => {
  // Tall full-column-rank 24 x 16: A^+ A x = x.
  const A = new MatrixOperator(gaussianMatrix(24, 16, 3), 24, 16);
  const x = new NoiseSource(4).normal([2, 16], 0, 0, 'float64');
  const y = A.forward(x);
  const closed = pseudoInverse(A, y);
  assert.equal(closed.method, 'pinv');
  const eClosed = maxAbsDiff(closed.x.data, x.data);
  const cg = pseudoInverse(A, y, { method: 'cg' });
  assert.equal(cg.method, 'cgls');
  const eCg = maxAbsDiff(cg.x.data, x.data);
  console.log(`# pinv dense 24x16: |A^+ A x - x| closed ${eClosed.toExponential(1)}, CGLS ${eCg.toExponential(1)} (${cg.iterations} it)`);
  assert.ok(eClosed < 1e-9, `closed form ${eClosed}`);
  assert.ok(eCg < 1e-8, `CGLS ${eCg}`);
  // Wide 8 x 16: CGLS from 0 gives the minimum-norm solution, i.e. the same A^+ y as the SVD.
  const W = new MatrixOperator(gaussianMatrix(8, 16, 5), 8, 16);
  const yw = W.forward(x);
  const wSvd = pseudoInverse(W, yw), wCg = pseudoInverse(W, yw, { method: 'cg' });
  assert.ok(maxAbsDiff(wSvd.x.data, wCg.x.data) < 1e-8);
  assert.ok(maxAbsDiff(W.forward(wCg.x).data, yw.data) < 1e-8);
  // Tikhonov lambda > 0 equals the closed-form prox with v = 0: (A^T A + lambda I)^-1 A^T y.
  const tik = pseudoInverse(W, yw, { lambda: 0.3 });
  const ref = W.proxDataConsistency(Tensor.zeros([2, 16], 'float64'), yw, 0.3, 1);
  assert.ok(maxAbsDiff(tik.x.data, ref.data) < 1e-8);
  // Through the solver (float32 state).
  const r = await solve(pinv, A, y.sliceBatch(0, 1));
  assert.ok(maxAbsDiff(r.x.data, x.data.subarray(0, 16)) < 1e-5);

  // Inpainting: A^+ A x = M x, by the closed form and by CGLS.
  const mask = randomPixelMask(12, 12, 0.4, 2);
  const inp = new InpaintingOperator([2, 12, 12], mask);
  const xi = new NoiseSource(6).normal([1, 2, 12, 12], 0, 0, 'float64');
  const masked = Float64Array.from(xi.data, (v, i) => v * mask[i % 144]!);
  const yi = inp.forward(xi);
  assert.ok(maxAbsDiff(pseudoInverse(inp, yi).x.data, masked) < 1e-12);
  assert.ok(maxAbsDiff(pseudoInverse(inp, yi, { method: 'cg' }).x.data, masked) < 1e-10);
  const rs = await solve(pinv, inp, yi, { method: 'cg' });
  assert.ok(maxAbsDiff(rs.x.data, masked) < 1e-5);
});

test('pinv: operators without a closed form (multi-coil MRI) use CGLS to the normal equations', () => {
  const mc = parseOperatorSpec('mri:coils=4,accel=4', [1, 16, 16]);
  const x = phantom(16);
  const y = mc.forward(x);
  const r = pseudoInverse(mc, y, { tol: 1e-10 });
  assert.equal(r.method, 'cgls');
  const res = mc.adjoint(mc.forward(r.x)).data, aty = mc.adjoint(y).data;
  const err = maxAbsDiff(res, aty) / Math.max(...Array.from(aty, Math.abs));
  console.log(`# pinv multi-coil 16x16: CGLS ${r.iterations} it, normal-equation residual ${err.toExponential(1)}, PSNR ${psnr(r.x, x, 2)[0]!.toFixed(2)} dB`);
  assert.ok(err < 1e-8);
});

test('fbp: equals the CT operator\'s fbp; other operators get a clear error', async () => {
  const x = phantom(32);
  const ct = parseOperatorSpec('ct:views=30', [1, 32, 32]) as CTOperator;
  const y = ct.forward(x);
  const r = await solve(fbp, ct, y);
  assert.ok(maxAbsDiff(r.x.data, ct.fbp(y).data) < 1e-5);
  const h = await solve(fbp, ct, y, { filter: 'hann' });
  assert.ok(maxAbsDiff(h.x.data, ct.fbp(y, 'hann').data) < 1e-5);
  const mri = parseOperatorSpec('mri:accel=4', [1, 32, 32]);
  await assert.rejects(solve(fbp, mri, mri.forward(x)), (e: unknown) => {
    assert.ok(e instanceof TweedieError);
    assert.equal(e.code, 'UNSUPPORTED');
    assert.match(e.message, /CT/);
    assert.match(e.message, /zero-filled/);
    assert.match(e.message, /pinv/);
    return true;
  });
});

test('tv: gradient adjoint and TV value', () => {
  const planes = 2, h = 5, w = 7, n = planes * h * w;
  const x = new NoiseSource(1).normal([1, n], 0, 0, 'float64').data;
  const qh = new NoiseSource(2).normal([1, n], 0, 0, 'float64').data as Float64Array;
  const qv = new NoiseSource(3).normal([1, n], 0, 0, 'float64').data as Float64Array;
  const gh = new Float64Array(n), gv = new Float64Array(n), gt = new Float64Array(n);
  gradient2d(x, planes, h, w, gh, gv);
  gradientAdjoint2d(qh, qv, planes, h, w, gt);
  let lhs = 0, rhs = 0;
  for (let k = 0; k < n; k++) {
    lhs += gh[k]! * qh[k]! + gv[k]! * qv[k]!;
    rhs += x[k]! * gt[k]!;
  }
  assert.ok(Math.abs(lhs - rhs) < 1e-12 * Math.max(1, Math.abs(lhs)));
  // A unit step across a 4 x 4 plane has TV 4 (one jump per row).
  const step = Float64Array.from({ length: 16 }, (_, k) => (k % 4 >= 2 ? 1 : 0));
  assert.equal(totalVariation(step, 1, 4, 4), 4);
});

test('tv beats zero-filled on MRI (accel 4) and FBP on sparse-view CT (30 views), 64x64 Shepp-Logan', async () => {
  const x = phantom(64);
  const mri = parseOperatorSpec('mri:accel=4', [1, 64, 64]);
  const ym = mri.forward(x);
  const zf = psnr((await solve(zeroFilled, mri, ym)).x.toDtype('float64'), x, 2)[0]!;
  const tvm = await solve(tv, mri, ym);
  const pm = psnr(tvm.x.toDtype('float64'), x, 2)[0]!;
  assert.equal(tvm.steps, 300); // one report per iteration
  const ct = parseOperatorSpec('ct:views=30', [1, 64, 64]);
  const yc = ct.forward(x);
  const pf = psnr((await solve(fbp, ct, yc)).x.toDtype('float64'), x, 2)[0]!;
  const pc = psnr((await solve(tv, ct, yc)).x.toDtype('float64'), x, 2)[0]!;
  console.log(`# 64x64 Shepp-Logan [-1,1], PSNR dB: mri:accel=4 zero-filled ${zf.toFixed(2)}, tv ${pm.toFixed(2)}; ct:views=30 fbp ${pf.toFixed(2)}, tv ${pc.toFixed(2)}`);
  // Measured: zero-filled 17.70, tv 21.73 (+4.0 dB); fbp 20.92, tv 28.53 (+7.6 dB).
  assert.ok(pm > zf + 3.5, `mri tv ${pm} vs zero-filled ${zf}`);
  assert.ok(pc > pf + 7, `ct tv ${pc} vs fbp ${pf}`);
});

test('tv: the objective decreases and converges (300 vs 1000 iterations within 1e-3), 32x32', async () => {
  const x = phantom(32);
  for (const spec of ['mri:accel=4', 'ct:views=30']) {
    const op = parseOperatorSpec(spec, [1, 32, 32]);
    const y = op.forward(x);
    const long = await solveTV(op, y, { lambda: TV_DEFAULT_LAMBDA, iterations: 1000, trackObjective: true });
    const o = long.objective;
    assert.equal(o.length, 1000);
    // The tracked objective is the true one.
    const direct = tvObjective(op, long.x, y, long.lambdaAbs);
    assert.ok(Math.abs(direct - o[999]!) < 1e-9 * direct);
    const short = await solveTV(op, y, { lambda: TV_DEFAULT_LAMBDA, iterations: 300, trackObjective: true });
    assert.ok(maxAbsDiff(short.objective, o.slice(0, 300)) === 0, 'deterministic');
    const rel = (o[299]! - o[999]!) / o[999]!;
    console.log(`# tv ${spec} 32x32: objective @10 ${o[9]!.toExponential(4)} @100 ${o[99]!.toExponential(4)} @300 ${o[299]!.toExponential(6)} @1000 ${o[999]!.toExponential(6)}; (300 - 1000) / 1000 = ${rel.toExponential(2)}`);
    // Measured: mri 1.5e-4, ct 2.5e-4 (64x64: 1.0e-3 and 4.8e-4).
    assert.ok(o[999]! < o[99]! && o[99]! < o[9]!);
    assert.ok(Math.abs(rel) < 1e-3, `${spec}: ${rel}`);
    // Also below the zero image and the least-squares start.
    assert.ok(o[999]! < tvObjective(op, Tensor.zeros([1, 1, 32, 32], 'float64'), y, long.lambdaAbs));
  }
});

test('tv: options (nonneg, absolute lambda, step ratio), batches and colour images, any operator', async () => {
  const x1 = phantom(16);
  const ct = parseOperatorSpec('ct:views=12', [1, 16, 16]);
  const xp = new Tensor(x1.shape, Float64Array.from(x1.data, (v) => (v + 1) / 2)); // [0, 1] attenuation
  const yc = ct.forward(xp);
  const nn = await solve(tv, ct, yc, { nonneg: true, iterations: 100 });
  assert.ok(Math.min(...nn.x.data) >= 0);
  // scaleLambda = false with lambda * ||A||^2 is the same problem.
  const nA = ct.normEstimate();
  const a = await solveTV(ct, yc, { lambda: 0.002, iterations: 50 });
  const b = await solveTV(ct, yc, { lambda: 0.002 * nA * nA, iterations: 50, scaleLambda: false });
  assert.ok(maxAbsDiff(a.x.data, b.x.data) < 1e-9);
  assert.ok(Math.abs(a.lambdaAbs - 0.002 * nA * nA) < 1e-9 * a.lambdaAbs);
  // A fixed step ratio converges to the same minimiser.
  const f1 = await solveTV(ct, yc, { lambda: 0.002, iterations: 3000, stepRatio: 5, trackObjective: true });
  const f2 = await solveTV(ct, yc, { lambda: 0.002, iterations: 3000, trackObjective: true });
  assert.ok(Math.abs(f1.objective.at(-1)! - f2.objective.at(-1)!) < 1e-4 * f2.objective.at(-1)!);

  // Colour image, batch of 2 with different measurements, on several operators: finite, right
  // shape, deterministic, and fits y better than the zero image.
  const c3 = new NoiseSource(7).normal([2, 3, 16, 16], 0, 0, 'float32');
  for (const spec of ['inpaint:box=6', 'sr:factor=2', 'blur:gaussian,sigma=1', 'mri:accel=4']) {
    const op = parseOperatorSpec(spec, [3, 16, 16]);
    const y = op.forward(c3);
    const r1 = await solve(tv, op, y, { iterations: 60 }, 2);
    const r2 = await solve(tv, op, y, { iterations: 60 }, 2);
    assert.deepEqual(r1.x.shape, [2, 3, 16, 16]);
    assert.ok(r1.x.data.every(Number.isFinite));
    assert.deepEqual(r1.x.data, r2.x.data);
    const ax = op.forward(r1.x).data;
    let fit = 0, zero = 0;
    for (let i = 0; i < ax.length; i++) {
      fit += (ax[i]! - y.data[i]!) ** 2;
      zero += y.data[i]! ** 2;
    }
    assert.ok(fit < 0.1 * zero, `${spec}: residual ${fit} vs ${zero}`);
    // batch items are independent: item 1 alone gives the same result
    const solo = await solve(tv, op, y.sliceBatch(1, 2).clone(), { iterations: 60 });
    assert.ok(maxAbsDiff(solo.x.data, r1.x.data.subarray(3 * 256)) < 1e-4);
  }
  // A dense operator on vectors: TV along the single row.
  const M = new MatrixOperator(gaussianMatrix(10, 16, 9), 10, 16);
  const v = Tensor.from([1, 16], Array.from({ length: 16 }, (_, i) => (i < 8 ? -1 : 1)), 'float64');
  const rv = await solveTV(M, M.forward(v), { lambda: 0.001, iterations: 2000 });
  assert.ok(maxAbsDiff(rv.x.data, v.data) < 0.05, 'piecewise-constant vector recovered from 10 of 16 measurements');
});
