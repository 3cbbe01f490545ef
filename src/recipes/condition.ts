import { fail } from '../core/errors.js';
import type { Tensor } from '../core/tensor.js';
import { bindConditions, checkConditions, conditionsOfBatch, unconditionalOf, type ConditionLabel, type ConditionSpec, type ConditionSpecs, type ConditionValue } from '../models/conditioning.js';
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
  /** How messages name the conditions: the API's keys (default), the CLI's options, or a caller's own (a page's fields). */
  optionNames?: 'api' | 'cli' | OptionNames;
  /** The model's name in messages (default "the model"). */
  modelName?: string;
}

/** The names of the condition options in messages: a condition's label, the guidance scale's and the interval's. */
export interface OptionNames {
  label: ConditionLabel;
  scale: string;
  interval: string;
}

const apiNames: OptionNames = { label: (name) => `condition.${name}`, scale: 'guidance.scale', interval: 'guidance.interval' };
const cliNames: OptionNames = {
  label: (name, spec) => (spec?.kind === 'class' || (!spec && name === 'class') ? '--class' : spec?.kind === 'image' ? '--cond-image' : `condition "${name}"`),
  scale: '--guidance-scale',
  interval: '--guidance-interval',
};

/** The model's one condition of a kind, for the option that sets it (named `option` in messages); refused where it has none. */
export function conditionOfKind(specs: ConditionSpecs | undefined, kind: ConditionSpec['kind'], option: string, modelName: string): string {
  const entries = Object.entries(specs ?? {});
  const hit = entries.find(([, s]) => s.kind === kind);
  if (!hit) fail('USAGE', `${option}: ${modelName} takes no ${kind} condition (${entries.length ? `its conditions: ${entries.map(([k, s]) => `${k} (${s.kind})`).join(', ')}` : 'its tweedie.json declares no "conditioning"'}); drop ${option}`);
  return hit[0];
}

/** The class and guidance options as text (a command line's options, a page's fields); undefined: not given. */
export interface ConditionTexts {
  /** One class for all samples, or one per sample: "3", "0,1,2". */
  class?: string | undefined;
  scale?: string | undefined;
  /** "LO,HI", two noise levels sigma = s/a. */
  interval?: string | undefined;
}

/** Comma-separated numbers of a text ("" and blanks between commas are NaN). */
const numbersOf = (text: string) => text.split(',').map((v) => (v.trim() === '' ? NaN : Number(v)));

/**
 * The class and guidance given as text, for a model declaring `specs`, as ConditionOptions whose messages name the
 * options by `names`: the forms are checked here, the values against the model by checkedConditioning.
 */
export function conditionOptionsFromText(t: ConditionTexts, specs: ConditionSpecs | undefined, modelName: string, names: 'cli' | OptionNames): ConditionOptions {
  const n = names === 'cli' ? cliNames : names;
  const condition: Record<string, ConditionValue> = {};
  if (t.class !== undefined) {
    const label = n.label('class');
    const classes = numbersOf(t.class);
    if (!classes.every(Number.isInteger)) fail('USAGE', `${label} must be an integer class, or a comma-separated list of one per sample, got "${t.class}"`);
    condition[conditionOfKind(specs, 'class', label, modelName)] = classes;
  }
  const scale = t.scale === undefined ? undefined : t.scale.trim() === '' ? NaN : Number(t.scale);
  if (scale !== undefined && !Number.isFinite(scale)) fail('USAGE', `${n.scale} must be a number, got "${t.scale}"`);
  if (t.interval !== undefined && scale === undefined) fail('USAGE', `${n.interval} applies to classifier-free guidance; add ${n.scale}${names === 'cli' ? ' W' : ''}`);
  const interval = t.interval === undefined ? undefined : numbersOf(t.interval);
  if (interval && !(interval.length === 2 && interval.every(Number.isFinite))) fail('USAGE', `${n.interval} must be LO,HI (two noise levels sigma = s/a), got "${t.interval}"`);
  return {
    optionNames: names,
    modelName,
    ...(Object.keys(condition).length ? { condition } : {}),
    ...(scale !== undefined ? { guidance: { scale, ...(interval ? { interval: interval as [number, number] } : {}) } } : {}),
  };
}

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
  const names = typeof o.optionNames === 'object' ? o.optionNames : o.optionNames === 'cli' ? cliNames : apiNames;
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
