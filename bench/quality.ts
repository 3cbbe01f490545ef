import { join } from 'node:path';
import { fail } from '../src/core/errors.js';
import { attachFolderNoiseLevels } from '../src/models/noise-level-file.js';
import { OnnxDenoiser } from '../src/models/onnx.js';
import { packageRoot } from '../src/package-root.js';
import type { GridKind } from '../src/paths/grids.js';
import { generate } from '../src/recipes/generate.js';
import { dmcmc, finisherSteps } from '../src/samplers/dmcmc.js';
import { resolveParams, type ParamValues } from '../src/samplers/method.js';
import { samplerByName } from '../src/samplers/registry.js';
import { checkedParams } from '../src/cli/params.js';
import { fmnistYardstick, REFERENCE, type QualityFigures } from './lib/fmnist-yardstick.js';
import { stepsFor } from './samplers.js';

/**
 * Samples per row (env TWEEDIE_BENCH_N, default 1000), models (TWEEDIE_BENCH_MODELS, default "fmnist-32": a name
 * under weights/ or a model folder path), samplers (TWEEDIE_BENCH_SAMPLERS, default "ddim,dpm-solver++"), NFEs
 * (TWEEDIE_BENCH_NFES, default "10,20,50"), ONNX Runtime threads (TWEEDIE_BENCH_THREADS, default 1) and the grid
 * (TWEEDIE_BENCH_GRID, a --grid kind; default the sampling default, time-power on VP paths), the samplers' options
 * (TWEEDIE_BENCH_PARAMS, below) and the samples' seed (TWEEDIE_BENCH_SEED, default 0: another seed is an independent
 * draw of the same N, for a second reading of a figure near its target). The
 * defaults (6 rows of 1000) took 18 minutes on one thread of a busy 2-core machine; the figure is N = 10,000
 * at 20 NFE (TWEEDIE_BENCH_N=10000 TWEEDIE_BENCH_NFES=20: 17 minutes a sampler there).
 */
const N = Number(process.env.TWEEDIE_BENCH_N ?? 1000);
const MODELS = (process.env.TWEEDIE_BENCH_MODELS ?? 'fmnist-32').split(',');
const SAMPLERS = (process.env.TWEEDIE_BENCH_SAMPLERS ?? 'ddim,dpm-solver++').split(',');
const NFES = (process.env.TWEEDIE_BENCH_NFES ?? '10,20,50').split(',').map(Number);
const THREADS = Number(process.env.TWEEDIE_BENCH_THREADS ?? 1);
const GRID = process.env.TWEEDIE_BENCH_GRID as GridKind | undefined;
const SEED = Number(process.env.TWEEDIE_BENCH_SEED ?? 0);
/**
 * The samplers' options (TWEEDIE_BENCH_PARAMS, like --param, comma-separated; default each sampler's), checked against
 * every sampler listed. Denoising MCMC's chain evaluations per sample count in its NFE, the finisher gets the whole
 * steps left.
 */
const PARAMS = process.env.TWEEDIE_BENCH_PARAMS ? process.env.TWEEDIE_BENCH_PARAMS.split(',') : [];
const dmcmcChain = (params: Partial<ParamValues>) => {
  const p = resolveParams(dmcmc, params);
  return p.mcmc_steps + p.init_steps / p.chain_samples;
};
/** Samples per model call. */
const BATCH = 250;

export const description = `sample quality of fmnist models in weights/fmnist-classifier's feature space against the 10,000 Fashion-MNIST test images: Frechet distance, precision/recall (k = 3), unplaceable share (max softmax < 0.5), per model, sampler and NFE (env TWEEDIE_BENCH_N samples per row, default 1000; FD is biased by N: compare rows at equal N), and the floor: N training images against the test images`;

interface Row extends QualityFigures {
  model: string;
  sampler: string;
  nfe: number;
  seconds: number;
}

export async function run(opts: { json: boolean; log: (m: string) => void }): Promise<Record<string, unknown>> {
  // Refuse bad settings before the minutes of classifying the reference set.
  if (!Number.isSafeInteger(N) || N < 4 || N > 60000) fail('USAGE', `TWEEDIE_BENCH_N must be an integer from 4 (precision/recall need k + 1 samples) to 60000 (the training images of the floor), got ${process.env.TWEEDIE_BENCH_N}`);
  if (!Number.isSafeInteger(SEED) || SEED < 0) fail('USAGE', `TWEEDIE_BENCH_SEED must be an integer >= 0, got ${process.env.TWEEDIE_BENCH_SEED}`);
  if (!NFES.every((n) => Number.isSafeInteger(n) && n >= 1)) fail('USAGE', `TWEEDIE_BENCH_NFES must list integers >= 1, got "${process.env.TWEEDIE_BENCH_NFES}"`);
  const params = new Map(SAMPLERS.map((name) => [name, checkedParams(samplerByName(name), PARAMS, 'TWEEDIE_BENCH_PARAMS')]));
  const dmcmcParams = params.get(dmcmc.name);
  const chain = dmcmcParams ? dmcmcChain(dmcmcParams) : 0;
  if (dmcmcParams) NFES.forEach((nfe) => finisherSteps(nfe, chain));
  const yardstick = await fmnistYardstick(THREADS, opts.log);
  const floor: Row[] = (await yardstick.floor(N)).map((f) => ({ model: 'training images (floor)', sampler: '-', nfe: 0, seconds: 0, ...f }));

  const rows: Row[] = [];
  for (const name of MODELS) {
    const dir = name.includes('/') ? name : join(packageRoot, 'weights', name);
    const model = attachFolderNoiseLevels(await OnnxDenoiser.load(dir, { threads: THREADS }), dir, { threads: THREADS });
    for (const samplerName of SAMPLERS) for (const nfe of NFES) {
      const sampler = samplerByName(samplerName);
      opts.log(`  ${name}, ${samplerName}, ${nfe} NFE: ${N} samples`);
      const steps = sampler === dmcmc ? finisherSteps(nfe, chain) : stepsFor(sampler, nfe);
      const r = await generate({ model, sampler, steps, params: params.get(samplerName), n: N, seed: SEED, batch: BATCH, ...(GRID ? { grid: GRID } : {}) });
      // r.nfe counts the evaluations of every batch; a sample's are one batch's.
      const { logits: _, ...figures } = await yardstick.measure(r.x);
      const row: Row = { model: name, sampler: samplerName, nfe: r.nfe / Math.ceil(N / BATCH), seconds: r.seconds, ...figures };
      opts.log(`    FD ${row.fd.toFixed(2)}, precision ${row.precision.toFixed(3)}, recall ${row.recall.toFixed(3)}, unplaceable ${(100 * row.unplaceable).toFixed(1)}%, ${row.seconds.toFixed(0)} s`);
      rows.push(row);
    }
    await model.release();
  }
  await yardstick.release();
  if (!opts.json) {
    const fmt = (r: Row) => `| ${r.model} | ${r.sampler} | ${r.nfe || '-'} | ${r.n} | ${r.fd.toFixed(2)} | ${r.precision.toFixed(3)} | ${r.recall.toFixed(3)} | ${(100 * r.unplaceable).toFixed(1)}% | ${r.seconds ? r.seconds.toFixed(0) : '-'} |`;
    process.stdout.write(['| model | sampler | NFE | samples | FD | precision | recall | unplaceable | seconds |', '|---|---|---|---|---|---|---|---|---|',
      ...rows.map(fmt), ...floor.map(fmt)].join('\n') + '\n');
  }
  return { reference: `Fashion-MNIST test images (${REFERENCE})`, classifier: 'weights/fmnist-classifier', k: 3, threads: THREADS, grid: GRID ?? 'default', params: PARAMS, seed: SEED, rows, floor };
}
