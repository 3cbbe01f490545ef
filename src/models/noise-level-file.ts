import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fail } from '../core/errors.js';
import { OnnxClassifier } from './classifier-onnx.js';
import { readJson } from './model-folder.js';
import type { Denoiser } from './denoiser.js';
import { attachNoiseLevelEstimator, normaliseLogRows, type NoiseLevelEstimator } from './noise-level.js';
import type { OnnxOptions } from './onnx.js';

/** Where a model folder keeps its noise-level classifier (training/fmnist_noise_level.py writes it). */
export const NOISE_LEVEL_FOLDER = 'noise-level';

/**
 * The noise-level classifier of a model folder (`<dir>/noise-level`: a classifier folder whose classifier.json
 * lists the path times of its classes as "levels"), as an estimator: the log-softmax of its logits. Null when the
 * folder has none. The ONNX session opens at the first use.
 */
export function folderNoiseLevels(dir: string, opts: OnnxOptions = {}): NoiseLevelEstimator | null {
  const sub = join(dir, NOISE_LEVEL_FOLDER), file = join(sub, 'classifier.json');
  if (!existsSync(file)) return null;
  const levels = readJson(file).levels;
  if (!Array.isArray(levels) || levels.length < 2 || !levels.every((t) => typeof t === 'number' && Number.isFinite(t))) {
    fail('BAD_CONFIG', `${file}: "levels" must list the path times of the classes (at least two numbers); re-export it with training/fmnist_noise_level.py`);
  }
  let classifier: Promise<OnnxClassifier> | null = null;
  return {
    levels,
    async logPosterior(x) {
      const { logits } = await (classifier ??= OnnxClassifier.load(sub, opts)).then((c) => c.classify(x));
      if (logits.shape[1] !== levels.length) fail('BAD_CONFIG', `${sub}: the classifier has ${logits.shape[1]} classes but classifier.json lists ${levels.length} levels`);
      return normaliseLogRows(Float64Array.from(logits.data), levels.length);
    },
  };
}

/** Attach the model folder's noise-level classifier, when it has one, to the denoiser loaded from it. Returns the denoiser. */
export function attachFolderNoiseLevels<D extends Denoiser>(denoiser: D, dir: string, opts: OnnxOptions = {}): D {
  const levels = folderNoiseLevels(dir, opts);
  return levels ? attachNoiseLevelEstimator(denoiser, levels) : denoiser;
}
