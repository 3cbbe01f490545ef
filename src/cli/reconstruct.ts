import { MAX_CT_VIEWS } from '../inverse/operators/ct.js';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fail } from '../core/errors.js';
import { niftiFileBytes } from '../io/nifti.js';
import { readVolumeFile } from '../io/volume-file.js';
import { prepareVolumeOut, volumeOutFiles } from '../io/volume-out-file.js';
import { readNpy } from '../io/npy.js';
import { checkActiveSolver } from '../inverse/active.js';
import { solverByName } from '../inverse/solvers/registry.js';
import { checkedTvZMode, reconstructGradientRoute, reconstructMeasured, reconstructVolume, type ReconstructOptions, type TvZMode } from '../volume/reconstruct.js';
import { asUsage, gradValue, intOption, numberOption, seedValue, stepsValue, threadsValue } from './args.js';
import { command } from './options.js';
import { checkedParams } from './params.js';
import { runProgress } from './progress.js';
import { printSummary } from './job-context.js';
import { checkOutputs, commitOutputs } from './output.js';
import { parseSlices, pickVolume, seriesOption, slicesOption, volumeOption } from './volume-option.js';
import { gradOption, jsonOption, paramOption, seedOption, stepsOption } from './shared-options.js';
import { packageRoot } from '../package-root.js';
import { THREADS_FORCE_ENV } from '../models/onnx.js';
import { isHdf5Name } from '../io/fastmri-file.js';
import { reconstructKspaceCli } from './reconstruct-kspace.js';

export const reconstructCommand = command({
  name: 'reconstruct',
  summary: 'reconstruct a NIfTI volume slice by slice with the 2-D prior',
  usage: '(--truth VOL.nii.gz|DICOM | --measurement DATA.npy) --modality mri|ct --out RECON.nii.gz|DIR/ [options]',
  description:
    'Reconstruct a volume slice by slice with the 2-D brain-64 diffusion prior, from measurements simulated (seeded per slice) from the ground-truth volume, and couple the slices by total variation along the third axis. ' +
    "Each axial slice is mapped to the model's 64x64 grid exactly as the training data was (crop/area-average/intensity scale of the model's split.json). " +
    'A prior whose tweedie.json declares "multiple" (any H x W that are multiples of it) works on each slice\'s own grid instead: no crop, no resampling, the slice padded with background to the multiple and the result cropped back; its figures are measured on the input grid.',
  options: {
    truth: { type: 'string', value: 'VOL', doc: 'the ground-truth 3-D volume, NIfTI or DICOM (a folder of one series or a file): measurements are simulated from it and PSNR/SSIM reported against it' },
    volume: volumeOption('--truth'),
    series: seriesOption('--truth'),
    modality: { type: 'string', value: 'mri|ct', doc: 'mri: Cartesian k-space undersampling; ct: sparse-view parallel-beam sinogram' },
    accel: { type: 'string', value: 'R', doc: 'mri: acceleration (default 4)' },
    mask: {
      type: 'string', value: 'KIND',
      doc: 'mri: equispaced (default), random, poisson, or active: Active Diffusion Subsampling, per slice start from the centre lines and, while sampling with --particles P posterior samples, acquire the k-space line the particles disagree on most, until W/R lines; needs --solver dps (the paper\'s DPS guidance, with --grad), ddnm or dds. The reconstruction is the particles\' mean; --json lists each slice\'s lines',
    },
    particles: { type: 'string', value: 'P', doc: '--mask active: particles per slice (default 8)' },
    'mask-file': { type: 'string', value: 'M.npy', doc: 'mri: the sampling mask, [W] (columns) or [H, W] in the centered k-space layout, instead of --accel/--mask' },
    measurement: {
      type: 'string', value: 'DATA.npy|FILE.h5',
      doc: "raw multi-coil k-space in the fastMRI HDF5 layout (FILE.h5: kspace [slices, coils, rows, cols], ismrmrd_header, reconstruction_rss or mask), reconstructed on the file's image grid with coil maps from its ACS lines (--accel R [--mask] undersamples a fully sampled file; PSNR/SSIM against reconstruction_rss); or measured data in the prior's model space (64x64 slices in [-1, 1]) instead of data simulated from --truth: mri k-space [Z, 64, 64, 2] ((re, im) last, centered orthonormal FFT) or [Z, 2, 64, 64]; ct sinograms [Z, views, detectors]; Z = the number of slices. A prior whose tweedie.json declares \"multiple\" takes mri k-space on its own grid, H and W multiples of it (other sizes are refused: zero-padding k-space would interpolate). Entries outside the mask are ignored; --mask active reads its lines from it, so it must be fully sampled. With --truth the figures are computed; without it --out gets the model-space stack (64x64xZ)",
    },
    acs: { type: 'string', value: 'F', doc: '--measurement FILE.h5 with --accel: the fully sampled centre fraction (default 0.08 below 8x, 0.04 from 8x); the ACS lines the coil maps come from' },
    'coil-maps': { type: 'string', value: 'espirit|acs|MAPS.npy', doc: '--measurement FILE.h5: coil maps from the ACS lines by ESPIRiT (default) or acs (low-resolution coil images / RSS), or given [coils, H, W, 2] (or one set per slice)' },
    'out-rss': { type: 'string', value: 'FILE', doc: '--measurement FILE.h5: also write the fully sampled RSS reference (.nii or .nii.gz)' },
    views: { type: 'string', value: 'N', doc: 'ct: number of views over 180 degrees (default 30)' },
    noise: { type: 'string', value: 'SIGMA', default: '0.01', doc: 'measurement noise sd in model units' },
    solver: { type: 'string', value: 'NAME', doc: 'posterior solver (default ddnm for mri, dds for ct; ddrm, diffpir, score-sde, dps, pigdm, ...)' },
    steps: stepsOption('diffusion steps', '50'),
    param: paramOption('solver'),
    grad: gradOption,
    slices: slicesOption,
    workers: { type: 'string', value: 'K', doc: `worker threads, each with its own ONNX session (default os.availableParallelism() = ${availableParallelism()})` },
    threads: { type: 'string', value: 'N', default: '1', doc: `ONNX Runtime threads of each worker; at most the core count unless ${THREADS_FORCE_ENV}=1 is set` },
    batch: { type: 'string', value: 'B', default: '4', doc: 'slices per model call; results do not depend on --workers' },
    'tv-z': { type: 'string', value: 'W', default: '0.05', doc: 'z-TV weight in model units (0 turns the 3-D coupling off)' },
    'tv-iters': { type: 'string', value: 'N', default: '2', doc: 'alternations of z-TV prox and data consistency' },
    'tv-z-mode': {
      type: 'string', value: 'after|step', default: 'after',
      doc: 'after: couple the slices once, on the sampled stack; step: after every diffusion step (DiffusionMBIR), all slices advancing in lockstep across the workers (--solver ddnm, dds or dps)',
    },
    seed: seedOption('slice'),
    model: { type: 'string', value: 'DIR', doc: 'prior folder (default weights/brain-64)' },
    out: { type: 'string', value: 'FILE|DIR/', doc: ".nii or .nii.gz on the truth's grid and intensity units (slices outside --slices and voxels outside the model's crop are 0), or DIR/ for a derived DICOM series (patient and study of a DICOM --truth)" },
    'out-model': { type: 'string', value: 'FILE', doc: "also write the model-space 64x64 stack with its resampled-grid affine" },
    json: jsonOption('{"truth" or "measurement", "out", "operator", "solver", "steps", for dps/pigdm "gradient" (the route used), "nfe", "seconds", "psnr", "ssim", "baseline", "psnr_baseline", "ssim_baseline", "per_slice", ...} ("figures_grid": "model" (64x64 model space, data range 2) or "input" (the --out grid and units, data range p, for a prior with "multiple"))'),
  },
  async run({ values }) {
    if (values.measurement && isHdf5Name(values.measurement)) {
      return reconstructKspaceCli({ ...values, measurement: values.measurement, slices: parseSlices(values.slices) }, values, join(packageRoot, 'weights', 'brain-64'));
    }
    for (const k of ['acs', 'coil-maps', 'out-rss'] as const) if (values[k] !== undefined) fail('USAGE', `--${k} is for raw k-space (--measurement FILE.h5)`);
    const modality = values.modality;
    if (!modality) fail('USAGE', 'reconstruct needs --modality mri or --modality ct');
    if (modality !== 'mri' && modality !== 'ct') fail('USAGE', `unknown modality "${modality}"; use --modality mri or --modality ct`);
    const mask = values.mask, maskFile = values['mask-file'];
    if (modality === 'ct' && mask === 'active') fail('USAGE', '--mask active acquires MRI k-space lines; it needs --modality mri (for ct give --views N)');
    if (modality === 'ct' && (values.accel !== undefined || mask !== undefined || maskFile !== undefined || values.particles !== undefined)) {
      fail('USAGE', '--accel and --mask are for --modality mri (so are --mask-file and --particles); for ct give --views N');
    }
    if (modality === 'mri' && values.views !== undefined) fail('USAGE', '--views is for --modality ct; for mri give --accel R [--mask equispaced]');
    if (mask !== undefined && !['equispaced', 'random', 'poisson', 'active'].includes(mask)) fail('USAGE', `--mask ${mask}: use equispaced, random, poisson or active`);
    if (maskFile !== undefined && (mask !== undefined || values.accel !== undefined)) fail('USAGE', '--mask-file fixes the sampling; drop --mask and --accel (or drop --mask-file)');
    if (values.particles !== undefined && mask !== 'active') fail('USAGE', '--particles is for --mask active');
    const truthFile = values.truth, measurementFile = values.measurement;
    if (!truthFile && !measurementFile) fail('USAGE', 'reconstruct needs --truth VOL.nii(.gz) (the ground-truth volume, measured by simulation) or --measurement DATA.npy');
    const out = values.out;
    if (!out) fail('USAGE', 'reconstruct needs --out RECON.nii.gz');
    const outModel = values['out-model'];
    if (outModel !== undefined && !/\.nii(\.gz)?$/i.test(outModel)) fail('USAGE', `--out-model ${outModel}: write a NIfTI file (.nii or .nii.gz)`);
    const solver = solverByName(values.solver ?? (modality === 'ct' ? 'dds' : 'ddnm'));
    if (mask === 'active') checkActiveSolver(solver.name);
    if (!truthFile && (outModel !== undefined || values.slices !== undefined || values.volume !== undefined)) {
      fail('USAGE', 'without --truth, --out already is the model-space stack of every --measurement slice; drop --out-model, --slices and --volume');
    }
    const params = checkedParams(solver, values.param);
    const steps = stepsValue(values.steps);
    const gradient = gradValue(values.grad);
    const acceleration = intOption(values.accel, 'accel', 2) ?? 4;
    const views = intOption(values.views, 'views', 2, MAX_CT_VIEWS) ?? 30;
    const noise = numberOption(values.noise, 'noise', 0);
    const workers = intOption(values.workers, 'workers') ?? availableParallelism();
    const threads = threadsValue(values.threads);
    const batch = intOption(values.batch, 'batch');
    const tvZ = numberOption(values['tv-z'], 'tv-z', 0);
    const tvIters = intOption(values['tv-iters'], 'tv-iters');
    const tvZMode = checkedTvZMode({ tvZMode: (values['tv-z-mode'] ?? 'after') as TvZMode, solver: solver.name, ...(mask ? { mask } : {}), params });
    const seed = seedValue(values.seed);
    const slices = parseSlices(values.slices);
    const particles = intOption(values.particles, 'particles') ?? 8;
    const modelDir = values.model ?? join(packageRoot, 'weights', 'brain-64');
    checkOutputs([{ option: '--out', file: prepareVolumeOut('--out', out!) }, { option: '--out-model', file: outModel }], [
      { option: '--truth', file: truthFile }, { option: '--measurement', file: measurementFile }, { option: '--mask-file', file: maskFile }, { option: '--model', file: modelDir },
    ]);
    if (!existsSync(join(modelDir, 'model.onnx'))) fail('UNREADABLE_FILE', `${join(modelDir, 'model.onnx')} is missing; reconstruct needs a 2-D prior folder (--model DIR; weights/brain-64 ships one)`);
    asUsage('--grad', () => reconstructGradientRoute({ modelDir, solver: solver.name, gradient }));
    const measurement = measurementFile ? readNpy(measurementFile) : undefined;
    const progress = runProgress(`${solver.name}: ${steps} steps`);
    const options: ReconstructOptions = {
      modelDir, splitFallback: join(packageRoot, 'weights', 'brain-64', 'split.json'),
      modality, acceleration, ...(mask ? { mask } : {}), ...(maskFile ? { maskFile } : {}), particles, views, noise,
      ...(measurement ? { measurement, measurementName: measurementFile } : {}), solver: solver.name, steps, params, gradient, ...(slices ? { slices } : {}), workers, threads, batch, seed, tvZ, tvIters, tvZMode,
      onProgress: (done, total, slicesDone) => progress.report({ done, total, slicesDone }),
    };
    if (!truthFile) {
      const r = await reconstructMeasured(options);
      progress.done();
      commitOutputs(volumeOutFiles(out!, r.modelStack, { description: `tweedie reconstruct ${r.solver} ${r.steps} steps` }));
      const summary = {
        measurement: measurementFile, out, modality, operator: r.operator, solver: r.solver, ...(r.gradient ? { gradient: r.gradient } : {}), steps: r.steps, slices: r.modelStack.dims[2],
        workers: r.workers, batch: r.batch, tv_z: tvZ, tv_iters: tvIters, tv_z_mode: tvZMode, seed, nfe: r.nfe, model_calls: r.model_calls, seconds: r.seconds,
        psnr: null, ssim: null, ...(r.lines ? { lines: r.lines } : {}),
      };
      if (values.json) return void printSummary(summary);
      return void process.stdout.write(`wrote ${out}: ${summary.slices} model-space slices from ${measurementFile}, ${r.solver} on ${r.operator}, ${r.steps} steps (NFE ${r.nfe} per slice), ${r.seconds.toFixed(1)} s (no --truth: no PSNR)\n`);
    }

    const vol = pickVolume(await readVolumeFile(truthFile, values.series !== undefined ? { series: values.series } : {}), truthFile, values.volume);
    const r = await reconstructVolume(vol, options);
    progress.done();
    commitOutputs([...volumeOutFiles(out!, r.volume, { like: vol, source: vol, description: `tweedie reconstruct ${r.solver} ${r.steps} steps` }), ...(outModel ? [{ file: outModel, bytes: niftiFileBytes(outModel, r.modelStack) }] : [])]);
    const summary = {
      truth: truthFile, out, ...(outModel ? { out_model: outModel } : {}), modality, operator: r.operator, solver: r.solver, ...(r.gradient ? { gradient: r.gradient } : {}), steps: r.steps,
      slices: r.slices, workers: r.workers, batch: r.batch, tv_z: tvZ, tv_iters: tvIters, tv_z_mode: tvZMode, seed,
      mapping: r.mapping, nfe: r.nfe, model_calls: r.model_calls, seconds: r.seconds,
      figures_grid: r.figures_grid, psnr: r.psnr, ssim: r.ssim, baseline: r.baseline, psnr_baseline: r.psnr_baseline, ssim_baseline: r.ssim_baseline,
      per_slice: r.per_slice, ...(r.lines ? { lines: r.lines } : {}),
    };
    if (values.json) return void printSummary(summary);
    process.stdout.write(
      `wrote ${out}: slices ${r.slices[0]}..${r.slices[1] - 1} of ${truthFile}, ${r.solver} on ${r.operator}, ${r.steps} steps (NFE ${r.nfe} per slice), ` +
        `${r.workers} worker${r.workers > 1 ? 's' : ''}, ${r.seconds.toFixed(1)} s; PSNR ${r.psnr.toFixed(2)} dB, SSIM ${r.ssim.toFixed(4)} ` +
        `(${r.baseline} ${r.psnr_baseline.toFixed(2)} dB, ${r.ssim_baseline.toFixed(4)}) ${r.figures_grid === 'input' ? 'on the input grid' : 'in model space'}\n`,
    );
  },
});
