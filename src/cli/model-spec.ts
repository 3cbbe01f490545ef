import { existsSync, statSync } from 'node:fs';
import { fail } from '../core/errors.js';
import type { Denoiser } from '../models/denoiser.js';
import { GaussianMixture } from '../models/gmm.js';
import { parsePredictionType, type PredictionType } from '../models/prediction.js';
import type { Path } from '../paths/path.js';

/** A model named on the command line: `gmm:FILE.json` (exact mixture) for now. */
export interface LoadedModel {
  denoiser: Denoiser;
  itemShape: readonly number[];
  /** The exact prior, when the model is analytic (lets commands report exact references). */
  mixture: GaussianMixture | null;
}

export function loadModel(spec: string, path: Path, prediction: string | undefined): LoadedModel {
  if (spec.startsWith('gmm:')) {
    const file = spec.slice(4);
    if (!existsSync(file)) fail('UNREADABLE_FILE', `--model ${spec}: file ${file} does not exist`);
    const gmm = GaussianMixture.load(file);
    const type: PredictionType = prediction ? parsePredictionType(prediction, '--prediction') : 'x0';
    return { denoiser: gmm.asDenoiser(path, type), itemShape: gmm.shape, mixture: gmm };
  }
  if (existsSync(spec) && statSync(spec).isDirectory()) {
    return fail('UNSUPPORTED', `--model ${spec}: ONNX model folders are not supported by this build yet; use gmm:FILE.json`);
  }
  return fail('USAGE', `--model "${spec}" is neither gmm:FILE.json nor a model folder`);
}
