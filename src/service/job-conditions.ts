import { readModelFolder } from '../models/model-folder.js';
import { checkedConditioning, conditionOptionsFromText } from '../recipes/condition.js';
import type { OptionValue } from './job-spec.js';

/** The job options that condition a model and can be checked before the job runs (--cond-image is an upload, read then). */
const CONDITION_OPTIONS = ['class', 'guidance-scale', 'guidance-interval'] as const;

/**
 * A sample or solve job's class and guidance options checked against its shipped model's tweedie.json when the job
 * is submitted, with the command's checks and lines (a class out of range, a class for an unconditional model,
 * guidance without a null class), so that a bad job is refused with 400 instead of failing when it runs. `modelDir`
 * is the shipped model's folder; an uploaded mixture (gmm:) is checked when the job runs.
 */
export function checkJobConditions(options: Readonly<Record<string, OptionValue>>, modelDir: string): void {
  if (!CONDITION_OPTIONS.some((k) => options[k] !== undefined)) return;
  const n = Number(options.n ?? 1);
  // A bad --n is the command's to report, when the job runs.
  if (!Number.isSafeInteger(n) || n < 1) return;
  const text = (k: (typeof CONDITION_OPTIONS)[number]) => (options[k] === undefined ? undefined : String(options[k]));
  const specs = readModelFolder(modelDir, () => undefined).conditions;
  const modelName = `--model ${String(options.model)}`;
  checkedConditioning(specs, conditionOptionsFromText({ class: text('class'), scale: text('guidance-scale'), interval: text('guidance-interval') }, specs, modelName, 'cli'), n);
}
