import { fail } from '../../core/errors.js';
import { Tensor } from '../../core/tensor.js';
import type { Denoiser } from '../../models/denoiser.js';
import { gradientRouteOf, withGradientRoute } from '../../models/derivatives.js';
import type { TimeGrid } from '../../paths/grids.js';
import { runMethod } from '../../samplers/harness.js';
import type { Operator } from '../operators/operator.js';
import { withZeroFilledCondition } from './zero-filled-condition.js';
import type { SolverRunOptions, SolveResult, SolverDef } from './types.js';

/** Broadcast one measurement [m...] or [1, m...] to n batch items, or check a batched one. */
export function batchMeasurement(op: Operator, y: Tensor, n: number): Tensor {
  const item = op.outShape.reduce((p, q) => p * q, 1);
  if (y.size === item) return y.tile(n, op.outShape);
  if (y.size === n * item) return y.reshape([n, ...op.outShape]);
  return fail('BAD_SHAPE', `measurement of shape [${y.shape.join(', ')}] does not fit ${op.name}, whose output is [${op.outShape.join(', ')}]; give one measurement of that shape (or one per sample)`);
}

/**
 * Run a posterior solver. xT is the initial state at grid[0] (noise) for diffusion solvers; baselines
 * ignore the denoiser and the grid. y is one measurement (broadcast to every sample) or one per sample.
 */
export async function runSolver(def: SolverDef, model: Denoiser | null, grid: TimeGrid, op: Operator, y: Tensor, xT: Tensor, options: SolverRunOptions = {}): Promise<SolveResult> {
  if (!def.needs.noPrior && !model) fail('USAGE', `solver ${def.name} needs a diffusion prior (--model)`);
  // A gradient solver differentiates the denoiser on the chosen route (withGradientRoute refuses one the model lacks).
  const denoiser = model && def.needs.gradients ? withGradientRoute(model, options.gradient ?? 'auto', options.modelName) : model;
  const route = denoiser && def.needs.gradients ? gradientRouteOf(denoiser) : null;
  if (def.needs.flow && model && model.path.family !== 'flow') fail('UNSUPPORTED', `solver ${def.name} steers rectified-flow models (a = 1 - t, s = t); ${options.modelName ?? 'the model'} is on the ${model.path.describe()} path: use dps, pigdm, diffpir or dds`);
  if (def.needs.svd && !op.svd) fail('UNSUPPORTED', `solver ${def.name} needs the operator's SVD, which ${op.name} does not provide; use dds, diffpir or dps instead`);
  const inItem = op.inShape.reduce((p, q) => p * q, 1);
  if (xT.itemSize !== inItem) fail('BAD_SHAPE', `initial state [${xT.shape.join(', ')}] does not fit ${op.name}, whose input is [${op.inShape.join(', ')}]`);
  const yb = batchMeasurement(op, y, xT.batch);
  const z = xT.clone().reshape([xT.batch, ...op.inShape]);
  const sigmaY = options.sigmaY ?? op.noiseSigma;
  const conditioned = denoiser && def.needs.zeroFilledCondition ? withZeroFilledCondition(denoiser, op, yb, def.name, options.modelName ?? 'the model') : denoiser;
  const r = await runMethod(def, conditioned, grid, options, {}, ({ fn, params, noise, report }) =>
    def.run({ fn, denoiser: conditioned, path: conditioned?.path ?? null, grid, op, y: yb, sigmaY, z, noise, params, report }),
  );
  return route ? { ...r, gradient: route } : r;
}
