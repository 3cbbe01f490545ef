import { join } from 'node:path';
import { fail } from '../core/errors.js';
import { Tensor } from '../core/tensor.js';
import { readJson } from './model-folder.js';
import { createSession, loadOrt, type OnnxOptions } from './onnx.js';
import type { OrtModule, OrtSession } from './ort-denoiser.js';

/** What an image classifier returns for a batch: logits [N, classes] and its penultimate features [N, F]. */
export interface Classification {
  logits: Tensor;
  features: Tensor;
}

/** The fields of classifier.json the loader uses (training/fmnist_classifier.py writes it). */
interface ClassifierCard {
  model: string;
  input: string;
  itemShape: number[];
  classes: string[];
}

function parseCard(dir: string): ClassifierCard {
  const file = join(dir, 'classifier.json');
  const card = readJson(file);
  const inputs = card.inputs as Record<string, { shape?: unknown }> | undefined;
  const [input, spec] = Object.entries(inputs ?? {})[0] ?? [];
  const shape = spec?.shape;
  if (!input || !Array.isArray(shape) || shape.length < 2 || !shape.slice(1).every((d) => Number.isInteger(d) && d > 0)) {
    fail('BAD_CONFIG', `${file}: "inputs" must name one input with a shape ["N", C, H, W]`);
  }
  const classes = card.classes;
  if (!Array.isArray(classes) || classes.length < 2) fail('BAD_CONFIG', `${file}: "classes" must list at least two class names`);
  return { model: typeof card.model === 'string' ? card.model : 'model.onnx', input, itemShape: (shape as number[]).slice(1), classes: classes.map(String) };
}

/**
 * An image classifier folder (model.onnx + classifier.json: one image input, outputs `logits` and `features`)
 * run by onnxruntime-node; e.g. weights/fmnist-classifier, the feature space of `tweedie bench quality`.
 */
export class OnnxClassifier {
  private constructor(
    readonly dir: string,
    private readonly card: ClassifierCard,
    private readonly ort: OrtModule,
    private readonly session: OrtSession,
  ) {
    for (const name of ['logits', 'features']) {
      if (!session.outputNames.includes(name)) fail('BAD_CONFIG', `${dir}: the classifier has no output "${name}" (its outputs are ${session.outputNames.join(', ')}); export it with training/fmnist_classifier.py`);
    }
    if (!session.inputNames.includes(card.input)) fail('BAD_CONFIG', `${dir}: the classifier has no input "${card.input}" (its inputs are ${session.inputNames.join(', ')}); fix "inputs" in classifier.json`);
  }

  static async load(dir: string, opts: OnnxOptions = {}): Promise<OnnxClassifier> {
    const card = parseCard(dir);
    const ort = opts.ort ?? (await loadOrt());
    const { session } = await createSession(ort, join(dir, card.model), { ...opts, backend: opts.backend ?? 'cpu' });
    return new OnnxClassifier(dir, card, ort, session);
  }

  get classes(): readonly string[] {
    return this.card.classes;
  }

  get itemShape(): readonly number[] {
    return this.card.itemShape;
  }

  /** Logits and features of images [N, ...itemShape] in the model's value range, `batch` images per session run. */
  async classify(x: Tensor, batch = 500): Promise<Classification> {
    const item = this.card.itemShape;
    if (x.shape.length !== item.length + 1 || x.shape.slice(1).some((d, i) => d !== item[i])) {
      fail('BAD_SHAPE', `${this.dir} classifies images of shape [N, ${item.join(', ')}] but got [${x.shape.join(', ')}]`);
    }
    const parts: Classification[] = [];
    for (let s = 0; s < x.batch; s += batch) {
      const chunk = x.sliceBatch(s, Math.min(x.batch, s + batch));
      const data = chunk.data instanceof Float32Array ? chunk.data : Float32Array.from(chunk.data);
      const out = await this.session.run({ [this.card.input]: new this.ort.Tensor('float32', data, chunk.shape) });
      const take = (name: string) => new Tensor(out[name]!.dims, Float32Array.from(out[name]!.data as ArrayLike<number>));
      parts.push({ logits: take('logits'), features: take('features') });
    }
    const stacked = (key: keyof Classification) => {
      const width = parts[0]?.[key].shape[1] ?? 0, all = new Float32Array(x.batch * width);
      parts.forEach((p, i) => all.set(p[key].data, i * batch * width));
      return new Tensor([x.batch, width], all);
    };
    return { logits: stacked('logits'), features: stacked('features') };
  }

  async release(): Promise<void> {
    await this.session.release?.();
  }
}
