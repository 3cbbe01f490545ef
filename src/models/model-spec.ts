import { fail } from '../core/errors.js';
import { MAX_VALUES } from '../core/limits.js';
import type { SchedulerConfig } from '../paths/scheduler-config.js';
import { parseBoundaries, type BoundarySpec } from './boundary-spec.js';
import { parseConditionSpecs, type ConditionSpec } from './conditioning.js';
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
  /**
   * Other inputs, by tweedie conditioning name -> ONNX input name; null (a diffusers export): the model's own inputs
   * besides sample and timestep, each under its ONNX name.
   */
  condInputs: Record<string, string> | null;
  /** tweedie.json "conditioning": the named conditions (class, image, vector) the model declares; their inputs are in condInputs too. */
  conditions: Record<string, ConditionSpec>;
  /** The default item shape (what `sample` draws); a model with `multiple` takes other sizes too. */
  shape: number[];
  /** tweedie.json "multiple": the model takes any H x W that are multiples of it (at least it); null: only `shape`. */
  multiple: number | null;
  valueRange: [number, number];
  /** The exported gradient graph declared beside the model (tweedie.json "gradient"), or null. */
  gradient: GradientGraphSpec | null;
  /** tweedie.json "boundary": optimal starting noises of a restoration model, one per sampler setting (boundary-spec.ts). */
  boundaries: BoundarySpec[];
}

/**
 * tweedie.json "gradient": a graph that takes the model's inputs plus a cotangent [N, ...item] and returns the
 * model's output and the vector-Jacobian product cotangent^T d out / d sample (training/gradients.py writes it).
 */
export interface GradientGraphSpec {
  /** The graph's file name inside the model folder. */
  file: string;
  cotangent: string;
  output: string;
  vjp: string;
}

const KNOWN = new Set(['prediction', 'time_input', 'time_scale', 'inputs', 'output', 'shape', 'value_range', 'description', 'gradient', 'multiple', 'conditioning', 'boundary', 'quantized']);

const GRADIENT_EXAMPLE = '{"file": "model.grad.onnx", "cotangent": "cotangent", "output": "out", "vjp": "vjp"}';

function gradientOf(v: unknown, name: string): GradientGraphSpec | null {
  if (v === undefined) return null;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return fail('BAD_CONFIG', `${name}: "gradient" must be an object like ${GRADIENT_EXAMPLE}`);
  const g = v as Record<string, unknown>;
  const field = (key: string, dflt: string): string => {
    const f = g[key] ?? dflt;
    if (typeof f !== 'string' || f === '') return fail('BAD_CONFIG', `${name}: gradient.${key} must be a non-empty string (e.g. ${GRADIENT_EXAMPLE})`);
    return f;
  };
  const file = field('file', '');
  // A name inside the folder: the graph is fetched next to model.onnx in the browser as on disk.
  if (!/^[\w.-]+\.onnx$/.test(file) || file.startsWith('.')) fail('BAD_CONFIG', `${name}: gradient.file must be an .onnx file name inside the model folder, like "model.grad.onnx", got ${JSON.stringify(file)}`);
  return { file, cotangent: field('cotangent', 'cotangent'), output: field('output', 'out'), vjp: field('vjp', 'vjp') };
}

/** An item shape a model folder declares, within the values one array may hold. */
export function checkedItemShape(shape: number[], where: string, key: string): number[] {
  const size = shape.reduce((p, d) => p * d, 1);
  if (size > MAX_VALUES) fail('BAD_CONFIG', `${where}: "${key}" [${shape.join(', ')}] holds ${size} values per item, more than 2^27 = ${MAX_VALUES}; give the shape of one sample, like [1, 32, 32]`);
  return shape;
}

function shapeOf(v: unknown, where: string): number[] {
  if (!Array.isArray(v) || v.length === 0 || !v.every((d) => Number.isInteger(d) && d > 0)) {
    fail('BAD_CONFIG', `${where}: "shape" must be a list of positive integers like [1, 32, 32]`);
  }
  return checkedItemShape(v as number[], where, 'shape');
}

/** tweedie.json "multiple": a positive integer that divides the default shape's H and W, or absent (a fixed-size model). */
function multipleOf(v: unknown, shape: number[], where: string): number | null {
  if (v === undefined) return null;
  if (!Number.isSafeInteger(v) || (v as number) < 1) fail('BAD_CONFIG', `${where}: "multiple" must be a positive integer (the spatial sizes the network takes are multiples of it, e.g. 8), got ${JSON.stringify(v)}`);
  const m = v as number, hw = shape.slice(-2);
  if (shape.length < 2 || hw.some((d) => d % m !== 0)) fail('BAD_CONFIG', `${where}: "multiple" ${m} does not divide the H and W of "shape" [${shape.join(', ')}]; give a default shape whose last two sizes are multiples of ${m}`);
  return m;
}

/** Where a model's parts came from: its folder (or URL), its ONNX file and its tweedie.json, for messages. */
export interface ModelSource {
  dir: string;
  modelFile: string;
  cardName: string;
}

/** tweedie.json "value_range": the model's [low, high] (default [-1, 1]). */
export function valueRangeOf(t: Record<string, unknown>, name: string): [number, number] {
  const range = (t.value_range ?? [-1, 1]) as [number, number];
  if (!Array.isArray(range) || range.length !== 2 || !(range[0] < range[1])) fail('BAD_CONFIG', `${name}: "value_range" must be [low, high]`);
  return range;
}

/** Check a parsed tweedie.json against the model's scheduler config and normalise it (no file access). */
export function parseModelCard(card: unknown, scheduler: SchedulerConfig, source: ModelSource, warn: (m: string) => void): ModelSpec {
  const name = source.cardName;
  if (typeof card !== 'object' || card === null || Array.isArray(card)) fail('BAD_CONFIG', `${name}: expected a JSON object`);
  const t = card as Record<string, unknown>;
  const unknown = Object.keys(t).filter((k) => !KNOWN.has(k));
  if (unknown.length) warn(`${name}: ignoring unknown key${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}`);
  const timeInput = (t.time_input ?? scheduler.path.timeInput) as ModelTimeInput;
  if (!['discrete', 'continuous', 'sigma'].includes(timeInput)) fail('BAD_CONFIG', `${name}: "time_input" must be discrete, continuous or sigma, got ${JSON.stringify(t.time_input)}`);
  const inputs = (t.inputs ?? {}) as Record<string, unknown>;
  if (typeof inputs !== 'object' || Array.isArray(inputs)) fail('BAD_CONFIG', `${name}: "inputs" must be an object like {"sample": "sample", "timestep": "timestep"}`);
  const condInputs: Record<string, string> = {};
  for (const [k, v] of Object.entries(inputs)) {
    if (typeof v !== 'string') fail('BAD_CONFIG', `${name}: inputs.${k} must be an input name (a string)`);
    if (k !== 'sample' && k !== 'timestep') condInputs[k] = v;
  }
  const conditions = parseConditionSpecs(t.conditioning, name);
  for (const [k, c] of Object.entries(conditions)) {
    if (k in condInputs && condInputs[k] !== c.input) fail('BAD_CONFIG', `${name}: conditioning.${k} reads input "${c.input}" but inputs.${k} says "${condInputs[k]}"; name it in one place`);
    condInputs[k] = c.input;
  }
  const range = valueRangeOf(t, name);
  const shape = shapeOf(t.shape, name);
  const timeScale = t.time_scale === undefined ? 1 : Number(t.time_scale);
  if (!(timeScale > 0)) fail('BAD_CONFIG', `${name}: "time_scale" must be a positive number`);
  return {
    dir: source.dir,
    modelFile: source.modelFile,
    scheduler,
    prediction: t.prediction === undefined ? scheduler.prediction : parsePredictionType(String(t.prediction), `${name} "prediction"`),
    timeInput,
    timeScale,
    sampleInput: (inputs.sample as string | undefined) ?? 'sample',
    timestepInput: (inputs.timestep as string | undefined) ?? 'timestep',
    output: typeof t.output === 'string' ? t.output : null,
    condInputs,
    conditions,
    shape,
    multiple: multipleOf(t.multiple, shape, name),
    valueRange: range,
    gradient: gradientOf(t.gradient, name),
    boundaries: parseBoundaries(t.boundary, name),
  };
}
