import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { sessionOptions, type OrtModule } from '../../src/models/onnx.js';
import { countOnnxFlops } from '../../src/models/onnx-flops.js';
import type { OrtSession, OrtTensor } from '../../src/models/ort-denoiser.js';
import { packageRoot } from '../../src/package-root.js';

/**
 * The shipped networks against the machine: achieved GFLOP per CPU second of one-thread model calls (FLOPs counted from
 * ONNX Runtime's graph, src/models/onnx-flops.ts) against the one-thread float32 ceiling, the better of a large
 * matrix product and a large 3x3 convolution through the same runtime (bench/assets/{matmul,conv}.onnx, made by
 * training/flops_fixture.py); and ONNX Runtime's graph optimisation levels.
 */

const BATCH = 16, REPS = 3, CALLS = 5;
/** The ceiling probes: a 1024^3 matrix product, and a 3x3 convolution 128 -> 128 channels on 4 x 32 x 32. */
const SIDE = 1024, CONV = [4, 128, 32, 32] as const;
const LEVELS = ['disabled', 'basic', 'extended', 'all'] as const;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/**
 * CPU ms per call of each session (user + system time of this process; the sessions run one intra-op thread),
 * median of REPS interleaved rounds of CALLS calls after one warm-up call each. CPU time rather than wall time:
 * on a shared machine the wall clock also counts the time other programs hold the core.
 */
async function timeInterleaved(sessions: OrtSession[], feeds: Record<string, OrtTensor>[]): Promise<number[]> {
  const times: number[][] = sessions.map(() => []);
  for (const [i, s] of sessions.entries()) await s.run(feeds[i]!);
  for (let r = 0; r < REPS; r++) {
    for (const [i, s] of sessions.entries()) {
      const c0 = process.cpuUsage();
      for (let k = 0; k < CALLS; k++) await s.run(feeds[i]!);
      const c = process.cpuUsage(c0);
      times[i]!.push((c.user + c.system) / 1000 / CALLS);
    }
  }
  return times.map(median);
}

const oneThread = (level: string = 'all') => ({ ...sessionOptions({ threads: 1 }), graphOptimizationLevel: level, executionProviders: ['cpu'] });

export interface ModelRow { model: string; gflop_per_image: number; cpu_ms_per_call: number; gflops: number; of_ceiling: number }
export interface LevelRow { level: string; cpu_ms_per_call: number }

export async function hardwareRows(ort: OrtModule, log: (m: string) => void): Promise<{ batch: number; ceiling_gflops: number; models: ModelRow[]; levels: LevelRow[] }> {
  const filled = (shape: readonly number[]) => new ort.Tensor('float32', Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5), shape);
  const asset = (name: string) => ort.InferenceSession.create(join(packageRoot, 'bench', 'assets', name), oneThread());
  // Every session is timed in the same interleaved rounds, so machine load hits the ceiling and the models alike.
  const sessions: OrtSession[] = [await asset('matmul.onnx'), await asset('conv.onnx')];
  const feeds: Record<string, OrtTensor>[] = [{ A: filled([SIDE, SIDE]), B: filled([SIDE, SIDE]) }, { X: filled(CONV) }];
  const probeFlops = [2 * SIDE ** 3, 2 * CONV[0] * CONV[1] * CONV[2] * CONV[3] * CONV[1] * 9];
  const shipped: { name: string; flops: number; at: number }[] = [];
  for (const [name, shape] of [['fmnist-32', [1, 32, 32]], ['brain-64', [1, 64, 64]]] as const) {
    const file = join(packageRoot, 'weights', name, 'model.onnx');
    if (!existsSync(file)) continue;
    const feed = {
      sample: new ort.Tensor('float32', new Float32Array(BATCH * shape.reduce((a: number, b: number) => a * b, 1)).fill(0.1), [BATCH, ...shape]),
      timestep: new ort.Tensor('float32', new Float32Array(BATCH).fill(500), [BATCH]),
    };
    log(`  ${name}: FLOPs from the graph`);
    shipped.push({ name, flops: (await countOnnxFlops(ort, file, feed)) / BATCH, at: sessions.length });
    // fmnist-32 once per optimisation level ('all', tweedie's setting, is the model row); other models at 'all'.
    for (const level of name === 'fmnist-32' ? LEVELS : (['all'] as const)) {
      sessions.push(await ort.InferenceSession.create(file, oneThread(level)));
      feeds.push(feed);
    }
  }
  log(`  one-thread calls at batch ${BATCH} and the two ceiling probes, ${REPS} interleaved rounds`);
  const ms = await timeInterleaved(sessions, feeds);
  const ceiling = Math.max(...probeFlops.map((f, i) => f / (ms[i]! * 1e6)));
  const models = shipped.map((m) => row(m.name, m.flops, ms[m.name === 'fmnist-32' ? m.at + LEVELS.indexOf('all') : m.at]!, ceiling));
  const fmnist = shipped.find((m) => m.name === 'fmnist-32');
  const levels = fmnist ? LEVELS.map((level, i) => ({ level, cpu_ms_per_call: ms[fmnist.at + i]! })) : [];
  return { batch: BATCH, ceiling_gflops: ceiling, models, levels };
}

function row(model: string, flopsPerImage: number, ms: number, ceiling: number): ModelRow {
  const gflops = (BATCH * flopsPerImage) / (ms * 1e6);
  return { model, gflop_per_image: flopsPerImage / 1e9, cpu_ms_per_call: ms, gflops, of_ceiling: gflops / ceiling };
}
