import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NoiseSource, Stream } from '../src/core/rng.js';
import { Tensor } from '../src/core/tensor.js';
import { TweedieError } from '../src/core/errors.js';
import { slicedWasserstein } from '../src/metrics/distribution.js';
import { ModelFn } from '../src/models/model-fn.js';
import { attachNoiseLevelEstimator, exactMixtureNoiseLevels, type NoiseLevelEstimator } from '../src/models/noise-level.js';
import { makeGrid } from '../src/paths/grids.js';
import { pathByName } from '../src/paths/registry.js';
import { dmcmc, drawLevels, finisherSteps, langevinAtLevels } from '../src/samplers/dmcmc.js';
import { initialState, runSampler } from '../src/samplers/run.js';
import { D, exactAndFloor, LEVEL, N } from './helpers/swd.js';
import { testMixture } from '../bench/lib/ode-order.js';

// Oracles: the exact marginal p_t of the test mixture (x = a x0 + s eps with exact x0 samples) and the exact
// posterior over the levels (from the exact marginal likelihoods p_{t_k}(x)). SWD floors are the SWD between
// two independent exact sample sets of the same size.

const path = pathByName('vp-linear');
const gmm = testMixture();
const swd = (x: Tensor, y: Tensor) => slicedWasserstein(x.data, y.data, D, { projections: 128, seed: 5 });

/** N exact samples of p_t at each item's level time (one time for all when `times` is a number). */
function exactNoisy(times: number | readonly number[], seed: number): Tensor {
  const x0 = gmm.sample(N, seed, 'float32'), eps = new NoiseSource(seed + 100).normal([N, D], 0, Stream.init);
  const out = x0.zerosLike();
  for (let b = 0; b < N; b++) {
    const p = path.point(typeof times === 'number' ? times : times[b]!);
    for (let i = 0; i < D; i++) out.data[b * D + i] = p.a * x0.data[b * D + i]! + p.s * eps.data[b * D + i]!;
  }
  return out;
}

/** `steps` Langevin steps at the fixed time tRun, from exact samples of p_tStart. */
async function langevinChain(tStart: number, tRun: number, eta: number, steps: number): Promise<Tensor> {
  const fn = new ModelFn(gmm.asDenoiser(path, 'eps'));
  const z = exactNoisy(tStart, 21), level = new Int32Array(N), noise = new NoiseSource(8);
  for (let i = 0; i < steps; i++) await langevinAtLevels(fn, z, [path.point(tRun)], level, eta, noise, i);
  return z;
}

const T = 0.3, STEPS = 100;

test('dmcmc Langevin at fixed t keeps the exact marginal p_t (SWD within 2.25x the floor), and fails with a wrong step size or a wrong t', async () => {
  const floor = swd(exactNoisy(T, 31), exactNoisy(T, 32));
  const good = swd(await langevinChain(T, T, 0.05, STEPS), exactNoisy(T, 31));
  const bigStep = swd(await langevinChain(T, T, 1.5, STEPS), exactNoisy(T, 31));
  const wrongT = swd(await langevinChain(T, 0.6 * T, 0.05, STEPS), exactNoisy(T, 31));
  console.log(`# Langevin at t = ${T}, ${STEPS} steps: floor ${floor.toFixed(4)}; eta 0.05: ${good.toFixed(4)}; eta 1.5: ${bigStep.toFixed(4)}; score of t = ${0.6 * T}: ${wrongT.toFixed(4)}`);
  assert.ok(good < LEVEL * floor, `eta 0.05: SWD ${good} is above ${LEVEL} x floor ${floor}`);
  assert.ok(bigStep > LEVEL * floor, `eta 1.5 should leave p_t (ULA bias), SWD ${bigStep} vs ${LEVEL} x floor ${floor}`);
  assert.ok(wrongT > LEVEL * floor, `the score of a wrong t should leave p_t, SWD ${wrongT} vs ${LEVEL} x floor ${floor}`);
});

test('dmcmc Langevin at fixed t relaxes a wrong start (exact samples of another t) to p_t', async () => {
  const floor = swd(exactNoisy(T, 31), exactNoisy(T, 32));
  const start = swd(exactNoisy(0.6 * T, 21), exactNoisy(T, 31));
  const relaxed = swd(await langevinChain(0.6 * T, T, 0.05, 4 * STEPS), exactNoisy(T, 31));
  console.log(`# Langevin at t = ${T} from p_${0.6 * T}: start ${start.toFixed(4)}, after ${4 * STEPS} steps ${relaxed.toFixed(4)} (floor ${floor.toFixed(4)})`);
  assert.ok(start > LEVEL * floor && relaxed < LEVEL * floor, `start ${start}, relaxed ${relaxed}, floor ${floor}`);
});

const LEVELS = Array.from({ length: 10 }, (_, k) => 0.1 * (k + 1));

/** Gibbs over (x, t) with the given posterior over LEVELS, from exact joint samples (t uniform on the levels). */
async function gibbsChain(estimator: NoiseLevelEstimator, steps: number): Promise<{ x: Tensor; times: number[] }> {
  const fn = new ModelFn(gmm.asDenoiser(path, 'eps'));
  const points = LEVELS.map((t) => path.point(t));
  const level = Int32Array.from({ length: N }, (_, b) => b % LEVELS.length);
  const z = exactNoisy(Array.from(level, (k) => LEVELS[k]!), 41), noise = new NoiseSource(9);
  for (let i = 1; i <= steps; i++) {
    await langevinAtLevels(fn, z, points, level, 0.05, noise, i);
    await drawLevels(estimator, z, 'sample', noise, i, level);
  }
  return { x: z, times: Array.from(level, (k) => LEVELS[k]!) };
}

test('dmcmc Gibbs over (x, t) with the exact posterior over t keeps the joint p_t(x) pi(t); a wrong posterior leaves it', async () => {
  const joint = () => exactNoisy(Array.from({ length: N }, (_, b) => LEVELS[b % LEVELS.length]!), 51);
  const floor = swd(joint(), exactNoisy(Array.from({ length: N }, (_, b) => LEVELS[(b + 3) % LEVELS.length]!), 52));
  const exact = exactMixtureNoiseLevels(gmm, path, LEVELS);
  const good = await gibbsChain(exact, 40);
  // A wrong estimator: the exact posterior of levels at 0.3x the times, read as the true levels.
  const shifted = exactMixtureNoiseLevels(gmm, path, LEVELS.map((t) => 0.3 * t));
  const bad = await gibbsChain({ levels: LEVELS, logPosterior: (x) => shifted.logPosterior(x) }, 40);
  const goodSwd = swd(good.x, joint()), badSwd = swd(bad.x, joint());
  // The t marginal stays uniform: each level's share within 4 binomial standard deviations of 1/10.
  const sd = Math.sqrt(0.1 * 0.9 / N);
  const shares = LEVELS.map((t) => good.times.filter((u) => u === t).length / N);
  console.log(`# Gibbs (x, t), 40 steps: floor ${floor.toFixed(4)}; exact posterior ${goodSwd.toFixed(4)}; posterior of 0.3 t ${badSwd.toFixed(4)}; level shares ${shares.map((s) => s.toFixed(3)).join(' ')}`);
  assert.ok(goodSwd < LEVEL * floor, `exact posterior: SWD ${goodSwd} above ${LEVEL} x floor ${floor}`);
  assert.ok(shares.every((s) => Math.abs(s - 0.1) < 4 * sd), `level shares ${shares.join(', ')} are not uniform`);
  assert.ok(badSwd > LEVEL * floor, `a wrong posterior should leave the joint: SWD ${badSwd} vs ${LEVEL} x floor ${floor}`);
});

test('the exact posterior over t puts its mass on the level an exact sample came from', async () => {
  const est = exactMixtureNoiseLevels(gmm, path, LEVELS);
  const x = exactNoisy(Array.from({ length: N }, (_, b) => LEVELS[b % LEVELS.length]!), 61);
  const logp = await est.logPosterior(x);
  // Mean posterior mass on the true level: at least twice the 1/10 of a guess (the high levels are nearly alike).
  let mass = 0;
  for (let b = 0; b < N; b++) mass += Math.exp(logp[b * LEVELS.length + (b % LEVELS.length)]!) / N;
  assert.ok(mass > 0.2, `posterior mass on the true level ${mass}`);
});

test('dmcmc samples the mixture: exact Gibbs chain, then DPM-Solver++ from the last chain state; SWD to the exact data within 2.25x the floor; NFE = mcmc_steps + finisher', async () => {
  const { exact, floor } = exactAndFloor();
  const grid = makeGrid(path, { kind: 'logsnr-uniform', steps: 20, final: 'zero' });
  const xT = initialState(new NoiseSource(3).normal([N, D], 0, Stream.init, 'float32'), grid[0]!);
  const r = await runSampler(dmcmc, gmm.asDenoiser(path, 'eps'), grid, xT, { noise: new NoiseSource(4), params: { mcmc_steps: 4, eta: 0.1, t_rule: 'sample', keep: 'last' } });
  const got = swd(r.x, exact);
  console.log(`# dmcmc (4 MCMC + DPM-Solver++ 20): SWD ${got.toFixed(4)}, floor ${floor.toFixed(4)}, NFE ${r.nfe}`);
  assert.equal(r.nfe, 24);
  assert.ok(got < LEVEL * floor, `SWD ${got} above ${LEVEL} x floor ${floor}`);
});

test('dmcmc with shared chains (4 samples a chain, warm start of 10 grid steps) samples the mixture; NFE per sample = (10 + 4 x 4) / 4 + 20', async () => {
  const { exact, floor } = exactAndFloor();
  const grid = makeGrid(path, { kind: 'logsnr-uniform', steps: 20, final: 'zero' });
  const xT = initialState(new NoiseSource(3).normal([N, D], 0, Stream.init, 'float32'), grid[0]!);
  const params = { mcmc_steps: 4, chain_samples: 4, init_steps: 10, eta: 0.3, t_rule: 'sample', keep: 'last' };
  const r = await runSampler(dmcmc, gmm.asDenoiser(path, 'eps'), grid, xT, { noise: new NoiseSource(4), params });
  const got = swd(r.x, exact);
  console.log(`# dmcmc shared chains: SWD ${got.toFixed(4)}, floor ${floor.toFixed(4)}, NFE ${r.nfe}`);
  assert.equal(r.nfe, (10 + 4 * 4) / 4 + 20);
  assert.ok(got < LEVEL * floor, `SWD ${got} above ${LEVEL} x floor ${floor}`);
});

test('dmcmc refuses impossible options in one line, and a model without a noise-level estimator', async () => {
  const grid = makeGrid(path, { kind: 'logsnr-uniform', steps: 4, final: 'zero' });
  const xT = new NoiseSource(0).normal([2, D], 0);
  const denoiser = gmm.asDenoiser(path, 'eps');
  for (const [params, word] of [[{ eta: -0.1 }, 'eta'], [{ mcmc_steps: 0 }, 'mcmc_steps'], [{ mcmc_steps: 1.5 }, 'mcmc_steps']] as const) {
    await assert.rejects(runSampler(dmcmc, denoiser, grid, xT, { params }), (e: unknown) => e instanceof TweedieError && e.code === 'BAD_INPUT' && e.message.includes(word) && !e.message.includes('\n'));
  }
  await assert.rejects(runSampler(dmcmc, denoiser, grid, xT, { params: { init_steps: 4 } }), (e: unknown) => e instanceof TweedieError && e.code === 'BAD_INPUT' && /init_steps = 4 must be below the grid's 4 steps/.test(e.message));
  // An NFE budget the chain already spends: refused with the least budget that works.
  assert.throws(() => finisherSteps(4, 4), (e: unknown) => e instanceof TweedieError && e.code === 'BAD_INPUT' && /at least 5 NFE/.test(e.message));
  assert.equal(finisherSteps(10, 2.5), 7);
  const bare = { prediction: 'eps' as const, path, itemShape: [D], predict: async (x: Tensor) => x.zerosLike() };
  await assert.rejects(runSampler(dmcmc, bare, grid, xT), (e: unknown) => e instanceof TweedieError && e.code === 'UNSUPPORTED' && /noise-level estimator/.test(e.message));
  // An attached estimator is used instead of refusing.
  attachNoiseLevelEstimator(bare, exactMixtureNoiseLevels(gmm, path, LEVELS));
  assert.equal((await runSampler(dmcmc, bare, grid, xT, { params: { mcmc_steps: 1 } })).x.batch, 2);
});
