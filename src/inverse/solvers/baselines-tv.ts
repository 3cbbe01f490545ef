import { fail } from '../../core/errors.js';
import { Tensor, shapeSize } from '../../core/tensor.js';
import type { Operator } from '../operators/operator.js';

/**
 * Total-variation regularised least squares for any linear operator,
 *
 *     min_x  1/2 ||A x - y||^2 + lambda_abs TV(x)   (+ the indicator of x >= 0 with nonneg),
 *
 * TV the isotropic total variation of each channel (forward differences, zero across the last
 * row / column: Neumann boundary), solved by the first-order primal-dual algorithm of Chambolle &
 * Pock 2011 (J. Math. Imaging Vis. 40, Alg. 1, theta = 1) on the stacked operator K = [A; grad].
 *
 * Scaling. A and grad are first normalised to unit norm, K' = [A / nA; grad / sqrt 8] with
 * nA = ||A|| (op.normEstimate(), Lanczos) and ||grad||^2 <= 8, so ||K'||^2 <= 2 and steps with
 * tau sigma = 0.49 satisfy tau sigma ||K'||^2 < 1 whatever the operator; their ratio is set per
 * batch item by `autoStepRatio` (or stepRatio). This is Alg. 1 applied to the same problem
 * written with K' (a block-diagonal rescaling of the dual variables, as in Pock & Chambolle's
 * 2011 preconditioning paper). In the scaled problem the data term reads 1/2 ||A' x - y'||^2 with
 * A' = A / nA, y' = y / nA (= the objective above divided by nA^2), so with `scaleLambda`
 * (default) lambda weighs TV against the data term of the normalised operator:
 * lambda_abs = lambda nA^2, so the same order of lambda serves MRI (nA = 1) and CT (nA ~ 40 at
 * 64 x 64, 30 views). With scaleLambda = false lambda is lambda_abs itself.
 * Per pixel and channel the TV dual variable is projected on the disc of radius lambda' sqrt 8
 * (lambda' = lambda_abs / nA^2, the sqrt 8 undoing the gradient's normalisation), and the data
 * dual gets the closed-form prox of the conjugate of 1/2 ||. - y'||^2: p = (p~ - sigma y') / (1 + sigma).
 *
 * Images: the last two axes of inShape are H and W (a 1-D input is one row), leading axes
 * are channels, each with its own TV; complex MRI images [2, H, W] get a TV on each of re and im.
 */

export interface TVOptions {
  /** Regularisation weight (see scaleLambda). */
  lambda: number;
  iterations: number;
  /** Project onto x >= 0 in each primal step. */
  nonneg?: boolean;
  /** lambda relative to ||A||^2 (default true; see the module comment). */
  scaleLambda?: boolean;
  /** Primal / dual step ratio r: tau = 0.99 r / sqrt 2, sigma = 0.99 / (r sqrt 2); 0 (default): autoStepRatio. */
  stepRatio?: number;
  /** ||A||, when already known (default op.normEstimate()). */
  opNorm?: number;
  /** Initial primal point [B, ...inShape] (default 0). */
  x0?: Tensor;
  /** Called after each iteration with its 1-based count and the primal iterate (float64, do not keep). */
  onIter?: (iteration: number, x: Tensor) => void | Promise<void>;
  /** Record the primal objective of every iterate (free: A x is kept for the extrapolation). */
  trackObjective?: boolean;
}

export interface TVResult {
  /** The last primal iterate, float64 [B, ...inShape]. */
  x: Tensor;
  /** The objective 1/2 ||A x_k - y||^2 + lambda_abs TV(x_k) summed over the batch, k = 1..iterations (with trackObjective). */
  objective: number[];
  /** The primal / dual step balance r of each batch item. */
  stepRatios: number[];
  /** The absolute TV weight lambda_abs used. */
  lambdaAbs: number;
  opNorm: number;
}

/** [channels, H, W] of an item shape: the last two axes are the image plane. */
export function imagePlanes(inShape: readonly number[]): [number, number, number] {
  if (inShape.length === 0) fail('BAD_SHAPE', 'tv needs an image (or vector) input; the operator has a scalar input');
  const w = inShape[inShape.length - 1]!;
  const h = inShape.length >= 2 ? inShape[inShape.length - 2]! : 1;
  return [shapeSize(inShape) / (h * w), h, w];
}

/**
 * Forward differences of every plane: gh (along W) and gv (along H), 0 on the last column / row.
 * x holds `planes` planes of h x w.
 */
export function gradient2d(x: ArrayLike<number>, planes: number, h: number, w: number, gh: Float64Array, gv: Float64Array): void {
  for (let p = 0; p < planes; p++) {
    const o = p * h * w;
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        const k = o + i * w + j, v = x[k]!;
        gh[k] = j < w - 1 ? x[k + 1]! - v : 0;
        gv[k] = i < h - 1 ? x[k + w]! - v : 0;
      }
    }
  }
}

/** out = grad^T (qh, qv) = -div q, the exact adjoint of gradient2d. */
export function gradientAdjoint2d(qh: Float64Array, qv: Float64Array, planes: number, h: number, w: number, out: Float64Array): void {
  for (let p = 0; p < planes; p++) {
    const o = p * h * w;
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        const k = o + i * w + j;
        let v = 0;
        if (j < w - 1) v -= qh[k]!;
        if (j > 0) v += qh[k - 1]!;
        if (i < h - 1) v -= qv[k]!;
        if (i > 0) v += qv[k - w]!;
        out[k] = v;
      }
    }
  }
}

/** Isotropic TV: sum over pixels and planes of sqrt(dh^2 + dv^2). */
export function totalVariation(x: ArrayLike<number>, planes: number, h: number, w: number): number {
  const n = planes * h * w, gh = new Float64Array(n), gv = new Float64Array(n);
  gradient2d(x, planes, h, w, gh, gv);
  let s = 0;
  for (let k = 0; k < n; k++) s += Math.hypot(gh[k]!, gv[k]!);
  return s;
}

/** 1/2 ||A x - y||^2 + lambdaAbs TV(x), summed over the batch (x, y batched). */
export function tvObjective(op: Operator, x: Tensor, y: Tensor, lambdaAbs: number): number {
  const ax = op.forward(x).data, yd = y.data;
  let r = 0;
  for (let i = 0; i < ax.length; i++) r += (ax[i]! - yd[i]!) ** 2;
  const [c, h, w] = imagePlanes(op.inShape);
  return 0.5 * r + lambdaAbs * totalVariation(x.data, x.batch * c, h, w);
}

/**
 * The default step balance r = sqrt(tau / sigma) (tau = 0.99 r / sqrt 2, sigma = 0.99 / (r sqrt 2)):
 * r = clamp(s / (16 lambda'), 0.1, 1000) with s = rms(A^T y) / ||A||^2, an estimate of the image's scale (A^T A / ||A||^2 ~ I on smooth images). Alg. 1 converges for
 * any r (only tau sigma ||K||^2 < 1 matters), but the speed depends on it: unmeasured components
 * move only under the TV force, of size lambda' per pixel, so the primal step must grow like
 * scale / lambda'. The constant 1/16 was fitted on Shepp-Logan in [-1, 1] (mri:accel=4 and
 * ct:views=30, lambda 1e-4 .. 1e-2): within a factor 3 of the best fixed r on both.
 */
export function autoStepRatio(op: Operator, y: Tensor, opNorm: number, lambdaScaled: number): number[] {
  const aty = op.adjoint(y).data, batch = y.batch, k = aty.length / batch;
  const out: number[] = [];
  for (let b = 0; b < batch; b++) {
    let ss = 0;
    for (let i = b * k; i < (b + 1) * k; i++) ss += aty[i]! * aty[i]!;
    const s = Math.sqrt(ss / Math.max(1, k)) / (opNorm * opNorm);
    if (!(s > 0) || !Number.isFinite(s)) out.push(1);
    else out.push(lambdaScaled > 0 ? Math.min(1000, Math.max(0.1, s / (16 * lambdaScaled))) : 1000);
  }
  return out;
}

/** Chambolle-Pock TV reconstruction of every batch item of y [B, ...outShape]. */
export async function solveTV(op: Operator, y: Tensor, options: TVOptions): Promise<TVResult> {
  const { lambda, iterations } = options;
  if (!(lambda >= 0) || !Number.isFinite(lambda)) fail('BAD_CONFIG', `tv lambda=${lambda}: the TV weight must be a finite number >= 0, e.g. lambda=0.001`);
  if (!Number.isInteger(iterations) || iterations < 1) fail('BAD_CONFIG', `tv iterations=${iterations}: use a positive integer, e.g. iterations=300`);
  const ratio0 = options.stepRatio ?? 0;
  if (!(ratio0 >= 0) || !Number.isFinite(ratio0)) fail('BAD_CONFIG', `tv stepRatio=${ratio0}: use 0 (balance the steps automatically) or a positive tau/sigma ratio`);
  const nA = options.opNorm ?? op.normEstimate();
  if (!(nA > 0) || !Number.isFinite(nA)) fail('BAD_CONFIG', `tv: the operator ${op.name} has norm ${nA}; it measures nothing, so there is nothing to reconstruct`);
  const batch = y.batch;
  const [c, h, w] = imagePlanes(op.inShape);
  const planes = batch * c, n = planes * h * w, m = y.size;
  const scaled = options.scaleLambda ?? true;
  const lam = scaled ? lambda : lambda / (nA * nA); // the TV weight of the normalised problem
  const lambdaAbs = lam * nA * nA;
  const radius = lam * Math.sqrt(8), s8 = Math.sqrt(8);
  const yd = Float64Array.from(y.data, (v) => v / nA);
  // Per batch item (so a result never depends on the batch it ran in): tau sigma ||K'||^2 <= 0.98 with ||K'||^2 <= 2.
  const ratios = ratio0 > 0 ? new Array<number>(batch).fill(ratio0) : autoStepRatio(op, y, nA, lam);
  const taus = ratios.map((r) => (0.99 * r) / Math.SQRT2), sigmas = taus.map((t) => 0.98 / (2 * t));
  const mItem = m / batch, nItem = n / batch;
  const x = Tensor.zeros([batch, ...op.inShape], 'float64'), xd = x.data;
  if (options.x0) {
    if (options.x0.size !== n) fail('BAD_SHAPE', `tv x0 of shape [${options.x0.shape.join(', ')}] does not fit [${batch}, ${op.inShape.join(', ')}]`);
    xd.set(options.x0.data);
    if (options.nonneg) for (let i = 0; i < n; i++) xd[i] = Math.max(0, xd[i]!);
  }
  // K' x of the current iterate (kx*), of the previous one (pk*) and of the extrapolated point (bk*).
  const kxA = new Float64Array(m), kxH = new Float64Array(n), kxV = new Float64Array(n);
  const applyK = (): void => {
    const ax = op.forward(x).data;
    for (let i = 0; i < m; i++) kxA[i] = ax[i]! / nA;
    gradient2d(xd, planes, h, w, kxH, kxV);
    for (let k = 0; k < n; k++) {
      kxH[k] = kxH[k]! / s8;
      kxV[k] = kxV[k]! / s8;
    }
  };
  applyK();
  const pkA = kxA.slice(), pkH = kxH.slice(), pkV = kxV.slice();
  const bkA = kxA.slice(), bkH = kxH.slice(), bkV = kxV.slice();
  const p = new Float64Array(m), qh = new Float64Array(n), qv = new Float64Array(n);
  const kt = new Float64Array(n), pTensor = new Tensor([batch, ...op.outShape], p);
  const objective: number[] = [];

  for (let it = 1; it <= iterations; it++) {
    // Dual step (CP 2011 Alg. 1, first line): data block p <- prox_{sigma F*}(p + sigma A' xbar), F = 1/2||. - y'||^2;
    // TV block q <- projection of q + sigma grad' xbar onto the per-pixel discs of radius lambda' sqrt 8.
    for (let i = 0; i < m; i++) {
      const sigma = sigmas[Math.floor(i / mItem)]!;
      p[i] = (p[i]! + sigma * (bkA[i]! - yd[i]!)) / (1 + sigma);
    }
    for (let k = 0; k < n; k++) {
      const sigma = sigmas[Math.floor(k / nItem)]!;
      const a = qh[k]! + sigma * bkH[k]!, b = qv[k]! + sigma * bkV[k]!;
      const r = Math.hypot(a, b), f = r > radius ? radius / r : 1;
      qh[k] = a * f;
      qv[k] = b * f;
    }
    // Primal step: x <- prox_{tau G}(x - tau K'^T (p, q)), G = 0 or the indicator of x >= 0.
    const atp = op.adjoint(pTensor).data;
    gradientAdjoint2d(qh, qv, planes, h, w, kt);
    for (let k = 0; k < n; k++) {
      let v = xd[k]! - taus[Math.floor(k / nItem)]! * (atp[k]! / nA + kt[k]! / s8);
      if (options.nonneg && v < 0) v = 0;
      xd[k] = v;
    }
    pkA.set(kxA);
    pkH.set(kxH);
    pkV.set(kxV);
    applyK();
    // Extrapolation xbar = 2 x_{n+1} - x_n, through K' by linearity.
    for (let i = 0; i < m; i++) bkA[i] = 2 * kxA[i]! - pkA[i]!;
    for (let k = 0; k < n; k++) {
      bkH[k] = 2 * kxH[k]! - pkH[k]!;
      bkV[k] = 2 * kxV[k]! - pkV[k]!;
    }
    if (options.trackObjective) {
      let r = 0, tvs = 0;
      for (let i = 0; i < m; i++) r += (kxA[i]! - yd[i]!) ** 2;
      for (let k = 0; k < n; k++) tvs += Math.hypot(kxH[k]!, kxV[k]!);
      objective.push(0.5 * nA * nA * r + lambdaAbs * s8 * tvs);
    }
    if (options.onIter) await options.onIter(it, x);
  }
  return { x, objective, lambdaAbs, opNorm: nA, stepRatios: ratios };
}
