import { fail } from '../src/core/errors.js';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor } from '../src/core/tensor.js';
import { parseOperatorSpec } from '../src/inverse/operators/spec-file.js';
import { readNpy } from '../src/io/npy.js';
import { psnr, ssim } from '../src/metrics/image.js';
import { OnnxDenoiser } from '../src/models/onnx.js';
import { degradedAnchor } from '../src/restoration/anchor.js';
import { restore } from '../src/recipes/restore.js';
import { readRestorationTasks } from '../src/restoration/tasks-file.js';
import { boundaryRows, boundaryTable } from './lib/restoration-boundary.js';
import type { ParamValues } from '../src/samplers/types.js';
import { packageRoot } from '../src/package-root.js';

export const description = 'restoration models on held-out Fashion-MNIST and brain slices: MRS at 5/10/20 NFE vs IR-SDE Euler-Maruyama at 100 NFE; ResShift 4 vs 15 steps; RDDM 10 vs 5 steps; convergence rows (EM 400, MRS 50) on fmnist-irsde; optimal vs random boundary at the same NFE for every shipped boundary; PSNR / SSIM gain over the degraded input';

/** Held-out Fashion-MNIST images (env TWEEDIE_BENCH_N, default 64: all of examples/fmnist-t10k-64.npy); the brain slab has 16. */
const N = Number(process.env.TWEEDIE_BENCH_N ?? 64);
/** TWEEDIE_BENCH_PART: 'samplers' (the sampler rows), 'boundary' (optimal vs random boundary) or both (default). */
const PART = process.env.TWEEDIE_BENCH_PART ?? 'all';
if (!['all', 'samplers', 'boundary'].includes(PART)) fail('USAGE', `TWEEDIE_BENCH_PART=${PART}: use samplers, boundary or leave it unset for both`);
interface Run {
  label: string;
  sampler: string;
  steps: number;
  params?: Partial<ParamValues>;
}

const IRSDE_RUNS: Run[] = [
  { label: 'irsde-em 100 (baseline)', sampler: 'irsde-em', steps: 100 },
  { label: 'irsde-em 10', sampler: 'irsde-em', steps: 10 },
  { label: 'mrs ode-2 data 5', sampler: 'mrs', steps: 5 },
  { label: 'mrs ode-2 data 10', sampler: 'mrs', steps: 10 },
  { label: 'mrs ode-2 data 20', sampler: 'mrs', steps: 20 },
  { label: 'mrs ode-3 data 10', sampler: 'mrs', steps: 10, params: { order: 3 } },
  { label: 'mrs sde-2 data 10', sampler: 'mrs', steps: 10, params: { mode: 'sde', order: 2 } },
  { label: 'mrs sde-2 data 20', sampler: 'mrs', steps: 20, params: { mode: 'sde', order: 2 } },
];
/** Where each sampler converges on one model: is a 10-NFE gap discretization error or sampling noise of the baseline? */
const CONVERGENCE_RUNS: Run[] = [
  { label: 'irsde-em 400', sampler: 'irsde-em', steps: 400 },
  { label: 'mrs ode-2 data 50', sampler: 'mrs', steps: 50 },
];
const RESSHIFT_RUNS: Run[] = [
  { label: 'resshift 15 (baseline)', sampler: 'resshift', steps: 15 },
  { label: 'resshift 4', sampler: 'resshift', steps: 4 },
  { label: 'mrs ode-2 data 4', sampler: 'mrs', steps: 4 },
];
const RDDM_RUNS: Run[] = [
  { label: 'rddm 10 (baseline, eta 0)', sampler: 'rddm', steps: 10 },
  { label: 'rddm 5', sampler: 'rddm', steps: 5 },
  { label: 'rddm 10 eta 1', sampler: 'rddm', steps: 10, params: { eta: 1 } },
  { label: 'mrs ode-2 data 10', sampler: 'mrs', steps: 10 },
];

const RUNS: Record<string, Run[]> = {
  'fmnist-irsde': [...IRSDE_RUNS, ...CONVERGENCE_RUNS],
  'fmnist-resshift': RESSHIFT_RUNS,
  'fmnist-rddm': RDDM_RUNS,
  'brain-irsde': IRSDE_RUNS,
  'brain-resshift': RESSHIFT_RUNS,
  'brain-rddm': RDDM_RUNS,
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
  const samplers = PART === 'boundary' ? {} : await samplerRows(opts);
  if (PART === 'samplers') return samplers;
  const { rows, sets } = await boundaryRows(Object.keys(RUNS), opts.log);
  const table = boundaryTable(rows, sets);
  if (!opts.json) process.stdout.write(`${table}\n`);
  mkdirSync(join(packageRoot, 'docs'), { recursive: true });
  writeFileSync(join(packageRoot, 'docs', 'restoration-boundary.md'), `# tweedie bench restoration: optimal vs random boundary\n\n${table}\n`);
  return { ...samplers, boundary: rows };
}

async function samplerRows(opts: { json: boolean; log: (m: string) => void }): Promise<Record<string, unknown>> {
  const rows: Row[] = [];
  const heldouts = new Map<string, number>();
  for (const [name, runs] of Object.entries(RUNS)) {
    const dir = join(packageRoot, 'weights', name);
    if (!existsSync(join(dir, 'model.onnx'))) fail('UNREADABLE_FILE', `${dir}/model.onnx is missing`);
    const model = await OnnxDenoiser.load(dir);
    const spec = readRestorationTasks(dir);
    const truth = readNpy(join(packageRoot, spec.heldout)).toDtype('float32');
    const x = truth.sliceBatch(0, Math.min(N, truth.batch));
    heldouts.set(spec.heldout, x.batch);
    for (const task of spec.tasks) {
      const op = parseOperatorSpec(task.operator, x.shape.slice(1));
      const mu = degradedAnchor(op, x, 1);
      const score = (y: Tensor) => ({ psnr: mean(psnr(y, x, 2)), ssim: mean(ssim(y, x, { dataRange: 2 })) });
      rows.push({ model: name, task: task.name, method: 'degraded input', nfe: 0, ...score(mu), seconds_per_image: 0 });
      for (const r of runs) {
        opts.log(`${name} ${task.name}: ${r.label} on ${x.batch} images`);
        const out = await restore({ model, degraded: mu, sampler: r.sampler, steps: r.steps, ...(r.params ? { params: r.params } : {}), seed: 0 });
        rows.push({ model: name, task: task.name, method: r.label, nfe: out.nfe, ...score(out.x), seconds_per_image: out.seconds / x.batch });
      }
    }
  }
  const lines = [
    `Held-out, never seen in training: ${[...heldouts].map(([f, n]) => `${n} images of ${f}`).join(', ')} (the first Fashion-MNIST t10k images; the brain-64 held-out slab). PSNR/SSIM on [-1, 1] (data range 2), mean over images; seed 0.`,
    '',
    '| model | task | method | NFE | PSNR (dB) | SSIM | s / image |',
    '|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.model} | ${r.task} | ${r.method} | ${r.nfe} | ${r.psnr.toFixed(2)} | ${r.ssim.toFixed(4)} | ${r.seconds_per_image.toFixed(4)} |`),
  ];
  const table = lines.join('\n');
  const gaps = rows
    .filter((r) => r.model.endsWith('-irsde') && r.nfe === 10 && r.method.startsWith('mrs ode-'))
    .map((r) => {
      const base = rows.find((b) => b.model === r.model && b.task === r.task && b.method.startsWith('irsde-em 100'))!;
      return { model: r.model, task: r.task, method: r.method, mrs10_minus_em100_db: r.psnr - base.psnr };
    });
  const signed = (v: number) => `${v >= 0 ? '+' : ''}${v.toFixed(2)}`;
  const converged = rows
    .filter((r) => r.method === 'mrs ode-2 data 50')
    .map((r) => {
      const at = (method: string) => rows.find((b) => b.model === r.model && b.task === r.task && b.method.startsWith(method))!.psnr;
      return { model: r.model, task: r.task, mrs2_10: at('mrs ode-2 data 10'), mrs2_20: at('mrs ode-2 data 20'), mrs2_50: r.psnr, em_100: at('irsde-em 100'), em_400: at('irsde-em 400') };
    });
  const summary = [
    'MRS at 10 NFE minus IR-SDE Euler-Maruyama at 100 NFE (PSNR, dB; target: within 0.3):',
    ...gaps.map((g) => `- ${g.model} ${g.task}, ${g.method}: ${signed(g.mrs10_minus_em100_db)}`),
    '',
    'Convergence (PSNR, dB): the ODE solution MRS approaches, and the Euler-Maruyama baseline at 4x its NFE:',
    ...converged.map((c) => `- ${c.model} ${c.task}: mrs ode-2 at 10 / 20 / 50 NFE ${c.mrs2_10.toFixed(2)} / ${c.mrs2_20.toFixed(2)} / ${c.mrs2_50.toFixed(2)}; irsde-em at 100 / 400 NFE ${c.em_100.toFixed(2)} / ${c.em_400.toFixed(2)}`),
  ].join('\n');
  if (!opts.json) process.stdout.write(`${table}\n\n${summary}\n\n`);
  mkdirSync(join(packageRoot, 'docs'), { recursive: true });
  writeFileSync(join(packageRoot, 'docs', 'restoration-bench.md'), `# tweedie bench restoration\n\n${table}\n\n${summary}\n`);
  return { heldout: Object.fromEntries(heldouts), rows, mrs10_vs_em100: gaps, convergence_psnr_db: converged };
}
