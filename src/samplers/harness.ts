import { fail } from '../core/errors.js';
import { NoiseSource } from '../core/rng.js';
import type { Tensor } from '../core/tensor.js';
import type { Denoiser } from '../models/denoiser.js';
import { ModelFn, type ModelFnOptions } from '../models/model-fn.js';
import type { TimeGrid } from '../paths/grids.js';
import { resolveParams, type ParamSpecs, type ParamsOf, type ReportStep, type RunOptions, type RunResult } from './method.js';

/** The model a run gets: always one for a denoiser, possibly none for solvers without a prior. */
export type ModelFor<D extends Denoiser | null> = D extends Denoiser ? ModelFn : ModelFn | null;

/** What the harness hands a run: the model (NFE counted), checked params, the noise and the step report. */
export interface Harness<P extends ParamSpecs, D extends Denoiser | null> {
  fn: ModelFor<D>;
  params: ParamsOf<P>;
  noise: NoiseSource;
  report: ReportStep;
}

/**
 * The run harness of samplers and solvers: resolves the params, wraps the denoiser in a ModelFn
 * (options `model` besides the caller name and abort signal), builds the report hook (cancellation,
 * onStep with the uncentered state), and times the run. `body` returns the final state.
 */
export async function runMethod<P extends ParamSpecs, D extends Denoiser | null>(
  def: { name: string; params: P },
  denoiser: D,
  grid: TimeGrid,
  options: RunOptions,
  model: Omit<ModelFnOptions, 'caller' | 'signal'>,
  body: (h: Harness<P, D>) => Promise<Tensor>,
): Promise<RunResult> {
  const start = performance.now();
  const params = resolveParams(def, options.params);
  const fn = denoiser ? new ModelFn(denoiser, { caller: def.name, ...(options.signal ? { signal: options.signal } : {}), ...model }) : null;
  const steps = Math.max(0, grid.length - 1);
  const onStep = options.onStep;
  const x = await body({
    // ModelFor<D> is ModelFn exactly when D is a Denoiser, which is when fn is not null.
    fn: fn as ModelFor<D>,
    params,
    noise: options.noise ?? new NoiseSource(0),
    async report(step, pointIndex, zs, x0, at) {
      if (fn) fn.step = step;
      if (options.signal?.aborted) fail('ABORTED', `${def.name} was cancelled after step ${step}`);
      const p = at ?? grid[pointIndex];
      if (onStep) await onStep({ sampler: def.name, step, steps: Math.max(steps, step), t: p?.t ?? 0, x: fn && p ? fn.uncenter(zs, p.b) : zs, x0, nfe: fn?.nfe ?? 0 });
    },
  });
  return { x, nfe: fn?.nfe ?? 0, steps, seconds: (performance.now() - start) / 1000 };
}
