import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mixturePosterior } from '../src/inverse/exact-posterior.js';
import { GaussianMixture } from '../src/models/gmm.js';

test('mixture posterior equals importance-weighted prior samples (Monte Carlo within 4 standard errors)', () => {
  const prior = new GaussianMixture({
    weights: [0.5, 0.3, 0.2],
    means: [[1, -1, 0.5], [-2, 0.5, 1], [0.5, 2, -1.5]],
    covs: [
      [[0.5, 0.2, 0], [0.2, 0.4, 0.1], [0, 0.1, 0.3]],
      [[0.2, -0.05, 0], [-0.05, 0.3, 0], [0, 0, 0.6]],
      [[0.4, 0, 0.1], [0, 0.2, 0], [0.1, 0, 0.25]],
    ],
  });
  const A = Float64Array.from([1, 0.5, 0, 0, -0.3, 1]); // 2 x 3
  const y = [0.2, -0.4], sigma = 0.5;
  const post = mixturePosterior(prior, A, 2, y, sigma);
  const { mean: exact } = post.moments();
  const n = 200_000, xs = prior.sample(n, 4).data;
  let W = 0;
  const w = new Float64Array(n), est = new Float64Array(3);
  for (let i = 0; i < n; i++) {
    let q = 0;
    for (let r = 0; r < 2; r++) q += (y[r]! - (A[r * 3]! * xs[i * 3]! + A[r * 3 + 1]! * xs[i * 3 + 1]! + A[r * 3 + 2]! * xs[i * 3 + 2]!)) ** 2;
    w[i] = Math.exp(-q / (2 * sigma * sigma));
    W += w[i]!;
    for (let j = 0; j < 3; j++) est[j] += w[i]! * xs[i * 3 + j]!;
  }
  for (let j = 0; j < 3; j++) {
    est[j] /= W;
    let v = 0;
    for (let i = 0; i < n; i++) v += (w[i]! / W) ** 2 * (xs[i * 3 + j]! - est[j]!) ** 2;
    assert.ok(Math.abs(exact[j]! - est[j]!) < 4 * Math.sqrt(v), `coord ${j}: ${exact[j]} vs ${est[j]}`);
  }
  // With no noise and a full-rank square operator the posterior is a point mass at A^-1 y.
  const sq = Float64Array.from([2, 0, 0, 0, 1, 1, 0, 0, 1]);
  const x = [0.3, -0.2, 0.9];
  const yy = [0.6, 0.7, 0.9];
  const pt = mixturePosterior(prior, sq, 3, yy, 1e-6).moments().mean;
  for (let j = 0; j < 3; j++) assert.ok(Math.abs(pt[j]! - x[j]!) < 1e-6);
  assert.throws(() => mixturePosterior(prior, A, 3, y, sigma), /expected 3 x 3/);
});
