/**
 * A diffusers user's exported UNet (training/diffusers_unet.py: a UNet2DModel-shaped network in the optimum folder
 * layout, exported with a rank-0 float32 timestep and with an int64 [batch] one) runs through `tweedie sample` on
 * its own scheduler config and gives the samples diffusers' scheduler loops give on the PyTorch network (the
 * recipe's reference arrays, computed in torch float32 from the same starting noise).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseNpy } from '../src/io/npy.js';
import { NoiseSource } from '../src/core/rng.js';
import { OnnxDenoiser } from '../src/models/onnx.js';
import { readSchedulerConfig } from '../src/paths/scheduler-config-file.js';
import { parsePythonJson } from '../src/core/python-json.js';
import { configToSampling } from '../src/samplers/diffusers.js';
import { generate } from '../src/recipes/generate.js';

const F = 'test/fixtures/diffusers-unet';
const SCALAR = join(F, 'scalar-timestep'), INT64 = join(F, 'int64-timestep');
const tmp = mkdtempSync(join(tmpdir(), 'tweedie-diffusers-unet-'));
const npy = (file: string) => parseNpy(readFileSync(file));
const run = (...args: string[]) => spawnSync(process.execPath, ['bin/tweedie.js', ...args], { encoding: 'utf8' });

/** Largest difference from the reference, and the bound: 1e-4 of the reference's scale (float32 sums in another order). */
function compare(file: string, reference: string): { worst: number; bound: number } {
  const x = npy(file), r = npy(join(F, reference));
  assert.deepEqual(x.shape, r.shape);
  let worst = 0, scale = 1;
  for (let i = 0; i < r.size; i++) {
    worst = Math.max(worst, Math.abs(x.data[i]! - r.data[i]!));
    scale = Math.max(scale, Math.abs(r.data[i]!));
  }
  return { worst, bound: 1e-4 * scale };
}

function sampleTo(name: string, ...args: string[]) {
  const out = join(tmp, `${name}.npy`);
  const r = run('sample', '-n', '2', '--init', join(F, 'init.npy'), '--out', out, ...args);
  assert.equal(r.status, 0, r.stderr);
  return { out, stderr: r.stderr };
}

test('rank-0 float32 timestep, DDIM trailing + clip_sample: --scheduler diffusers gives diffusers\' samples, with one warning naming the fix', () => {
  const { out, stderr } = sampleTo('ddim', '--model', SCALAR, '--scheduler', 'diffusers', '--steps', '7');
  const { worst, bound } = compare(out, 'ddim-diffusers.npy');
  assert.ok(worst < bound, `max difference ${worst} from diffusers' DDIM (bound ${bound})`);
  const warnings = stderr.split('\n').filter((l) => l.startsWith('warning:'));
  assert.equal(warnings.length, 1, stderr);
  assert.match(warnings[0]!, /t - 142.*huggingface\/diffusers#12633.*--fix-diffusers-quirks/);
  // The corrected trajectory is far from diffusers' (the reference can tell them apart).
  const fixed = sampleTo('ddim-fixed', '--model', SCALAR, '--scheduler', 'diffusers', '--steps', '7', '--fix-diffusers-quirks');
  const c = compare(fixed.out, 'ddim-fixed.npy');
  assert.ok(c.worst < c.bound, `max difference ${c.worst} from the corrected DDIM (bound ${c.bound})`);
  assert.ok(compare(fixed.out, 'ddim-diffusers.npy').worst > 0.1);
  assert.doesNotMatch(fixed.stderr, /warning/);
});

test('int64 [batch] timestep: its own DPMSolverMultistep config (lambda_min_clipped -Infinity) and a DDIM config given with --scheduler-config', () => {
  const dpm = sampleTo('dpm', '--model', INT64, '--scheduler', 'diffusers', '--steps', '8');
  const d = compare(dpm.out, 'dpm-solver-2m.npy');
  assert.ok(d.worst < d.bound, `max difference ${d.worst} from diffusers' DPM-Solver++ 2M (bound ${d.bound})`);
  const ddim = sampleTo('int64-ddim', '--model', INT64, '--scheduler-config', join(SCALAR, 'scheduler', 'scheduler_config.json'), '--steps', '7');
  const c = compare(ddim.out, 'ddim-diffusers.npy');
  assert.ok(c.worst < c.bound, `max difference ${c.worst} (bound ${c.bound})`);
});

test('EDMEulerScheduler config on the exported UNet: the network preconditioned (c_in, c_noise, c_skip, c_out) gives diffusers\' EDM Euler samples', () => {
  const { out } = sampleTo('edm-euler', '--model', SCALAR, '--scheduler-config', join(F, 'edm-euler-config.json'), '--steps', '6');
  const { worst, bound } = compare(out, 'edm-euler.npy');
  assert.ok(worst < bound, `max difference ${worst} from diffusers' EDM Euler (bound ${bound})`);
});

test('the two exports of one network agree, take one call per step for a batch, and need no conditioning input', async () => {
  const scalar = await OnnxDenoiser.load(SCALAR, { threads: 1 }), int64 = await OnnxDenoiser.load(INT64, { threads: 1 });
  assert.deepEqual(scalar.itemShape, [3, 8, 8], 'UNet2DModel: in_channels 3, sample_size 8');
  const x = new NoiseSource(4).normal([3, 3, 8, 8], 0);
  for (const t of [999, 420, 3]) {
    const a = await scalar.predict(x, t), b = await int64.predict(x, t);
    for (let i = 0; i < a.size; i++) assert.ok(Math.abs(a.data[i]! - b.data[i]!) < 1e-5, `t ${t}: ${a.data[i]} vs ${b.data[i]}`);
  }
  const before = scalar.calls;
  const s = configToSampling(scalar.spec.scheduler, 5, { fixQuirks: true });
  await generate({ model: scalar, sampler: s.sampler, steps: 5, grid: s.grid, n: 4, batch: 4, seed: 1 });
  assert.equal(scalar.calls - before, 5);
});

test('Python JSON: NaN, Infinity and -Infinity outside strings; strings untouched; errors keep their position', () => {
  assert.deepEqual(parsePythonJson('{"a": [NaN, Infinity, -Infinity, 1.5], "b": "NaN -Infinity", "c": "say \\"Infinity\\""}'), {
    a: [NaN, Infinity, -Infinity, 1.5], b: 'NaN -Infinity', c: 'say "Infinity"',
  });
  const cfg = readSchedulerConfig(join(INT64, 'scheduler', 'scheduler_config.json'), () => {});
  assert.equal(cfg.raw.lambda_min_clipped, -Infinity);
  assert.throws(() => parsePythonJson('{"a": Infinity,, 1}'), (e: unknown) => /position 15/.test((e as Error).message));
  assert.throws(() => parsePythonJson('[-Infinity, 1, ]'), (e: unknown) => (e as Error).message.includes('"[-Infinity, 1, ]"'));
  // A NaN where a number is needed is one line naming the key.
  const bad = join(tmp, 'nan_config.json');
  writeFileSync(bad, '{"_class_name": "DDIMScheduler", "beta_start": NaN}');
  assert.throws(() => readSchedulerConfig(bad, () => {}), /"beta_start" is NaN; expected a number in \(0, 1\)/);
});

test('bad combinations are one line naming the option', () => {
  const gmm = ['sample', '--model', 'gmm:examples/mixture-2d.json', '--out', join(tmp, 'x.npy')];
  const cases: [string[], RegExp][] = [
    [[...gmm, '--scheduler', 'diffusers'], /--scheduler diffusers reads a model folder's own scheduler config; for a gmm: model give --scheduler-config/],
    [[...gmm, '--fix-diffusers-quirks'], /--fix-diffusers-quirks applies to a diffusers scheduler/],
    [[...gmm, '--scheduler', 'karras'], /--scheduler must be tweedie or diffusers, got "karras"/],
    [['sample', '--model', SCALAR, '--scheduler', 'diffusers', '--sampler', 'euler', '--out', join(tmp, 'y.npy')], /--scheduler diffusers picks the sampler/],
  ];
  const inverse = join(tmp, 'inverse_config.json');
  writeFileSync(inverse, JSON.stringify({ _class_name: 'DDIMInverseScheduler' }));
  cases.push([[...gmm, '--scheduler-config', inverse], /DDIMInverseScheduler runs from data towards noise \(an inversion\); tweedie sample draws from noise/]);
  for (const [args, re] of cases) {
    const r = run(...args);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  // A config whose prediction type disagrees with the model's.
  const dir = join(tmp, 'v-config');
  cpSync(join(SCALAR, 'scheduler'), dir, { recursive: true });
  const file = join(dir, 'scheduler_config.json');
  writeFileSync(file, JSON.stringify({ ...(parsePythonJson(readFileSync(file, 'utf8')) as object), prediction_type: 'v_prediction' }));
  const r = run('sample', '--model', SCALAR, '--scheduler-config', file, '--steps', '3', '--out', join(tmp, 'z.npy'));
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /says prediction_type "v_prediction" but the model .* predicts eps/);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
});
