import type { NoiseSource } from '../core/rng.js';
import type { Tensor } from '../core/tensor.js';
import type { Conditioning } from '../models/denoiser.js';
import type { ModelFn } from '../models/model-fn.js';
import type { PredictionType } from '../models/prediction.js';
import type { TimeGrid } from '../paths/grids.js';
import type { GridPoint, Path } from '../paths/path.js';

/** A sampler knob: its type, default and allowed range or values. */
export type ParamSpec =
  | { type: 'number'; default: number; min?: number; max?: number; integer?: boolean; doc: string }
  | { type: 'boolean'; default: boolean; doc: string }
  | { type: 'choice'; default: string; values: readonly string[]; doc: string };

export type ParamValues = Record<string, number | boolean | string>;

/** What a sampler reports after each step. */
export interface StepInfo {
  sampler: string;
  /** 1-based index of the step just finished, and the total. */
  step: number;
  steps: number;
  /** Path time reached. */
  t: number;
  /** Current state x (uncentered), and the latest x0 estimate when the step computed one. */
  x: Tensor;
  x0: Tensor | null;
  nfe: number;
}

export interface SampleOptions {
  /** Noise for stochastic samplers (default seed 0). Batch item b is sample firstSample + b. */
  noise?: NoiseSource;
  onStep?: (info: StepInfo) => void | Promise<void>;
  signal?: AbortSignal;
  cond?: Conditioning;
  thresholding?: { ratio: number; maxValue: number } | null;
  clipSample?: number | null;
  /** The sampler's own knobs (see its `params`); unknown names are an error. */
  params?: Partial<ParamValues>;
}

export interface SampleResult {
  x: Tensor;
  nfe: number;
  steps: number;
  seconds: number;
}

/** Everything a sampler implementation sees. It works on the centered variable z = x - b(t) mu. */
export interface SamplerContext {
  fn: ModelFn;
  path: Path;
  grid: TimeGrid;
  /** The initial centered state at grid[0] (a fresh copy the sampler may overwrite). */
  z: Tensor;
  noise: NoiseSource;
  params: ParamValues;
  /**
   * Report step `step` (1-based) with the centered state reached at grid point `pointIndex`, or at the
   * off-grid point `at` (adaptive samplers).
   */
  report(step: number, pointIndex: number, z: Tensor, x0: Tensor | null, at?: GridPoint): Promise<void>;
}

export interface SamplerDef {
  name: string;
  description: string;
  /** Order of accuracy of the deterministic solve (global error ~ steps^-order); 0.5 / 1 weak for SDEs. */
  order: number;
  /** Model evaluations per step, or 'adaptive'. */
  nfePerStep: number | 'adaptive' | string;
  stochastic: boolean;
  /** The grid runs from data to noise (inversion samplers). */
  inverse?: boolean;
  predictions: readonly PredictionType[];
  params: Readonly<Record<string, ParamSpec>>;
  /** Notes for the docs (e.g. why a measured order differs). */
  notes?: string;
  run(ctx: SamplerContext): Promise<Tensor>;
}
