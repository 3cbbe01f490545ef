import { test } from 'node:test';
import assert from 'node:assert/strict';
import { smc, runSmc, SMC_SOLVERS, systematicResample, effectiveSampleSize, type SmcStats } from '../src/inverse/solvers/smc.js';
import { runSolver } from '../src/inverse/solvers/run.js';
import { defineSolver, type SolverDef } from '../src/inverse/solvers/types.js';
import { parseOperatorSpec } from '../src/inverse/operators/spec-file.js';
import { NoiseSource, Stream } from '../src/core/rng.js';
import { Tensor } from '../src/core/tensor.js';
import { cholesky, matMul, solveSPD, transpose } from '../src/core/linalg.js';
import { TweedieError } from '../src/core/errors.js';
import { slicedWasserstein, sampleMean } from '../src/metrics/distribution.js';
import { makeGrid } from '../src/paths/grids.js';
import type { Path } from '../src/paths/path.js';
import { ContinuousVPPath, DiscreteVPPath } from '../src/paths/vp.js';
import { EDMPath, FlowPath, VEPath } from '../src/paths/ve.js';
import { initialState } from '../src/samplers/run.js';
import type { ParamValues } from '../src/samplers/types.js';
import { imageMixture, measurementResidual, posteriorProblem, scoreSolver, type PosteriorProblem, type PosteriorScore } from '../bench/lib/posterior.js';

const log = (what: string, r: PosteriorScore): void =>
  console.log(`# ${what}: SWD ${r.swd.toFixed(3)} (floor ${r.floor.toFixed(3)}), mean error ${r.meanError.toFixed(3)}, NFE ${r.nfe}`);

let cached16: PosteriorProblem | undefined;
const problem16 = (): PosteriorProblem => (cached16 ??= posteriorProblem(16, 8, 0.1));

function newStats(): SmcStats {
  return { ess: [], resampled: [], finalResample: false, logEvidence: NaN };
}

/** smc with its bookkeeping exposed. */
function withStats(stats: SmcStats): SolverDef {
  return defineSolver({ ...smc, run: (ctx) => runSmc(ctx, stats) });
}

/** Exact log p(y) of the mixture prior under y = A x + N(0, sigma^2 I): log sum_k w_k N(y; A m_k, A C_k A^T + sigma^2 I). */
function exactLogEvidence(pb: PosteriorProblem): number {
  const { prior, op, y, sigma, d } = pb;
  const A = op.matrix, m = op.m, At = transpose(A, m, d);
  const terms: number[] = [];
  for (let k = 0; k < prior.components; k++) {
    const C = Float64Array.from(prior.covs[k]!), mk = prior.means[k]!;
    const S = matMul(A, matMul(C, At, d, d, m), m, d, m);
    for (let i = 0; i < m; i++) S[i * m + i] += sigma * sigma;
    const r = new Float64Array(m);
    for (let i = 0; i < m; i++) {
      let acc = y.data[i]!;
      for (let j = 0; j < d; j++) acc -= A[i * d + j]! * mk[j]!;
      r[i] = acc;
    }
    const L = cholesky(S, m)!, Sr = solveSPD(S, m, r);
    let logdet = 0, quad = 0;
    for (let i = 0; i < m; i++) {
      logdet += 2 * Math.log(L[i * m + i]!);
      quad += r[i]! * Sr[i]!;
    }
    terms.push(Math.log(prior.weights[k]!) - 0.5 * (m * Math.log(2 * Math.PI) + logdet + quad));
  }
  const mx = Math.max(...terms);
  return mx + Math.log(terms.reduce((s, t) => s + Math.exp(t - mx), 0));
}

test('SMC_SOLVERS exports smc; particles and svd are declared needs; 1 NFE per step', () => {
  assert.deepEqual(SMC_SOLVERS.map((d) => d.name), ['smc']);
  assert.deepEqual(smc.needs, { particles: true, svd: true });
  assert.equal(smc.nfePerStep, 1);
  for (const [k, spec] of Object.entries(smc.params)) assert.ok(spec.doc.length > 20, `param ${k} documented`);
  assert.equal(smc.params.resample_threshold!.default, 0.5);
});

test('systematic resampling and effective sample size', () => {
  // Uniform weights: ESS = n and every particle kept once, whatever u.
  const flat = new Float64Array(8);
  assert.equal(effectiveSampleSize(flat), 8);
  for (const u of [0, 0.3, 0.999]) assert.deepEqual(Array.from(systematicResample(flat, u)), [0, 1, 2, 3, 4, 5, 6, 7]);
  // One particle carries all the weight: ESS 1, all copies of it.
  const one = Float64Array.from([-Infinity, 0, -Infinity, -Infinity]);
  assert.equal(effectiveSampleSize(one), 1);
  assert.deepEqual(Array.from(systematicResample(one, 0.5)), [1, 1, 1, 1]);
  // Weights 0.5, 0.25, 0.125, 0.125 (log scale shifted by 7): ESS = 1 / sum W^2 = 1 / 0.34375; particle j kept floor/ceil(n W_j) times.
  const w = [0.5, 0.25, 0.125, 0.125];
  const lw = Float64Array.from(w, (v) => Math.log(v) + 7);
  assert.ok(Math.abs(effectiveSampleSize(lw) - 1 / 0.34375) < 1e-12);
  for (const u of [0.01, 0.37, 0.5, 0.93]) {
    const a = systematicResample(lw, u);
    const counts = [0, 0, 0, 0];
    for (const j of a) counts[j]!++;
    counts.forEach((c, j) => assert.ok(c === Math.floor(4 * w[j]!) || c === Math.ceil(4 * w[j]!), `u=${u}: particle ${j} kept ${c} times`));
    assert.deepEqual(Array.from(a), [...a].sort((p, q) => p - q), 'ancestors in order');
  }
  // Large n: copies track n W_j within one.
  const n = 1000, lw2 = Float64Array.from({ length: n }, (_, j) => Math.sin(j) * 3);
  const tot = lw2.reduce((s, v) => s + Math.exp(v), 0);
  const counts2 = new Array<number>(n).fill(0);
  for (const j of systematicResample(lw2, 0.42)) counts2[j]!++;
  counts2.forEach((c, j) => assert.ok(Math.abs(c - (n * Math.exp(lw2[j]!)) / tot) < 1 + 1e-9));
});

test('smc d=16: close to the exact posterior at 100 steps; the log-evidence estimate matches log p(y)', async () => {
  const pb = problem16();
  const stats = newStats();
  const r = await scoreSolver(pb, withStats(stats), 100);
  log('smc d=16 (100 steps, 2000 particles)', r);
  const exact = exactLogEvidence(pb);
  console.log(`# smc d=16: log p(y) estimate ${stats.logEvidence.toFixed(3)} vs exact ${exact.toFixed(3)}; resampled at ${stats.resampled.filter(Boolean).length} of 100 steps, min ESS ${Math.min(...stats.ess).toFixed(0)}`);
  // measured: SWD 0.038 (floor 0.034), mean error 0.067, log p(y) -7.65 vs exact -7.60 (score-sde at 50 steps: SWD 1.27, mean error 4.24).
  assert.equal(r.nfe, 100);
  assert.ok(r.swd < 0.055 && r.swd < 1.6 * r.floor, `SWD ${r.swd}`);
  assert.ok(r.meanError < 0.2, `mean error ${r.meanError}`);
  assert.ok(Math.abs(stats.logEvidence - exact) < 0.25, `log evidence ${stats.logEvidence} vs ${exact}`);
});

/** n particles against n exact posterior samples; floor = SWD between two exact sets of n. */
async function runWithParticles(pb: PosteriorProblem, n: number, seed: number, steps = 100, params: Partial<ParamValues> = {}) {
  const path = new ContinuousVPPath();
  const grid = makeGrid(path, { kind: 'logsnr-uniform', steps, tStart: path.tMax, tEnd: path.tMin, final: 'zero' });
  const xT = initialState(new NoiseSource(seed).normal([n, pb.d], 0, Stream.init, 'float64'), grid[0]!);
  const stats = newStats();
  const r = await runSolver(withStats(stats), pb.prior.asDenoiser(path, 'eps'), grid, pb.op, pb.y, xT, { noise: new NoiseSource(seed + 1000), params });
  const exact = pb.posterior.sample(n, 100 + seed, 'float64'), exact2 = pb.posterior.sample(n, 200 + seed, 'float64');
  const swd = slicedWasserstein(r.x.data, exact.data, pb.d, { projections: 128, seed: 9 });
  const floor = slicedWasserstein(exact2.data, exact.data, pb.d, { projections: 128, seed: 9 });
  const m = sampleMean(r.x.data, pb.d);
  let e = 0;
  for (let j = 0; j < pb.d; j++) e += (m[j]! - pb.exactMean[j]!) ** 2;
  return { x: r.x, nfe: r.nfe, swd, floor, meanError: Math.sqrt(e), stats };
}

test('smc: SWD to the exact posterior and the posterior-mean error fall as particles grow', async () => {
  const pb = problem16();
  const rows: { n: number; swd: number; floor: number; meanError: number }[] = [];
  for (const n of [100, 400, 1600]) {
    let swd = 0, floor = 0, meanError = 0;
    const seeds = [1, 2, 3];
    for (const seed of seeds) {
      const r = await runWithParticles(pb, n, seed);
      assert.equal(r.nfe, 100, 'one batched model call per step, whatever the particle count');
      swd += r.swd / seeds.length;
      floor += r.floor / seeds.length;
      meanError += r.meanError / seeds.length;
    }
    rows.push({ n, swd, floor, meanError });
    console.log(`# smc d=16, ${n} particles (100 steps, 3 seeds): SWD ${swd.toFixed(3)} (floor at ${n}: ${floor.toFixed(3)}, ratio ${(swd / floor).toFixed(2)}), mean error ${meanError.toFixed(3)}, particle evaluations ${100 * n}`);
  }
  const [a, b, c] = rows as [(typeof rows)[0], (typeof rows)[0], (typeof rows)[0]];
  // measured: SWD 0.123 / 0.061 / 0.047 (floors 0.113 / 0.064 / 0.037), mean error 0.288 / 0.147 / 0.093.
  assert.ok(b.swd < 0.8 * a.swd && c.swd < 0.9 * b.swd, 'SWD falls with particles');
  assert.ok(b.meanError < 0.8 * a.meanError && c.meanError < 0.8 * b.meanError, 'posterior-mean error falls with particles');
  for (const r of rows) assert.ok(r.swd < 2.2 * r.floor, `${r.n} particles: within ${(r.swd / r.floor).toFixed(2)} x the floor at that count`);
});

test('smc: ESS and resampling bookkeeping', async () => {
  const pb = problem16();
  for (const threshold of [0, 0.5, 1]) {
    const { stats, x } = await runWithParticles(pb, 300, 7, 40, { resample_threshold: threshold });
    assert.equal(stats.ess.length, 40);
    assert.equal(stats.resampled.length, 40);
    stats.ess.forEach((e, k) => {
      assert.ok(e >= 1 - 1e-9 && e <= 300 + 1e-9, `ESS ${e} in [1, n]`);
      assert.equal(stats.resampled[k], e < threshold * 300, `step ${k}: resampled exactly when ESS < threshold n`);
    });
    // After a resampling the weights restart flat, so the next ESS only reflects one step's reweighting.
    const count = stats.resampled.filter(Boolean).length;
    if (threshold === 0) {
      assert.equal(count, 0);
      assert.ok(stats.finalResample, 'weights never reset: the output is resampled once at the end');
      // Importance sampling alone degenerates: the weights collapse along the way.
      assert.ok(Math.min(...stats.ess) < 30);
    } else {
      assert.ok(count > 0);
      assert.ok(Math.min(...stats.ess) > 0.25 * 300 * threshold, 'resampling keeps the ensemble alive');
    }
    // The output is n equally weighted particles: duplicates only, no new points.
    assert.deepEqual(x.shape, [300, 16]);
    assert.ok(x.data.every(Number.isFinite));
    console.log(`# smc resample_threshold=${threshold}: ${count} resamplings in 40 steps, min ESS ${Math.min(...stats.ess).toFixed(1)}, final resample ${stats.finalResample}`);
  }
});

test('smc: deterministic for a seed; another seed gives another ensemble', async () => {
  const pb = problem16();
  const a = await runWithParticles(pb, 200, 3, 30);
  const b = await runWithParticles(pb, 200, 3, 30);
  assert.deepEqual(Array.from(a.x.data), Array.from(b.x.data));
  assert.deepEqual(a.stats, b.stats);
  const c = await runWithParticles(pb, 200, 4, 30);
  assert.notDeepEqual(Array.from(a.x.data), Array.from(c.x.data));
});

test('smc d=64 at its measured level, and the noiseless case', async () => {
  const pb64 = posteriorProblem(64, 32, 0.1);
  const r = await scoreSolver(pb64, smc, 100, {}, new ContinuousVPPath(), 500);
  log('smc d=64 (100 steps, 500 particles)', r);
  // measured: SWD 0.085 (floor 0.022 at 2000 vs 2000), mean error 0.53.
  assert.ok(r.swd < 0.11 && r.meanError < 0.7, `d=64: SWD ${r.swd}, mean error ${r.meanError}`);
  // sigma_y = 0: the observed coordinates get the pseudo-noise kappa = 1e-4 (std 0.01 in x0 units).
  const pb0 = posteriorProblem(16, 8, 0);
  const r0 = await scoreSolver(pb0, smc, 100, {}, new ContinuousVPPath(), 1000);
  log('smc d=16 noiseless (100 steps, 1000 particles)', r0);
  // measured: SWD 0.068 (floor 0.029), mean error 0.17.
  assert.ok(r0.swd < 0.1 && r0.meanError < 0.3, `noiseless: SWD ${r0.swd}`);
});

test('smc: twists compared (MCGdiff forward, Gaussian fit, Tweedie) at 1000 particles', async () => {
  const pb = problem16();
  const out: Record<string, PosteriorScore & { resamplings: number }> = {};
  for (const twist of ['forward', 'gaussian', 'tweedie']) {
    const stats = newStats();
    const r = await scoreSolver(pb, withStats(stats), 100, { twist }, new ContinuousVPPath(), 1000);
    out[twist] = { ...r, resamplings: stats.resampled.filter(Boolean).length };
    log(`smc twist=${twist} (${out[twist]!.resamplings} resamplings)`, r);
  }
  // measured: forward (MCGdiff) SWD 0.097, mean error 0.31, 22 resamplings; gaussian 0.109, 0.26, 6; tweedie 0.072, 0.23, 6.
  // Over 8 seeds at 2000 particles the Tweedie twist cuts the null-space error of the ensemble mean 5-7x (0.02-0.035 vs 0.1-0.2).
  assert.ok(out.tweedie!.swd < out.forward!.swd, 'the Tweedie twist beats the forward-diffused observation');
  assert.ok(out.tweedie!.resamplings < out.forward!.resamplings);
  for (const r of Object.values(out)) assert.ok(r.swd < 0.25);
});

test('smc on discrete VP, VE, EDM and flow paths', async () => {
  const paths: [string, Path][] = [
    ['discrete VP', new DiscreteVPPath({ numTrainTimesteps: 1000 })],
    ['VE', new VEPath({ sigmaMin: 0.01, sigmaMax: 50 })],
    ['EDM', new EDMPath()],
  ];
  // measured (100 steps, 1000 particles): SWD 0.070 / 0.058 / 0.055, mean error 0.17 / 0.14 / 0.08 (continuous VP 0.072, 0.23).
  for (const [name, path] of paths) {
    const r = await scoreSolver(problem16(), smc, 100, {}, path, 1000);
    log(`smc d=16 on ${name}`, r);
    assert.equal(r.nfe, 100);
    assert.ok(r.swd < 0.1 && r.meanError < 0.35, `${name}: SWD ${r.swd}`);
  }
  // Rectified flow (a = 1 - t): the grid starts just short of pure noise. measured: SWD 0.057, mean error 0.089.
  const pb = problem16(), flow = new FlowPath();
  const grid = makeGrid(flow, { kind: 'logsnr-uniform', steps: 100, tStart: 0.999, tEnd: flow.tMin, final: 'zero' });
  const xT = initialState(new NoiseSource(41).normal([1000, 16], 0, Stream.init, 'float64'), grid[0]!);
  const r = await runSolver(smc, pb.prior.asDenoiser(flow, 'velocity'), grid, pb.op, pb.y, xT, { noise: new NoiseSource(42) });
  const swd = slicedWasserstein(r.x.data, pb.exact.data, 16, { projections: 128, seed: 9 });
  console.log(`# smc d=16 on flow (velocity model): SWD ${swd.toFixed(3)}`);
  assert.ok(swd < 0.08);
});



test('smc on real operators (inpaint box, MRI): finite, right shape, fits y better than the prior mean', async () => {
  const prior = imageMixture();
  const mean = new Tensor([1, 1, 8, 8], Float32Array.from(prior.moments().mean));
  const path = new ContinuousVPPath();
  const grid = makeGrid(path, { kind: 'logsnr-uniform', steps: 50, tStart: path.tMax, tEnd: path.tMin, final: 'zero' });
  for (const spec of ['inpaint:box=4,noise=0.05', 'mri:accel=4,noise=0.05', 'inpaint:box=4']) {
    const op = parseOperatorSpec(spec, [1, 8, 8]);
    const y = op.measure(prior.sample(1, 3, 'float32'), new NoiseSource(4));
    const xT = initialState(new NoiseSource(5).normal([200, 1, 8, 8], 0, Stream.init, 'float32'), grid[0]!);
    const r = await runSolver(smc, prior.asDenoiser(path, 'eps'), grid, op, y, xT, { noise: new NoiseSource(6) });
    assert.deepEqual(r.x.shape, [200, 1, 8, 8]);
    assert.equal(r.x.dtype, 'float32');
    assert.ok(r.x.data.every(Number.isFinite), `${spec}: finite`);
    const fit = measurementResidual(op, r.x, y), base = measurementResidual(op, mean, y);
    console.log(`# smc on ${spec} (200 particles, 50 steps): ||Ax - y|| ${fit.toFixed(4)} vs prior mean ${base.toFixed(3)}`);
    assert.ok(fit < 0.3 * base, `${spec} fits the measurement`);
  }
});

test('smc refuses what it cannot do, with clear errors', async () => {
  const pb = problem16();
  const path = new ContinuousVPPath();
  const grid = makeGrid(path, { kind: 'logsnr-uniform', steps: 5, tStart: path.tMax, tEnd: path.tMin, final: 'zero' });
  const den = pb.prior.asDenoiser(path, 'eps');
  const xT = initialState(new NoiseSource(1).normal([4, 16], 0, Stream.init, 'float64'), grid[0]!);
  // One measurement per ensemble.
  const ys = new Tensor([4, 8], Float64Array.from({ length: 32 }, (_, i) => i));
  await assert.rejects(runSolver(smc, den, grid, pb.op, ys, xT), (e: unknown) => e instanceof TweedieError && e.code === 'BAD_INPUT' && /one particle ensemble/.test(e.message));
  // eta = 0 makes the proposal deterministic.
  await assert.rejects(runSolver(smc, den, grid, pb.op, pb.y, xT, { params: { eta: 0 } }), (e: unknown) => e instanceof TweedieError && e.code === 'BAD_CONFIG');
  // No SVD (CT): refused up front by runSolver.
  const ct = parseOperatorSpec('ct:views=8,noise=0.05', [1, 8, 8]);
  const img = imageMixture();
  const xi = initialState(new NoiseSource(1).normal([4, 1, 8, 8], 0, Stream.init, 'float32'), grid[0]!);
  const yct = ct.measure(img.sample(1, 3, 'float32'), new NoiseSource(4));
  await assert.rejects(runSolver(smc, img.asDenoiser(path, 'eps'), grid, ct, yct, xi), (e: unknown) => e instanceof TweedieError && e.code === 'UNSUPPORTED');
});
