import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fail } from '../../src/core/errors.js';
import { padItems, paddedShape } from '../../src/models/layout.js';
import { OnnxDenoiser } from '../../src/models/onnx.js';
import { packageRoot } from '../../src/package-root.js';
import type { ParamValues } from '../../src/samplers/types.js';
import { SETS, setImages } from './brain-sets.js';
import { heldoutZ, runOn, spread } from './brain-runs.js';

/**
 * The conditional MRI rows of bench inverse (issue 20): the brain model conditioned on the zero-filled image, sampled
 * by cond-dc (and, to show what the data step adds, without it), against an unconditional native prior with its best
 * posterior solver (bench priors' sweep: diffpir for brain-native-flow) and the zero-filled baseline, on the held-out
 * slab and the shifted sets of bench priors (lib/brain-sets.ts), at bench inverse's MRI 4x and 8x, each slice measured
 * on the models' grid as `tweedie reconstruct` does.
 * Env: TWEEDIE_BENCH_COND_MODEL (default weights/brain-cond-mri; absent: no rows, one line on stderr),
 * TWEEDIE_BENCH_COND_PRIOR (default weights/brain-native-flow), TWEEDIE_BENCH_COND_PRIOR_SOLVER (default diffpir),
 * TWEEDIE_BENCH_COND_SLICES (held-out slices per set, default 2).
 */
export interface CondRow { set: string; problem: string; model: string; solver: string; psnr: number; ssim: number; seconds_per_slice: number; nfe: number }

export async function condMriRows(problems: readonly { label: string; spec: string }[], steps: number, log: (m: string) => void): Promise<CondRow[]> {
  const env = process.env;
  const dir = env.TWEEDIE_BENCH_COND_MODEL ?? join(packageRoot, 'weights', 'brain-cond-mri');
  if (!existsSync(join(dir, 'model.onnx'))) {
    log(`conditional MRI rows skipped: ${join(dir, 'model.onnx')} is missing (set TWEEDIE_BENCH_COND_MODEL to the model folder)`);
    return [];
  }
  const priorDir = env.TWEEDIE_BENCH_COND_PRIOR ?? join(packageRoot, 'weights', 'brain-native-flow');
  if (!existsSync(join(priorDir, 'model.onnx'))) fail('UNREADABLE_FILE', `TWEEDIE_BENCH_COND_PRIOR: ${join(priorDir, 'model.onnx')} is missing; set it to the unconditional prior's folder`);
  const priorSolver = env.TWEEDIE_BENCH_COND_PRIOR_SOLVER ?? 'diffpir';
  const slices = Number(env.TWEEDIE_BENCH_COND_SLICES ?? 2);
  if (!Number.isSafeInteger(slices) || slices < 1) fail('USAGE', `TWEEDIE_BENCH_COND_SLICES=${env.TWEEDIE_BENCH_COND_SLICES}: give a positive integer (held-out slices per set)`);
  const zs = spread(heldoutZ([dir, priorDir]), slices);
  const cond = await OnnxDenoiser.load(dir), prior = await OnnxDenoiser.load(priorDir);
  const runs: [OnnxDenoiser | null, string, string, Partial<ParamValues>?][] = [
    [null, 'zero-filled', 'zero-filled'],
    [prior, basename(priorDir), priorSolver],
    [cond, basename(dir), 'cond-dc'],
    [cond, basename(dir), 'cond-dc', { dc: 'none' }],
  ];
  const multiple = Math.max(cond.layout?.multiple ?? 1, prior.layout?.multiple ?? 1);
  const rows: CondRow[] = [];
  for (const def of SETS) {
    // As `tweedie reconstruct` on a model's own grid: each slice padded with background (-1) to the multiple, then
    // measured there (so the condition A^H y covers the whole grid the model runs); the figures on the slice itself.
    const slice = setImages(def, zs), truth = padItems(slice, paddedShape(slice.shape, multiple).slice(1), -1);
    for (const p of problems) {
      for (const [model, name, solver, params] of runs) {
        const label = params ? `${solver} (dc=none)` : solver;
        log(`  conditional ${p.label}, ${def.name}: ${name} ${label}`);
        rows.push({ set: def.name, problem: p.label, model: name, solver: label, ...(await runOn(model, solver, p.spec, truth, steps, { crop: slice.shape.slice(1), ...(params ? { params } : {}) })) });
      }
    }
  }
  await cond.release();
  await prior.release();
  return rows;
}

export function condMriTable(rows: readonly CondRow[]): string {
  return [
    '| set | problem | model | solver | PSNR (dB) | SSIM | s / slice | NFE |',
    '|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.set} | ${r.problem} | ${r.model} | ${r.solver} | ${r.psnr.toFixed(2)} | ${r.ssim.toFixed(4)} | ${r.seconds_per_slice.toFixed(2)} | ${r.nfe} |`),
  ].join('\n');
}
