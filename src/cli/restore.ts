import { extname, join } from 'node:path';
import { fail } from '../core/errors.js';
import { isDicomOut, prepareVolumeOut } from '../io/volume-out-file.js';
import { psnr, ssim } from '../metrics/image.js';
import { restore } from '../recipes/restore.js';
import { upscaleBatch } from '../restoration/anchor.js';
import { samplerByName } from '../samplers/registry.js';
import { intOption, seedValue, stepsValue, threadsValue } from './args.js';
import { checkItemCount } from '../core/limits.js';
import { loadModel, type LoadedModel } from './model-spec.js';
import type { Tensor } from '../core/tensor.js';
import { boundaryNoise } from '../restoration/boundary-file.js';
import { chooseBoundary } from '../restoration/boundary.js';
import type { ParamValues, SamplerDef } from '../samplers/types.js';
import { command } from './options.js';
import { checkOutputs, commitOutputs } from './output.js';
import { imageOutFiles, isNifti, isVolumeInput, isVolumeOut, readImages, readVolumeInput, type ImageReadOptions } from './image-input.js';
import { checkImageFits, volumeSlices, type VolumeSlices } from '../volume/input-mapping.js';
import { readSplit } from '../volume/split-file.js';
import { volumeOutFiles } from '../io/volume-out-file.js';
import type { Volume } from '../io/volume.js';
import { checkedParams } from './params.js';
import { runProgress } from './progress.js';
import { printSummary } from './job-context.js';
import { parseSlices, seriesOption, slicesOption, volumeOption } from './volume-option.js';
import { batchOption, jsonOption, paramOption, seedOption, stepsOption, threadsOption } from './shared-options.js';
import { packageRoot } from '../package-root.js';

function checkOut(out: string | undefined): string {
  if (!out) return fail('USAGE', 'restore needs --out FILE.(png|npy|nii.gz)');
  if (!['.png', '.npy'].includes(extname(out).toLowerCase()) && !isVolumeOut(out)) fail('USAGE', `--out ${out}: use a .png, .npy, .nii or .nii.gz file name, or DIR/ (or .dcm) for DICOM`);
  return out;
}

/** The starting noise --boundary asks for (null: random starts), with the default's note on stderr. */
function boundaryStart(mode: string | undefined, model: LoadedModel, modelDir: string, sampler: SamplerDef, params: Partial<ParamValues>, steps: number, item: readonly number[]): Tensor | null {
  const { entry, note } = chooseBoundary(mode, model.boundaries, modelDir, '--boundary', sampler, params, steps, item);
  if (note) process.stderr.write(`note: ${note}\n`);
  return entry ? boundaryNoise(modelDir, entry) : null;
}

function meanOf(a: Float64Array): number {
  return a.reduce((p, q) => p + q, 0) / a.length;
}

/** The options restoreInputs reads. */
type RestoreInputValues = ImageReadOptions & { truth?: string | undefined; slices?: string | undefined };

/** A restore's inputs in the model's space: the degraded images, the clean ones (--truth), and for a volume its mapping. */
interface RestoreInputs {
  degraded: Tensor;
  truth: Tensor | null;
  volume: { vol: Volume; mapped: VolumeSlices } | null;
}

/**
 * --input (and --truth) through the one restoration mapping the app shares (src/volume/input-mapping.ts): a volume's
 * slices by the model-space path, a .png by its grey levels (the model's size, after --upscale), a .npy as stored.
 */
async function restoreInputs(inputFile: string, values: RestoreInputValues, model: LoadedModel, modelDir: string, upscale: number): Promise<RestoreInputs> {
  const range = model.valueRange;
  const mappingModel = { itemShape: model.itemShape, layout: model.denoiser.layout, valueRange: range };
  if (isVolumeInput(inputFile)) {
    if (upscale > 1) fail('USAGE', `--upscale ${upscale} is for a .npy or .png --input; ${inputFile}'s slices are mapped onto the model's grid by area averaging (any slice size from the model's up): drop --upscale`);
    if (values.truth && !isVolumeInput(values.truth)) fail('USAGE', `--truth ${values.truth}: a volume --input is compared with the clean volume on its grid; give a NIfTI or DICOM --truth`);
    const vol = await readVolumeInput(inputFile, '--input', values);
    const mapped = volumeSlices(vol, mappingModel, readSplit(modelDir, join(packageRoot, 'weights', 'brain-64', 'split.json')), parseSlices(values.slices), modelDir);
    const truth = values.truth ? mapped.sameWay(await readVolumeInput(values.truth, '--truth', values), `--truth ${values.truth}`) : null;
    return { degraded: mapped.x, truth, volume: { vol, mapped } };
  }
  if (values.slices !== undefined) fail('USAGE', `--slices picks slices of a volume; ${inputFile} is not NIfTI or DICOM: drop --slices`);
  const input = await readImages(inputFile, range, '--input', values);
  const [count, channels, h, w] = input.x.shape as [number, number, number, number];
  checkItemCount(count, [channels, h * upscale, w * upscale], `--input ${inputFile}`, `use a smaller --upscale than ${upscale} (or fewer images)`);
  const degraded = upscaleBatch(input.x, upscale);
  checkImageFits(mappingModel, degraded.shape, `--input ${inputFile}${upscale > 1 ? ` upscaled ${upscale}x` : ''}`, modelDir);
  const truth = values.truth ? (await readImages(values.truth, range, '--truth', values)).x : null;
  if (truth && truth.shape.join(',') !== degraded.shape.join(',')) {
    fail('BAD_SHAPE', `--truth has shape [${truth.shape.join(', ')}] but the (upscaled) input is [${degraded.shape.join(', ')}]; give one clean image per degraded image`);
  }
  return { degraded, truth, volume: null };
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
      doc: 'a restoration model folder (default weights/fmnist-irsde; also weights/fmnist-resshift, weights/fmnist-rddm, and for brain MRI weights/brain-irsde, weights/brain-resshift, weights/brain-rddm: 64x64 slices, or a volume of any slice size mapped onto them)',
    },
    input: {
      type: 'string', value: 'FILE',
      doc: ".npy [H, W], [C, H, W] or [N, C, H, W] in the model's value range (usually [-1, 1]); .png (8/16-bit grey, its grey levels mapped from [0, 1] to the value range; the model's size, or --upscale K to it); .nii/.nii.gz or DICOM (a file, or a folder of one series; each slice along the third axis is an image of any size, mapped onto the model's grid as tweedie reconstruct maps it: crop, area average, intensity by the split.json percentile rule, and back onto the input grid)",
    },
    volume: volumeOption('NIfTI --input (and --truth)'),
    slices: slicesOption,
    series: seriesOption('--input (and --truth)'),
    upscale: { type: 'string', value: 'K', default: '1', doc: 'nearest-neighbour upsampling of a .npy or .png input by K first (a low-resolution image for super-resolution; the models were trained on mu = nearest upsampling)' },
    sampler: { type: 'string', value: 'NAME', default: 'mrs', doc: 'mrs, irsde-em, resshift, rddm or any sampler of "tweedie samplers"' },
    steps: stepsOption('sampler steps', '10'),
    param: paramOption('sampler'),
    boundary: {
      type: 'string', value: 'optimal|random',
      doc: "the starting noise: 'optimal' is the model folder's shipped boundary condition (one noise for every image, selected by \"tweedie boundary\" for one sampler, its parameters, step count and image size; fixed-size images only), 'random' a fresh draw per image from --seed (default: optimal when the folder has one for this sampler, steps and size, else random)",
    },
    seed: seedOption('image'),
    batch: batchOption('images', '64'),
    threads: threadsOption,
    truth: { type: 'string', value: 'FILE', doc: 'the clean images (for a volume --input: the clean volume on its grid, mapped as the input is), to report PSNR/SSIM of the restoration and of the degraded input (the baseline)' },
    out: { type: 'string', value: 'FILE', doc: ".png (image grid), .npy [N, C, H, W] (for a volume: its restored slices in model space) or, for a NIfTI or DICOM input, .nii/.nii.gz on its grid, geometry and units (slices outside --slices and voxels outside the model's crop are 0) or DIR/ (one .dcm for one image) for a derived DICOM series" },
    json: jsonOption('{"sampler", "steps", "boundary", "n", for a volume "slices", "nfe", "seconds", "out", with --truth "figures_grid" ("model": a volume\'s slices in model space, "input": the input\'s own pixels; data range: the value range), "psnr", "ssim", "baseline", "psnr_baseline", "ssim_baseline"}'),
  },
  async run({ values }) {
    const inputFile = values.input;
    if (!inputFile) fail('USAGE', 'restore needs --input degraded.(png|npy|nii.gz)');
    const out = checkOut(values.out);
    if (isVolumeOut(out) && !isVolumeInput(inputFile!)) fail('USAGE', `--out ${out}: NIfTI output keeps a NIfTI input's geometry (and DICOM output a NIfTI or DICOM input's); give a .nii/.nii.gz or DICOM --input or write .npy/.png`);
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
    const { degraded, truth, volume } = await restoreInputs(inputFile!, values, model, modelDir, upscale);
    // A model with a layout restores the input's own size (padded to its multiple and cropped back inside restore).
    const item = model.denoiser.layout ? degraded.shape.slice(1) : model.itemShape;
    const start = boundaryStart(values.boundary, model, modelDir, sampler, params, steps, item);
    const progress = runProgress(sampler.name);
    const r = await restore({ model: model.denoiser, degraded, sampler, steps, params, seed, batch, ...(start ? { start } : {}), onProgress: progress.report });
    progress.done();
    const description = `tweedie restore ${sampler.name} ${steps} steps`;
    commitOutputs(volume && isVolumeOut(out) ? volumeOutFiles(out, volume.mapped.back(r.x, `restore(${inputFile})`), { like: volume.vol, source: volume.vol, description }) : imageOutFiles(out, r.x, undefined, item, range, description));
    const n = degraded.batch;
    const summary: Record<string, unknown> = { sampler: sampler.name, steps, boundary: start ? 'optimal' : 'random', n, ...(volume ? { slices: volume.mapped.slices } : {}), nfe: r.nfe, seconds: r.seconds, out };
    if (truth) {
      // On the grid the model restored: a volume's model-space slices ("model"), else the input's own pixels ("input").
      summary.figures_grid = volume?.mapped.grid ?? 'input';
      const span = range[1] - range[0];
      summary.psnr = meanOf(psnr(r.x, truth, span));
      summary.ssim = meanOf(ssim(r.x, truth, { dataRange: span }));
      summary.baseline = 'degraded input';
      summary.psnr_baseline = meanOf(psnr(degraded, truth, span));
      summary.ssim_baseline = meanOf(ssim(degraded, truth, { dataRange: span }));
    }
    if (values.json) return void printSummary(summary);
    const metrics = truth ? `; PSNR ${(summary.psnr_baseline as number).toFixed(2)} -> ${(summary.psnr as number).toFixed(2)} dB, SSIM ${(summary.ssim_baseline as number).toFixed(4)} -> ${(summary.ssim as number).toFixed(4)} ${summary.figures_grid === 'model' ? 'in model space' : 'on the input grid'}` : '';
    process.stdout.write(`wrote ${out}: ${n} image${n > 1 ? 's' : ''}, ${sampler.name} ${steps} steps, ${summary.boundary} boundary, NFE ${r.nfe}, ${r.seconds.toFixed(2)} s${metrics}\n`);
  },
});
