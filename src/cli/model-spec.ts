import { existsSync, statSync } from 'node:fs';
import { fail } from '../core/errors.js';
import type { Denoiser } from '../models/denoiser.js';
import type { GaussianMixture } from '../models/gmm.js';
import { loadMixture } from '../models/gmm-file.js';
import { OnnxDenoiser } from '../models/onnx.js';
import { parsePredictionType, type PredictionType } from '../models/prediction.js';
import type { Path } from '../paths/path.js';

/** A model named on the command line: `gmm:FILE.json` (exact mixture) or an ONNX model folder. */
export interface LoadedModel {
  denoiser: Denoiser;
  itemShape: readonly number[];
  /** The exact prior, when the model is analytic. */
  mixture: GaussianMixture | null;
  /** Data range for images (PNG output). */
  valueRange: [number, number];
}

/**
 * `path` is used for analytic models (which follow any path); an ONNX folder brings its own path from its
 * scheduler_config.json unless `path` is given explicitly.
 */
export async function loadModel(spec: string, path: () => Path, prediction: string | undefined, threads?: number): Promise<LoadedModel> {
  if (spec.startsWith('gmm:')) {
    const file = spec.slice(4);
    if (!existsSync(file)) fail('UNREADABLE_FILE', `--model ${spec}: file ${file} does not exist`);
    const gmm = loadMixture(file);
    const type: PredictionType = prediction ? parsePredictionType(prediction, '--prediction') : 'x0';
    return { denoiser: gmm.asDenoiser(path(), type), itemShape: gmm.shape, mixture: gmm, valueRange: [-1, 1] };
  }
  if (existsSync(spec) && statSync(spec).isDirectory()) {
    if (prediction) fail('USAGE', '--prediction applies to gmm: models only; an ONNX folder declares its prediction type in tweedie.json');
    const onnx = await OnnxDenoiser.load(spec, threads ? { threads } : {});
    return { denoiser: onnx, itemShape: onnx.itemShape, mixture: null, valueRange: onnx.spec.valueRange };
  }
  return fail('USAGE', `--model "${spec}" is neither gmm:FILE.json nor a model folder (model.onnx + scheduler_config.json + tweedie.json)`);
}
