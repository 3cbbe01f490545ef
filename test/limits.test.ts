import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { TweedieError } from '../src/core/errors.js';
import { MAX_STEPS, MAX_TRAIN_TIMESTEPS, MAX_VALUES } from '../src/core/limits.js';
import { Tensor } from '../src/core/tensor.js';
import { readNifti, writeNifti } from '../src/io/nifti.js';
import { parseNpy, readNpy } from '../src/io/npy.js';
import { readPng } from '../src/io/png.js';
import { readDicom } from '../src/io/dicom-file.js';
import { readModelFolder } from '../src/models/model-folder.js';
import { createVolume } from '../src/io/volume.js';
import { loadMixture } from '../src/models/gmm-file.js';
import { checkThreads, OnnxDenoiser, THREADS_FORCE_ENV, type OrtModule } from '../src/models/onnx.js';
import { discreteTimesteps, makeGrid } from '../src/paths/grids.js';
import { pathByName } from '../src/paths/registry.js';
import { MeanRevertingPath, RDDMPath, ResShiftPath } from '../src/paths/restoration.js';
import { DiscreteVPPath } from '../src/paths/vp.js';
import { parseSchedulerConfig } from '../src/paths/scheduler-config.js';
import { generate } from '../src/recipes/generate.js';
import { probeCli, type CliProbe } from '../bench/lib/cli-probe.js';

const tmp = mkdtempSync(join(tmpdir(), 'tweedie-limits-'));

const GiB_KB = 1024 * 1024;
const TIMEOUT_MS = 30_000;

/** Run the CLI under a 30 s limit, recording its peak memory. */
function probe(args: string[], env: Record<string, string> = {}): CliProbe {
  const p = probeCli(args, { env, timeoutMs: TIMEOUT_MS });
  assert.notEqual(p.signal, 'SIGKILL', `${args.join(' ')} ran past ${TIMEOUT_MS / 1000} s`);
  return p;
}

/** A clean refusal: the exit code, one line on stderr naming the option, no internal error, under 1 GiB. */
function assertRefused(p: CliProbe, code: number, names: RegExp, what: string): void {
  assert.equal(p.status, code, `${what}: ${p.stderr}`);
  const lines = p.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `${what}: one line, got ${JSON.stringify(p.stderr)}`);
  assert.match(lines[0]!, names, what);
  assert.doesNotMatch(p.stderr, /internal error|\n\s+at /, what);
  assert.equal(p.stdout, '', what);
  assert.ok(p.rssKb > 0 && p.rssKb < GiB_KB, `${what}: peak RSS ${p.rssKb} kB`);
}

const out = join(tmp, 'out.npy');
const gmm = ['--model', 'gmm:examples/mixture-2d.json'];

test('heavy probes are refused before allocation: --steps, -n, --threads, num_train_timesteps (exit 2 or 1, one line, < 1 GiB, < 30 s)', () => {
  assertRefused(probe(['sample', ...gmm, '--steps', '1e9', '--out', out]), 2, /--steps .*10000/, '--steps 1e9');
  assertRefused(probe(['solve', ...gmm, '--operator', 'identity', '--truth', 'examples/patterns-truth.npy', '--steps', '1000000', '--out', out]), 2, /--steps .*10000/, 'solve --steps 1e6');
  assertRefused(probe(['sample', ...gmm, '-n', '1e9', '--out', out]), 2, /^tweedie sample: -n 1000000000: .*134217728.*use -n 67108864 or less/, '-n 1e9');
  const many = String(availableParallelism() + 1);
  assertRefused(probe(['sample', '--model', 'weights/fmnist-32', '--threads', many, '--out', out]), 2, new RegExp(`--threads ${many} is more than .*${THREADS_FORCE_ENV}=1`), '--threads cores+1');
  for (const n of ['1e9', '1e15']) {
    const cfg = join(tmp, `sched-${n}.json`);
    writeFileSync(cfg, `{"_class_name": "DDIMScheduler", "num_train_timesteps": ${n}}`);
    assertRefused(probe(['sample', ...gmm, '--scheduler-config', cfg, '--out', out]), 1, /"num_train_timesteps" is \d+; expected an integer in 2\.\.100000/, `num_train_timesteps ${n}`);
  }
  for (const cls of ['IRSDEScheduler', 'ResShiftScheduler']) {
    const dir = join(tmp, cls);
    mkdirSync(dir, { recursive: true });
    for (const f of ['model.onnx', 'tweedie.json']) copyFileSync(join('weights/fmnist-irsde', f), join(dir, f));
    writeFileSync(join(dir, 'scheduler_config.json'), `{"_class_name": "${cls}", "num_train_timesteps": 1e12}`);
    assertRefused(probe(['restore', '--model', dir, '--input', 'examples/fmnist-t10k-64.npy', '--out', out]), 1, /num_train_timesteps/, `${cls} num_train_timesteps 1e12`);
  }
  assertRefused(probe(['restore', '--input', 'examples/fmnist-t10k-64.npy', '--upscale', '100000', '--out', out]), 2, /--input .*more than the 134217728 .*smaller --upscale/, '--upscale 1e5');
  assertRefused(probe(['solve', '--model', 'gmm:examples/patterns-8x8.json', '--operator', 'ct:views=1e9', '--truth', 'examples/patterns-truth.npy', '--out', out]), 2, /--operator: .*views=1000000000: at most 10000 views/, 'ct:views=1e9');
  assertRefused(probe(['reconstruct', '--truth', '/usr/share/mricron/templates/ch2.nii.gz', '--modality', 'ct', '--views', '1000000000', '--out', join(tmp, 'r.nii.gz')]), 2, /--views must be an integer .*10000/, 'reconstruct --views 1e9');
});

test('numbers past 2^53 and malformed option values are usage errors naming the option, not stack traces', () => {
  assertRefused(probe(['sample', ...gmm, '--steps', '99999999999999999999', '--out', out]), 2, /--steps must be an integer >= 1 and <= 10000, got "99999999999999999999"/, '--steps 1e20');
  assertRefused(probe(['sample', ...gmm, '--seed', '1e20', '--out', out]), 2, /--seed must be an integer >= 0 and <= 2\^53-1, got "1e20"/, '--seed 1e20');
  assertRefused(probe(['sample', ...gmm, '--steps', '-3', '--out', out]), 2, /--steps is missing its value \(a value that starts with "-" is written --steps=VALUE\)/, '--steps -3');
  assertRefused(probe(['sample', ...gmm, '--steps=-3', '--out', out]), 2, /--steps must be an integer >= 1/, '--steps=-3');
  assertRefused(probe(['sample', ...gmm, '--out', out, '-n']), 2, /-n is missing its value/, '-n at the end');
  assertRefused(probe(['sample', ...gmm, '--batch', '', '--out', out]), 2, /--batch must be an integer/, '--batch ""');
  assertRefused(probe(['solve', '--operator', 'inpaint:box=4', '--solver', 'zero-filled', '--truth', 'examples/patterns-truth.npy', '--sigma-y', 'x', '--out', out]), 2, /--sigma-y must be a number/, '--sigma-y x');
  assertRefused(probe(['reconstruct', '--truth', 'x.nii', '--modality', 'mri', '--noise', '-0.5', '--out', join(tmp, 'r.nii')]), 2, /--noise/, '--noise -0.5');
  assertRefused(probe(['reconstruct', '--truth', 'x.nii', '--modality', 'mri', '--noise=-0.5', '--out', join(tmp, 'r.nii')]), 2, /--noise must be >= 0, got -0.5/, '--noise=-0.5');
});

test('an --operator spec typed wrong is a usage error (exit 2) naming --operator; a file it names is a runtime error (exit 1)', () => {
  const base = ['solve', '--solver', 'zero-filled', '--truth', 'examples/patterns-truth.npy', '--out', out];
  assertRefused(probe([...base, '--operator', 'bogus:x=1']), 2, /--operator: operator spec 'bogus:x=1': unknown operator 'bogus'/, 'unknown operator');
  assertRefused(probe([...base, '--operator', 'inpaint:box=abc']), 2, /--operator: .*box=abc/, 'bad value');
  assertRefused(probe([...base, '--operator', `matrix:${join(tmp, 'none.npy')}`]), 1, /none\.npy/, 'missing matrix file');
});

test('restore reads one volume of a 4-D NIfTI with --volume T, as reconstruct does; without it the message names --volume', () => {
  const [X, Y, Z, T] = [32, 32, 2, 2];
  const data = Float32Array.from({ length: X * Y * Z * T }, (_, i) => Math.sin(i * 0.37) + (i % 7) * 0.1);
  const four = join(tmp, 'four.nii.gz'), second = join(tmp, 'second.nii.gz');
  writeNifti(four, createVolume(data, [X, Y, Z, T]));
  writeNifti(second, createVolume(data.slice(X * Y * Z), [X, Y, Z]));
  const common = ['--steps', '2', '--seed', '4'];
  const r4 = probe(['restore', '--input', four, ...common, '--out', out]);
  assertRefused(r4, 1, /4-D with dims \[32, 32, 2, 2\] \(2 volumes\); pick one 3-D volume with --volume T \(0\.\.1\)/, '4-D without --volume');
  assert.doesNotMatch(r4.stderr, /selectVolume/);
  assertRefused(probe(['restore', '--input', four, '--volume', '2', ...common, '--out', out]), 2, /--volume must be an integer >= 0 and <= 1/, '--volume out of range');
  assertRefused(probe(['restore', '--input', 'examples/fmnist-t10k-64.npy', '--volume', '0', ...common, '--out', out]), 2, /--volume .*not NIfTI/, '--volume on .npy');
  const a = join(tmp, 'vol1.npy'), b = join(tmp, 'direct.npy');
  const ra = probe(['restore', '--input', four, '--volume', '1', ...common, '--out', a]);
  assert.equal(ra.status, 0, ra.stderr);
  const rb = probe(['restore', '--input', second, ...common, '--out', b]);
  assert.equal(rb.status, 0, rb.stderr);
  assert.deepEqual(parseNpy(readFileSync(a)).data, parseNpy(readFileSync(b)).data, '--volume 1 restores exactly the second volume');
});

test('a tweedie.json shape that does not match the ONNX model is named with both shapes and the fix (exit 1, one line)', () => {
  const dir = join(tmp, 'wrong-shape');
  mkdirSync(dir, { recursive: true });
  for (const f of ['model.onnx', 'scheduler_config.json']) copyFileSync(join('weights/fmnist-32', f), join(dir, f));
  const card = JSON.parse(readFileSync('weights/fmnist-32/tweedie.json', 'utf8')) as Record<string, unknown>;
  writeFileSync(join(dir, 'tweedie.json'), JSON.stringify({ ...card, shape: [1, 28, 28] }));
  const r = probe(['sample', '--model', dir, '-n', '2', '--steps', '2', '--out', out]);
  assertRefused(r, 1, /the model's input "sample" has shape \[N, 1, 32, 32\] but tweedie\.json gives items of shape \[1, 28, 28\]; fix the shape in tweedie\.json to \[1, 32, 32\]/, 'wrong shape');
  rmSync(dir, { recursive: true });
});

test('a model without shape metadata that refuses its first call: the whole runtime message on one line, and where to fix the shape', async () => {
  const ortMessage = 'Got invalid dimensions for input: sample for the following indices\n index: 2 Got: 28 Expected: 32\n Please fix either the inputs/outputs or the model.';
  const session = {
    inputNames: ['sample', 'timestep'], outputNames: ['out'],
    run: async () => { throw new Error(ortMessage); },
  };
  const ort: OrtModule = {
    InferenceSession: { create: async () => session },
    Tensor: class { constructor(readonly type: string, readonly data: unknown, readonly dims: readonly number[]) {} },
  };
  const model = await OnnxDenoiser.load('weights/fmnist-32', { ort, backend: 'cpu' });
  await assert.rejects(model.predict(Tensor.zeros([2, 1, 32, 32]), 10), (e: unknown) => {
    assert.ok(e instanceof TweedieError && e.code === 'BAD_CONFIG', String(e));
    assert.doesNotMatch(e.message, /\n/);
    assert.match(e.message, /refused samples \[2, 1, 32, 32\] \(.*index: 2 Got: 28 Expected: 32.*\).*fix the shape in tweedie\.json/);
    return true;
  });
});

test('a missing scheduler config names its path once', () => {
  const missing = join(tmp, 'no-such-scheduler.json');
  const r = probe(['sample', ...gmm, '--scheduler-config', missing, '--out', out]);
  assertRefused(r, 1, /cannot read scheduler config .*no-such-scheduler\.json: ENOENT/, 'missing scheduler config');
  assert.equal(r.stderr.split('no-such-scheduler.json').length - 1, 1, r.stderr);
});

test('every reader names a missing file once, with the reason', async () => {
  const missing = join(tmp, 'no-such-file');
  const readers: [string, () => unknown][] = [
    ['npy', () => readNpy(`${missing}.npy`)], ['nifti', () => readNifti(`${missing}.nii`)], ['png', () => readPng(`${missing}.png`)],
    ['dicom', () => readDicom(`${missing}.dcm`)], ['mixture', () => loadMixture(`${missing}.json`)], ['model folder', () => readModelFolder(missing)],
  ];
  for (const [what, read] of readers) {
    await assert.rejects(async () => read(), (e: Error) => {
      assert.ok(e instanceof TweedieError, what);
      assert.equal(e.message.split('no-such-file').length - 1, 1, `${what}: ${e.message}`);
      assert.match(e.message, /ENOENT|does not exist|missing|no model/i, what);
      return true;
    });
  }
});

test('API: generate({ n: 1e9 }), makeGrid with 1e9 steps and a 1e15-timestep config fail fast with the limit', async () => {
  const prior = loadMixture('examples/mixture-2d.json');
  const t0 = performance.now();
  await assert.rejects(generate({ model: prior, path: 'vp-linear', n: 1e9 }), (e: unknown) => {
    assert.ok(e instanceof TweedieError && e.code === 'USAGE', String(e));
    assert.match(e.message, new RegExp(`^n 1000000000: .* more than the ${MAX_VALUES} .*use n ${Math.floor(MAX_VALUES / 2)} or less$`));
    return true;
  });
  await assert.rejects(generate({ model: prior, path: 'vp-linear', n: MAX_VALUES / 2 + 1 }), /more than the 134217728/, 'one item past the limit');
  const path = pathByName('vp-linear');
  assert.throws(() => makeGrid(path, { kind: 'time-uniform', steps: 1e9 }), new RegExp(`steps 1000000000 is more than ${MAX_STEPS}`));
  assert.throws(() => makeGrid(path, { kind: 'karras', steps: MAX_STEPS + 1 }), /is more than 10000/);
  assert.equal(makeGrid(path, { kind: 'time-uniform', steps: MAX_STEPS }).length, MAX_STEPS + 1, 'the limit itself is allowed');
  assert.throws(() => discreteTimesteps(1e9, 1e9), /is more than 10000/);
  await assert.rejects(generate({ model: prior, path: 'vp-linear', steps: 1e9 }), /steps 1000000000 is more than 10000/);
  for (const n of [1e15, MAX_TRAIN_TIMESTEPS + 1]) {
    assert.throws(() => parseSchedulerConfig({ num_train_timesteps: n }, 'cfg.json', () => {}), (e: unknown) => e instanceof TweedieError && e.code === 'BAD_CONFIG' && /cfg\.json: "num_train_timesteps" is \d+; expected an integer in 2\.\.100000/.test(e.message));
  }
  assert.equal(parseSchedulerConfig({ num_train_timesteps: MAX_TRAIN_TIMESTEPS }, 'cfg.json', () => {}).numTrainTimesteps, MAX_TRAIN_TIMESTEPS);
  assert.ok(performance.now() - t0 < TIMEOUT_MS, 'fast');
});

test('API: thread counts above the core count are refused unless TWEEDIE_THREADS_FORCE=1', async () => {
  const cores = availableParallelism();
  assert.equal(checkThreads(cores, 'threads'), cores);
  assert.throws(() => checkThreads(cores + 1, 'threads'), new RegExp(`threads ${cores + 1} is more than the ${cores} cores`));
  assert.throws(() => checkThreads(1.5, 'threads'), /threads must be an integer >= 1/);
  await assert.rejects(OnnxDenoiser.load('weights/fmnist-32', { threads: 1000 + cores }), /more than the \d+ cores/);
  const saved = process.env[THREADS_FORCE_ENV];
  process.env[THREADS_FORCE_ENV] = '1';
  try {
    assert.equal(checkThreads(cores + 1, 'threads'), cores + 1);
  } finally {
    if (saved === undefined) delete process.env[THREADS_FORCE_ENV];
    else process.env[THREADS_FORCE_ENV] = saved;
  }
});

test('API: every path built directly with a huge T is refused with the timestep limit, before allocating', () => {
  const huge = 1e9;
  const builds: [string, () => unknown][] = [
    ['DiscreteVPPath', () => new DiscreteVPPath({ numTrainTimesteps: huge })],
    ['MeanRevertingPath', () => new MeanRevertingPath({ T: huge })],
    ['ResShiftPath', () => new ResShiftPath({ T: huge })],
    ['RDDMPath', () => new RDDMPath({ T: huge })],
  ];
  for (const [name, build] of builds) {
    assert.throws(build, (e: Error) => e instanceof TweedieError && e.code === 'BAD_CONFIG' && e.message.includes(String(MAX_TRAIN_TIMESTEPS)), name);
  }
  assert.equal(new RDDMPath({ T: MAX_TRAIN_TIMESTEPS }).tMax, MAX_TRAIN_TIMESTEPS, 'the limit itself is allowed');
});
