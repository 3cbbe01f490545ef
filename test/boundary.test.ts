import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { NoiseSource, Stream } from '../src/core/rng.js';
import { TweedieError } from '../src/core/errors.js';
import { Tensor } from '../src/core/tensor.js';
import { readNpy, writeNpy } from '../src/io/npy.js';
import { parseBoundaries } from '../src/models/boundary-spec.js';
import type { Denoiser } from '../src/models/denoiser.js';
import { OnnxDenoiser } from '../src/models/onnx.js';
import { ResShiftPath } from '../src/paths/restoration.js';
import { restore } from '../src/recipes/restore.js';
import { selectBoundary } from '../src/restoration/boundary.js';
import { mrs } from '../src/samplers/mrs.js';
import { rddm, resshift } from '../src/samplers/restoration.js';
import { initialState, runSampler } from '../src/samplers/run.js';
import { runGrid } from '../src/samplers/start.js';

const run = (...args: string[]) => spawnSync(process.execPath, ['bin/tweedie.js', ...args], { encoding: 'utf8' });
const tmp = mkdtempSync(join(tmpdir(), 'tweedie-boundary-'));
const ITEM = [1, 3, 4];
const SIZE = 12;

/**
 * A restoration model whose noise prediction is one fixed tensor g. Deterministic DDIM (rddm at eta 0) keeps
 * z/a - (s/a) g constant along its steps (z = a x0_hat + s g at every step), so from z_T = a_T mu + s_T n the
 * restoration at t = 0 is exactly mu + (s_T/a_T)(n - g): the starting noise closest to g restores best.
 */
function constantEpsModel(g: Float64Array): Denoiser {
  return {
    prediction: 'eps',
    path: new ResShiftPath({ kappa: 1 }),
    itemShape: ITEM,
    async predict(x: Tensor) {
      const out = x.zerosLike();
      for (let i = 0; i < out.size; i++) out.data[i] = g[i % SIZE]!;
      return out;
    },
  };
}

/** Candidate k, drawn here straight from the generator: image k's starting noise of a run with this seed (float32). */
function candidateNoise(seed: number, k: number): Float64Array {
  return Float64Array.from(new NoiseSource(seed, k).normal([1, ...ITEM], 0, Stream.init, 'float64').data, Math.fround);
}

function referenceSet(n: number): { degraded: Tensor; truth: Tensor } {
  const degraded = new Tensor([n, ...ITEM], Float64Array.from({ length: n * SIZE }, (_, i) => Math.sin(0.7 * i)));
  return { degraded, truth: degraded.clone() };
}

test('selectBoundary picks the argmin, with the closed-form score of every candidate (constant-eps model, rddm eta 0)', async () => {
  const seed = 3, K = 12, target = 7;
  const g = candidateNoise(seed, target).map((v, i) => v + 0.05 * Math.cos(i)); // near candidate 7, not equal to it
  const model = constantEpsModel(g);
  const reference = referenceSet(3);
  const sel = await selectBoundary({ model, reference, sampler: rddm, steps: 5, candidates: K, seed });
  const p0 = runGrid(model.path, 5)[0]!;
  const ratio = p0.s / p0.a;
  const expected = Array.from({ length: K }, (_, k) => {
    const n = candidateNoise(seed, k);
    return (ratio * ratio * n.reduce((acc, v, i) => acc + (v - g[i]!) ** 2, 0)) / SIZE;
  });
  for (let k = 0; k < K; k++) assert.ok(Math.abs(sel.scores[k]! - expected[k]!) <= 1e-9 * expected[k]!, `candidate ${k}: ${sel.scores[k]} vs ${expected[k]}`);
  assert.equal(sel.chosen, expected.indexOf(Math.min(...expected)));
  assert.equal(sel.chosen, target);
  assert.deepEqual(Array.from(sel.noise.data), Array.from(candidateNoise(seed, target)));
  assert.deepEqual(sel.noise.shape, ITEM);
  // K candidates and candidate 0 again, each a 5-step solve of the 3 pairs.
  assert.equal(sel.nfe, (K + 1) * 3 * 5);
});

test('selectBoundary refuses a stochastic sampler and mismatched reference pairs', async () => {
  const model = constantEpsModel(new Float64Array(SIZE));
  const reference = referenceSet(2);
  await assert.rejects(selectBoundary({ model, reference, sampler: resshift, steps: 4, candidates: 3, seed: 0 }), (e: unknown) => e instanceof TweedieError && /resshift .*stochastic/.test(e.message));
  await assert.rejects(selectBoundary({ model, reference, sampler: rddm, params: { eta: 0.5 }, steps: 4, candidates: 3, seed: 0 }), /stochastic/);
  await assert.rejects(selectBoundary({ model, reference: { degraded: reference.degraded, truth: reference.truth.sliceBatch(0, 1) }, sampler: rddm, steps: 4, candidates: 3, seed: 0 }), /one clean image per degraded image/);
  await assert.rejects(selectBoundary({ model, reference, sampler: rddm, steps: 4, candidates: 1, seed: 0 }), /at least 2 candidates/);
});

test('restore from a given start: every image starts from that noise, whatever the seed and batch', async () => {
  const model = constantEpsModel(Float64Array.from({ length: SIZE }, (_, i) => 0.1 * i));
  const { degraded } = referenceSet(3);
  const start = new Tensor(ITEM, Float64Array.from({ length: SIZE }, (_, i) => Math.cos(i)));
  const a = await restore({ model, degraded, sampler: rddm, steps: 4, start, seed: 0 });
  const b = await restore({ model, degraded, sampler: rddm, steps: 4, start, seed: 9, batch: 2 });
  assert.deepEqual(Array.from(a.x.data), Array.from(b.x.data));
  const grid = runGrid(model.path, 4);
  const tiled = new Tensor([3, ...ITEM], Float64Array.from({ length: 3 * SIZE }, (_, i) => start.data[i % SIZE]!));
  const direct = await runSampler(rddm, model, grid, initialState(tiled, grid[0]!, degraded), { cond: { anchor: degraded } });
  assert.deepEqual(Array.from(a.x.data), Array.from(direct.x.data));
  await assert.rejects(restore({ model, degraded, sampler: rddm, steps: 4, start: new Tensor([1, 4, 3]) }), /starting noise is \[1, 4, 3\] but the images are restored at \[1, 3, 4\]/);
});

test('tweedie.json "boundary": bad entries are one line naming the entry', () => {
  const ok = { file: 'boundary-mrs-10.npy', sampler: 'mrs', params: { mode: 'ode' }, steps: 10, shape: [1, 32, 32], selection: {} };
  assert.equal(parseBoundaries([ok], 'tweedie.json')[0]!.steps, 10);
  const bad = (v: unknown, word: RegExp) => assert.throws(() => parseBoundaries(v, 'tweedie.json'), (e: unknown) => e instanceof TweedieError && e.code === 'BAD_CONFIG' && word.test(e.message));
  bad(ok, /must be a list/);
  bad([{ ...ok, file: '../x.npy' }], /entry 0: "file"/);
  bad([{ ...ok, steps: 0 }], /"steps"/);
  bad([{ ...ok, shape: [] }], /"shape"/);
  bad([{ ...ok, params: { a: [1] } }], /"params"/);
  bad([ok, { ...ok, file: 'other.npy' }], /two entries for mrs \(mode=ode\), 10 steps/);
});

// The shipped fmnist-irsde boundary (mrs, its default parameters, 10 steps: the restore command's defaults).
const MODEL = 'weights/fmnist-irsde';
const heldout = readNpy('examples/fmnist-t10k-64.npy').toDtype('float32');
const noisy = heldout.sliceBatch(0, 3).clone();
new NoiseSource(5).normal(noisy.shape, 0, Stream.noise).data.forEach((v, i) => (noisy.data[i] = noisy.data[i]! + 0.2 * v));
const noisyFile = join(tmp, 'noisy.npy');
writeNpy(noisyFile, noisy);

test('restore --boundary optimal starts every image from the shipped noise (the sampler run from it), whatever --seed', async () => {
  const card = JSON.parse(readFileSync(join(MODEL, 'tweedie.json'), 'utf8')) as { boundary: { file: string; sampler: string; steps: number }[] };
  const entry = card.boundary.find((b) => b.sampler === 'mrs' && b.steps === 10)!;
  const noise = readNpy(join(MODEL, entry.file));
  const outs = ['opt0.npy', 'opt7.npy', 'default.npy', 'random.npy'].map((f) => join(tmp, f));
  for (const [i, args] of [['--boundary', 'optimal', '--seed', '0'], ['--boundary', 'optimal', '--seed', '7'], [], ['--boundary', 'random']].entries()) {
    const r = run('restore', '--model', MODEL, '--input', noisyFile, '--out', outs[i]!, '--threads', '1', '--json', ...args);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).boundary, i === 3 ? 'random' : 'optimal');
  }
  const [opt0, opt7, dflt, random] = outs.map((f) => readNpy(f));
  assert.deepEqual(Array.from(opt0!.data), Array.from(opt7!.data));
  assert.deepEqual(Array.from(opt0!.data), Array.from(dflt!.data));
  assert.ok(opt0!.data.some((v, i) => v !== random!.data[i]));
  // The sampler itself, started from x_T = mu + s_T noise for each image.
  const model = await OnnxDenoiser.load(MODEL, { threads: 1 });
  const grid = runGrid(model.path, 10);
  const tiled = new Tensor([3, ...noise.shape], Float32Array.from({ length: 3 * noise.size }, (_, i) => noise.data[i % noise.size]!));
  const direct = await runSampler(mrs, model, grid, initialState(tiled, grid[0]!, noisy), { cond: { anchor: noisy } });
  let worst = 0;
  for (let i = 0; i < direct.x.size; i++) worst = Math.max(worst, Math.abs(direct.x.data[i]! - opt0!.data[i]!));
  assert.ok(worst < 1e-6, `max |CLI - sampler| = ${worst}`);
});

test('restore --boundary: bad values, a folder without one and another step count are one clear line', () => {
  const bare = join(tmp, 'bare');
  spawnSync('mkdir', [bare]);
  for (const f of ['model.onnx', 'scheduler_config.json']) symlinkSync(resolve(MODEL, f), join(bare, f));
  const card = JSON.parse(readFileSync(join(MODEL, 'tweedie.json'), 'utf8')) as Record<string, unknown>;
  delete card.boundary;
  writeFileSync(join(bare, 'tweedie.json'), JSON.stringify(card));
  const out = join(tmp, 'x.npy');
  const oneLine = (args: string[], word: RegExp) => {
    const r = run('restore', '--input', noisyFile, '--out', out, '--threads', '1', ...args);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, word);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  };
  oneLine(['--model', MODEL, '--boundary', 'best'], /--boundary best: use optimal or random/);
  oneLine(['--model', bare, '--boundary', 'optimal'], /has no optimal boundary .*tweedie boundary --model/);
  oneLine(['--model', MODEL, '--boundary', 'optimal', '--steps', '5'], /has optimal boundaries for mrs .*10 steps.*not for mrs .*5 steps.*--boundary random/);
  // Without --boundary, a setting the folder has no boundary for runs from random noise.
  const r = run('restore', '--model', bare, '--input', noisyFile, '--out', out, '--threads', '1', '--json');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).boundary, 'random');
  // A shipped noise that went missing or does not hold the declared shape.
  const broken = join(tmp, 'broken');
  spawnSync('mkdir', [broken]);
  for (const f of ['model.onnx', 'scheduler_config.json']) symlinkSync(resolve(MODEL, f), join(broken, f));
  copyFileSync(join(MODEL, 'tweedie.json'), join(broken, 'tweedie.json'));
  const file = (JSON.parse(readFileSync(join(MODEL, 'tweedie.json'), 'utf8')) as { boundary: { file: string }[] }).boundary[0]!.file;
  oneLine(['--model', broken], new RegExp(`names ${file.replace(/[.]/g, '[.]')}, which is not in`));
  writeNpy(join(broken, file), new Tensor([1, 16, 16]));
  oneLine(['--model', broken], /is not a finite \[1, 32, 32\] noise/);
});

test('tweedie boundary: a non-restoration model, an existing boundary and bad counts or files are refused before the work', () => {
  const oneLine = (args: string[], word: RegExp) => {
    const r = run('boundary', '--threads', '1', ...args);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, word);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  };
  oneLine(['--model', 'weights/fmnist-32'], /not a restoration model/);
  oneLine(['--model', MODEL], /already has an optimal boundary for mrs .*10 steps/);
  oneLine(['--model', MODEL, '--steps', '3', '--candidates', '1'], /--candidates must be an integer >= 2/);
  oneLine(['--model', MODEL, '--steps', '3', '--first', '64'], /--first 64 --count 0: .* holds 64 images/);
  oneLine(['--model', MODEL, '--steps', '3', '--reference', join(tmp, 'none.npy')], /--reference .*none\.npy does not exist/);
});
