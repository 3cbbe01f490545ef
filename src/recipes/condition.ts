import { fail } from '../core/errors.js';
import { bindConditions, checkConditions, conditionsOfBatch, unconditionalOf, type ConditionLabel, type ConditionValue } from '../models/conditioning.js';
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

/**
 * Check the conditions and the guidance of a run of n samples once, before any work, and return the model each batch
 * [start, end) runs: the conditions bound to it (and guided), so that samplers and solvers need not know of them.
 */
export function conditionedModel(denoiser: Denoiser, o: ConditionOptions, n: number): (start: number, end: number) => Denoiser {
  const modelName = o.modelName ?? 'the model';
  const names = o.optionNames === 'cli' ? cliNames : apiNames;
  if (!denoiser.conditions && !o.condition && !o.guidance) return () => denoiser;
  const cond = checkConditions(denoiser.conditions, o.condition ?? {}, n, modelName, names.label);
  const g = o.guidance;
  if (!g) return (start, end) => bindConditions(denoiser, conditionsOfBatch(cond, start, end));
  if (Object.keys(o.condition ?? {}).length === 0) fail('USAGE', `${names.scale} needs a condition to guide towards (${Object.entries(denoiser.conditions ?? {}).map(([k, s]) => names.label(k, s)).join(' or ') || 'the model declares none'})`);
  if (!(Number.isFinite(g.scale) && g.scale >= 0)) fail('USAGE', `${names.scale} must be a number >= 0 (1: the conditional model, 0: the unconditional one, above 1: guided), got ${g.scale}`);
  const iv = g.interval;
  if (iv && !(iv.length === 2 && iv[0] >= 0 && iv[0] < iv[1])) fail('USAGE', `${names.interval} must be lo,hi with 0 <= lo < hi (the noise levels sigma = s/a where guidance applies), got ${iv.join(',')}`);
  const uncond = unconditionalOf(denoiser.conditions, modelName, names.scale);
  return (start, end) => classifierFreeGuidance(denoiser, { ...g, cond: conditionsOfBatch(cond, start, end), uncond });
}
