import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ddim, ddimCoefficients, ddimInverse, ddimStep, etaSplitCoefficients } from '../src/samplers/ddim.js';
import { runSampler } from '../src/samplers/run.js';
import { flowEuler } from '../src/samplers/flow.js';
import { resolveParams } from '../src/samplers/method.js';
import { makeGrid } from '../src/paths/grids.js';
import { Tensor } from '../src/core/tensor.js';
import { TweedieError } from '../src/core/errors.js';
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

test('the two noise parameterizations of the step agree: DDIM eta = 1 is the eta split with eta = sqrt(1 - e^{-2h})', () => {
  const path = new ContinuousVPPath();
  const from = path.point(0.7), to = path.point(0.4);
  const r = (from.a * to.s) / (to.a * from.s); // e^{-h}
  const ddpm = ddimCoefficients(from, to, 1), split = etaSplitCoefficients(to.a, to.s, Math.sqrt(1 - r * r));
  assert.equal(ddpm.a, to.a);
  assert.ok(Math.abs(ddpm.eps - to.s * r) < 1e-15 && Math.abs(split.eps - to.s * r) < 1e-15, `${ddpm.eps} ${split.eps} ${to.s * r}`);
  assert.ok(Math.abs(ddpm.noise - split.noise) < 1e-15, `${ddpm.noise} vs ${split.noise}`);
  // Squared weights sum to s_to^2: the step keeps the marginal noise level.
  assert.ok(Math.abs(ddpm.eps ** 2 + ddpm.noise ** 2 - to.s ** 2) < 1e-15);
  assert.deepEqual(ddimCoefficients(from, to, 0), { a: to.a, eps: to.s, noise: 0 });
});

test('ddimStep adds the noise of its step index only when the noise weight is positive', () => {
  const x0 = new Tensor([2, 3], Float64Array.from([0.5, -1, 2, 0, 1.5, -0.25]));
  const eps = new Tensor([2, 3], Float64Array.from([1, 0.5, -2, 0.75, -1, 0.3]));
  const noise = new NoiseSource(7);
  const k = { a: 0.8, eps: 0.3, noise: 0.4 };
  const z = ddimStep(x0.zerosLike(), x0.data, eps.data, k, noise, 5);
  const xi = noise.normal([2, 3], 5, Stream.noise, 'float64').data;
  for (let i = 0; i < 6; i++) assert.equal(z.data[i], 0.8 * x0.data[i]! + 0.3 * eps.data[i]! + 0.4 * xi[i]!);
  const quiet = ddimStep(x0.zerosLike(), x0.data, eps.data, { ...k, noise: 0 }, noise, 5);
  for (let i = 0; i < 6; i++) assert.equal(quiet.data[i], 0.8 * x0.data[i]! + 0.3 * eps.data[i]!);
});

test('resolveParams fills defaults, checks ranges and names the known options', () => {
  assert.deepEqual(resolveParams(ddim), { eta: 0 });
  assert.deepEqual(resolveParams(ddim, { eta: 0.5 }), { eta: 0.5 });
  assert.throws(() => resolveParams(ddim, { eta: -1 }), (e: unknown) => e instanceof TweedieError && /outside \[0, inf\]/.test(e.message));
  assert.throws(() => resolveParams(ddim, { steps: 3 }), (e: unknown) => e instanceof TweedieError && /its options are eta/.test(e.message));
  assert.throws(() => resolveParams(flowEuler, { eta: 1 }), /it takes no options/);
  assert.throws(() => resolveParams(ddimInverse, { eta: 1 }), /ddim-inverse has no option "eta"; its options are clean_start/);
  assert.throws(() => resolveParams(ddimInverse, { clean_start: 'later' }), /clean_start/);
});
