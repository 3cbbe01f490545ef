import { fail } from '../src/core/errors.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { OnnxDenoiser } from '../src/models/onnx.js';
import { generate } from '../src/recipes/generate.js';
import { samplerByName } from '../src/samplers/registry.js';
import { startNoise } from '../src/samplers/start.js';
import { packageRoot } from '../src/package-root.js';

export const description = 'images/s of 20-step sampling with the shipped fmnist-32 ONNX model vs a bare loop of 20 session calls; peak RSS at batch 64';

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
  const session = await ort.InferenceSession.create(join(dir, 'model.onnx'), { graphOptimizationLevel: 'all', executionProviders: ['cpu'] });
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
  const result = {
    sampler: sampler.name, steps: STEPS, nfe, batch: BATCH,
    images_per_s: samplerIps, bare_images_per_s: bareIps, ratio: samplerIps / bareIps,
    peak_rss_mib_batch64: peakRssMiB, backend: model.backend,
  };
  if (!opts.json) {
    process.stdout.write(
      [
        `fmnist-32, ${sampler.name}, ${STEPS} steps (${nfe} NFE), batch ${BATCH}, ${REPS} interleaved rounds (median):`,
        `  sampling loop       ${samplerIps.toFixed(1)} images/s`,
        `  bare ONNX loop      ${bareIps.toFixed(1)} images/s  (${nfe} session.run calls)`,
        `  ratio               ${(samplerIps / bareIps).toFixed(3)}  (target >= 0.97)`,
        `  peak RSS, batch 64  ${peakRssMiB.toFixed(0)} MiB`,
      ].join('\n') + '\n',
    );
  }
  return result;
}
