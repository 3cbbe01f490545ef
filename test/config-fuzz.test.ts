import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { TweedieError } from '../src/core/errors.js';
import { NoiseSource } from '../src/core/rng.js';
import { parseModelCard } from '../src/models/model-spec.js';
import { defaultGridSpec, makeGrid } from '../src/paths/grids.js';
import { parseSchedulerConfig } from '../src/paths/scheduler-config.js';

// Fuzzing of the two JSON files a model folder brings: scheduler_config.json (every shipped class) and
// tweedie.json. Each mutated file must parse, or fail with a one-line TweedieError; a parsed scheduler
// must also build a 10-step grid or refuse it the same way. Never another exception, never slow.

const CASES = 400;
const base = (f: string) => JSON.parse(readFileSync(f, 'utf8')) as Record<string, unknown>;
const SCHEDULERS = ['fmnist-32', 'brain-64', 'fmnist-irsde', 'fmnist-resshift', 'fmnist-rddm', 'gaussian-exact'].map((m) => base(`weights/${m}/scheduler_config.json`));
SCHEDULERS.push(
  { _class_name: 'DPMSolverMultistepScheduler', num_train_timesteps: 1000, beta_schedule: 'scaled_linear', use_karras_sigmas: true, solver_order: 2 },
  { _class_name: 'FlowMatchEulerDiscreteScheduler', num_train_timesteps: 1000, shift: 3 },
  { _class_name: 'EulerDiscreteScheduler', num_train_timesteps: 1000, timestep_spacing: 'trailing', rescale_betas_zero_snr: true },
);
const CARD = base('weights/fmnist-32/tweedie.json');

let nest: unknown = 0;
for (let i = 0; i < 2000; i++) nest = [nest];
/** Values a hostile or broken file may hold where a number, string or list is expected. */
const ODD: unknown[] = [null, true, false, 0, -1, 1, 2.5, -1e300, 1e300, 1e15, 2 ** 53 + 2, 'NaN', 'Infinity', '', 'x'.repeat(100_000), [], [0], [1e9, 1e9], {}, { a: 1 }, nest, '1e999', -0];

function mutate(obj: Record<string, unknown>, u: () => number): Record<string, unknown> {
  const out: Record<string, unknown> = structuredClone(obj);
  const keys = Object.keys(out);
  const n = 1 + Math.floor(u() * 3);
  for (let k = 0; k < n; k++) {
    const r = u();
    const key = keys[Math.floor(u() * keys.length)]!;
    if (r < 0.7) out[key] = ODD[Math.floor(u() * ODD.length)];
    else if (r < 0.85) delete out[key];
    else out[`unknown_${Math.floor(u() * 5)}`] = ODD[Math.floor(u() * ODD.length)];
  }
  return out;
}

/** Run f; it may return, or throw a one-line TweedieError; anything else fails with the case. */
function clean(what: string, f: () => unknown): boolean {
  const t0 = performance.now();
  try {
    f();
    return true;
  } catch (e) {
    assert.ok(e instanceof TweedieError, `${what}: ${(e as Error).stack}`);
    assert.ok(!e.message.includes('\n'), `${what}: message of several lines: ${e.message}`);
    return false;
  } finally {
    assert.ok(performance.now() - t0 < 5000, `${what}: took ${(performance.now() - t0).toFixed(0)} ms`);
  }
}

test(`scheduler_config.json: ${CASES} mutated configs parse and build a grid, or give a one-line TweedieError`, () => {
  const uniform = new NoiseSource(11).uniform(CASES * 16, 0, 0);
  let i = 0;
  const u = () => uniform[i++ % uniform.length]!;
  let parsed = 0, refused = 0;
  for (let c = 0; c < CASES; c++) {
    const json = mutate(SCHEDULERS[c % SCHEDULERS.length]!, u);
    const what = `case ${c}: ${JSON.stringify(json).slice(0, 300)}`;
    let cfg: ReturnType<typeof parseSchedulerConfig> | null = null;
    if (clean(what, () => (cfg = parseSchedulerConfig(json, 'scheduler_config.json', () => {})))) {
      parsed++;
      const path = cfg!.path;
      clean(`${what} (grid)`, () => makeGrid(path, defaultGridSpec(path, 10)));
    } else refused++;
  }
  assert.ok(parsed > 20 && refused > 20, `both outcomes occur (parsed ${parsed}, refused ${refused})`);
});

test(`tweedie.json: ${CASES} mutated cards parse or give a one-line TweedieError`, () => {
  const scheduler = parseSchedulerConfig(SCHEDULERS[0], 'scheduler_config.json', () => {});
  const uniform = new NoiseSource(12).uniform(CASES * 16, 0, 0);
  let i = 0;
  const u = () => uniform[i++ % uniform.length]!;
  let parsed = 0, refused = 0;
  for (let c = 0; c < CASES; c++) {
    const card = mutate(CARD, u);
    if (clean(`case ${c}: ${JSON.stringify(card).slice(0, 300)}`, () => parseModelCard(card, scheduler, { dir: 'm', modelFile: 'm/model.onnx', cardName: 'm/tweedie.json' }, () => {}))) parsed++;
    else refused++;
  }
  assert.ok(parsed > 20 && refused > 20, `both outcomes occur (parsed ${parsed}, refused ${refused})`);
});
