import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TweedieError } from '../src/core/errors.js';
import { NoiseSource } from '../src/core/rng.js';
import { Tensor } from '../src/core/tensor.js';
import { GaussianMixture } from '../src/models/gmm.js';
import type { PredictionType } from '../src/models/prediction.js';
import { defaultGridSpec, gridFromSigmas, makeGrid } from '../src/paths/grids.js';
import { pathByName, PATH_NAMES } from '../src/paths/registry.js';
import { slicedWasserstein } from '../src/metrics/distribution.js';
import { EDMPath } from '../src/paths/ve.js';
import { bdia, bdiaFromPair, bdiaInverse, bdiaInvert, bdiaRegenerate, BDIA_SAMPLERS } from '../src/samplers/bdia.js';
import { ddim, ddimInverse } from '../src/samplers/ddim.js';
import { evodiff, EVODIFF_SAMPLERS } from '../src/samplers/evodiff.js';
import {
  attachGaussianFit,
  fitGaussian,
  gaussianFitFromMoments,
  gaussianSkip,
  gaussianSkipSampler,
  GAUSSIAN_SKIP_SAMPLERS,
  makeGaussianSkipSampler,
} from '../src/samplers/gaussian-skip.js';
import { lml, LML_SAMPLERS } from '../src/samplers/lml.js';
import { initialState, runSampler } from '../src/samplers/run.js';
import type { ParamValues, SamplerDef } from '../src/samplers/types.js';
import { measureOrder, orderSetup, referenceSolution, rmsError, testMixture, type OrderSetup } from '../bench/lib/ode-order.js';

const NFES = [10, 20, 40, 80, 160];

// One reference solution of the probability-flow ODE (continuous VP, mixture d = 16), shared by the order tests.
let shared: Promise<{ setup: OrderSetup; ref: Tensor }> | null = null;
function vpReference() {
  shared ??= (async () => {
    const setup = orderSetup();
    return { setup, ref: await referenceSolution(setup) };
  })();
  return shared;
}

async function order(def: SamplerDef, params: Partial<ParamValues> = {}, steps = NFES) {
  const { setup, ref } = await vpReference();
  return measureOrder(def, setup, ref, steps, params);
}

const fmt = (r: { slope: number; errors: number[]; nfes: number[] }) => `slope ${r.slope.toFixed(3)}, nfe ${r.nfes.join(',')}, errors ${r.errors.map((e) => e.toExponential(2)).join(' ')}`;

// ---------------------------------------------------------------- EVODiff

test('evodiff: measured first order with the regular last step (lower_order_final = false)', async () => {
  // Nominally second order (DPM-Solver++(2M) skeleton), but its heuristic corrector weight
  // (1 - 2 eta)/zeta is about 0.5-0.6 instead of the Taylor-matched 1, so each step has an O(h^2)
  // error: measured slope -0.96 (the errors are about half of DDIM's). Recorded in the notes.
  const r = await order(evodiff, { lower_order_final: false });
  assert.ok(Math.abs(r.slope + 1) < 0.3, fmt(r));
  assert.deepEqual(r.nfes, NFES.map((n) => n + 1)); // the order-2 last step evaluates at its probe
  const d = await order(ddim);
  for (let i = 0; i < NFES.length; i++) assert.ok(r.errors[i]! < 0.7 * d.errors[i]!, `evodiff ${fmt(r)} vs ddim ${fmt(d)}`);
});

test("evodiff: the authors' default last step leaves an error that does not fall with steps when the grid ends at a large noise level", async () => {
  // The last step scales the state by 1 - sqrt(kappa_t kappa_s): 0.83 here (kappa about 0.17 at t = 0.05),
  // about 0.998 for the authors' EDM grids ending at sigma = 0.002. Measured errors 1.2 ... 0.80.
  const r = await order(evodiff);
  assert.deepEqual(r.nfes, NFES);
  assert.ok(r.errors[4]! > 0.5 && Math.abs(r.slope) < 0.3, fmt(r));
});

test('evodiff: the same trajectory on VP and EDM paths for the same kappa grid (z = a x), and per-channel inner products', async () => {
  const gmm = testMixture();
  const vp = orderSetup();
  const grid = makeGrid(vp.path, { kind: 'logsnr-uniform', steps: 25, tStart: vp.tStart, tEnd: vp.tEnd, final: 'sigma_min' });
  const edm = new EDMPath({ sigmaMin: 1e-3, sigmaMax: 1e3 });
  const edmGrid = gridFromSigmas(edm, grid.map((p) => p.s / p.a));
  const xEdm = new Tensor(vp.x0.shape, vp.x0.data.map((v) => v / grid[0]!.a));
  for (const params of [{}, { lower_order_final: false }]) {
    const a = await runSampler(evodiff, vp.denoiser, grid, vp.x0, { params });
    const b = await runSampler(evodiff, gmm.asDenoiser(edm, 'x0'), edmGrid, xEdm, { params });
    const aEnd = grid[grid.length - 1]!.a;
    let err = 0;
    for (let i = 0; i < a.x.size; i++) err = Math.max(err, Math.abs(a.x.data[i]! / aEnd - b.x.data[i]!));
    assert.ok(err < 1e-10, `max difference ${err}`);
  }
  // [B, 1, 4, 4] data: one channel per item, so per-(sample, channel) products equal per-sample ones.
  const flat = await runSampler(evodiff, vp.denoiser, grid, vp.x0);
  const img = await runSampler(evodiff, vp.denoiser, grid, vp.x0.reshape([vp.batch, 1, 4, 4]));
  assert.deepEqual([...img.x.data], [...flat.x.data]);
  const twoCh = await runSampler(evodiff, vp.denoiser, grid, vp.x0.reshape([vp.batch, 2, 2, 4]));
  assert.ok(rmsError(twoCh.x, flat.x) > 0, 'two channels give per-channel coefficients');
});

test('evodiff: NFE equals steps on a grid ending at clean data (the last step is the x0 estimate)', async () => {
  const { setup } = await vpReference();
  for (const steps of [1, 2, 3, 10]) {
    const grid = makeGrid(setup.path, { kind: 'logsnr-uniform', steps: Math.max(1, steps - 1), tStart: setup.tStart, tEnd: setup.tEnd, final: 'sigma_min' });
    const clean = [...(steps === 1 ? [grid[0]!] : grid), setup.path.point(setup.path.tClean)];
    const r = await runSampler(evodiff, setup.denoiser, clean, setup.x0);
    assert.equal(r.nfe, steps);
    assert.ok(r.x.data.every(Number.isFinite));
  }
});

// ---------------------------------------------------------------- BDIA

test('bdia: gamma = 1 is second order (symmetric two-step scheme), gamma = 0.5 and the state filter first order', async () => {
  const one = await order(bdia);
  assert.ok(Math.abs(one.slope + 2) < 0.3, `gamma 1: ${fmt(one)}`);
  assert.deepEqual(one.nfes, NFES);
  const half = await order(bdia, { gamma: 0.5 });
  assert.ok(Math.abs(half.slope + 1) < 0.3, `gamma 0.5: ${fmt(half)}`);
  const filtered = await order(bdia, { state_filter: true });
  assert.ok(Math.abs(filtered.slope + 1) < 0.3, `state filter: ${fmt(filtered)}`);
  // gamma = 0 is DDIM.
  const zero = await order(bdia, { gamma: 0 }, [10]);
  const d = await order(ddim, {}, [10]);
  assert.ok(Math.abs(zero.errors[0]! - d.errors[0]!) < 1e-12);
});

function relError(x: Tensor, y: Tensor): number {
  let num = 0, den = 0;
  for (let i = 0; i < x.size; i++) {
    num += (x.data[i]! - y.data[i]!) ** 2;
    den += y.data[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

test('bdia-inverse: inverting then regenerating returns the input to rounding; DDIM inversion only converges with steps', async () => {
  const gmm = testMixture();
  const cases = [
    { name: 'vp', path: pathByName('vp-linear'), kind: 'logsnr-uniform' as const },
    { name: 'edm', path: new EDMPath(), kind: 'karras' as const },
  ];
  for (const { name, path, kind } of cases) {
    const ddimErr: number[] = [];
    for (const steps of [10, 50]) {
      const grid = makeGrid(path, { kind, steps, final: 'zero' });
      for (const dtype of ['float64', 'float32'] as const) {
        const denoiser = gmm.asDenoiser(path, 'eps');
        const x0 = gmm.sample(8, 11, dtype);
        const pair = await bdiaInvert(denoiser, grid, x0);
        assert.equal(pair.nfe, steps);
        assert.equal(pair.xT.dtype, dtype);
        const back = await bdiaRegenerate(denoiser, grid, pair);
        assert.equal(back.nfe, steps - 1);
        const rel = relError(back.x, x0);
        let xt2 = 0;
        for (const v of pair.xT.data) xt2 += v * v;
        const relT = rmsError(back.x, x0) * Math.sqrt(x0.batch / xt2);
        console.log(`bdia round trip ${name} ${steps} steps ${dtype}: relative error ${rel.toExponential(2)} (${relT.toExponential(2)} of |x_T|)`);
        if (name === 'vp') {
          assert.ok(rel < (dtype === 'float64' ? 1e-12 : 1e-5), `${name} ${steps} steps ${dtype}: relative error ${rel}`);
        } else {
          // EDM: the states near sigma_max = 80 carry rounding of about 80 * 2^-24 = 5e-6 (float32) or 80 * 2^-53 (float64)
          // each, and gamma = 1 does not damp it, so the exactness is relative to |x_T|: measured about 1e-6 (float32) and
          // 4e-14 (float64) of |x_T|, i.e. 6e-5 / 1.5e-4 and 1e-13 / 3e-12 of |x0| at 10 / 50 steps.
          assert.ok(dtype === 'float64' ? relT < 1e-12 && rel < 1e-10 : relT < 1e-5 && rel < 1e-3, `${name} ${steps} steps ${dtype}: relative error ${rel} (${relT} of |x_T|)`);
        }
        if (dtype === 'float64') {
          const inv = await runSampler(ddimInverse, denoiser, [...grid].reverse(), x0);
          const regen = await runSampler(ddim, denoiser, grid, inv.x);
          ddimErr.push(relError(regen.x, x0));
        }
      }
    }
    console.log(`ddim round trip ${name} 10 / 50 steps: relative error ${ddimErr.map((e) => e.toExponential(2)).join(' / ')}`);
    // DDIM round trip: large, falling only with the step count.
    assert.ok(ddimErr[0]! > 1e-3 && ddimErr[1]! < ddimErr[0]!, `${name} ddim round trip ${ddimErr}`);
  }
});

test('bdia-inverse: exact for gamma = 0.5 too; the pair sampler reproduces bdia from the same pair', async () => {
  const gmm = testMixture();
  const path = pathByName('vp-linear');
  const grid = makeGrid(path, { kind: 'time-uniform', steps: 20, final: 'zero' });
  const denoiser = gmm.asDenoiser(path, 'v');
  const x0 = gmm.sample(4, 3);
  const params = { gamma: 0.5 };
  const pair = await bdiaInvert(denoiser, grid, x0, { params });
  const back = await runSampler(bdiaFromPair(pair.xTm1), denoiser, grid, pair.xT, { params });
  assert.ok(relError(back.x, x0) < 1e-12, `${relError(back.x, x0)}`);
  // The inverse sampler alone returns xT; the state one point before is the one reported at step steps - 1.
  const seen: Tensor[] = [];
  const onStep = (s: { step: number; x: Tensor }) => {
    if (s.step === 19) seen.push(s.x.clone());
  };
  const inv = await runSampler(bdiaInverse, denoiser, [...grid].reverse(), x0, { params, onStep });
  assert.deepEqual([...inv.x.data], [...pair.xT.data]);
  assert.deepEqual([...seen[0]!.data], [...pair.xTm1.data]);
});

// ---------------------------------------------------------------- LML

test('lml: kappa = 0 is the base sampler bit for bit (ddim) and DPM-Solver++(2M) of order 2', async () => {
  const { setup } = await vpReference();
  for (const steps of [7, 20]) {
    const grid = makeGrid(setup.path, { kind: 'logsnr-uniform', steps, tStart: setup.tStart, tEnd: setup.tEnd, final: 'zero' });
    const a = await runSampler(lml, setup.denoiser, grid, setup.x0, { params: { base: 'ddim' } });
    const b = await runSampler(ddim, setup.denoiser, grid, setup.x0);
    assert.deepEqual([...a.x.data], [...b.x.data]);
    // freeze = 1 disables the correction at every step, whatever kappa.
    const c = await runSampler(lml, setup.denoiser, grid, setup.x0, { params: { base: 'ddim', kappa: 0.5, freeze: 1 } });
    assert.deepEqual([...c.x.data], [...b.x.data]);
    // DPM-Solver++(2M) written out independently (midpoint, first-order first step and step into sigma = 0).
    const ref = await dpmpp2m(setup, grid);
    const d = await runSampler(lml, setup.denoiser, grid, setup.x0, { params: { lower_order_final: false } });
    assert.ok(relError(d.x, ref) < 1e-13, `${relError(d.x, ref)}`);
  }
  const r = await order(lml);
  assert.ok(Math.abs(r.slope + 2) < 0.3, fmt(r));
  const h = await order(lml, { solver_type: 'heun' });
  assert.ok(Math.abs(h.slope + 2) < 0.3, fmt(h));
  const dd = await order(lml, { base: 'ddim' });
  assert.ok(Math.abs(dd.slope + 1) < 0.3, fmt(dd));
});

async function dpmpp2m(setup: OrderSetup, grid: readonly { t: number; a: number; s: number; b: number }[]): Promise<Tensor> {
  const { ModelFn } = await import('../src/models/model-fn.js');
  const fn = new ModelFn(setup.denoiser);
  const z = setup.x0.clone();
  let prev: Tensor | null = null;
  const lam = (p: { a: number; s: number }) => Math.log(p.a / p.s);
  for (let i = 0; i + 1 < grid.length; i++) {
    const s = grid[i]!, t = grid[i + 1]!;
    const { x0 } = await fn.estimate(z, s);
    const h = lam(t) - lam(s);
    const e = Math.exp(-h);
    for (let k = 0; k < z.size; k++) {
      let d = x0.data[k]!;
      if (prev && t.s > 0) d += (0.5 * (h / (lam(s) - lam(grid[i - 1]!)))) * (x0.data[k]! - prev.data[k]!);
      z.data[k] = (t.s / s.s) * z.data[k]! + t.a * (1 - e) * d;
    }
    prev = x0;
  }
  return z;
}

test('lml: kappa > 0 changes the solution; with the README damping (1e-3) it ruins it on the test mixture', async () => {
  // With lambda << |e|^2 the correction keeps only the component of n orthogonal to e and rescales it to |n|.
  const base = await order(lml, {}, [10, 20, 40]);
  const lm = await order(lml, { kappa: 0.1, lambda: 1e-3 }, [10, 20, 40]);
  for (let i = 0; i < 3; i++) assert.ok(lm.errors[i]! > 10 * base.errors[i]!, `base ${fmt(base)} lm ${fmt(lm)}`);
  // lambda of the order of |n|^2: a modest change (measured 0.145 -> 0.087 at 10 NFE, 0.024 -> 0.030 at 20).
  const mild = await order(lml, { kappa: 0.05, lambda: 1 }, [10, 20, 40]);
  for (let i = 0; i < 3; i++) assert.ok(mild.errors[i] !== base.errors[i] && mild.errors[i]! < 2 * base.errors[i]!, `mild ${fmt(mild)}`);
});

// ---------------------------------------------------------------- Gaussian skip

function singleGaussian(): GaussianMixture {
  const mix = testMixture();
  const d = mix.dim, cov = mix.covs[1]!;
  return new GaussianMixture({ weights: [1], means: [[...mix.means[1]!]], covs: [Array.from({ length: d }, (_, i) => [...cov.subarray(i * d, (i + 1) * d)])] });
}

test('gaussian-skip: the closed form equals the probability-flow solution for Gaussian data', async () => {
  const one = singleGaussian();
  const m = one.moments();
  const fit = gaussianFitFromMoments(m.mean, m.cov);
  for (const setup of [orderSetup(), orderSetup(new EDMPath(), { tEnd: 0.05 })]) {
    setup.denoiser = one.asDenoiser(setup.path, 'eps');
    const ref = await referenceSolution(setup, 1000);
    const z = gaussianSkip(fit, setup.path, setup.tStart, setup.tEnd, setup.x0);
    assert.ok(rmsError(z, ref) < 1e-8, `${setup.path.family}: ${rmsError(z, ref)}`);
    // As a sampler, skipping all but the last step: 1 NFE.
    const grid = makeGrid(setup.path, { kind: 'logsnr-uniform', steps: 8, tStart: setup.tStart, tEnd: setup.tEnd, final: 'sigma_min' });
    const def = makeGaussianSkipSampler(fit, { skipFraction: 1 });
    const r = await runSampler(def, setup.denoiser, grid, setup.x0);
    assert.equal(r.nfe, 1);
  }
});

test('gaussian-skip: fits (full and low rank) and the registry sampler', async () => {
  const mix = testMixture();
  const samples = mix.sample(3000, 5);
  const full = fitGaussian(samples);
  const low = fitGaussian(samples, { rank: 4 });
  const exact = mix.moments();
  const exactFit = gaussianFitFromMoments(exact.mean, exact.cov);
  for (let k = 0; k < 4; k++) {
    assert.ok(Math.abs(low.values[k]! - full.values[k]!) < 1e-8 * full.values[0]!, `eigenvalue ${k}: ${low.values[k]} vs ${full.values[k]}`);
    assert.ok(Math.abs(full.values[k]! - exactFit.values[k]!) < 0.1 * exactFit.values[k]!, `sample vs exact eigenvalue ${k}`);
  }
  let trace = 0, kept = 0;
  for (const v of full.values) trace += v;
  for (const v of low.values) kept += v;
  assert.ok(Math.abs(low.rest - (trace - kept) / 12) < 1e-9);
  // Registry sampler: the fit attached to the model, else the analytic mixture's moments.
  const { setup } = await vpReference();
  const grid = makeGrid(setup.path, { kind: 'logsnr-uniform', steps: 10, tStart: setup.tStart, tEnd: setup.tEnd, final: 'sigma_min' });
  const viaMoments = await runSampler(gaussianSkipSampler, setup.denoiser, grid, setup.x0, { params: { skip_fraction: 0.3 } });
  assert.equal(viaMoments.nfe, 7);
  const own = attachGaussianFit(mix.asDenoiser(setup.path, 'eps'), full);
  const viaAttached = await runSampler(gaussianSkipSampler, own, grid, setup.x0, { params: { skip_fraction: 0.3 } });
  assert.ok(rmsError(viaAttached.x, viaMoments.x) > 0 && rmsError(viaAttached.x, viaMoments.x) < 0.05);
  const noFit = { prediction: 'eps' as const, path: setup.path, itemShape: null, predict: (x: Tensor) => Promise.resolve(x.zerosLike()) };
  await assert.rejects(runSampler(gaussianSkipSampler, noFit, grid, setup.x0), (e: unknown) => e instanceof TweedieError && e.code === 'UNSUPPORTED');
  // Any finisher with its own options: stochastic DDIM (eta = 1).
  const sto = makeGaussianSkipSampler(full, { then: ddim });
  const s = await runSampler(sto, setup.denoiser, grid, setup.x0, { params: { eta: 1, skip_fraction: 0.5 }, noise: new NoiseSource(4) });
  assert.equal(s.nfe, 5);
  assert.ok(s.x.data.every(Number.isFinite));
});

test('gaussian-skip: at equal NFE, jumping the nearly Gaussian early part lowers the error on the mixture', async () => {
  const { setup, ref } = await vpReference();
  const m = testMixture().moments();
  const fit = gaussianFitFromMoments(m.mean, m.cov);
  // Measured (ddim / 2M): NFE 10: 0.53 -> 0.36 / 0.145 -> 0.060; NFE 20: 0.25 -> 0.17 / 0.024 -> 0.014 with skip 0.3.
  for (const [then, params] of [[ddim, {}], [lml, {}]] as const) {
    for (const nfe of [10, 20]) {
      const plain = makeGrid(setup.path, { kind: 'logsnr-uniform', steps: nfe, tStart: setup.tStart, tEnd: setup.tEnd, final: 'sigma_min' });
      const base = await runSampler(then, setup.denoiser, plain, setup.x0, { params });
      const steps = Math.round(nfe / 0.7);
      const longer = makeGrid(setup.path, { kind: 'logsnr-uniform', steps, tStart: setup.tStart, tEnd: setup.tEnd, final: 'sigma_min' });
      const skip = await runSampler(makeGaussianSkipSampler(fit, { skipFraction: 0.3, then }), setup.denoiser, longer, setup.x0, { params });
      assert.equal(skip.nfe, nfe);
      const e0 = rmsError(base.x, ref), e1 = rmsError(skip.x, ref);
      assert.ok(e1 < 0.8 * e0, `${then.name} at ${nfe} NFE: ${e0} without skip, ${e1} with`);
    }
  }
});

test('evodiff: at 10 NFE its samples are closer in distribution to the mixture than DDIM and DPM-Solver++(2M)', async () => {
  // Distribution level (sliced Wasserstein, 4,000 samples each, grid ending at clean data), where the authors
  // claim their gains. Measured SWD at 10 NFE: evodiff 0.054, bdia 0.077, ddim 0.135, 2M 0.187; floor 0.038.
  const mix = testMixture();
  const path = pathByName('vp-linear');
  const denoiser = mix.asDenoiser(path, 'eps');
  const exact = mix.sample(4000, 1, 'float32');
  const floor = slicedWasserstein(exact.data, mix.sample(4000, 2, 'float32').data, 16, { projections: 64 });
  const grid = makeGrid(path, { kind: 'time-uniform', steps: 10, final: 'zero' });
  const xT = initialState(new NoiseSource(9).normal([4000, 16], 0, 0, 'float32'), grid[0]!);
  const swd: Record<string, number> = {};
  for (const [name, def] of [['evodiff', evodiff], ['ddim', ddim], ['2M', lml]] as const) {
    const r = await runSampler(def, denoiser, grid, xT);
    assert.equal(r.nfe, 10);
    swd[name] = slicedWasserstein(r.x.data, exact.data, 16, { projections: 64 });
  }
  console.log(`SWD at 10 NFE: ${JSON.stringify(swd)}, floor ${floor.toFixed(4)}`);
  assert.ok(swd.evodiff! < 0.6 * swd.ddim! && swd.evodiff! < 0.6 * swd['2M']! && swd.evodiff! < 2 * floor, JSON.stringify({ ...swd, floor }));
});

// ---------------------------------------------------------------- every path, prediction and step count

const prior2d = new GaussianMixture({
  weights: [0.6, 0.4],
  means: [[-1, 0.5], [1.5, -0.5]],
  covs: [[[0.2, 0.05], [0.05, 0.1]], [[0.1, 0], [0, 0.3]]],
});

const VARIANTS: [SamplerDef, Partial<ParamValues>][] = [
  ...[...EVODIFF_SAMPLERS, ...BDIA_SAMPLERS, ...LML_SAMPLERS, ...GAUSSIAN_SKIP_SAMPLERS].map((d): [SamplerDef, Partial<ParamValues>] => [d, {}]),
  [evodiff, { lower_order_final: false }],
  [bdia, { gamma: 0.5, state_filter: true }],
  [lml, { kappa: 0.5, lambda: 1 }],
  [lml, { kappa: 0.5, base: 'ddim', freeze: 0.3 }],
  [gaussianSkipSampler, { then: 'dpm-solver++', skip_fraction: 0.5 }],
  [gaussianSkipSampler, { then: 'evodiff' }],
];

test('new samplers: finite results on every path, prediction type and step count (or a clear UNSUPPORTED)', async () => {
  const predictions: PredictionType[] = ['eps', 'x0', 'v', 'velocity'];
  for (const [def, params] of VARIANTS) {
    let ran = 0;
    for (const pathName of PATH_NAMES) {
      const path = pathByName(pathName);
      for (const prediction of predictions) {
        const denoiser = prior2d.asDenoiser(path, prediction);
        for (const steps of [1, 2, 3, 5, 10]) {
          const grid = makeGrid(path, defaultGridSpec(path, steps, 'sample'));
          const g = def.inverse ? [...grid].reverse() : grid;
          const noise = new NoiseSource(1).normal([2, 2], 0, 1);
          const xT = def.inverse ? noise : initialState(noise, g[0]!);
          try {
            const r = await runSampler(def, denoiser, g, xT, { params });
            assert.ok(r.x.data.every(Number.isFinite), `${def.name} ${JSON.stringify(params)} on ${pathName}/${prediction}/${steps}: ${[...r.x.data]}`);
            if (def === bdiaInverse) {
              const back = await bdiaRegenerate(denoiser, grid, await bdiaInvert(denoiser, grid, noise, { params }), { params });
              assert.ok(back.x.data.every(Number.isFinite));
            }
            ran++;
          } catch (e) {
            // eps-prediction models cannot start at a = 0 (rectified flow at t = 1, RDDM at t = T): ModelFn refuses.
            if (!(e instanceof TweedieError && e.code === 'UNSUPPORTED' && (pathName === 'flow' || pathName === 'rddm') && prediction === 'eps')) throw e;
          }
        }
      }
    }
    assert.ok(ran >= PATH_NAMES.length * 4 * 5 - 10, `${def.name} ran ${ran}`);
  }
});

test('new samplers: 1000 steps on the discrete VP timesteps grid stay finite', async () => {
  const path = pathByName('vp');
  const denoiser = prior2d.asDenoiser(path, 'eps');
  const grid = makeGrid(path, { kind: 'timesteps', steps: 1000, spacing: 'trailing' });
  const x = initialState(new NoiseSource(1).normal([2, 2], 0, 1), grid[0]!);
  for (const [def, params] of VARIANTS) {
    const g = def.inverse ? [...grid].reverse() : grid;
    const r = await runSampler(def, denoiser, g, def.inverse ? prior2d.sample(2, 1, 'float32') : x, { params });
    assert.ok(r.x.data.every(Number.isFinite), `${def.name} ${JSON.stringify(params)}`);
  }
});

test("new samplers: a zero-length last step (diffusers' grids repeating sigma_min) is the identity", async () => {
  const { setup } = await vpReference();
  const g = makeGrid(setup.path, { kind: 'logsnr-uniform', steps: 9, tStart: setup.tStart, tEnd: setup.tEnd, final: 'sigma_min' });
  const repeated = [...g, g[g.length - 1]!];
  for (const [def, params] of [[evodiff, {}], [evodiff, { lower_order_final: false }], [bdia, {}], [lml, { solver_type: 'heun', lower_order_final: false }]] as const) {
    const a = await runSampler(def, setup.denoiser, repeated, setup.x0, { params });
    const b = await runSampler(def, setup.denoiser, g, setup.x0, { params });
    assert.deepEqual([...a.x.data], [...b.x.data], `${def.name} ${JSON.stringify(params)}`);
  }
  // lml (DPM-Solver++ base) spends 1 NFE on it, as diffusers does, and stays finite.
  const r = await runSampler(lml, setup.denoiser, repeated, setup.x0);
  assert.equal(r.nfe, 10);
  assert.ok(r.x.data.every(Number.isFinite));
});

test('new samplers: unknown and out-of-range options are TweedieErrors', async () => {
  const path = pathByName('vp-linear');
  const denoiser = prior2d.asDenoiser(path, 'eps');
  const grid = makeGrid(path, defaultGridSpec(path, 4));
  const x = initialState(new NoiseSource(1).normal([1, 2], 0, 1), grid[0]!);
  const bad: [SamplerDef, Partial<ParamValues>][] = [
    [evodiff, { order: 3 }],
    [bdia, { gamma: 1.5 }],
    [bdiaInverse, { gamma: 0 }],
    [lml, { kappa: -0.1 }],
    [lml, { base: 'unipc' }],
    [gaussianSkipSampler, { skip_fraction: 1.5 }],
    [gaussianSkipSampler, { then: 'heun' }],
  ];
  for (const [def, params] of bad) {
    const g = def.inverse ? [...grid].reverse() : grid;
    await assert.rejects(runSampler(def, denoiser, g, x, { params }), (e: unknown) => e instanceof TweedieError && e.code === 'BAD_INPUT', `${def.name} ${JSON.stringify(params)}`);
  }
  assert.throws(() => makeGaussianSkipSampler(fitGaussian(prior2d.sample(10, 1)), { then: ddimInverse }), TweedieError);
  assert.throws(() => fitGaussian(prior2d.sample(1, 1)), TweedieError);
});
