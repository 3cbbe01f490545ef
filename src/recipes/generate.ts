import { fail } from '../core/errors.js';
import { Tensor } from '../core/tensor.js';
import { cropItems, requireModelGrid } from '../models/layout.js';
import type { PredictionType } from '../models/prediction.js';
import type { GridKind, TimeGrid } from '../paths/grids.js';
import type { Path } from '../paths/path.js';
import { samplerByName } from '../samplers/registry.js';
import { initialState, runSampler } from '../samplers/run.js';
import type { ParamValues, SamplerDef } from '../samplers/types.js';
import { runGrid, startNoise } from '../samplers/start.js';
import { priorDenoiser, runInBatches, type Prior, type RunControl } from './batches.js';
import { conditionedModel, type ConditionOptions } from './condition.js';
import type { RunResult } from '../samplers/method.js';

export interface GenerateOptions extends RunControl, ConditionOptions {
  /** Any Denoiser (an ONNX model folder, an analytic model), or a Gaussian mixture with `path`. */
  model: Prior;
  /** For a Gaussian mixture: the path it follows (a Path or a name, e.g. 'vp-linear') and what it predicts (default x0). */
  path?: Path | string;
  prediction?: PredictionType;
  /** A sampler by name (see `tweedie samplers`) or definition; default 'ddim'. */
  sampler?: string | SamplerDef;
  /** Sampler steps (default 20). */
  steps?: number;
  /** A grid kind, or explicit grid points from noise to data; default the path's own. */
  grid?: GridKind | TimeGrid;
  /** The sampler's own options, e.g. { eta: 1 }. */
  params?: Partial<ParamValues>;
  /** Number of samples (default 1). */
  n?: number;
  /**
   * Item shape for a model with a layout (tweedie.json "multiple"; default its "shape"): any H x W, drawn on the
   * grid padded to the multiple and cropped back. A fixed-size model takes only its own shape.
   */
  shape?: readonly number[];
  /** Standard normal starting noise [n, ...item] instead of the seeded one (the CLI's --init). */
  noise?: Tensor;
  /** Scale the starting noise by this factor (a diffusers config's init_noise_sigma) instead of by the path. */
  initScale?: number;
  thresholding?: { ratio: number; maxValue: number } | null;
  clipSample?: number | null;
  /** diffusers' DDIM pairing of the clipped x0 with the model's own eps (a DDIM config read with its quirks). */
  keepModelEps?: boolean;
}

/**
 * Draw n samples with a training-free sampler: e.g.
 * `await generate({ model, sampler: 'dpm-solver++', steps: 10, seed: 1, n: 4 })` returns `{ x, nfe, ... }`.
 */
export async function generate(o: GenerateOptions): Promise<RunResult> {
  const denoiser = priorDenoiser(o.model, o.path, o.prediction);
  const sampler = typeof o.sampler === 'object' ? o.sampler : samplerByName(o.sampler ?? 'ddim');
  const n = o.n ?? o.noise?.batch ?? 1, steps = o.steps ?? 20, seed = o.seed ?? 0, first = o.firstSample ?? 0;
  const item = o.shape ? requireModelGrid(denoiser, o.shape, 'shape') : denoiser.itemShape ?? o.noise?.shape.slice(1);
  if (!item) return fail('USAGE', 'this model does not fix its item shape; give the starting noise [n, ...item] as `noise`');
  const size = item.reduce((p, q) => p * q, 1);
  if (o.noise && o.noise.size !== n * size) {
    fail('BAD_SHAPE', `the starting noise has shape [${o.noise.shape.join(', ')}] but ${n} samples of shape [${item.join(', ')}] need ${n * size} values`);
  }
  const noise = o.noise?.reshape([n, ...item]).toDtype('float32');
  const model = conditionedModel(denoiser, o, n);
  const grid = runGrid(denoiser.path, steps, o.grid, 'sample');
  const ordered = sampler.inverse ? [...grid].reverse() : grid;
  const r = await runInBatches(n, item, ordered.length - 1, o, async (start, end, source, onStep) => {
    const chunk = noise ? noise.sliceBatch(start, end) : startNoise(seed, first, start, end, item);
    const xT = o.initScale === undefined ? initialState(chunk, ordered[0]!) : new Tensor(chunk.shape, chunk.data.map((v) => v * o.initScale!));
    return runSampler(sampler, model(start, end), ordered, xT, {
      noise: source,
      ...(o.params ? { params: o.params } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
      ...(o.thresholding ? { thresholding: o.thresholding } : {}),
      ...(o.clipSample ? { clipSample: o.clipSample } : {}),
      ...(o.keepModelEps ? { keepModelEps: true } : {}),
      onStep: (info) => onStep(info),
    });
  });
  return o.shape && item.join(',') !== o.shape.join(',') ? { ...r, x: cropItems(r.x, o.shape) } : r;
}
