import { fail } from '../core/errors.js';
import { Tensor } from '../core/tensor.js';
import { repeatBatch, withInputs, wrapCalls } from './conditioning.js';
import type { Conditioning, Denoiser } from './denoiser.js';

/** Classifier-free guidance's knobs. */
export interface GuidanceOptions {
  /**
   * w in eps = eps_uncond + w (eps_cond - eps_uncond), diffusers' guidance_scale: 1 is the conditional model, 0 the
   * unconditional one, w > 1 sharpens towards the condition (less diversity).
   */
  scale: number;
  /**
   * [lo, hi] in sigma = s/a: guidance applies where lo <= sigma(t) <= hi and the conditional model runs alone elsewhere
   * (Kynkaanniemi et al. 2024, "Applying guidance in a limited interval"); absent: at every step.
   */
  interval?: readonly [number, number];
}

/** Items of b after those of a (one batch). */
function concatBatch(a: Tensor, b: Tensor): Tensor {
  const data = a.data instanceof Float64Array ? new Float64Array(a.size + b.size) : new Float32Array(a.size + b.size);
  data.set(a.data);
  data.set(b.data, a.size);
  return new Tensor([a.batch + b.batch, ...a.shape.slice(1)], data);
}

/** The named inputs of the batch [x; x]: the conditional values for the first n items, the unconditional for the rest. */
function doubledInputs(cond: Readonly<Record<string, Tensor>>, uncond: Readonly<Record<string, Tensor>>, n: number, extra?: Conditioning): Conditioning {
  const inputs: Record<string, Tensor> = { ...extra?.inputs };
  for (const k of Object.keys(cond)) {
    if (!uncond[k]) fail('USAGE', `classifier-free guidance: the condition "${k}" has no unconditional value`);
    inputs[k] = concatBatch(repeatBatch(cond[k]!, n), repeatBatch(uncond[k]!, n));
  }
  return { ...(extra?.anchor ? { anchor: concatBatch(extra.anchor, extra.anchor) } : {}), inputs };
}

/**
 * Classifier-free guidance (Ho & Salimans 2022, eq. 6; our w is their 1 + w): pred = uncond + w (cond - uncond), the
 * conditional and unconditional branches in one model call on [x; x] (2N items). Predictions of one type at one time
 * are affine in (x0, eps) with coefficients summing to one here, so guiding the raw prediction equals guiding eps or
 * x0; in score terms it is the score of p_t(x)^(1-w) p_t(x | c)^w. `cond` and `uncond` hold the named inputs of the
 * two branches (batch 1, or the batch of the samples).
 */
export function classifierFreeGuidance(denoiser: Denoiser, opts: GuidanceOptions & { cond: Readonly<Record<string, Tensor>>; uncond: Readonly<Record<string, Tensor>> }): Denoiser {
  const { scale, interval, cond, uncond } = opts;
  const guided = (t: number) => !interval || (denoiser.path.sigma(t) >= interval[0] && denoiser.path.sigma(t) <= interval[1]);
  // x0 of the guided prediction is the same combination of the branches' x0, and so is its derivative.
  return wrapCalls(denoiser, async (call, x, t, v, extra) => {
    if (!guided(t)) return call(x, v, withInputs(cond, x.batch, extra));
    const both = await call(concatBatch(x, x), v && concatBatch(v, v), doubledInputs(cond, uncond, x.batch, extra));
    const out = x.zerosLike(), n = x.size, d = both.data, o = out.data;
    for (let i = 0; i < n; i++) o[i] = d[n + i]! + scale * (d[i]! - d[n + i]!);
    return out;
  });
}
