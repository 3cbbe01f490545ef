import { Tensor } from '../core/tensor.js';
import type { Conditioning, Denoiser } from './denoiser.js';

function concatBatch(a: Tensor, b: Tensor): Tensor {
  const data = a.data instanceof Float64Array ? new Float64Array(a.size + b.size) : new Float32Array(a.size + b.size);
  data.set(a.data);
  data.set(b.data, a.size);
  return new Tensor([a.batch + b.batch, ...a.shape.slice(1)], data);
}

function concatConditioning(c: Conditioning | undefined, u: Conditioning | undefined, anchor: Tensor | undefined): Conditioning {
  const inputs: Record<string, Tensor> = {};
  const keys = new Set([...Object.keys(c?.inputs ?? {}), ...Object.keys(u?.inputs ?? {})]);
  for (const k of keys) {
    const ci = c?.inputs?.[k], ui = u?.inputs?.[k];
    if (ci && ui) inputs[k] = concatBatch(ci, ui);
  }
  return { ...(anchor ? { anchor: concatBatch(anchor, anchor) } : {}), inputs };
}

/**
 * Classifier-free guidance (Ho & Salimans 2022): pred = uncond + scale (cond - uncond), evaluated in one
 * batched call on [x; x]. Predictions of one type at one time are affine in x0 and eps, so guiding the
 * raw prediction equals guiding eps or x0. `cond` and `uncond` must provide the same input names.
 */
export function classifierFreeGuidance(denoiser: Denoiser, opts: { scale: number; cond: Conditioning; uncond: Conditioning }): Denoiser {
  const { scale } = opts;
  const guided: Denoiser = {
    prediction: denoiser.prediction,
    path: denoiser.path,
    itemShape: denoiser.itemShape,
    ...(denoiser.layout ? { layout: denoiser.layout } : {}),
    async predict(x: Tensor, t: number, extra?: Conditioning): Promise<Tensor> {
      const anchor = extra?.anchor ?? opts.cond.anchor;
      const both = await denoiser.predict(concatBatch(x, x), t, concatConditioning(opts.cond, opts.uncond, anchor));
      const out = x.zerosLike(), n = x.size, d = both.data, o = out.data;
      for (let i = 0; i < n; i++) o[i] = d[n + i]! + scale * (d[i]! - d[n + i]!);
      return out;
    },
  };
  return guided;
}
