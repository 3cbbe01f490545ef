import { fail } from '../src/core/errors.js';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TweedieError } from '../src/core/errors.js';
import { NoiseSource, Stream } from '../src/core/rng.js';
import { Tensor } from '../src/core/tensor.js';
import { readNpy } from '../src/io/npy.js';
import { psnr, ssim } from '../src/metrics/image.js';
import { OnnxDenoiser } from '../src/models/onnx.js';
import { parseOperatorSpec } from '../src/inverse/operators/spec-file.js';
import { runSolver } from '../src/inverse/solvers/run.js';
import { SOLVERS } from '../src/inverse/solvers/registry.js';
import { makeGrid } from '../src/paths/grids.js';
import { initialState } from '../src/samplers/run.js';
import { packageRoot } from '../src/package-root.js';
import { fmnistTest } from './lib/fmnist.js';

export const description = 'posterior solvers vs baselines: held-out brain slab (MRI 4x/8x, CT 30/60 views) and Fashion-MNIST test images (box inpainting, 4x SR): PSNR / SSIM / seconds per image';

const STEPS = Number(process.env.TWEEDIE_BENCH_STEPS ?? 50);
/** Every 4th held-out slice keeps the run to minutes on 2 cores. */
const SLICE_STRIDE = Number(process.env.TWEEDIE_BENCH_STRIDE ?? 4);

const BRAIN_PROBLEMS = [
  { label: 'MRI 4x', spec: 'mri:accel=4,mask=equispaced,acs=0.08,noise=0.01', baseline: 'zero-filled' },
  { label: 'MRI 8x', spec: 'mri:accel=8,mask=equispaced,acs=0.04,noise=0.01', baseline: 'zero-filled' },
  { label: 'CT 30 views', spec: 'ct:views=30,noise=0.1', baseline: 'fbp' },
  { label: 'CT 60 views', spec: 'ct:views=60,noise=0.1', baseline: 'fbp' },
];
const FMNIST_PROBLEMS = [
  { label: 'fmnist box inpainting 12x12', spec: 'inpaint:box=12,noise=0.01', baseline: 'pinv' },
  { label: 'fmnist 4x super-resolution', spec: 'sr:factor=4,noise=0.01', baseline: 'pinv' },
];

export async function run(opts: { json: boolean; log: (m: string) => void }): Promise<Record<string, unknown>> {
  const dir = process.env.TWEEDIE_BENCH_MODEL ?? join(packageRoot, 'weights', 'brain-64');
  if (!existsSync(join(dir, 'model.onnx'))) fail('UNREADABLE_FILE', `${dir}/model.onnx is missing`);
  const model = await OnnxDenoiser.load(dir);
  const slab = readNpy(join(dir, 'heldout.npy')).toDtype('float32');
  const idx = Array.from({ length: Math.ceil(slab.batch / SLICE_STRIDE) }, (_, i) => i * SLICE_STRIDE);
  const n = idx.length, item = slab.itemSize;
  const truth = new Tensor([n, ...model.itemShape], new Float32Array(n * item));
  idx.forEach((k, i) => truth.data.set(slab.data.subarray(k * item, (k + 1) * item), i * item));
  const rows: { problem: string; solver: string; psnr: number | null; ssim: number | null; seconds_per_slice: number | null; nfe: number; note?: string }[] = [];
  const fmnistDir = join(packageRoot, 'weights', 'fmnist-32');
  const sets = [
    { model, truth, problems: BRAIN_PROBLEMS },
    { model: await OnnxDenoiser.load(fmnistDir), truth: fmnistTest(n), problems: FMNIST_PROBLEMS },
  ];
  for (const { model, truth, problems } of sets)
  for (const prob of problems) {
    const range = model.spec.valueRange, dr = range[1] - range[0];
    const op = parseOperatorSpec(prob.spec, model.itemShape);
    const y = op.measure(truth, new NoiseSource(0));
    const grid = makeGrid(model.path, { kind: 'time-uniform', steps: STEPS });
    const names = [prob.baseline, 'tv', ...SOLVERS.filter((s) => !s.needs.noPrior && !s.needs.particles).map((s) => s.name)];
    for (const name of names) {
      const def = SOLVERS.find((s) => s.name === name)!;
      opts.log(`  ${prob.label}: ${name}`);
      const xT = def.needs.noPrior ? Tensor.zeros(truth.shape) : initialState(new NoiseSource(1).normal(truth.shape, 0, Stream.init), grid[0]!);
      try {
        const r = await runSolver(def, def.needs.noPrior ? null : model, grid, op, y, xT, { noise: new NoiseSource(2) });
        const x = r.x.toDtype('float32');
        const mean = (a: Float64Array) => a.reduce((p, q) => p + q, 0) / a.length;
        rows.push({ problem: prob.label, solver: name, psnr: mean(psnr(x, truth, dr)), ssim: mean(ssim(x, truth, { dataRange: dr })), seconds_per_slice: r.seconds / n, nfe: r.nfe });
      } catch (e) {
        if (!(e instanceof TweedieError)) throw e;
        rows.push({ problem: prob.label, solver: name, psnr: null, ssim: null, seconds_per_slice: null, nfe: 0, note: e.message.split(';')[0]! });
      }
    }
  }
  const md = [
    `| problem | solver | PSNR (dB) | SSIM | s / image | NFE |`,
    `|---|---|---|---|---|---|`,
    ...rows.map((r) => (r.psnr === null ? `| ${r.problem} | ${r.solver} | - | - | - | ${r.note} |` : `| ${r.problem} | ${r.solver} | ${r.psnr.toFixed(2)} | ${r.ssim!.toFixed(4)} | ${r.seconds_per_slice!.toFixed(2)} | ${r.nfe} |`)),
  ].join('\n');
  mkdirSync(join(packageRoot, 'docs'), { recursive: true });
  writeFileSync(join(packageRoot, 'docs', 'inverse-bench.md'), `# Inverse problems on the held-out brain slab\n\nbrain-64 prior on held-out slices ${idx.join(', ')} of weights/brain-64/heldout.npy (MRI, CT); fmnist-32 prior on the first ${n} Fashion-MNIST test images (inpainting, super-resolution); ${STEPS} steps, one run, default solver options; produced by \`npx tweedie bench inverse\`.\n\n${md}\n`);
  if (!opts.json) process.stdout.write(md + '\n');
  return { steps: STEPS, slices: idx, rows };
}
