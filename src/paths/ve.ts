import { fail } from '../core/errors.js';
import { Path, type PathFamily, type TimeInput } from './path.js';

/** Variance exploding (Score-SDE / SMLD): a = 1, s = sigma_min (sigma_max/sigma_min)^t, t in [0, 1]; t = -inf is clean. */
export class VEPath extends Path {
  readonly family: PathFamily = 've';
  readonly timeInput: TimeInput = 'continuous';
  readonly tMin = 0;
  readonly tMax = 1;
  readonly tClean = -Infinity;
  readonly sigmaMin: number;
  readonly sigmaMax: number;
  private readonly logRatio: number;

  constructor(opts: { sigmaMin?: number; sigmaMax?: number } = {}) {
    super();
    this.sigmaMin = opts.sigmaMin ?? 0.01;
    this.sigmaMax = opts.sigmaMax ?? 50;
    if (!(this.sigmaMin > 0 && this.sigmaMax > this.sigmaMin)) {
      fail('BAD_CONFIG', `VE path needs 0 < sigma_min < sigma_max, got ${this.sigmaMin}, ${this.sigmaMax}`);
    }
    this.logRatio = Math.log(this.sigmaMax / this.sigmaMin);
  }
  a(): number {
    return 1;
  }
  da(): number {
    return 0;
  }
  s(t: number): number {
    return this.sigmaMin * Math.exp(this.logRatio * t);
  }
  ds(t: number): number {
    return this.s(t) * this.logRatio;
  }
  override lambda(t: number): number {
    return -Math.log(this.sigmaMin) - this.logRatio * t;
  }
  override tOfLambda(lam: number): number {
    return (-lam - Math.log(this.sigmaMin)) / this.logRatio;
  }
  describe(): string {
    return `VE, sigma ${this.sigmaMin}..${this.sigmaMax}`;
  }
}

/** EDM (Karras et al. 2022): sigma is the time, a = 1, s = t; t = 0 is clean. */
export class EDMPath extends Path {
  readonly family: PathFamily = 'edm';
  readonly timeInput: TimeInput = 'sigma';
  readonly tMin: number;
  readonly tMax: number;
  readonly tClean = 0;
  readonly sigmaData: number;

  constructor(opts: { sigmaMin?: number; sigmaMax?: number; sigmaData?: number } = {}) {
    super();
    this.tMin = opts.sigmaMin ?? 0.002;
    this.tMax = opts.sigmaMax ?? 80;
    this.sigmaData = opts.sigmaData ?? 0.5;
    if (!(this.tMin > 0 && this.tMax > this.tMin)) fail('BAD_CONFIG', `EDM path needs 0 < sigma_min < sigma_max, got ${this.tMin}, ${this.tMax}`);
  }
  a(): number {
    return 1;
  }
  da(): number {
    return 0;
  }
  s(t: number): number {
    return t;
  }
  ds(): number {
    return 1;
  }
  override lambda(t: number): number {
    return -Math.log(t);
  }
  override tOfLambda(lam: number): number {
    return Math.exp(-lam);
  }
  describe(): string {
    return `EDM, sigma ${this.tMin}..${this.tMax}`;
  }
}

/**
 * Rectified flow / flow matching: a = 1 - t, s = t, t in [0, 1]; t = 0 is clean, t = 1 pure noise.
 * tMin = 1/1000 like diffusers' FlowMatch sigmas (linspace(1, 1/N, N) before the final 0).
 */
export class FlowPath extends Path {
  readonly family: PathFamily = 'flow';
  readonly timeInput: TimeInput = 'continuous';
  readonly tMin = 1e-3;
  readonly tMax = 1;
  readonly tClean = 0;
  a(t: number): number {
    return 1 - t;
  }
  da(): number {
    return -1;
  }
  s(t: number): number {
    return t;
  }
  ds(): number {
    return 1;
  }
  override lambda(t: number): number {
    return Math.log1p(-t) - Math.log(t);
  }
  override tOfLambda(lam: number): number {
    return 1 / (1 + Math.exp(lam));
  }
  describe(): string {
    return 'rectified flow';
  }
}
