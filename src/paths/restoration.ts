import { MAX_TRAIN_TIMESTEPS } from '../core/limits.js';
import { fail } from '../core/errors.js';
import { Path, interpUniform, type PathFamily, type TimeInput } from './path.js';

/**
 * Mean-reverting SDE of IR-SDE (Luo et al. 2023): dx = theta_t (mu - x) dt + sigma_t dw with
 * sigma_t^2 = 2 lambda^2 theta_t. Marginal: x_t = mu + (x0 - mu) e^{-thetabar_t dt} + lambda sqrt(1 - e^{-2 thetabar_t dt}) eps,
 * i.e. a = e^{-thetabar dt}, b = 1 - a, s = lambda sqrt(1 - a^2). Time is the step index in [0, T]
 * (fractional steps interpolate thetabar linearly); schedule and dt as in the authors' sde_utils.py.
 */
export class MeanRevertingPath extends Path {
  readonly family: PathFamily = 'mean-reverting';
  readonly timeInput: TimeInput = 'discrete';
  /** The authors' steps run 1..T; t = 0 is the clean state. */
  readonly tMin = 1;
  readonly tClean = 0;
  readonly tMax: number;
  /** Stationary standard deviation lambda (max_sigma / 255 when given in 8-bit units). */
  readonly stationarySigma: number;
  /** thetabar_t * dt at integer steps t = 0..T (0 at t = 0). */
  readonly thetaBarDt: Float64Array;

  constructor(opts: { T?: number; maxSigma?: number; eps?: number; schedule?: 'cosine' | 'linear' | 'constant' } = {}) {
    super();
    const T = opts.T ?? 100;
    const maxSigma = opts.maxSigma ?? 10;
    const eps = opts.eps ?? 0.005;
    if (!(Number.isInteger(T) && T >= 1 && T <= MAX_TRAIN_TIMESTEPS)) fail('BAD_CONFIG', `mean-reverting T must be an integer in 1..${MAX_TRAIN_TIMESTEPS}, got ${T}`);
    if (!(eps > 0 && eps < 1)) fail('BAD_CONFIG', `mean-reverting eps must be in (0, 1), got ${eps}`);
    if (!(maxSigma > 0)) fail('BAD_CONFIG', `mean-reverting max_sigma must be positive, got ${maxSigma}`);
    this.tMax = T;
    this.stationarySigma = maxSigma > 1 ? maxSigma / 255 : maxSigma;
    const thetas = thetaSchedule(opts.schedule ?? 'cosine', T);
    const cum = new Float64Array(T + 1);
    let acc = 0;
    for (let i = 0; i <= T; i++) {
      acc += thetas[i]!;
      cum[i] = acc - thetas[0]!;
    }
    // dt makes e^{-thetabar_T dt} = eps: the process has (nearly) forgotten x0 at T.
    const dt = -Math.log(eps) / cum[T]!;
    this.thetaBarDt = cum.map((c) => c * dt);
  }

  a(t: number): number {
    return Math.exp(-interpUniform(this.thetaBarDt, t).value);
  }
  override b(t: number): number {
    return 1 - this.a(t);
  }
  s(t: number): number {
    const a = this.a(t);
    return this.stationarySigma * Math.sqrt(Math.max(0, 1 - a * a));
  }
  da(t: number): number {
    const { value, slope } = interpUniform(this.thetaBarDt, t);
    return -slope * Math.exp(-value);
  }
  override db(t: number): number {
    return -this.da(t);
  }
  ds(t: number): number {
    const a = this.a(t), s = this.s(t);
    return s === 0 ? Infinity : (-this.stationarySigma * this.stationarySigma * a * this.da(t)) / s;
  }
  describe(): string {
    return `mean-reverting SDE, T = ${this.tMax}, lambda = ${this.stationarySigma.toFixed(4)}`;
  }
}

/** theta_0..theta_T of the authors' schedules. */
function thetaSchedule(kind: 'cosine' | 'linear' | 'constant', T: number): Float64Array {
  const n = T + 1;
  const out = new Float64Array(n);
  if (kind === 'constant') return out.fill(1);
  if (kind === 'linear') {
    const scale = 1000 / n;
    for (let i = 0; i < n; i++) out[i] = scale * (0.0001 + ((0.02 - 0.0001) * i) / (n - 1));
    return out;
  }
  // Cosine, truncated at both ends: theta_i = 1 - abar(i+1)/abar(0) over T + 2 intervals.
  const m = T + 2, s = 0.008;
  const abar = (i: number) => Math.cos(((i / m + s) / (1 + s)) * Math.PI * 0.5) ** 2;
  const a0 = abar(0);
  for (let i = 0; i < n; i++) out[i] = 1 - abar(i + 1) / a0;
  return out;
}

/**
 * Residual shifting of ResShift (Yue et al. 2023): x_t = x0 + eta_t (y0 - x0) + kappa sqrt(eta_t) eps,
 * i.e. a = 1 - eta, b = eta, s = kappa sqrt(eta). sqrt(eta_t) = sqrt(eta_1) b^{((t-1)/(T-1))^p (T-1)}
 * for t = 1..T with sqrt(eta_1) = min(min_noise / kappa, min_noise); eta_0 = 0 (clean), fractional t
 * interpolates eta linearly.
 */
export class ResShiftPath extends Path {
  readonly family: PathFamily = 'resshift';
  readonly timeInput: TimeInput = 'discrete';
  /** Steps run 1..T; t = 0 (eta = 0) is clean. */
  readonly tMin = 1;
  readonly tClean = 0;
  readonly tMax: number;
  readonly kappa: number;
  /** eta_0 = 0, eta_1..eta_T. */
  readonly etas: Float64Array;

  constructor(opts: { T?: number; kappa?: number; p?: number; minNoise?: number; etasEnd?: number } = {}) {
    super();
    const T = opts.T ?? 15;
    this.kappa = opts.kappa ?? 2.0;
    const p = opts.p ?? 0.3, minNoise = opts.minNoise ?? 0.04, etasEnd = opts.etasEnd ?? 0.99;
    if (!(Number.isInteger(T) && T >= 2 && T <= MAX_TRAIN_TIMESTEPS)) fail('BAD_CONFIG', `ResShift T must be an integer in 2..${MAX_TRAIN_TIMESTEPS}, got ${T}`);
    if (!(this.kappa > 0 && minNoise > 0 && etasEnd > 0 && etasEnd < 1 && p > 0)) {
      fail('BAD_CONFIG', 'ResShift needs kappa > 0, p > 0, min_noise > 0 and 0 < etas_end < 1');
    }
    this.tMax = T;
    const sqrtEta1 = Math.min(minNoise / this.kappa, minNoise);
    const base = Math.exp(Math.log(etasEnd / sqrtEta1) / (T - 1));
    this.etas = new Float64Array(T + 1);
    for (let t = 1; t <= T; t++) {
      const power = ((t - 1) / (T - 1)) ** p * (T - 1);
      this.etas[t] = (sqrtEta1 * base ** power) ** 2;
    }
  }
  private eta(t: number) {
    return interpUniform(this.etas, t);
  }
  a(t: number): number {
    return 1 - this.eta(t).value;
  }
  override b(t: number): number {
    return this.eta(t).value;
  }
  s(t: number): number {
    return this.kappa * Math.sqrt(this.eta(t).value);
  }
  da(t: number): number {
    return -this.eta(t).slope;
  }
  override db(t: number): number {
    return this.eta(t).slope;
  }
  ds(t: number): number {
    const { value, slope } = this.eta(t);
    return value === 0 ? Infinity : (this.kappa * slope) / (2 * Math.sqrt(value));
  }
  describe(): string {
    return `residual shifting, T = ${this.tMax}, kappa = ${this.kappa}`;
  }
}

/** RDDM's coefficient schedules (nachifur/RDDM gen_coefficients): weights w_1..w_T summing to 1. */
export const RDDM_SCHEDULES = ['decreased', 'increased', 'average'] as const;
export type RDDMSchedule = (typeof RDDM_SCHEDULES)[number];

/** Cumulative weight W(t) = sum_{k <= t} w_k in closed form, a polynomial in t (exact at integers), and W'(t). */
function cumulativeWeight(kind: RDDMSchedule, T: number, t: number): { value: number; slope: number } {
  const half = (T * (T + 1)) / 2;
  switch (kind) {
    case 'increased': // w_k = k / half
      return { value: (t * (t + 1)) / 2 / half, slope: (t + 0.5) / half };
    case 'decreased': // w_k = (T + 1 - k) / half
      return { value: (t * (T + 1) - (t * (t + 1)) / 2) / half, slope: (T + 0.5 - t) / half };
    case 'average':
      return { value: t / T, slope: 1 / T };
  }
}

/**
 * Residual denoising diffusion of RDDM (Liu et al. 2024): I_t = I_0 + alphabar_t I_res + betabar_t eps
 * with I_res = mu - I_0, i.e. a = 1 - alphabar, b = alphabar, s = betabar. alphabar and betabar^2 are
 * cumulative sums of the authors' weight schedules (alphas 'decreased', betas^2 'increased' scaled by
 * sum_scale in their restoration experiments), so at t = T the state is mu + sqrt(sum_scale) eps and
 * a = 0. Steps run 1..T; t = 0 is clean; fractional t evaluates the sums' closed-form polynomials.
 */
export class RDDMPath extends Path {
  readonly family: PathFamily = 'residual';
  readonly timeInput: TimeInput = 'discrete';
  readonly tMin = 1;
  readonly tClean = 0;
  readonly tMax: number;
  readonly sumScale: number;
  readonly alphas: RDDMSchedule;
  readonly betas: RDDMSchedule;

  constructor(opts: { T?: number; sumScale?: number; alphas?: RDDMSchedule; betas?: RDDMSchedule } = {}) {
    super();
    const T = opts.T ?? 1000;
    this.sumScale = opts.sumScale ?? 1;
    this.alphas = opts.alphas ?? 'decreased';
    this.betas = opts.betas ?? 'increased';
    if (!(Number.isInteger(T) && T >= 2 && T <= MAX_TRAIN_TIMESTEPS)) fail('BAD_CONFIG', `RDDM T must be an integer in 2..${MAX_TRAIN_TIMESTEPS}, got ${T}`);
    if (!(this.sumScale > 0)) fail('BAD_CONFIG', `RDDM sum_scale must be positive, got ${this.sumScale}`);
    for (const k of [this.alphas, this.betas]) {
      if (!RDDM_SCHEDULES.includes(k)) fail('BAD_CONFIG', `RDDM schedule "${k}": use one of ${RDDM_SCHEDULES.join(', ')}`);
    }
    this.tMax = T;
  }
  private alphaBar(t: number) {
    return cumulativeWeight(this.alphas, this.tMax, t);
  }
  private betaBar2(t: number) {
    const w = cumulativeWeight(this.betas, this.tMax, t);
    return { value: this.sumScale * w.value, slope: this.sumScale * w.slope };
  }
  a(t: number): number {
    return 1 - this.alphaBar(t).value;
  }
  override b(t: number): number {
    return this.alphaBar(t).value;
  }
  s(t: number): number {
    return Math.sqrt(Math.max(0, this.betaBar2(t).value));
  }
  da(t: number): number {
    return -this.alphaBar(t).slope;
  }
  override db(t: number): number {
    return this.alphaBar(t).slope;
  }
  ds(t: number): number {
    const { value, slope } = this.betaBar2(t);
    return value <= 0 ? Infinity : slope / (2 * Math.sqrt(value));
  }
  describe(): string {
    return `residual diffusion (RDDM), T = ${this.tMax}, sum_scale = ${this.sumScale}`;
  }
}
