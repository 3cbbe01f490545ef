import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SDE_SAMPLERS, pc, sdeEuler } from '../src/samplers/sde.js';
import { RK45_SAMPLERS, rk45 } from '../src/samplers/rk45.js';
import { FLOW_SAMPLERS, flowEuler, flowHeun } from '../src/samplers/flow.js';
import { euler } from '../src/samplers/karras.js';
import { initialState, runSampler } from '../src/samplers/run.js';
import type { ParamValues, SamplerDef } from '../src/samplers/types.js';
import { ModelFn } from '../src/models/model-fn.js';
import { NoiseSource, Stream } from '../src/core/rng.js';
import { Tensor } from '../src/core/tensor.js';
import { TweedieError } from '../src/core/errors.js';
import { defaultGridSpec, makeGrid } from '../src/paths/grids.js';
import { pathByName } from '../src/paths/registry.js';
import { FlowPath } from '../src/paths/ve.js';
import { finiteSweep, sweepPrior } from './helpers/sweep.js';
import { assertDecreasingToLevel, D, swdAt } from './helpers/swd.js';
import { logLogSlope, orderSetup, referenceSolution, rmsError, testMixture, type OrderSetup } from '../bench/lib/ode-order.js';

// ---- Distribution tests: sliced Wasserstein distance of 4,000 samples to 4,000 exact mixture samples ----


test('sde-euler samples the mixture (continuous VP, uniform t, score_sde setup): SWD falls with NFE to near the floor', async () => {
  const { out, floor } = await swdAt(sdeEuler, 'vp-linear', (steps) => ({ kind: 'time-uniform', steps, final: 'zero' }), [6, 15, 40]);
  // measured: 0.435, 0.074, 0.038 (floor 0.039)
  assert.deepEqual(out.map((o) => o.nfe), [6, 15, 40]);
  assertDecreasingToLevel('sde-euler', out, floor);
});

test('pc (reverse diffusion + Langevin, snr 0.16) samples the mixture (VE, geometric sigmas): SWD falls with NFE', async () => {
  const { out, floor } = await swdAt(pc, 've', (steps) => ({ kind: 'time-uniform', steps, final: 'zero' }), [6, 15, 40]);
  // measured: 0.968, 0.201, 0.071 (floor 0.039); NFE = steps (1 + corrector_steps)
  assert.deepEqual(out.map((o) => o.nfe), [12, 30, 80]);
  assertDecreasingToLevel('pc', out, floor);
});

test('pc without corrector and with the euler-maruyama predictor is sde-euler; NFE = steps (1 + corrector_steps)', async () => {
  const path = pathByName('vp-linear');
  const denoiser = testMixture().asDenoiser(path, 'eps');
  for (const final of ['zero', 'sigma_min'] as const) {
    const grid = makeGrid(path, { kind: 'time-uniform', steps: 9, final });
    const xT = initialState(new NoiseSource(5).normal([4, D], 0, Stream.init, 'float64'), grid[0]!);
    const a = await runSampler(sdeEuler, denoiser, grid, xT, { noise: new NoiseSource(6) });
    const b = await runSampler(pc, denoiser, grid, xT, { noise: new NoiseSource(6), params: { predictor: 'euler-maruyama', corrector_steps: 0 } });
    assert.deepEqual([...a.x.data], [...b.x.data]);
    assert.equal(b.nfe, 9);
    const c = await runSampler(pc, denoiser, grid, xT, { noise: new NoiseSource(6), params: { corrector_steps: 3 } });
    assert.equal(c.nfe, 9 * 4);
  }
});

test('pc: per-sample Langevin norms keep a sample independent of its batch; norms = batch (score_sde) agrees for one sample', async () => {
  const path = pathByName('ve');
  const denoiser = testMixture().asDenoiser(path, 'x0');
  const grid = makeGrid(path, { kind: 'time-uniform', steps: 8, final: 'zero' });
  const xT = initialState(new NoiseSource(8).normal([4, D], 0, Stream.init, 'float32'), grid[0]!);
  const params = { corrector_steps: 2 };
  const all = await runSampler(pc, denoiser, grid, xT, { noise: new NoiseSource(9), params });
  const lo = await runSampler(pc, denoiser, grid, xT.sliceBatch(0, 2).clone(), { noise: new NoiseSource(9, 0), params });
  const hi = await runSampler(pc, denoiser, grid, xT.sliceBatch(2, 4).clone(), { noise: new NoiseSource(9, 2), params });
  assert.deepEqual([...all.x.data], [...lo.x.data, ...hi.x.data]);
  const one = xT.sliceBatch(1, 2).clone();
  const s = await runSampler(pc, denoiser, grid, one, { noise: new NoiseSource(9, 1), params });
  const b = await runSampler(pc, denoiser, grid, one, { noise: new NoiseSource(9, 1), params: { ...params, norms: 'batch' } });
  assert.deepEqual([...s.x.data], [...b.x.data]);
  const batched = await runSampler(pc, denoiser, grid, xT, { noise: new NoiseSource(9), params: { ...params, norms: 'batch' } });
  assert.ok(rmsError(batched.x, all.x) > 1e-4);
});

test('sde-euler refuses a start at a = 0 (rectified flow t = 1); pc with reverse diffusion runs there and skips the corrector', async () => {
  const path = new FlowPath();
  const denoiser = testMixture().asDenoiser(path, 'velocity');
  const grid = makeGrid(path, { kind: 'time-uniform', steps: 10, final: 'zero' });
  const xT = initialState(new NoiseSource(5).normal([4, D], 0, Stream.init, 'float64'), grid[0]!);
  await assert.rejects(runSampler(sdeEuler, denoiser, grid, xT), (e: unknown) => e instanceof TweedieError && e.code === 'UNSUPPORTED' && /sde-euler.*start the grid/.test(e.message));
  const r = await runSampler(pc, denoiser, grid, xT, { noise: new NoiseSource(6) });
  assert.ok(r.x.data.every(Number.isFinite));
  // The corrector step size 2 alpha (...)^2 has alpha = (a(1)/a(t_1))^2 = 0 at the first point: no model call there.
  assert.equal(r.nfe, 10 * 2 - 1);
});

// ---- rk45 ----

test('rk45: error and NFE fall / grow as rtol = atol goes 1e-3 -> 1e-7; at 1e-8 it agrees with the reference to 1e-6', async () => {
  const setup = orderSetup();
  const ref = await referenceSolution(setup);
  // Interior grid points are ignored: only grid[0] and the last point matter.
  const grid = makeGrid(setup.path, { kind: 'logsnr-uniform', steps: 7, tStart: setup.tStart, tEnd: setup.tEnd, final: 'sigma_min' });
  const nfes: number[] = [], errs: number[] = [];
  for (const tol of [1e-3, 1e-4, 1e-5, 1e-6, 1e-7]) {
    const r = await runSampler(rk45, setup.denoiser, grid, setup.x0, { params: { rtol: tol, atol: tol } });
    nfes.push(r.nfe);
    errs.push(rmsError(r.x, ref));
  }
  console.log(`# rk45 rtol 1e-3..1e-7: NFE ${nfes.join(', ')}; errors ${errs.map((e) => e.toExponential(2)).join(', ')}`);
  for (let i = 1; i < nfes.length; i++) {
    assert.ok(nfes[i]! > nfes[i - 1]!, `NFE ${nfes}`);
    assert.ok(errs[i]! < errs[i - 1]!, `errors ${errs}`);
  }
  const tight = await runSampler(rk45, setup.denoiser, grid, setup.x0, { params: { rtol: 1e-8, atol: 1e-8 } });
  const e = rmsError(tight.x, ref);
  console.log(`# rk45 rtol = atol = 1e-8: NFE ${tight.nfe}, error ${e.toExponential(2)}`);
  assert.ok(e < 1e-6, `error ${e}`);
  // Another grid with the same ends gives the same answer.
  const other = makeGrid(setup.path, { kind: 'time-uniform', steps: 2, tStart: setup.tStart, tEnd: setup.tEnd, final: 'sigma_min' });
  const r2 = await runSampler(rk45, setup.denoiser, other, setup.x0, { params: { rtol: 1e-8, atol: 1e-8 } });
  assert.ok(rmsError(r2.x, tight.x) < 1e-13);
});

test('rk45: a clean last point gives a_clean times the x0 estimate at the point before it, from the last stage (no extra NFE)', async () => {
  const setup = orderSetup();
  const full = makeGrid(setup.path, { kind: 'time-uniform', steps: 4, tStart: setup.tStart, tEnd: setup.tEnd, final: 'zero' });
  const head = full.slice(0, -1);
  let reports = 0;
  const a = await runSampler(rk45, setup.denoiser, full, setup.x0, { onStep: () => void reports++ });
  const b = await runSampler(rk45, setup.denoiser, head, setup.x0);
  assert.equal(a.nfe, b.nfe);
  assert.ok(reports >= 2);
  const { x0 } = await new ModelFn(setup.denoiser).estimate(b.x, head[head.length - 1]!);
  assert.ok(rmsError(a.x, x0) < 1e-12);
  // A one-step grid straight into clean data is the x0 estimate at grid[0]: 1 NFE.
  const one = makeGrid(setup.path, { kind: 'time-uniform', steps: 1, final: 'zero' });
  assert.equal((await runSampler(rk45, setup.denoiser, one, setup.x0)).nfe, 1);
});

// ---- Flow matching: order on rectified flow from t = 1 (a = 0), against an RK4 reference in t ----

/** Classical RK4 of dz/dt = a'(t) x0 + s'(t) eps in path time t (valid from a = 0). */
async function timeReference(setup: OrderSetup, n = 2000): Promise<Tensor> {
  const { path } = setup;
  const fn = new ModelFn(setup.denoiser);
  const h = (setup.tEnd - setup.tStart) / n;
  const f = async (t: number, y: Float64Array): Promise<Float64Array> => {
    const { x0, eps } = await fn.estimate(new Tensor(setup.x0.shape, y), path.point(t));
    const da = path.da(t), ds = path.ds(t);
    return Float64Array.from(x0.data, (v, j) => da * v + ds * eps.data[j]!);
  };
  let z = Float64Array.from(setup.x0.data);
  for (let i = 0; i < n; i++) {
    const t = setup.tStart + i * h;
    const k1 = await f(t, z);
    const k2 = await f(t + h / 2, z.map((v, j) => v + (h / 2) * k1[j]!));
    const k3 = await f(t + h / 2, z.map((v, j) => v + (h / 2) * k2[j]!));
    const k4 = await f(t + h, z.map((v, j) => v + h * k3[j]!));
    z = z.map((v, j) => v + (h / 6) * (k1[j]! + 2 * k2[j]! + 2 * k3[j]! + k4[j]!));
  }
  return new Tensor(setup.x0.shape, z);
}

let flowCache: { setup: OrderSetup; ref: Tensor } | null = null;
async function flowSetup() {
  if (!flowCache) {
    const setup = orderSetup(new FlowPath(), { tStart: 1, tEnd: 0.05, prediction: 'velocity' });
    flowCache = { setup, ref: await timeReference(setup) };
  }
  return flowCache;
}

async function flowOrder(def: SamplerDef, stepsList: number[]) {
  const { setup, ref } = await flowSetup();
  const nfes: number[] = [], errors: number[] = [];
  for (const steps of stepsList) {
    const grid = makeGrid(setup.path, { kind: 'time-uniform', steps, tStart: 1, tEnd: 0.05, final: 'sigma_min' });
    const r = await runSampler(def, setup.denoiser, grid, setup.x0);
    nfes.push(r.nfe);
    errors.push(rmsError(r.x, ref));
  }
  return { nfes, errors, slope: logLogSlope(nfes, errors) };
}

test('flow-euler converges with order 1 on rectified flow from t = 1 and equals euler there', async () => {
  const r = await flowOrder(flowEuler, [10, 20, 40, 80, 160]);
  assert.deepEqual(r.nfes, [10, 20, 40, 80, 160]);
  assert.ok(Math.abs(r.slope + 1) < 0.3, `slope ${r.slope} errors ${r.errors}`);
  const e = await flowOrder(euler, [20]);
  assert.ok(Math.abs(e.errors[0]! - r.errors[1]!) < 1e-12);
});

test('flow-heun converges with order 2 on rectified flow from t = 1', async () => {
  const r = await flowOrder(flowHeun, [5, 10, 20, 40, 80]);
  assert.deepEqual(r.nfes, [10, 20, 40, 80, 160]);
  // Measured -1.86 on the uniform-t grid: pre-asymptotic (pairwise slopes 1.95, 1.77, 1.84, 1.92, rising to 2),
  // the error coming from the fast, low-variance mixture directions near t = 0.05.
  assert.ok(Math.abs(r.slope + 2) < 0.3, `slope ${r.slope} errors ${r.errors}`);
});

test('rk45 starts at a = 0 (rectified flow t = 1) and agrees with the t-RK4 reference at rtol = atol = 1e-8', async () => {
  const { setup, ref } = await flowSetup();
  const grid = makeGrid(setup.path, { kind: 'time-uniform', steps: 3, tStart: 1, tEnd: 0.05, final: 'sigma_min' });
  const r = await runSampler(rk45, setup.denoiser, grid, setup.x0, { params: { rtol: 1e-8, atol: 1e-8 } });
  assert.ok(rmsError(r.x, ref) < 1e-6, `error ${rmsError(r.x, ref)}`);
});

// ---- No NaN / Inf on any path, prediction and small step count; refusals only where a = 0 ----

test('sde, rk45 and flow samplers: finite on every path x prediction x steps 1-10; only the Euler-Maruyama ones refuse a = 0', async () => {
  for (const def of [...SDE_SAMPLERS, ...RK45_SAMPLERS, ...FLOW_SAMPLERS]) await finiteSweep(def, {}, def === sdeEuler);
  await finiteSweep(pc, { predictor: 'euler-maruyama', corrector_steps: 2, snr: 0.075 }, true);
  await finiteSweep(pc, { norms: 'batch', denoise: false }, false);
  await finiteSweep(sdeEuler, { denoise: false }, true);
  await finiteSweep(rk45, { rtol: 1e-3, atol: 1e-3 }, false);
});

test('sde, rk45: bad options are BAD_INPUT errors', async () => {
  const path = pathByName('vp-linear');
  const denoiser = sweepPrior.asDenoiser(path, 'eps');
  const grid = makeGrid(path, defaultGridSpec(path, 3));
  const xT = initialState(new NoiseSource(1).normal([1, 2], 0, Stream.init), grid[0]!);
  const bad = async (def: SamplerDef, params: Partial<ParamValues>) =>
    assert.rejects(runSampler(def, denoiser, grid, xT, { params }), (e: unknown) => e instanceof TweedieError && e.code === 'BAD_INPUT');
  await bad(rk45, { rtol: 0 });
  await bad(rk45, { tol: 1e-3 });
  await bad(pc, { predictor: 'ancestral' });
  await bad(pc, { corrector_steps: 1.5 });
  await bad(pc, { norms: 'mean' });
  await bad(sdeEuler, { denoise: 'yes' });
  await bad(flowHeun, { s_churn: 1 });
});
