/**
 * Every forward process is an affine Gaussian path x_t = a(t) x0 + b(t) mu + s(t) eps
 * (../shared/DESIGN.md). Subtracting the anchor gives the standard path z_t = a x0 + s eps,
 * so one set of solvers serves all families. Coefficients are computed in float64.
 */

export type PathFamily = 'vp-discrete' | 'vp-continuous' | 've' | 'edm' | 'flow' | 'mean-reverting' | 'resshift' | 'residual';

/** What a network receives as its time input: a (fractional) training timestep, continuous t, or sigma. */
export type TimeInput = 'discrete' | 'continuous' | 'sigma';

/** One point of a sampling grid: the time handed to the model and the path coefficients there. */
export interface GridPoint {
  readonly t: number;
  readonly a: number;
  readonly b: number;
  readonly s: number;
  /**
   * Where a DDIM step from this point lands when that is not the next grid point: diffusers' DDIMScheduler steps
   * from t to t - num_train_timesteps // steps whatever its timestep list says (set only by a diffusers config read
   * with its quirks, src/samplers/diffusers.ts).
   */
  readonly ddimTo?: GridPoint;
  /**
   * The stage point of the two-stage step from this point, when the grid knows it exactly: diffusers' KDPM2 and
   * DPMSolverSDE schedulers interleave it among their timesteps, computed on their float32 table (set only by
   * src/samplers/diffusers.ts, for the sampler the config maps to: dpm2, dpm2-ancestral or dpm++sde).
   */
  readonly mid?: GridPoint;
}

export abstract class Path {
  abstract readonly family: PathFamily;
  abstract readonly timeInput: TimeInput;
  /** The data end of the time interval (s = 0 there when the family reaches clean data). */
  abstract readonly tMin: number;
  /** The noise end of the time interval. */
  abstract readonly tMax: number;
  /** A time at which s(t) = 0 (clean data), used as the last point of grids that end at sigma = 0. */
  abstract readonly tClean: number;

  abstract a(t: number): number;
  abstract s(t: number): number;
  abstract da(t: number): number;
  abstract ds(t: number): number;
  /** Anchor coefficient; zero for generative paths. */
  b(_t: number): number {
    return 0;
  }
  db(_t: number): number {
    return 0;
  }

  /** Noise-to-signal ratio s/a, the "sigma" of the variance-exploding view. */
  sigma(t: number): number {
    return this.s(t) / this.a(t);
  }
  /** Half log-SNR, log(a/s): the clock of exponential integrators. */
  lambda(t: number): number {
    return Math.log(this.a(t)) - Math.log(this.s(t));
  }
  /** Inverse of lambda (decreasing in t); bisection unless a family knows the closed form. */
  tOfLambda(lam: number): number {
    if (lam === Infinity) return this.tClean;
    let lo = this.tMin, hi = this.tMax;
    if (lam >= this.lambda(lo)) return lo;
    if (lam <= this.lambda(hi)) return hi;
    for (let i = 0; i < 200 && hi - lo > 0; i++) {
      const mid = 0.5 * (lo + hi);
      if (mid === lo || mid === hi) break;
      if (this.lambda(mid) > lam) lo = mid;
      else hi = mid;
    }
    return 0.5 * (lo + hi);
  }
  tOfSigma(sigma: number): number {
    return sigma === 0 ? this.tClean : this.tOfLambda(-Math.log(sigma));
  }

  /** Drift f(t) of the forward SDE dz = f z dt + g dw of the centered variable: a'/a. */
  drift(t: number): number {
    return this.da(t) / this.a(t);
  }
  /** Squared diffusion g(t)^2 = d(s^2)/dt - 2 f s^2, so that Var(z_t | x0) = s(t)^2. */
  diffusion2(t: number): number {
    const s = this.s(t);
    return 2 * s * this.ds(t) - 2 * this.drift(t) * s * s;
  }

  point(t: number): GridPoint {
    return { t, a: this.a(t), b: this.b(t), s: this.s(t) };
  }

  /**
   * Standard deviation of the initial noise at tMax: sqrt(a^2 + s^2), the spread of a(T) x0 + s(T) eps
   * for data of unit variance (1 for VP and flows; sqrt(sigma^2+1) for VE, as diffusers' init_noise_sigma).
   */
  initNoiseSigma(): number {
    const a = this.a(this.tMax), s = this.s(this.tMax);
    return Math.sqrt(a * a + s * s);
  }

  /** Short human-readable description. */
  abstract describe(): string;
}

/** Linear interpolation helper on a uniform integer grid, with the derivative (piecewise constant). */
export function interpUniform(values: Float64Array, t: number): { value: number; slope: number } {
  const n = values.length;
  if (t <= 0) return { value: values[0]!, slope: n > 1 ? values[1]! - values[0]! : 0 };
  if (t >= n - 1) return { value: values[n - 1]!, slope: n > 1 ? values[n - 1]! - values[n - 2]! : 0 };
  const k = Math.floor(t), f = t - k;
  const slope = values[k + 1]! - values[k]!;
  return { value: values[k]! + f * slope, slope };
}
