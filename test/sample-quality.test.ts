import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TweedieError } from '../src/core/errors.js';
import { NoiseSource } from '../src/core/rng.js';
import { readNpy } from '../src/io/npy.js';
import { packageRoot } from '../src/package-root.js';
import {
  frechetDistance, frechetDistanceOfStats, featureStats, knnRadii2, precisionRecall, unplaceableShare, type FeatureStats,
} from '../src/metrics/sample-quality.js';

const close = (a: number, b: number, tol: number, what = ''): void =>
  assert.ok(Math.abs(a - b) <= tol, `${what} ${a} vs ${b} (tol ${tol})`);

const isError = (code: string, words: RegExp) => (e: unknown): boolean =>
  e instanceof TweedieError && e.code === code && words.test(e.message) && !e.message.includes('\n');

/** A random orthogonal d x d matrix (Gram-Schmidt on seeded normals). */
function rotation(d: number, seed: number): Float64Array {
  const q = Float64Array.from(new NoiseSource(seed).normal([d, d], 0).data);
  for (let c = 0; c < d; c++) {
    for (let p = 0; p < c; p++) {
      let dot = 0;
      for (let r = 0; r < d; r++) dot += q[r * d + c]! * q[r * d + p]!;
      for (let r = 0; r < d; r++) q[r * d + c] -= dot * q[r * d + p]!;
    }
    let norm = 0;
    for (let r = 0; r < d; r++) norm += q[r * d + c]! ** 2;
    for (let r = 0; r < d; r++) q[r * d + c] = q[r * d + c]! / Math.sqrt(norm);
  }
  return q;
}

/** The fit with mean mu and covariance Q diag(l) Q^T. */
function fit(mu: number[], l: number[], Q: Float64Array): FeatureStats {
  const d = l.length, cov = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) for (let k = 0; k < d; k++) cov[i * d + j] += Q[i * d + k]! * l[k]! * Q[j * d + k]!;
  return { mean: Float64Array.from(mu), cov, d };
}

/** Closed form for commuting covariances (same eigenvectors): |dmu|^2 + sum (sqrt a_i - sqrt b_i)^2. */
function closedForm(mu1: number[], a: number[], mu2: number[], b: number[]): number {
  return mu1.reduce((s, m, i) => s + (m - mu2[i]!) ** 2 + (Math.sqrt(a[i]!) - Math.sqrt(b[i]!)) ** 2, 0);
}

test('Frechet distance of Gaussians with diagonal and with commuting covariances meets the closed form', () => {
  const d = 12;
  const a = Array.from({ length: d }, (_, i) => 0.1 + 0.3 * i);
  const b = Array.from({ length: d }, (_, i) => 2 + Math.sin(i));
  const mu1 = Array.from({ length: d }, (_, i) => Math.cos(i));
  const mu2 = Array.from({ length: d }, (_, i) => 0.5 * i - 1);
  const identity = new Float64Array(d * d);
  for (let i = 0; i < d; i++) identity[i * d + i] = 1;
  const singular = b.map((v, i) => (i === 3 ? 0 : v));
  for (const [name, Q] of [['diagonal', identity], ['rotated', rotation(d, 7)]] as const) {
    for (const [kind, bb, rel] of [['', b, 1e-10], [', singular', singular, name === 'diagonal' ? 1e-10 : 1e-7]] as const) {
      // A rotated singular covariance has an eigenvalue of rounding size, ~1e-16 |C|, whose square root is ~1e-8.
      const want = closedForm(mu1, a, mu2, bb);
      close(frechetDistanceOfStats(fit(mu1, a, Q), fit(mu2, bb, Q)), want, rel * want, name + kind);
      close(frechetDistanceOfStats(fit(mu2, bb, Q), fit(mu1, a, Q)), want, rel * want, `${name}${kind}, swapped`);
    }
  }
});

test('Frechet distance of a feature set with itself is 0', () => {
  const d = 16, x = new NoiseSource(3).normal([400, d], 0).data;
  for (let i = 0; i < x.length; i++) x[i] = x[i]! * (1 + (i % d)) + (i % 5);
  const trace = featureStats(x, d).cov.reduce((s, v, i) => (i % (d + 1) === 0 ? s + v : s), 0);
  close(frechetDistance(x, x, d), 0, 1e-10 * trace);
});

test('Frechet distance, precision and recall meet scipy.linalg.sqrtm and a numpy brute force (training/quality_fixture.py)', () => {
  const dir = join(packageRoot, 'test', 'fixtures', 'sample-quality');
  const real = readNpy(join(dir, 'real.npy')), generated = readNpy(join(dir, 'generated.npy'));
  const want = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as { k: number; frechet_distance: number; precision: number; recall: number };
  const d = real.shape[1]!;
  assert.equal(real.dtype, 'float64');
  // scipy's Schur-based sqrtm and our eigendecompositions agree to rounding: 1e-9 relative.
  close(frechetDistance(real.data, generated.data, d), want.frechet_distance, 1e-9 * want.frechet_distance, 'FD');
  // The fixture's smallest |distance / radius - 1| is 5e-5, so the counts must agree exactly.
  const pr = precisionRecall(real.data, generated.data, d, { k: want.k });
  assert.equal(pr.precision, want.precision);
  assert.equal(pr.recall, want.recall);
  const reused = precisionRecall(real.data, generated.data, d, { k: want.k, realRadii2: knnRadii2(real.data, d, want.k) });
  assert.deepEqual(reused, pr);
});

test('precision and recall: a set against itself is 1 and 1, against a far copy 0 and 0', () => {
  const d = 4, x = new NoiseSource(1).normal([50, d], 0).data;
  assert.deepEqual(precisionRecall(x, x, d), { precision: 1, recall: 1 });
  const far = x.map((v) => v + 100);
  assert.deepEqual(precisionRecall(x, far, d), { precision: 0, recall: 0 });
});

test('knnRadii2 is the squared distance to the k-th nearest other point', () => {
  // Points on a line at 0, 1, 3, 7: the 2nd nearest of 0 is 3, of 1 is 2 (to 3), of 3 is 3 (to 0), of 7 is 6 (to 1).
  assert.deepEqual([...knnRadii2(Float64Array.from([0, 1, 3, 7]), 1, 2)], [9, 4, 9, 36]);
});

test('unplaceableShare counts the rows whose largest softmax probability is below 0.5', () => {
  const row = (first: number) => [first, 0, 0, 0, 0, 0, 0, 0, 0, 0];
  // max softmax: 0.1 (uniform), 3/12 = 0.25, 10/19 = 0.526, e^8/(e^8 + 9) = 0.997
  const logits = Float64Array.from([...row(0), ...row(Math.log(3)), ...row(Math.log(10)), ...row(8)]);
  assert.equal(unplaceableShare(logits, 10), 0.5);
  assert.equal(unplaceableShare(logits, 10, 0.3), 0.5);
  assert.equal(unplaceableShare(logits, 10, 0.6), 0.75);
});

test('sample-quality metrics refuse mismatched dimensions, too few samples and NaN in one line', () => {
  const x = new NoiseSource(2).normal([20, 8], 0).data;
  const fits = [featureStats(x, 8), featureStats(x, 4)] as const;
  assert.throws(() => frechetDistanceOfStats(fits[0], fits[1]), isError('BAD_SHAPE', /feature dimensions differ \(8 and 4\)/));
  assert.throws(() => frechetDistance(x, x.subarray(0, 8), 8), isError('BAD_INPUT', /second set.*at least 2/));
  assert.throws(() => frechetDistance(x, x.subarray(0, 12), 8), isError('BAD_SHAPE', /12 values do not form points of dimension 8/));
  assert.throws(() => precisionRecall(x, x.subarray(0, 24), 8), isError('BAD_INPUT', /generated set.*at least 4/));
  const bad = x.slice();
  bad[19] = NaN;
  assert.throws(() => frechetDistance(x, bad, 8), isError('BAD_INPUT', /NaN at point 2, coordinate 3.*must be finite/));
  assert.throws(() => precisionRecall(bad, x, 8), isError('BAD_INPUT', /real set.*NaN/));
  assert.throws(() => unplaceableShare(Float64Array.from([1, NaN]), 2), isError('BAD_INPUT', /NaN/));
});
