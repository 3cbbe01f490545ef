import type { ConditionSpec, ConditionSpecs } from '../models/conditioning.js';
import { conditionOfKind, conditionOptionsFromText, type ConditionOptions } from '../recipes/condition.js';
import { readImages } from './image-input.js';

/** --class, --cond-image, --guidance-scale, --guidance-interval: a conditional model's options (sample, solve). */
export const conditionOptions = {
  class: { type: 'string', value: 'K[,K...]', doc: "the class of a class-conditional model (its tweedie.json \"conditioning\"), one for all samples or one per sample; absent: the model's null class (unconditional) where it has one" },
  'cond-image': { type: 'string', value: 'FILE', doc: "the conditioning image of an image-conditional model (.npy in the model's range as is, .png mapped to it)" },
  'guidance-scale': { type: 'string', value: 'W', doc: 'classifier-free guidance eps_u + W (eps_c - eps_u) (diffusers\' guidance_scale: 1 the conditional model, 0 the unconditional one); needs a model with a null condition' },
  'guidance-interval': { type: 'string', value: 'LO,HI', doc: 'guide only where the noise level sigma = s/a is in [LO, HI] (Kynkaanniemi et al. 2024); the conditional model alone elsewhere' },
} as const;

type Values = { class?: string | undefined; 'cond-image'?: string | undefined; 'guidance-scale'?: string | undefined; 'guidance-interval'?: string | undefined };

/**
 * The recipe's ConditionOptions from the command line for a model declaring `specs` (its tweedie.json "conditioning"),
 * the conditioning image read in the model's range.
 */
export async function conditionValues(values: Values, specs: ConditionSpecs | undefined, modelName: string): Promise<ConditionOptions> {
  const o = conditionOptionsFromText({ class: values.class, scale: values['guidance-scale'], interval: values['guidance-interval'] }, specs, modelName, 'cli');
  if (values['cond-image'] === undefined) return o;
  const name = conditionOfKind(specs, 'image', '--cond-image', modelName);
  const spec = specs![name] as Extract<ConditionSpec, { kind: 'image' }>;
  return { ...o, condition: { ...o.condition, [name]: (await readImages(values['cond-image'], [...spec.valueRange], '--cond-image')).x } };
}
