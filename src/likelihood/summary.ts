import { fail } from '../core/errors.js';
import { Tensor } from '../core/tensor.js';
import type { Denoiser } from '../models/denoiser.js';
import { bitsPerDim, type LikelihoodData } from './data.js';
import { logLikelihood, type LikelihoodOptions } from './log-likelihood.js';

export interface LikelihoodSummary {
  /** Per item: log p(x) in nats, bits/dim, and the Hutchinson standard error of its bits/dim (0 exact, NaN with one probe). */
  logLikelihood: number[];
  bitsPerDim: number[];
  hutchinsonSE: number[];
  /** The mean bits/dim over the items and its standard error (std over items / sqrt(N); NaN for one item). */
  meanBitsPerDim: number;
  standardError: number;
  /** Whether the data were dequantized (bits/dim then include the offset for 8-bit levels). */
  dequantized: boolean;
  /** Model evaluations and ODE right-hand-side evaluations per item, the mean over batches. */
  nfePerItem: number;
  odeEvaluationsPerItem: number;
  seconds: number;
}

/**
 * The likelihood of every item of `data`, in batches of `batch` items sharing one ODE step-size controller
 * (as Score-SDE on a batch); the probes of item i come from (seed, i) whatever the batching.
 */
export async function likelihoodSummary(
  denoiser: Denoiser,
  data: LikelihoodData,
  range: readonly [number, number],
  options: LikelihoodOptions & { batch?: number; onItems?: (done: number, total: number) => void } = {},
): Promise<LikelihoodSummary> {
  const { x } = data, N = x.batch, D = x.itemSize, batch = options.batch ?? 16;
  if (!(Number.isInteger(batch) && batch >= 1)) fail('BAD_INPUT', `batch must be an integer >= 1, got ${batch}`);
  const into = data.dequantized ? range : null;
  const started = performance.now();
  const logLik: number[] = [], bpd: number[] = [], se: number[] = [];
  let nfe = 0, evaluations = 0;
  for (let b0 = 0; b0 < N; b0 += batch) {
    const m = Math.min(batch, N - b0);
    const xb = new Tensor([m, ...x.shape.slice(1)], x.data.slice(b0 * D, (b0 + m) * D));
    const r = await logLikelihood(denoiser, xb, {
      ...options, firstItem: b0,
      ...(options.onItems ? { onProgress: (f: number) => options.onItems!(b0 + f * m, N) } : {}),
    });
    for (let b = 0; b < m; b++) {
      logLik.push(r.logLikelihood[b]!);
      bpd.push(bitsPerDim(r.logLikelihood[b]!, D, into));
      se.push(r.standardError[b]! / (D * Math.LN2));
    }
    nfe += r.nfe * m;
    evaluations += r.odeEvaluations * m;
    options.onItems?.(b0 + m, N);
  }
  const mean = bpd.reduce((p, q) => p + q, 0) / N;
  const variance = bpd.reduce((p, q) => p + (q - mean) ** 2, 0) / (N - 1);
  return {
    logLikelihood: logLik, bitsPerDim: bpd, hutchinsonSE: se,
    meanBitsPerDim: mean, standardError: N > 1 ? Math.sqrt(variance / N) : NaN,
    dequantized: data.dequantized, nfePerItem: nfe / N, odeEvaluationsPerItem: evaluations / N,
    seconds: (performance.now() - started) / 1000,
  };
}
