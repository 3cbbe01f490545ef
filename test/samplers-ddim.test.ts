import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ddim, ddimInverse } from '../src/samplers/ddim.js';
import { runSampler } from '../src/samplers/run.js';
import { makeGrid } from '../src/paths/grids.js';
import { measureOrder, orderSetup, referenceSolution, rmsError } from './helpers/ode-order.js';

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
