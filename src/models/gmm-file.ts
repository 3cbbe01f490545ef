import { readFileSync } from 'node:fs';
import { fileError } from '../core/errors.js';
import { GaussianMixture } from './gmm.js';

/** Read a mixture JSON file ({weights, means, covs, shape?}); Node only (the browser uses GaussianMixture.fromJsonText). */
export function loadMixture(file: string): GaussianMixture {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    return fileError('read mixture file', file, e);
  }
  return GaussianMixture.fromJsonText(text, file);
}
