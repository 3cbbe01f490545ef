import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KARRAS_SAMPLERS, ddpm, ddpmNoiseStd, dpm2, dpm2Ancestral, euler, eulerAncestral, heun } from '../src/samplers/karras.js';
import { ddim } from '../src/samplers/ddim.js';
import { initialState, runSampler } from '../src/samplers/run.js';
import type { ParamValues, SamplerDef } from '../src/samplers/types.js';
import { ModelFn } from '../src/models/model-fn.js';
import { NoiseSource, Stream } from '../src/core/rng.js';
import { TweedieError } from '../src/core/errors.js';
import { defaultGridSpec, makeGrid } from '../src/paths/grids.js';
import { pathByName } from '../src/paths/registry.js';
import { DiscreteVPPath } from '../src/paths/vp.js';
import { finiteSweep, sweepPrior } from './helpers/sweep.js';
import { assertDecreasingToLevel, swdAt } from './helpers/swd.js';
import { measureOrder, orderSetup, referenceSolution, rmsError, testMixture } from '../bench/lib/ode-order.js';

const ORDER_STEPS_1 = [10, 20, 40, 80, 160];
const ORDER_STEPS_2 = [5, 10, 20, 40, 80];

test('euler (no churn) converges with order 1 and is ddim (eta = 0) on the same grid', async () => {
  const setup = orderSetup();
  const ref = await referenceSolution(setup);
  const r = await measureOrder(euler, setup, ref, ORDER_STEPS_1);
  assert.deepEqual(r.nfes, [10, 20, 40, 80, 160]);
  assert.ok(Math.abs(r.slope + 1) < 0.3, `slope ${r.slope} errors ${r.errors}`);
  const d = await measureOrder(ddim, setup, ref, [20]);
  const e = await measureOrder(euler, setup, ref, [20]);
  assert.ok(Math.abs(d.errors[0]! - e.errors[0]!) < 1e-12);
});

test('heun converges with order 2 at 2 NFE per step', async () => {
  const setup = orderSetup();
  const ref = await referenceSolution(setup);
  const r = await measureOrder(heun, setup, ref, ORDER_STEPS_2);
  assert.deepEqual(r.nfes, [10, 20, 40, 80, 160]);
  // Measured -2.19 (continuous VP, t 1 -> 0.05; -2.22 on EDM sigma 80 -> 0.05): pre-asymptotic at 10 NFE, pairwise -2.04 at the end.
  assert.ok(Math.abs(r.slope + 2) < 0.3, `slope ${r.slope} errors ${r.errors}`);
});

test('dpm2 converges with order 2 at 2 NFE per step', async () => {
  const setup = orderSetup();
  const ref = await referenceSolution(setup);
  const r = await measureOrder(dpm2, setup, ref, ORDER_STEPS_2);
  assert.deepEqual(r.nfes, [10, 20, 40, 80, 160]);
  assert.ok(Math.abs(r.slope + 2) < 0.3, `slope ${r.slope} errors ${r.errors}`);
});

test('heun and dpm2 take one Euler evaluation into sigma = 0: the x0 estimate', async () => {
  const setup = orderSetup(undefined, { batch: 3 });
  const path = setup.path;
  for (const def of [heun, dpm2]) {
    const full = makeGrid(path, { kind: 'time-uniform', steps: 6, tStart: 1, tEnd: 0.01, final: 'zero' });
    const r = await runSampler(def, setup.denoiser, full, setup.x0);
    assert.equal(r.nfe, 2 * 5 + 1, def.name);
    // The same run stopped at the last noisy point, then the x0 estimate there.
    const head = await runSampler(def, setup.denoiser, full.slice(0, -1), setup.x0);
    const { x0: est } = await new ModelFn(setup.denoiser).estimate(head.x, full[full.length - 2]!);
    assert.ok(rmsError(r.x, est) < 1e-12, def.name);
  }
});

test('ddpm (fixed_small) = ddim (eta = 1) = euler-ancestral (eta = 1) on the same grid and noise', async () => {
  const path = pathByName('vp');
  const prior = testMixture();
  const denoiser = prior.asDenoiser(path, 'eps');
  const grid = makeGrid(path, { kind: 'timesteps', steps: 12, final: 'zero' });
  const xT = initialState(new NoiseSource(5).normal([6, 16], 0, Stream.init, 'float64'), grid[0]!);
  const run = (def: SamplerDef, params: Partial<ParamValues>) => runSampler(def, denoiser, grid, xT, { noise: new NoiseSource(6), params });
  const a = await run(ddpm, {}), b = await run(ddim, { eta: 1 }), c = await run(eulerAncestral, {});
  assert.ok(rmsError(a.x, b.x) < 1e-10, `ddpm vs ddim ${rmsError(a.x, b.x)}`);
  assert.ok(rmsError(a.x, c.x) < 1e-10, `ddpm vs euler-ancestral ${rmsError(a.x, c.x)}`);
  // fixed_large adds more noise on the same mean: a different trajectory.
  const d = await run(ddpm, { variance_type: 'fixed_large' });
  assert.ok(rmsError(a.x, d.x) > 1e-3);
});

test('ddpm variances match diffusers DDPMScheduler (published _get_variance values; beta_t for fixed_large)', () => {
  // diffusers tests/schedulers/test_scheduler_ddpm.py: linear betas 1e-4..0.02, 1000 steps, fixed_small:
  // _get_variance(0) = 0, _get_variance(487) = 0.00979, _get_variance(999) = 0.02 (tolerance 1e-5).
  const path = new DiscreteVPPath({ numTrainTimesteps: 1000, betaStart: 0.0001, betaEnd: 0.02, schedule: 'linear' });
  const v = (t: number, type: 'fixed_small' | 'fixed_large') => ddpmNoiseStd(path.point(t), path.point(t - 1), type) ** 2;
  assert.ok(Math.abs(v(0, 'fixed_small')) < 1e-5);
  assert.ok(Math.abs(v(487, 'fixed_small') - 0.00979) < 1e-5, `${v(487, 'fixed_small')}`);
  assert.ok(Math.abs(v(999, 'fixed_small') - 0.02) < 1e-5, `${v(999, 'fixed_small')}`);
  // fixed_large: current_beta_t = 1 - abar_t / abar_prev (= betas[t] for consecutive steps).
  assert.ok(Math.abs(v(487, 'fixed_large') - path.betas[487]!) < 1e-12);
  const ab = path.alphasCumprod;
  const coarse = ddpmNoiseStd(path.point(500), path.point(400), 'fixed_large') ** 2;
  assert.ok(Math.abs(coarse - (1 - ab[500]! / ab[400]!)) < 1e-12, `${coarse}`);
  // and no noise into clean data (diffusers adds noise only while t > 0)
  assert.equal(ddpmNoiseStd(path.point(0), path.point(-1), 'fixed_large'), 0);
});

test('euler-ancestral: the same seed gives the same samples whatever the batch split', async () => {
  const path = pathByName('edm');
  const denoiser = testMixture().asDenoiser(path, 'x0');
  const grid = makeGrid(path, { kind: 'karras', steps: 8, final: 'zero' });
  const xT = initialState(new NoiseSource(8).normal([4, 16], 0, Stream.init, 'float32'), grid[0]!);
  const all = await runSampler(eulerAncestral, denoiser, grid, xT, { noise: new NoiseSource(9) });
  const lo = await runSampler(eulerAncestral, denoiser, grid, xT.sliceBatch(0, 2).clone(), { noise: new NoiseSource(9, 0) });
  const hi = await runSampler(eulerAncestral, denoiser, grid, xT.sliceBatch(2, 4).clone(), { noise: new NoiseSource(9, 2) });
  assert.deepEqual([...all.x.data], [...lo.x.data, ...hi.x.data]);
});

// ---- Distribution tests: sliced Wasserstein distance of 4,000 samples to 4,000 exact mixture samples ----


test('euler-ancestral samples the mixture (EDM, Karras sigmas): SWD falls with NFE to near the floor', async () => {
  const { out, floor } = await swdAt(eulerAncestral, 'edm', (steps) => ({ kind: 'karras', steps, final: 'zero' }), [6, 15, 40]);
  // measured: 0.369, 0.170, 0.076 (floor 0.039)
  assertDecreasingToLevel('euler-ancestral', out, floor);
});

test('ddpm samples the mixture (discrete VP, diffusers leading timesteps): SWD falls with NFE to near the floor', async () => {
  const { out, floor } = await swdAt(ddpm, 'vp', (steps) => ({ kind: 'timesteps', steps, final: 'zero' }), [6, 15, 40]);
  // measured: 0.239, 0.124, 0.067 (floor 0.039)
  assertDecreasingToLevel('ddpm', out, floor);
});

test('euler with churn (s_churn = 10, EDM) samples the mixture: SWD falls with NFE to near the floor', async () => {
  const { out, floor } = await swdAt(euler, 'edm', (steps) => ({ kind: 'karras', steps, final: 'zero' }), [6, 15, 40], { s_churn: 10 });
  // measured: 0.337, 0.150, 0.078 (floor 0.039)
  assertDecreasingToLevel('euler (churn)', out, floor);
});

test('dpm2-ancestral samples the mixture (EDM, Karras sigmas): SWD falls with NFE to near the floor', async () => {
  const { out, floor } = await swdAt(dpm2Ancestral, 'edm', (steps) => ({ kind: 'karras', steps, final: 'zero' }), [3, 8, 20]);
  // measured: 18.66, 0.751, 0.075 at NFE 5, 15, 39 (floor 0.039)
  assertDecreasingToLevel('dpm2-ancestral', out, floor);
});

test('dpm2-ancestral with eta = 0 is dpm2 (no churn) on the same grid', async () => {
  const setup = orderSetup(undefined, { batch: 3 });
  const grid = makeGrid(setup.path, { kind: 'time-uniform', steps: 7, tStart: 1, tEnd: 0.01, final: 'zero' });
  const a = await runSampler(dpm2Ancestral, setup.denoiser, grid, setup.x0, { params: { eta: 0 } });
  const b = await runSampler(dpm2, setup.denoiser, grid, setup.x0);
  assert.equal(a.nfe, 2 * 6 + 1);
  assert.ok(rmsError(a.x, b.x) < 1e-12, `${rmsError(a.x, b.x)}`);
});

// ---- No NaN / Inf on any path, prediction and small step count; refusals only where a = 0 ----

test('karras samplers: finite on every path x prediction x steps 1-10; heun and dpm2 refuse only a start at a = 0', async () => {
  for (const def of KARRAS_SAMPLERS) await finiteSweep(def, {}, def === heun || def === dpm2 || def === dpm2Ancestral);
  await finiteSweep(euler, { s_churn: 5, s_noise: 1.003 }, false);
  await finiteSweep(heun, { s_churn: 5, s_tmin: 0.05, s_tmax: 50 }, true);
  await finiteSweep(eulerAncestral, { eta: 0.5 }, false);
  await finiteSweep(ddpm, { variance_type: 'fixed_large' }, false);
});

test('karras samplers: bad options are BAD_INPUT errors', async () => {
  const path = pathByName('edm');
  const denoiser = sweepPrior.asDenoiser(path, 'x0');
  const grid = makeGrid(path, defaultGridSpec(path, 3));
  const xT = initialState(new NoiseSource(1).normal([1, 2], 0, Stream.init), grid[0]!);
  const bad = async (def: SamplerDef, params: Partial<ParamValues>) =>
    assert.rejects(runSampler(def, denoiser, grid, xT, { params }), (e: unknown) => e instanceof TweedieError && e.code === 'BAD_INPUT');
  await bad(euler, { s_churn: -1 });
  await bad(heun, { churn: 1 });
  await bad(eulerAncestral, { eta: -0.1 });
  await bad(ddpm, { variance_type: 'learned' });
});
