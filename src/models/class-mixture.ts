import { fail } from '../core/errors.js';
import { Tensor } from '../core/tensor.js';
import type { Path } from '../paths/path.js';
import type { ConditionSpecs } from './conditioning.js';
import type { Conditioning, Denoiser } from './denoiser.js';
import type { GaussianMixture } from './gmm.js';
import type { PredictionType } from './prediction.js';

/** Rows `rows` of x as a batch. */
function gather(x: Tensor, rows: readonly number[]): Tensor {
  const m = x.itemSize, out = Tensor.zeros([rows.length, ...x.shape.slice(1)], x.dtype);
  rows.forEach((r, i) => out.data.set(x.data.subarray(r * m, (r + 1) * m), i * m));
  return out;
}

/**
 * The exact denoisers of a class-conditional Gaussian mixture (MixtureJson "classes"): given class c, the posterior
 * mean under p(x0 | c), the mixture of class c's components; given the null class C, under p(x0) = sum_c p(c) p(x0 | c),
 * as a model trained with label dropout approximates both. The "class" condition is read per item, so one batch
 * may mix classes (classifier-free guidance runs the conditional and null items in one call).
 */
export class ClassMixtureDenoiser implements Denoiser {
  readonly itemShape: readonly number[];
  readonly gradient = 'exact';
  readonly conditions: ConditionSpecs;
  /** Denoisers by class index; index C (the null class) is the unconditional mixture. */
  private readonly byClass: Denoiser[];

  constructor(mixture: GaussianMixture, classes: Int32Array, readonly path: Path, readonly prediction: PredictionType) {
    const C = Math.max(...classes) + 1, all = [...classes.keys()];
    this.itemShape = mixture.shape;
    this.conditions = { class: { kind: 'class', input: 'class', classes: C, unconditional: C } };
    this.byClass = [...Array.from({ length: C }, (_, c) => all.filter((k) => classes[k] === c)), all].map((ks) => mixture.subMixture(ks).asDenoiser(path, prediction));
  }

  /** Runs f per class on that class's items and puts the results back in the batch's order. */
  private async perClass(x: Tensor, cond: Conditioning | undefined, f: (d: Denoiser, rows: number[], c: Conditioning) => Promise<Tensor>): Promise<Tensor> {
    const labels = cond?.inputs?.class;
    if (!labels) return fail('BAD_INPUT', 'a class-conditional mixture needs the condition "class" (the null class for unconditional); pass it in cond.inputs or bind it (bindConditions)');
    if (labels.size !== x.batch) fail('BAD_SHAPE', `${labels.size} class labels for ${x.batch} samples; give one per sample`);
    const stray = labels.data.find((c) => !(Number.isInteger(c) && c >= 0 && c < this.byClass.length));
    if (stray !== undefined) fail('BAD_INPUT', `class ${stray} is outside 0..${this.byClass.length - 2} and the null class ${this.byClass.length - 1}`);
    const out = x.zerosLike(), m = x.itemSize;
    for (let c = 0; c < this.byClass.length; c++) {
      const rows = [...labels.data.keys()].filter((i) => labels.data[i] === c);
      if (rows.length === 0) continue;
      const sub: Conditioning = cond?.anchor ? { anchor: gather(cond.anchor, rows) } : {};
      const r = await f(this.byClass[c]!, rows, sub);
      rows.forEach((row, i) => out.data.set(r.data.subarray(i * m, (i + 1) * m), row * m));
    }
    return out;
  }

  predict(x: Tensor, t: number, cond?: Conditioning): Promise<Tensor> {
    return this.perClass(x, cond, (d, rows, c) => d.predict(gather(x, rows), t, c));
  }

  x0Vjp(x: Tensor, t: number, v: Tensor, cond?: Conditioning): Promise<Tensor> {
    return this.perClass(x, cond, (d, rows, c) => d.x0Vjp!(gather(x, rows), t, gather(v, rows), c));
  }

  x0Jvp(x: Tensor, t: number, v: Tensor, cond?: Conditioning): Promise<Tensor> {
    return this.perClass(x, cond, (d, rows, c) => d.x0Jvp!(gather(x, rows), t, gather(v, rows), c));
  }
}
