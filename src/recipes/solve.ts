import { fail } from '../core/errors.js';
import { NoiseSource } from '../core/rng.js';
import { Tensor } from '../core/tensor.js';
import type { Operator } from '../inverse/operators/operator.js';
import type { Denoiser } from '../models/denoiser.js';
import { solverByName } from '../inverse/solvers/registry.js';
import { runSolver } from '../inverse/solvers/run.js';
import type { SolveResult, SolverDef } from '../inverse/solvers/types.js';
import { gradientRouteOf, withGradientRoute, type GradientChoice } from '../models/derivatives.js';
import { cropItems, requireModelGrid, takesItems } from '../models/layout.js';
import type { PredictionType } from '../models/prediction.js';
import { PaddedOperator } from '../inverse/operators/padded.js';
import type { GridKind, TimeGrid } from '../paths/grids.js';
import type { Path } from '../paths/path.js';
import { initialState } from '../samplers/run.js';
import type { ParamValues } from '../samplers/types.js';
import { runGrid, startNoise } from '../samplers/start.js';
import { priorDenoiser, runInBatches, type Prior, type RunControl } from './batches.js';
import { conditionedModel, type ConditionOptions } from './condition.js';

export interface SolveOptions extends RunControl, ConditionOptions {
  /** The diffusion prior (any Denoiser, or a Gaussian mixture with `path`); omit it for the baselines. */
  model?: Prior | null;
  path?: Path | string;
  prediction?: PredictionType;
  /**
   * The forward operator A of y = A x + noise. For a model with a layout (tweedie.json "multiple") its input may
   * be any H x W: the problem is solved on the grid padded to the multiple (the border unobserved) and cropped back.
   */
  operator: Operator;
  /** One measurement (broadcast to every sample) or one per sample [n, ...outShape]. */
  measurement: Tensor;
  /** A posterior solver or baseline by name (see `tweedie solvers`) or definition; default 'dds'. */
  solver?: string | SolverDef;
  /** Diffusion steps (default 50). */
  steps?: number;
  grid?: GridKind | TimeGrid;
  params?: Partial<ParamValues>;
  /** Override the operator's noise level in the data term. */
  sigmaY?: number;
  /** Posterior samples (default 1; for a particle solver the ensemble size, default 64, run as one batch). */
  n?: number;
  /** How gradient solvers (dps, pigdm) differentiate the model: 'auto' (default), 'exact', 'exported' or 'differences'. */
  gradient?: GradientChoice;
}

/** y = A x + noise for a ground truth x [1, ...] or [...]: the measurement noise of `seed` (sample 0). */
export function simulateMeasurement(op: Operator, truth: Tensor, seed = 0): Tensor {
  return op.measure(truth.reshape([1, ...op.inShape]), new NoiseSource(seed));
}

/**
 * Sample the posterior of x given y = A x + noise under a diffusion prior (or run a baseline):
 * `await solve({ model, operator, measurement: y, solver: 'diffpir', steps: 50 })` returns `{ x, nfe, ... }`.
 */
export async function solve(o: SolveOptions): Promise<SolveResult> {
  const solver = typeof o.solver === 'object' ? o.solver : solverByName(o.solver ?? 'dds');
  const prior = o.model ? priorDenoiser(o.model, o.path, o.prediction) : null;
  if (!prior && !solver.needs.noPrior) fail('USAGE', `solver ${solver.name} needs a diffusion prior (model)`);
  // The route is chosen (or refused) once, before any batch runs.
  const denoiser = prior && solver.needs.gradients ? withGradientRoute(prior, o.gradient ?? 'auto', o.modelName) : prior;
  const gradient = denoiser && solver.needs.gradients ? gradientRouteOf(denoiser) : null;
  const op = onModelGrid(o.operator, prior), item = op.inShape, outSize = op.outShape.reduce((p, q) => p * q, 1);
  const n = o.n ?? (solver.needs.particles ? 64 : 1);
  if (solver.needs.particles && n < 2) fail('USAGE', `${solver.name} is a particle method: n is the ensemble size and must be at least 2 (64 or more is usual)`);
  // One measurement per sample is split with the batches; one for all (or a wrong size) goes to runSolver, which broadcasts (or refuses) it.
  const perSample = o.measurement.size === n * outSize && n > 1;
  const seed = o.seed ?? 0, first = o.firstSample ?? 0;
  const grid = denoiser ? runGrid(denoiser.path, o.steps ?? 50, o.grid) : [];
  // cond-dc builds the model's condition from the measurement (runSolver binds it per batch): nothing to bind here.
  if (solver.needs.zeroFilledCondition && (Object.keys(o.condition ?? {}).length || o.guidance)) fail('USAGE', `solver ${solver.name} builds the model's condition from the measurement (its zero-filled image); drop the condition and guidance options`);
  const model = denoiser ? (solver.needs.zeroFilledCondition ? () => denoiser : conditionedModel(denoiser, o, n)) : () => null;
  // A particle ensemble is one coupled run: it is never split into batches.
  const control = solver.needs.particles ? { ...o, batch: n } : o;
  const r = await runInBatches(n, item, Math.max(0, grid.length - 1), control, async (start, end, source, onStep) => {
    const xT = denoiser ? initialState(startNoise(seed, first, start, end, item), grid[0]!) : Tensor.zeros([end - start, ...item]);
    const y = perSample ? o.measurement.reshape([n, ...op.outShape]).sliceBatch(start, end) : o.measurement;
    return runSolver(solver, model(start, end), grid, op, y, xT, {
      noise: source,
      ...(o.params ? { params: o.params } : {}),
      ...(o.sigmaY !== undefined ? { sigmaY: o.sigmaY } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
      onStep: (info) => onStep(info),
    });
  });
  const x = op === o.operator ? r.x : cropItems(r.x, o.operator.inShape);
  return gradient ? { ...r, x, gradient } : { ...r, x };
}

/** The operator on the grid the prior runs: as it is, or padded to a layout model's multiple; other shapes refused. */
function onModelGrid(op: Operator, prior: Denoiser | null): Operator {
  if (!prior?.layout || takesItems(prior, op.inShape)) return op;
  return new PaddedOperator(op, requireModelGrid(prior, op.inShape, "the operator's input"));
}
