import { fail } from '../core/errors.js';
import type { Tensor } from '../core/tensor.js';
import { bindConditions, checkConditions, conditionsOfBatch, unconditionalOf, type ConditionLabel, type ConditionSpecs, type ConditionValue } from '../models/conditioning.js';
import type { Denoiser } from '../models/denoiser.js';
import { classifierFreeGuidance, type GuidanceOptions } from '../models/guidance.js';

/** What generate and solve take to run a conditional model. */
export interface ConditionOptions {
  /**
   * Values of the model's declared conditions (its tweedie.json "conditioning"), e.g. `{ class: 3 }`, one per sample
   * `{ class: [0, 1, 2] }`, or `{ image: tensor }`. A condition not given runs unconditional where the model has a
   * null value (a CFG-trained model), and is refused otherwise.
   */
  condition?: Readonly<Record<string, ConditionValue>>;
  /** Classifier-free guidance (models/guidance.ts): the scale w (1 = no guidance) and an optional sigma interval. */
  guidance?: GuidanceOptions;
  /** How messages name the conditions: the API's keys (default) or the CLI's options. */
  optionNames?: 'api' | 'cli';
  /** The model's name in messages (default "the model"). */
  modelName?: string;
}

const apiNames = { label: ((name) => `condition.${name}`) as ConditionLabel, scale: 'guidance.scale', interval: 'guidance.interval' };
const cliNames = {
  label: ((name, spec) => (spec?.kind === 'class' || (!spec && name === 'class') ? '--class' : spec?.kind === 'image' ? '--cond-image' : `condition "${name}"`)) as ConditionLabel,
  scale: '--guidance-scale',
  interval: '--guidance-interval',
};

/** A run's checked conditions (batch 1 or n) and, when guided, the guidance with the unconditional values. */
export interface CheckedConditioning {
  cond: Record<string, Tensor>;
  guidance?: GuidanceOptions & { uncond: Record<string, Tensor> };
}

/**
 * Check the conditions and the guidance of a run of n samples against the model's declared conditions, before any
 * work (and before any model is loaded: the service checks a job's options with it); null for an unconditional run.
 */
export function checkedConditioning(specs: ConditionSpecs | undefined, o: ConditionOptions, n: number): CheckedConditioning | null {
  const modelName = o.modelName ?? 'the model';
  const names = o.optionNames === 'cli' ? cliNames : apiNames;
  if (!specs && !o.condition && !o.guidance) return null;
  const cond = checkConditions(specs, o.condition ?? {}, n, modelName, names.label);
  const g = o.guidance;
  if (!g) return { cond };
  if (Object.keys(o.condition ?? {}).length === 0) fail('USAGE', `${names.scale} needs a condition to guide towards (${Object.entries(specs ?? {}).map(([k, s]) => names.label(k, s)).join(' or ') || 'the model declares none'})`);
  if (!(Number.isFinite(g.scale) && g.scale >= 0)) fail('USAGE', `${names.scale} must be a number >= 0 (1: the conditional model, 0: the unconditional one, above 1: guided), got ${g.scale}`);
  const iv = g.interval;
  if (iv && !(iv.length === 2 && iv[0] >= 0 && iv[0] < iv[1])) fail('USAGE', `${names.interval} must be lo,hi with 0 <= lo < hi (the noise levels sigma = s/a where guidance applies), got ${iv.join(',')}`);
  return { cond, guidance: { ...g, uncond: unconditionalOf(specs, modelName, names.scale) } };
}

/**
 * Check the conditions and the guidance of a run of n samples once, before any work, and return the model each batch
 * [start, end) runs: the conditions bound to it (and guided), so that samplers and solvers need not know of them.
 */
export function conditionedModel(denoiser: Denoiser, o: ConditionOptions, n: number): (start: number, end: number) => Denoiser {
  const checked = checkedConditioning(denoiser.conditions, o, n);
  if (!checked) return () => denoiser;
  const { cond, guidance } = checked;
  if (!guidance) return (start, end) => bindConditions(denoiser, conditionsOfBatch(cond, start, end));
  return (start, end) => classifierFreeGuidance(denoiser, { ...guidance, cond: conditionsOfBatch(cond, start, end) });
}
