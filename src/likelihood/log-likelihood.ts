import { dormandPrince } from '../core/dormand-prince.js';
import { fail } from '../core/errors.js';
import { MAX_EXACT_TRACE_DIM } from '../core/limits.js';
import { firstNonFinite } from '../core/ops.js';
import { fillNormal, fillUniform, Stream } from '../core/rng.js';
import { Tensor } from '../core/tensor.js';
import type { Denoiser, GradientRoute } from '../models/denoiser.js';
import { gradientRouteOf, resolveGradientRoute, x0JvpByDifferences, type GradientChoice } from '../models/derivatives.js';
import { ModelFn } from '../models/model-fn.js';
import type { GridPoint } from '../paths/path.js';
import { phiOf, TrigFlowRhs } from '../samplers/trig-flow.js';

/**
 * Exact log-likelihood through the probability-flow ODE with the instantaneous change of variables
 * (Song et al. 2021, Score-SDE, Appendix D.2; their likelihood.py): integrate the state and the divergence
 * of its drift from the data end tMin to the noise end tMax, then add the prior's log-density there.
 *
 * In the trig-flow variables (samplers/trig-flow.ts) y = z / rho, phi = atan2(s, a), the drift is
 * F = (a eps - s x0) / rho = (a/s) y - (rho/s) x0(rho y), so div_y F = D a/s - (rho^2/s) tr J with J = dx0/dz,
 * and log p_z(z0) = log p_z(z1) + D log(rho1/rho0) + int_phi0^phi1 div_y F dphi.
 * The divergence by Hutchinson, u^T (dF/dy) u = (a/s) |u|^2 - (rho^2/s) u^T J u with each probe fixed along the
 * trajectory (as Score-SDE), or exactly, summed over the D basis vectors. The whole of dF/dy is probed, not only
 * J: near the data J ~ I/a while dF/dy stays bounded, so Gaussian probes keep a bounded variance.
 */

export type ProbeKind = 'rademacher' | 'gaussian';
export const PROBE_KINDS: readonly ProbeKind[] = ['rademacher', 'gaussian'];

export interface LikelihoodOptions {
  /** Hutchinson probes per item (default 1, as Score-SDE). */
  probes?: number;
  probe?: ProbeKind;
  /** tr J exactly from D JVPs on the basis vectors (items of at most MAX_EXACT_TRACE_DIM values). */
  exactTrace?: boolean;
  /** How J u is taken (default auto: the model's own gradient, else central differences). */
  gradient?: GradientChoice;
  /** ODE tolerances (default 1e-5 both, as Score-SDE). */
  rtol?: number;
  atol?: number;
  /** Probes of item b come from (seed, firstItem + b), so a run split in batches draws the same probes. */
  seed?: number;
  firstItem?: number;
  /** log-density of the centered state z at the noise end, per item (default: N(0, (a^2 + s^2) I), the sampling prior). */
  priorLogDensity?: (z: Float64Array, end: GridPoint) => number;
  /** The time interval (default: the path's [tMin, tMax]). */
  tMin?: number;
  tMax?: number;
  /** The fraction of the interval done, after each accepted step. */
  onProgress?: (fraction: number) => void;
  signal?: AbortSignal;
}

export interface LikelihoodResult {
  /** log p(x) in nats per item (the mean over probes). */
  logLikelihood: Float64Array;
  /** The Hutchinson standard error of each item's estimate (std over probes / sqrt(probes); 0 for the exact trace, NaN with one probe). */
  standardError: Float64Array;
  /** log p(x) per item and probe, [item * probes + probe]. */
  perProbe: Float64Array;
  probes: number;
  /** ODE right-hand-side evaluations, accepted steps, and model evaluations per item. */
  odeEvaluations: number;
  steps: number;
  nfe: number;
}

/** Model rows per JVP call (bounds the memory of the exact trace and of many probes). */
const JVP_ROWS = 256;

export async function logLikelihood(denoiser: Denoiser, x: Tensor, options: LikelihoodOptions = {}): Promise<LikelihoodResult> {
  const path = denoiser.path;
  const B = x.batch, D = x.itemSize;
  const exact = options.exactTrace ?? false;
  const K = exact ? 1 : options.probes ?? 1;
  const kind = options.probe ?? 'rademacher';
  if (!(Number.isInteger(K) && K >= 1)) fail('BAD_INPUT', `probes must be an integer >= 1, got ${options.probes}`);
  if (!PROBE_KINDS.includes(kind)) fail('BAD_INPUT', `unknown probe "${kind}"; use ${PROBE_KINDS.join(' or ')}`);
  if (exact && D > MAX_EXACT_TRACE_DIM) fail('BAD_INPUT', `the exact trace takes ${D} JVPs per evaluation for items of ${D} values, more than ${MAX_EXACT_TRACE_DIM}; use Hutchinson probes`);
  const bad = firstNonFinite(x.data);
  if (bad >= 0) fail('BAD_INPUT', `the data has ${x.data[bad]} at element ${bad}; likelihoods need finite values`);
  const t0 = options.tMin ?? path.tMin, t1 = options.tMax ?? path.tMax;
  const start = path.point(t0), end = path.point(t1);
  if (start.b !== 0 || end.b !== 0) fail('UNSUPPORTED', `the likelihood needs a generative path (b = 0); ${path.describe()} has an anchor term`);
  if (!(start.s > 0)) fail('BAD_INPUT', `the likelihood ODE starts at t = ${t0}, where s = 0; start where the path has noise (the path's tMin is ${path.tMin})`);

  const route = resolveGradientRoute(gradientRouteOf(denoiser), options.gradient ?? 'auto');
  const fn = new ModelFn(denoiser, { caller: 'likelihood', ...(options.signal ? { signal: options.signal } : {}) });
  const rhs = new TrigFlowRhs(fn, path, x, [start, end]);
  // Rows of the JVP: item b, direction k at row b R + k; R = K probes or the D basis vectors.
  const R = exact ? D : K;
  const dirs = exact ? basis(B, D, x.dtype) : probes(B, D, K, kind, options.seed ?? 0, options.firstItem ?? 0, x.dtype);
  const norms = squaredNorms(dirs);
  const n = B * D;
  let jvpNfe = 0;
  const F = async (phi: number, state: Float64Array, out: Float64Array): Promise<void> => {
    await rhs.eval(phi, state, out);
    const p = rhs.point(phi);
    const uJu = await quadraticForms(denoiser, route, rhs.input, p, dirs, R, (nfe) => (jvpNfe = nfe));
    // u^T (dF/dy) u = (a/s) |u|^2 - (rho^2/s) u^T J u per row; the exact trace sums its D rows.
    const lin = p.a / p.s, c = (p.a * p.a + p.s * p.s) / p.s;
    const per = exact ? D : 1;
    for (let e = 0; e < B * K; e++) {
      let div = 0;
      for (let r = e * per; r < (e + 1) * per; r++) div += lin * norms[r]! - c * uJu[r]!;
      out[n + e] = div;
    }
  };
  const phi0 = phiOf(start), phi1 = phiOf(end);
  const y0 = new Float64Array(n + B * K);
  const rho0 = Math.hypot(start.a, start.s), rho1 = Math.hypot(end.a, end.s);
  for (let i = 0; i < n; i++) y0[i] = x.data[i]! / rho0;
  const rtol = options.rtol ?? 1e-5, atol = options.atol ?? 1e-5;
  const onProgress = options.onProgress;
  const { y, steps, evaluations } = await dormandPrince(F, phi0, phi1, y0, {
    rtol, atol, caller: 'likelihood', where: (phi) => `t = ${rhs.point(phi).t}`,
    ...(onProgress ? { onStep: async (phi: number) => onProgress((phi - phi0) / (phi1 - phi0)) } : {}),
  });

  const perProbe = new Float64Array(B * K), logLik = new Float64Array(B), se = new Float64Array(B);
  const z1 = new Float64Array(D);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < D; i++) z1[i] = rho1 * y[b * D + i]!;
    const prior = options.priorLogDensity ? options.priorLogDensity(z1, end) : gaussianLogDensity(z1, rho1);
    let sum = 0;
    for (let k = 0; k < K; k++) sum += perProbe[b * K + k] = prior + D * Math.log(rho1 / rho0) + y[n + b * K + k]!;
    logLik[b] = sum / K;
    let ss = 0;
    for (let k = 0; k < K; k++) ss += (perProbe[b * K + k]! - logLik[b]!) ** 2;
    se[b] = exact ? 0 : K > 1 ? Math.sqrt(ss / (K - 1) / K) : NaN;
  }
  return { logLikelihood: logLik, standardError: se, perProbe, probes: K, odeEvaluations: evaluations, steps, nfe: evaluations * (1 + R * jvpNfe) };
}

/** log N(z; 0, sigma^2 I). */
function gaussianLogDensity(z: Float64Array, sigma: number): number {
  let q = 0;
  for (let i = 0; i < z.length; i++) q += z[i]! * z[i]!;
  return -0.5 * (q / (sigma * sigma) + z.length * Math.log(2 * Math.PI * sigma * sigma));
}

/** |u|^2 of every row. */
function squaredNorms(dirs: Tensor): Float64Array {
  const m = dirs.itemSize, out = new Float64Array(dirs.batch);
  for (let r = 0; r < dirs.batch; r++) for (let i = r * m; i < (r + 1) * m; i++) out[r] += dirs.data[i]! * dirs.data[i]!;
  return out;
}

/** u^T J u at the point p for every row (b, r) of the directions (R rows per item), in calls of at most JVP_ROWS rows. */
async function quadraticForms(denoiser: Denoiser, route: GradientRoute, z: Tensor, p: GridPoint, dirs: Tensor, R: number, onNfe: (nfe: number) => void): Promise<Float64Array> {
  const D = z.itemSize, rows = dirs.batch, out = new Float64Array(rows);
  for (let r0 = 0; r0 < rows; r0 += JVP_ROWS) {
    const m = Math.min(JVP_ROWS, rows - r0);
    const X = Tensor.zeros([m, ...z.shape.slice(1)], z.dtype);
    for (let r = 0; r < m; r++) X.data.set(z.data.subarray(Math.floor((r0 + r) / R) * D, (Math.floor((r0 + r) / R) + 1) * D), r * D);
    const V = new Tensor([m, ...z.shape.slice(1)], dirs.data.subarray(r0 * D, (r0 + m) * D));
    const { w: jvp, nfe } = await jacobianTimes(denoiser, route, X, p.t, V, p.s);
    onNfe(nfe);
    for (let r = 0; r < m; r++) {
      let q = 0;
      for (let i = 0; i < D; i++) q += V.data[r * D + i]! * jvp.data[r * D + i]!;
      out[r0 + r] = q;
    }
  }
  return out;
}

/**
 * J v (or J^T v: u^T J u = (J^T u)^T u, so either serves the quadratic form) on the route, and the model
 * evaluations it took per row. The differences step follows the noise level s, the scale on which the x0
 * estimate varies near the data.
 */
async function jacobianTimes(denoiser: Denoiser, route: GradientRoute, X: Tensor, t: number, V: Tensor, s: number): Promise<{ w: Tensor; nfe: number }> {
  if (route === 'differences') {
    const { jvp, nfe } = await x0JvpByDifferences(denoiser, X, t, V, { lengthScale: s });
    return { w: jvp, nfe };
  }
  if (route === 'exact' && denoiser.x0Jvp) return { w: await denoiser.x0Jvp(X, t, V), nfe: 0 };
  // The exported graph: one run returns the VJP.
  return { w: await denoiser.x0Vjp!(X, t, V), nfe: route === 'exported' ? 1 : 0 };
}

/** Hutchinson probes, [B * K, D]: Rademacher signs or standard normals, for item firstItem + b and probe k. */
function probes(B: number, D: number, K: number, kind: ProbeKind, seed: number, firstItem: number, dtype: Tensor['dtype']): Tensor {
  const out = Tensor.zeros([B * K, D], dtype);
  for (let b = 0; b < B; b++) {
    for (let k = 0; k < K; k++) {
      const off = (b * K + k) * D;
      if (kind === 'gaussian') fillNormal(out.data, off, D, seed, firstItem + b, k, Stream.aux);
      else {
        fillUniform(out.data, off, D, seed, firstItem + b, k, Stream.aux);
        for (let i = off; i < off + D; i++) out.data[i] = out.data[i]! <= 0.5 ? -1 : 1;
      }
    }
  }
  return out;
}

/** The basis vectors e_i for every item, [B * D, D]. */
function basis(B: number, D: number, dtype: Tensor['dtype']): Tensor {
  const out = Tensor.zeros([B * D, D], dtype);
  for (let r = 0; r < B * D; r++) out.data[r * D + (r % D)] = 1;
  return out;
}
