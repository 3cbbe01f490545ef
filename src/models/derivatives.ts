import { fail } from '../core/errors.js';
import { Tensor } from '../core/tensor.js';
import type { Conditioning, Denoiser } from './denoiser.js';
import { ModelFn } from './model-fn.js';

/**
 * Forward-only derivatives of any denoiser: the Jacobian-vector product of its x0 estimate with respect
 * to x_t by central differences, J v = (x0(x + h v) - x0(x - h v)) / 2h + O(h^2), both evaluations in one
 * batched model call. It needs nothing but forward passes, so it serves ONNX models and the browser.
 */

export interface JvpOptions {
  /**
   * The step h per item (default: cbrt(eps) (1 + rms(x)) / rms(v), eps the data type's machine epsilon,
   * which balances the O(h^2) truncation against the O(eps / h) rounding error).
   */
  step?: number;
  cond?: Conditioning;
}

export interface JvpResult {
  /** J v, shaped like x. */
  jvp: Tensor;
  /** The step used for each item. */
  steps: Float64Array;
  /** Model evaluations per item (2). */
  nfe: number;
}

const epsilonOf = (x: Tensor) => (x.dtype === 'float64' ? 2 ** -52 : 2 ** -23);

function rms(d: ArrayLike<number>, lo: number, hi: number): number {
  let s = 0;
  for (let i = lo; i < hi; i++) s += d[i]! * d[i]!;
  return Math.sqrt(s / (hi - lo));
}

/** J v of the x0 estimate at (x, t), batched: x and v are [B, ...item]. */
export async function x0JvpByDifferences(denoiser: Denoiser, x: Tensor, t: number, v: Tensor, options: JvpOptions = {}): Promise<JvpResult> {
  if (v.size !== x.size) fail('BAD_SHAPE', `the direction [${v.shape.join(', ')}] must have the state's shape [${x.shape.join(', ')}]`);
  const B = x.batch, n = x.itemSize, eps = epsilonOf(x);
  const steps = new Float64Array(B);
  for (let b = 0; b < B; b++) {
    const scale = (1 + rms(x.data, b * n, (b + 1) * n)) / Math.max(rms(v.data, b * n, (b + 1) * n), Number.MIN_VALUE);
    // Below sqrt(eps) of the state's scale the difference is mostly rounding: refuse such a step.
    const smallest = Math.sqrt(eps) * scale;
    if (options.step !== undefined && !(options.step >= smallest)) {
      fail('BAD_INPUT', `finite-difference step ${options.step} is too small for ${x.dtype} data here; use ${smallest.toPrecision(2)} or more (default ${(Math.cbrt(eps) * scale).toPrecision(2)})`);
    }
    steps[b] = options.step ?? Math.cbrt(eps) * scale;
  }
  // Items [x + h v ; x - h v] in one call.
  const both = Tensor.zeros([2 * B, ...x.shape.slice(1)], x.dtype);
  for (let b = 0; b < B; b++) {
    for (let i = b * n; i < (b + 1) * n; i++) {
      both.data[i] = x.data[i]! + steps[b]! * v.data[i]!;
      both.data[B * n + i] = x.data[i]! - steps[b]! * v.data[i]!;
    }
  }
  // Both halves of the batch see the same conditioning.
  const twice = (c: Tensor) => {
    const out = Tensor.zeros([2 * c.batch, ...c.shape.slice(1)], c.dtype);
    out.data.set(c.data);
    out.data.set(c.data, c.size);
    return out;
  };
  const given = options.cond;
  const cond: Conditioning | undefined = given && {
    ...(given.anchor ? { anchor: twice(given.anchor) } : {}),
    ...(given.inputs ? { inputs: Object.fromEntries(Object.entries(given.inputs).map(([k, c]) => [k, twice(c)])) } : {}),
  };
  const fn = new ModelFn(denoiser, { caller: 'jvp', ...(cond ? { cond } : {}) });
  const p = denoiser.path.point(t);
  const { x0 } = await fn.estimate(fn.center(both, p.b), p);
  const jvp = x.zerosLike();
  for (let b = 0; b < B; b++) {
    const h2 = 2 * steps[b]!;
    for (let i = b * n; i < (b + 1) * n; i++) jvp.data[i] = (x0.data[i]! - x0.data[B * n + i]!) / h2;
  }
  return { jvp, steps, nfe: 2 };
}
