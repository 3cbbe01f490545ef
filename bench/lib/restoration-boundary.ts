import { join } from 'node:path';
import type { Tensor } from '../../src/core/tensor.js';
import { parseOperatorSpec } from '../../src/inverse/operators/spec-file.js';
import { readNpy } from '../../src/io/npy.js';
import { psnr, ssim } from '../../src/metrics/image.js';
import { boundaryNoise } from '../../src/restoration/boundary-file.js';
import { OnnxDenoiser } from '../../src/models/onnx.js';
import { degradedAnchor } from '../../src/restoration/anchor.js';
import { readRestorationTasks } from '../../src/restoration/tasks-file.js';
import { restore } from '../../src/recipes/restore.js';
import { packageRoot } from '../../src/package-root.js';

export interface BoundaryRow {
  model: string;
  task: string;
  setting: string;
  nfe: number;
  images: number;
  psnr_optimal: number;
  psnr_random: number;
  ssim_optimal: number;
  ssim_random: number;
  /** Images whose PSNR is higher from the optimal boundary than from their random start. */
  images_better: number;
}

const mean = (a: Float64Array) => a.reduce((p, q) => p + q, 0) / a.length;

/** The held-out images of a model's tasks.json minus a boundary's reference range (when R was taken from that file). */
function evaluationImages(heldout: string, reference: Record<string, unknown>): { x: Tensor; note: string } {
  const all = readNpy(join(packageRoot, heldout)).toDtype('float32');
  if (reference.file !== heldout) return { x: all, note: `all ${all.batch} of ${heldout}` };
  const first = Number(reference.first), count = Number(reference.count);
  const keep = [...Array(all.batch).keys()].filter((i) => i < first || i >= first + count);
  const x = all.sliceBatch(0, keep.length).clone();
  keep.forEach((src, i) => x.data.set(all.data.subarray(src * all.itemSize, (src + 1) * all.itemSize), i * all.itemSize));
  return { x, note: `${keep.length} of ${heldout} (R: images ${first}..${first + count - 1})` };
}

/**
 * Optimal against random boundary at the same sampler setting and NFE, for every boundary a model folder ships and
 * every task of its tasks.json, on held-out images disjoint from the boundary's reference set. The random rows start
 * each image from its own noise (seed 0), as `tweedie restore --boundary random` does.
 */
export async function boundaryRows(models: readonly string[], log: (m: string) => void): Promise<{ rows: BoundaryRow[]; sets: string[] }> {
  const rows: BoundaryRow[] = [], sets: string[] = [];
  for (const name of models) {
    const dir = join(packageRoot, 'weights', name);
    const model = await OnnxDenoiser.load(dir);
    const { tasks, heldout } = readRestorationTasks(dir);
    for (const b of model.spec.boundaries) {
      const { x, note } = evaluationImages(heldout, b.selection.reference as Record<string, unknown>);
      sets.push(`${name} ${b.sampler} ${b.steps}: ${note}`);
      const start = boundaryNoise(dir, b);
      for (const task of tasks) {
        const mu = degradedAnchor(parseOperatorSpec(task.operator, x.shape.slice(1)), x, 1);
        log(`${name} ${task.name}: ${b.sampler} ${b.steps}, optimal and random boundary on ${x.batch} images`);
        const common = { model, degraded: mu, sampler: b.sampler, steps: b.steps, params: b.params, seed: 0 };
        const opt = await restore({ ...common, start }), rnd = await restore(common);
        const po = psnr(opt.x, x, 2), pr = psnr(rnd.x, x, 2);
        rows.push({
          model: name, task: task.name, setting: `${b.sampler} ${b.steps}`, nfe: opt.nfe, images: x.batch,
          psnr_optimal: mean(po), psnr_random: mean(pr),
          ssim_optimal: mean(ssim(opt.x, x, { dataRange: 2 })), ssim_random: mean(ssim(rnd.x, x, { dataRange: 2 })),
          images_better: po.filter((v, i) => v > pr[i]!).length,
        });
      }
    }
  }
  return { rows, sets };
}

export function boundaryTable(rows: readonly BoundaryRow[], sets: readonly string[]): string {
  const signed = (v: number, d: number) => `${v >= 0 ? '+' : ''}${v.toFixed(d)}`;
  return [
    'Optimal boundary (one shipped starting noise per model and sampler setting, selected by `tweedie boundary` on a reference set R by mean squared error) against random starts (seed 0), same sampler and NFE. Held-out images disjoint from R:',
    ...sets.map((s) => `- ${s}`),
    '',
    '| model | task | sampler | NFE | PSNR random | PSNR optimal | dPSNR (dB) | SSIM random | SSIM optimal | dSSIM | images better |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.model} | ${r.task} | ${r.setting} | ${r.nfe} | ${r.psnr_random.toFixed(2)} | ${r.psnr_optimal.toFixed(2)} | ${signed(r.psnr_optimal - r.psnr_random, 2)} | ${r.ssim_random.toFixed(4)} | ${r.ssim_optimal.toFixed(4)} | ${signed(r.ssim_optimal - r.ssim_random, 4)} | ${r.images_better}/${r.images} |`),
  ].join('\n');
}
