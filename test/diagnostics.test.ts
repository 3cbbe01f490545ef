import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { householderEigen, matMul, transpose } from '../src/core/linalg.js';
import { NoiseSource } from '../src/core/rng.js';
import { Tensor } from '../src/core/tensor.js';
import { diagnose, noiseLevels } from '../src/diagnostics/diagnose.js';
import { fitGaussian, gaussianFitDenoise, gaussianFitFromMoments } from '../src/models/gaussian-fit.js';
import { localIntrinsicDimension } from '../src/diagnostics/intrinsic-dimension.js';
import { writeNpy } from '../src/io/npy.js';
import { GaussianMixture } from '../src/models/gmm.js';
import { pathByName } from '../src/paths/registry.js';

// Oracles: the exact Gaussian-mixture denoiser (its Jacobian a/s^2 Cov[x0 | z] is symmetric, and for a
// component of covariance S it has the eigenvalues lam / (lam + sigma^2)), matrices built from a known
// spectrum, and a linear denoiser whose Jacobian is the matrix itself.

const path = pathByName('vp-linear');

/** A random orthogonal d x d matrix (Gram-Schmidt on Gaussian columns), rows orthonormal. */
function orthogonal(d: number, seed: number): Float64Array {
  const g = new NoiseSource(seed).normal([d, d], 0, 0, 'float64').data;
  const Q = new Float64Array(d * d);
  for (let k = 0; k < d; k++) {
    const v = g.slice(k * d, (k + 1) * d);
    for (let j = 0; j < k; j++) {
      let c = 0;
      for (let i = 0; i < d; i++) c += Q[j * d + i]! * v[i]!;
      for (let i = 0; i < d; i++) v[i] -= c * Q[j * d + i]!;
    }
    const norm = Math.hypot(...v);
    for (let i = 0; i < d; i++) Q[k * d + i] = v[i]! / norm;
  }
  return Q;
}

/** U^T diag(lam) U for U orthogonal (rows). */
function withSpectrum(lam: number[], U: Float64Array): Float64Array {
  const d = lam.length, D = new Float64Array(d * d);
  lam.forEach((l, i) => (D[i * d + i] = l));
  return matMul(transpose(U, d, d), matMul(D, U, d, d, d), d, d, d);
}

test('householderEigen: a matrix of known spectrum (repeated and zero eigenvalues) gives it back, descending, with A v = lam v', () => {
  const lam = [5, 3, 3, 3, 1e-3, 0, 0, -2, 7.5, 0.25, 0.25, 4];
  const d = lam.length, A = withSpectrum(lam, orthogonal(d, 1));
  const { values, vectors } = householderEigen(A, d);
  const want = [...lam].sort((p, q) => q - p);
  values.forEach((v, i) => assert.ok(Math.abs(v - want[i]!) < 1e-12, `${v} vs ${want[i]}`));
  for (let c = 0; c < d; c++) {
    for (let r = 0; r < d; r++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += A[r * d + k]! * vectors![k * d + c]!;
      assert.ok(Math.abs(s - values[c]! * vectors![r * d + c]!) < 1e-12);
    }
  }
  assert.deepEqual([...householderEigen(A, d, { vectors: false }).values].map((v) => v.toFixed(9)), [...values].map((v) => v.toFixed(9)));
});

/** A mixture of two well-separated Gaussians of ranks 2 and 5 in 12 dimensions (a 1e-8 identity floor keeps them positive definite). */
function lowRankMixture(): { gmm: GaussianMixture; means: number[][] } {
  const d = 12;
  const comp = (rank: number, seed: number, shift: number) => {
    const B = new NoiseSource(seed).normal([rank, d], 0, 0, 'float64').data;
    const cov = Array.from({ length: d }, (_, i) => Array.from({ length: d }, (_, j) => {
      let s = i === j ? 1e-8 : 0;
      for (let k = 0; k < rank; k++) s += B[k * d + i]! * B[k * d + j]!;
      return s;
    }));
    return { mean: Array.from({ length: d }, (_, i) => shift * (i % 2 ? 1 : -1)), cov };
  };
  const a = comp(2, 1, 5), b = comp(5, 2, -5);
  return { gmm: new GaussianMixture({ weights: [0.5, 0.5], means: [a.mean, b.mean], covs: [a.cov, b.cov] }), means: [a.mean, b.mean] };
}

test('local intrinsic dimension of a mixture of low-rank Gaussians is the rank of the component each point comes from (full and partial Krylov spaces)', async () => {
  const { gmm, means } = lowRankMixture();
  const d = gmm.asDenoiser(path, 'eps'), x = gmm.sample(8, 3);
  const ranks = Array.from({ length: 8 }, (_, b) => {
    const dist = means.map((m) => m.reduce((s, v, i) => s + (v - x.data[b * 12 + i]!) ** 2, 0));
    return dist[0]! < dist[1]! ? 2 : 5;
  });
  assert.ok(ranks.includes(2) && ranks.includes(5), 'points from both components');
  const t = path.tOfSigma(0.01);
  for (const krylov of [12, 8]) {
    const r = await localIntrinsicDimension(d, x, t, { krylov, block: 3 });
    assert.deepEqual(r.dimension, ranks, `krylov ${krylov}`);
    assert.equal(r.krylov, krylov);
  }
});

test('local intrinsic dimension of a Gaussian counts the eigenvalues above sigma^2 (singular values lam / (lam + sigma^2))', async () => {
  const lam = [4, 1, 0.3, 0.05, 0.01, 1e-3, 1e-4, 1e-5];
  const cov = withSpectrum(lam, orthogonal(8, 5));
  const g = new GaussianMixture({ weights: [1], means: [Array(8).fill(0.2)], covs: [Array.from({ length: 8 }, (_, i) => [...cov.subarray(i * 8, (i + 1) * 8)])] });
  const x = g.sample(2, 1);
  for (const sigma of [0.03, 0.5]) {
    const t = path.tOfSigma(sigma), s2 = path.sigma(t) ** 2;
    const r = await localIntrinsicDimension(g.asDenoiser(path, 'x0'), x, t, { block: 3 });
    assert.deepEqual(r.dimension, [0, 1].map(() => lam.filter((l) => l > s2).length), `sigma ${sigma}`);
    const want = lam.map((l) => l / (l + s2)).sort((p, q) => q - p);
    r.singularValues[0]!.forEach((v, i) => assert.ok(Math.abs(v - want[i]!) < 1e-9, `${v} vs ${want[i]}`));
  }
});

test('Gaussian fit denoiser: a low-rank fit with an isotropic rest equals the full-covariance denoiser of the same Gaussian', () => {
  const d = 9, data = new NoiseSource(3).normal([40, d], 0, 0, 'float64');
  const low = fitGaussian(data, { rank: 3 });
  assert.ok(low.rest > 0);
  // The covariance this fit stands for: sum_k lam_k u_k u_k^T + rest (I - sum_k u_k u_k^T).
  const cov = new Float64Array(d * d);
  for (let i = 0; i < d; i++) cov[i * d + i] = low.rest;
  low.values.forEach((lam, k) => {
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) cov[i * d + j] += (lam - low.rest) * low.vectors[k * d + i]! * low.vectors[k * d + j]!;
  });
  const full = gaussianFitFromMoments(low.mean, cov);
  const z = new NoiseSource(4).normal([3, d], 0, 0, 'float64');
  const p = gaussianFitDenoise(low, z, 0.7, 0.4).data, q = gaussianFitDenoise(full, z, 0.7, 0.4).data;
  p.forEach((v, i) => assert.ok(Math.abs(v - q[i]!) < 1e-10, `${v} vs ${q[i]}`));
  // Fewer items than the rank asked for (rank-deficient data): the low-rank route still finds the exact eigenvalues.
  const few = new NoiseSource(5).normal([6, d], 0, 0, 'float64');
  const exact = fitGaussian(few).values, approx = fitGaussian(few, { rank: 5 });
  approx.values.forEach((v, i) => assert.ok(Math.abs(v - exact[i]!) < 1e-10 * exact[0]!, `${i}: ${v} vs ${exact[i]}`));
  assert.ok(approx.rest < 1e-12, String(approx.rest));
});

test('Gaussian deviation: 0 at every level for an exactly Gaussian prior, large for a well-separated mixture at small noise; asymmetry at the floor', async () => {
  const cov = withSpectrum([2, 1, 0.5, 0.1, 0.02, 0.3], orthogonal(6, 7));
  const rows = Array.from({ length: 6 }, (_, i) => [...cov.subarray(i * 6, (i + 1) * 6)]);
  const gauss = new GaussianMixture({ weights: [1], means: [[0.1, -0.2, 0.3, 0, 0.5, -1]], covs: [rows] });
  const m = gauss.moments();
  const rep = await diagnose(gauss.asDenoiser(path, 'eps'), gauss.sample(4, 2), { fit: gaussianFitFromMoments(m.mean, m.cov), levels: 6, lidLevels: 1 });
  assert.equal(rep.levels.length, 6);
  for (const l of rep.levels) {
    assert.ok(l.gaussianDeviation < 1e-9, `sigma ${l.sigma}: ${l.gaussianDeviation}`);
    assert.ok(l.asymmetry < 1e-5 && l.rotational < 1e-5, `sigma ${l.sigma}: ${l.asymmetry} ${l.rotational}`);
  }
  assert.equal(rep.departureSigma, null);
  assert.ok(rep.levels[5]!.lid && rep.levels[4]!.lid === undefined, 'LID at the smallest level only');
  const { gmm } = lowRankMixture();
  const mm = gmm.moments();
  const mix = await diagnose(gmm.asDenoiser(path, 'eps'), gmm.sample(4, 5), { fit: gaussianFitFromMoments(mm.mean, mm.cov), levels: 6, lidLevels: 0 });
  const last = mix.levels[mix.levels.length - 1]!;
  assert.ok(last.gaussianDeviation > 0.5, `smallest noise: ${last.gaussianDeviation}`);
  assert.ok(mix.levels[0]!.gaussianDeviation < 0.01, `largest noise: ${mix.levels[0]!.gaussianDeviation}`);
  assert.ok(mix.departureSigma !== null && mix.departureSigma < mix.levels[0]!.sigma);
});

test('noise levels: log-uniform in sigma from the noisiest end, within the path', () => {
  const grid = noiseLevels(path, 5);
  for (let i = 1; i < 5; i++) assert.ok(Math.abs(Math.log(grid[i - 1]!.sigma / grid[i]!.sigma) - Math.log(grid[0]!.sigma / grid[1]!.sigma)) < 1e-6);
  assert.throws(() => noiseLevels(path, 1), /levels must be an integer >= 2/);
});

const run = (...args: string[]) => spawnSync(process.execPath, ['bin/tweedie.js', 'diagnose', ...args], { encoding: 'utf8' });

test('tweedie diagnose: a table (or JSON) and three SVGs for a mixture; bad input is one line naming it', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'tweedie-diag-'));
  const out = join(tmp, 'figs');
  const r = run('--model', 'gmm:examples/mixture-2d.json', '--levels', '4', '--probes', '4', '--lid-levels', '2', '--out', out, '--json');
  assert.equal(r.status, 0, r.stderr);
  const rep = JSON.parse(r.stdout);
  assert.equal(rep.levels.length, 4);
  for (const l of rep.levels) assert.ok(l.gaussianDeviation >= 0 && l.asymmetry < 1e-5, JSON.stringify(l));
  for (const f of ['conservativity.svg', 'intrinsic-dimension.svg', 'gaussian-deviation.svg']) assert.match(readFileSync(join(out, f), 'utf8'), /^<svg/);
  const table = run('--model', 'gmm:examples/mixture-2d.json', '--levels', '3', '--lid-levels', '1');
  assert.equal(table.status, 0, table.stderr);
  assert.match(table.stdout, /^sigma\s+t\s+asymmetry\s+rotational\s+gauss-dev\s+LID/);
  assert.match(table.stdout, /the model departs from it/);
  const bad = (args: string[], status: number, re: RegExp) => {
    const b = run(...args);
    assert.equal(b.status, status, b.stderr);
    assert.equal(b.stderr.trim().split('\n').length, 1, b.stderr);
    assert.match(b.stderr, re);
  };
  bad(['--model', 'gmm:examples/mixture-2d.json', '--bogus'], 2, /bogus/);
  const wrong = join(tmp, 'wrong.npy'), nan = join(tmp, 'nan.npy');
  writeNpy(wrong, new Tensor([4, 3], new Float32Array(12)));
  writeNpy(nan, new Tensor([4, 2], Float32Array.from([0, 1, NaN, 2, 0, 0, 1, 1])));
  bad(['--model', 'gmm:examples/mixture-2d.json', '--data', wrong], 1, /--data \S*wrong\.npy has shape \[4, 3\] but the model's items are \[2\]/);
  bad(['--model', 'gmm:examples/mixture-2d.json', '--data', nan], 1, /nan\.npy: value NaN at flat index 2/);
  bad(['--model', 'gmm:examples/mixture-2d.json', '--points', '9', '--data', nan.replace('nan', 'wrong')], 1, /has shape/);
  bad(['--model', 'weights/fmnist-32'], 2, /diagnose needs --data x\.npy for weights\/fmnist-32/);
  bad(['--model', 'weights/fmnist-irsde', '--data', 'examples/fmnist-t10k-64.npy'], 1, /restoration model/);
  bad(['--model', 'gmm:examples/mixture-2d.json', '--lid-levels', '11'], 2, /--lid-levels must be an integer >= 0 and <= 10/);
  assert.ok(!existsSync(join(tmp, 'none')));
});

test('tweedie diagnose on the gaussian-exact ONNX model (data from its prior.json): Gaussian to the float32 level, LID = variances above sigma^2', () => {
  const r = run('--model', 'weights/gaussian-exact', '--levels', '7', '--lid-levels', '3', '--json');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /data from 2048 samples of weights\/gaussian-exact\/prior\.json/);
  const rep = JSON.parse(r.stdout);
  const prior = JSON.parse(readFileSync('weights/gaussian-exact/prior.json', 'utf8'));
  const variances: number[] = prior.covs[0].map((row: number[], i: number) => row[i]);
  for (const l of rep.levels) {
    assert.ok(l.gaussianDeviation < 1e-3, `sigma ${l.sigma}: ${l.gaussianDeviation}`);
    if (l.lid) assert.deepEqual(l.lid.perPoint, Array(4).fill(variances.filter((v) => v > l.sigma ** 2).length), `sigma ${l.sigma}`);
  }
  const partial = rep.levels.filter((l: { lid?: { mean: number } }) => l.lid && l.lid.mean > 0 && l.lid.mean < 64);
  assert.ok(partial.length >= 1, 'a level whose sigma^2 lies among the variances');
  assert.equal(rep.departureSigma, null);
});

