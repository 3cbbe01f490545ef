import { extname, join } from 'node:path';
import { fail } from '../core/errors.js';
import { Tensor } from '../core/tensor.js';
import { isDicomPath } from '../io/dicom-file.js';
import { readVolumeFile } from '../io/volume-file.js';
import { isDicomOut, prepareVolumeOut, volumeOutFiles } from '../io/volume-out-file.js';
import { readNpy } from '../io/npy.js';
import { pngToTensor, readPng } from '../io/png.js';
import { requireVolume3D, setSlice, sliceAxial, type Volume } from '../io/volume.js';
import { psnr, ssim } from '../metrics/image.js';
import { restore } from '../recipes/restore.js';
import { upscaleBatch } from '../restoration/anchor.js';
import { samplerByName } from '../samplers/registry.js';
import { intOption, seedValue, stepsValue, threadsValue } from './args.js';
import { checkItemCount } from '../core/limits.js';
import { loadModel } from './model-spec.js';
import { command } from './options.js';
import { checkOutputs, commitOutputs, samplesBytes } from './output.js';
import { checkedParams } from './params.js';
import { runProgress } from './progress.js';
import { printSummary } from './job-context.js';
import { pickVolume, seriesOption, volumeOption } from './volume-option.js';
import { batchOption, jsonOption, paramOption, seedOption, stepsOption, threadsOption } from './shared-options.js';
import { packageRoot } from '../package-root.js';

interface Images {
  x: Tensor;
  /** For NIfTI input: the volume and the intensity window mapped onto the model's range. */
  volume?: { vol: Volume; lo: number; hi: number };
}

const isNifti = (file: string) => /\.nii(\.gz)?$/i.test(file);
/** NIfTI and DICOM inputs carry a geometry that NIfTI and DICOM outputs keep. */
const isVolume = (file: string) => isNifti(file) || isDicomPath(file);

/** Read images as [N, C, H, W] in the model's value range. */
export async function readImages(file: string, range: [number, number], what: string, volume: string | undefined, series: string | undefined): Promise<Images> {
  const lower = file.toLowerCase();
  if (lower.endsWith('.npy')) {
    const t = readNpy(file).toDtype('float32');
    const s = t.shape;
    if (s.length === 2) return { x: t.reshape([1, 1, s[0]!, s[1]!]) };
    if (s.length === 3) return { x: t.reshape([1, ...s]) };
    if (s.length === 4) return { x: t };
    return fail('BAD_SHAPE', `${what} ${file} has shape [${s.join(', ')}]; expected [H, W], [C, H, W] or [N, C, H, W]`);
  }
  if (lower.endsWith('.png')) {
    const img = pngToTensor(readPng(file));
    const [lo, hi] = range;
    return { x: new Tensor([1, ...img.shape], img.data.map((v) => lo + v * (hi - lo))) };
  }
  if (isVolume(file)) {
    const vol = requireVolume3D(pickVolume(await readVolumeFile(file, series !== undefined ? { series } : {}), `${what} ${file}`, volume));
    let lo = Infinity, hi = -Infinity;
    for (const v of vol.data) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (!(hi > lo)) fail('BAD_INPUT', `${what} ${file} is constant (${lo}); there is nothing to restore`);
    const [X, Y, Z] = vol.dims as [number, number, number];
    const x = Tensor.zeros([Z, 1, Y, X]);
    for (let k = 0; k < Z; k++) {
      const s = sliceAxial(vol, k).data;
      for (let i = 0; i < X * Y; i++) x.data[k * X * Y + i] = range[0] + ((s[i]! - lo) / (hi - lo)) * (range[1] - range[0]);
    }
    return { x, volume: { vol, lo, hi } };
  }
  return fail('USAGE', `${what} ${file}: use a .npy, .png, .nii or .nii.gz file, or DICOM (a file or a folder)`);
}

/** The restored images as the bytes of --out: a NIfTI with the input's geometry, or samples (.npy / .png grid). */
function restoredFiles(out: string, x: Tensor, input: Images, itemShape: readonly number[], range: [number, number], description: string): { file: string; bytes: Uint8Array }[] {
  if (input.volume && (isNifti(out) || isDicomOut(out))) {
    const { vol, lo, hi } = input.volume;
    const copy: Volume = { ...vol, data: new Float32Array(vol.data) };
    const plane = x.itemSize;
    for (let k = 0; k < x.batch; k++) {
      const s = x.data.subarray(k * plane, (k + 1) * plane);
      setSlice(copy, k, new Tensor([1, itemShape[1]!, itemShape[2]!], Float32Array.from(s, (v) => lo + ((v - range[0]) / (range[1] - range[0])) * (hi - lo))));
    }
    return volumeOutFiles(out, copy, { description });
  }
  return [{ file: out, bytes: samplesBytes(out, x, itemShape, range) }];
}

function checkOut(out: string | undefined): string {
  if (!out) return fail('USAGE', 'restore needs --out FILE.(png|npy|nii.gz)');
  if (!['.png', '.npy'].includes(extname(out).toLowerCase()) && !isNifti(out) && !isDicomOut(out)) fail('USAGE', `--out ${out}: use a .png, .npy, .nii or .nii.gz file name, or DIR/ (or .dcm) for DICOM`);
  return out;
}

function meanOf(a: Float64Array): number {
  return a.reduce((p, q) => p + q, 0) / a.length;
}

export const restoreCommand = command({
  name: 'restore',
  summary: 'restore degraded images with a restoration diffusion model (IR-SDE, ResShift)',
  usage: '--input degraded.(png|npy|nii.gz|dcm|DIR) --out restored.(png|npy|nii.gz|dcm|DIR/) [options]',
  description:
    "Restore degraded images with a restoration diffusion model (IR-SDE, ResShift, RDDM): the degraded image is the model's anchor mu and conditioning input; sampling starts at mu + noise and ends at the clean image.",
  options: {
    model: {
      type: 'string', value: 'DIR',
      doc: 'a restoration model folder (default weights/fmnist-irsde; also weights/fmnist-resshift, weights/fmnist-rddm, and for 64x64 brain slices weights/brain-irsde, weights/brain-resshift)',
    },
    input: {
      type: 'string', value: 'FILE',
      doc: ".npy [H, W], [C, H, W] or [N, C, H, W] in the model's value range (usually [-1, 1]); .png (8/16-bit, mapped from [0, 1] to the value range); .nii/.nii.gz or DICOM (a file, or a folder of one series; each slice along the third axis is an image; intensities mapped linearly from the volume's [min, max] to the value range and back on output)",
    },
    volume: volumeOption('NIfTI --input (and --truth)'),
    series: seriesOption('--input (and --truth)'),
    upscale: { type: 'string', value: 'K', default: '1', doc: 'nearest-neighbour upsampling of the input by K first (a low-resolution image for super-resolution; the models were trained on mu = nearest upsampling)' },
    sampler: { type: 'string', value: 'NAME', default: 'mrs', doc: 'mrs, irsde-em, resshift, rddm or any sampler of "tweedie samplers"' },
    steps: stepsOption('sampler steps', '10'),
    param: paramOption('sampler'),
    seed: seedOption('image'),
    batch: batchOption('images', '64'),
    threads: threadsOption,
    truth: { type: 'string', value: 'FILE', doc: 'the clean images, to report PSNR/SSIM of the restoration and of the degraded input (the baseline)' },
    out: { type: 'string', value: 'FILE', doc: ".png (image grid), .npy [N, C, H, W] or, for a NIfTI or DICOM input, .nii/.nii.gz with its geometry or DIR/ (one .dcm for one image) for a derived DICOM series" },
    json: jsonOption('{"sampler", "steps", "n", "nfe", "seconds", "out", with --truth "psnr", "ssim", "baseline", "psnr_baseline", "ssim_baseline"}'),
  },
  async run({ values }) {
    const inputFile = values.input;
    if (!inputFile) fail('USAGE', 'restore needs --input degraded.(png|npy|nii.gz)');
    const out = checkOut(values.out);
    if ((isNifti(out) || isDicomOut(out)) && !isVolume(inputFile!)) fail('USAGE', `--out ${out}: NIfTI output keeps a NIfTI input's geometry (and DICOM output a NIfTI or DICOM input's); give a .nii/.nii.gz or DICOM --input or write .npy/.png`);
    const sampler = samplerByName(values.sampler);
    const params = checkedParams(sampler, values.param);
    const steps = stepsValue(values.steps);
    const seed = seedValue(values.seed);
    checkOutputs([{ option: '--out', file: isDicomOut(out) ? prepareVolumeOut('--out', out) : out }], [{ option: '--input', file: inputFile }, { option: '--truth', file: values.truth }, { option: '--model', file: values.model }]);
    const upscale = intOption(values.upscale, 'upscale');
    const batch = intOption(values.batch, 'batch');
    const threads = threadsValue(values.threads);
    if (values.volume !== undefined && !isNifti(inputFile!)) fail('USAGE', `--volume picks a volume of a 4-D NIfTI --input; ${inputFile} is not NIfTI: drop --volume`);
    const modelDir = values.model ?? join(packageRoot, 'weights', 'fmnist-irsde');
    const model = await loadModel(modelDir, () => fail('USAGE', 'restore needs a model folder'), undefined, threads);
    const range = model.valueRange;
    const input = await readImages(inputFile!, range, '--input', values.volume, values.series);
    if (input.volume && upscale > 1 && (isNifti(out) || isDicomOut(out))) fail('USAGE', `--upscale ${upscale} changes the slice size, so the output cannot keep ${inputFile}'s geometry; write .npy or .png`);
    const [count, channels, h, w] = input.x.shape as [number, number, number, number];
    checkItemCount(count, [channels, h * upscale, w * upscale], `--input ${inputFile}`, `use a smaller --upscale than ${upscale} (or fewer images)`);
    const degraded = upscaleBatch(input.x, upscale);
    // A model with a layout restores the input's own size (padded to its multiple and cropped back inside restore).
    const item = model.denoiser.layout ? degraded.shape.slice(1) : model.itemShape;
    if (degraded.shape[1] !== model.itemShape[0]) {
      fail('BAD_SHAPE', `--input ${inputFile} has ${degraded.shape[1]} channel${degraded.shape[1] === 1 ? '' : 's'} but ${modelDir} restores ${model.itemShape[0]}-channel images; convert the image (e.g. to grayscale)`);
    }
    const truth = values.truth ? (await readImages(values.truth, range, '--truth', values.volume, values.series)).x : null;
    if (truth && truth.shape.join(',') !== degraded.shape.join(',')) {
      fail('BAD_SHAPE', `--truth has shape [${truth.shape.join(', ')}] but the (upscaled) input is [${degraded.shape.join(', ')}]; give one clean image per degraded image`);
    }
    const progress = runProgress(sampler.name);
    const r = await restore({ model: model.denoiser, degraded, sampler, steps, params, seed, batch, onProgress: progress.report });
    progress.done();
    commitOutputs(restoredFiles(out, r.x, input, item, range, `tweedie restore ${sampler.name} ${steps} steps`));
    const n = degraded.batch;
    const summary: Record<string, unknown> = { sampler: sampler.name, steps, n, nfe: r.nfe, seconds: r.seconds, out };
    if (truth) {
      const span = range[1] - range[0];
      summary.psnr = meanOf(psnr(r.x, truth, span));
      summary.ssim = meanOf(ssim(r.x, truth, { dataRange: span }));
      summary.baseline = 'degraded input';
      summary.psnr_baseline = meanOf(psnr(degraded, truth, span));
      summary.ssim_baseline = meanOf(ssim(degraded, truth, { dataRange: span }));
    }
    if (values.json) return void printSummary(summary);
    const metrics = truth ? `; PSNR ${(summary.psnr_baseline as number).toFixed(2)} -> ${(summary.psnr as number).toFixed(2)} dB, SSIM ${(summary.ssim_baseline as number).toFixed(4)} -> ${(summary.ssim as number).toFixed(4)}` : '';
    process.stdout.write(`wrote ${out}: ${n} image${n > 1 ? 's' : ''}, ${sampler.name} ${steps} steps, NFE ${r.nfe}, ${r.seconds.toFixed(2)} s${metrics}\n`);
  },
});
