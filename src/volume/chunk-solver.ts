import { fail } from '../core/errors.js';
import { NoiseSource } from '../core/rng.js';
import { Tensor } from '../core/tensor.js';
import type { OrtDenoiser } from '../models/ort-denoiser.js';
import { activeSubsampling } from '../inverse/active.js';
import type { Operator } from '../inverse/operators/operator.js';
import { buildOperator, type OperatorConfig } from '../inverse/operators/registry.js';
import { solverByName } from '../inverse/solvers/registry.js';
import { runSolver } from '../inverse/solvers/run.js';
import type { SolverDef } from '../inverse/solvers/types.js';
import { solve } from '../recipes/solve.js';
import { initialState } from '../samplers/run.js';
import { runGrid, startNoise } from '../samplers/start.js';
import type { ParamValues } from '../samplers/types.js';
import type { GradientChoice } from '../models/derivatives.js';
import type { JobRunner } from './job-pool.js';

/**
 * What one worker thread (or the in-process path, or a page's Web Worker) of a volume reconstruction runs: the prior
 * loaded once, the posterior solver applied to batches of slices, each slice seeded by its index:
 * a whole run per job, or (slices advancing in lockstep) one diffusion step per job.
 */

/** What a worker (or the in-process path) needs to solve batches of slices. */
export interface ChunkContext {
  modelDir: string;
  /** The item shape of every slice: the prior's own, or for a prior with a layout the slices' padded grid. */
  item: number[];
  threads: number;
  solver: string;
  steps: number;
  params: Partial<ParamValues>;
  /** How a gradient solver (dps, pigdm) differentiates the prior. */
  gradient: GradientChoice;
  /** The operator of every slice (null with mask active, whose jobs carry full scans). */
  operator: OperatorConfig | null;
  seed: number;
  /** mask active: lines per slice and particles; the jobs carry fully sampled k-space. */
  active?: { budget: number; centerLines: number; particles: number; noise: number };
}

export interface ChunkJob {
  id: number;
  /** First slice index z of the batch (global sample index of batch item 0). */
  start: number;
  count: number;
  /** Measurements [count, ...outShape]. */
  y: Float32Array;
  /** Lockstep: run only step k of the solver from `state` (the batch's state at grid point k; null at k = 0: start from its seeded noise). */
  step?: { k: number; state: Float32Array | null };
}

export interface ChunkResult {
  x: Float32Array;
  /** Network evaluations per slice, and session runs of the whole job (forward and gradient calls). */
  nfe: number;
  calls: number;
  /** Lockstep: the signal scale a(t) of the grid point the step reached (the state is a(t) x0 + s(t) noise). */
  a?: number;
  /** mask active: acquired columns [count, W] and the acquisition order [count, budget - centre lines]. */
  columns?: Uint8Array;
  order?: Int32Array;
}

/** A batch solver for the worker pool (src/volume/worker-pool.ts). */
export type ChunkSolver = JobRunner<ChunkJob, ChunkResult>;

/** Build the operator once for a loaded model (onnxruntime-node or -web); solve batches of slices with seeds by slice index. */
export function chunkSolverFor(model: OrtDenoiser, ctx: ChunkContext): ChunkSolver {
  if (ctx.active) return activeChunkSolver(model, ctx, ctx.active);
  const op = buildOperator(ctx.operator!, ctx.item);
  const solver = solverByName(ctx.solver);
  return {
    async run(job, onStep) {
      if (job.step) return solveStep(model, op, solver, ctx, job, job.step);
      const calls0 = model.calls;
      // The slices of a job are items start.. of one run: the noise of slice z depends on (seed, z) only.
      const r = await solve({
        model, operator: op, measurement: new Tensor([job.count, ...op.outShape], job.y), solver, steps: ctx.steps, params: ctx.params,
        gradient: ctx.gradient, modelName: ctx.modelDir, n: job.count, batch: job.count, seed: ctx.seed, firstSample: job.start, onProgress: (p) => onStep(p.step),
      });
      const x = checkedFinite(r.x.data as Float32Array, ctx, job, op);
      return { x, nfe: r.nfe, calls: model.calls - calls0 };
    },
    release: () => model.release(),
  };
}

/**
 * Step k of the run `chunkSolver` makes for the job: the same grid, starting noise and step noise
 * (NoiseSource.fromStep), so running steps 0..K-1 one by one with the states passed along gives
 * that run bit for bit; a coordinator may change the state between steps (volume z-TV coupling).
 */
async function solveStep(model: OrtDenoiser, op: Operator, solver: SolverDef, ctx: ChunkContext, job: ChunkJob, step: NonNullable<ChunkJob['step']>): Promise<ChunkResult> {
  const grid = runGrid(model.path, ctx.steps), { k, state } = step;
  const shape = [job.count, ...op.inShape];
  const z = state ? new Tensor(shape, state) : initialState(startNoise(ctx.seed, job.start, 0, job.count, op.inShape), grid[0]!);
  const calls0 = model.calls;
  const r = await runSolver(solver, model, grid.slice(k, k + 2), op, new Tensor([job.count, ...op.outShape], job.y), z, {
    noise: new NoiseSource(ctx.seed, job.start).fromStep(k), params: ctx.params, gradient: ctx.gradient, modelName: ctx.modelDir,
  });
  return { x: checkedFinite(r.x.data as Float32Array, ctx, job, op), nfe: r.nfe, calls: model.calls - calls0, a: grid[k + 1]!.a };
}

/** A solver's result with a non-finite value is refused, naming the slice. */
function checkedFinite(x: Float32Array, ctx: ChunkContext, job: ChunkJob, op: Operator): Float32Array {
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i]!)) fail('NAN_IN_MODEL', `${ctx.solver} returned a non-finite value for slice ${job.start + Math.floor(i / op.inShape.reduce((a, b) => a * b, 1))}; try more --steps or another --solver`);
  }
  return x;
}

/** mask active: each slice of a job is its own active run (own mask), reading lines from its full scan. */
function activeChunkSolver(model: OrtDenoiser, ctx: ChunkContext, a: NonNullable<ChunkContext['active']>): ChunkSolver {
  const [, h, w] = ctx.item as [number, number, number];
  const n2 = h * w, picks = a.budget - a.centerLines;
  return {
    async run(job, onStep) {
      const x = new Float32Array(job.count * n2), columns = new Uint8Array(job.count * w), order = new Int32Array(job.count * picks);
      const calls0 = model.calls;
      let nfe = 0;
      for (let i = 0; i < job.count; i++) {
        const r = await activeSubsampling({
          denoiser: model, kspace: new Tensor([1, 1, h, w, 2], job.y.subarray(i * n2 * 2, (i + 1) * n2 * 2)),
          budget: a.budget, centerLines: a.centerLines, particles: a.particles, steps: ctx.steps, solver: ctx.solver, params: ctx.params, gradient: ctx.gradient,
          noiseSigma: a.noise, seed: ctx.seed, firstSample: (job.start + i) * a.particles,
          onStep: (info) => onStep(Math.floor((i * ctx.steps + info.step) / job.count)),
        });
        x.set(r.x.data, i * n2);
        columns.set(r.columns, i * w);
        order.set(r.order, i * picks);
        nfe = r.nfe;
      }
      return { x, nfe, calls: model.calls - calls0, columns, order };
    },
    release: () => model.release(),
  };
}
