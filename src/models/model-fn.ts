import { fail, TweedieError } from '../core/errors.js';
import { firstNonFinite } from '../core/ops.js';
import { Tensor } from '../core/tensor.js';
import type { GridPoint } from '../paths/path.js';
import type { Conditioning, Denoiser } from './denoiser.js';
import { derivativesAt, toX0Eps } from './prediction.js';
import { dynamicThreshold } from './thresholding.js';

export interface ModelFnOptions {
  cond?: Conditioning;
  /** Dynamic thresholding of the x0 estimate (diffusers `thresholding`). */
  thresholding?: { ratio: number; maxValue: number } | null;
  /** Clamp the x0 estimate to [-c, c] (diffusers `clip_sample`). */
  clipSample?: number | null;
  /**
   * Pair the clipped / thresholded x0 with the model's own eps, as diffusers' DDIMScheduler does
   * (use_clipped_model_output = False); otherwise eps is recomputed so that z = a x0 + s eps still holds.
   */
  keepModelEps?: boolean;
  signal?: AbortSignal;
  /** Name used in error messages (the sampler or solver). */
  caller?: string;
}

/** The x0 and eps estimates at one point, for the centered variable z = x - b mu. */
export interface Estimate {
  x0: Tensor;
  eps: Tensor;
}

/** A pair of zero tensors shaped like z, for ModelFn.estimate to write into step after step. */
export function estimateBuffers(z: Tensor): Estimate {
  return { x0: z.zerosLike(), eps: z.zerosLike() };
}

/**
 * What samplers call instead of the raw Denoiser: it works on the centered variable z
 * (adds b(t) mu back before the model call), converts any prediction type to (x0, eps),
 * applies thresholding, counts NFE and turns a non-finite model output into an error naming
 * the caller and the step.
 */
export class ModelFn {
  nfe = 0;
  /** Index of the sampler step being computed, for error messages. */
  step = 0;
  readonly denoiser: Denoiser;
  private readonly opts: ModelFnOptions;

  constructor(denoiser: Denoiser, opts: ModelFnOptions = {}) {
    this.denoiser = denoiser;
    this.opts = opts;
  }

  get anchor(): Tensor | null {
    return this.opts.cond?.anchor ?? null;
  }

  /** x = z + b mu for the model call. */
  uncenter(z: Tensor, b: number): Tensor {
    const anchor = this.anchor;
    if (!anchor || b === 0) return z;
    const x = z.zerosLike(), xd = x.data, zd = z.data, m = anchor.data;
    for (let i = 0; i < xd.length; i++) xd[i] = zd[i]! + b * m[i]!;
    return x;
  }

  /** z = x - b mu. */
  center(x: Tensor, b: number): Tensor {
    const anchor = this.anchor;
    if (!anchor || b === 0) return x;
    const z = x.zerosLike(), zd = z.data, xd = x.data, m = anchor.data;
    for (let i = 0; i < zd.length; i++) zd[i] = xd[i]! - b * m[i]!;
    return z;
  }

  /**
   * x0 and eps at point p. `atCleanData`: the caller means to ask at s = 0 (diffusers' DDIMInverseScheduler's first
   * step), where eps and v outputs still give both (x0 = the sample, eps = the output); otherwise s = 0 is a bug.
   * `into`: tensors of z's shape (not z) to write the estimate into, for a sampler that keeps no estimate past the
   * next call (one pair reused every step); without it the estimate is two new tensors.
   */
  async estimate(z: Tensor, p: GridPoint, atCleanData = false, into?: Estimate): Promise<Estimate> {
    if (this.opts.signal?.aborted) throw new TweedieError('ABORTED', `${this.opts.caller ?? 'sampling'} was cancelled at step ${this.step}`);
    const type0 = this.denoiser.prediction;
    if (p.s === 0 && !(atCleanData && (type0 === 'eps' || type0 === 'v'))) {
      fail('UNSUPPORTED', `${this.opts.caller ?? 'sampler'} asked the model at clean data (s = 0) at step ${this.step}${atCleanData ? ` with this ${type0}-prediction model, which says nothing about eps there; use an eps or v model` : '; this is a sampler bug'}`);
    }
    const type = this.denoiser.prediction;
    if (p.a === 0 && (type === 'eps' || type === 'score')) {
      fail('UNSUPPORTED', `an ${type}-prediction model says nothing about x0 where a(t) = 0 (pure noise, t = ${p.t}); ${this.opts.caller ?? 'the sampler'} must start the grid after that point (e.g. t < 1 on rectified flow)`);
    }
    const x = this.uncenter(z, p.b);
    const pred = await this.denoiser.predict(x, p.t, this.opts.cond);
    this.nfe += x.batch > 0 ? 1 : 0;
    if (pred.size !== z.size) {
      fail('BAD_SHAPE', `model returned ${pred.size} values ([${pred.shape.join(', ')}]) for an input of shape [${z.shape.join(', ')}]; check the model's output shape`);
    }
    const bad = firstNonFinite(pred.data);
    if (bad >= 0) {
      fail('NAN_IN_MODEL', `model output is ${pred.data[bad]} at element ${bad} in ${this.opts.caller ?? 'sampling'} step ${this.step} (t = ${p.t}); check the model and its time input`);
    }
    const x0 = into?.x0 ?? z.zerosLike(), eps = into?.eps ?? z.zerosLike();
    const deriv = this.denoiser.prediction === 'velocity' ? derivativesAt(this.denoiser.path, p.t) : null;
    toX0Eps(this.denoiser.prediction, pred, x, p, this.anchor, deriv, x0, eps);
    const { thresholding, clipSample } = this.opts;
    if (thresholding || clipSample) {
      if (thresholding) dynamicThreshold(x0, thresholding.ratio, thresholding.maxValue);
      if (clipSample) {
        const d = x0.data;
        for (let i = 0; i < d.length; i++) d[i] = Math.min(clipSample, Math.max(-clipSample, d[i]!));
      }
      if (!this.opts.keepModelEps) {
        // Keep the pair consistent with z = a x0 + s eps.
        const e = eps.data, zd = z.data, xd = x0.data;
        for (let i = 0; i < e.length; i++) e[i] = (zd[i]! - p.a * xd[i]!) / p.s;
      }
    }
    return { x0, eps };
  }
}
