import type { Tensor } from '../../core/tensor.js';
import type { Denoiser, GradientRoute } from '../../models/denoiser.js';
import type { GradientChoice } from '../../models/derivatives.js';
import type { ModelFn } from '../../models/model-fn.js';
import type { Path } from '../../paths/path.js';
import type { MethodContext, MethodInfo, ParamSpecs, RunOptions, RunResult } from '../../samplers/method.js';
import type { Operator } from '../operators/operator.js';

/** What a solver needs beyond A and A^T (tweedie solvers lists it). */
export interface SolverNeeds {
  /** The operator's SVD (DDRM, DDNM). */
  svd?: boolean;
  /** The denoiser's vector-Jacobian product (DPS, PiGDM). */
  gradients?: boolean;
  /** A particle ensemble (SMC): n samples are one ensemble, not independent runs. */
  particles?: boolean;
  /** A rectified-flow model (a = 1 - t, s = t): a method defined on that path only (FlowChef). */
  flow?: boolean;
  /** A model conditioned on the operator's zero-filled measurement A^H y, which the run builds and binds (cond-dc). */
  zeroFilledCondition?: boolean;
  /** No diffusion prior at all (baselines). */
  noPrior?: boolean;
}

/** Everything a posterior solver sees. State is the centered variable z = x - b mu, as for samplers. */
export interface SolverContext<P extends ParamSpecs = ParamSpecs> extends MethodContext<P> {
  /** The prior through ModelFn (x0 / eps estimates, NFE count). Null for baselines. */
  fn: ModelFn | null;
  denoiser: Denoiser | null;
  path: Path | null;
  op: Operator;
  /** The measurement, one per batch item: [B, ...op.outShape]. */
  y: Tensor;
  /** Measurement noise standard deviation (op.noiseSigma unless overridden). */
  sigmaY: number;
  /** Initial centered state at grid[0] (noise), or a zero image shaped like x for baselines. */
  z: Tensor;
}

/** A posterior solver; P types the params its run receives. SolverDef (any params) is the registry's element type. */
export interface SolverDef<P extends ParamSpecs = ParamSpecs> extends MethodInfo<P> {
  needs: SolverNeeds;
  run(ctx: SolverContext<P>): Promise<Tensor>;
}

/** A solver with its params typed by their specs (see defineSampler). */
export function defineSolver<const P extends ParamSpecs>(def: SolverDef<P>): SolverDef<P> {
  return def;
}

export interface SolverRunOptions extends RunOptions {
  /** Override the operator's noise level for the data term. */
  sigmaY?: number;
  /** How a gradient solver differentiates the denoiser (default 'auto': its own gradient, else differences). */
  gradient?: GradientChoice;
  /** The model's name in a refused route's message (default "the model"). */
  modelName?: string;
}

export interface SolveResult extends RunResult {
  /** The gradient route a gradient solver used. */
  gradient?: GradientRoute;
}
