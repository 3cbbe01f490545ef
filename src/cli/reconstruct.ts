import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fail } from '../core/errors.js';
import { readNifti, writeNifti } from '../io/nifti.js';
import { readNpy } from '../io/npy.js';
import { checkActiveSolver } from '../inverse/active.js';
import { selectVolume, volumeCount } from '../io/volume.js';
import { solverByName } from '../inverse/solvers/registry.js';
import { reconstructMeasured, reconstructVolume, type Modality, type ReconstructOptions } from '../volume/reconstruct.js';
import { intOption, numberOption, parseCommand, str } from './args.js';
import { checkedParams } from './params.js';
import { Progress } from './progress.js';
import { packageRoot } from './version.js';

export const reconstructHelp = `tweedie reconstruct (--input VOL.nii.gz | --measurement DATA.npy) --modality mri|ct
              [--acceleration 4 --mask equispaced|random|poisson|active | --mask-file M.npy | --views 30]
              [--particles 8] [--noise 0.01]
              [--solver NAME] [--steps N] [--slices A:B] [--workers K] [--batch B]
              [--tv-z W] [--tv-iters N] [--seed S] [--model DIR]
              --out RECON.nii.gz [--out-model STACK.nii.gz] [--json]

Reconstruct a volume slice by slice with the 2-D brain-64 diffusion prior, from measurements
simulated (seeded per slice) from the input volume, and couple the slices by total variation
along the third axis. Each axial slice is mapped to the model's 64x64 grid exactly as the
training data was (crop/area-average/intensity scale of the model's split.json).
  --input FILE          a 3-D NIfTI volume (the ground truth); --volume T picks one of a 4-D file
  --modality mri|ct     mri: Cartesian k-space undersampling; ct: sparse-view parallel-beam sinogram
  --acceleration R      mri: acceleration (default 4); --mask equispaced|random|poisson (default equispaced)
  --mask active         mri: Active Diffusion Subsampling: per slice, start from the centre lines and,
                        while sampling with --particles P posterior samples, acquire the k-space line
                        the particles disagree on most, until W/R lines; needs --solver ddnm or dds.
                        The reconstruction is the particles' mean; --json lists each slice's lines
  --particles P         --mask active: particles per slice (default 8)
  --mask-file M.npy     mri: the sampling mask, [W] (columns) or [H, W] in the centered k-space
                        layout, instead of --acceleration/--mask
  --measurement F.npy   measured data in the prior's model space (64x64 slices in [-1, 1]) instead of
                        data simulated from --input: mri k-space [Z, 64, 64, 2] ((re, im) last, centered
                        orthonormal FFT) or [Z, 2, 64, 64]; ct sinograms [Z, views, detectors]; Z = the
                        number of slices. Entries outside the mask are ignored; --mask active reads its
                        lines from it, so it must be fully sampled. With --input (the truth) the
                        figures are computed; without it --out gets the model-space stack (64x64xZ)
  --views N             ct: number of views over 180 degrees (default 30)
  --noise SIGMA         measurement noise sd in model units (default 0.01)
  --solver NAME         posterior solver (default ddnm for mri, dds for ct; ddrm, diffpir, score-sde, ...)
  --steps N             diffusion steps (default 50)
  --param KEY=VALUE     a solver option (repeatable)
  --slices A:B          slices A..B-1 along the third axis (default all)
  --workers K           worker threads, each with its own 1-thread ONNX session
                        (default os.availableParallelism() = ${availableParallelism()})
  --batch B             slices per model call (default 4); results do not depend on --workers
  --tv-z W              z-TV weight in model units (default 0.05; 0 turns the 3-D coupling off)
  --tv-iters N          alternations of z-TV prox and data consistency (default 2)
  --seed S              seed (default 0); slice z uses the noise of sample z
  --model DIR           prior folder (default weights/brain-64)
  --out FILE            .nii or .nii.gz on the input's grid and intensity units (slices outside
                        --slices and voxels outside the model's crop are 0)
  --out-model FILE      also write the model-space 64x64 stack with its resampled-grid affine
  --json                print per-slice and whole-volume PSNR/SSIM (model space), seconds, NFE`;

function parseSlices(v: string | undefined): [number, number] | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d+):(\d+)$/.exec(v.trim());
  if (!m) fail('USAGE', `--slices must look like A:B (slices A..B-1), got "${v}"`);
  const a = Number(m![1]), b = Number(m![2]);
  if (!(a < b)) fail('USAGE', `--slices ${v}: A must be less than B`);
  return [a, b];
}

export async function reconstructCommand(argv: string[]): Promise<void> {
  const { values } = parseCommand('reconstruct', argv, {
    input: { type: 'string' }, volume: { type: 'string' }, modality: { type: 'string' }, acceleration: { type: 'string' },
    mask: { type: 'string' }, views: { type: 'string' }, noise: { type: 'string' }, solver: { type: 'string' },
    steps: { type: 'string' }, param: { type: 'string', multiple: true }, slices: { type: 'string' }, workers: { type: 'string' },
    threads: { type: 'string' }, batch: { type: 'string' }, 'tv-z': { type: 'string' }, 'tv-iters': { type: 'string' },
    seed: { type: 'string' }, model: { type: 'string' }, out: { type: 'string' }, 'out-model': { type: 'string' }, json: { type: 'boolean' },
    'mask-file': { type: 'string' }, measurement: { type: 'string' }, particles: { type: 'string' },
  });
  if (values.help) return void process.stdout.write(reconstructHelp + '\n');
  const modality = str(values.modality);
  if (!modality) fail('USAGE', 'reconstruct needs --modality mri or --modality ct');
  if (modality !== 'mri' && modality !== 'ct') fail('USAGE', `unknown modality "${modality}"; use --modality mri or --modality ct`);
  const mask = str(values.mask), maskFile = str(values['mask-file']);
  if (modality === 'ct' && mask === 'active') fail('USAGE', '--mask active acquires MRI k-space lines; it needs --modality mri (for ct give --views N)');
  if (modality === 'ct' && (values.acceleration !== undefined || mask !== undefined || maskFile !== undefined || values.particles !== undefined)) {
    fail('USAGE', '--acceleration and --mask are for --modality mri (so are --mask-file and --particles); for ct give --views N');
  }
  if (modality === 'mri' && values.views !== undefined) fail('USAGE', '--views is for --modality ct; for mri give --acceleration R [--mask equispaced]');
  if (mask !== undefined && !['equispaced', 'random', 'poisson', 'active'].includes(mask)) fail('USAGE', `--mask ${mask}: use equispaced, random, poisson or active`);
  if (maskFile !== undefined && (mask !== undefined || values.acceleration !== undefined)) fail('USAGE', '--mask-file fixes the sampling; drop --mask and --acceleration (or drop --mask-file)');
  if (values.particles !== undefined && mask !== 'active') fail('USAGE', '--particles is for --mask active');
  const input = str(values.input), measurementFile = str(values.measurement);
  if (!input && !measurementFile) fail('USAGE', 'reconstruct needs --input VOL.nii(.gz) (the ground-truth volume, measured by simulation) or --measurement DATA.npy');
  const out = str(values.out);
  if (!out) fail('USAGE', 'reconstruct needs --out RECON.nii.gz');
  const outModel = str(values['out-model']);
  for (const f of [out, outModel]) if (f !== undefined && !/\.nii(\.gz)?$/i.test(f)) fail('USAGE', `--out ${f}: write a NIfTI file (.nii or .nii.gz)`);
  const solver = solverByName(str(values.solver) ?? (modality === 'ct' ? 'dds' : 'ddnm'));
  if (mask === 'active') checkActiveSolver(solver.name);
  if (!input && (outModel !== undefined || values.slices !== undefined || values.volume !== undefined)) {
    fail('USAGE', 'without --input, --out already is the model-space stack of every --measurement slice; drop --out-model, --slices and --volume');
  }
  const params = checkedParams(solver, values.param as string[] | undefined);
  const steps = intOption(str(values.steps), 'steps', 50);
  const acceleration = intOption(str(values.acceleration), 'acceleration', 4, 2);
  const views = intOption(str(values.views), 'views', 30, 2);
  const noise = numberOption(str(values.noise), 'noise', 0.01);
  if (noise < 0) fail('USAGE', `--noise must be >= 0, got ${noise}`);
  const workers = intOption(str(values.workers), 'workers', availableParallelism());
  const threads = intOption(str(values.threads), 'threads', 1);
  const batch = intOption(str(values.batch), 'batch', 4);
  const tvZ = numberOption(str(values['tv-z']), 'tv-z', 0.05);
  if (tvZ < 0) fail('USAGE', `--tv-z must be >= 0, got ${tvZ}`);
  const tvIters = intOption(str(values['tv-iters']), 'tv-iters', 2);
  const seed = intOption(str(values.seed), 'seed', 0, 0);
  const slices = parseSlices(str(values.slices));
  const particles = intOption(str(values.particles), 'particles', 8);
  const modelDir = str(values.model) ?? join(packageRoot, 'weights', 'brain-64');
  if (!existsSync(join(modelDir, 'model.onnx'))) fail('UNREADABLE_FILE', `${join(modelDir, 'model.onnx')} is missing; reconstruct needs a 2-D prior folder (--model DIR; weights/brain-64 ships one)`);
  const measurement = measurementFile ? readNpy(measurementFile) : undefined;
  let progress: Progress | null = null;
  const options: ReconstructOptions = {
    modelDir, splitFallback: join(packageRoot, 'weights', 'brain-64', 'split.json'),
    modality: modality as Modality, acceleration, ...(mask ? { mask } : {}), ...(maskFile ? { maskFile } : {}), particles, views, noise,
    ...(measurement ? { measurement, measurementName: measurementFile } : {}), solver: solver.name, steps, params, ...(slices ? { slices } : {}), workers, threads, batch, seed, tvZ, tvIters,
    onProgress: (done, total) => {
      progress ??= new Progress(`${solver.name}: ${steps} steps`, total);
      progress.update(done);
    },
  };
  if (!input) {
    const r = await reconstructMeasured(options);
    (progress as Progress | null)?.done();
    writeNifti(out!, r.modelStack);
    const summary = {
      measurement: measurementFile, out, modality, operator: r.operator, solver: r.solver, steps: r.steps, slices: r.modelStack.dims[2],
      workers: r.workers, batch: r.batch, tv_z: tvZ, tv_iters: tvIters, seed, nfe: r.nfe, model_calls: r.model_calls, seconds: r.seconds,
      psnr: null, ssim: null, ...(r.lines ? { lines: r.lines } : {}),
    };
    if (values.json) process.stdout.write(JSON.stringify(summary) + '\n');
    else process.stderr.write(`wrote ${out}: ${summary.slices} model-space slices from ${measurementFile}, ${r.solver} on ${r.operator}, ${r.steps} steps (NFE ${r.nfe} per slice), ${r.seconds.toFixed(1)} s (no --input: no PSNR)\n`);
    return;
  }

  let vol = readNifti(input);
  if (volumeCount(vol) > 1) {
    if (values.volume === undefined) {
      fail('BAD_SHAPE', `${input} is ${vol.dims.length}-D with dims [${vol.dims.join(', ')}] (${volumeCount(vol)} volumes); reconstruct takes one 3-D volume: pick one with --volume T (0..${volumeCount(vol) - 1})`);
    }
    vol = selectVolume(vol, intOption(str(values.volume), 'volume', 0, 0));
  }
  const r = await reconstructVolume(vol, options);
  (progress as Progress | null)?.done();
  writeNifti(out, r.volume, { like: vol });
  if (outModel) writeNifti(outModel, r.modelStack);
  const summary = {
    input, out, ...(outModel ? { out_model: outModel } : {}), modality, operator: r.operator, solver: r.solver, steps: r.steps,
    slices: r.slices, workers: r.workers, batch: r.batch, tv_z: tvZ, tv_iters: tvIters, seed,
    mapping: r.mapping, nfe: r.nfe, model_calls: r.model_calls, seconds: r.seconds,
    psnr: r.psnr, ssim: r.ssim, baseline: r.baseline, psnr_baseline: r.psnr_baseline, ssim_baseline: r.ssim_baseline,
    per_slice: r.per_slice, ...(r.lines ? { lines: r.lines } : {}),
  };
  if (values.json) process.stdout.write(JSON.stringify(summary) + '\n');
  else {
    process.stderr.write(
      `wrote ${out}: slices ${r.slices[0]}..${r.slices[1] - 1} of ${input}, ${r.solver} on ${r.operator}, ${r.steps} steps (NFE ${r.nfe} per slice), ` +
        `${r.workers} worker${r.workers > 1 ? 's' : ''}, ${r.seconds.toFixed(1)} s; PSNR ${r.psnr.toFixed(2)} dB, SSIM ${r.ssim.toFixed(4)} ` +
        `(${r.baseline} ${r.psnr_baseline.toFixed(2)} dB, ${r.ssim_baseline.toFixed(4)}) in model space\n`,
    );
  }
}
