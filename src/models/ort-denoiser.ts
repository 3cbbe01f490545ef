import { fail, TweedieError } from '../core/errors.js';
import { Tensor } from '../core/tensor.js';
import type { Path } from '../paths/path.js';
import type { ConditionSpecs } from './conditioning.js';
import type { Conditioning, Denoiser, GradientRoute } from './denoiser.js';
import { decodeHalf, encodeHalf } from './float16.js';
import { sizeRule, takesItems, type ItemLayout } from './layout.js';
import type { ModelSpec } from './model-spec.js';
import { derivativesAt, x0Coefficients, type PredictionType } from './prediction.js';

/** The parts of onnxruntime's API used here (onnxruntime-node and onnxruntime-web share it). */
export interface OrtTensor {
  readonly data: unknown;
  readonly dims: readonly number[];
  readonly type: string;
}
export interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata?: readonly { name: string; type?: string; shape?: readonly (number | string)[] }[];
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release?(): Promise<void>;
  /** Writes the profile of a session created with enableProfiling (onnxruntime-node). */
  endProfiling?(): void;
}
export interface OrtModule {
  InferenceSession: { create(model: string | Uint8Array, options?: Record<string, unknown>): Promise<OrtSession> };
  Tensor: new (type: string, data: unknown, dims: readonly number[]) => OrtTensor;
  listSupportedBackends?: () => { name: string }[];
}

/**
 * A declared input shape [N, ...] fits items of `item`: same rank, and every fixed dimension after the batch agrees;
 * for a model with a layout (`anySize`) H and W must be dynamic too.
 */
function fitsItemShape(declared: readonly (number | string)[], item: readonly number[], anySize: boolean): boolean {
  const dynamic = (d: number | string) => typeof d !== 'number' || d <= 0;
  return declared.length === item.length + 1 && declared.slice(1).every((d, i) => dynamic(d) || (d === item[i] && !(anySize && i >= item.length - 2)));
}

/**
 * A Denoiser backed by an ONNX Runtime session of either runtime (node or web): created once, reused for every
 * call; the whole batch goes in one call; float16 models are converted at the boundary. A model whose
 * tweedie.json declares an exported gradient graph gets x0Vjp on the 'exported' route (the graph's session is
 * opened on the first VJP).
 */
export class OrtDenoiser implements Denoiser {
  readonly prediction: PredictionType;
  readonly path: Path;
  readonly itemShape: readonly number[];
  readonly layout?: ItemLayout;
  readonly gradient?: GradientRoute;
  readonly conditions?: ConditionSpecs;
  readonly x0Vjp?: (x: Tensor, t: number, v: Tensor, cond?: Conditioning) => Promise<Tensor>;
  /** Session runs: forward calls and exported-gradient calls. */
  calls = 0;
  private readonly inputTypes: Record<string, string> = {};
  /** Conditioning inputs, tweedie name -> ONNX input name: tweedie.json's, or a diffusers export's inputs besides sample and timestep. */
  private readonly condInputs: Record<string, string>;
  /**
   * The model declares its timestep a rank-0 scalar (current optimum exports) rather than one per item [N] (older
   * ones, tweedie's): one call serves the whole batch, which shares the time t of predict(x, t).
   */
  private readonly scalarTimestep: boolean;
  private readonly outputName: string;
  private gradSession: Promise<OrtSession> | null = null;

  /** Checks that the session has the inputs and output the spec names. */
  protected constructor(
    readonly spec: ModelSpec,
    private readonly ort: OrtModule,
    private readonly session: OrtSession,
    readonly backend: string,
    private readonly openGradient: (() => Promise<OrtSession>) | null = null,
  ) {
    this.prediction = spec.prediction;
    this.path = spec.scheduler.path;
    this.itemShape = spec.shape;
    if (spec.multiple !== null) this.layout = { multiple: spec.multiple, background: spec.valueRange[0] };
    const names = session.inputNames;
    for (const [role, name] of [['sample', spec.sampleInput], ['timestep', spec.timestepInput]] as const) {
      if (!names.includes(name)) fail('BAD_CONFIG', `${spec.dir}: the model has no input "${name}" for the ${role} (its inputs are ${names.join(', ')}); fix "inputs" in tweedie.json`);
    }
    this.condInputs = spec.condInputs ?? Object.fromEntries(names.filter((n) => n !== spec.sampleInput && n !== spec.timestepInput).map((n) => [n, n]));
    for (const [key, name] of Object.entries(this.condInputs)) {
      if (!names.includes(name)) fail('BAD_CONFIG', `${spec.dir}: conditioning input ${key} -> "${name}" is not an input of the model (${names.join(', ')})`);
    }
    if (Object.keys(spec.conditions).length) this.conditions = spec.conditions;
    this.checkConditionInputs(session);
    this.outputName = spec.output ?? session.outputNames[0]!;
    if (!session.outputNames.includes(this.outputName)) fail('BAD_CONFIG', `${spec.dir}: the model has no output "${this.outputName}" (its outputs are ${session.outputNames.join(', ')}); fix "output" in tweedie.json`);
    for (const m of session.inputMetadata ?? []) if (m.type) this.inputTypes[m.name] = m.type;
    const timestepShape = session.inputMetadata?.find((m) => m.name === spec.timestepInput)?.shape;
    this.scalarTimestep = timestepShape?.length === 0;
    const declared = session.inputMetadata?.find((m) => m.name === spec.sampleInput)?.shape;
    if (declared && !fitsItemShape(declared, spec.shape, this.layout !== undefined)) {
      if (this.layout) fail('BAD_CONFIG', `${spec.dir}: tweedie.json declares "multiple" ${this.layout.multiple} but the model's input "${spec.sampleInput}" has fixed H and W [${declared.join(', ')}]; export it with dynamic H and W (dynamic_axes) or drop "multiple"`);
      this.shapeMismatch(`the model's input "${spec.sampleInput}" has shape [${declared.join(', ')}]`, declared);
    }
    if (spec.gradient && openGradient) {
      this.gradient = 'exported';
      this.x0Vjp = (x, t, v, cond) => this.exportedX0Vjp(x, t, v, cond);
    }
  }

  /** The declared conditions fit the ONNX inputs they name: a class an integer input [N], an image [N, ...shape], a vector [N, size]. */
  private checkConditionInputs(session: OrtSession): void {
    for (const [key, c] of Object.entries(this.spec.conditions)) {
      const meta = session.inputMetadata?.find((m) => m.name === c.input);
      const where = `${this.spec.dir}: tweedie.json conditioning.${key} (ONNX input "${c.input}")`;
      if (c.kind === 'class' && meta?.type && !/^u?int/.test(meta.type)) fail('BAD_CONFIG', `${where} is a class label but the input has type ${meta.type}; export the label as an int64 input, or declare the kind "vector"`);
      const item = c.kind === 'class' ? [] : c.kind === 'image' ? c.shape : [c.size];
      if (meta?.shape && !fitsItemShape(meta.shape, item, false)) fail('BAD_CONFIG', `${where} has shape [${meta.shape.join(', ')}] but the declaration gives items [N${item.map((d) => `, ${d}`).join('')}]; fix "conditioning" in tweedie.json`);
    }
  }

  /** Where the item shape was declared: tweedie.json, or a diffusers export's unet/config.json. */
  private shapeSource(): string {
    return /[\\/]unet[\\/]model\.onnx$/.test(this.spec.modelFile) ? 'unet/config.json ("sample_size", "in_channels")' : 'tweedie.json';
  }

  /** The model and its declared item shape disagree: say both and where to fix it (one line). */
  private shapeMismatch(model: string, declared?: readonly (number | string)[]): never {
    const fixed = declared?.slice(1);
    const want = fixed && fixed.every((d) => typeof d === 'number' && d > 0) ? ` to [${fixed.join(', ')}]` : '';
    return fail('BAD_CONFIG', `${this.spec.dir}: ${model} but ${this.shapeSource()} gives items of shape [${this.itemShape.join(', ')}]; fix the shape in ${this.shapeSource()}${want}`);
  }

  /** The time value the network expects for path time t. */
  timeValue(t: number): number {
    const v = this.spec.timeInput === 'sigma' ? this.path.sigma(t) : t;
    return v * this.spec.timeScale;
  }

  private tensorFor(name: string, values: ArrayLike<number>, dims: readonly number[]): OrtTensor {
    const type = this.inputTypes[name] ?? 'float32';
    switch (type) {
      case 'float32':
        return new this.ort.Tensor('float32', values instanceof Float32Array ? values : Float32Array.from(values), dims);
      case 'float16':
        return new this.ort.Tensor('float16', encodeHalf(values), dims);
      case 'int64':
        return new this.ort.Tensor('int64', BigInt64Array.from(Array.from(values, (v) => BigInt(Math.round(v)))), dims);
      case 'int32':
        return new this.ort.Tensor('int32', Int32Array.from(values, Math.round), dims);
      case 'float64':
        return new this.ort.Tensor('float64', Float64Array.from(values), dims);
      default:
        return fail('UNSUPPORTED', `${this.spec.dir}: input ${name} has type ${type}; tweedie feeds float32, float16, float64, int32 or int64`);
    }
  }

  /** The item shape of x: the declared one, or for a model with a layout any size it takes. */
  private checkSample(x: Tensor): readonly number[] {
    if (this.layout) {
      const item = x.shape.slice(1);
      if (!takesItems(this, item)) fail('BAD_SHAPE', `${this.spec.dir} takes samples [N, ${this.itemShape.slice(0, -2).join(', ')}, H, W] where ${sizeRule(this.layout)}, but got [${x.shape.join(', ')}]; pad the items to the multiple (layout.ts padItems)`);
      return item;
    }
    const item = this.itemShape.reduce((p, q) => p * q, 1);
    if (x.itemSize !== item || x.shape.length !== this.itemShape.length + 1) {
      fail('BAD_SHAPE', `${this.spec.dir} expects samples of shape [N, ${this.itemShape.join(', ')}] but got [${x.shape.join(', ')}]`);
    }
    return this.itemShape;
  }

  /** The feeds of a forward call (the gradient graph takes the same, plus the cotangent). */
  private feeds(x: Tensor, t: number, cond?: Conditioning): Record<string, OrtTensor> {
    const item = this.checkSample(x);
    const n = x.batch;
    const feeds: Record<string, OrtTensor> = {
      [this.spec.sampleInput]: this.tensorFor(this.spec.sampleInput, x.data, [n, ...item]),
      [this.spec.timestepInput]: this.tensorFor(this.spec.timestepInput, new Float64Array(this.scalarTimestep ? 1 : n).fill(this.timeValue(t)), this.scalarTimestep ? [] : [n]),
    };
    for (const [key, name] of Object.entries(this.condInputs)) {
      const c = key === 'anchor' ? cond?.anchor : cond?.inputs?.[key];
      if (!c) fail('BAD_INPUT', `${this.spec.dir} needs the conditioning input "${key}" (ONNX input ${name}); pass it in cond.inputs`);
      feeds[name] = this.tensorFor(name, c.data, c.shape);
    }
    return feeds;
  }

  /** One session run, counted; a refusal by the runtime becomes one line. */
  private async run(session: OrtSession, feeds: Record<string, OrtTensor>, n: number): Promise<Record<string, OrtTensor>> {
    let outputs: Record<string, OrtTensor>;
    try {
      outputs = await session.run(feeds);
    } catch (e) {
      if (e instanceof TweedieError) throw e;
      const reason = (e as Error).message.replace(/\s*\n\s*/g, ' ').trim();
      // A first call refused for its dimensions is a wrong declared shape (a model whose metadata has no shapes).
      if (this.calls === 0 && !this.layout && /dimension|shape/i.test(reason)) this.shapeMismatch(`the model refused samples [${n}, ${this.itemShape.join(', ')}] (${reason})`);
      return fail('BAD_SHAPE', `${this.spec.dir}: ONNX Runtime rejected the call: ${reason}`);
    }
    this.calls++;
    return outputs;
  }

  /** Output `name` as a tensor shaped like x. */
  private outputLike(outputs: Record<string, OrtTensor>, name: string, x: Tensor): Tensor {
    const out = outputs[name]!;
    const result = x.zerosLike();
    if (out.type === 'float16') decodeHalf(out.data as Uint16Array, result.data);
    else {
      const d = out.data as ArrayLike<number>;
      if (d.length !== result.size) fail('BAD_SHAPE', `${this.spec.dir}: output "${name}" has ${d.length} values for an input of ${result.size}`);
      result.data.set(d);
    }
    return result;
  }

  async predict(x: Tensor, t: number, cond?: Conditioning): Promise<Tensor> {
    const outputs = await this.run(this.session, this.feeds(x, t, cond), x.batch);
    return this.outputLike(outputs, this.outputName, x);
  }

  /** The gradient graph's session, opened once and checked against tweedie.json "gradient". */
  private gradientSession(): Promise<OrtSession> {
    this.gradSession ??= this.openGradient!().then((session) => {
      const g = this.spec.gradient!, where = `${this.spec.dir}: the gradient graph ${g.file}`, fix = 'fix "gradient" in tweedie.json or export the graph again with training/gradients.py';
      const inputs = [this.spec.sampleInput, this.spec.timestepInput, ...Object.values(this.condInputs), g.cotangent];
      const missing = inputs.filter((name) => !session.inputNames.includes(name));
      if (missing.length) fail('BAD_CONFIG', `${where} has no input ${missing.map((m) => `"${m}"`).join(', ')} (its inputs are ${session.inputNames.join(', ')}); ${fix}`);
      if (!session.outputNames.includes(g.vjp)) fail('BAD_CONFIG', `${where} has no output "${g.vjp}" for the vjp (its outputs are ${session.outputNames.join(', ')}); ${fix}`);
      for (const m of session.inputMetadata ?? []) if (m.type) this.inputTypes[m.name] ??= m.type;
      return session;
    });
    return this.gradSession;
  }

  /**
   * v^T d x0 / d x through the exported graph: x0 = cz z + cp pred + const for every prediction type (z = x - b mu),
   * so v^T d x0 / d x = cz v + vjp(cotangent = cp v), one run of the graph.
   */
  private async exportedX0Vjp(x: Tensor, t: number, v: Tensor, cond?: Conditioning): Promise<Tensor> {
    if (v.size !== x.size) fail('BAD_SHAPE', `the cotangent [${v.shape.join(', ')}] must have the sample's shape [${x.shape.join(', ')}]`);
    const session = await this.gradientSession();
    const p = this.path.point(t);
    const { cz, cp } = x0Coefficients(this.prediction, p, this.prediction === 'velocity' ? derivativesAt(this.path, t) : null);
    const g = this.spec.gradient!, feeds = this.feeds(x, t, cond);
    const cot = new Float32Array(v.size);
    for (let i = 0; i < cot.length; i++) cot[i] = cp * v.data[i]!;
    feeds[g.cotangent] = this.tensorFor(g.cotangent, cot, x.shape);
    const vjp = this.outputLike(await this.run(session, feeds, x.batch), g.vjp, x);
    const d = vjp.data;
    for (let i = 0; i < d.length; i++) d[i] = cz * v.data[i]! + d[i]!;
    return vjp;
  }

  async release(): Promise<void> {
    await this.session.release?.();
    if (this.gradSession) await (await this.gradSession.catch(() => null))?.release?.();
  }
}
