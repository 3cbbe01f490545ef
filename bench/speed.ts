import { fail } from '../src/core/errors.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { OnnxDenoiser, sessionOptions, type OrtModule } from '../src/models/onnx.js';
import type { OrtTensor } from '../src/models/ort-denoiser.js';
import { generate } from '../src/recipes/generate.js';
import { samplerByName } from '../src/samplers/registry.js';
import { startNoise } from '../src/samplers/start.js';
import { packageRoot } from '../src/package-root.js';
import { hardwareRows } from './lib/hardware.js';

export const description = 'images/s of 20-step sampling with the shipped fmnist-32 ONNX model vs a bare loop of 20 session calls; peak RSS at batch 64; model calls/s with 1 and 2 threads, spinning or not, quiet and beside one busy process; achieved GFLOP/s of the shipped networks against the one-core matrix-product ceiling, and ONNX Runtime\'s graph optimisation levels';

const STEPS = 20, BATCH = 16, REPS = 5;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export async function run(opts: { json: boolean; log: (m: string) => void }): Promise<Record<string, unknown>> {
  const dir = join(packageRoot, 'weights', 'fmnist-32');
  if (!existsSync(join(dir, 'model.onnx'))) fail('UNREADABLE_FILE', `${dir}/model.onnx is missing; the speed benchmark needs the shipped fmnist-32 model`);
  const model = await OnnxDenoiser.load(dir);
  const sampler = samplerByName(process.env.TWEEDIE_BENCH_SAMPLER ?? 'dpm-solver++');
  // The starting noise is drawn once, outside the timed loops: the ratio compares the sampling loop with the bare model calls.
  const noise = (n: number, seed: number) => startNoise(seed, 0, 0, n, model.itemShape);
  const start16 = noise(BATCH, 0), start64 = noise(64, 1);
  const run = (x: typeof start16) => generate({ model, sampler, steps: STEPS, grid: 'time-uniform', noise: x, batch: x.batch });
  const ort = (await import('onnxruntime-node')).default;
  const session = await ort.InferenceSession.create(join(dir, 'model.onnx'), { ...sessionOptions({}), executionProviders: ['cpu'] });
  const feeds = {
    [model.spec.sampleInput]: new ort.Tensor('float32', start16.data as Float32Array, [BATCH, ...model.itemShape]),
    [model.spec.timestepInput]: new ort.Tensor('float32', new Float32Array(BATCH).fill(500), [BATCH]),
  };
  opts.log(`warming up (${sampler.name}, ${STEPS} steps, batch ${BATCH}) ...`);
  await run(start16);
  for (let i = 0; i < 3; i++) await session.run(feeds);
  const tSampler: number[] = [], tBare: number[] = [];
  let nfe = 0;
  // Interleave the two measurements so machine noise hits both alike.
  for (let r = 0; r < REPS; r++) {
    opts.log(`  round ${r + 1}/${REPS}`);
    let t0 = performance.now();
    nfe = (await run(start16)).nfe;
    tSampler.push((performance.now() - t0) / 1000);
    t0 = performance.now();
    for (let i = 0; i < nfe; i++) await session.run(feeds);
    tBare.push((performance.now() - t0) / 1000);
  }
  const samplerIps = BATCH / median(tSampler), bareIps = BATCH / median(tBare);
  opts.log('batch 64 run for peak memory ...');
  await run(start64);
  const peakRssMiB = process.resourceUsage().maxRSS / 1024;
  const threads = await threadRows(ort, join(dir, 'model.onnx'), feeds, opts.log);
  opts.log('hardware: FLOPs, ceiling, optimisation levels ...');
  const hardware = await hardwareRows(ort, opts.log);
  const result = {
    sampler: sampler.name, steps: STEPS, nfe, batch: BATCH,
    images_per_s: samplerIps, bare_images_per_s: bareIps, ratio: samplerIps / bareIps,
    peak_rss_mib_batch64: peakRssMiB, backend: model.backend, threads, hardware,
  };
  if (!opts.json) {
    process.stdout.write(
      [
        `fmnist-32, ${sampler.name}, ${STEPS} steps (${nfe} NFE), batch ${BATCH}, ${REPS} interleaved rounds (median):`,
        `  sampling loop       ${samplerIps.toFixed(1)} images/s`,
        `  bare ONNX loop      ${bareIps.toFixed(1)} images/s  (${nfe} session.run calls)`,
        `  ratio               ${(samplerIps / bareIps).toFixed(3)}  (target >= 0.97)`,
        `  peak RSS, batch 64  ${peakRssMiB.toFixed(0)} MiB`,
        '',
        `One model call (batch ${BATCH}), ms, median of ${THREAD_REPS} interleaved rounds of ${THREAD_CALLS} calls; load average at the start ${threads.load_average_at_start.toFixed(2)}:`,
        '  threads  spinning   quiet   beside one busy process',
        ...threads.rows.map((r) => `  ${String(r.threads).padStart(7)}  ${(r.spin ? 'on' : 'off').padEnd(8)} ${r.quiet.toFixed(1).padStart(7)}   ${r.busy.toFixed(1).padStart(7)}`),
        `  speed-up of 2 threads over 1 (spinning off): quiet ${threads.ratio_quiet.toFixed(2)} (target >= 1.4), beside a busy process ${threads.ratio_busy.toFixed(2)} (target >= 1)`,
        '',
        `Against the hardware, one thread, batch ${hardware.batch}, GFLOP per CPU second; ceiling: the better of a 1024^3 float32 matrix product and a 3x3 convolution (128 channels, 32 x 32) through ONNX Runtime, ${hardware.ceiling_gflops.toFixed(1)} GFLOP/s:`,
        '  model       GFLOP/image   CPU ms/call   GFLOP/s   of ceiling',
        ...hardware.models.map((m) => `  ${m.model.padEnd(10)}  ${m.gflop_per_image.toFixed(4).padStart(11)}   ${m.cpu_ms_per_call.toFixed(1).padStart(11)}   ${m.gflops.toFixed(1).padStart(7)}   ${m.of_ceiling.toFixed(2).padStart(10)}${m.model === 'fmnist-32' ? '  (target >= 0.7)' : ''}`),
        '  fmnist-32 by graph optimisation level (CPU ms per call): ' + hardware.levels.map((l) => `${l.level} ${l.cpu_ms_per_call.toFixed(1)}`).join(', '),
      ].join('\n') + '\n',
    );
  }
  return result;
}

const THREAD_REPS = 3, THREAD_CALLS = 10;

/** quiet, busy: ms per model call. */
interface ThreadRow { threads: number; spin: boolean; quiet: number; busy: number }

/**
 * Bare fmnist-32 calls with 1 and 2 intra-op threads, spinning off (tweedie's default) and on, first on
 * the quiet machine, then beside one busy process (a node child in an endless loop: the "one other
 * process" of a shared machine). Rounds are interleaved so drifting machine load hits every row alike.
 */
async function threadRows(ort: OrtModule, file: string, feeds: Record<string, OrtTensor>, log: (m: string) => void) {
  const configs = [1, 2].flatMap((threads) => [false, true].map((spin) => ({ threads, spin })));
  const sessions = await Promise.all(configs.map((c) => ort.InferenceSession.create(file, { ...sessionOptions(c), executionProviders: ['cpu'] })));
  const loadAtStart = loadavg()[0]!;
  const measure = async (label: string) => {
    const times: number[][] = configs.map(() => []);
    for (let r = 0; r < THREAD_REPS; r++) {
      log(`  threads, ${label}: round ${r + 1}/${THREAD_REPS}`);
      for (const [i, s] of sessions.entries()) {
        await s.run(feeds);
        const t0 = performance.now();
        for (let k = 0; k < THREAD_CALLS; k++) await s.run(feeds);
        times[i]!.push((performance.now() - t0) / 1000);
      }
    }
    return times.map((t) => (1000 * median(t)) / THREAD_CALLS);
  };
  const quiet = await measure('quiet');
  const busyChild = spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
  let busy: number[];
  try {
    await new Promise((r) => setTimeout(r, 500));
    busy = await measure('beside a busy process');
  } finally {
    busyChild.kill('SIGKILL');
  }
  const rows: ThreadRow[] = configs.map((c, i) => ({ ...c, quiet: quiet[i]!, busy: busy[i]! }));
  const at = (threads: number) => rows.find((r) => r.threads === threads && !r.spin)!;
  // speed-ups: time with 1 thread / time with 2
  return { rows, load_average_at_start: loadAtStart, ratio_quiet: at(1).quiet / at(2).quiet, ratio_busy: at(1).busy / at(2).busy };
}
