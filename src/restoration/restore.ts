import { fail } from '../core/errors.js';
import { NoiseSource, Stream } from '../core/rng.js';
import { Tensor } from '../core/tensor.js';
import { upscaleNearest } from '../io/grid.js';
import type { Operator } from '../inverse/operators/operator.js';
import type { Denoiser } from '../models/denoiser.js';
import { defaultGridSpec, makeGrid } from '../paths/grids.js';
import { initialState, runSampler } from '../samplers/run.js';
import type { ParamValues, SamplerDef } from '../samplers/types.js';

export interface RestoreOptions {
  sampler: SamplerDef;
  steps: number;
  params?: Partial<ParamValues>;
  /** Noise seed; image i depends only on (seed, i), whatever the batch size. */
  seed?: number;
  /** Images per model call (default 64). */
  batch?: number;
  /** Called after each sampler step with the number of steps done over all batches. */
  onStep?: (done: number) => void;
  signal?: AbortSignal;
}

export interface RestoreResult {
  x: Tensor;
  nfe: number;
  seconds: number;
}

/** True when the model's path carries an anchor (b(t) != 0 somewhere): a restoration model. */
export function isRestorationModel(denoiser: Denoiser): boolean {
  const p = denoiser.path;
  return p.b(p.tMax) !== 0;
}

/**
 * Restore degraded images [N, ...itemShape] with a restoration model (IR-SDE, ResShift, ...): the
 * degraded image is the anchor mu of the path x_t = a x0 + b mu + s eps and the model's conditioning
 * input; sampling starts at mu + s(T) noise and runs the sampler's grid to t = 0.
 */
export async function restore(denoiser: Denoiser, degraded: Tensor, opts: RestoreOptions): Promise<RestoreResult> {
  if (!isRestorationModel(denoiser)) {
    fail('USAGE', `this model's path (${denoiser.path.describe()}) has no anchor, so it is not a restoration model; use a mean-reverting or residual-shifting model (e.g. weights/fmnist-irsde), or "tweedie solve" for an unconditional prior`);
  }
  const item = denoiser.itemShape;
  const got = degraded.shape.slice(1);
  if (item && got.join(',') !== item.join(',')) {
    fail('BAD_SHAPE', `the degraded images are [${got.join(', ')}] but the model restores [${item.join(', ')}]; resize the input (for super-resolution, --upscale the low-resolution image to the model's size)`);
  }
  if (!degraded.data.every(Number.isFinite)) fail('BAD_INPUT', 'the degraded image holds NaN or infinite values');
  const n = degraded.batch, batch = opts.batch ?? 64, seed = opts.seed ?? 0;
  const grid = makeGrid(denoiser.path, defaultGridSpec(denoiser.path, opts.steps));
  const noise = new NoiseSource(seed).normal(degraded.shape, 0, Stream.init, degraded.dtype);
  const out = degraded.zerosLike();
  let nfe = 0, done = 0;
  const t0 = performance.now();
  for (let start = 0; start < n; start += batch) {
    const end = Math.min(n, start + batch);
    const mu = degraded.sliceBatch(start, end);
    const r = await runSampler(opts.sampler, denoiser, grid, initialState(noise.sliceBatch(start, end), grid[0]!, mu), {
      noise: new NoiseSource(seed, start),
      cond: { anchor: mu },
      ...(opts.params ? { params: opts.params } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
      onStep: (info) => opts.onStep?.(done + info.step),
    });
    done += grid.length - 1;
    nfe += r.nfe;
    out.data.set(r.x.data, start * out.itemSize);
  }
  return { x: out, nfe, seconds: (performance.now() - t0) / 1000 };
}

/** Nearest-neighbour upsampling of [N, C, H, W] by an integer factor (the pseudo-inverse of average pooling). */
export function upscaleBatch(x: Tensor, factor: number): Tensor {
  if (!(Number.isInteger(factor) && factor >= 1)) fail('USAGE', `--upscale ${factor}: use an integer factor >= 1, e.g. --upscale 4`);
  if (factor === 1) return x;
  const [n, c, h, w] = x.shape as [number, number, number, number];
  return upscaleNearest(x.reshape([n * c, h, w]), factor).reshape([n, c, h * factor, w * factor]);
}

/**
 * The restoration models' degraded input mu for clean images x [N, ...] under an operator spec
 * (e.g. "sr:factor=4,noise=0.01"): y = A x + noise, and mu = y when A keeps the image size
 * (denoising, deblurring) or mu = A^+ y otherwise (nearest upsampling for average-pooling SR).
 */
export function degradedAnchor(op: Operator, x: Tensor, seed: number): Tensor {
  const y = op.measure(x, new NoiseSource(seed));
  if (op.outShape.join(',') === op.inShape.join(',')) return y;
  if (!op.pinv) fail('UNSUPPORTED', `${op.name} changes the image size and has no pseudo-inverse to bring y back to the model's grid`);
  return op.pinv(y);
}
