import { fail } from '../core/errors.js';
import { fillNormal, Stream } from '../core/rng.js';
import { OnnxDenoiser, sessionOptions, type OrtModule } from '../models/onnx.js';
import type { OrtSession, OrtTensor } from '../models/ort-denoiser.js';
import { generate } from '../recipes/generate.js';
import { mseParams, type ActivationParams } from './arith.js';

/**
 * Calibration inputs for post-training quantization, as PTQ4DM (Shang et al., CVPR 2023, sec. 4) draws them: the
 * network inputs met along the float model's own deterministic sampler trajectories from noise, each item kept at
 * one step of its trajectory. NDTC (Normally Distributed Time-step Calibration) draws that step as
 * k = clamp(trunc(K * z), 0, K - 1), z ~ N(0.4, 0.4^2), K the trajectory's steps, k counted from noise (the
 * official code's calib_t_mode "normal" with its defaults); 'uniform' spreads k evenly over 0..K-1
 * (round(linspace(0, K, n)), the code's "uniform"). Unlike the official code, which labels the kept sample with
 * k as if it were the timestep, the input is kept with the timestep the sampler actually gave it.
 */
export type CalibrationScheme = 'ndtc' | 'uniform';
export const NDTC_MEAN = 0.4, NDTC_STD = 0.4;

/** The trajectory step (0 = the first step from noise) at which each of n calibration inputs is taken. */
export function calibrationSteps(scheme: CalibrationScheme, n: number, steps: number, seed: number): Int32Array {
  const k = new Int32Array(n);
  if (scheme === 'uniform') return k.map((_, j) => Math.min(steps - 1, Math.round((j * steps) / Math.max(1, n - 1))));
  const z = new Float64Array(n);
  fillNormal(z, 0, n, seed, 0, 0, Stream.aux);
  return k.map((_, j) => Math.min(steps - 1, Math.max(0, Math.trunc(steps * (NDTC_MEAN + NDTC_STD * z[j]!)))));
}

type Typed = Float32Array | Float64Array | Int32Array | BigInt64Array;
/** Network inputs of `items` items, by ONNX input name: each a batch tensor's type, item dims and values. */
export interface InputSet {
  items: number;
  inputs: Record<string, { type: string; itemDims: number[]; data: Typed }>;
}

/** Items [start, end) of `set` as ONNX Runtime feeds. */
export function feedsOf(ort: OrtModule, set: InputSet, start: number, end: number): Record<string, OrtTensor> {
  return Object.fromEntries(Object.entries(set.inputs).map(([name, { type, itemDims, data }]) => {
    const size = itemDims.reduce((a, b) => a * b, 1);
    return [name, new ort.Tensor(type, data.slice(start * size, end * size), [end - start, ...itemDims])];
  }));
}

/**
 * The calibration inputs of model folder `dir`: `steps`-step DDIM (eta 0) trajectories of the float model from
 * seeded noise, one per item, item j kept at step at[j]. The model's session is wrapped so that each call's feeds
 * (the inputs exactly as the network sees them) are read as they pass.
 */
export async function trajectoryInputs(ort: OrtModule, dir: string, at: Int32Array, steps: number, opts: { seed: number; threads?: number }): Promise<InputSet> {
  const n = at.length;
  const set: InputSet = { items: n, inputs: {} };
  let call = 0;
  const keep = (feeds: Record<string, OrtTensor>) => {
    for (const [name, t] of Object.entries(feeds)) {
      if (t.dims[0] !== n) fail('UNSUPPORTED', `${dir}: input "${name}" is not batched [N, ...]; tweedie quantize needs per-item inputs`);
      const data = t.data as Typed, size = data.length / n;
      const slot = (set.inputs[name] ??= { type: t.type, itemDims: t.dims.slice(1), data: new (data.constructor as new (k: number) => Typed)(data.length) });
      at.forEach((k, j) => k === call && slot.data.set(data.subarray(j * size, (j + 1) * size) as never, j * size));
    }
    call++;
  };
  const recording: OrtModule = {
    Tensor: ort.Tensor,
    InferenceSession: {
      create: async (file, options) => {
        const s = await ort.InferenceSession.create(file, options);
        return new Proxy(s, {
          get(target, p) {
            if (p === 'run') return (feeds: Record<string, OrtTensor>) => (keep(feeds), target.run(feeds));
            const v = Reflect.get(target, p) as unknown;
            return typeof v === 'function' ? v.bind(target) : v;
          },
        });
      },
    },
  };
  const model = await OnnxDenoiser.load(dir, { ort: recording, backend: 'cpu', ...(opts.threads ? { threads: opts.threads } : {}) });
  try {
    await generate({ model, sampler: 'ddim', steps, n, batch: n, seed: opts.seed });
  } finally {
    await model.release();
  }
  if (call !== steps) fail('UNSUPPORTED', `${dir}: DDIM made ${call} model calls for ${steps} steps; tweedie quantize needs one call per step`);
  return set;
}

/** Values kept per tensor for the MSE search: a uniform random subsample of everything calibration saw. */
const SAMPLE_PER_TENSOR = 1 << 15;

/**
 * uint8 parameters of each float tensor `names` of the calibration copy `session`, over the inputs of `set`
 * (run `batch` items at a time): the exact range seen, then the MSE-searched clipping of mseParams on a random
 * subsample of SAMPLE_PER_TENSOR values.
 */
export async function calibrate(ort: OrtModule, session: OrtSession, set: InputSet, names: readonly string[], batch: number, log: (m: string) => void): Promise<Map<string, ActivationParams>> {
  const batches = Math.ceil(set.items / batch), perBatch = Math.ceil(SAMPLE_PER_TENSOR / batches);
  const stats = new Map(names.map((n) => [n, { lo: Infinity, hi: -Infinity, sample: new Float32Array(perBatch * batches), filled: 0 }]));
  let state = 0x2545f491;
  const random = () => ((state = (Math.imul(state ^ (state >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) | 0) >>> 0) / 4294967296;
  for (let b = 0; b < batches; b++) {
    log(`  calibration batch ${b + 1}/${batches}`);
    const out = await session.run(feedsOf(ort, set, b * batch, Math.min(set.items, (b + 1) * batch)));
    for (const [name, s] of stats) {
      const x = out[name]!.data as Float32Array;
      for (const v of x) {
        if (v < s.lo) s.lo = v;
        if (v > s.hi) s.hi = v;
      }
      for (let i = 0; i < perBatch; i++) s.sample[s.filled++] = x[Math.floor(random() * x.length)]!;
    }
  }
  return new Map([...stats].map(([name, s]) => [name, mseParams(s.sample.subarray(0, s.filled), s.lo, s.hi)]));
}

/**
 * Relative L2 error ||q - f|| / ||f|| of each pair [float tensor, quantized tensor] over the inputs of `set`:
 * the float calibration copy and the QDQ report copy run on the same items.
 */
export async function relativeErrors(ort: OrtModule, float: OrtSession, quant: OrtSession, set: InputSet, pairs: readonly [string, string][], batch: number): Promise<number[]> {
  const diff = new Float64Array(pairs.length), norm = new Float64Array(pairs.length);
  for (let start = 0; start < set.items; start += batch) {
    const feeds = feedsOf(ort, set, start, Math.min(set.items, start + batch));
    const [f, q] = [await float.run(feeds), await quant.run(feeds)];
    pairs.forEach(([fn, qn], i) => {
      const a = f[fn]!.data as Float32Array, b = q[qn]!.data as Float32Array;
      for (let k = 0; k < a.length; k++) {
        diff[i] += (b[k]! - a[k]!) ** 2;
        norm[i] += a[k]! ** 2;
      }
    });
  }
  return pairs.map((_, i) => Math.sqrt(diff[i]! / Math.max(norm[i]!, Number.MIN_VALUE)));
}

/** A CPU session of model bytes with tweedie's session options. */
export const bytesSession = (ort: OrtModule, bytes: Uint8Array, threads?: number) =>
  ort.InferenceSession.create(bytes, { ...sessionOptions(threads ? { threads } : {}), executionProviders: ['cpu'] });
