import { fail } from '../src/core/errors.js';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { readNifti } from '../src/io/nifti.js';
import { reconstructVolume } from '../src/volume/reconstruct.js';
import { packageRoot } from '../src/package-root.js';

export const description = 'slices/s of 3-D reconstruction (8 ch2 slices, 4x MRI, ddnm 10 steps, z-TV) with 1 worker thread vs all cores';

const CH2 = '/usr/share/mricron/templates/ch2.nii.gz';
const SLICES: [number, number] = [64, 72], STEPS = 10;

export async function run(opts: { json: boolean; log: (m: string) => void }): Promise<Record<string, unknown>> {
  if (!existsSync(CH2)) fail('UNREADABLE_FILE', `${CH2} is missing; install the MNI ch2 template with "apt-get install mricron-data"`);
  const modelDir = process.env.TWEEDIE_BENCH_MODEL ?? join(packageRoot, 'weights', 'brain-64');
  if (!existsSync(join(modelDir, 'model.onnx'))) fail('UNREADABLE_FILE', `${modelDir}/model.onnx is missing; the volume benchmark needs the brain-64 prior (or TWEEDIE_BENCH_MODEL=DIR)`);
  const vol = readNifti(CH2);
  const count = SLICES[1] - SLICES[0];
  const all = Math.min(availableParallelism(), count);
  // The same fixed batches in both runs (so both do the same work), small enough to keep every worker busy.
  const batch = Math.max(1, Math.floor(count / all));
  const common = {
    modelDir, splitFallback: join(packageRoot, 'weights', 'brain-64', 'split.json'), modality: 'mri' as const,
    solver: 'ddnm', steps: STEPS, slices: SLICES, batch, seed: 0,
  };
  opts.log(`warm-up (1 worker, 2 slices) ...`);
  await reconstructVolume(vol, { ...common, slices: [SLICES[0], SLICES[0] + 2], workers: 1 });
  const rows: { workers: number; seconds: number; slices_per_s: number; psnr: number; ssim: number }[] = [];
  for (const workers of [1, all]) {
    opts.log(`${workers} worker${workers > 1 ? 's' : ''} ...`);
    const t0 = performance.now();
    const r = await reconstructVolume(vol, { ...common, workers });
    const seconds = (performance.now() - t0) / 1000;
    rows.push({ workers: r.workers, seconds, slices_per_s: count / seconds, psnr: r.psnr, ssim: r.ssim });
  }
  const ratio = rows[1]!.slices_per_s / rows[0]!.slices_per_s;
  const result = {
    slices: count, steps: STEPS, solver: 'ddnm', batch, cores: availableParallelism(), model: modelDir,
    one_worker: rows[0], all_workers: rows[1], speedup: ratio,
  };
  if (!opts.json) {
    process.stdout.write(
      [
        `ch2 slices ${SLICES[0]}..${SLICES[1] - 1}, 4x equispaced MRI, ddnm ${STEPS} steps, batch ${batch}, z-TV on (${availableParallelism()} cores; end to end, worker start and model load included):`,
        ...rows.map((r) => `  ${String(r.workers).padStart(2)} worker${r.workers > 1 ? 's' : ' '}  ${r.slices_per_s.toFixed(2)} slices/s  (${r.seconds.toFixed(2)} s, PSNR ${r.psnr.toFixed(2)} dB, SSIM ${r.ssim.toFixed(4)})`),
        `  speedup     ${ratio.toFixed(2)}x`,
      ].join('\n') + '\n',
    );
  }
  return result;
}
