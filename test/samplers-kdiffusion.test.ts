/**
 * k-diffusion's DPM-Solver++ samplers in sigma (dpm++2s-ancestral, dpm++sde with its Brownian-tree noise) and the
 * polyexponential sigma schedule, against the exact Gaussian mixture and closed forms.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dpmpp2sAncestral, dpmppSde } from '../src/samplers/kdiffusion-dpmpp.js';
import { dpmSolverPPSde } from '../src/samplers/dpm-solver.js';
import { initialState, runSampler } from '../src/samplers/run.js';
import type { SamplerDef } from '../src/samplers/types.js';
import { NoiseSource, Stream } from '../src/core/rng.js';
import { makeGrid } from '../src/paths/grids.js';
import { pathByName } from '../src/paths/registry.js';
import { assertDecreasingToLevel, swdAt } from './helpers/swd.js';
import { measureOrder, orderSetup, referenceSolution, rmsError, testMixture } from '../bench/lib/ode-order.js';

test('dpm++sde samples the mixture (EDM, Karras sigmas): SWD falls with NFE to near the floor', async () => {
  const { out, floor } = await swdAt(dpmppSde, 'edm', (steps) => ({ kind: 'karras', steps, final: 'zero' }), [3, 8, 20]);
  // measured: 0.453, 0.107, 0.067 at NFE 5, 15, 39 (floor 0.039)
  assertDecreasingToLevel('dpm++sde', out, floor);
});

test('dpm++2s-ancestral samples the mixture (EDM, Karras sigmas): SWD falls with NFE to near the floor', async () => {
  const { out, floor } = await swdAt(dpmpp2sAncestral, 'edm', (steps) => ({ kind: 'karras', steps, final: 'zero' }), [3, 8, 20]);
  // measured: 0.455, 0.151, 0.055 at NFE 5, 15, 39 (floor 0.039)
  assertDecreasingToLevel('dpm++2s-ancestral', out, floor);
});

test('with eta = 0 both are DPM-Solver++(2S) (r = 1/2): equal to rounding, second order on the exact PF-ODE', async () => {
  const setup = orderSetup();
  const ref = await referenceSolution(setup);
  const a = await measureOrder(dpmpp2sAncestral, setup, ref, [5, 10, 20, 40, 80], { eta: 0 });
  const b = await measureOrder(dpmppSde, setup, ref, [5, 10, 20, 40, 80], { eta: 0 });
  a.errors.forEach((e, i) => assert.ok(Math.abs(e - b.errors[i]!) < 1e-9 * e, `errors ${a.errors} vs ${b.errors}`));
  assert.deepEqual(a.nfes, [10, 20, 40, 80, 160]);
  assert.ok(Math.abs(a.slope + 2) < 0.3, `slope ${a.slope}, errors ${a.errors}`);
});

/**
 * rms difference between runs with `steps` and 2 `steps` Karras steps from the same noise and seed, on one Gaussian
 * (a one-component mixture: a multimodal one lets samples near a decision boundary switch modes, which hides the
 * pathwise convergence at these step counts).
 */
async function pathwiseGap(def: SamplerDef, steps: number): Promise<number> {
  const path = pathByName('edm');
  const denoiser = testMixture(16, 1).asDenoiser(path, 'eps');
  const run = async (n: number) => {
    const grid = makeGrid(path, { kind: 'karras', steps: n, final: 'zero' });
    const xT = initialState(new NoiseSource(3).normal([64, 16], 0, Stream.init, 'float64'), grid[0]!);
    return (await runSampler(def, denoiser, grid, xT, { noise: new NoiseSource(4) })).x;
  };
  return rmsError(await run(steps), await run(2 * steps));
}

test('dpm++sde: one seed is one Brownian path, so runs with more steps converge to one sample (per-step noise does not)', async () => {
  const tree = [await pathwiseGap(dpmppSde, 8), await pathwiseGap(dpmppSde, 64)];
  const fresh = [await pathwiseGap(dpmSolverPPSde, 8), await pathwiseGap(dpmSolverPPSde, 64)];
  // measured: dpm++sde 1.135, 0.278; dpm-solver++-sde 3.658, 3.196
  console.log(`# rms gap between N and 2N steps at N = 8, 64: dpm++sde ${tree.map((g) => g.toFixed(4)).join(', ')}; dpm-solver++-sde ${fresh.map((g) => g.toFixed(4)).join(', ')}`);
  assert.ok(tree[1]! < 0.5 * tree[0]!, `dpm++sde gaps ${tree}`);
  assert.ok(fresh[1]! > 0.5 * fresh[0]!, `dpm-solver++-sde gaps ${fresh}`);
});

test('dpm++sde and dpm++2s-ancestral: the same seed gives the same samples whatever the batch split', async () => {
  const path = pathByName('edm');
  const denoiser = testMixture().asDenoiser(path, 'x0');
  const grid = makeGrid(path, { kind: 'karras', steps: 6, final: 'zero' });
  const xT = initialState(new NoiseSource(8).normal([4, 16], 0, Stream.init, 'float32'), grid[0]!);
  for (const def of [dpmppSde, dpmpp2sAncestral]) {
    const all = await runSampler(def, denoiser, grid, xT, { noise: new NoiseSource(9) });
    const lo = await runSampler(def, denoiser, grid, xT.sliceBatch(0, 2).clone(), { noise: new NoiseSource(9, 0) });
    const hi = await runSampler(def, denoiser, grid, xT.sliceBatch(2, 4).clone(), { noise: new NoiseSource(9, 2) });
    assert.deepEqual([...all.x.data], [...lo.x.data, ...hi.x.data], def.name);
  }
});

test('polyexponential grid (k-diffusion get_sigmas_polyexponential): closed form at rho 2, exponential at rho 1', () => {
  const path = pathByName('edm');
  // sigma 10 -> 0.1 in 3 points, rho 2: ramp (1, 1/2, 0)^2 = (1, 1/4, 0), so sigma = 0.1 * 100^(1, 1/4, 0) = 10, sqrt(10) / 10, 0.1.
  const g = makeGrid(path, { kind: 'polyexponential', steps: 2, rho: 2, tStart: 10, tEnd: 0.1, final: 'sigma_min' });
  const want = [10, Math.sqrt(10) / 10, 0.1];
  g.forEach((p, i) => assert.ok(Math.abs(p.s / p.a - want[i]!) < 1e-12 * want[i]!, `sigma ${i}: ${p.s / p.a} vs ${want[i]}`));
  // Any rho: sqrt-free check that log(sigma / sigma_min) / log(sigma_max / sigma_min) = (1 - i / (n - 1))^rho.
  const h = makeGrid(path, { kind: 'polyexponential', steps: 9, rho: 3.5, tStart: 80, tEnd: 0.002, final: 'zero' });
  assert.equal(h.length, 10, '9 steps: 9 sigmas, the last step into sigma = 0');
  assert.equal(h[9]!.s, 0);
  for (let i = 0; i < 9; i++) {
    const frac = Math.log(h[i]!.s / h[i]!.a / 0.002) / Math.log(80 / 0.002);
    assert.ok(Math.abs(frac - (1 - i / 8) ** 3.5) < 1e-12, `point ${i}: ${frac}`);
  }
  const e = makeGrid(path, { kind: 'exponential', steps: 7, final: 'zero' });
  const p1 = makeGrid(path, { kind: 'polyexponential', steps: 7, final: 'zero' });
  e.forEach((p, i) => assert.ok(Math.abs(p.s - p1[i]!.s) <= 1e-12 * p.s));
  assert.throws(() => makeGrid(path, { kind: 'polyexponential', steps: 3, rho: 0 }), /rho > 0/);
});
