import { test } from 'node:test';
import assert from 'node:assert/strict';
import { condDc } from '../src/inverse/solvers/cond-dc.js';
import { runSolver } from '../src/inverse/solvers/run.js';
import { mixturePosterior } from '../src/inverse/exact-posterior.js';
import { MRIOperator } from '../src/inverse/operators/mri.js';
import { lineMask2D } from '../src/inverse/operators/mri-masks.js';
import { InpaintingOperator } from '../src/inverse/operators/inpainting.js';
import { NoiseSource, Stream } from '../src/core/rng.js';
import { Tensor } from '../src/core/tensor.js';
import { TweedieError } from '../src/core/errors.js';
import { parseConditionSpecs } from '../src/models/conditioning.js';
import type { GaussianMixture } from '../src/models/gmm.js';
import type { Conditioning, Denoiser } from '../src/models/denoiser.js';
import type { ParamValues } from '../src/samplers/types.js';
import { makeGrid } from '../src/paths/grids.js';
import { ContinuousVPPath } from '../src/paths/vp.js';
import { FlowPath } from '../src/paths/ve.js';
import type { Path } from '../src/paths/path.js';
import { initialState } from '../src/samplers/run.js';
import { slicedWasserstein } from '../src/metrics/distribution.js';
import { imageMixture, measurementResidual } from '../bench/lib/posterior.js';

// The exact oracle: a 4-component mixture prior on 8x8 real images, single-coil Cartesian MRI on columns {1, 3, 4, 5}
// (DC at 4; column 1's mirror 7 is not sampled, so the real operator weighs it 1/2). The posterior of a mixture under a
// linear Gaussian measurement is a mixture (exact-posterior.ts); its denoiser is exact at every noise level.
const SHAPE = [1, 8, 8] as const, D = 64, N = 1000, STEPS = 50;
const path = new ContinuousVPPath();
const columns = (cols: number[]): Uint8Array => lineMask2D(Array.from({ length: 8 }, (_, j) => (cols.includes(j) ? 1 : 0)), 8);
const mri = (cols: number[], sigma = 0): MRIOperator => new MRIOperator(SHAPE, { mask: columns(cols), noiseSigma: sigma, label: `columns ${cols.join(',')}` });

/**
 * The measurement in the operator's SVD, which carries all its information: y_r = (U^T y) on s > 0 = S_r V_r^T x + noise
 * of std sigma, a dense r x d matrix A_r = S_r V_r^T.
 */
function reducedOperator(op: MRIOperator): { A: Float64Array; rows: number[] } {
  const svd = op.svd, s = svd.singularValues;
  const vt = svd.applyVt(new Tensor([D, ...SHAPE], Float64Array.from({ length: D * D }, (_, k) => (Math.floor(k / D) === k % D ? 1 : 0)))).data; // row b: V^T e_b
  const rows = [...s.keys()].filter((i) => s[i]! > 0);
  const A = new Float64Array(rows.length * D);
  rows.forEach((i, r) => { for (let j = 0; j < D; j++) A[r * D + j] = s[i]! * vt[j * D + i]!; });
  return { A, rows };
}

/** y_r from the zero-filled image c = A^T y: V^T c = S U^T y, so y_r = (V^T c) / s on s > 0 (one item). */
function measurementFromCondition(op: MRIOperator, c: Tensor, rows: number[]): Float64Array {
  const v = op.svd.applyVt(new Tensor([1, ...SHAPE], Float64Array.from(c.data.subarray(0, D)))).data, s = op.svd.singularValues;
  return Float64Array.from(rows, (i) => v[i]! / s[i]!);
}

/**
 * The conditional model E[x0 | x_t, y]: it reads the zero-filled image it is given, recovers y from it and runs the
 * exact posterior's denoiser; `fixed` instead ignores the condition's values (a model that is right whatever the solver feeds it).
 */
function conditionalOracle(prior: GaussianMixture, op: MRIOperator, sigma: number, fixed?: GaussianMixture, on: Path = path): Denoiser {
  const { A, rows } = reducedOperator(op);
  let last: { key: string; post: Denoiser } | null = null;
  return {
    prediction: on.family === 'flow' ? 'velocity' : 'eps',
    path: on,
    itemShape: SHAPE,
    conditions: { zf: { kind: 'image', input: 'zf', shape: SHAPE, valueRange: [-20, 20], unconditional: null, from: 'zero-filled' } },
    predict(x: Tensor, t: number, cond?: Conditioning): Promise<Tensor> {
      const c = cond?.inputs?.zf;
      assert.ok(c && c.batch === x.batch, 'the condition comes with every call, one per item');
      for (let b = 1; b < c.batch; b++) for (let j = 0; j < D; j++) assert.equal(c.data[b * D + j], c.data[j], 'one measurement for all samples');
      const key = Array.from(c.data.subarray(0, D)).join();
      if (last?.key !== key) last = { key, post: (fixed ?? mixturePosterior(prior, A, rows.length, measurementFromCondition(op, c, rows), sigma)).asDenoiser(on, on.family === 'flow' ? 'velocity' : 'eps') };
      return last.post.predict(x, t);
    },
  };
}

interface Problem { prior: GaussianMixture; op: MRIOperator; y: Tensor; exact: Tensor; floor: number; posterior: GaussianMixture }

function problem(sigma: number): Problem {
  const prior = imageMixture(), op = mri([1, 3, 4, 5], sigma);
  const y = op.measure(prior.sample(1, 5), new NoiseSource(22));
  const { A, rows } = reducedOperator(op);
  const yr = Float64Array.from(rows, (i) => op.svd.applyUt(y).data[i]!);
  const posterior = mixturePosterior(prior, A, rows.length, yr, sigma);
  const exact = posterior.sample(N, 31, 'float64');
  const floor = slicedWasserstein(exact.data, posterior.sample(N, 32, 'float64').data, D, { projections: 128, seed: 9 });
  return { prior, op, y, exact, floor, posterior };
}

/** Runs cond-dc; eta 0 (DDIM's step) unless given: with an exact model that samples the posterior exactly. */
async function sample(model: Denoiser, op: MRIOperator, y: Tensor, params: Partial<ParamValues> = {}): Promise<{ x: Tensor; nfe: number }> {
  // On rectified flow a = 0 at t = 1 says nothing about x0: start just after it (as bench/lib/posterior.ts).
  const p = model.path, flow = p.family === 'flow';
  const grid = makeGrid(p, { kind: 'logsnr-uniform', steps: STEPS, tStart: flow ? 0.995 : p.tMax, tEnd: p.tMin, final: 'zero' });
  const xT = initialState(new NoiseSource(41).normal([N, ...SHAPE], 0, Stream.init, 'float64'), grid[0]!);
  return runSolver(condDc, model, grid, op, y, xT, { noise: new NoiseSource(42), params: { eta: 0, ...params } });
}

const swd = (x: Tensor, pb: Problem): number => slicedWasserstein(x.data, pb.exact.data, D, { projections: 128, seed: 9 });
/** Within 2.25x the finite-sample floor, the level of the sampler distribution tests (test/helpers/swd.ts). */
const LEVEL = 2.25;

test('cond-dc, noiseless, hard replacement: exact posterior samples, and A x = y to rounding (VP and rectified-flow paths)', async () => {
  const pb = problem(0);
  for (const on of [path, new FlowPath()]) {
    const r = await sample(conditionalOracle(pb.prior, pb.op, 0, undefined, on), pb.op, pb.y);
    const d = swd(r.x, pb), res = measurementResidual(pb.op, r.x, pb.y);
    console.log(`# cond-dc hard on ${on.family}, sigma_y 0: SWD ${d.toFixed(4)} (floor ${pb.floor.toFixed(4)}), ||A x - y|| ${res.toExponential(2)}, NFE ${r.nfe}`);
    assert.equal(r.nfe, STEPS);
    assert.ok(d < LEVEL * pb.floor, `${on.family}: SWD ${d} above ${LEVEL} x floor ${pb.floor}`);
    assert.ok(res < 1e-12 * Math.sqrt(pb.y.size), `${on.family}: A x = y to rounding: ${res}`);
  }
});

test('cond-dc: data consistency on the wrong lines fails the bound; the same model without it does not', async () => {
  const pb = problem(0);
  // A model right whatever its condition; the solver measures columns {2, 3, 4, 6} of the same truth and enforces them.
  const wrong = mri([2, 3, 4, 6]), truth = pb.prior.sample(1, 5);
  const model = conditionalOracle(pb.prior, pb.op, 0, pb.posterior);
  const bad = await sample(model, wrong, wrong.forward(truth));
  const none = await sample(model, wrong, wrong.forward(truth), { dc: 'none' });
  const dBad = swd(bad.x, pb), dNone = swd(none.x, pb);
  console.log(`# cond-dc on wrong lines: SWD ${dBad.toFixed(4)}; dc=none ${dNone.toFixed(4)} (floor ${pb.floor.toFixed(4)})`);
  assert.ok(dNone < LEVEL * pb.floor, 'the model alone samples the posterior');
  assert.ok(dBad > 2 * LEVEL * pb.floor, `wrong lines enforced: SWD ${dBad} should fail the bound ${LEVEL * pb.floor}`);
});

test('cond-dc, noisy measurement: soft (proximal) data consistency against the exact posterior', async () => {
  const pb = problem(0.1);
  const model = conditionalOracle(pb.prior, pb.op, 0.1);
  const soft = await sample(model, pb.op, pb.y);
  const none = await sample(model, pb.op, pb.y, { dc: 'none' });
  const hard = await sample(model, pb.op, pb.y, { dc: 'hard' });
  const [dSoft, dNone, dHard] = [soft, none, hard].map((r) => swd(r.x, pb));
  console.log(`# cond-dc sigma_y 0.1: soft SWD ${dSoft.toFixed(4)}, none ${dNone.toFixed(4)}, hard ${dHard.toFixed(4)} (floor ${pb.floor.toFixed(4)})`);
  assert.ok(dNone < LEVEL * pb.floor, 'the exact conditional model alone samples the noisy posterior');
  // Measured: soft 0.0394, none 0.0315, hard 0.0450 (floor 0.0255): the model already holds y, so any data step double-counts it a little.
  assert.ok(dSoft < LEVEL * pb.floor, `soft data consistency: SWD ${dSoft} above ${LEVEL} x floor ${pb.floor}`);
  assert.ok(dSoft < dHard, 'the proximal form departs from the posterior less than hard replacement of noisy lines');
});

test("cond-dc's default eta = 1 (DiffPIR's zeta for masks) leans to the posterior mean: closer to it than exact samples, so not an exact sampler", async () => {
  const pb = problem(0);
  const model = conditionalOracle(pb.prior, pb.op, 0);
  const fresh = await sample(model, pb.op, pb.y, { eta: condDc.params.eta!.default as number });
  const mean = new Float64Array(D);
  for (let i = 0; i < N; i++) for (let j = 0; j < D; j++) mean[j]! += pb.exact.data[i * D + j]! / N;
  const spread = (x: Tensor) => { let s = 0; for (let i = 0; i < x.batch; i++) for (let j = 0; j < D; j++) s += (x.data[i * D + j]! - mean[j]!) ** 2; return s / x.batch; };
  const dFresh = swd(fresh.x, pb);
  console.log(`# cond-dc eta 1: mean squared distance to the posterior mean ${spread(fresh.x).toFixed(4)} against ${spread(pb.exact).toFixed(4)} for exact samples; SWD ${dFresh.toFixed(4)} (floor ${pb.floor.toFixed(4)})`);
  assert.equal(condDc.params.eta!.default, 1);
  assert.ok(spread(fresh.x) < 0.8 * spread(pb.exact));
  assert.ok(dFresh > LEVEL * pb.floor, 'eta 1 is not an exact posterior sampler');
});

test('cond-dc refuses a model without the zero-filled condition and a non-MRI operator, in one line', async () => {
  const pb = problem(0);
  const grid = makeGrid(path, { kind: 'logsnr-uniform', steps: 2, tStart: path.tMax, tEnd: path.tMin, final: 'zero' });
  const xT = new Tensor([1, ...SHAPE]);
  const oneLine = (code: string, words: RegExp) => (e: unknown) => e instanceof TweedieError && e.code === code && words.test(e.message) && !e.message.includes('\n');
  await assert.rejects(runSolver(condDc, pb.prior.asDenoiser(path, 'eps'), grid, pb.op, pb.y, xT), oneLine('UNSUPPORTED', /zero-filled image.*it is unconditional/));
  const inpaint = new InpaintingOperator([1, 8, 8], new Float64Array(64).fill(1));
  await assert.rejects(runSolver(condDc, conditionalOracle(pb.prior, pb.op, 0), grid, inpaint, new Tensor([1, ...SHAPE]), xT), oneLine('UNSUPPORTED', /not an mri operator/));
  await assert.rejects(runSolver(condDc, conditionalOracle(pb.prior, pb.op, 0), grid, pb.op, pb.y, xT, { params: { dc: 'soft' } }), oneLine('USAGE', /dc=soft/));
});

test('tweedie.json "from": "zero-filled" is read on image conditions; another source is refused in one line', () => {
  const spec = parseConditionSpecs({ zf: { kind: 'image', shape: [1, 8, 8], input: 'cond', unconditional: 0, from: 'zero-filled' } }, 'm/tweedie.json');
  assert.equal(spec.zf!.kind === 'image' && spec.zf!.from, 'zero-filled');
  assert.throws(() => parseConditionSpecs({ zf: { kind: 'image', shape: [1, 8, 8], from: 'kspace' } }, 'm/tweedie.json'),
    (e: unknown) => e instanceof TweedieError && /conditioning\.zf\.from must be one of zero-filled .*got "kspace"/.test(e.message) && !e.message.includes('\n'));
});
