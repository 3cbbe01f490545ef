import { fail } from '../core/errors.js';
import { Path, type PathFamily, type TimeInput } from './path.js';
import { alphasCumprod, makeBetas, type BetaOptions } from './betas.js';

/**
 * Discrete-time VP (DDPM) with N training steps. Time t is the (fractional) training timestep in
 * [0, N-1]; between integers log sigma is interpolated linearly, sigma = sqrt((1 - abar)/abar),
 * the convention of diffusers' `_sigma_to_t`. t = -1 is clean data (diffusers' set_alpha_to_one);
 * on (-1, 0) sigma falls linearly to 0.
 */
export class DiscreteVPPath extends Path {
  readonly family: PathFamily = 'vp-discrete';
  readonly timeInput: TimeInput = 'discrete';
  readonly tMin = 0;
  readonly tClean = -1;
  readonly tMax: number;
  readonly betas: Float64Array;
  readonly alphasCumprod: Float64Array;
  /** log sigma at each integer timestep (may end in +Infinity for zero terminal SNR). */
  readonly logSigmas: Float64Array;

  constructor(opts: BetaOptions) {
    super();
    this.betas = makeBetas(opts);
    this.alphasCumprod = alphasCumprod(this.betas);
    this.logSigmas = this.alphasCumprod.map((ab) => 0.5 * Math.log((1 - ab) / ab));
    this.tMax = this.betas.length - 1;
  }

  get numTrainTimesteps(): number {
    return this.betas.length;
  }

  /** sigma(t) and d sigma / dt. */
  private sigmaAndSlope(t: number): { sigma: number; slope: number } {
    const ls = this.logSigmas;
    if (t <= 0) {
      if (t < -1) fail('BAD_INPUT', `discrete VP time ${t} is below -1 (clean data)`);
      const s0 = Math.exp(ls[0]!);
      return { sigma: s0 * (t + 1), slope: s0 };
    }
    const n = ls.length;
    const k = Math.min(Math.floor(t), n - 2);
    const f = t - k;
    const l0 = ls[k]!, l1 = ls[k + 1]!;
    if (l1 === Infinity) {
      // Zero terminal SNR: interpolate in a = 1/sqrt(1+sigma^2) on the last interval instead.
      const a0 = Math.sqrt(this.alphasCumprod[k]!);
      const a = a0 * (1 - f);
      const sigma = Math.sqrt(1 - a * a) / a;
      const dadt = -a0;
      return { sigma, slope: (-dadt / (a * a * a)) / Math.sqrt(1 / (a * a) - 1 || Number.MIN_VALUE) };
    }
    const sigma = Math.exp(l0 + f * (l1 - l0));
    return { sigma, slope: sigma * (l1 - l0) };
  }

  override sigma(t: number): number {
    return this.sigmaAndSlope(t).sigma;
  }
  a(t: number): number {
    const sg = this.sigma(t);
    return 1 / Math.sqrt(1 + sg * sg);
  }
  s(t: number): number {
    const sg = this.sigma(t);
    return sg === Infinity ? 1 : sg / Math.sqrt(1 + sg * sg);
  }
  da(t: number): number {
    const { sigma, slope } = this.sigmaAndSlope(t);
    return (-sigma * slope) / (1 + sigma * sigma) ** 1.5;
  }
  ds(t: number): number {
    const { sigma, slope } = this.sigmaAndSlope(t);
    return slope / (1 + sigma * sigma) ** 1.5;
  }
  override lambda(t: number): number {
    return -Math.log(this.sigma(t));
  }
  override tOfLambda(lam: number): number {
    if (lam === Infinity) return this.tClean;
    const target = -lam, ls = this.logSigmas, n = ls.length;
    if (target <= ls[0]!) {
      // Inside (-1, 0]: sigma linear in t.
      return Math.max(-1, Math.exp(target) / Math.exp(ls[0]!) - 1);
    }
    if (target >= ls[n - 1]!) return n - 1;
    let lo = 0, hi = n - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (ls[mid]! <= target) lo = mid;
      else hi = mid;
    }
    if (ls[hi] === Infinity) return super.tOfLambda(lam);
    return lo + (target - ls[lo]!) / (ls[hi]! - ls[lo]!);
  }
  describe(): string {
    return `discrete VP, ${this.betas.length} training steps`;
  }
}

/**
 * Continuous-time VP of Score-SDE / DPM-Solver: 'linear' (beta_min 0.1, beta_max 20) or 'cosine' (Nichol & Dhariwal's
 * offset s = 0.008; with cosineOffset 0, a = cos(pi t / 2), s = sin(pi t / 2): v-diffusion's clock, diffusers' IPNDM).
 */
export class ContinuousVPPath extends Path {
  readonly family: PathFamily = 'vp-continuous';
  readonly timeInput: TimeInput = 'continuous';
  readonly tMin: number;
  readonly tMax: number;
  readonly tClean = 0;
  readonly schedule: 'linear' | 'cosine';
  readonly beta0: number;
  readonly beta1: number;
  private readonly cosS: number;

  constructor(opts: { schedule?: 'linear' | 'cosine'; betaMin?: number; betaMax?: number; tMin?: number; tMax?: number; cosineOffset?: number } = {}) {
    super();
    this.schedule = opts.schedule ?? 'linear';
    this.beta0 = opts.betaMin ?? 0.1;
    this.beta1 = opts.betaMax ?? 20;
    this.cosS = opts.cosineOffset ?? 0.008;
    this.tMin = opts.tMin ?? 1e-3;
    // The cosine schedule is singular at t = 1; DPM-Solver stops at 0.9946.
    this.tMax = opts.tMax ?? (this.schedule === 'cosine' ? 0.9946 : 1);
    if (!(this.tMin >= 0 && this.tMax > this.tMin)) fail('BAD_CONFIG', `continuous VP needs 0 <= tMin < tMax, got ${this.tMin}, ${this.tMax}`);
  }

  /** log a(t) and its derivative. */
  private logA(t: number): { v: number; d: number } {
    if (this.schedule === 'linear') {
      const db = this.beta1 - this.beta0;
      return { v: -0.5 * this.beta0 * t - 0.25 * db * t * t, d: -0.5 * this.beta0 - 0.5 * db * t };
    }
    const s = this.cosS, c = Math.PI / 2 / (1 + s);
    const arg = (t + s) * c;
    return { v: Math.log(Math.cos(arg)) - Math.log(Math.cos(s * c)), d: -Math.tan(arg) * c };
  }
  a(t: number): number {
    return Math.exp(this.logA(t).v);
  }
  s(t: number): number {
    const a = this.a(t);
    return Math.sqrt(Math.max(0, 1 - a * a));
  }
  da(t: number): number {
    const { v, d } = this.logA(t);
    return Math.exp(v) * d;
  }
  ds(t: number): number {
    const a = this.a(t), s = this.s(t);
    return (-a * this.da(t)) / s;
  }
  override lambda(t: number): number {
    const la = this.logA(t).v;
    // log a - 0.5 log(1 - a^2), with -expm1(2 log a) for accuracy near t = 0.
    return la - 0.5 * Math.log(-Math.expm1(2 * la));
  }
  override tOfLambda(lam: number): number {
    if (lam === Infinity) return 0;
    // log(1/a^2) = log(1 + e^{-2 lambda}) (logaddexp).
    const L = -2 * lam > 0 ? -2 * lam + Math.log1p(Math.exp(2 * lam)) : Math.log1p(Math.exp(-2 * lam));
    if (this.schedule === 'linear') {
      const db = this.beta1 - this.beta0;
      return (2 * L) / (this.beta0 + Math.sqrt(this.beta0 * this.beta0 + 2 * db * L));
    }
    const s = this.cosS, c = Math.PI / 2 / (1 + s);
    return Math.acos(Math.exp(-0.5 * L + Math.log(Math.cos(s * c)))) / c - s;
  }
  describe(): string {
    return `continuous VP (${this.schedule})`;
  }
}
