import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fail } from '../core/errors.js';
import { readSchedulerConfig, type SchedulerConfig } from '../paths/scheduler-config.js';
import { parsePredictionType, type PredictionType } from './prediction.js';

/** How a network takes its time input: the path's time as is (discrete timestep or continuous t) or sigma = s/a. */
export type ModelTimeInput = 'discrete' | 'continuous' | 'sigma';

/** The normalised content of a model folder's tweedie.json (or what the diffusers layout implies). */
export interface ModelSpec {
  dir: string;
  modelFile: string;
  scheduler: SchedulerConfig;
  prediction: PredictionType;
  timeInput: ModelTimeInput;
  /** Multiplier applied to the time input (e.g. 1000 for a network trained on t * 1000). */
  timeScale: number;
  sampleInput: string;
  timestepInput: string;
  output: string | null;
  /** Other inputs, by tweedie conditioning name -> ONNX input name. */
  condInputs: Record<string, string>;
  shape: number[];
  valueRange: [number, number];
}

const KNOWN = new Set(['prediction', 'time_input', 'time_scale', 'inputs', 'output', 'shape', 'value_range', 'description']);

function readJson(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    return fail('UNREADABLE_FILE', `cannot read ${file}: ${(e as Error).message}`);
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) fail('BAD_CONFIG', `${file}: expected a JSON object`);
    return v as Record<string, unknown>;
  } catch (e) {
    if ((e as { code?: string }).code) throw e;
    return fail('BAD_CONFIG', `${file} is not valid JSON: ${(e as Error).message}`);
  }
}

function shapeOf(v: unknown, where: string): number[] {
  if (!Array.isArray(v) || v.length === 0 || !v.every((d) => Number.isInteger(d) && d > 0)) {
    fail('BAD_CONFIG', `${where}: "shape" must be a list of positive integers like [1, 32, 32]`);
  }
  return v as number[];
}

/**
 * Read a model folder: either tweedie's layout (model.onnx + scheduler_config.json + tweedie.json) or the
 * diffusers / optimum ONNX export layout (unet/model.onnx + scheduler/scheduler_config.json, inputs
 * sample / timestep / encoder_hidden_states, shape from unet/config.json).
 */
export function readModelFolder(dir: string, warn: (m: string) => void = (m) => process.stderr.write(`warning: ${m}\n`)): ModelSpec {
  if (!existsSync(dir)) fail('UNREADABLE_FILE', `model folder ${dir} does not exist`);
  const tweedieJson = join(dir, 'tweedie.json');
  if (existsSync(join(dir, 'unet', 'model.onnx')) && !existsSync(tweedieJson)) return readDiffusersLayout(dir);
  const modelFile = join(dir, 'model.onnx');
  if (!existsSync(modelFile)) fail('UNREADABLE_FILE', `model folder ${dir} has no model.onnx (nor unet/model.onnx of the diffusers layout)`);
  const schedFile = join(dir, 'scheduler_config.json');
  if (!existsSync(schedFile)) fail('UNREADABLE_FILE', `model folder ${dir} has no scheduler_config.json; add the diffusers scheduler config the model was trained with`);
  if (!existsSync(tweedieJson)) fail('UNREADABLE_FILE', `model folder ${dir} has no tweedie.json; it names the prediction type, time input, input/output names and the image shape`);
  const scheduler = readSchedulerConfig(schedFile, warn);
  const t = readJson(tweedieJson);
  const unknown = Object.keys(t).filter((k) => !KNOWN.has(k));
  if (unknown.length) warn(`${tweedieJson}: ignoring unknown key${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}`);
  const timeInput = (t.time_input ?? scheduler.path.timeInput) as ModelTimeInput;
  if (!['discrete', 'continuous', 'sigma'].includes(timeInput)) fail('BAD_CONFIG', `${tweedieJson}: "time_input" must be discrete, continuous or sigma, got ${JSON.stringify(t.time_input)}`);
  const inputs = (t.inputs ?? {}) as Record<string, unknown>;
  if (typeof inputs !== 'object' || Array.isArray(inputs)) fail('BAD_CONFIG', `${tweedieJson}: "inputs" must be an object like {"sample": "sample", "timestep": "timestep"}`);
  const condInputs: Record<string, string> = {};
  for (const [k, v] of Object.entries(inputs)) {
    if (typeof v !== 'string') fail('BAD_CONFIG', `${tweedieJson}: inputs.${k} must be an input name (a string)`);
    if (k !== 'sample' && k !== 'timestep') condInputs[k] = v;
  }
  const range = (t.value_range ?? [-1, 1]) as [number, number];
  if (!Array.isArray(range) || range.length !== 2 || !(range[0] < range[1])) fail('BAD_CONFIG', `${tweedieJson}: "value_range" must be [low, high]`);
  const timeScale = t.time_scale === undefined ? 1 : Number(t.time_scale);
  if (!(timeScale > 0)) fail('BAD_CONFIG', `${tweedieJson}: "time_scale" must be a positive number`);
  return {
    dir,
    modelFile,
    scheduler,
    prediction: t.prediction === undefined ? scheduler.prediction : parsePredictionType(String(t.prediction), `${tweedieJson} "prediction"`),
    timeInput,
    timeScale,
    sampleInput: (inputs.sample as string | undefined) ?? 'sample',
    timestepInput: (inputs.timestep as string | undefined) ?? 'timestep',
    output: typeof t.output === 'string' ? t.output : null,
    condInputs,
    shape: shapeOf(t.shape, tweedieJson),
    valueRange: range,
  };
}

function readDiffusersLayout(dir: string): ModelSpec {
  const schedFile = join(dir, 'scheduler', 'scheduler_config.json');
  if (!existsSync(schedFile)) fail('UNREADABLE_FILE', `diffusers model folder ${dir} has unet/model.onnx but no scheduler/scheduler_config.json`);
  const scheduler = readSchedulerConfig(schedFile);
  const unetCfgFile = join(dir, 'unet', 'config.json');
  if (!existsSync(unetCfgFile)) fail('UNREADABLE_FILE', `diffusers model folder ${dir} has no unet/config.json to give the sample shape; add it or write a tweedie.json`);
  const u = readJson(unetCfgFile);
  const size = u.sample_size;
  const ch = Number(u.in_channels ?? 4);
  const [h, w] = Array.isArray(size) ? (size as number[]) : [Number(size), Number(size)];
  if (!(Number.isInteger(h) && Number.isInteger(w) && h! > 0 && w! > 0)) fail('BAD_CONFIG', `${unetCfgFile}: "sample_size" must be an integer or [H, W]`);
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
    condInputs: { encoder_hidden_states: 'encoder_hidden_states' },
    shape: [ch, h!, w!],
    valueRange: [-1, 1],
  };
}
