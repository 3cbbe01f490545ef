import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor } from '../src/core/tensor.js';
import { parseOperatorSpec } from '../src/inverse/operators/spec.js';
import { readNpy } from '../src/io/npy.js';
import { psnr, ssim } from '../src/metrics/image.js';
import { OnnxDenoiser } from '../src/models/onnx.js';
import { degradedAnchor, restore } from '../src/restoration/restore.js';
import { samplerByName } from '../src/samplers/registry.js';
import type { ParamValues } from '../src/samplers/types.js';
import { packageRoot } from '../src/cli/version.js';

export const description = 'restoration models on held-out Fashion-MNIST: MRS at 5/10/20 NFE vs IR-SDE Euler-Maruyama at 100 NFE; ResShift 4 vs 15 steps; PSNR / SSIM gain over the degraded input';

/** Held-out images (env TWEEDIE_BENCH_N, default 64: all of examples/fmnist-t10k-64.npy). */
const N = Number(process.env.TWEEDIE_BENCH_N ?? 64);

interface Task {
  name: string;
  operator: string;
}
interface Run {
  label: string;
  sampler: string;
  steps: number;
  params?: Partial<ParamValues>;
}

const RUNS: Record<string, Run[]> = {
  'fmnist-irsde': [
    { label: 'irsde-em 100 (baseline)', sampler: 'irsde-em', steps: 100 },
    { label: 'irsde-em 10', sampler: 'irsde-em', steps: 10 },
    { label: 'mrs ode-2 data 5', sampler: 'mrs', steps: 5 },
    { label: 'mrs ode-2 data 10', sampler: 'mrs', steps: 10 },
    { label: 'mrs ode-2 data 20', sampler: 'mrs', steps: 20 },
    { label: 'mrs sde-2 data 10', sampler: 'mrs', steps: 10, params: { mode: 'sde', order: 2 } },
    { label: 'mrs sde-2 data 20', sampler: 'mrs', steps: 20, params: { mode: 'sde', order: 2 } },
  ],
  'fmnist-resshift': [
    { label: 'resshift 15 (baseline)', sampler: 'resshift', steps: 15 },
    { label: 'resshift 4', sampler: 'resshift', steps: 4 },
    { label: 'mrs ode-2 data 4', sampler: 'mrs', steps: 4 },
  ],
};

interface Row {
  model: string;
  task: string;
  method: string;
  nfe: number;
  psnr: number;
  ssim: number;
  seconds_per_image: number;
}

const mean = (a: Float64Array) => a.reduce((p, q) => p + q, 0) / a.length;

export async function run(opts: { json: boolean; log: (m: string) => void }): Promise<Record<string, unknown>> {
  const truth = readNpy(join(packageRoot, 'examples', 'fmnist-t10k-64.npy')).toDtype('float32');
  const x = truth.sliceBatch(0, Math.min(N, truth.batch));
  const rows: Row[] = [];
  for (const [name, runs] of Object.entries(RUNS)) {
    const dir = join(packageRoot, 'weights', name);
    if (!existsSync(join(dir, 'model.onnx'))) throw new Error(`${dir}/model.onnx is missing`);
    const model = await OnnxDenoiser.load(dir);
    const tasks = (JSON.parse(readFileSync(join(dir, 'tasks.json'), 'utf8')) as { tasks: Task[] }).tasks;
    for (const task of tasks) {
      const op = parseOperatorSpec(task.operator, [1, 32, 32]);
      const mu = degradedAnchor(op, x, 1);
      const score = (y: Tensor) => ({ psnr: mean(psnr(y, x, 2)), ssim: mean(ssim(y, x, { dataRange: 2 })) });
      rows.push({ model: name, task: task.name, method: 'degraded input', nfe: 0, ...score(mu), seconds_per_image: 0 });
      for (const r of runs) {
        opts.log(`${name} ${task.name}: ${r.label} on ${x.batch} images`);
        const out = await restore(model, mu, { sampler: samplerByName(r.sampler), steps: r.steps, ...(r.params ? { params: r.params } : {}), seed: 0 });
        rows.push({ model: name, task: task.name, method: r.label, nfe: out.nfe, ...score(out.x), seconds_per_image: out.seconds / x.batch });
      }
    }
  }
  const lines = [
    `Held-out: the first ${x.batch} Fashion-MNIST t10k images (examples/fmnist-t10k-64.npy), never seen in training; PSNR/SSIM on [-1, 1] (data range 2), mean over images; seed 0.`,
    '',
    '| model | task | method | NFE | PSNR (dB) | SSIM | s / image |',
    '|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.model} | ${r.task} | ${r.method} | ${r.nfe} | ${r.psnr.toFixed(2)} | ${r.ssim.toFixed(4)} | ${r.seconds_per_image.toFixed(4)} |`),
  ];
  const table = lines.join('\n');
  const gaps = rows
    .filter((r) => r.model === 'fmnist-irsde' && r.method === 'mrs ode-2 data 10')
    .map((r) => {
      const base = rows.find((b) => b.model === r.model && b.task === r.task && b.method.startsWith('irsde-em'))!;
      return { task: r.task, mrs10_minus_em100_db: r.psnr - base.psnr };
    });
  const summary = gaps.map((g) => `${g.task}: MRS 10 NFE - IR-SDE EM 100 NFE = ${g.mrs10_minus_em100_db >= 0 ? '+' : ''}${g.mrs10_minus_em100_db.toFixed(2)} dB`).join('; ');
  if (!opts.json) process.stdout.write(`${table}\n\n${summary}\n`);
  mkdirSync(join(packageRoot, 'docs'), { recursive: true });
  writeFileSync(join(packageRoot, 'docs', 'restoration-bench.md'), `# tweedie bench restoration\n\n${table}\n\n${summary}\n`);
  return { images: x.batch, rows, mrs10_vs_em100: gaps };
}
