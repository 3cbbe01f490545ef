import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ddim, ddimInverse } from '../src/samplers/ddim.js';
import { runSampler } from '../src/samplers/run.js';
import { makeGrid } from '../src/paths/grids.js';
import { measureOrder, orderSetup, referenceSolution, rmsError } from '../bench/lib/ode-order.js';

test('ddim (eta = 0) converges with order 1 to the probability-flow ODE solution', async () => {
  const setup = orderSetup();
  const ref = await referenceSolution(setup);
  const r = await measureOrder(ddim, setup, ref, [10, 20, 40, 80, 160]);
  assert.ok(Math.abs(r.slope + 1) < 0.3, `slope ${r.slope} errors ${r.errors}`);
  assert.deepEqual(r.nfes, [10, 20, 40, 80, 160]);
});

test('ddim inversion then regeneration returns the input, with error falling as steps grow', async () => {
  const setup = orderSetup();
  const gen = await runSampler(ddim, setup.denoiser, makeGrid(setup.path, { kind: 'logsnr-uniform', steps: 200, final: 'sigma_min', tStart: setup.tStart, tEnd: setup.tEnd }), setup.x0);
  const errs: number[] = [];
  for (const steps of [10, 40, 160]) {
    const fwd = makeGrid(setup.path, { kind: 'logsnr-uniform', steps, final: 'sigma_min', tStart: setup.tStart, tEnd: setup.tEnd });
    const inv = await runSampler(ddimInverse, setup.denoiser, [...fwd].reverse(), gen.x);
    errs.push(rmsError(inv.x, setup.x0));
  }
  assert.ok(errs[1]! < errs[0]! && errs[2]! < errs[1]!, `errors ${errs}`);
});

import { slicedWasserstein } from '../src/metrics/distribution.js';
import { NoiseSource, Stream } from '../src/core/rng.js';
import { initialState } from '../src/samplers/run.js';
import { testMixture } from '../bench/lib/ode-order.js';
import { ContinuousVPPath } from '../src/paths/vp.js';

test('ddim with eta = 1 (ancestral) samples the mixture: sliced Wasserstein falls with NFE towards the finite-sample floor', async () => {
  const gmm = testMixture();
  const path = new ContinuousVPPath();
  const n = 4000, d = 16;
  const exact = gmm.sample(n, 1, 'float32').data, exact2 = gmm.sample(n, 2, 'float32').data;
  const floor = slicedWasserstein(exact, exact2, d, { projections: 64, seed: 3 });
  const swd: number[] = [];
  for (const steps of [5, 20, 80]) {
    const grid = makeGrid(path, { kind: 'time-uniform', steps, final: 'zero' });
    const xT = initialState(new NoiseSource(11).normal([n, d], 0, Stream.init), grid[0]!);
    const r = await runSampler(ddim, gmm.asDenoiser(path, 'eps'), grid, xT, { noise: new NoiseSource(12), params: { eta: 1 } });
    swd.push(slicedWasserstein(r.x.data, exact, d, { projections: 64, seed: 3 }));
  }
  assert.ok(swd[0]! > swd[1]! && swd[1]! > swd[2]!, `SWD ${swd} should fall with NFE`);
  // Stated level: at 80 steps within 1.5x the SWD between two independent exact sample sets.
  assert.ok(swd[2]! < 1.5 * floor, `SWD at NFE 80 ${swd[2]} vs floor ${floor}`);
});
