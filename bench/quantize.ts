import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fail } from '../src/core/errors.js';
import { NoiseSource, Stream } from '../src/core/rng.js';
import { Tensor } from '../src/core/tensor.js';
import { parseOperatorSpec } from '../src/inverse/operators/spec-file.js';
import { solverByName } from '../src/inverse/solvers/registry.js';
import { runSolver } from '../src/inverse/solvers/run.js';
import { readNpy } from '../src/io/npy.js';
import { psnr } from '../src/metrics/image.js';
import { loadOrt, OnnxDenoiser, sessionOptions } from '../src/models/onnx.js';
import { readModelFolder, type ModelSpec } from '../src/models/model-folder.js';
import { profiledRuns } from '../src/models/onnx-flops.js';
import { decodeModel } from '../src/models/onnx-proto.js';
import { packageRoot } from '../src/package-root.js';
import { makeGrid } from '../src/paths/grids.js';
import { generate } from '../src/recipes/generate.js';
import { initialState } from '../src/samplers/run.js';
import { startNoise } from '../src/samplers/start.js';
import { bytesSession, relativeErrors, trajectoryInputs } from '../src/quantize/calibration.js';
import { quantizeFolder, subset } from '../src/quantize/quantize-folder.js';
import { BRAIN_PROBLEMS } from './inverse.js';

export const description = 'int8 models (tweedie quantize) against their float32 sources: images/s of 20-step DPM-Solver++ sampling at batch 16 and 1 for fmnist-32 and brain-64 (interleaved rounds, env TWEEDIE_BENCH_THREADS threads, default 1), the int8 kernels ONNX Runtime fused, where a model call spends its time by kernel group (the profiler, batch 16 and 1), and MRI 4x PSNR of brain-64 (DiffPIR, 50 steps, the 16 held-out slices); sample quality (FD) is bench quality with TWEEDIE_BENCH_MODELS=fmnist-32,fmnist-32-int8';

const PAIRS = ['fmnist-32', 'brain-64'];
const STEPS = 20, REPS = 3, MRI_STEPS = 50;
const THREADS = Number(process.env.TWEEDIE_BENCH_THREADS ?? 1);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const weights = (name: string) => join(packageRoot, 'weights', name);

/** Op counts of the graph ONNX Runtime runs for model folder `dir` (its optimised model, written to a temporary folder). */
async function executedOps(dir: string): Promise<Record<string, number>> {
  const ort = await loadOrt();
  const tmp = mkdtempSync(join(tmpdir(), 'tweedie-opt-'));
  try {
    const file = join(tmp, 'opt.onnx');
    await ort.InferenceSession.create(join(dir, 'model.onnx'), { ...sessionOptions({ threads: THREADS }), executionProviders: ['cpu'], optimizedModelFilePath: file, logSeverityLevel: 3 });
    const counts: Record<string, number> = {};
    for (const n of decodeModel(readFileSync(file), file).graph.node) counts[n.opType] = (counts[n.opType] ?? 0) + 1;
    return counts;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Where a model call's time goes: ONNX Runtime's executed kernels by group. */
const GROUPS: [string, RegExp][] = [
  ['conv / matmul / gemm', /^(Conv|FusedConv|NhwcFusedConv|QLinearConv|QGemm|Gemm|MatMul|FusedMatMul|QLinearMatMul)$/],
  ['quantize / dequantize', /^(QuantizeLinear|DequantizeLinear)$/],
  ['layout (transpose, reorder)', /^(Transpose|ReorderInput|ReorderOutput)$/],
  ['normalisation', /^InstanceNormalization$/],
  ['concat', /^Concat$/],
];
const PROFILE_RUNS = 3;

/** ms per call at batch b (one thread) by kernel group of the model in `dir` (inputs named as `spec` names them), from ONNX Runtime's profiler. */
async function kernelSplit(dir: string, spec: ModelSpec, b: number): Promise<Record<string, number>> {
  const ort = await loadOrt();
  const feeds = {
    [spec.sampleInput]: new ort.Tensor('float32', startNoise(0, 0, 0, b, spec.shape).data, [b, ...spec.shape]),
    [spec.timestepInput]: new ort.Tensor('float32', new Float32Array(b).fill(500), [b]),
  };
  const split: Record<string, number> = Object.fromEntries([...GROUPS.map(([g]) => [g, 0]), ['other', 0], ['total', 0]]);
  for (const e of await profiledRuns(ort, join(dir, 'model.onnx'), feeds, 'all', PROFILE_RUNS)) {
    const ms = (e.dur ?? 0) / 1000 / PROFILE_RUNS;
    split[GROUPS.find(([, re]) => re.test(e.args?.op_name ?? ''))?.[0] ?? 'other']! += ms;
    split.total! += ms;
  }
  return split;
}

/** images/s of float and int8 sampling at each batch, rounds interleaved so machine load hits both alike. */
async function speedRows(name: string, log: (m: string) => void) {
  const [float, int8] = [await OnnxDenoiser.load(weights(name), { threads: THREADS }), await OnnxDenoiser.load(weights(`${name}-int8`), { threads: THREADS })];
  const rows = [];
  for (const batch of [16, 1]) {
    const noise = startNoise(0, 0, 0, batch, float.itemShape);
    const sample = (model: OnnxDenoiser) => generate({ model, sampler: 'dpm-solver++', steps: STEPS, noise, batch });
    await sample(float), await sample(int8);
    const t: [number[], number[]] = [[], []];
    for (let r = 0; r < REPS; r++) {
      log(`  ${name}, batch ${batch}: round ${r + 1}/${REPS}`);
      for (const [i, m] of [float, int8].entries()) {
        const t0 = performance.now();
        await sample(m);
        t[i]!.push((performance.now() - t0) / 1000);
      }
    }
    const [f, q] = [batch / median(t[0]), batch / median(t[1])];
    rows.push({ model: name, batch, float32_images_per_s: f, int8_images_per_s: q, speedup: q / f });
  }
  await float.release(), await int8.release();
  return rows;
}

const SCHEME_STEPS = 25, SCHEME_TRAJECTORIES = 8;

/**
 * NDTC against uniform calibration: the network output's relative error of fmnist-32 int8 calibrated each way (the
 * shipped NDTC folder, and a uniform one made here with the same N, steps and seed) on common inputs: fresh
 * trajectories (seed 1) at every one of their 25 steps, by thirds of the trajectory.
 */
async function schemeRows(log: (m: string) => void) {
  const ort = await loadOrt();
  const dir = weights('fmnist-32');
  log('  NDTC vs uniform: quantizing fmnist-32 with --scheme uniform');
  const uniform = await quantizeFolder({ dir, scheme: 'uniform', calibration: 256, steps: SCHEME_STEPS, seed: 0, threads: THREADS, log: () => {}, warn: log });
  const at = Int32Array.from({ length: SCHEME_STEPS * SCHEME_TRAJECTORIES }, (_, j) => j % SCHEME_STEPS);
  log('  NDTC vs uniform: common inputs');
  const inputs = await trajectoryInputs(ort, dir, at, SCHEME_STEPS, { seed: 1, threads: THREADS });
  const float = await bytesSession(ort, readFileSync(join(dir, 'model.onnx')), THREADS);
  const models = { ndtc: await bytesSession(ort, readFileSync(join(weights('fmnist-32-int8'), 'model.onnx')), THREADS), uniform: await bytesSession(ort, uniform.files.find((f) => f.name === 'model.onnx')!.bytes, THREADS) };
  const out = readModelFolder(dir).output!;
  const thirds = [[0, 8], [8, 17], [17, 25]] as const;
  const rows = [];
  for (const [lo, hi] of thirds) {
    const part = subset(inputs, (j) => at[j]! >= lo && at[j]! < hi);
    const err = async (q: typeof float) => (await relativeErrors(ort, float, q, part, [[out, out]], 8))[0]!;
    rows.push({ steps: `${lo}-${hi - 1}`, inputs: part.items, ndtc: await err(models.ndtc), uniform: await err(models.uniform) });
  }
  return rows;
}

/** Mean PSNR of DiffPIR on MRI 4x over the held-out slices of brain-64, with the prior in folder `dir`. */
async function mriPsnr(dir: string, truth: Tensor): Promise<number> {
  const model = await OnnxDenoiser.load(dir, { threads: THREADS });
  const op = parseOperatorSpec(BRAIN_PROBLEMS[0]!.spec, model.itemShape);
  const y = op.measure(truth, new NoiseSource(0));
  const grid = makeGrid(model.path, { kind: 'time-uniform', steps: MRI_STEPS });
  const xT = initialState(new NoiseSource(1).normal(truth.shape, 0, Stream.init), grid[0]!);
  const r = await runSolver(solverByName('diffpir'), model, grid, op, y, xT, { noise: new NoiseSource(2) });
  await model.release();
  const p = psnr(r.x.toDtype('float32'), truth, model.spec.valueRange[1] - model.spec.valueRange[0]);
  return p.reduce((a, b) => a + b, 0) / p.length;
}

export async function run(opts: { json: boolean; log: (m: string) => void }): Promise<Record<string, unknown>> {
  for (const name of PAIRS) {
    if (!existsSync(join(weights(`${name}-int8`), 'model.onnx'))) fail('UNREADABLE_FILE', `weights/${name}-int8 is missing; make it with: npx tweedie quantize --model weights/${name} --out weights/${name}-int8`);
  }
  const speed = [];
  for (const name of PAIRS) speed.push(...(await speedRows(name, opts.log)));
  const fused = await Promise.all(PAIRS.map(async (name) => ({ model: `${name}-int8`, ops: await executedOps(weights(`${name}-int8`)) })));
  opts.log('  profiles (one thread)');
  const split: { model: string; batch: number; float32: Record<string, number>; int8: Record<string, number> }[] = [];
  for (const name of PAIRS) for (const batch of [16, 1]) {
    const spec = readModelFolder(weights(name));
    split.push({ model: name, batch, float32: await kernelSplit(weights(name), spec, batch), int8: await kernelSplit(weights(`${name}-int8`), spec, batch) });
  }
  const schemes = await schemeRows(opts.log);
  opts.log('  MRI 4x, DiffPIR: float32 and int8 brain-64');
  const truth = readNpy(join(weights('brain-64'), 'heldout.npy')).toDtype('float32');
  const mri = { problem: BRAIN_PROBLEMS[0]!.label, solver: 'diffpir', steps: MRI_STEPS, slices: truth.batch, float32_psnr: await mriPsnr(weights('brain-64'), truth), int8_psnr: await mriPsnr(weights('brain-64-int8'), truth) };
  if (!opts.json) {
    const kernels = (ops: Record<string, number>) => ['QLinearConv', 'QGemm', 'QLinearMatMul', 'Conv', 'Gemm', 'MatMul', 'FusedConv', 'QuantizeLinear', 'DequantizeLinear', 'Transpose'].filter((k) => ops[k]).map((k) => `${k} ${ops[k]}`).join(', ');
    process.stdout.write([
      `${STEPS}-step DPM-Solver++ sampling, ${THREADS} thread${THREADS > 1 ? 's' : ''}, median of ${REPS} interleaved rounds:`,
      '| model | batch | float32 images/s | int8 images/s | int8 / float32 |',
      '|---|---|---|---|---|',
      ...speed.map((r) => `| ${r.model} | ${r.batch} | ${r.float32_images_per_s.toFixed(2)} | ${r.int8_images_per_s.toFixed(2)} | ${r.speedup.toFixed(2)}x |`),
      '',
      ...fused.map((f) => `ONNX Runtime's executed graph of ${f.model}: ${kernels(f.ops)}`),
      '',
      `ms per model call by kernel group (one thread, ONNX Runtime's profiler, mean of ${PROFILE_RUNS} calls), float32 / int8:`,
      `| kernels | ${split.map((s) => `${s.model}, batch ${s.batch}`).join(' | ')} |`,
      `|---|${split.map(() => '---|').join('')}`,
      ...Object.keys(split[0]!.float32).map((g) => `| ${g} | ${split.map((s) => `${s.float32[g]!.toFixed(1)} / ${s.int8[g]!.toFixed(1)}`).join(' | ')} |`),
      '',
      `fmnist-32 int8, network output relative error by calibration scheme, on ${SCHEME_TRAJECTORIES} fresh ${SCHEME_STEPS}-step DDIM trajectories at every step (step 0: pure noise):`,
      '| trajectory steps | inputs | NDTC | uniform |',
      '|---|---|---|---|',
      ...schemes.map((r) => `| ${r.steps} | ${r.inputs} | ${(100 * r.ndtc).toFixed(2)}% | ${(100 * r.uniform).toFixed(2)}% |`),
      '',
      `${mri.problem}, ${mri.solver}, ${mri.steps} steps, ${mri.slices} held-out brain-64 slices: float32 ${mri.float32_psnr.toFixed(2)} dB, int8 ${mri.int8_psnr.toFixed(2)} dB (${(mri.int8_psnr - mri.float32_psnr).toFixed(2)} dB)`,
    ].join('\n') + '\n');
  }
  return { threads: THREADS, steps: STEPS, speed, fused, kernel_ms: split, schemes, mri };
}
