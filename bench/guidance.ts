import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fail } from '../src/core/errors.js';
import { classAccuracy, spreadClasses } from '../src/metrics/sample-quality.js';
import type { Denoiser } from '../src/models/denoiser.js';
import { attachFolderNoiseLevels } from '../src/models/noise-level-file.js';
import { OnnxDenoiser } from '../src/models/onnx.js';
import { packageRoot } from '../src/package-root.js';
import type { ConditionOptions } from '../src/recipes/condition.js';
import { generate } from '../src/recipes/generate.js';
import { SAMPLERS as ALL_SAMPLERS } from '../src/samplers/registry.js';
import { fmnistYardstick, REFERENCE, type QualityFigures } from './lib/fmnist-yardstick.js';
import { stepsFor } from './samplers.js';

/**
 * Classifier-free guidance on a class-conditional Fashion-MNIST model (issue 20): per guidance scale, the shipped
 * classifier's accuracy on the requested class against sample quality (FD, precision, recall, unplaceable share),
 * i.e. fidelity against diversity. Env: TWEEDIE_BENCH_SCALES (default "0,1,2,4,8"), TWEEDIE_BENCH_MODELS (default
 * "fmnist-cond": names under weights/ or model folder paths), TWEEDIE_BENCH_SAMPLERS (default "dpm-solver++"),
 * TWEEDIE_BENCH_NFES (default "20"), TWEEDIE_BENCH_N (samples per row, default 1000, the classes requested in turn
 * 0, 1, ..., 9, 0, ...), TWEEDIE_BENCH_THREADS (ONNX Runtime threads, default 1). Every row draws from the same seeded
 * noise (seed 0). Scale 0 runs the unconditional model and scale 1 the conditional one alone: the guided prediction
 * uncond + w (cond - uncond) is exactly those there, at half the model calls.
 */
const env = process.env;
const N = Number(env.TWEEDIE_BENCH_N ?? 1000);
const SCALES = (env.TWEEDIE_BENCH_SCALES ?? '0,1,2,4,8').split(',').map((v) => (v.trim() === '' ? NaN : Number(v)));
const MODELS = (env.TWEEDIE_BENCH_MODELS ?? 'fmnist-cond').split(',');
const SAMPLERS = (env.TWEEDIE_BENCH_SAMPLERS ?? 'dpm-solver++').split(',');
const NFES = (env.TWEEDIE_BENCH_NFES ?? '20').split(',').map(Number);
const THREADS = Number(env.TWEEDIE_BENCH_THREADS ?? 1);
/** The classes of Fashion-MNIST (and of weights/fmnist-classifier). */
const FMNIST_CLASSES = 10;
/** Samples per model call (a guided call runs twice as many items). */
const BATCH = 250;

export const description = `classifier-free guidance on class-conditional fmnist models: per guidance scale (env TWEEDIE_BENCH_SCALES, default 0,1,2,4,8), weights/fmnist-classifier's accuracy on the requested class (classes spread evenly) against FD, precision/recall (k = 3) and unplaceable share versus the 10,000 Fashion-MNIST test images, same seeded noise in every row (env TWEEDIE_BENCH_N samples per row, default 1000), and the floor: N training images`;

interface Row extends QualityFigures {
  model: string;
  sampler: string;
  nfe: number;
  scale: number | null;
  accuracy: number | null;
  seconds: number;
}

function checkEnv(): void {
  const bad = (name: string, rule: string) => fail('USAGE', `${name}=${env[name]}: ${rule}`);
  if (!Number.isSafeInteger(N) || N < 4 || N > 60000) bad('TWEEDIE_BENCH_N', 'give an integer from 4 (precision/recall need k + 1 samples) to 60000 (the training images of the floor)');
  if (!SCALES.every((w) => Number.isFinite(w) && w >= 0)) bad('TWEEDIE_BENCH_SCALES', 'list guidance scales >= 0, e.g. 0,1,2,4,8');
  if (!NFES.every((n) => Number.isSafeInteger(n) && n >= 1)) bad('TWEEDIE_BENCH_NFES', 'list integers >= 1, e.g. 20');
  if (!Number.isSafeInteger(THREADS) || THREADS < 1) bad('TWEEDIE_BENCH_THREADS', 'give a positive integer');
  const unknown = SAMPLERS.find((s) => !ALL_SAMPLERS.some((d) => d.name === s));
  if (unknown) bad('TWEEDIE_BENCH_SAMPLERS', `"${unknown}" is not a sampler; see tweedie samplers`);
}

/** The model's class condition (its name and class count), which must have a null class to guide with. */
function classCondition(model: Denoiser, dir: string, classes: number): { name: string; classes: number } {
  const hit = Object.entries(model.conditions ?? {}).find(([, s]) => s.kind === 'class');
  if (!hit || hit[1].kind !== 'class' || hit[1].unconditional === null) fail('USAGE', `TWEEDIE_BENCH_MODELS: ${dir} has no class condition with a null class (its tweedie.json "conditioning"); give class-conditional models trained with label dropout, e.g. fmnist-cond`);
  if (hit[1].classes !== classes) fail('USAGE', `TWEEDIE_BENCH_MODELS: ${dir} has ${hit[1].classes} classes but weights/fmnist-classifier ${classes}; give Fashion-MNIST class-conditional models`);
  return { name: hit[0], classes };
}

/** The row's guidance: the unconditional model at 0, the conditional one at 1, classifier-free guidance otherwise. */
function conditionOf(scale: number, name: string, requested: Int32Array): ConditionOptions {
  if (scale === 0) return {};
  return { condition: { [name]: [...requested] }, ...(scale === 1 ? {} : { guidance: { scale } }) };
}

export async function run(opts: { json: boolean; log: (m: string) => void }): Promise<Record<string, unknown>> {
  // Refuse bad settings (and missing models) before the minutes of classifying the reference set.
  checkEnv();
  const dirs = MODELS.map((name) => (name.includes('/') ? name : join(packageRoot, 'weights', name)));
  const models = [];
  for (const dir of dirs) {
    if (!existsSync(join(dir, 'model.onnx'))) fail('UNREADABLE_FILE', `TWEEDIE_BENCH_MODELS: ${join(dir, 'model.onnx')} is missing; give model folders or names under weights/ (fmnist-cond: export it with training/fmnist_cond.py)`);
    const model = attachFolderNoiseLevels(await OnnxDenoiser.load(dir, { threads: THREADS }), dir, { threads: THREADS });
    models.push({ model, cond: classCondition(model, dir, FMNIST_CLASSES) });
  }
  const yardstick = await fmnistYardstick(THREADS, opts.log);
  const floor: Row[] = (await yardstick.floor(N)).map((f) => ({ model: 'training images (floor)', sampler: '-', nfe: 0, scale: null, accuracy: null, seconds: 0, ...f }));

  const rows: Row[] = [];
  for (const [m, { model, cond }] of models.entries()) {
    const requested = spreadClasses(N, cond.classes);
    for (const samplerName of SAMPLERS) for (const nfe of NFES) for (const scale of SCALES) {
      opts.log(`  ${MODELS[m]}, ${samplerName}, ${nfe} NFE, guidance ${scale}: ${N} samples`);
      const r = await generate({ model, sampler: samplerName, steps: stepsFor(ALL_SAMPLERS.find((d) => d.name === samplerName)!, nfe), n: N, seed: 0, batch: BATCH, modelName: MODELS[m]!, ...conditionOf(scale, cond.name, requested) });
      const { logits, ...figures } = await yardstick.measure(r.x);
      // r.nfe counts the evaluations of every batch; a sample's are one batch's.
      const row: Row = { model: MODELS[m]!, sampler: samplerName, nfe: r.nfe / Math.ceil(N / BATCH), scale, accuracy: classAccuracy(logits.data, yardstick.classes, requested), seconds: r.seconds, ...figures };
      opts.log(`    accuracy ${(100 * row.accuracy!).toFixed(1)}%, FD ${row.fd.toFixed(2)}, precision ${row.precision.toFixed(3)}, recall ${row.recall.toFixed(3)}, unplaceable ${(100 * row.unplaceable).toFixed(1)}%, ${row.seconds.toFixed(0)} s`);
      rows.push(row);
    }
    await model.release();
  }
  await yardstick.release();
  if (!opts.json) {
    const fmt = (r: Row) => `| ${r.model} | ${r.sampler} | ${r.nfe || '-'} | ${r.scale ?? '-'} | ${r.n} | ${r.accuracy === null ? '-' : `${(100 * r.accuracy).toFixed(1)}%`} | ${r.fd.toFixed(2)} | ${r.precision.toFixed(3)} | ${r.recall.toFixed(3)} | ${(100 * r.unplaceable).toFixed(1)}% | ${r.seconds ? r.seconds.toFixed(0) : '-'} |`;
    process.stdout.write(['| model | sampler | NFE | guidance | samples | accuracy | FD | precision | recall | unplaceable | seconds |', '|---|---|---|---|---|---|---|---|---|---|---|',
      ...rows.map(fmt), ...floor.map(fmt)].join('\n') + '\n');
  }
  return { reference: `Fashion-MNIST test images (${REFERENCE})`, classifier: 'weights/fmnist-classifier', k: 3, threads: THREADS, requested: `class i mod ${yardstick.classes} for sample i`, rows, floor };
}
