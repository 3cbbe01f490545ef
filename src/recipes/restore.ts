import { fail } from '../core/errors.js';
import type { Tensor } from '../core/tensor.js';
import type { Denoiser } from '../models/denoiser.js';
import { cropItems, padItems, requireModelGrid } from '../models/layout.js';
import { isRestorationModel } from '../restoration/anchor.js';
import { samplerByName } from '../samplers/registry.js';
import { initialState, runSampler } from '../samplers/run.js';
import type { ParamValues, SamplerDef } from '../samplers/types.js';
import { runGrid, startNoise } from '../samplers/start.js';
import { runInBatches, type RunControl } from './batches.js';
import type { RunResult } from '../samplers/method.js';

export interface RestoreOptions extends RunControl {
  /** A restoration model: its path carries the degraded image as anchor (IR-SDE, ResShift, RDDM). */
  model: Denoiser;
  /**
   * Degraded images [N, ...itemShape] in the model's value range; for a model with a layout (tweedie.json "multiple")
   * any H x W: padded with the model's background to the multiple, restored, and cropped back.
   */
  degraded: Tensor;
  /** A sampler by name or definition; default 'mrs' (the MR sampler). */
  sampler?: string | SamplerDef;
  /** Sampler steps (default 10). */
  steps?: number;
  params?: Partial<ParamValues>;
  /**
   * One starting noise [...item] (standard normal scale) shared by every image: a model's optimal boundary condition
   * (src/restoration/boundary.ts). Absent: each image draws its own from (seed, firstSample + i).
   */
  start?: Tensor;
}

/**
 * Restore degraded images with a restoration model: the degraded image is the anchor mu of the path
 * x_t = a x0 + b mu + s eps and the model's conditioning input; sampling starts at mu + s(T) noise and
 * runs the sampler's grid to t = 0. `await restore({ model, degraded, steps: 10 })` returns `{ x, nfe, ... }`.
 */
export async function restore(o: RestoreOptions): Promise<RunResult> {
  const { model } = o;
  if (!isRestorationModel(model)) {
    fail('USAGE', `this model's path (${model.path.describe()}) has no anchor, so it is not a restoration model; use a mean-reverting or residual-shifting model (e.g. weights/fmnist-irsde), or "tweedie solve" for an unconditional prior`);
  }
  const got = o.degraded.shape.slice(1);
  const item = model.layout ? requireModelGrid(model, got, 'the degraded images') : model.itemShape ?? got;
  if (!model.layout && got.join(',') !== item.join(',')) {
    fail('BAD_SHAPE', `the degraded images are [${got.join(', ')}] but the model restores [${item.join(', ')}]; resize the input (for super-resolution, --upscale the low-resolution image to the model's size)`);
  }
  const degraded = got.join(',') === item.join(',') ? o.degraded : padItems(o.degraded, item, model.layout!.background);
  if (!degraded.data.every(Number.isFinite)) fail('BAD_INPUT', 'the degraded image holds NaN or infinite values');
  if (o.start && o.start.shape.join(',') !== item.join(',')) {
    fail('BAD_SHAPE', `the starting noise is [${o.start.shape.join(', ')}] but the images are restored at [${item.join(', ')}]; use a boundary selected at this size, or random starts`);
  }
  const sampler = typeof o.sampler === 'object' ? o.sampler : samplerByName(o.sampler ?? 'mrs');
  const seed = o.seed ?? 0, first = o.firstSample ?? 0;
  const grid = runGrid(model.path, o.steps ?? 10);
  const r = await runInBatches(degraded.batch, item, grid.length - 1, o, async (start, end, source, onStep) => {
    const mu = degraded.sliceBatch(start, end);
    return runSampler(sampler, model, grid, initialState(o.start ? o.start.tile(end - start, item, degraded.dtype) : startNoise(seed, first, start, end, item, degraded.dtype), grid[0]!, mu), {
      noise: source,
      cond: { anchor: mu },
      ...(o.params ? { params: o.params } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
      onStep: (info) => onStep(info),
    });
  }, degraded.dtype);
  return degraded === o.degraded ? r : { ...r, x: cropItems(r.x, got) };
}

