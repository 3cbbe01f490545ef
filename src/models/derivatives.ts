import { fail } from '../core/errors.js';
import { NoiseSource, Stream } from '../core/rng.js';
import { Tensor } from '../core/tensor.js';
import type { Conditioning, Denoiser, GradientRoute } from './denoiser.js';
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
  /**
   * The length on which the function varies near x, when below 1 (e.g. the noise level s of the path point: the
   * x0 estimate changes on that scale near the data): the default step shrinks by it, down to sqrt(eps) (1 + rms(x)) / rms(v).
   */
  lengthScale?: number;
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
    steps[b] = options.step ?? Math.max(smallest, Math.cbrt(eps) * Math.min(1, options.lengthScale ?? 1) * scale);
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

/** J v of the x0 estimate: exact where the denoiser computes it, else by central differences. */
export async function x0Jvp(denoiser: Denoiser, x: Tensor, t: number, v: Tensor, options: JvpOptions = {}): Promise<{ jvp: Tensor; nfe: number }> {
  if (denoiser.x0Jvp && options.step === undefined) return { jvp: await denoiser.x0Jvp(x, t, v, options.cond), nfe: 0 };
  return x0JvpByDifferences(denoiser, x, t, v, options);
}

/** Which gradient route to use: one of the routes, or 'auto' (the denoiser's own gradient, else differences). */
export type GradientChoice = GradientRoute | 'auto';
export const GRADIENT_CHOICES: readonly GradientChoice[] = ['auto', 'exact', 'exported', 'differences'];

/**
 * The route `choice` resolves to for a model whose own gradient route is `own` (null: none): 'auto' is its own,
 * else differences. A route the model lacks is refused in one line naming the routes that work.
 */
export function resolveGradientRoute(own: GradientRoute | null, choice: GradientChoice, name = 'the model'): GradientRoute {
  if (!GRADIENT_CHOICES.includes(choice)) fail('USAGE', `unknown gradient route "${String(choice)}"; use one of ${GRADIENT_CHOICES.join(', ')}`);
  if (choice === 'auto') return own ?? 'differences';
  if (choice === own || choice === 'differences') return choice;
  const works = own ? `'${own}' or 'differences'` : `'differences'`;
  if (choice === 'exported') return fail('UNSUPPORTED', `${name} has no exported gradient (no "gradient" graph in its tweedie.json); use the gradient route ${works}, or export one with training/gradients.py`);
  return fail('UNSUPPORTED', `${name} has no exact gradient (only analytic models do); use the gradient route ${works}`);
}

/**
 * The denoiser with its x0Vjp on the chosen route. 'differences' stands the JVP in for the VJP, which is
 * right only where the Jacobian is symmetric (x0JacobianAsymmetry measures how far a network is from that).
 */
export function withGradientRoute(denoiser: Denoiser, choice: GradientChoice, name = 'the model'): Denoiser {
  const own = gradientRouteOf(denoiser);
  return resolveGradientRoute(own, choice, name) === own ? denoiser : new DifferenceGradient(denoiser);
}

/** The route of a denoiser's own x0Vjp, or null when it has none. */
export function gradientRouteOf(denoiser: Denoiser): GradientRoute | null {
  return denoiser.x0Vjp ? denoiser.gradient ?? 'exact' : null;
}

/** A denoiser whose VJP is its JVP by central differences (2 model evaluations). */
class DifferenceGradient implements Denoiser {
  readonly gradient = 'differences';
  readonly prediction: Denoiser['prediction'];
  readonly path: Denoiser['path'];
  readonly itemShape: Denoiser['itemShape'];
  readonly layout?: Denoiser['layout'];
  readonly conditions?: Denoiser['conditions'];
  constructor(private readonly inner: Denoiser) {
    if (inner.conditions) this.conditions = inner.conditions;
    this.prediction = inner.prediction;
    this.path = inner.path;
    this.itemShape = inner.itemShape;
    if (inner.layout) this.layout = inner.layout;
  }
  predict(x: Tensor, t: number, cond?: Conditioning): Promise<Tensor> {
    return this.inner.predict(x, t, cond);
  }
  async x0Vjp(x: Tensor, t: number, v: Tensor, cond?: Conditioning): Promise<Tensor> {
    return (await x0JvpByDifferences(this.inner, x, t, v, cond ? { cond } : {})).jvp;
  }
}

export interface AsymmetryResult {
  /** mean |u^T J v - v^T J u| / mean |u^T J v| over the probe pairs: 0 for a symmetric Jacobian. */
  asymmetry: number;
  /** Its standard error over the probe pairs (delta method for a ratio of means). */
  asymmetryStderr: number;
  /**
   * ||(J - J^T)/2||_F / ||J||_F, the relative size of the rotational part, from the same pairs:
   * E[(u^T A v)^2] = ||A||_F^2 for independent standard normal u, v, and u^T (J - J^T) v / 2 = (u^T J v - v^T J u) / 2.
   */
  rotational: number;
  rotationalStderr: number;
  /** Probe pairs per item, and model evaluations per item. */
  probes: number;
  nfe: number;
}

/**
 * How far the x0 Jacobian at (x, t) is from symmetric, from random probe pairs (u, v) ~ N(0, I): an exact
 * MMSE denoiser has J = a/s^2 Cov[x0 | x_t], symmetric, so its score field is conservative; a trained
 * network's need not be. Each pair costs two JVPs; all of them go in one model call (4 x probes items per item).
 */
export async function x0JacobianAsymmetry(denoiser: Denoiser, x: Tensor, t: number, options: { probes?: number; seed?: number; cond?: Conditioning } = {}): Promise<AsymmetryResult> {
  const P = options.probes ?? 8, B = x.batch, n = x.itemSize;
  if (!(Number.isInteger(P) && P >= 1)) fail('BAD_INPUT', `probes must be an integer >= 1, got ${P}`);
  const noise = new NoiseSource(options.seed ?? 0);
  // Rows: for item b and probe k, row (b P + k) of X holds x_b; V holds v, U holds u.
  const rows = B * P, shape = [2 * rows, ...x.shape.slice(1)];
  const X = Tensor.zeros(shape, x.dtype), D = Tensor.zeros(shape, x.dtype);
  const u = noise.normal([rows, n], 0, Stream.aux, x.dtype), v = noise.normal([rows, n], 1, Stream.aux, x.dtype);
  for (let r = 0; r < rows; r++) {
    const xb = x.data.subarray(Math.floor(r / P) * n, (Math.floor(r / P) + 1) * n);
    X.data.set(xb, r * n);
    X.data.set(xb, (rows + r) * n);
    D.data.set(v.data.subarray(r * n, (r + 1) * n), r * n);
    D.data.set(u.data.subarray(r * n, (r + 1) * n), (rows + r) * n);
  }
  const cond = options.cond && repeatConditioning(options.cond, B, 2 * P);
  const { jvp } = await x0JvpByDifferences(denoiser, X, t, D, cond ? { cond } : {});
  const diff = new Float64Array(rows), size = new Float64Array(rows), rot2 = new Float64Array(rows), size2 = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let uJv = 0, vJu = 0;
    for (let i = 0; i < n; i++) {
      uJv += u.data[r * n + i]! * jvp.data[r * n + i]!;
      vJu += v.data[r * n + i]! * jvp.data[(rows + r) * n + i]!;
    }
    diff[r] = Math.abs(uJv - vJu);
    size[r] = Math.abs(uJv);
    rot2[r] = (uJv - vJu) ** 2 / 4;
    size2[r] = uJv * uJv;
  }
  const asym = ratioOfMeans(diff, size), rot = ratioOfMeans(rot2, size2);
  const rotational = Math.sqrt(rot.ratio);
  return {
    asymmetry: asym.ratio, asymmetryStderr: asym.stderr,
    rotational, rotationalStderr: rotational > 0 ? rot.stderr / (2 * rotational) : 0,
    probes: P, nfe: 4 * P,
  };
}

/** sum y / sum x over paired samples, with its standard error by the delta method: sd(y - R x) / (sqrt(N) mean x). */
function ratioOfMeans(y: Float64Array, x: Float64Array): { ratio: number; stderr: number } {
  const N = y.length;
  let sy = 0, sx = 0;
  for (let i = 0; i < N; i++) {
    sy += y[i]!;
    sx += x[i]!;
  }
  const ratio = sy / sx;
  if (N < 2) return { ratio, stderr: NaN };
  let ss = 0;
  for (let i = 0; i < N; i++) ss += (y[i]! - ratio * x[i]!) ** 2;
  return { ratio, stderr: Math.sqrt(ss / (N - 1) / N) / (sx / N) };
}

/** Conditioning of B items repeated for the rows (b, k) of `copies` rows per item, in the order copy-major then item-major as above. */
function repeatConditioning(c: Conditioning, B: number, copies: number): Conditioning {
  const half = copies / 2;
  const rep = (t: Tensor) => {
    const m = t.itemSize, out = Tensor.zeros([B * copies, ...t.shape.slice(1)], t.dtype);
    for (let h = 0; h < 2; h++) for (let b = 0; b < B; b++) for (let k = 0; k < half; k++) out.data.set(t.data.subarray(b * m, (b + 1) * m), ((h * B + b) * half + k) * m);
    return out;
  };
  return { ...(c.anchor ? { anchor: rep(c.anchor) } : {}), ...(c.inputs ? { inputs: Object.fromEntries(Object.entries(c.inputs).map(([k, t]) => [k, rep(t)])) } : {}) };
}
