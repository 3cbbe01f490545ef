import type { Tensor } from '../core/tensor.js';
import type { Conditioning } from '../models/denoiser.js';
import type { ModelFn } from '../models/model-fn.js';
import type { PredictionType } from '../models/prediction.js';
import type { Path } from '../paths/path.js';
import type { MethodContext, MethodInfo, ParamSpecs, RunOptions, RunResult } from './method.js';

export type { ParamValues } from './method.js';

export interface SampleOptions extends RunOptions {
  cond?: Conditioning;
  thresholding?: { ratio: number; maxValue: number } | null;
  clipSample?: number | null;
  /** diffusers' DDIM pairing of the clipped x0 with the model's own eps (ModelFnOptions.keepModelEps). */
  keepModelEps?: boolean;
}

export type SampleResult = RunResult;

/** Everything a sampler implementation sees. It works on the centered variable z = x - b(t) mu. */
export interface SamplerContext<P extends ParamSpecs = ParamSpecs> extends MethodContext<P> {
  fn: ModelFn;
  path: Path;
  /** The initial centered state at grid[0] (a fresh copy the sampler may overwrite). */
  z: Tensor;
}

/** A sampler; P types the params its run receives. SamplerDef (any params) is the registry's element type. */
export interface SamplerDef<P extends ParamSpecs = ParamSpecs> extends MethodInfo<P> {
  /** Order of accuracy of the deterministic solve (global error ~ steps^-order); 0.5 / 1 weak for SDEs. */
  order: number;
  /** The grid runs from data to noise (inversion samplers). */
  inverse?: boolean;
  predictions: readonly PredictionType[];
  run(ctx: SamplerContext<P>): Promise<Tensor>;
}

/** A sampler with its params typed by their specs: `run` sees `params.eta` as a number, a choice as its values. */
export function defineSampler<const P extends ParamSpecs>(def: SamplerDef<P>): SamplerDef<P> {
  return def;
}
