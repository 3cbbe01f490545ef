import { readFileSync } from 'node:fs';
import { fail } from '../core/errors.js';
import { GaussianMixture } from './gmm.js';

/** Read a mixture JSON file ({weights, means, covs, shape?}); Node only (the browser uses GaussianMixture.fromJsonText). */
export function loadMixture(file: string): GaussianMixture {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    return fail('UNREADABLE_FILE', `cannot read mixture file ${file}: ${(e as Error).message}`);
  }
  return GaussianMixture.fromJsonText(text, file);
}
