import { fail } from '../core/errors.js';
import { Tensor } from '../core/tensor.js';
import type { Conditioning, Denoiser } from './denoiser.js';

/**
 * A named conditioning input a model declares (tweedie.json "conditioning"): a class label, an image or a vector.
 * `unconditional` is what the model was trained to read as "no condition" (the null class of label dropout, or the
 * fill value of a dropped image / vector); null: the model has no unconditional branch, so it cannot be guided.
 */
export type ConditionSpec =
  | { kind: 'class'; input: string; classes: number; unconditional: number | null }
  | { kind: 'image'; input: string; shape: readonly number[]; valueRange: readonly [number, number]; unconditional: number | null; from?: ImageConditionSource }
  | { kind: 'vector'; input: string; size: number; unconditional: number | null };

export type ConditionSpecs = Readonly<Record<string, ConditionSpec>>;

/**
 * How an image condition is built from a measurement rather than given: 'zero-filled' is the MRI operator's A^H y
 * (its real part for real images, as `MRIOperator.zeroFilled`), filled in by the cond-dc solver.
 */
export type ImageConditionSource = 'zero-filled';
const IMAGE_SOURCES: readonly ImageConditionSource[] = ['zero-filled'];

/** A condition as the API takes it: a class (one for all samples, or one per sample), or an image / vector tensor (one, or one per sample). */
export type ConditionValue = number | readonly number[] | Tensor;

const EXAMPLE = '{"class": {"kind": "class", "classes": 10, "unconditional": 10}}';

/** tweedie.json "conditioning" (absent: none), checked: `{name: {kind, input?, ...}}`, the input defaulting to the name. */
export function parseConditionSpecs(v: unknown, where: string): Record<string, ConditionSpec> {
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail('BAD_CONFIG', `${where}: "conditioning" must be an object like ${EXAMPLE}`);
  const out: Record<string, ConditionSpec> = {};
  for (const [name, raw] of Object.entries(v as Record<string, unknown>)) {
    const at = `${where}: conditioning.${name}`;
    if (name === 'sample' || name === 'timestep' || name === 'anchor') fail('BAD_CONFIG', `${at}: "${name}" is a reserved input role; name the condition otherwise (e.g. "class")`);
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('BAD_CONFIG', `${at} must be an object like ${EXAMPLE}`);
    const c = raw as Record<string, unknown>;
    const input = c.input ?? name;
    if (typeof input !== 'string' || input === '') fail('BAD_CONFIG', `${at}.input must be the ONNX input name (a string)`);
    const count = (key: string): number => {
      const n = c[key];
      if (!Number.isSafeInteger(n) || (n as number) < 1) fail('BAD_CONFIG', `${at}.${key} must be a positive integer, got ${JSON.stringify(n)}`);
      return n as number;
    };
    const fill = c.unconditional === undefined || c.unconditional === null ? null : Number(c.unconditional);
    if (fill !== null && !Number.isFinite(fill)) fail('BAD_CONFIG', `${at}.unconditional must be a number, got ${JSON.stringify(c.unconditional)}`);
    if (c.kind === 'class') {
      const classes = count('classes');
      // The null class is an index the network embeds besides the K real ones (usually K).
      if (fill !== null && !(Number.isSafeInteger(fill) && fill >= 0)) fail('BAD_CONFIG', `${at}.unconditional must be the null-class index (an integer >= 0, usually ${classes}), got ${JSON.stringify(c.unconditional)}`);
      if (fill !== null && fill < classes) fail('BAD_CONFIG', `${at}.unconditional ${fill} is one of the ${classes} real classes 0..${classes - 1}; the null class is an extra index (usually ${classes})`);
      out[name] = { kind: 'class', input, classes, unconditional: fill };
    } else if (c.kind === 'image') {
      const shape = c.shape;
      if (!Array.isArray(shape) || shape.length === 0 || !shape.every((d) => Number.isSafeInteger(d) && d > 0)) fail('BAD_CONFIG', `${at}.shape must be the image's [C, H, W], like [1, 32, 32]`);
      const range = c.value_range ?? [-1, 1];
      if (!Array.isArray(range) || range.length !== 2 || !(range[0] < range[1])) fail('BAD_CONFIG', `${at}.value_range must be [low, high]`);
      if (c.from !== undefined && !IMAGE_SOURCES.includes(c.from as ImageConditionSource)) fail('BAD_CONFIG', `${at}.from must be one of ${IMAGE_SOURCES.join(', ')} (the image built from a measurement), got ${JSON.stringify(c.from)}; drop it for an image the user gives`);
      const from = c.from as ImageConditionSource | undefined;
      out[name] = { kind: 'image', input, shape: shape as number[], valueRange: range as [number, number], unconditional: fill, ...(from ? { from } : {}) };
    } else if (c.kind === 'vector') {
      out[name] = { kind: 'vector', input, size: count('size'), unconditional: fill };
    } else {
      fail('BAD_CONFIG', `${at}.kind must be class, image or vector, got ${JSON.stringify(c.kind)}`);
    }
  }
  return out;
}

/** The shape of one item of a condition: a class is one number per sample ([N]), an image [N, ...shape], a vector [N, size]. */
function itemShapeOf(spec: ConditionSpec): readonly number[] {
  return spec.kind === 'class' ? [] : spec.kind === 'image' ? spec.shape : [spec.size];
}

/** A condition's form, for messages. */
function expectedForm(spec: ConditionSpec): string {
  if (spec.kind === 'class') return `an integer class 0..${spec.classes - 1}`;
  if (spec.kind === 'image') return `an image [${spec.shape.join(', ')}] with values in [${spec.valueRange.join(', ')}]`;
  return `a vector of ${spec.size} numbers`;
}

/** How a condition is named to the user: the CLI names its options, the API its keys. */
export type ConditionLabel = (name: string, spec?: ConditionSpec) => string;
const apiLabel: ConditionLabel = (name) => `condition.${name}`;

/** A condition of one value for every sample: its unconditional fill, as one item. */
function filled(spec: ConditionSpec, value: number): Tensor {
  const shape = itemShapeOf(spec), size = shape.reduce((p, q) => p * q, 1);
  return new Tensor([1, ...shape], new Float32Array(size).fill(value));
}

/**
 * Check the conditions given for a run of n samples against the model's declared ones, before any work: every
 * name declared, classes integers in range, images of the declared shape and range, one value or n. A declared
 * condition not given takes the model's unconditional value, or is refused when it has none. Returns one tensor
 * per declared condition, of batch 1 (shared) or n (one per sample).
 */
export function checkConditions(specs: ConditionSpecs | undefined, given: Readonly<Record<string, ConditionValue>>, n: number, modelName: string, label: ConditionLabel = apiLabel): Record<string, Tensor> {
  const declared = specs ?? {};
  for (const name of Object.keys(given)) {
    if (!(name in declared)) {
      const has = Object.keys(declared);
      fail('USAGE', `${label(name)}: ${modelName} has no conditioning input "${name}" (${has.length ? `it takes ${has.map((h) => `${label(h, declared[h]!)} (${expectedForm(declared[h]!)})`).join(', ')}` : 'it is unconditional: its tweedie.json declares no "conditioning"'}); drop the option`);
    }
  }
  const out: Record<string, Tensor> = {};
  for (const [name, spec] of Object.entries(declared)) {
    const v = given[name], what = label(name, spec);
    if (v === undefined) {
      if (spec.unconditional === null) fail('USAGE', `${modelName} needs ${what}: ${expectedForm(spec)} (it has no unconditional branch)`);
      out[name] = filled(spec, spec.unconditional);
      continue;
    }
    const item = itemShapeOf(spec), size = item.reduce((p, q) => p * q, 1);
    const values: ArrayLike<number> = v instanceof Tensor ? v.data : typeof v === 'number' ? [v] : v;
    const count = values.length / size;
    // A tensor is one item [...item] or a batch [k, ...item]: a wrong-sized image is not read as several.
    const itemOk = !(v instanceof Tensor) || (v.shape.length - item.length <= 1 && v.shape.slice(v.shape.length - item.length).join() === item.join());
    if (!(count === 1 || count === n) || !itemOk) {
      const shape = v instanceof Tensor ? `[${v.shape.join(', ')}]` : `${values.length} value${values.length > 1 ? 's' : ''}`;
      fail('BAD_SHAPE', `${what} has ${shape}; ${modelName} expects ${expectedForm(spec)}, one for all samples or one for each of the ${n}`);
    }
    for (let i = 0; i < values.length; i++) {
      const x = values[i]!;
      if (spec.kind === 'class' && !(Number.isInteger(x) && x >= 0 && x < spec.classes)) fail('USAGE', `${what} ${x} is outside the model's classes; give an integer 0..${spec.classes - 1}`);
      if (spec.kind === 'image' && !(x >= spec.valueRange[0] - 1e-6 && x <= spec.valueRange[1] + 1e-6)) fail('BAD_INPUT', `${what} has the value ${x}, outside the model's range [${spec.valueRange.join(', ')}]; scale the image to that range`);
      if (!Number.isFinite(x)) fail('BAD_INPUT', `${what} has the value ${x}; give finite numbers`);
    }
    out[name] = new Tensor([count, ...item], Float32Array.from(values));
  }
  return out;
}

/** The unconditional counterpart of checked conditions (each replaced by its declared fill), or the reason there is none. */
export function unconditionalOf(specs: ConditionSpecs | undefined, modelName: string, option: string): Record<string, Tensor> {
  const entries = Object.entries(specs ?? {});
  if (entries.length === 0) fail('USAGE', `${option}: ${modelName} is unconditional (its tweedie.json declares no "conditioning"); classifier-free guidance needs a conditional model trained with condition dropout`);
  const without = entries.filter(([, s]) => s.unconditional === null).map(([k]) => k);
  if (without.length) fail('USAGE', `${option}: ${modelName} has no unconditional branch (conditioning ${without.join(', ')} declares no "unconditional" value, so it was not trained with condition dropout); drop the guidance option`);
  return Object.fromEntries(entries.map(([k, s]) => [k, filled(s, s.unconditional!)]));
}

/** Conditions of batch 1 or n restricted to samples [start, end) of a run of n. */
export function conditionsOfBatch(c: Readonly<Record<string, Tensor>>, start: number, end: number): Record<string, Tensor> {
  return Object.fromEntries(Object.entries(c).map(([k, t]) => [k, t.batch === 1 ? t : t.sliceBatch(start, end)]));
}

/** A tensor of batch 1 repeated to batch n (a tensor of batch n as it is). */
export function repeatBatch(t: Tensor, n: number): Tensor {
  if (t.batch === n) return t;
  if (t.batch !== 1) fail('BAD_SHAPE', `a condition of batch ${t.batch} cannot serve ${n} samples`);
  return t.tile(n, t.shape.slice(1), 'float32');
}

/** The named inputs of a call on batch n, merged with what the caller passes (its anchor, say). */
export function withInputs(inputs: Readonly<Record<string, Tensor>>, n: number, extra?: Conditioning): Conditioning {
  const bound = Object.fromEntries(Object.entries(inputs).map(([k, t]) => [k, repeatBatch(t, n)]));
  return { ...extra, inputs: { ...extra?.inputs, ...bound } };
}

/** One call of a denoiser (a prediction, or an x0 derivative with its vector v) on inputs x, v and conditioning c. */
export type DenoiserCall = (x: Tensor, v: Tensor | undefined, c: Conditioning | undefined) => Promise<Tensor>;

/**
 * The denoiser with every call, predict and the x0 derivatives it has, made through `around` (which may change the
 * batch and the conditioning before calling, and combine what comes back).
 */
export function wrapCalls(denoiser: Denoiser, around: (call: DenoiserCall, x: Tensor, t: number, v: Tensor | undefined, extra?: Conditioning) => Promise<Tensor>): Denoiser {
  const { x0Vjp, x0Jvp } = denoiser;
  return {
    prediction: denoiser.prediction,
    path: denoiser.path,
    itemShape: denoiser.itemShape,
    ...(denoiser.layout ? { layout: denoiser.layout } : {}),
    ...(denoiser.gradient ? { gradient: denoiser.gradient } : {}),
    predict: (x, t, extra) => around((xx, _v, c) => denoiser.predict(xx, t, c), x, t, undefined, extra),
    ...(x0Vjp ? { x0Vjp: (x: Tensor, t: number, v: Tensor, extra?: Conditioning) => around((xx, vv, c) => x0Vjp.call(denoiser, xx, t, vv!, c), x, t, v, extra) } : {}),
    ...(x0Jvp ? { x0Jvp: (x: Tensor, t: number, v: Tensor, extra?: Conditioning) => around((xx, vv, c) => x0Jvp.call(denoiser, xx, t, vv!, c), x, t, v, extra) } : {}),
  };
}

/**
 * The model with its conditions fixed: every sampler and posterior solver runs it as an unconditional denoiser,
 * the conditions (batch 1, or the batch of the samples) going with every call, gradients included.
 */
export function bindConditions(denoiser: Denoiser, inputs: Readonly<Record<string, Tensor>>): Denoiser {
  return wrapCalls(denoiser, (call, x, _t, v, extra) => call(x, v, withInputs(inputs, x.batch, extra)));
}
