import { fail } from '../core/errors.js';
import { checkItemCount } from '../core/limits.js';
import { NoiseSource } from '../core/rng.js';
import { Tensor } from '../core/tensor.js';
import type { Denoiser } from '../models/denoiser.js';
import { GaussianMixture } from '../models/gmm.js';
import type { PredictionType } from '../models/prediction.js';
import type { RunResult } from '../samplers/method.js';
import type { Path } from '../paths/path.js';
import { pathByName } from '../paths/registry.js';

/**
 * What every recipe (generate, solve, restore) shares: the seed, the batch size, cancellation and
 * progress. The recipes alone split a run into batches and seed it, and they keep one promise: item i
 * of a run depends only on (seed, firstSample + i), whatever the batch size.
 */
export interface RunControl {
  /** Noise seed (default 0). */
  seed?: number;
  /** Items per model call (default 64); results do not depend on it. */
  batch?: number;
  /** Global index of the first item (default 0): a run split over processes keeps each item's noise. */
  firstSample?: number;
  signal?: AbortSignal;
  /** Called after every sampler step of every batch. */
  onProgress?: (p: RunProgress) => void | Promise<void>;
}

export interface RunProgress {
  /** Steps done over all batches, and their total (batches x steps). */
  done: number;
  total: number;
  /** Items [start, end) of the batch being run, and its step. */
  items: [number, number];
  step: number;
  steps: number;
  /** Model evaluations so far over all batches. */
  nfe: number;
  /** The current state and the latest x0 estimate of the batch (for previews). */
  x: Tensor;
  x0: Tensor | null;
}

/** A step report of one batch, as the sampler and solver harnesses give it. */
export interface BatchStep {
  step: number;
  x: Tensor;
  x0: Tensor | null;
  nfe: number;
}

/** One batch of a run: items [start, end) with their noise source, reporting each step. */
export type BatchRunner = (start: number, end: number, noise: NoiseSource, onStep: (s: BatchStep) => Promise<void>) => Promise<{ x: Tensor; nfe: number }>;

function positiveInt(v: number, name: string): number {
  if (!Number.isSafeInteger(v) || v < 1) fail('USAGE', `${name} must be an integer >= 1, got ${v}`);
  return v;
}

/**
 * Run n items in batches of `control.batch` (default 64): batch [start, end) gets the noise of
 * samples firstSample + start.. and its results land at rows start..end of the output.
 */
export async function runInBatches(n: number, itemShape: readonly number[], steps: number, control: RunControl, runBatch: BatchRunner, dtype: 'float32' | 'float64' = 'float32'): Promise<RunResult> {
  const t0 = performance.now();
  positiveInt(n, 'n');
  checkItemCount(n, itemShape, 'n');
  const batch = positiveInt(control.batch ?? 64, 'batch');
  const seed = control.seed ?? 0, first = control.firstSample ?? 0;
  const batches = Math.ceil(n / batch), total = batches * steps;
  const out = Tensor.zeros([n, ...itemShape], dtype);
  let nfe = 0;
  for (let b = 0, start = 0; start < n; b++, start += batch) {
    const end = Math.min(n, start + batch);
    if (control.signal?.aborted) fail('ABORTED', `the run was cancelled before items ${start}..${end - 1}`);
    const r = await runBatch(start, end, new NoiseSource(seed, first + start), async (s) => {
      await control.onProgress?.({ done: b * steps + s.step, total, items: [start, end], step: s.step, steps, nfe: nfe + s.nfe, x: s.x, x0: s.x0 });
    });
    nfe += r.nfe;
    out.data.set(r.x.data, start * out.itemSize);
  }
  return { x: out, nfe, steps, seconds: (performance.now() - t0) / 1000 };
}

/** A prior given to a recipe: any Denoiser, or a Gaussian mixture with the path it should follow. */
export type Prior = Denoiser | GaussianMixture;

/** The denoiser of a prior: a mixture follows `path` (a Path or a name such as 'vp-linear') and reports `prediction`. */
export function priorDenoiser(model: Prior, path?: Path | string, prediction: PredictionType = 'x0'): Denoiser {
  if (model instanceof GaussianMixture) {
    if (path === undefined) fail('USAGE', 'a Gaussian-mixture prior follows any path: give one, e.g. path: "vp-linear"');
    return model.asDenoiser(typeof path === 'string' ? pathByName(path) : path, prediction);
  }
  if (path !== undefined) fail('USAGE', 'this model brings its own path (from its scheduler_config.json); drop the path option');
  return model;
}
