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

/**
 * A free model: it returns one zero tensor, made once, so a run's time is the sampler's own arithmetic and
 * bookkeeping (ModelFn.estimate only reads a model's output: it writes x0 and eps into its own tensors).
 */
function freeModel(path: DiscreteVPPath, like: Tensor): Denoiser {
  const zeros = like.zerosLike();
  return { prediction: 'eps', path, itemShape: [1, 32, 32], predict: async () => zeros };
}

/** Runs before timing: V8 optimises a sampler's code (and the shared estimate and update code) only after some runs. */
const WARMUP_RUNS = 8;
const TIMED_RUNS = 7;
const OVERHEAD_STEPS = 20;


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
  // One call of the shipped fmnist-32 model at batch 16, 1 x 32 x 32, then each sampler's own time at that batch in the
  // same process: the share is the sampler's time per step over the time of the step's model calls.
  const path = new DiscreteVPPath({ numTrainTimesteps: 1000 });
  const x = new NoiseSource(0).normal([16, 1, 32, 32], 0);
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
    modelMs = Math.min(...ts);
  }
  const overhead: { name: string; ms_per_step: number; nfe_per_step: number; share_of_model_calls: number | null }[] = [];
  const grid = makeGrid(path, { kind: 'time-uniform', steps: OVERHEAD_STEPS });
  for (const def of SAMPLERS.filter((s) => !s.inverse && s.nfePerStep !== 'adaptive')) {
    const model = freeModel(path, x);
    let nfe = 0;
    try {
      for (let i = 0; i < WARMUP_RUNS; i++) nfe = (await runSampler(def, model, grid, x)).nfe;
    } catch (e) {
      if (e instanceof TweedieError) {
        opts.log(`  ${def.name}: not timed (${e.message.split(';')[0]})`);
        continue;
      }
      throw e;
    }
    const ts: number[] = [];
    for (let i = 0; i < TIMED_RUNS; i++) {
      const t0 = performance.now();
      await runSampler(def, model, grid, x);
      ts.push(performance.now() - t0);
    }
    const msPerStep = Math.min(...ts) / OVERHEAD_STEPS, nfePerStep = nfe / OVERHEAD_STEPS;
    overhead.push({ name: def.name, ms_per_step: msPerStep, nfe_per_step: nfePerStep, share_of_model_calls: modelMs ? msPerStep / (nfePerStep * modelMs) : null });
  }
  const series: Series[] = rows.map((r) => ({ name: r.name, x: r.nfe, y: r.error }));
  const svg = lineChartSvg(series, { title: 'Sampler error vs NFE (mixture, d = 16, continuous VP)', xLabel: 'NFE', yLabel: 'RMS error vs reference ODE solution' });
  const outDir = join(packageRoot, 'docs');
  mkdirSync(outDir, { recursive: true });
  const plotFile = join(outDir, 'samplers-error.svg');
  writeFileSync(plotFile, svg);
  if (!opts.json) {
    const w = Math.max(...rows.map((r) => r.name.length), ...overhead.map((o) => o.name.length), 8);
    const lines = [`${'sampler'.padEnd(w)}  order  slope   ${NFES.map((n) => `NFE~${n}`.padStart(10)).join('')}`];
    for (const r of rows) lines.push(`${r.name.padEnd(w)}  ${String(r.order).padEnd(5)}  ${r.slope.toFixed(2).padStart(5)}   ${r.error.map((e) => e.toExponential(2).padStart(10)).join('')}`);
    lines.push('', `sampler's own time per step, batch 16 x 1 x 32 x 32, free model (fastest of ${TIMED_RUNS} runs of ${OVERHEAD_STEPS} steps after ${WARMUP_RUNS} warm-up runs: on a shared machine other work only adds time)`);
    lines.push(modelMs ? `one fmnist-32 call at that batch, same run (fastest of 7): ${modelMs.toFixed(1)} ms; share = own time per step / (model calls per step x ${modelMs.toFixed(1)} ms)` : 'no weights/fmnist-32: shares not computed');
    lines.push(`  ${'sampler'.padEnd(w)} ${'ms/step'.padStart(8)}  calls/step  share of the model calls`);
    for (const o of overhead) {
      const share = o.share_of_model_calls === null ? '-' : `${(100 * o.share_of_model_calls).toFixed(2)}%`;
      lines.push(`  ${o.name.padEnd(w)} ${o.ms_per_step.toFixed(3).padStart(8)}  ${o.nfe_per_step.toFixed(2).padStart(10)}  ${share.padStart(8)}`);
    }
    lines.push('', `plot: ${plotFile}`);
    process.stdout.write(lines.join('\n') + '\n');
  }
  return { convergence: rows, overhead_ms_per_step: overhead, model_call_ms: modelMs, plot: plotFile, tensor_dtype: (x as Tensor).dtype };
}
