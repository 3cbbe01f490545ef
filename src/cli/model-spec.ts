import { existsSync, statSync } from 'node:fs';
import { fail } from '../core/errors.js';
import type { BoundarySpec } from '../models/boundary-spec.js';
import type { Denoiser } from '../models/denoiser.js';
import type { GaussianMixture } from '../models/gmm.js';
import { loadMixture } from '../models/gmm-file.js';
import { OnnxDenoiser } from '../models/onnx.js';
import { attachFolderNoiseLevels } from '../models/noise-level-file.js';
import { parsePredictionType, type PredictionType } from '../models/prediction.js';
import type { Path } from '../paths/path.js';
import { jobContext } from './job-context.js';
import type { SchedulerConfig } from '../paths/scheduler-config.js';

/** A model named on the command line: `gmm:FILE.json` (exact mixture) or an ONNX model folder. */
export interface LoadedModel {
  denoiser: Denoiser;
  itemShape: readonly number[];
  /** The exact prior, when the model is analytic. */
  mixture: GaussianMixture | null;
  /** Data range for images (PNG output). */
  valueRange: [number, number];
  /** A model folder's own scheduler config (null for analytic models). */
  scheduler: SchedulerConfig | null;
  /** A restoration model folder's optimal boundaries (tweedie.json "boundary"; none for analytic models). */
  boundaries: readonly BoundarySpec[];
}

/**
 * `path` is used for analytic models (which follow any path); an ONNX folder brings its own path from its
 * scheduler_config.json unless `path` is given explicitly.
 */
export async function loadModel(spec: string, path: () => Path, prediction: string | undefined, threads?: number): Promise<LoadedModel> {
  if (!spec.startsWith('gmm:')) {
    // In a service worker, one ONNX session per model and thread count serves every job of the process.
    const models = jobContext.getStore()?.models;
    const key = `${spec}\0${threads ?? ''}`;
    if (models && prediction === undefined) {
      if (!models.has(key)) models.set(key, loadFile(spec, path, prediction, threads).catch((e) => (models.delete(key), Promise.reject(e))));
      return models.get(key) as Promise<LoadedModel>;
    }
  }
  return loadFile(spec, path, prediction, threads);
}

async function loadFile(spec: string, path: () => Path, prediction: string | undefined, threads?: number): Promise<LoadedModel> {
  if (spec.startsWith('gmm:')) {
    const file = spec.slice(4);
    if (!existsSync(file)) fail('UNREADABLE_FILE', `--model ${spec}: file ${file} does not exist`);
    const gmm = loadMixture(file);
    const type: PredictionType = prediction ? parsePredictionType(prediction, '--prediction') : 'x0';
    return { denoiser: gmm.asDenoiser(path(), type), itemShape: gmm.shape, mixture: gmm, valueRange: [-1, 1], scheduler: null, boundaries: [] };
  }
  if (existsSync(spec) && statSync(spec).isDirectory()) {
    if (prediction) fail('USAGE', '--prediction applies to gmm: models only; an ONNX folder declares its prediction type in tweedie.json');
    const onnx = attachFolderNoiseLevels(await OnnxDenoiser.load(spec, threads ? { threads } : {}), spec, threads ? { threads } : {});
    return { denoiser: onnx, itemShape: onnx.itemShape, mixture: null, valueRange: onnx.spec.valueRange, scheduler: onnx.spec.scheduler, boundaries: onnx.spec.boundaries };
  }
  return fail('USAGE', `--model "${spec}" is neither gmm:FILE.json nor a model folder (model.onnx + scheduler_config.json + tweedie.json)`);
}

/** --size HxW: "32x48" -> [32, 48]. */
function parseSize(value: string): [number, number] {
  const m = /^(\d+)x(\d+)$/.exec(value);
  const hw = m ? [Number(m[1]), Number(m[2])] : [];
  if (!m || !hw.every((d) => Number.isSafeInteger(d) && d >= 1)) fail('USAGE', `--size must be HxW with positive integers, like 40x56, got "${value}"`);
  return hw as [number, number];
}

/**
 * The item shape a command runs: the model's own (default) shape, or for a model with a layout (tweedie.json
 * "multiple") the given H x W (--size, or a file's own grid `hw`) with the model's channels. A fixed-size model
 * refuses --size, naming the rule.
 */
export function itemShapeFor(model: LoadedModel, modelName: string, size: string | undefined, hw?: readonly number[]): readonly number[] {
  const layout = model.denoiser.layout;
  if (size !== undefined && !layout) fail('USAGE', `--size applies to models whose tweedie.json declares "multiple" (they take any H x W padded to multiples of it); ${modelName} takes only [${model.itemShape.join(', ')}]`);
  const given = size !== undefined ? parseSize(size) : hw;
  if (!layout || !given) return model.itemShape;
  if (hw && size !== undefined && hw.join('x') !== given.join('x')) fail('USAGE', `--size ${size} disagrees with the input's own grid ${hw.join('x')}; drop --size`);
  return [...model.itemShape.slice(0, -2), ...given];
}
