import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GaussianMixture, type MixtureJson } from '../src/models/gmm.js';
import { ModelFn } from '../src/models/model-fn.js';
import { derivativesAt, fromX0Eps, toX0Eps, PREDICTION_TYPES } from '../src/models/prediction.js';
import { dynamicThreshold } from '../src/models/thresholding.js';
import { classifierFreeGuidance } from '../src/models/guidance.js';
import type { Denoiser } from '../src/models/denoiser.js';
import { ContinuousVPPath, DiscreteVPPath, EDMPath, FlowPath, MeanRevertingPath, ResShiftPath, VEPath, type Path } from '../src/paths/index.js';
import { NoiseSource } from '../src/core/rng.js';
import { Tensor } from '../src/core/tensor.js';
import { TweedieError } from '../src/core/errors.js';

/** A 3-component mixture in d = 3 with correlated covariances. */
const spec: MixtureJson = {
  weights: [0.5, 0.3, 0.2],
  means: [[1, -1, 0.5], [-2, 0.5, 1], [0.5, 2, -1.5]],
  covs: [
    [[0.5, 0.2, 0], [0.2, 0.4, 0.1], [0, 0.1, 0.3]],
    [[0.2, -0.05, 0], [-0.05, 0.3, 0], [0, 0, 0.6]],
    [[0.4, 0, 0.1], [0, 0.2, 0], [0.1, 0, 0.25]],
  ],
};
const gmm = new GaussianMixture(spec);

test('exact samples reproduce the mixture moments', () => {
  const n = 60_000;
  const x = gmm.sample(n, 3).data;
  const { mean, cov } = gmm.moments();
  const d = 3;
  const m = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) m[j] += x[i * d + j]! / n;
  for (let j = 0; j < d; j++) assert.ok(Math.abs(m[j]! - mean[j]!) < 4 * Math.sqrt(cov[j * d + j]! / n), `mean ${j}`);
  for (let j = 0; j < d; j++) {
    let v = 0;
    for (let i = 0; i < n; i++) v += (x[i * d + j]! - m[j]!) ** 2 / n;
    assert.ok(Math.abs(v - cov[j * d + j]!) < 0.05 * cov[j * d + j]!, `var ${j}`);
  }
});

const paths: [string, Path, number][] = [
  ['discrete VP', new DiscreteVPPath({ numTrainTimesteps: 1000 }), 300],
  ['continuous VP', new ContinuousVPPath(), 0.3],
  ['VE', new VEPath({ sigmaMin: 0.01, sigmaMax: 50 }), 0.45],
  ['EDM', new EDMPath(), 0.8],
  ['flow', new FlowPath(), 0.5],
  ['mean-reverting', new MeanRevertingPath({ maxSigma: 0.8 }), 30],
  ['resshift', new ResShiftPath({ kappa: 1 }), 6],
];

for (const [name, path, t] of paths) {
  test(`${name}: exact E[x0 | x_t] agrees with a Monte Carlo estimate within 4 standard errors`, async () => {
    const p = path.point(t);
    const d = 3;
    const mu = Tensor.from([1, 3], [0.3, -0.2, 0.7], 'float64');
    // A noisy observation made from one prior draw.
    const x0true = gmm.sample(1, 11).data;
    const e = new NoiseSource(12).normal([1, 3], 0, 0, 'float64').data;
    const x = Tensor.from([1, 3], [0, 1, 2].map((j) => p.a * x0true[j]! + p.b * mu.data[j]! + p.s * e[j]!), 'float64');
    const exact = await gmm.asDenoiser(path, 'x0').predict(x, t, { anchor: mu });
    // Self-normalised importance sampling with the prior as proposal.
    const n = 200_000;
    const xs = gmm.sample(n, 99).data;
    const logw = new Float64Array(n);
    let mx = -Infinity;
    for (let i = 0; i < n; i++) {
      let q = 0;
      for (let j = 0; j < d; j++) q += (x.data[j]! - p.b * mu.data[j]! - p.a * xs[i * d + j]!) ** 2;
      logw[i] = -q / (2 * p.s * p.s);
      mx = Math.max(mx, logw[i]!);
    }
    let W = 0, W2 = 0;
    const est = new Float64Array(d);
    for (let i = 0; i < n; i++) {
      const w = Math.exp(logw[i]! - mx);
      W += w;
      W2 += w * w;
      for (let j = 0; j < d; j++) est[j] += w * xs[i * d + j]!;
    }
    for (let j = 0; j < d; j++) est[j] /= W;
    assert.ok(W * W / W2 > 500, `effective sample size ${(W * W) / W2} too small for a meaningful check`);
    for (let j = 0; j < d; j++) {
      let v = 0;
      for (let i = 0; i < n; i++) v += (Math.exp(logw[i]! - mx) / W) ** 2 * (xs[i * d + j]! - est[j]!) ** 2;
      const se = Math.sqrt(v);
      assert.ok(Math.abs(exact.data[j]! - est[j]!) < 4 * se + 1e-12, `${name} coord ${j}: exact ${exact.data[j]} vs MC ${est[j]} +- ${se}`);
    }
  });

  test(`${name}: score is the finite-difference gradient of the log-density, VJP matches finite differences`, () => {
    const p = path.point(t);
    const z = [0.4, -0.3, 0.9].map((v) => v * p.a + 0.1);
    const st = gmm.stats(z, p.a, p.s);
    const h = 1e-5;
    for (let j = 0; j < 3; j++) {
      const zp = [...z], zm = [...z];
      zp[j]! += h;
      zm[j]! -= h;
      const fd = (gmm.stats(zp, p.a, p.s).logDensity - gmm.stats(zm, p.a, p.s).logDensity) / (2 * h);
      assert.ok(Math.abs(fd - st.score[j]!) < 1e-5 * Math.max(1, Math.abs(fd)), `${name} score ${j}: ${fd} vs ${st.score[j]}`);
    }
    const v = [0.7, -1.1, 0.4];
    const vjp = gmm.x0Vjp(z, p.a, p.s, v);
    for (let j = 0; j < 3; j++) {
      const zp = [...z], zm = [...z];
      zp[j]! += h;
      zm[j]! -= h;
      const xp = gmm.stats(zp, p.a, p.s).x0, xm = gmm.stats(zm, p.a, p.s).x0;
      let fd = 0;
      for (let i = 0; i < 3; i++) fd += (v[i]! * (xp[i]! - xm[i]!)) / (2 * h);
      assert.ok(Math.abs(fd - vjp[j]!) < 1e-5 * Math.max(1, Math.abs(fd)), `${name} vjp ${j}: ${fd} vs ${vjp[j]}`);
    }
    // Tweedie: E[x0|z] = (z + s^2 score) / a.
    for (let j = 0; j < 3; j++) assert.ok(Math.abs(st.x0[j]! - (z[j]! + p.s * p.s * st.score[j]!) / p.a) < 1e-9);
  });

  test(`${name}: every prediction type converts back to the same x0 and eps`, async () => {
    const x = Tensor.from([2, 3], [0.3, -0.5, 1.2, 2.0, 0.1, -0.7], 'float64');
    const mu = Tensor.from([2, 3], [0.5, 0.5, 0.5, -1, 0, 1], 'float64');
    const ref = new ModelFn(gmm.asDenoiser(path, 'x0'), { cond: { anchor: mu } });
    const p = path.point(t);
    const z = ref.center(x, p.b);
    const base = await ref.estimate(z, p);
    for (const type of PREDICTION_TYPES) {
      const fn = new ModelFn(gmm.asDenoiser(path, type), { cond: { anchor: mu } });
      const got = await fn.estimate(z, p);
      for (let i = 0; i < 6; i++) {
        assert.ok(Math.abs(got.x0.data[i]! - base.x0.data[i]!) < 1e-9, `${name} ${type} x0`);
        assert.ok(Math.abs(got.eps.data[i]! - base.eps.data[i]!) < 1e-9, `${name} ${type} eps`);
      }
      assert.equal(fn.nfe, 1);
    }
    // And the raw round trip through fromX0Eps / toX0Eps.
    const deriv = derivativesAt(path, t);
    for (const type of PREDICTION_TYPES) {
      const pred = fromX0Eps(type, base.x0, base.eps, p, mu, deriv, x.zerosLike());
      const x0 = x.zerosLike(), eps = x.zerosLike();
      toX0Eps(type, pred, x, p, mu, deriv, x0, eps);
      for (let i = 0; i < 6; i++) assert.ok(Math.abs(x0.data[i]! - base.x0.data[i]!) < 1e-9 && Math.abs(eps.data[i]! - base.eps.data[i]!) < 1e-9, `${name} ${type} round trip`);
    }
  });
}

test('bad mixtures give clear errors', async () => {
  const base = () => JSON.parse(JSON.stringify(spec)) as MixtureJson;
  const notPD = base();
  notPD.covs[1] = [[1, 2, 0], [2, 1, 0], [0, 0, 1]];
  assert.throws(() => new GaussianMixture(notPD, 'm.json'), /m.json: cov 1 is not positive definite/);
  const dims = base();
  dims.means[2] = [1, 2];
  assert.throws(() => new GaussianMixture(dims, 'm.json'), /mean 2 has length 2 but mean 0 has 3/);
  const covDims = base();
  covDims.covs[0] = [[1, 0], [0, 1]];
  assert.throws(() => new GaussianMixture(covDims, 'm.json'), /cov 0 must be a 3 x 3 matrix/);
  const neg = base();
  neg.weights = [1.2, -0.4, 0.2];
  assert.throws(() => new GaussianMixture(neg, 'm.json'), /weight 1 is -0.4/);
  const unnorm = base();
  unnorm.weights = [0.5, 0.5, 0.5];
  assert.throws(() => new GaussianMixture(unnorm, 'm.json'), /sum to 1.5, not 1/);
  assert.throws(() => GaussianMixture.fromJsonText('{"weights": [1', 'bad.json'), /bad.json is not valid JSON/);
  const shaped = base();
  shaped.shape = [2, 2];
  assert.throws(() => new GaussianMixture(shaped, 'm.json'), /shape.*4 elements but the means have 3/);
  await assert.rejects(new GaussianMixture(spec).asDenoiser(new FlowPath()).predict(Tensor.zeros([1, 4]), 0.5), /does not fit the mixture of dimension 3/);
});

test('a model that returns NaN is reported with the caller and the step', async () => {
  const path = new FlowPath();
  const broken: Denoiser = { prediction: 'eps', path, itemShape: null, predict: async (x) => new Tensor(x.shape, new Float32Array(x.size).fill(NaN)) };
  const fn = new ModelFn(broken, { caller: 'ddim' });
  fn.step = 4;
  await assert.rejects(fn.estimate(Tensor.zeros([1, 3]), path.point(0.5)), (e: unknown) => e instanceof TweedieError && e.code === 'NAN_IN_MODEL' && /ddim step 4/.test(e.message));
  const ctl = new AbortController();
  ctl.abort();
  await assert.rejects(new ModelFn(broken, { signal: ctl.signal }).estimate(Tensor.zeros([1, 3]), path.point(0.5)), /cancelled/);
});

test('dynamic thresholding clamps to the per-sample quantile (Imagen)', () => {
  // |x| = 0..10 (11 values): the 0.9 quantile with linear interpolation is 9.
  const x = Tensor.from([2, 11], [...Array.from({ length: 11 }, (_, i) => (i % 2 ? -i : i)), ...Array(11).fill(0.5)]);
  dynamicThreshold(x, 0.9, 20);
  assert.ok(Math.abs(x.data[10]! - 1) < 1e-7, 'value 10 clamps to 9, then / 9');
  assert.ok(Math.abs(x.data[3]! + 3 / 9) < 1e-7);
  // Second item: quantile 0.5 < 1, so s = 1 and nothing changes.
  assert.equal(x.data[11], 0.5);
  const y = Tensor.from([1, 3], [100, -100, 0]);
  dynamicThreshold(y, 1, 4);
  assert.deepEqual([...y.data], [1, -1, 0]);
});

test('classifier-free guidance: scale 0 is unconditional, 1 conditional, 3 extrapolates', async () => {
  const path = new FlowPath();
  // A fake model whose output is x + label.
  const m: Denoiser = {
    prediction: 'eps', path, itemShape: null,
    predict: async (x, _t, c) => new Tensor(x.shape, x.data.map((v, i) => v + c!.inputs!.label!.data[Math.floor(i / x.itemSize)]!)),
  };
  const x = Tensor.from([2, 2], [1, 2, 3, 4]);
  const cond = { label: Tensor.from([1], [5]) }, uncond = { label: Tensor.from([1], [1]) };
  const at = async (scale: number) => [...(await classifierFreeGuidance(m, { scale, cond, uncond }).predict(x, 0.5)).data];
  assert.deepEqual(await at(0), [2, 3, 4, 5]);
  assert.deepEqual(await at(1), [6, 7, 8, 9]);
  assert.deepEqual(await at(3), [14, 15, 16, 17]);
});
