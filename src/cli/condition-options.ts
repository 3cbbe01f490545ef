import { fail } from '../core/errors.js';
import type { ConditionSpec, ConditionSpecs, ConditionValue } from '../models/conditioning.js';
import type { ConditionOptions } from '../recipes/condition.js';
import { numberOption } from './args.js';
import { readImages } from './image-input.js';

/** --class, --cond-image, --guidance-scale, --guidance-interval: a conditional model's options (sample, solve). */
export const conditionOptions = {
  class: { type: 'string', value: 'K[,K...]', doc: "the class of a class-conditional model (its tweedie.json \"conditioning\"), one for all samples or one per sample; absent: the model's null class (unconditional) where it has one" },
  'cond-image': { type: 'string', value: 'FILE', doc: "the conditioning image of an image-conditional model (.npy in the model's range as is, .png mapped to it)" },
  'guidance-scale': { type: 'string', value: 'W', doc: 'classifier-free guidance eps_u + W (eps_c - eps_u) (diffusers\' guidance_scale: 1 the conditional model, 0 the unconditional one); needs a model with a null condition' },
  'guidance-interval': { type: 'string', value: 'LO,HI', doc: 'guide only where the noise level sigma = s/a is in [LO, HI] (Kynkaanniemi et al. 2024); the conditional model alone elsewhere' },
} as const;

type Values = { class?: string | undefined; 'cond-image'?: string | undefined; 'guidance-scale'?: string | undefined; 'guidance-interval'?: string | undefined };

/** The model's one condition of a kind, for the option that sets it; refused where it has none. */
function conditionOfKind(specs: ConditionSpecs | undefined, kind: ConditionSpec['kind'], option: string, modelName: string): string {
  const entries = Object.entries(specs ?? {});
  const hit = entries.find(([, s]) => s.kind === kind);
  if (!hit) fail('USAGE', `${option}: ${modelName} takes no ${kind} condition (${entries.length ? `its conditions: ${entries.map(([k, s]) => `${k} (${s.kind})`).join(', ')}` : 'its tweedie.json declares no "conditioning"'}); drop ${option}`);
  return hit[0];
}

/**
 * --class and the guidance options as the recipe's ConditionOptions for a model declaring `specs` (its tweedie.json
 * "conditioning"); no file is read, so the service checks a job's options with it when the job is submitted.
 */
export function classAndGuidanceValues(values: Values, specs: ConditionSpecs | undefined, modelName: string): ConditionOptions {
  const condition: Record<string, ConditionValue> = {};
  if (values.class !== undefined) {
    const classes = values.class.split(',').map((v) => (v.trim() === '' ? NaN : Number(v)));
    if (!classes.every(Number.isInteger)) fail('USAGE', `--class must be an integer class, or a comma-separated list of one per sample, got "${values.class}"`);
    condition[conditionOfKind(specs, 'class', '--class', modelName)] = classes;
  }
  const scale = numberOption(values['guidance-scale'], 'guidance-scale');
  const iv = values['guidance-interval'];
  if (iv !== undefined && scale === undefined) fail('USAGE', '--guidance-interval applies to classifier-free guidance; add --guidance-scale W');
  const interval = iv?.split(',').map((v) => (v.trim() === '' ? NaN : Number(v)));
  if (interval && !(interval.length === 2 && interval.every(Number.isFinite))) fail('USAGE', `--guidance-interval must be LO,HI (two noise levels sigma = s/a), got "${iv}"`);
  return {
    optionNames: 'cli',
    modelName,
    ...(Object.keys(condition).length ? { condition } : {}),
    ...(scale !== undefined ? { guidance: { scale, ...(interval ? { interval: interval as [number, number] } : {}) } } : {}),
  };
}

/** The recipe's ConditionOptions from the command line (classAndGuidanceValues), the conditioning image read in the model's range. */
export async function conditionValues(values: Values, specs: ConditionSpecs | undefined, modelName: string): Promise<ConditionOptions> {
  const o = classAndGuidanceValues(values, specs, modelName);
  if (values['cond-image'] === undefined) return o;
  const name = conditionOfKind(specs, 'image', '--cond-image', modelName);
  const spec = specs![name] as Extract<ConditionSpec, { kind: 'image' }>;
  return { ...o, condition: { ...o.condition, [name]: (await readImages(values['cond-image'], [...spec.valueRange], '--cond-image')).x } };
}
