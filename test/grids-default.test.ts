import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NoiseSource } from '../src/core/rng.js';
import { defaultGridSpec, makeGrid } from '../src/paths/grids.js';
import { parseSchedulerConfig } from '../src/paths/scheduler-config.js';
import { DiscreteVPPath } from '../src/paths/vp.js';
import { configToSampling } from '../src/samplers/diffusers.js';
import { samplerByName } from '../src/samplers/registry.js';
import { runSampler } from '../src/samplers/run.js';
import type { ParamValues } from '../src/samplers/types.js';
import { cleanReference } from '../bench/grids.js';
import { rmsError, testMixture } from '../bench/lib/ode-order.js';

const path = new DiscreteVPPath({ numTrainTimesteps: 1000 });

test('time-power grid: tMax first, clean data last, exponent 1.5 spacing, steps intervals, no model call at t = 0', () => {
  const g = makeGrid(path, defaultGridSpec(path, 10, 'sample'));
  assert.equal(g.length, 11);
  assert.equal(g[0]!.t, 999);
  assert.equal(g[10]!.t, path.tClean, 'the last point is the clean endpoint');
  for (let i = 0; i <= 10; i++) assert.ok(Math.abs(g[i]!.t - (-1 + 1000 * (1 - i / 10) ** 1.5)) < 1e-9, `t_${i}`);
  assert.ok(g[9]!.t > 30, 'the last model call is at t = 1000 * 0.1^1.5 - 1 = 30.6, not at t = 0');
  assert.deepEqual(defaultGridSpec(path, 10, 'solve').kind, 'time-uniform', 'the posterior solvers keep their measured grid');
});

// The exact mixture's PF-ODE from the same noise is the oracle; diffusers' default schedules come from the
// scheduler-config mapping that test/diffusers-*.test.ts checks against diffusers' own reference values.
test("default sampling grid: DDIM, DPM-Solver++ 2M and UniPC at 10 and 20 NFE are at least as accurate as with diffusers' default schedule", async () => {
  const d = 8;
  const denoiser = testMixture(d).asDenoiser(path, 'eps');
  const xT = new NoiseSource(3).normal([6, d], 0, 0, 'float64');
  const ref = await cleanReference(path, denoiser, xT);
  const cases: [string, Partial<ParamValues>, string][] = [
    ['ddim', { eta: 0 }, 'DDIMScheduler'],
    ['dpm-solver++', { variant: '2M' }, 'DPMSolverMultistepScheduler'],
    ['unipc', { order: 2 }, 'UniPCMultistepScheduler'],
  ];
  for (const [name, params, cls] of cases) {
    for (const nfe of [10, 20]) {
      const cfg = parseSchedulerConfig({ _class_name: cls, num_train_timesteps: 1000, beta_schedule: 'linear', beta_start: 0.0001, beta_end: 0.02 }, cls, () => {});
      const dz = configToSampling(cfg, nfe);
      const theirs = await runSampler(dz.sampler, denoiser, dz.grid, xT, { params: dz.params });
      const ours = await runSampler(samplerByName(name), denoiser, makeGrid(path, defaultGridSpec(path, nfe, 'sample')), xT, { params: params as ParamValues });
      assert.equal(ours.nfe, theirs.nfe, `${name} ${nfe}: same NFE`);
      const eo = rmsError(ours.x, ref), et = rmsError(theirs.x, ref);
      assert.ok(eo <= et, `${name} at ${nfe} NFE: tweedie's default error ${eo.toExponential(3)} > diffusers' default ${et.toExponential(3)}`);
    }
  }
});
