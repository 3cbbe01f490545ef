import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ddrm, DDRM_SOLVERS } from '../src/inverse/solvers/ddrm.js';
import { ddnm, ddnmNfe, DDNM_SOLVERS, timeTravelJumps } from '../src/inverse/solvers/ddnm.js';
import { runSolver } from '../src/inverse/solvers/run.js';
import type { SolverDef } from '../src/inverse/solvers/types.js';
import { parseOperatorSpec } from '../src/inverse/operators/spec-file.js';
import type { Operator } from '../src/inverse/operators/operator.js';
import { mixturePosterior } from '../src/inverse/exact-posterior.js';
import { GaussianMixture } from '../src/models/gmm.js';
import { NoiseSource, Stream } from '../src/core/rng.js';
import { Tensor } from '../src/core/tensor.js';
import { TweedieError } from '../src/core/errors.js';
import { makeGrid } from '../src/paths/grids.js';
import { ContinuousVPPath } from '../src/paths/vp.js';
import { pathByName } from '../src/paths/registry.js';
import type { Path } from '../src/paths/path.js';
import { initialState } from '../src/samplers/run.js';
import type { ParamValues } from '../src/samplers/types.js';
import { slicedWasserstein, sampleMean } from '../src/metrics/distribution.js';
import { imageMixture, posteriorProblem, scoreSolver } from '../bench/lib/posterior.js';

const fmt = (r: { swd: number; floor: number; meanError: number; nfe: number }): string =>
  `SWD ${r.swd.toFixed(3)} (floor ${r.floor.toFixed(3)}), mean error ${r.meanError.toFixed(3)}, NFE ${r.nfe}`;

function grid(path: Path, steps: number) {
  return makeGrid(path, { kind: 'logsnr-uniform', steps, tStart: path.tMax, tEnd: path.tMin, final: 'zero' });
}

async function solve(def: SolverDef, prior: GaussianMixture, op: Operator, y: Tensor, n: number, steps: number, params: Partial<ParamValues> = {}, opts: { sigmaY?: number; path?: Path; seed?: number } = {}) {
  const path = opts.path ?? new ContinuousVPPath();
  const g = grid(path, steps);
  const xT = initialState(new NoiseSource(41).normal([n, ...op.inShape], 0, Stream.init, 'float64'), g[0]!);
  return runSolver(def, prior.asDenoiser(path, 'eps'), g, op, y, xT, { noise: new NoiseSource(opts.seed ?? 42), params, ...(opts.sigmaY !== undefined ? { sigmaY: opts.sigmaY } : {}) });
}

/** max_b ||A x_b - y|| over a batch. */
function worstResidual(op: Operator, x: Tensor, y: Tensor): number {
  const ax = op.forward(x).data, m = y.size;
  let worst = 0;
  for (let b = 0; b < x.batch; b++) {
    let e = 0;
    for (let i = 0; i < m; i++) e += (ax[b * m + i]! - y.data[i]!) ** 2;
    worst = Math.max(worst, Math.sqrt(e));
  }
  return worst;
}

test('exported arrays', () => {
  assert.deepEqual(DDRM_SOLVERS.map((d) => d.name), ['ddrm']);
  assert.deepEqual(DDNM_SOLVERS.map((d) => d.name), ['ddnm']);
  for (const d of [ddrm, ddnm]) {
    assert.equal(d.needs.svd, true);
    for (const [k, p] of Object.entries(d.params)) assert.ok(p.doc.length > 10, `${d.name}.${k} has a doc`);
  }
  assert.equal(ddrm.params.eta!.default, 0.85);
  assert.equal(ddrm.params.eta_b!.default, 1);
  assert.equal(ddnm.params.eta!.default, 0.85);
});

test('ddrm: exact mixture posterior, d = 16 (measured level, error falls with steps)', async () => {
  const pb = posteriorProblem(16, 8, 0.1);
  const r20 = await scoreSolver(pb, ddrm, 20);
  const r100 = await scoreSolver(pb, ddrm, 100);
  console.log(`# ddrm d=16 20 steps: ${fmt(r20)}`);
  console.log(`# ddrm d=16 100 steps: ${fmt(r100)}`);
  assert.equal(r20.nfe, 20);
  assert.equal(r100.nfe, 100);
  // Measured: 20 steps SWD 1.272, mean error 4.361; 100 steps SWD 1.172, mean error 3.689 (floor 0.034).
  // Like score-sde, DDRM mostly misses the posterior's mixture component (prior weight 0.2, posterior 0.9996).
  assert.ok(r20.swd < 1.32 && r20.meanError < 4.5);
  assert.ok(r100.swd < 1.22 && r100.meanError < 3.85);
  assert.ok(r100.swd < r20.swd && r100.meanError < r20.meanError);
});

test('ddnm / ddnm+: exact mixture posterior, d = 16 (measured level)', async () => {
  const pb = posteriorProblem(16, 8, 0.1);
  const plus = await scoreSolver(pb, ddnm, 50);
  const hard = await scoreSolver(pb, ddnm, 50, { variant: 'ddnm' });
  console.log(`# ddnm+ d=16 50 steps: ${fmt(plus)}`);
  console.log(`# ddnm (hard projection) d=16 50 steps: ${fmt(hard)}`);
  assert.equal(plus.nfe, 50);
  // Measured: ddnm+ SWD 1.252, mean error 4.131; ddnm SWD 1.129, mean error 3.559 (floor 0.034).
  assert.ok(plus.swd < 1.30 && plus.meanError < 4.3);
  assert.ok(hard.swd < 1.18 && hard.meanError < 3.75);
});

test('ddnm+ is DDRM with eta_b = 1 (two independent code paths agree), apart from the DDRM initialisation', async () => {
  const pb = posteriorProblem(16, 8, 0.1);
  const prior = pb.prior;
  const a = await solve(ddrm, prior, pb.op, pb.y, 64, 30, { init_from_y: false });
  const b = await solve(ddnm, prior, pb.op, pb.y, 64, 30, { variant: 'ddnm+' });
  let diff = 0;
  for (let i = 0; i < a.x.size; i++) diff = Math.max(diff, Math.abs(a.x.data[i]! - b.x.data[i]!));
  assert.ok(diff < 1e-9, `max difference ${diff}`);
});

test('ddrm, ddnm: d = 64 exact posterior (measured level)', async () => {
  const pb = posteriorProblem(64, 32, 0.1, 1000);
  const r = await scoreSolver(pb, ddrm, 50, {}, undefined, 500);
  const h = await scoreSolver(pb, ddnm, 50, { variant: 'ddnm' }, undefined, 500);
  console.log(`# ddrm d=64 50 steps (500 samples): ${fmt(r)}`);
  console.log(`# ddnm d=64 50 steps (500 samples): ${fmt(h)}`);
  // Measured: ddrm SWD 0.150, mean error 0.552; ddnm SWD 0.088, mean error 0.343 (floor 0.033, NFE 50).
  assert.equal(r.nfe, 50);
  assert.ok(r.swd < 0.17 && r.meanError < 0.62);
  assert.ok(h.swd < 0.10 && h.meanError < 0.39);
});

test('noiseless measurement is met exactly by ddrm and ddnm', async () => {
  const pb = posteriorProblem(16, 8, 0.1, 10);
  for (const def of [ddrm, ddnm]) {
    const r = await solve(def, pb.prior, pb.op, pb.y, 16, 20, {}, { sigmaY: 0 });
    const res = worstResidual(pb.op, r.x, pb.y);
    // Exact up to the dense SVD's accuracy (measured 2e-8 for ddrm).
    assert.ok(res < 1e-6, `${def.name}: ||A x - y|| = ${res}`);
  }
});

test('time travel: schedule, NFE count and reports', async () => {
  // steps 10, length 2, repeat 3: travel points at grid indices 9, 7, 5, 3 (authors' k = 0, 2, 4, 6), 2 repeats each.
  assert.deepEqual([...timeTravelJumps(10, 2, 3).entries()], [[9, 2], [7, 2], [5, 2], [3, 2]]);
  assert.equal(ddnmNfe(10, 2, 3), 10 + 4 * 2 * 2);
  assert.equal(ddnmNfe(50, 5, 3), 140);
  assert.equal(ddnmNfe(50, 1, 1), 50);
  const pb = posteriorProblem(16, 8, 0.1, 10);
  const path = new ContinuousVPPath();
  const g = grid(path, 10);
  const xT = initialState(new NoiseSource(41).normal([8, 16], 0, Stream.init, 'float64'), g[0]!);
  let reports = 0;
  const r = await runSolver(ddnm, pb.prior.asDenoiser(path, 'eps'), g, pb.op, pb.y, xT, {
    noise: new NoiseSource(3),
    params: { travel_length: 2, travel_repeat: 3 },
    onStep: () => void reports++,
  });
  assert.equal(r.nfe, 26);
  assert.equal(reports, 26);
  assert.ok(r.x.data.every(Number.isFinite));
  await assert.rejects(
    () => runSolver(ddnm, pb.prior.asDenoiser(path, 'eps'), g, pb.op, pb.y, xT, { params: { travel_length: 10, travel_repeat: 2 } }),
    (e: unknown) => e instanceof TweedieError && e.code === 'BAD_CONFIG',
  );
});

test('deterministic for a seed, independent of the batch size; other paths run', async () => {
  const pb = posteriorProblem(16, 8, 0.1, 10);
  for (const def of [ddrm, ddnm]) {
    const a = await solve(def, pb.prior, pb.op, pb.y, 8, 15);
    const b = await solve(def, pb.prior, pb.op, pb.y, 8, 15);
    const c = await solve(def, pb.prior, pb.op, pb.y, 4, 15);
    assert.deepEqual(a.x.data, b.x.data);
    assert.deepEqual(a.x.data.slice(0, 4 * 16), c.x.data);
    for (const name of ['vp', 've', 'edm', 'vp-cosine']) {
      const r = await solve(def, pb.prior, pb.op, pb.y, 4, 15, {}, { path: pathByName(name) });
      assert.ok(r.x.data.every(Number.isFinite), `${def.name} on ${name}`);
    }
    // Rectified flow (a = 1 - t) from t = 0.99, with an x0-predicting model.
    const flow = pathByName('flow');
    const g = makeGrid(flow, { kind: 'time-uniform', steps: 15, tStart: 0.99, tEnd: flow.tMin, final: 'zero' });
    const xT = initialState(new NoiseSource(41).normal([4, 16], 0, Stream.init, 'float64'), g[0]!);
    const r = await runSolver(def, pb.prior.asDenoiser(flow, 'x0'), g, pb.op, pb.y, xT, { noise: new NoiseSource(42) });
    assert.ok(r.x.data.every(Number.isFinite), `${def.name} on flow`);
  }
});

test('operators without an SVD are refused with UNSUPPORTED', async () => {
  const op = parseOperatorSpec('ct:views=6', [1, 8, 8]);
  assert.equal(op.svd, undefined);
  const prior = imageMixture();
  for (const def of [ddrm, ddnm]) {
    await assert.rejects(
      () => solve(def, prior, op, op.forward(prior.sample(1, 1, 'float64').reshape([1, 1, 8, 8])), 2, 5),
      (e: unknown) => e instanceof TweedieError && e.code === 'UNSUPPORTED' && /SVD/.test(e.message),
    );
  }
});


/** The dense matrix of an operator (columns A e_j), for the exact posterior. */
function denseMatrix(op: Operator): { A: Float64Array; m: number } {
  const d = op.inShape.reduce((p, q) => p * q, 1), m = op.outShape.reduce((p, q) => p * q, 1);
  const E = Tensor.zeros([d, ...op.inShape], 'float64');
  for (let j = 0; j < d; j++) E.data[j * d + j] = 1;
  const cols = op.forward(E).data;
  const A = new Float64Array(m * d);
  for (let j = 0; j < d; j++) for (let i = 0; i < m; i++) A[i * d + j] = cols[j * m + i]!;
  return { A, m };
}

/**
 * Measured SWD / posterior-mean error against the exact posterior (400 samples, 30 steps; floors inpaint 0.038,
 * sr 0.060, mri 0.070), in the order ddrm, ddnm (hard projection), ddnm+ with time travel (length 5, repeat 2):
 *   inpaint:box=4  0.068/0.079  0.070/0.073  0.061/0.074
 *   sr:factor=2    0.118/0.545  0.115/0.424  0.113/0.441
 *   mri:accel=4    0.880/5.217  0.869/5.117  0.879/5.209   (posterior bimodal, weights 0.58/0.41: every method
 *                                                            here, score-sde too, misses the weights)
 */
const IMAGE_CASES: readonly { spec: string; bounds: readonly (readonly [number, number])[] }[] = [
  { spec: 'inpaint:box=4,noise=0.05', bounds: [[0.076, 0.09], [0.078, 0.085], [0.07, 0.085]] },
  { spec: 'sr:factor=2,noise=0.05', bounds: [[0.13, 0.6], [0.13, 0.47], [0.125, 0.49]] },
  { spec: 'mri:accel=4,noise=0.05', bounds: [[0.95, 5.6], [0.94, 5.5], [0.95, 5.6]] },
];

for (const { spec, bounds } of IMAGE_CASES) {
  test(`image operators: ${spec} on a [1, 8, 8] mixture (shape, finite, fits y, exact-posterior SWD)`, async () => {
    const prior = imageMixture();
    const op = parseOperatorSpec(spec, [1, 8, 8]);
    assert.ok(op.svd, `${spec} has an SVD`);
    const x = prior.sample(1, 5, 'float64').reshape([1, 1, 8, 8]);
    const y = op.measure(x, new NoiseSource(22));
    const { A, m } = denseMatrix(op);
    const post = mixturePosterior(prior, A, m, y.data, op.noiseSigma);
    const n = 400;
    const exact = post.sample(n, 31, 'float64');
    const floor = slicedWasserstein(exact.data, post.sample(n, 32, 'float64').data, 64, { projections: 64, seed: 9 });
    const em = post.moments().mean;
    const priorFit = worstResidual(op, new Tensor([1, 1, 8, 8], prior.moments().mean), y);
    const runs: readonly [SolverDef, Partial<ParamValues>, number][] = [
      [ddrm, {}, 30],
      [ddnm, { variant: 'ddnm' }, 30],
      [ddnm, { travel_length: 5, travel_repeat: 2 }, ddnmNfe(30, 5, 2)],
    ];
    for (const [k, [def, params, nfe]] of runs.entries()) {
      const r = await solve(def, prior, op, y, n, 30, params);
      assert.deepEqual(r.x.shape, [n, 1, 8, 8]);
      assert.ok(r.x.data.every(Number.isFinite));
      assert.equal(r.nfe, nfe);
      const mean = new Tensor([1, 1, 8, 8], sampleMean(r.x.data, 64));
      const fit = worstResidual(op, mean, y);
      const swd = slicedWasserstein(r.x.data, exact.data, 64, { projections: 64, seed: 9 });
      let e = 0;
      for (let j = 0; j < 64; j++) e += (mean.data[j]! - em[j]!) ** 2;
      const err = Math.sqrt(e);
      console.log(`# ${def.name} ${JSON.stringify(params)} ${spec}: SWD ${swd.toFixed(3)} (floor ${floor.toFixed(3)}), mean error ${err.toFixed(3)}, ||A mean - y|| ${fit.toFixed(3)} vs prior mean ${priorFit.toFixed(3)}, NFE ${r.nfe}`);
      assert.ok(fit < priorFit, `${def.name} fits y better than the prior mean`);
      const [bs, be] = bounds[k]!;
      assert.ok(swd < bs && err < be, `${def.name} ${JSON.stringify(params)}: SWD ${swd}, mean error ${err}`);
    }
  });
}

test('float32 images, noiseless operators from the spec parser: A x = y met to float32 precision', async () => {
  const prior = imageMixture();
  for (const spec of ['inpaint:box=4', 'sr:factor=2', 'mri:accel=4', 'blur:gaussian,sigma=1,size=3']) {
    const op = parseOperatorSpec(spec, [1, 8, 8]);
    const y = op.measure(prior.sample(1, 5, 'float32').reshape([1, 1, 8, 8]), new NoiseSource(22));
    const path = new ContinuousVPPath();
    const g = grid(path, 20);
    const xT = initialState(new NoiseSource(41).normal([4, 1, 8, 8], 0, Stream.init, 'float32'), g[0]!);
    for (const def of [ddrm, ddnm]) {
      const r = await runSolver(def, prior.asDenoiser(path, 'eps'), g, op, y, xT, { noise: new NoiseSource(42) });
      assert.equal(r.x.dtype, 'float32');
      assert.deepEqual(r.x.shape, [4, 1, 8, 8]);
      // Measured max |A x - y|: 0 (inpaint), 6e-8 (sr), 1.2e-7 (mri), 3.6e-6 (blur).
      const ax = op.forward(r.x).data;
      for (let i = 0; i < ax.length; i++) assert.ok(Math.abs(ax[i]! - y.data[i % y.size]!) < 2e-5, `${def.name} ${spec}`);
    }
  }
});
