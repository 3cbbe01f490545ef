import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../src/core/tensor.js';
import { MatrixOperator } from '../src/inverse/operators/matrix.js';
import { mixturePosterior } from '../src/inverse/exact-posterior.js';
import { GaussianMixture } from '../src/models/gmm.js';
import { generate } from '../src/recipes/generate.js';
import { restore } from '../src/recipes/restore.js';
import { simulateMeasurement, solve } from '../src/recipes/solve.js';
import { pathByName } from '../src/paths/registry.js';

// The recipes own batching and seeding: item i depends only on (seed, firstSample + i).

const prior = new GaussianMixture({
  weights: [0.6, 0.4],
  means: [[-1.5, 0.5], [1.5, -0.5]],
  covs: [[[0.2, 0.05], [0.05, 0.3]], [[0.4, -0.1], [-0.1, 0.2]]],
});

const same = (a: Tensor, b: Tensor) => assert.deepEqual(Array.from(a.data), Array.from(b.data));

test('generate: the same samples whatever the batch size, and a run split by firstSample reproduces its rows', async () => {
  const o = { model: prior, path: 'vp-linear', sampler: 'ddim', params: { eta: 1 }, steps: 8, seed: 3, n: 7 } as const;
  const whole = await generate(o);
  same((await generate({ ...o, batch: 3 })).x, whole.x);
  same((await generate({ ...o, batch: 1 })).x, whole.x);
  same((await generate({ ...o, n: 4, firstSample: 3 })).x, whole.x.sliceBatch(3, 7));
  const other = await generate({ ...o, seed: 4 });
  assert.ok(other.x.data.some((v, i) => v !== whole.x.data[i]), 'another seed gives other samples');
  assert.equal(whole.nfe, 8);
  assert.equal((await generate({ ...o, batch: 3 })).nfe, 24, 'NFE counts every batch');
});

test('generate: samples follow the exact prior (mean and variance within 5 standard errors)', async () => {
  const n = 4000;
  const { x } = await generate({ model: prior, path: 'vp-linear', sampler: 'dpm-solver++', steps: 25, seed: 1, n, batch: 1000 });
  // Exact moments of the mixture.
  const w = [0.6, 0.4], mu = [[-1.5, 0.5], [1.5, -0.5]], v = [[0.2, 0.3], [0.4, 0.2]];
  for (let j = 0; j < 2; j++) {
    const mean = w[0]! * mu[0]![j]! + w[1]! * mu[1]![j]!;
    const second = w[0]! * (v[0]![j]! + mu[0]![j]! ** 2) + w[1]! * (v[1]![j]! + mu[1]![j]! ** 2);
    const variance = second - mean * mean;
    let s = 0, ss = 0;
    for (let i = 0; i < n; i++) {
      s += x.data[2 * i + j]!;
      ss += x.data[2 * i + j]! ** 2;
    }
    const m = s / n, vv = ss / n - m * m;
    assert.ok(Math.abs(m - mean) < 5 * Math.sqrt(variance / n), `coordinate ${j}: mean ${m} vs exact ${mean}`);
    assert.ok(Math.abs(vv - variance) < 5 * variance * Math.sqrt(2 / n) * 2, `coordinate ${j}: variance ${vv} vs exact ${variance}`);
  }
});

test('generate: progress counts every step of every batch, and an aborted run stops with ABORTED', async () => {
  const seen: number[] = [];
  await generate({ model: prior, path: 'vp-linear', steps: 4, n: 5, batch: 2, onProgress: (p) => void seen.push(p.done) });
  assert.deepEqual(seen, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  const ac = new AbortController();
  await assert.rejects(
    generate({ model: prior, path: 'vp-linear', steps: 4, n: 5, batch: 2, signal: ac.signal, onProgress: (p) => (p.done === 3 ? ac.abort() : undefined) }),
    (e: Error & { code?: string }) => e.code === 'ABORTED',
  );
});

test('generate: bad options are one clear error', async () => {
  await assert.rejects(generate({ model: prior, steps: 4 }), /Gaussian-mixture prior follows any path: give one/);
  await assert.rejects(generate({ model: prior.asDenoiser(pathByName('vp-linear')), path: 'vp-linear' }), /brings its own path/);
  await assert.rejects(generate({ model: prior, path: 'vp-linear', n: 0 }), /n must be an integer >= 1/);
  await assert.rejects(generate({ model: prior, path: 'vp-linear', sampler: 'nope' }), /unknown sampler "nope"/);
  await assert.rejects(generate({ model: prior, path: 'vp-linear', n: 2, noise: Tensor.zeros([3, 2]) }), /need 4 values/);
});

test('solve: batch-invariant posterior samples; an SMC ensemble matches the exact mixture posterior mean', async () => {
  const A = Float64Array.from([1, 0.5]), sigma = 0.3;
  const op = new MatrixOperator(A, 1, 2, [2], sigma);
  const y = simulateMeasurement(op, new Tensor([2], Float32Array.from([1.2, -0.4])), 5);
  const o = { model: prior, path: 'vp-linear', operator: op, measurement: y, solver: 'ddrm', steps: 40, seed: 2 } as const;
  const a = await solve({ ...o, n: 6 }), b = await solve({ ...o, n: 6, batch: 4 });
  same(a.x, b.x);
  // SMC (MCGdiff) is asymptotically exact: its ensemble mean is the posterior mean.
  const n = 2000, { x } = await solve({ ...o, solver: 'smc', n });
  const exact = mixturePosterior(prior, A, 1, Array.from(y.data), sigma).moments();
  for (let j = 0; j < 2; j++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += x.data[2 * i + j]!;
    const sd = Math.sqrt(exact.cov[j * 2 + j]!);
    assert.ok(Math.abs(s / n - exact.mean[j]!) < 0.05 * sd, `coordinate ${j}: ${s / n} vs exact ${exact.mean[j]}`);
  }
});

test('solve: per-sample measurements, particle ensembles run as one batch, and clear errors', async () => {
  const op = new MatrixOperator(Float64Array.from([1, 0]), 1, 2, [2], 0.1);
  const ys = new Tensor([3, 1], Float32Array.from([-1, 0, 1]));
  const r = await solve({ model: prior, path: 'vp-linear', operator: op, measurement: ys, solver: 'ddrm', steps: 30, n: 3, batch: 1 });
  assert.ok(r.x.data[0]! < r.x.data[2]! && r.x.data[2]! < r.x.data[4]!, 'each sample follows its own measurement');
  const smc = await solve({ model: prior, path: 'vp-linear', operator: op, measurement: ys.sliceBatch(0, 1), solver: 'smc', steps: 5, n: 8, batch: 2 });
  assert.equal(smc.nfe, 5, 'the ensemble ran as one batch of 8');
  await assert.rejects(solve({ operator: op, measurement: ys, solver: 'ddrm' }), /needs a diffusion prior/);
  await assert.rejects(solve({ model: prior, path: 'vp-linear', operator: op, measurement: Tensor.zeros([2]), solver: 'ddrm' }), /does not fit/);
  await assert.rejects(solve({ model: prior, path: 'vp-linear', operator: op, measurement: ys, solver: 'smc', n: 1 }), /ensemble size and must be at least 2/);
});

test('restore: refuses a model without an anchor', async () => {
  await assert.rejects(restore({ model: prior.asDenoiser(pathByName('vp-linear')), degraded: Tensor.zeros([1, 2]) }), /not a restoration model/);
});
