import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fail } from '../core/errors.js';
import { readJson, readModelFolder } from '../models/model-folder.js';
import { loadOrt } from '../models/onnx.js';
import { decodeModel, encodeModel } from '../models/onnx-proto.js';
import { bytesSession, calibrate, calibrationSteps, NDTC_MEAN, NDTC_STD, relativeErrors, trajectoryInputs, type CalibrationScheme, type InputSet } from './calibration.js';
import { buildQdq, layerOutput, planQuantization, withOutputs } from './graph.js';

/**
 * Fewest calibration inputs accepted: with fewer, the NDTC draw leaves whole stretches of the trajectory without
 * an input (at 32, about 3 fall past 0.9 K and 4 before 0.1 K) and the clipped ranges follow single images.
 */
export const MIN_CALIBRATION = 32;

export interface QuantizeOptions {
  dir: string;
  scheme: CalibrationScheme;
  /** Calibration inputs; a quarter as many more are held out for the error report. */
  calibration: number;
  /** Steps of the DDIM trajectories the inputs are taken from. */
  steps: number;
  seed: number;
  threads?: number;
  log: (m: string) => void;
  warn: (m: string) => void;
}

/** Items per calibration session run (every calibrated tensor of the batch is an output at once). */
const BATCH = 8;

const SCHEMES: Record<CalibrationScheme, string> = {
  ndtc: `NDTC (PTQ4DM): trajectory step k = clamp(trunc(K z), 0, K-1), z ~ N(${NDTC_MEAN}, ${NDTC_STD}^2), k counted from noise`,
  uniform: 'uniform in t: trajectory steps round(linspace(0, K, n)), clamped to K-1',
};

/** Evenly spread indices of `h` held-out items among `total`. */
const heldOutIndices = (total: number, h: number) => new Set(Array.from({ length: h }, (_, i) => Math.floor(((i + 0.5) * total) / h)));

/** Items of `set` whose index `keep` accepts. */
export function subset(set: InputSet, keep: (j: number) => boolean): InputSet {
  const idx = Array.from({ length: set.items }, (_, j) => j).filter(keep);
  const inputs = Object.fromEntries(Object.entries(set.inputs).map(([name, t]) => {
    const size = t.itemDims.reduce((a, b) => a * b, 1);
    const data = new (t.data.constructor as new (n: number) => typeof t.data)(idx.length * size);
    idx.forEach((j, i) => data.set(t.data.subarray(j * size, (j + 1) * size) as never, i * size));
    return [name, { ...t, data }];
  }));
  return { items: idx.length, inputs };
}

/**
 * The int8 QDQ version of the model folder o.dir: its files (model.onnx, tweedie.json, scheduler_config.json,
 * quantize-report.json) and the report (per-layer relative errors on held-out inputs).
 */
export async function quantizeFolder(o: QuantizeOptions): Promise<{ files: { name: string; bytes: Uint8Array }[]; report: QuantizeReport }> {
  if (!Number.isSafeInteger(o.calibration) || o.calibration < MIN_CALIBRATION) fail('USAGE', `--calibration ${o.calibration} is too few inputs for stable ranges; use at least ${MIN_CALIBRATION}`);
  const spec = readModelFolder(o.dir, o.warn);
  if (spec.modelFile !== join(o.dir, 'model.onnx')) fail('UNSUPPORTED', `${o.dir} is a diffusers export; tweedie quantize reads tweedie's folder layout (model.onnx, tweedie.json, scheduler_config.json)`);
  const bytes = readFileSync(spec.modelFile);
  const model = decodeModel(bytes, spec.modelFile);
  const plan = planQuantization(model, spec.modelFile);
  for (const w of plan.warnings) o.warn(w);
  if (!plan.targets.length) fail('UNSUPPORTED', `${spec.modelFile} has no Conv, MatMul or Gemm that ONNX Runtime can run in int8; nothing to quantize`);

  const held = Math.ceil(o.calibration / 4), total = o.calibration + held;
  const ort = await loadOrt();
  o.log(`sampling ${total} trajectories of ${o.steps} DDIM steps for calibration inputs (${o.scheme}) ...`);
  const all = await trajectoryInputs(ort, o.dir, calibrationSteps(o.scheme, total, o.steps, o.seed), o.steps, { seed: o.seed, ...(o.threads ? { threads: o.threads } : {}) });
  const heldIdx = heldOutIndices(total, held);
  const [calib, heldout] = [subset(all, (j) => !heldIdx.has(j)), subset(all, (j) => heldIdx.has(j))];

  const outputNames = [...new Set([...plan.activations, ...plan.targets.map((t) => t.node.output[0]!)])];
  const floatSession = await bytesSession(ort, encodeModel(withOutputs(model, outputNames)), o.threads);
  o.log(`measuring ${plan.activations.length} activation ranges on ${calib.items} inputs ...`);
  const params = await calibrate(ort, floatSession, calib, plan.activations, BATCH, o.log);
  const qdq = buildQdq(model, plan, params);
  const qdqBytes = encodeModel(qdq);
  const netOut = spec.output ?? model.graph.output[0]!.name;
  const pairs: [string, string][] = [...plan.targets.map((t): [string, string] => [t.node.output[0]!, layerOutput(plan, t)]), [netOut, netOut]];
  const quantSession = await bytesSession(ort, encodeModel(withOutputs(qdq, pairs.map((p) => p[1]))), o.threads);
  o.log(`per-layer error on ${heldout.items} held-out inputs ...`);
  const errors = await relativeErrors(ort, floatSession, quantSession, heldout, pairs, BATCH);
  await Promise.all([floatSession.release?.(), quantSession.release?.()]);

  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const quantized = {
    scheme: o.scheme, calibration: o.calibration, source: { model: o.dir, sha256 },
    trajectories: { sampler: 'ddim', eta: 0, steps: o.steps, seed: o.seed }, time_steps: SCHEMES[o.scheme],
    weights: 'int8, symmetric, per output channel, scale = max|w| / 127',
    activations: 'uint8, asymmetric, per tensor, on the inputs and outputs of every int8 op; range = the calibration range shrunk by the factor in 1, 0.99, ..., 0.2 of least squared error (MSE search)',
  };
  const report: QuantizeReport = {
    ...quantized, heldout: heldout.items, left_in_float: plan.warnings,
    layers: plan.targets.map((t, i) => ({ layer: t.layer, op: t.node.opType, relative_error: errors[i]! })),
    output_relative_error: errors[errors.length - 1]!,
  };
  const card = readJson(join(o.dir, 'tweedie.json'));
  // The exported gradient graph differentiates the float network, not this one: gradients go by differences.
  delete card.gradient;
  card.quantized = quantized;
  const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v, null, 2) + '\n');
  return {
    files: [
      { name: 'model.onnx', bytes: qdqBytes },
      { name: 'tweedie.json', bytes: json(card) },
      { name: 'scheduler_config.json', bytes: readFileSync(join(o.dir, 'scheduler_config.json')) },
      { name: 'quantize-report.json', bytes: json(report) },
    ],
    report,
  };
}

export interface QuantizeReport {
  scheme: CalibrationScheme;
  calibration: number;
  heldout: number;
  source: { model: string; sha256: string };
  left_in_float: string[];
  layers: { layer: string; op: string; relative_error: number }[];
  output_relative_error: number;
  trajectories: { sampler: string; eta: number; steps: number; seed: number };
  time_steps: string;
  weights: string;
  activations: string;
}
