import { fail } from '../core/errors.js';
import type { NoiseSource } from '../core/rng.js';
import type { Tensor } from '../core/tensor.js';
import type { TimeGrid } from '../paths/grids.js';
import type { GridPoint } from '../paths/path.js';

/**
 * What samplers and posterior solvers share: their knobs (typed by their declared specs), the
 * description fields `tweedie samplers` / `tweedie solvers` list, and the context a run receives.
 */

export interface NumberParam {
  type: 'number';
  default: number;
  min?: number;
  max?: number;
  integer?: boolean;
  doc: string;
}

export interface BooleanParam {
  type: 'boolean';
  default: boolean;
  doc: string;
}

export interface ChoiceParam<V extends string = string> {
  type: 'choice';
  default: V;
  values: readonly V[];
  doc: string;
}

/** A method's knob: its type, default and allowed range or values. */
export type ParamSpec = NumberParam | BooleanParam | ChoiceParam;

export type ParamSpecs = Readonly<Record<string, ParamSpec>>;

/** Knob values before checking (options, --param): any name, any of the three types. */
export type ParamValues = Record<string, number | boolean | string>;

/** The value a spec declares: a number, a boolean, or one of a choice's values. */
export type ParamValue<S> = S extends { type: 'number' } ? number : S extends { type: 'boolean' } ? boolean : S extends { values: readonly (infer V)[] } ? V : never;

/** Checked knob values, typed by their specs. */
export type ParamsOf<P extends ParamSpecs> = { readonly [K in keyof P]: ParamValue<P[K]> };

/** Resolve a method's knobs: defaults, type and range checks, and an error for unknown names. */
export function resolveParams<P extends ParamSpecs>(def: { name: string; params: P }, given: Partial<ParamValues> = {}): ParamsOf<P> {
  const out: ParamValues = {};
  for (const key of Object.keys(given)) {
    if (!(key in def.params)) {
      const known = Object.keys(def.params);
      fail('BAD_INPUT', `${def.name} has no option "${key}"; ${known.length ? `its options are ${known.join(', ')}` : 'it takes no options'}`);
    }
  }
  for (const [key, spec] of Object.entries(def.params)) {
    const v = given[key] ?? spec.default;
    if (spec.type === 'number') {
      if (typeof v !== 'number' || !Number.isFinite(v)) fail('BAD_INPUT', `${def.name}: option ${key} must be a number, got ${JSON.stringify(v)}`);
      if (spec.integer && !Number.isInteger(v)) fail('BAD_INPUT', `${def.name}: option ${key} must be an integer, got ${v}`);
      if ((spec.min !== undefined && v < spec.min) || (spec.max !== undefined && v > spec.max)) {
        fail('BAD_INPUT', `${def.name}: option ${key} = ${v} is outside [${spec.min ?? '-inf'}, ${spec.max ?? 'inf'}]`);
      }
    } else if (spec.type === 'boolean') {
      if (typeof v !== 'boolean') fail('BAD_INPUT', `${def.name}: option ${key} must be true or false, got ${JSON.stringify(v)}`);
    } else if (typeof v !== 'string' || !spec.values.includes(v)) {
      fail('BAD_INPUT', `${def.name}: option ${key} must be one of ${spec.values.join(', ')}, got ${JSON.stringify(v)}`);
    }
    out[key] = v;
  }
  // Every key of P was checked against its spec above.
  return out as ParamsOf<P>;
}

/** The fields every sampler and solver declares. */
export interface MethodInfo<P extends ParamSpecs = ParamSpecs> {
  name: string;
  description: string;
  stochastic: boolean;
  /** Model evaluations per step, or a word ('adaptive') or sentence when it varies. */
  nfePerStep: number | string;
  params: P;
  /** Notes for the docs (e.g. why a measured order differs). */
  notes?: string;
}

/**
 * Report step `step` (1-based) with the centered state reached at grid point `pointIndex`, or at the
 * off-grid point `at` (adaptive samplers).
 */
export type ReportStep = (step: number, pointIndex: number, z: Tensor, x0: Tensor | null, at?: GridPoint) => Promise<void>;

/** What a sampler or solver reports after each step. */
export interface StepInfo {
  sampler: string;
  /** 1-based index of the step just finished, and the total. */
  step: number;
  steps: number;
  /** Path time reached. */
  t: number;
  /**
   * Current state x (uncentered), and the latest x0 estimate when the step computed one. Both may be the run's own
   * buffers, overwritten by the next step: copy them to keep them.
   */
  x: Tensor;
  x0: Tensor | null;
  nfe: number;
}

/** The options every run takes. */
export interface RunOptions {
  /** Noise for stochastic methods (default seed 0). Batch item b is sample firstSample + b. */
  noise?: NoiseSource;
  onStep?: (info: StepInfo) => void | Promise<void>;
  signal?: AbortSignal;
  /** The method's own knobs (see its `params`); unknown names are an error. */
  params?: Partial<ParamValues>;
}

/** A finished run: the final state with the exact NFE count. */
export interface RunResult {
  x: Tensor;
  nfe: number;
  steps: number;
  seconds: number;
}

/** What every run sees besides its model and state. */
export interface MethodContext<P extends ParamSpecs = ParamSpecs> {
  grid: TimeGrid;
  noise: NoiseSource;
  params: ParamsOf<P>;
  report: ReportStep;
}
