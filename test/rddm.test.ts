import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NoiseSource, Stream } from '../src/core/rng.js';
import { Tensor } from '../src/core/tensor.js';
import { TweedieError } from '../src/core/errors.js';
import { GaussianMixture } from '../src/models/gmm.js';
import { fromX0Eps, toX0Eps } from '../src/models/prediction.js';
import { defaultGridSpec, makeGrid } from '../src/paths/grids.js';
import { RDDMPath } from '../src/paths/restoration.js';
import { parseSchedulerConfig } from '../src/paths/scheduler-config.js';
import { ddim } from '../src/samplers/ddim.js';
import { rddm, resshift } from '../src/samplers/restoration.js';
import { initialState, runSampler } from '../src/samplers/run.js';

const D = 8;

/** nachifur/RDDM gen_coefficients ('decreased' / 'increased' / 'average'), summed term by term like alphas.cumsum(). */
function authorsCumsum(kind: 'decreased' | 'increased' | 'average', T: number, scale = 1): Float64Array {
  const half = (T * (T + 1)) / 2;
  const out = new Float64Array(T + 1);
  let acc = 0;
  for (let k = 1; k <= T; k++) {
    const w = kind === 'increased' ? k / half : kind === 'decreased' ? (T + 1 - k) / half : 1 / T;
    acc += w * scale;
    out[k] = acc;
  }
  return out;
}

test('RDDMPath: a = 1 - alphabar, b = alphabar, s = betabar with the authors\' cumulative weights', () => {
  for (const [T, sumScale] of [[1000, 1], [10, 0.01]] as const) {
    const p = new RDDMPath({ T, sumScale });
    const ab = authorsCumsum('decreased', T), bb2 = authorsCumsum('increased', T, sumScale);
    for (const t of [1, 2, Math.floor(T / 3), T - 1, T]) {
      assert.ok(Math.abs(p.b(t) - ab[t]!) < 1e-12, `alphabar(${t}) ${p.b(t)} vs ${ab[t]}`);
      assert.ok(Math.abs(p.a(t) - (1 - ab[t]!)) < 1e-12);
      assert.ok(Math.abs(p.s(t) - Math.sqrt(bb2[t]!)) < 1e-12, `betabar(${t})`);
    }
    // I_T = I_in + sqrt(sum_scale) eps: no trace of I_0 left; t = 0 is the clean image.
    assert.equal(p.a(T), 0);
    assert.equal(p.b(T), 1);
    assert.ok(Math.abs(p.s(T) - Math.sqrt(sumScale)) < 1e-15);
    assert.deepEqual([p.a(0), p.b(0), p.s(0)], [1, 0, 0]);
  }
  const avg = new RDDMPath({ T: 20, alphas: 'average', betas: 'average' });
  assert.ok(Math.abs(avg.b(7) - authorsCumsum('average', 20)[7]!) < 1e-12);
  assert.ok(Math.abs(avg.s(7) - Math.sqrt(7 / 20)) < 1e-12);
});

test('RDDMScheduler config: schedules and sum_scale read; bad values and a residual prediction elsewhere refused', () => {
  const cfg = parseSchedulerConfig({ _class_name: 'RDDMScheduler', num_train_timesteps: 50, sum_scale: 0.01, prediction_type: 'residual' }, 'cfg', () => {});
  assert.ok(cfg.path instanceof RDDMPath);
  assert.equal(cfg.prediction, 'residual');
  assert.equal(cfg.path.tMax, 50);
  assert.ok(Math.abs(cfg.path.s(50) - 0.1) < 1e-15);
  const bad = (json: Record<string, unknown>, word: string) =>
    assert.throws(() => parseSchedulerConfig(json, 'cfg', () => {}), (e: unknown) => e instanceof TweedieError && e.code === 'BAD_CONFIG' && e.message.includes(word));
  bad({ _class_name: 'RDDMScheduler', alphas_schedule: 'cosine' }, 'alphas_schedule');
  bad({ _class_name: 'RDDMScheduler', sum_scale: 0 }, 'sum_scale');
  bad({ _class_name: 'DDPMScheduler', prediction_type: 'residual' }, 'RDDMScheduler');
});

test('residual prediction: x0 = mu - out round trip, and a clear error without the anchor', () => {
  const p = new RDDMPath().point(400);
  const x = new Tensor([2, 3], Float64Array.from([0.3, -0.2, 0.5, 0.1, 0.9, -0.7]));
  const mu = new Tensor([2, 3], Float64Array.from([0.2, 0.2, -0.1, 0.4, 0.0, -0.3]));
  const res = new Tensor([2, 3], Float64Array.from([0.05, -0.4, 0.3, 0.2, -0.1, 0.6]));
  const x0 = x.zerosLike(), eps = x.zerosLike();
  toX0Eps('residual', res, x, p, mu, null, x0, eps);
  for (let i = 0; i < 6; i++) {
    assert.ok(Math.abs(x0.data[i]! - (mu.data[i]! - res.data[i]!)) < 1e-15);
    // x = a x0 + b mu + s eps holds again.
    assert.ok(Math.abs(p.a * x0.data[i]! + p.b * mu.data[i]! + p.s * eps.data[i]! - x.data[i]!) < 1e-14);
  }
  const back = fromX0Eps('residual', x0, eps, p, mu, null, x.zerosLike());
  for (let i = 0; i < 6; i++) assert.ok(Math.abs(back.data[i]! - res.data[i]!) < 1e-15);
  assert.throws(() => toX0Eps('residual', res, x, p, null, null, x0, eps), (e: unknown) => e instanceof TweedieError && /anchor/.test(e.message));
});

/** A mixture small enough that the authors' clamps of I_res and x_start to [-1, 1] never act. */
function smallMixture(): GaussianMixture {
  const means = [0, 1, 2].map((k) => Array.from({ length: D }, (_, j) => 0.3 * Math.sin(1.1 * k + 0.6 * j)));
  const covs = [0, 1, 2].map((k) => Array.from({ length: D }, (_, i) => Array.from({ length: D }, (_, j) => (i === j ? 0.004 + 0.002 * k : 0))));
  return new GaussianMixture({ weights: [0.5, 0.3, 0.2], means, covs });
}

test('rddm sampler = the authors\' ddim_sample (pred_res, T = 1000, 10 steps) at eta 0 and 1; eta 0 = ddim, eta 1 = resshift', async () => {
  const path = new RDDMPath({ T: 1000 });
  const den = smallMixture().asDenoiser(path, 'residual');
  const n = 3;
  const mu = new Tensor([n, D], Float64Array.from({ length: n * D }, (_, i) => 0.3 * Math.cos(0.7 * i)));
  const grid = makeGrid(path, defaultGridSpec(path, 10));
  // ddim_sample's times = linspace(-1, T - 1, 11).int() are 0-based indices: our t = index + 1.
  assert.deepEqual(grid.map((g) => g.t), [1000, 900, 800, 700, 600, 500, 400, 300, 200, 100, 0]);
  const start = new NoiseSource(3).normal([n, D], 0, Stream.init, 'float64');
  const xT = initialState(start, grid[0]!, mu);

  const alphabar = (t: number) => authorsCumsum('decreased', 1000)[t]!;
  const betabar2 = (t: number) => authorsCumsum('increased', 1000)[t]!;
  for (const eta of [0, 1]) {
    // Transcription of ResidualDiffusion.ddim_sample, type "use_pred_noise", objective "pred_res".
    let img = Float64Array.from(mu.data, (m, i) => m + start.data[i]!);
    for (let i = 0; i < grid.length - 1; i++) {
      const t = grid[i]!.t, tn = grid[i + 1]!.t;
      const out = await den.predict(new Tensor([n, D], Float64Array.from(img)), t, { anchor: mu });
      const res = out.data;
      assert.ok(res.every((r) => Math.abs(r) < 1), 'the clamp of pred_res must not act');
      const predNoise = img.map((v, j) => (v - mu.data[j]! - (alphabar(t) - 1) * res[j]!) / Math.sqrt(betabar2(t)));
      if (tn === 0) {
        img = img.map((_, j) => mu.data[j]! - res[j]!); // time_next < 0: img = x_start
        continue;
      }
      const alpha = alphabar(t) - alphabar(tn), betas2 = betabar2(t) - betabar2(tn);
      const sigma2 = eta * ((betas2 * betabar2(tn)) / betabar2(t));
      const xi = new NoiseSource(11).normal([n, D], i, Stream.noise, 'float64').data;
      img = img.map((v, j) => v - alpha * res[j]! - (Math.sqrt(betabar2(t)) - Math.sqrt(betabar2(tn) - sigma2)) * predNoise[j]! + (eta ? Math.sqrt(sigma2) * xi[j]! : 0));
    }
    const ours = await runSampler(rddm, den, grid, xT, { noise: new NoiseSource(11), cond: { anchor: mu }, params: { eta } });
    assert.equal(ours.nfe, 10);
    for (let j = 0; j < img.length; j++) assert.ok(Math.abs(ours.x.data[j]! - img[j]!) < 1e-9, `eta ${eta} [${j}]: ${ours.x.data[j]} vs ${img[j]}`);
    const twin = await runSampler(eta === 0 ? ddim : resshift, den, grid, xT, { noise: new NoiseSource(11), cond: { anchor: mu } });
    for (let j = 0; j < img.length; j++) assert.ok(Math.abs(twin.x.data[j]! - ours.x.data[j]!) < 1e-9, `${eta === 0 ? 'ddim' : 'resshift'} [${j}]`);
  }
});
