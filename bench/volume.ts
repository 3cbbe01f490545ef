import { fail } from '../src/core/errors.js';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { readNifti } from '../src/io/nifti.js';
import { reconstructVolume, type ReconstructOptions } from '../src/volume/reconstruct.js';
import { readSplit } from '../src/volume/split-file.js';
import { packageRoot } from '../src/package-root.js';

export const description =
  'slices/s of 3-D reconstruction (64 ch2 slices, 4x MRI, ddnm 20 steps, batch 4, z-TV) with 1 worker thread vs all cores; PSNR and slices/s of the held-out slab at 8x without z coupling, coupled after sampling, and coupled in every step';

const CH2 = '/usr/share/mricron/templates/ch2.nii.gz';
/** A slab's worth of work (16 batches of 4), so that the workers' start and model load do not dominate the ratio. */
const SLICES: [number, number] = [40, 104], STEPS = 20, BATCH = 4;
/** The coupling comparison: ddnm with more steps at 8x, z-TV weight 0.05 (the default) in both modes. */
const COUPLING = { accel: 8, steps: 20, tvZ: 0.05 };

interface CouplingRow { coupling: string; seconds: number; slices_per_s: number; psnr: number; ssim: number }

export async function run(opts: { json: boolean; log: (m: string) => void }): Promise<Record<string, unknown>> {
  if (!existsSync(CH2)) fail('UNREADABLE_FILE', `${CH2} is missing; install the MNI ch2 template with "apt-get install mricron-data"`);
  const modelDir = process.env.TWEEDIE_BENCH_MODEL ?? join(packageRoot, 'weights', 'brain-64');
  if (!existsSync(join(modelDir, 'model.onnx'))) fail('UNREADABLE_FILE', `${modelDir}/model.onnx is missing; the volume benchmark needs the brain-64 prior (or TWEEDIE_BENCH_MODEL=DIR)`);
  const vol = readNifti(CH2);
  const count = SLICES[1] - SLICES[0];
  const all = Math.min(availableParallelism(), count);
  // The same fixed batches in both runs (so both do the same work), as many per worker.
  const batch = BATCH;
  const splitFile = join(packageRoot, 'weights', 'brain-64', 'split.json');
  const common = {
    modelDir, splitFallback: splitFile, modality: 'mri' as const,
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

  // z coupling on the held-out slab (split.json heldout_z: slices never seen in training).
  const held = readSplit(modelDir, splitFile)?.heldout_z;
  if (!held?.length) fail('BAD_CONFIG', `${splitFile} lists no heldout_z; the coupling rows need the held-out slab`);
  const slab: [number, number] = [Math.min(...held), Math.max(...held) + 1];
  const slabCount = slab[1] - slab[0], slabBatch = Math.max(1, Math.floor(slabCount / Math.min(availableParallelism(), slabCount)));
  const couplings: [string, Partial<ReconstructOptions>][] = [
    ['none', { tvZ: 0 }],
    ['after sampling', { tvZ: COUPLING.tvZ, tvZMode: 'after' }],
    ['every step', { tvZ: COUPLING.tvZ, tvZMode: 'step' }],
  ];
  const coupled: CouplingRow[] = [];
  let baseline = { name: '', psnr: 0, ssim: 0 };
  for (const [label, c] of couplings) {
    opts.log(`held-out slab, z coupling ${label} ...`);
    const t0 = performance.now();
    const r = await reconstructVolume(vol, { ...common, acceleration: COUPLING.accel, steps: COUPLING.steps, slices: slab, batch: slabBatch, workers: all, ...c });
    const seconds = (performance.now() - t0) / 1000;
    coupled.push({ coupling: label, seconds, slices_per_s: slabCount / seconds, psnr: r.psnr, ssim: r.ssim });
    baseline = { name: r.baseline, psnr: r.psnr_baseline, ssim: r.ssim_baseline };
  }
  const result = {
    slices: count, steps: STEPS, solver: 'ddnm', batch, cores: availableParallelism(), model: modelDir,
    one_worker: rows[0], all_workers: rows[1], speedup: ratio,
    coupling: { slices: slab, accel: COUPLING.accel, steps: COUPLING.steps, tv_z: COUPLING.tvZ, batch: slabBatch, workers: all, baseline, rows: coupled },
  };
  if (!opts.json) {
    process.stdout.write(
      [
        `ch2 slices ${SLICES[0]}..${SLICES[1] - 1}, 4x equispaced MRI, ddnm ${STEPS} steps, batch ${batch}, z-TV on (${availableParallelism()} cores; end to end, worker start and model load included):`,
        ...rows.map((r) => `  ${String(r.workers).padStart(2)} worker${r.workers > 1 ? 's' : ' '}  ${r.slices_per_s.toFixed(2)} slices/s  (${r.seconds.toFixed(2)} s, PSNR ${r.psnr.toFixed(2)} dB, SSIM ${r.ssim.toFixed(4)})`),
        `  speedup     ${ratio.toFixed(2)}x`,
        `held-out slab ${slab[0]}..${slab[1] - 1}, 8x equispaced MRI, ddnm ${COUPLING.steps} steps, batch ${slabBatch}, ${all} workers, z-TV weight ${COUPLING.tvZ} (${baseline.name} ${baseline.psnr.toFixed(2)} dB, SSIM ${baseline.ssim.toFixed(4)}):`,
        ...coupled.map((r) => `  z coupling ${r.coupling.padEnd(14)}  PSNR ${r.psnr.toFixed(2)} dB  SSIM ${r.ssim.toFixed(4)}  ${r.slices_per_s.toFixed(2)} slices/s (${r.seconds.toFixed(2)} s)`),
      ].join('\n') + '\n',
    );
  }
  return result;
}
