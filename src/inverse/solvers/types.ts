import type { NoiseSource } from '../../core/rng.js';
import type { Tensor } from '../../core/tensor.js';
import type { Denoiser } from '../../models/denoiser.js';
import type { ModelFn } from '../../models/model-fn.js';
import type { TimeGrid } from '../../paths/grids.js';
import type { GridPoint, Path } from '../../paths/path.js';
import type { ParamSpec, ParamValues, StepInfo } from '../../samplers/types.js';
import type { Operator } from '../operators/operator.js';

/** What a solver needs beyond A and A^T (tweedie solvers lists it). */
export interface SolverNeeds {
  /** The operator's SVD (DDRM, DDNM). */
  svd?: boolean;
  /** The denoiser's vector-Jacobian product (DPS, PiGDM). */
  gradients?: boolean;
  /** A particle ensemble (SMC): n samples are one ensemble, not independent runs. */
  particles?: boolean;
  /** No diffusion prior at all (baselines). */
  noPrior?: boolean;
}

/** Everything a posterior solver sees. State is the centered variable z = x - b mu, as for samplers. */
export interface SolverContext {
  /** The prior through ModelFn (x0 / eps estimates, NFE count). Null for baselines. */
  fn: ModelFn | null;
  denoiser: Denoiser | null;
  path: Path | null;
  grid: TimeGrid;
  op: Operator;
  /** The measurement, one per batch item: [B, ...op.outShape]. */
  y: Tensor;
  /** Measurement noise standard deviation (op.noiseSigma unless overridden). */
  sigmaY: number;
  /** Initial centered state at grid[0] (noise), or a zero image shaped like x for baselines. */
  z: Tensor;
  noise: NoiseSource;
  params: ParamValues;
  report(step: number, pointIndex: number, z: Tensor, x0: Tensor | null, at?: GridPoint): Promise<void>;
}

export interface SolverDef {
  name: string;
  description: string;
  needs: SolverNeeds;
  stochastic: boolean;
  /** Model evaluations per step ('0' for baselines, a string when it varies). */
  nfePerStep: number | string;
  params: Readonly<Record<string, ParamSpec>>;
  notes?: string;
  run(ctx: SolverContext): Promise<Tensor>;
}

export interface SolverRunOptions {
  noise?: NoiseSource;
  onStep?: (info: StepInfo) => void | Promise<void>;
  signal?: AbortSignal;
  params?: Partial<ParamValues>;
  /** Override the operator's noise level for the data term. */
  sigmaY?: number;
}

export interface SolveResult {
  x: Tensor;
  nfe: number;
  steps: number;
  seconds: number;
}
