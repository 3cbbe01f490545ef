import { fail } from '../core/errors.js';
import { kspaceFigures, reconstructFigures, type Figures } from './figures.js';
import { Tensor } from '../core/tensor.js';
import { buildOperator, operatorConfigFromSpec } from '../inverse/operators/registry.js';
import type { Volume } from '../io/volume.js';
import { psnr, ssim } from '../metrics/image.js';
import type { OrtDenoiser } from '../models/ort-denoiser.js';
import { restore } from '../recipes/restore.js';
import type { BoundarySpec } from '../models/boundary-spec.js';
import { chooseBoundary } from '../restoration/boundary.js';
import { samplerByName } from '../samplers/registry.js';
import { degradedAnchor, isRestorationModel } from '../restoration/anchor.js';
import { chunkSolverFor } from '../volume/chunk-solver.js';
import { inProcessPool } from '../volume/job-pool.js';
import type { SplitJson } from '../volume/model-space.js';
import { operatorConfig, reconstructVolumeIn, type ReconstructOptions } from '../volume/reconstruct-core.js';
import { greyImageSlices, volumeSlices } from '../volume/input-mapping.js';
import { fastmriFromSlices, type FastmriSlices } from '../io/fastmri-slices.js';
import { kspaceVolume, reconstructKspace } from '../volume/kspace-file.js';

/**
 * The web app's tasks on a volume, as a page's Web Worker runs them (web/worker.js) with a model loaded by
 * onnxruntime-web: MRI and CT reconstruction through the same code as `tweedie reconstruct`
 * (src/volume/reconstruct-core.ts, all batches in this thread), MRI from raw multi-coil k-space (a fastMRI file)
 * through the same code as `tweedie reconstruct --measurement FILE.h5` (src/volume/kspace-file.ts), and restoration (denoise, super-resolve, deblur)
 * of a volume's slices or a PNG mapped as `tweedie restore` maps them (src/volume/input-mapping.ts).
 */

export type AppTask = 'mri' | 'ct' | 'restore' | 'kspace';

export interface TaskRequest {
  task: AppTask;
  /** The model folder's name, for messages (e.g. weights/brain-64). */
  modelName: string;
  volume: Volume;
  /** Slices [A, B) along the third axis. */
  slices: [number, number];
  steps: number;
  seed: number;
  /** kspace: the slices [A, B) of the fastMRI file (`volume` is then its acquired images, src/volume/kspace-file.ts). */
  kspace?: FastmriSlices;
  /** mri: acceleration and mask (equispaced, random, poisson); kspace: those of a fully sampled file (equispaced, random). */
  accel?: number;
  mask?: string;
  /** ct: views over 180 degrees. */
  views?: number;
  /** restore: the degradation's operator spec (the model's tasks.json), simulated from the volume when `simulate`. */
  operator?: string;
  simulate?: boolean;
  /** restore: the volume is a PNG opened as grey levels (imageVolume) with this many colour channels; it is mapped as `tweedie restore` maps a PNG. */
  image?: { channels: number };
  /** restore: the starting noise, as `tweedie restore --boundary` takes it (absent: the model's optimal boundary when it has one for these settings, else random). */
  boundary?: 'optimal' | 'random';
}

export interface TaskResult {
  /** The result on the input's grid and in its intensity units. */
  volume: Volume;
  /** Where the figures were measured and against what; null without a reference. */
  figures: Figures | null;
  label: string;
  nfe: number;
  seconds: number;
}

/** The model and the files the task reads, already fetched. */
export interface TaskInputs {
  model: OrtDenoiser;
  /** split.json of the prior (the model's, else weights/brain-64's), or null. */
  split: SplitJson | null;
  /** kspace: the prior's 99.5th percentile in model units (priorPercentile of its heldout.npy). */
  percentile?: number;
  /** restore: a boundary's noise file (tweedie.json "boundary"), fetched from the model folder. */
  boundaryNoise: (b: BoundarySpec) => Promise<Tensor>;
  onProgress: (done: number, total: number) => void;
}

/** A wrong kind of model is refused in words a user knows before any work. */
function checkModelKind(task: AppTask, modelName: string, restoration: boolean): void {
  if (task === 'restore' && !restoration) fail('USAGE', `${modelName} is a prior for reconstruction, not a restoration model; pick brain-irsde, brain-resshift or brain-rddm to denoise, super-resolve or deblur`);
  if (task !== 'restore' && restoration) fail('USAGE', `${modelName} is a restoration model; MRI and CT reconstruction need a prior such as brain-64`);
}

export async function runTask(r: TaskRequest, io: TaskInputs): Promise<TaskResult> {
  checkModelKind(r.task, r.modelName, isRestorationModel(io.model));
  return r.task === 'restore' ? restoreSlices(r, io) : r.task === 'kspace' ? kspaceSlices(r, io) : reconstructSlices(r, io);
}

/** Raw k-space with the CLI's defaults (dds, ESPIRiT maps, noise 0.01); the result holds every slice of the file, 0 outside [A, B). */
async function kspaceSlices(r: TaskRequest, io: TaskInputs): Promise<TaskResult> {
  if (!r.kspace) fail('USAGE', 'open a fastMRI .h5 file first');
  const file = fastmriFromSlices(r.kspace!);
  const res = await reconstructKspace(file, io.model, {
    slices: r.slices, ...(r.accel !== undefined ? { accel: r.accel, mask: (r.mask ?? 'equispaced') as 'equispaced' | 'random' } : {}),
    solver: 'dds', steps: r.steps, seed: r.seed, modelPercentile: io.percentile ?? 1, onProgress: io.onProgress,
  });
  const m = res.grid.outRows * res.grid.outCols, all = new Float32Array(file.slices * m);
  all.set(res.image, res.slices[0] * m);
  const figures = kspaceFigures({ ...res, reference: res.referenceSource });
  return { volume: kspaceVolume(all, file.slices, res.grid, `tweedie ${res.solver} coil-combined`), figures, label: `${res.operator}, ${res.solver} ${res.steps} steps, maps ${res.maps}`, nfe: res.nfe, seconds: res.seconds };
}

async function reconstructSlices(r: TaskRequest, io: TaskInputs): Promise<TaskResult> {
  const o: ReconstructOptions = {
    modelDir: r.modelName, modality: r.task === 'ct' ? 'ct' : 'mri', solver: r.task === 'ct' ? 'dds' : 'ddnm', steps: r.steps, seed: r.seed, slices: r.slices,
    ...(r.task === 'mri' ? { acceleration: r.accel ?? 4, mask: r.mask ?? 'equispaced' } : { views: r.views ?? 30 }),
    onProgress: (done, total) => io.onProgress(done, total),
  };
  const res = await reconstructVolumeIn({
    prior: io.model.spec, split: io.split, operatorConfig, workers: 1, open: inProcessPool,
    // The page keeps its model between runs: the pool's release leaves the session open.
    runner: async (ctx) => ({ ...chunkSolverFor(io.model, ctx), release: async () => {} }),
  }, r.volume, o);
  return {
    volume: res.volume, label: `${res.operator}, ${res.solver} ${res.steps} steps`, nfe: res.nfe, seconds: res.seconds,
    figures: reconstructFigures(res),
  };
}

/**
 * Restore slices A..B-1 mapped as `tweedie restore` maps its input (src/volume/input-mapping.ts: a volume by the
 * model-space path, a PNG by its grey levels); with `simulate`, from the degradation of the input itself (the reference).
 */
async function restoreSlices(r: TaskRequest, io: TaskInputs): Promise<TaskResult> {
  const t0 = performance.now();
  const model = { itemShape: io.model.itemShape, layout: io.model.layout, valueRange: io.model.spec.valueRange };
  const input = r.image ? greyImageSlices(r.volume, r.image.channels, model, r.modelName) : volumeSlices(r.volume, model, io.split, r.slices, r.modelName);
  const clean = input.x, item = clean.shape.slice(1);
  let degraded = clean;
  if (r.simulate) {
    if (!r.operator) fail('USAGE', 'pick a degradation to simulate');
    degraded = degradedAnchor(buildOperator(operatorConfigFromSpec(r.operator!, item), item, r.operator), clean, r.seed);
  }
  // The CLI's default sampler (mrs at its defaults) and the CLI's choice of starting noise.
  const sampler = samplerByName('mrs');
  const { entry, note } = chooseBoundary(r.boundary, io.model.spec.boundaries, r.modelName, 'starting noise', sampler, {}, r.steps, item);
  const start = entry ? await io.boundaryNoise(entry) : null;
  const res = await restore({ model: io.model, degraded, sampler, steps: r.steps, seed: r.seed, ...(start ? { start } : {}), onProgress: (p) => io.onProgress(p.done, p.total) });
  const [lo, hi] = model.valueRange;
  const x = new Tensor(res.x.shape, res.x.data.map((v) => Math.min(hi, Math.max(lo, v))));
  const L = hi - lo, mean = (a: Float64Array) => a.reduce((s, v) => s + v, 0) / a.length;
  const where = input.grid === 'model' ? `the input in model space (${item[1]} x ${item[2]}, range ${L})` : `the input on its grid (range ${L} in model units)`;
  const figures = r.simulate
    ? { psnr: mean(psnr(x, clean, L)), ssim: mean(ssim(x, clean, { dataRange: L })), psnr_baseline: mean(psnr(degraded, clean, L)), ssim_baseline: mean(ssim(degraded, clean, { dataRange: L })), baseline: 'degraded input', grid: `${where}, mean over slices` }
    : null;
  return { volume: input.back(x, `restore(${r.volume.source ?? 'volume'})`), figures, label: `${r.simulate ? `${r.operator}, ` : ''}restored with ${r.modelName}, ${r.steps} steps, ${note ?? `${start ? 'optimal' : 'random'} boundary`}`, nfe: res.nfe, seconds: (performance.now() - t0) / 1000 };
}
