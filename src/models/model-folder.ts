import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fail, fileError } from '../core/errors.js';
import { parsePythonJson } from '../core/python-json.js';
import { readSchedulerConfig } from '../paths/scheduler-config-file.js';
import { checkedItemShape, parseModelCard, type ModelSpec } from './model-spec.js';

export type { ModelSpec, ModelTimeInput } from './model-spec.js';

/** A JSON object from a file (Python's dialect, as diffusers writes it); a missing file, bad JSON or a non-object is one line naming the file. */
export function readJson(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    return fileError('read', file, e);
  }
  try {
    const v = parsePythonJson(text);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) fail('BAD_CONFIG', `${file}: expected a JSON object`);
    return v as Record<string, unknown>;
  } catch (e) {
    if ((e as { code?: string }).code) throw e;
    return fail('BAD_CONFIG', `${file} is not valid JSON: ${(e as Error).message}`);
  }
}

/**
 * Read a model folder: either tweedie's layout (model.onnx + scheduler_config.json + tweedie.json) or the
 * diffusers / optimum ONNX export layout (unet/model.onnx + scheduler/scheduler_config.json + unet/config.json).
 */
export function readModelFolder(dir: string, warn: (m: string) => void = (m) => process.stderr.write(`warning: ${m}\n`)): ModelSpec {
  if (!existsSync(dir)) fail('UNREADABLE_FILE', `model folder ${dir} does not exist`);
  const tweedieJson = join(dir, 'tweedie.json');
  if (existsSync(join(dir, 'unet', 'model.onnx')) && !existsSync(tweedieJson)) return readDiffusersLayout(dir, warn);
  const modelFile = join(dir, 'model.onnx');
  if (!existsSync(modelFile)) fail('UNREADABLE_FILE', `model folder ${dir} has no model.onnx (nor unet/model.onnx of the diffusers layout)`);
  const schedFile = join(dir, 'scheduler_config.json');
  if (!existsSync(schedFile)) fail('UNREADABLE_FILE', `model folder ${dir} has no scheduler_config.json; add the diffusers scheduler config the model was trained with`);
  if (!existsSync(tweedieJson)) fail('UNREADABLE_FILE', `model folder ${dir} has no tweedie.json; it names the prediction type, time input, input/output names and the image shape`);
  const scheduler = readSchedulerConfig(schedFile, warn);
  return parseModelCard(readJson(tweedieJson), scheduler, { dir, modelFile, cardName: tweedieJson }, warn);
}

/**
 * The exported gradient graph's path on disk, checked when a VJP first needs it (a folder copied without it still
 * samples).
 */
export function gradientFile(spec: ModelSpec): string {
  const file = join(spec.dir, spec.gradient!.file);
  if (!existsSync(file)) fail('UNREADABLE_FILE', `${join(spec.dir, 'tweedie.json')}: "gradient" names ${spec.gradient!.file}, which is not in ${spec.dir}; export it with training/gradients.py, or remove the "gradient" key`);
  return file;
}

/**
 * The diffusers / optimum layout: the shape from unet/config.json (in_channels defaults as diffusers' classes do: 3
 * for UNet2DModel, 4 for UNet2DConditionModel), the conditioning inputs the ONNX model's own (spec.condInputs null:
 * an unconditional UNet2DModel has none, a UNet2DConditionModel encoder_hidden_states, a class-conditional one
 * class_labels).
 */
function readDiffusersLayout(dir: string, warn: (m: string) => void): ModelSpec {
  const schedFile = join(dir, 'scheduler', 'scheduler_config.json');
  if (!existsSync(schedFile)) fail('UNREADABLE_FILE', `diffusers model folder ${dir} has unet/model.onnx but no scheduler/scheduler_config.json`);
  const scheduler = readSchedulerConfig(schedFile, warn);
  const unetCfgFile = join(dir, 'unet', 'config.json');
  if (!existsSync(unetCfgFile)) fail('UNREADABLE_FILE', `diffusers model folder ${dir} has no unet/config.json to give the sample shape; add it or write a tweedie.json`);
  const u = readJson(unetCfgFile);
  const size = u.sample_size;
  const ch = Number(u.in_channels ?? (u._class_name === 'UNet2DModel' ? 3 : 4));
  const [h, w] = Array.isArray(size) ? (size as number[]) : [Number(size), Number(size)];
  if (!(Number.isInteger(h) && Number.isInteger(w) && h! > 0 && w! > 0)) fail('BAD_CONFIG', `${unetCfgFile}: "sample_size" must be an integer or [H, W]`);
  if (!(Number.isInteger(ch) && ch > 0)) fail('BAD_CONFIG', `${unetCfgFile}: "in_channels" must be a positive integer, got ${JSON.stringify(u.in_channels)}`);
  return {
    dir,
    modelFile: join(dir, 'unet', 'model.onnx'),
    scheduler,
    prediction: scheduler.prediction,
    timeInput: 'discrete',
    timeScale: 1,
    sampleInput: 'sample',
    timestepInput: 'timestep',
    output: null,
    condInputs: null,
    conditions: {},
    shape: checkedItemShape([ch, h!, w!], unetCfgFile, 'sample_size'),
    multiple: null,
    valueRange: [-1, 1],
    gradient: null,
    boundaries: [],
  };
}
