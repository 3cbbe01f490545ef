import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, writeFileSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OnnxDenoiser, sessionOptions, SPIN_ENV, type OrtModule } from '../src/models/onnx.js';
import { loadMixture } from '../src/models/gmm-file.js';
import { NoiseSource, Stream } from '../src/core/rng.js';
import { TweedieError } from '../src/core/errors.js';
import { makeGrid } from '../src/paths/grids.js';
import { initialState, runSampler } from '../src/samplers/run.js';
import { ddim } from '../src/samplers/ddim.js';
import { encodeHalf, decodeHalf, toHalfBits, fromHalfBits } from '../src/models/float16.js';

const dir = 'weights/gaussian-exact';
const prior = loadMixture(join(dir, 'prior.json'));

test('gaussian-exact ONNX model agrees with the analytic Gaussian denoiser through the whole sampling loop', async () => {
  const onnx = await OnnxDenoiser.load(dir, { threads: 1 });
  assert.deepEqual(onnx.itemShape, [1, 8, 8]);
  const exact = prior.asDenoiser(onnx.path, 'eps');
  const grid = makeGrid(onnx.path, { kind: 'time-uniform', steps: 25 });
  const xT = initialState(new NoiseSource(5).normal([6, 1, 8, 8], 0, Stream.init), grid[0]!);
  for (const eta of [0, 1]) {
    const a = await runSampler(ddim, onnx, grid, xT, { noise: new NoiseSource(9), params: { eta } });
    const b = await runSampler(ddim, exact, grid, xT, { noise: new NoiseSource(9), params: { eta } });
    assert.equal(a.nfe, 25);
    assert.deepEqual(a.x.shape, [6, 1, 8, 8]);
    let worst = 0;
    for (let i = 0; i < a.x.size; i++) worst = Math.max(worst, Math.abs(a.x.data[i]! - b.x.data[i]!));
    assert.ok(worst < 2e-4, `max difference ${worst} (eta ${eta})`);
  }
  // Fractional timesteps: the graph interpolates log sigma like the path.
  const x = new NoiseSource(1).normal([2, 1, 8, 8], 0);
  const p1 = await onnx.predict(x, 420.5), p2 = await exact.predict(x, 420.5);
  for (let i = 0; i < p1.size; i++) assert.ok(Math.abs(p1.data[i]! - p2.data[i]!) < 1e-4);
});

test('ONNX sampling is deterministic by seed and batched in one call per step', async () => {
  const onnx = await OnnxDenoiser.load(dir, { threads: 1 });
  const grid = makeGrid(onnx.path, { kind: 'time-uniform', steps: 10 });
  const xT = initialState(new NoiseSource(2).normal([4, 1, 8, 8], 0, Stream.init), grid[0]!);
  const r1 = await runSampler(ddim, onnx, grid, xT, { noise: new NoiseSource(3), params: { eta: 1 } });
  const calls = onnx.calls;
  const r2 = await runSampler(ddim, onnx, grid, xT, { noise: new NoiseSource(3), params: { eta: 1 } });
  assert.equal(onnx.calls - calls, 10);
  assert.deepEqual(r1.x.data, r2.x.data);
});

test('bad model folders and calls give clear errors', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'tweedie-onnx-'));
  const copy = (name: string) => {
    const d = join(tmp, name);
    mkdirSync(d);
    for (const f of ['model.onnx', 'scheduler_config.json', 'tweedie.json']) copyFileSync(join(dir, f), join(d, f));
    return d;
  };
  await assert.rejects(OnnxDenoiser.load(join(tmp, 'absent')), /model folder .*absent does not exist/);
  const noModel = copy('nomodel');
  writeFileSync(join(noModel, 'model.onnx'), 'not an onnx file');
  await assert.rejects(OnnxDenoiser.load(noModel), (e: unknown) => e instanceof TweedieError && e.code === 'UNREADABLE_FILE' && /cannot load ONNX model/.test(e.message));
  const wrongName = copy('wrongname');
  const tj = JSON.parse(readFileSync(join(wrongName, 'tweedie.json'), 'utf8'));
  tj.inputs.sample = 'x_t';
  writeFileSync(join(wrongName, 'tweedie.json'), JSON.stringify(tj));
  await assert.rejects(OnnxDenoiser.load(wrongName), /no input "x_t" for the sample \(its inputs are sample, timestep\)/);
  const noCard = copy('nocard');
  writeFileSync(join(noCard, 'tweedie.json'), '{"prediction": "epsilon", "shape": [1, 8]');
  await assert.rejects(OnnxDenoiser.load(noCard), /tweedie.json is not valid JSON/);
  const onnx = await OnnxDenoiser.load(dir);
  await assert.rejects(onnx.predict(new NoiseSource(1).normal([2, 1, 4, 4], 0), 10), /expects samples of shape \[N, 1, 8, 8\] but got \[2, 1, 4, 4\]/);
  const nan = copy('nan');
  copyFileSync('test/fixtures/onnx/nan.onnx', join(nan, 'model.onnx'));
  const bad = await OnnxDenoiser.load(nan);
  const grid = makeGrid(bad.path, { kind: 'time-uniform', steps: 4 });
  await assert.rejects(
    runSampler(ddim, bad, grid, initialState(new NoiseSource(1).normal([1, 1, 8, 8], 0), grid[0]!)),
    (e: unknown) => e instanceof TweedieError && e.code === 'NAN_IN_MODEL' && /ddim step 0/.test(e.message),
  );
});

test('float16 conversion is exact on representable values and rounds to nearest even', () => {
  const vals = [0, -0, 1, -2, 0.5, 65504, 6.103515625e-5, 5.960464477539063e-8, Infinity, -Infinity];
  const back = new Float32Array(vals.length);
  decodeHalf(encodeHalf(vals), back);
  assert.deepEqual([...back], vals.map((v) => Math.fround(v)));
  assert.equal(toHalfBits(1), 0x3c00);
  assert.equal(toHalfBits(1 + 2 ** -11), 0x3c00, 'tie rounds to even');
  assert.equal(toHalfBits(1 + 3 * 2 ** -11), 0x3c02);
  assert.equal(toHalfBits(1e6), 0x7c00, 'overflow to infinity');
  assert.ok(Number.isNaN(fromHalfBits(0x7e00)));
});

test('ONNX Runtime sessions: intra-op threads sleep rather than spin unless asked, one inter-op thread, sequential', async () => {
  const seen: Record<string, unknown>[] = [];
  const real = (await import('onnxruntime-node')).default as unknown as OrtModule;
  const recording: OrtModule = { ...real, InferenceSession: { create: (file: never, o: Record<string, unknown>) => (seen.push(o), real.InferenceSession.create(file, o as never)) } } as unknown as OrtModule;
  const saved = process.env[SPIN_ENV];
  try {
    delete process.env[SPIN_ENV];
    await OnnxDenoiser.load(dir, { threads: 1, ort: recording, backend: 'cpu' });
    process.env[SPIN_ENV] = '1';
    await OnnxDenoiser.load(dir, { threads: 1, ort: recording, backend: 'cpu' });
    delete process.env[SPIN_ENV];
    await OnnxDenoiser.load(dir, { threads: 1, ort: recording, backend: 'cpu', spin: true });
  } finally {
    if (saved === undefined) delete process.env[SPIN_ENV];
    else process.env[SPIN_ENV] = saved;
  }
  const spinning = seen.map((o) => (o.extra as { session: { intra_op: { allow_spinning: string } } }).session.intra_op.allow_spinning);
  assert.deepEqual(spinning, ['0', '1', '1'], 'default off; TWEEDIE_ORT_SPIN=1 or spin: true turn it on');
  for (const o of seen) {
    assert.equal(o.interOpNumThreads, 1);
    assert.equal(o.executionMode, 'sequential');
    assert.equal(o.intraOpNumThreads, 1);
    assert.equal((o.extra as { session: { inter_op: { allow_spinning: string } } }).session.inter_op.allow_spinning, '0');
  }
  assert.deepEqual(sessionOptions({}).intraOpNumThreads, undefined, 'no thread count: the runtime picks all cores');
});
