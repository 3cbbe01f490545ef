import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { OnnxDenoiser } from '../src/models/onnx.js';
import { join } from 'node:path';
import { SAMPLERS } from '../src/samplers/registry.js';
import { runSampler } from '../src/samplers/run.js';
import type { SamplerDef } from '../src/samplers/types.js';
import { Tensor } from '../src/core/tensor.js';
import { TweedieError } from '../src/core/errors.js';
import { NoiseSource } from '../src/core/rng.js';
import { makeGrid } from '../src/paths/grids.js';
import { DiscreteVPPath } from '../src/paths/vp.js';
import type { Denoiser } from '../src/models/denoiser.js';
import { packageRoot } from '../src/package-root.js';
import { measureOrder, orderSetup, referenceSolution } from './lib/ode-order.js';
import { lineChartSvg, type Series } from '../src/io/svg-plot.js';

export const description = 'error vs NFE of every deterministic sampler on the d = 16 mixture (log-log plot), and each sampler\'s own time per step';

const NFES = [10, 20, 40, 80, 160];

/** Steps that give each target NFE (approximately, for samplers with several evaluations per step). */
export function stepsFor(def: SamplerDef, nfe: number): number {
  const per = typeof def.nfePerStep === 'number' ? def.nfePerStep : 1;
  return Math.max(1, Math.round(nfe / per));
}

/** A free model: it returns zeros, so a run's time is the sampler's own arithmetic and bookkeeping. */
function freeModel(path: DiscreteVPPath): Denoiser {
  return { prediction: 'eps', path, itemShape: [1, 32, 32], predict: async (x) => x.zerosLike() };
}

export async function run(opts: { json: boolean; log: (m: string) => void }): Promise<Record<string, unknown>> {
  const setup = orderSetup();
  opts.log('reference solution (RK4, 2000 steps in log-SNR) ...');
  const ref = await referenceSolution(setup);
  const deterministic = SAMPLERS.filter((s) => !s.stochastic && !s.inverse && s.nfePerStep !== 'adaptive');
  const rows: { name: string; nfe: number[]; error: number[]; slope: number; order: number }[] = [];
  for (const def of deterministic) {
    opts.log(`  ${def.name}`);
    const r = await measureOrder(def, setup, ref, NFES.map((n) => stepsFor(def, n)));
    rows.push({ name: def.name, nfe: r.nfes, error: r.errors, slope: r.slope, order: def.order });
  }
  // Sampler overhead: time per step with a free model at batch 16, 1 x 32 x 32.
  const path = new DiscreteVPPath({ numTrainTimesteps: 1000 });
  const x = new NoiseSource(0).normal([16, 1, 32, 32], 0);
  const overhead: { name: string; ms_per_step: number }[] = [];
  for (const def of SAMPLERS.filter((s) => !s.inverse && s.nfePerStep !== 'adaptive')) {
    const grid = makeGrid(path, { kind: 'time-uniform', steps: 20 });
    try {
      await runSampler(def, freeModel(path), grid, x);
    } catch (e) {
      if (e instanceof TweedieError) {
        opts.log(`  ${def.name}: not timed (${e.message.split(';')[0]})`);
        continue;
      }
      throw e;
    }
    const t0 = performance.now();
    const reps = 5;
    for (let i = 0; i < reps; i++) await runSampler(def, freeModel(path), grid, x);
    overhead.push({ name: def.name, ms_per_step: (performance.now() - t0) / reps / 20 });
  }
  // One call of the shipped fmnist-32 model at the same batch, for the overhead fraction.
  let modelMs: number | null = null;
  const fmnist = join(packageRoot, 'weights', 'fmnist-32');
  if (existsSync(join(fmnist, 'model.onnx'))) {
    const onnx = await OnnxDenoiser.load(fmnist);
    await onnx.predict(x, 500);
    const ts: number[] = [];
    for (let i = 0; i < 7; i++) {
      const t0 = performance.now();
      await onnx.predict(x, 500);
      ts.push(performance.now() - t0);
    }
    modelMs = ts.sort((a, b) => a - b)[3]!;
  }
  const series: Series[] = rows.map((r) => ({ name: r.name, x: r.nfe, y: r.error }));
  const svg = lineChartSvg(series, { title: 'Sampler error vs NFE (mixture, d = 16, continuous VP)', xLabel: 'NFE', yLabel: 'RMS error vs reference ODE solution' });
  const outDir = join(packageRoot, 'docs');
  mkdirSync(outDir, { recursive: true });
  const plotFile = join(outDir, 'samplers-error.svg');
  writeFileSync(plotFile, svg);
  if (!opts.json) {
    const w = Math.max(...rows.map((r) => r.name.length), 8);
    const lines = [`${'sampler'.padEnd(w)}  order  slope   ${NFES.map((n) => `NFE~${n}`.padStart(10)).join('')}`];
    for (const r of rows) lines.push(`${r.name.padEnd(w)}  ${String(r.order).padEnd(5)}  ${r.slope.toFixed(2).padStart(5)}   ${r.error.map((e) => e.toExponential(2).padStart(10)).join('')}`);
    lines.push('', `sampler time per step, batch 16 x 1 x 32 x 32, free model${modelMs ? `; one fmnist-32 call takes ${modelMs.toFixed(1)} ms` : ''}:`);
    for (const o of overhead) lines.push(`  ${o.name.padEnd(w)} ${o.ms_per_step.toFixed(3)} ms${modelMs ? `  (${((100 * o.ms_per_step) / modelMs).toFixed(2)}% of a model call)` : ''}`);
    lines.push('', `plot: ${plotFile}`);
    process.stdout.write(lines.join('\n') + '\n');
  }
  return { convergence: rows, overhead_ms_per_step: overhead, model_call_ms: modelMs, plot: plotFile, tensor_dtype: (x as Tensor).dtype };
}
