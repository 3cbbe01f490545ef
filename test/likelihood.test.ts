import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TweedieError } from '../src/core/errors.js';
import { Tensor } from '../src/core/tensor.js';
import { encodeNpy } from '../src/io/npy.js';
import { bitsPerDim, dequantize, likelihoodData } from '../src/likelihood/data.js';
import { logLikelihood } from '../src/likelihood/log-likelihood.js';
import { likelihoodSummary } from '../src/likelihood/summary.js';
import type { Denoiser } from '../src/models/denoiser.js';
import { GaussianMixture } from '../src/models/gmm.js';
import { loadMixture } from '../src/models/gmm-file.js';
import { OnnxDenoiser } from '../src/models/onnx.js';
import type { GridPoint } from '../src/paths/path.js';
import { pathByName } from '../src/paths/registry.js';
import { testMixture } from '../bench/lib/ode-order.js';

const gmm = testMixture();
const PATHS = ['vp-linear', 've', 'flow', 'edm', 'vp'];

/** Items at the path's data end: mixture samples with some noise of scale s(tMin) on top. */
function dataAt(path: ReturnType<typeof pathByName>, n: number, seed: number): Tensor {
  const x = gmm.sample(n, seed), p = path.point(path.tMin);
  for (let i = 0; i < x.size; i++) x.data[i] = p.a * x.data[i]! + p.s * Math.sin(12.9898 * i + seed);
  return x;
}

const exactAt = (x: Tensor, p: GridPoint) => Array.from({ length: x.batch }, (_, b) => gmm.stats(x.data.subarray(b * gmm.dim, (b + 1) * gmm.dim), p.a, p.s).logDensity);
/** The mixture's own marginal at the noise end, so that only the ODE and the trace estimator are judged. */
const exactPrior = (z: Float64Array, end: GridPoint) => gmm.stats(z, end.a, end.s).logDensity;

test('likelihood, exact trace: the mixture log-density of the noised marginal on five paths to 1e-6 nats', async () => {
  for (const name of PATHS) {
    const path = pathByName(name), x = dataAt(path, 4, 1);
    const want = exactAt(x, path.point(path.tMin));
    const r = await logLikelihood(gmm.asDenoiser(path, 'x0'), x, { exactTrace: true, rtol: 1e-9, atol: 1e-9, priorLogDensity: exactPrior });
    r.logLikelihood.forEach((v, b) => assert.ok(Math.abs(v - want[b]!) < 1e-6, `${name} item ${b}: ${v} vs exact ${want[b]}`));
    assert.deepEqual([...r.standardError], [0, 0, 0, 0]);
    assert.equal(r.nfe, r.odeEvaluations, 'the exact JVP costs no model evaluation; the drift one per ODE evaluation');
  }
});

test('likelihood, Hutchinson (Rademacher and Gaussian, 48 probes): each item within 4 of its stated standard errors of the exact log-density', async () => {
  for (const name of ['vp-linear', 've', 'flow']) {
    const path = pathByName(name), x = dataAt(path, 4, 2);
    const want = exactAt(x, path.point(path.tMin));
    for (const probe of ['rademacher', 'gaussian'] as const) {
      const r = await logLikelihood(gmm.asDenoiser(path, name === 'flow' ? 'velocity' : 'eps'), x, { probes: 48, probe, rtol: 1e-7, atol: 1e-7, priorLogDensity: exactPrior, seed: 5 });
      r.logLikelihood.forEach((v, b) => {
        const se = r.standardError[b]!;
        assert.ok(se > 0 && se < 1, `${name} ${probe} item ${b}: standard error ${se}`);
        assert.ok(Math.abs(v - want[b]!) < 4 * se, `${name} ${probe} item ${b}: ${v} +- ${se} vs exact ${want[b]}`);
      });
    }
  }
});

test('likelihood with the sampling prior N(0, (a^2 + s^2) I): exact where the path ends in pure noise (flow), close on VP', async () => {
  for (const [name, tol] of [['flow', 1e-6], ['vp-linear', 2e-2]] as const) {
    const path = pathByName(name), x = dataAt(path, 3, 3);
    const want = exactAt(x, path.point(path.tMin));
    const r = await logLikelihood(gmm.asDenoiser(path, 'x0'), x, { exactTrace: true, rtol: 1e-9, atol: 1e-9 });
    r.logLikelihood.forEach((v, b) => assert.ok(Math.abs(v - want[b]!) < tol, `${name} item ${b}: ${v} vs ${want[b]}`));
  }
});

test('likelihood of a single Gaussian in closed form: log N(z; a m, a^2 C + s^2 I), C diagonal, written out here', async () => {
  const m = [0.5, -1, 2], c = [0.3, 1.5, 0.05];
  const g = new GaussianMixture({ weights: [1], means: [m], covs: [c.map((v, i) => c.map((_, j) => (i === j ? v : 0)))] });
  const path = pathByName('vp-linear'), p = path.point(path.tMin);
  const x = new Tensor([2, 3], Float64Array.from([0.4, -1.3, 2.1, 1.2, 0.2, 1.9]));
  const closed = (b: number) => m.reduce((acc, mi, i) => {
    const v = p.a * p.a * c[i]! + p.s * p.s, d = x.data[b * 3 + i]! - p.a * mi;
    return acc - 0.5 * (Math.log(2 * Math.PI * v) + (d * d) / v);
  }, 0);
  const prior = (z: Float64Array, e: GridPoint) => m.reduce((acc, mi, i) => {
    const v = e.a * e.a * c[i]! + e.s * e.s, d = z[i]! - e.a * mi;
    return acc - 0.5 * (Math.log(2 * Math.PI * v) + (d * d) / v);
  }, 0);
  const r = await logLikelihood(g.asDenoiser(path, 'eps'), x, { exactTrace: true, rtol: 1e-10, atol: 1e-10, priorLogDensity: prior });
  r.logLikelihood.forEach((v, b) => assert.ok(Math.abs(v - closed(b)) < 1e-6, `item ${b}: ${v} vs ${closed(b)}`));
});

test('likelihood through central differences (a model without its own JVP): the exact trace again, 2 evaluations per JVP counted', async () => {
  const path = pathByName('vp-linear'), x = dataAt(path, 2, 4);
  const inner = gmm.asDenoiser(path, 'eps');
  const forwardOnly: Denoiser = { prediction: 'eps', path, itemShape: inner.itemShape, predict: (xx, t) => inner.predict(xx, t) };
  const want = exactAt(x, path.point(path.tMin));
  const r = await logLikelihood(forwardOnly, x, { exactTrace: true, rtol: 1e-7, atol: 1e-7, priorLogDensity: exactPrior });
  r.logLikelihood.forEach((v, b) => assert.ok(Math.abs(v - want[b]!) < 1e-4, `item ${b}: ${v} vs ${want[b]}`));
  assert.equal(r.nfe, r.odeEvaluations * (1 + 2 * gmm.dim));
});

test('likelihood of the gaussian-exact ONNX model on each gradient route: its exact Gaussian log-density at the float32 level', async () => {
  const onnx = await OnnxDenoiser.load('weights/gaussian-exact', { threads: 1 });
  const prior = loadMixture('weights/gaussian-exact/prior.json');
  const path = onnx.path, start = path.point(path.tMin);
  // Items at the data end: prior samples with noise of scale s(tMin), as the ODE sees them.
  const x = prior.sample(2, 3);
  for (let i = 0; i < x.size; i++) x.data[i] = start.a * x.data[i]! + start.s * Math.sin(7.31 * i);
  const want = Array.from({ length: 2 }, (_, b) => prior.stats(x.data.subarray(b * 64, (b + 1) * 64), start.a, start.s).logDensity);
  const end = (z: Float64Array, p: GridPoint) => prior.stats(z, p.a, p.s).logDensity;
  // The exported VJP is exact up to float32 rounding (3e-5 nats measured); differences add their O(h^2) and
  // rounding floor (6e-3 nats measured).
  for (const [gradient, tol] of [['exported', 1e-3], ['differences', 2e-2]] as const) {
    const r = await logLikelihood(onnx, x, { exactTrace: true, gradient, rtol: 1e-6, atol: 1e-6, priorLogDensity: end });
    r.logLikelihood.forEach((v, b) => assert.ok(Math.abs(v - want[b]!) < tol, `${gradient}, item ${b}: ${v} vs ${want[b]}`));
    // Per ODE evaluation: the drift, and 64 basis JVPs of one exported run or two evaluations each.
    assert.equal(r.nfe, r.odeEvaluations * (1 + 64 * (gradient === 'exported' ? 1 : 2)), gradient);
  }
  await assert.rejects(logLikelihood(onnx, x, { gradient: 'exact' }), /no exact gradient .*use the gradient route 'exported' or 'differences'/);
});

test('dequantization: a uniform density on the value range is exactly 8 bits/dim, whatever the range; each level stays in its bin', () => {
  for (const [lo, hi] of [[-1, 1], [0, 1], [-3, 5]] as const) {
    const D = 10;
    assert.ok(Math.abs(bitsPerDim(-D * Math.log(hi - lo), D, [lo, hi]) - 8) < 1e-12);
  }
  assert.equal(bitsPerDim(-Math.LN2 * 20, 10, null), 2, 'float data: -log p / (D ln 2), no offset');
  const levels = new Tensor([2, 3], Float32Array.from([0, 255, 128, 7, 0, 200]));
  const x = dequantize(levels, [-1, 1], 3);
  for (let i = 0; i < x.size; i++) {
    const lo = -1 + (2 * levels.data[i]!) / 256;
    assert.ok(x.data[i]! > lo && x.data[i]! <= lo + 2 / 256 + 1e-7, `level ${levels.data[i]} -> ${x.data[i]}`);
  }
});

test('dequantization offset: for a smooth density the bound -E log p / (D ln 2) + 7 meets the exact -log2 P(level) within 1e-3 bits, and never below', () => {
  // One pixel in [-1, 1] with density N(mu, sd^2); P(k) = the mass of the bin of level k, from the normal CDF.
  const mu = 0.1, sd = 0.3;
  const cdf = (v: number) => 0.5 * (1 + erf((v - mu) / (sd * Math.SQRT2)));
  for (const k of [20, 128, 140, 250]) {
    const a = -1 + (2 * k) / 256, b = -1 + (2 * (k + 1)) / 256;
    const exact = -Math.log2(cdf(b) - cdf(a));
    let mean = 0;
    const Q = 2000;
    for (let q = 0; q < Q; q++) {
      const v = a + ((b - a) * (q + 0.5)) / Q;
      mean += (-0.5 * ((v - mu) / sd) ** 2 - Math.log(sd * Math.sqrt(2 * Math.PI))) / Q;
    }
    const bound = bitsPerDim(mean, 1, [-1, 1]);
    assert.ok(bound >= exact - 1e-9 && bound - exact < 1e-3, `level ${k}: bound ${bound} vs exact ${exact}`);
  }
});

/** erf by Abramowitz-Stegun 7.1.26 is too coarse here; a series/continued fraction to ~1e-15 instead. */
function erf(x: number): number {
  const t = Math.abs(x);
  if (t < 3) {
    let sum = t, term = t;
    for (let n = 1; n < 200; n++) {
      term *= (-t * t) / n;
      sum += term / (2 * n + 1);
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  return Math.sign(x) * (1 - Math.exp(-t * t) / (t * Math.sqrt(Math.PI)) * (1 - 1 / (2 * t * t)));
}

test('likelihood data: outside the value range, NaN, the wrong shape and bad options are refused with one line naming the fix', async () => {
  const code = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      assert.ok(e instanceof TweedieError);
      return `${e.code}: ${e.message}`;
    }
    return 'no error';
  };
  const shape = [1, 2, 2];
  const t = (vals: number[]) => new Tensor([1, 1, 2, 2], Float32Array.from(vals));
  assert.match(code(() => likelihoodData(t([0, 0.5, 1.5, 0]), false, shape, [-1, 1], 'x.npy')), /BAD_INPUT: x.npy has values in \[0, 1.5\], outside the model's value range \[-1, 1\]/);
  assert.match(code(() => likelihoodData(t([0, NaN, 0, 0]), false, shape, [-1, 1], 'x.npy')), /BAD_INPUT: x.npy has NaN/);
  assert.match(code(() => likelihoodData(new Tensor([1, 4], new Float32Array(4)), false, shape, [-1, 1], 'x.npy')), /BAD_SHAPE: .*\[N, 1, 2, 2\]/);
  assert.equal(likelihoodData(t([0, 200, 255, 3]), true, shape, [-1, 1], 'x.npy').dequantized, true);
  const path = pathByName('vp-linear'), den = gmm.asDenoiser(path);
  const bad = async (x: Tensor, o: Parameters<typeof logLikelihood>[2], re: RegExp) => assert.rejects(logLikelihood(den, x, o), (e: unknown) => e instanceof TweedieError && re.test(e.message));
  const x = dataAt(path, 1, 0);
  await bad(x, { probes: 0 }, /probes must be an integer >= 1/);
  await bad(x, { probe: 'cauchy' as 'gaussian' }, /unknown probe/);
  const nan = x.zerosLike();
  nan.data[3] = NaN;
  await bad(nan, {}, /NaN at element 3/);
  await bad(new Tensor([1, 2048], new Float64Array(2048)), { exactTrace: true }, /use Hutchinson probes/);
  await bad(x, { tMin: path.tClean }, /s = 0/);
  await assert.rejects(likelihoodSummary(den, { x, dequantized: false }, [-1, 1], { batch: 0 }), /batch must be an integer/);
});

test('tweedie likelihood: JSON on stdout for a gmm: model; data outside an ONNX model\'s range refused naming the range (exit 1), a gradient route the model lacks naming those it has (exit 2)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tweedie-lik-'));
  try {
    const prior = join(dir, 'prior.json'), data = join(dir, 'x.npy');
    writeFileSync(prior, JSON.stringify({ weights: [1], means: [[0, 0]], covs: [[[1, 0], [0, 1]]] }));
    writeFileSync(data, encodeNpy(new Tensor([2, 2], Float32Array.from([0.5, -0.5, 3, 1]))));
    const r = spawnSync(process.execPath, ['bin/tweedie.js', 'likelihood', '--model', `gmm:${prior}`, '--data', data, '--exact-trace', '--json'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    // N(0, I) data seen at t_min: z ~ N(0, (a^2 + s^2) I) with a^2 + s^2 = 1 on VP, so log p = -log(2 pi) - |x|^2 / 2.
    const want = [-Math.log(2 * Math.PI) - 0.25, -Math.log(2 * Math.PI) - 5];
    out.items.forEach((it: { log_likelihood: number }, i: number) => assert.ok(Math.abs(it.log_likelihood - want[i]!) < 1e-3, `${it.log_likelihood} vs ${want[i]}`));
    assert.equal(out.dequantized, false);
    writeFileSync(data, encodeNpy(new Tensor([1, 1, 32, 32], new Float32Array(1024).fill(1.5))));
    const bad = spawnSync(process.execPath, ['bin/tweedie.js', 'likelihood', '--model', 'weights/fmnist-32', '--data', data], { encoding: 'utf8' });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /^tweedie likelihood: --data .*x\.npy has values in \[1\.5, 1\.5\], outside the model's value range \[-1, 1\]; [^\n]*\n$/m);
    const shape = spawnSync(process.execPath, ['bin/tweedie.js', 'likelihood', '--model', `gmm:${prior}`, '--data', data], { encoding: 'utf8' });
    assert.equal(shape.status, 1);
    assert.match(shape.stderr, /has shape \[1, 1, 32, 32\]; the model takes items of shape \[2\]/);
    const route = spawnSync(process.execPath, ['bin/tweedie.js', 'likelihood', '--model', 'weights/fmnist-32', '--data', data, '--grad', 'exact'], { encoding: 'utf8' });
    assert.equal(route.status, 2);
    assert.match(route.stderr, /^tweedie likelihood: --grad: --model weights\/fmnist-32 has no exact gradient [^\n]*'exported' or 'differences'\n$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
