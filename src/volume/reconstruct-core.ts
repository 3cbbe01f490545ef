import { fail } from '../core/errors.js';
import { NoiseSource } from '../core/rng.js';
import { Tensor, shapeSize } from '../core/tensor.js';
import { cloneHeader, createVolume, requireVolume3D, type Volume } from '../io/volume.js';
import { psnr, ssim } from '../metrics/image.js';
import { acquisitionSteps, ACTIVE_SOLVERS, ACTIVE_WINDOW, checkActiveSolver, maskKspace } from '../inverse/active.js';
import { MRIOperator } from '../inverse/operators/mri.js';
import { roundHalfEven } from '../core/numeric.js';
import { defaultCenterFraction, lineMask2D } from '../inverse/operators/mri-masks.js';
import { proxDataConsistency, type Operator } from '../inverse/operators/operator.js';
import { buildOperator, type OperatorConfig } from '../inverse/operators/registry.js';
import type { MriMaskKind } from '../inverse/operators/mri-def.js';
import { runSolver } from '../inverse/solvers/run.js';
import { solverByName } from '../inverse/solvers/registry.js';
import { tvProxZ } from '../inverse/solvers/tv-prox-1d.js';
import type { ParamValues } from '../samplers/types.js';
import type { GradientRoute } from '../models/denoiser.js';
import { resolveGradientRoute, type GradientChoice } from '../models/derivatives.js';
import { cropItems, padItems, sizeRule, takesItems } from '../models/layout.js';
import type { ModelSpec } from '../models/model-spec.js';
import type { ChunkContext, ChunkJob, ChunkResult } from './chunk-solver.js';
import { emptyColumns, kspaceGrid, measurementForOperator } from './measurement.js';
import {
  axialImages, imagesToVolume, modelSlices, modelStackAffine, modelToVolume, nativeMapping, sliceMapping, stackToNiftiOrder, type NativeMapping, type SliceMapping, type SplitJson,
} from './model-space.js';
import { runJobsOn, type Pool, type PoolOptions, type RunnerFactory } from './job-pool.js';

/**
 * Volume reconstruction with a 2-D diffusion prior (slice by slice, DiffusionMBIR / 3-D DDS
 * style): every axial slice (third axis) of a volume is brought to the model's input grid
 * exactly as the prior's training data was made (src/volume/model-space.ts), measured (seeded
 * per slice), reconstructed with a posterior solver in batches of slices spread over worker
 * threads (src/volume/worker-pool.ts, src/volume/chunk-solver.ts), and the slices are coupled
 * by total variation along z (a 1-D TV proximal step on every in-plane column, alternated with
 * per-slice data consistency): once after sampling, or (tvZMode 'step', DiffusionMBIR) after every
 * diffusion step, all slices advancing in lockstep. The result is mapped back to the input grid.
 * A prior with a layout (tweedie.json "multiple") works on each slice's own grid instead, padded to its multiple
 * (model-space.ts NativeMapping), and its figures are measured on the input grid.
 * Browser-safe: what it reads from files and where the batches run come in a ReconstructEnv (src/volume/reconstruct.ts
 * gives Node's: the model folder, worker threads; web/worker.js gives a page's: fetched files, its Web Worker).
 */

export type Modality = 'mri' | 'ct';

export type TvZMode = 'after' | 'step';
export const TV_Z_MODES: readonly TvZMode[] = ['after', 'step'];

export interface ReconstructOptions {
  /** Model folder (model.onnx, tweedie.json, scheduler_config.json; split.json for the map). */
  modelDir: string;
  /** Where to find split.json when modelDir has none (e.g. weights/brain-64/split.json). */
  splitFallback?: string;
  modality: Modality;
  /**
   * MRI: acceleration (default 4) and mask (equispaced | random | poisson | active; default equispaced).
   * active: Active Diffusion Subsampling (src/inverse/active.ts) acquires round(W / acceleration) lines
   * per slice from a fully sampled scan, starting from the centre lines.
   */
  acceleration?: number;
  mask?: string;
  /** MRI: a mask file (NPY [W] columns or [H, W]) instead of acceleration and mask. */
  maskFile?: string;
  /** mask active: posterior particles per slice (default 8). */
  particles?: number;
  /** Measured data, one item per slice (src/volume/measurement.ts), instead of data simulated from the input. */
  measurement?: Tensor;
  /** The measurement's file name, for messages. */
  measurementName?: string;
  /** CT: number of parallel-beam views (default 30). */
  views?: number;
  /** Measurement noise standard deviation in model units (default 0.01). */
  noise?: number;
  solver: string;
  steps: number;
  params?: Partial<ParamValues>;
  /** How a gradient solver (dps, pigdm) differentiates the prior: 'auto' (default: the exported graph where tweedie.json declares one, else differences). */
  gradient?: GradientChoice;
  /** Slices [A, B) along the third axis (default: all). */
  slices?: [number, number];
  /** Worker threads (default env.workers, at most the number of batches). */
  workers?: number;
  /** Intra-op threads per ONNX session (default 1). */
  threads?: number;
  /** Slices per model call (default 4). Fixed batches: results do not depend on --workers. */
  batch?: number;
  seed?: number;
  /** Weight of the z-TV proximal step in model units (default 0.05; 0 turns the coupling off). */
  tvZ?: number;
  /** Alternations of z-TV prox and per-slice data consistency (default 2). */
  tvIters?: number;
  /**
   * When the slices are coupled (default 'after'): 'after' once on the sampled stack; 'step' after every
   * diffusion step, all slices in lockstep (DiffusionMBIR; solvers in ACTIVE_SOLVERS, whose state is the sample).
   */
  tvZMode?: TvZMode;
  /** Called as slice-steps complete: (done, total, slicesDone). */
  onProgress?: (done: number, total: number, slicesDone: number) => void;
}

export interface SliceFigures {
  z: number;
  psnr: number;
  ssim: number;
  psnr_baseline: number;
  ssim_baseline: number;
  psnr_before_tv: number;
}

/** What every reconstruction run reports, with or without a ground truth. */
export interface RunFigures {
  operator: string;
  solver: string;
  baseline: string;
  steps: number;
  /** Network evaluations per slice (every slice of a batch shares the model calls). */
  nfe: number;
  /** Batched model calls over the whole run. */
  model_calls: number;
  workers: number;
  batch: number;
  seconds: number;
  /** The gradient route of a gradient solver. */
  gradient?: GradientRoute;
  /** mask active: the acquired columns of each slice (sorted) and the order the criterion chose them in. */
  lines?: SliceLines[];
}

export interface ReconstructResult extends RunFigures {
  /** On the input grid, in input intensity units (same dims and affine as the input). */
  volume: Volume;
  /** The model-space result, 64 x 64 x slices, on the resampled grid (exact, no interpolation); with a layout the input's slices in model units. */
  modelStack: Volume;
  /** Model-space truth slices (normalised) [count, 1, 64, 64]; with a layout [count, 1, Y, X]. */
  truth: Tensor;
  mapping: SliceMapping | NativeMapping;
  /**
   * Where psnr/ssim are measured: 'model' (the 64x64 model space, data range 2) or 'input' (the input grid in its
   * intensity units, data range p: what --out holds).
   */
  figures_grid: 'model' | 'input';
  slices: [number, number];
  psnr: number;
  ssim: number;
  psnr_baseline: number;
  ssim_baseline: number;
  per_slice: SliceFigures[];
}

export interface SliceLines {
  z: number;
  columns: number[];
  order: number[];
}

/** What a reconstruction gets from its surroundings: the prior's files, read, and where batches of slices run. */
export interface ReconstructEnv {
  /** The prior's spec (tweedie.json, scheduler_config.json), parsed. */
  prior: ModelSpec;
  /** The prior's split.json (null: the slice mapping is computed from the volume). */
  split: SplitJson | null;
  /** The operator of the options as a structured config (Node reads a mask file here). */
  operatorConfig(o: ReconstructOptions): OperatorConfig;
  /** Builds the batch solver (in each worker thread, or in-process). */
  runner: RunnerFactory<ChunkContext, ChunkJob, ChunkResult>;
  /** Opens a pool of `workers` runners; entry is the worker thread module, if any. */
  open(o: PoolOptions<ChunkContext, ChunkJob, ChunkResult>): Promise<Pool<ChunkJob, ChunkResult>>;
  entry?: URL;
  /** The default worker count. */
  workers: number;
}

/** The operator of a modality simulated with a built-in mask, as a structured config (a mask file is src/volume/reconstruct.ts's). */
export function operatorConfig(o: Pick<ReconstructOptions, 'modality' | 'acceleration' | 'mask' | 'views' | 'noise'>): OperatorConfig {
  const noise = o.noise ?? 0.01;
  if (o.modality === 'mri') {
    const accel = o.acceleration ?? 4;
    const mask = (o.mask ?? 'equispaced') as MriMaskKind;
    return { kind: 'mri', noise, complex: false, mask, accel, acs: defaultCenterFraction(accel), seed: 0 };
  }
  if (o.modality === 'ct') return { kind: 'ct', noise, views: o.views ?? 30, angle: 180, filter: 'ramlak', projector: 'footprint' };
  return fail('USAGE', `unknown modality "${String(o.modality)}"; use mri or ct`);
}

interface PriorSpec {
  /** The item shape [1, S, S] (with a layout: its default shape [1, H, W]). */
  item: number[];
  range: [number, number];
  gradient: boolean;
  /** tweedie.json "multiple": the prior runs each slice on its own grid, padded to it. */
  multiple: number | null;
}

/** The prior's item shape, value range, gradient graph and layout, from its parsed folder (loading a session here would be wasted). */
function priorSpec(spec: ModelSpec, modelDir: string): PriorSpec {
  const item = spec.shape;
  if (item.length !== 3 || item[0] !== 1 || (spec.multiple === null && item[1] !== item[2])) {
    fail('UNSUPPORTED', `${modelDir}: reconstruct needs a ${spec.multiple === null ? 'square ' : ''}single-channel prior, this one takes [${item.join(', ')}]`);
  }
  return { item, range: spec.valueRange, gradient: spec.gradient !== null, multiple: spec.multiple };
}

/** The gradient route the solver will use on the prior (null for a gradient-free solver); a route the prior lacks is refused before any worker starts. */
export function priorGradientRoute(prior: ModelSpec, o: Pick<ReconstructOptions, 'modelDir' | 'solver' | 'gradient'>): GradientRoute | null {
  if (!solverByName(o.solver).needs.gradients) return null;
  return resolveGradientRoute(prior.gradient !== null ? 'exported' : null, o.gradient ?? 'auto', `--model ${o.modelDir}`);
}

/** mask active: lines per slice (round(W / acceleration)) and centre lines, checked before any work. */
function activeSettings(o: ReconstructOptions, w: number): NonNullable<ChunkContext['active']> {
  checkActiveSolver(o.solver);
  const accel = o.acceleration ?? 4;
  const budget = Math.round(w / accel), centerLines = roundHalfEven(w * defaultCenterFraction(accel));
  if (budget < centerLines) fail('USAGE', `--mask active --accel ${accel}: ${budget} lines of ${w} are fewer than the ${centerLines} centre lines it starts from; lower --accel`);
  acquisitionSteps(budget - centerLines, o.steps, ACTIVE_WINDOW);
  const particles = o.particles ?? 8;
  if (!Number.isInteger(particles) || particles < 1) fail('USAGE', `--particles must be an integer >= 1, got ${particles}`);
  return { budget, centerLines, particles, noise: o.noise ?? 0.01 };
}

/** The operator that measures every slice (for mask active: the fully sampled scan) and its config for the workers. */
function measurementOperator(o: ReconstructOptions, env: ReconstructEnv, item: number[], active: boolean): { op: Operator; config: OperatorConfig | null } {
  if (!active) {
    const config = env.operatorConfig(o);
    return { op: buildOperator(config, item), config };
  }
  const n = item[1]! * item[2]!;
  return { op: new MRIOperator(item, { mask: new Uint8Array(n).fill(1), noiseSigma: o.noise ?? 0.01, label: 'fully sampled scan' }), config: null };
}

/** --measurement: the file's data as [count, ...outShape]; mask active needs a full scan. */
function checkedMeasurement(o: ReconstructOptions, op: Operator, count: number, active: boolean): Tensor {
  const y = measurementForOperator(o.measurement!, op, o.measurementName ?? 'data');
  if (y.batch !== count) fail('BAD_SHAPE', `--measurement holds ${y.batch} slices but ${count} are reconstructed; give one item per slice (or pick --slices to match)`);
  if (active) {
    const [, h, w] = op.outShape as [number, number, number];
    for (let k = 0; k < count; k++) {
      const empty = emptyColumns(y, k, h, w);
      if (empty.length > 0) fail('BAD_INPUT', `--mask active reads its lines from a fully sampled k-space, but slice ${k} of --measurement has ${empty.length} empty columns (${empty.slice(0, 5).join(', ')}...); give the full scan, or use a fixed mask (--mask-file or --accel with --mask equispaced)`);
    }
  }
  return y;
}

interface SolvedStack {
  /** Model-space result [count * S * S] after z-TV and clipping, and before z-TV (with tvZMode 'step': the result before clipping). */
  recon: Float32Array;
  beforeTv: Float32Array;
  /** The baseline (zero-filled or FBP) of every slice. */
  base: Tensor;
  baseline: string;
  operator: string;
  nfe: number;
  calls: number;
  workers: number;
  batch: number;
  gradient: GradientRoute | null;
  lines?: SliceLines[];
}

/** Solve slices A.. from y ([count, ...op.outShape]) on worker threads, couple them by z-TV and clip to the prior's range. */
async function solveStack(o: ReconstructOptions, env: ReconstructEnv, model: { item: number[]; range: [number, number] }, meas: { op: Operator; config: OperatorConfig | null }, y: Tensor, A: number, active?: ChunkContext['active']): Promise<SolvedStack> {
  const { item } = model, { op } = meas;
  const count = y.batch, h = item[1]!, w = item[2]!, n2 = h * w, outItem = shapeSize(op.outShape);
  const tvZ = o.tvZ ?? 0.05, tvIters = o.tvIters ?? 2;
  if (!(tvZ >= 0) || !Number.isInteger(tvIters) || tvIters < 0) fail('USAGE', `tvZ must be a number >= 0 and tvIters an integer >= 0 (got ${tvZ}, ${tvIters})`);
  const solver = solverByName(o.solver);
  const mode = checkedTvZMode(o);
  if (solver.needs.noPrior) fail('USAGE', `--solver ${solver.name} is a baseline without a prior; use a diffusion solver (dds, ddnm, ddrm, diffpir, score-sde)`);
  if (solver.needs.svd && !op.svd) fail('UNSUPPORTED', `solver ${solver.name} needs the operator's SVD, which ${op.name} does not provide; use dds or diffpir`);
  const gradient = priorGradientRoute(env.prior, o);
  const yData = y.data instanceof Float32Array ? y.data : Float32Array.from(y.data);
  const batch = Math.max(1, o.batch ?? 4);
  const jobs: ChunkJob[] = [];
  for (let s = 0; s < count; s += batch) {
    const c = Math.min(batch, count - s);
    jobs.push({ id: jobs.length, start: A + s, count: c, y: yData.slice(s * outItem, (s + c) * outItem) });
  }
  const workers = Math.max(1, Math.min(o.workers ?? env.workers, jobs.length));
  const ctx: ChunkContext = { modelDir: o.modelDir, item, threads: o.threads ?? 1, solver: solver.name, steps: o.steps, params: o.params ?? {}, gradient: gradient ?? 'auto', operator: meas.config, seed: o.seed ?? 0, ...(active ? { active } : {}) };
  const stepsDone = new Array<number>(jobs.length).fill(0);
  const total = count * o.steps;
  const onProgress = (id: number, step: number) => {
    stepsDone[id] = Math.min(o.steps, step);
    const done = stepsDone.reduce((acc, s, i) => acc + s * jobs[i]!.count, 0);
    const slicesDone = stepsDone.reduce((acc, s, i) => acc + (s >= o.steps ? jobs[i]!.count : 0), 0);
    o.onProgress?.(done, total, slicesDone);
  };
  // Each slice's own operator and measurement: with mask active, its acquired lines of the full scan (known after the run).
  const columns = new Uint8Array(count * w), lines: SliceLines[] = [];
  const sliceOp = (k: number): Operator =>
    active ? new MRIOperator(item, { mask: lineMask2D(columns.subarray(k * w, (k + 1) * w), h), noiseSigma: active.noise, label: `active ${active.budget} lines` }) : op;
  const sliceY = (k: number): Tensor => {
    const yk = new Tensor([1, ...op.outShape], yData.slice(k * outItem, (k + 1) * outItem));
    return active ? maskKspace(yk, columns.subarray(k * w, (k + 1) * w)).reshape([1, ...op.outShape]) : yk;
  };
  const couple = tvZ > 0 && count > 1 && tvIters > 0 ? (stack: Float32Array) => coupleStack(stack, count, n2, item, tvZ, tvIters, sliceOp, sliceY) : null;
  const pool: PoolOptions<ChunkContext, ChunkJob, ChunkResult> = { ...(env.entry ? { entry: env.entry } : {}), context: ctx, runner: env.runner, workers, label: 'reconstruct', onProgress };
  const results = mode === 'step' ? await lockstep(jobs, pool, env, o.steps, A, n2, couple) : await runJobsOn(jobs, pool, env.open);
  let nfe = 0, calls = 0;
  const recon = new Float32Array(count * n2);
  for (const job of jobs) {
    const r = results.get(job.id)!;
    recon.set(r.x, (job.start - A) * n2);
    nfe = Math.max(nfe, r.nfe);
    calls += r.calls;
    if (active && r.columns && r.order) {
      columns.set(r.columns, (job.start - A) * w);
      const picks = active.budget - active.centerLines;
      for (let i = 0; i < job.count; i++) {
        const c = r.columns.subarray(i * w, (i + 1) * w);
        lines.push({ z: job.start + i, columns: [...c.keys()].filter((j) => c[j]), order: [...r.order.subarray(i * picks, (i + 1) * picks)] });
      }
    }
  }
  o.onProgress?.(total, total, count);
  const beforeTv = recon.slice();
  if (mode === 'after') couple?.(recon);
  // The prior's value range (training data were clipped to it): clip the result to it.
  const [lo, hi] = model.range;
  for (let i = 0; i < recon.length; i++) recon[i] = Math.min(hi, Math.max(lo, recon[i]!));
  const baseline = o.modality === 'mri' ? 'zero-filled' : 'fbp';
  const base = new Tensor([count, ...item]);
  for (let k = 0; k < count; k++) {
    const b = await runSolver(solverByName(baseline), null, [], sliceOp(k), sliceY(k), Tensor.zeros([1, ...item]));
    base.data.set(b.x.data, k * n2);
  }
  const operator = active ? `mri(active: ${active.budget} of ${w} lines from ${active.centerLines} centre lines, ${active.particles} particles, noise ${active.noise})` : op.name;
  return { recon, beforeTv, base, baseline, operator, nfe, calls, workers, batch, gradient, ...(active ? { lines } : {}) };
}

/** tvZMode, checked before any work: per-step coupling splits the solver's run at every step, so its state must be the current sample. */
export function checkedTvZMode(o: Pick<ReconstructOptions, 'tvZMode' | 'solver' | 'mask' | 'params'>): TvZMode {
  const mode = o.tvZMode ?? 'after';
  if (!TV_Z_MODES.includes(mode)) fail('USAGE', `--tv-z-mode ${String(mode)}: use after (couple the slices once, after sampling) or step (after every diffusion step)`);
  if (mode === 'after') return mode;
  if (!ACTIVE_SOLVERS.includes(o.solver)) {
    fail('USAGE', `--tv-z-mode step couples the slices after every diffusion step and works with --solver ${ACTIVE_SOLVERS.join(', ')} only (a run whose state is the current sample, so it can be split per step), not ${o.solver}; use one of them, or --tv-z-mode after with ${o.solver}`);
  }
  if (o.mask === 'active') fail('USAGE', '--tv-z-mode step cannot run with --mask active (each slice acquires its own lines on its own schedule); use --tv-z-mode after, or a fixed --mask');
  if ((o.params?.travel_repeat ?? 1) !== 1) fail('USAGE', '--tv-z-mode step takes one step at a time, so ddnm time travel (travel_repeat > 1) is not available; drop --param travel_repeat or use --tv-z-mode after');
  return mode;
}

/**
 * z-TV coupling of a stack [count][n2] in place: `iters` alternations of the exact z-TV prox
 * (tvProxZ, weight tvZ) and per-slice data consistency,
 *   argmin ||A x - y||^2 / (2 sigma^2) + rho/2 ||x - v||^2 with rho = 1 / sigma^2:
 * measured components move halfway back towards y, the null space keeps the z-TV result. Closed
 * form for MRI, a few CG iterations otherwise; noiseless data use sigma = 0.01 here. A splitting of
 * DiffusionMBIR's min ||A x - y||^2 / 2 + lambda ||D_z x||_1 (Chung et al. CVPR 2023, eq. 11-13).
 */
export function coupleStack(stack: Float32Array, count: number, n2: number, item: number[], tvZ: number, iters: number, sliceOp: (k: number) => Operator, sliceY: (k: number) => Tensor): void {
  for (let it = 0; it < iters; it++) {
    tvProxZ(stack, count, n2, tvZ);
    for (let k = 0; k < count; k++) {
      const op = sliceOp(k), sigma = op.noiseSigma > 0 ? op.noiseSigma : 0.01;
      const xk = new Tensor([1, ...item], stack.subarray(k * n2, (k + 1) * n2));
      stack.set(proxDataConsistency(op, xk, sliceY(k), 1 / (sigma * sigma), sigma, { tol: 1e-6, maxIter: 30 }).data, k * n2);
    }
  }
}

/**
 * The slices in lockstep (DiffusionMBIR, Alg. 1): every batch of slices takes diffusion step k on
 * the pool's workers (the solver's own data-consistency update included), the coordinator gathers the
 * whole stack (z-TV couples neighbours across batch boundaries), couples it in the VE variable
 * x / a(t) (the state is a(t) x0 + s(t) noise; DiffusionMBIR's VE-SDE sample, on which its ADMM
 * acts), and hands the states back for step k + 1. Results as runJobsOn gives them (nfe summed over steps);
 * without coupling (null) the states pass through untouched, so the result is the uncoupled run's.
 */
async function lockstep(jobs: ChunkJob[], pool: PoolOptions<ChunkContext, ChunkJob, ChunkResult>, env: ReconstructEnv, steps: number, A: number, n2: number, couple: ((stack: Float32Array) => void) | null): Promise<Map<number, ChunkResult>> {
  const count = jobs.reduce((c, j) => c + j.count, 0);
  const stack = new Float32Array(count * n2);
  const states = new Map<number, Float32Array | null>(jobs.map((j) => [j.id, null]));
  const totals = new Map<number, { nfe: number; calls: number }>(jobs.map((j) => [j.id, { nfe: 0, calls: 0 }]));
  const workers = await env.open(pool);
  try {
    for (let k = 0; k < steps; k++) {
      const round = await workers.run(jobs.map((j) => ({ ...j, step: { k, state: states.get(j.id)! } })));
      const a = round.get(jobs[0]!.id)!.a!;
      for (const j of jobs) {
        const r = round.get(j.id)!, t = totals.get(j.id)!;
        stack.set(r.x, (j.start - A) * n2);
        t.nfe += r.nfe;
        t.calls += r.calls;
      }
      if (couple) {
        for (let i = 0; i < stack.length; i++) stack[i] = stack[i]! / a;
        couple(stack);
        for (let i = 0; i < stack.length; i++) stack[i] = stack[i]! * a;
      }
      for (const j of jobs) {
        states.set(j.id, stack.slice((j.start - A) * n2, (j.start - A + j.count) * n2));
        pool.onProgress?.(j.id, k + 1);
      }
    }
  } finally {
    await workers.close();
  }
  return new Map(jobs.map((j) => [j.id, { x: states.get(j.id)!, ...totals.get(j.id)! }]));
}

/** --slices A:B of a volume with Z slices, checked. */
export function sliceRangeOf(slices: [number, number] | undefined, Z: number, name: string): [number, number] {
  const [A, B] = slices ?? [0, Z];
  if (!(Number.isInteger(A) && Number.isInteger(B) && 0 <= A && A < B && B <= Z)) {
    fail('USAGE', `--slices ${A}:${B} is outside ${name}'s third axis 0..${Z} (give A:B with 0 <= A < B <= ${Z})`);
  }
  return [A, B];
}

/** Measurements of truth slices [count, ...] seeded per slice: slice z is sample z of the measurement noise. */
function simulate(op: Operator, truth: Tensor, seed: number, A: number): Tensor {
  const outItem = shapeSize(op.outShape), count = truth.batch;
  const y = new Tensor([count, ...op.outShape]);
  for (let k = 0; k < count; k++) y.data.set(op.measure(truth.sliceBatch(k, k + 1), new NoiseSource(seed, A + k)).data, k * outItem);
  return y;
}

type Figures = Pick<ReconstructResult, 'psnr' | 'ssim' | 'psnr_baseline' | 'ssim_baseline' | 'per_slice'>;

/** PSNR/SSIM of the result, the baseline and the result before z-TV against the truth slices, per slice and overall (data range L). */
function figuresOf(recon: Tensor, base: Tensor, beforeTv: Tensor, truth: Tensor, A: number, L: number): Figures {
  const pr = psnr(recon, truth, L), sr = ssim(recon, truth, { dataRange: L });
  const pb = psnr(base, truth, L), sb = ssim(base, truth, { dataRange: L });
  const p0 = psnr(beforeTv, truth, L);
  const mean = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v, 0) / a.length;
  const volPsnr = (x: Tensor) => {
    let se = 0;
    for (let i = 0; i < x.size; i++) se += (x.data[i]! - truth.data[i]!) ** 2;
    return 10 * Math.log10((L * L) / (se / x.size));
  };
  const per_slice: SliceFigures[] = Array.from({ length: recon.batch }, (_, k) => ({
    z: A + k, psnr: pr[k]!, ssim: sr[k]!, psnr_baseline: pb[k]!, ssim_baseline: sb[k]!, psnr_before_tv: p0[k]!,
  }));
  return { psnr: volPsnr(recon), ssim: mean(sr), psnr_baseline: volPsnr(base), ssim_baseline: mean(sb), per_slice };
}

/** The run's figures as ReconstructResult reports them. */
function runFigures(o: ReconstructOptions, st: SolvedStack, t0: number): RunFigures & { gradient?: GradientRoute; lines?: SliceLines[] } {
  return {
    operator: st.operator, solver: o.solver, baseline: st.baseline, steps: o.steps, nfe: st.nfe, model_calls: st.calls, workers: st.workers, batch: st.batch,
    seconds: (performance.now() - t0) / 1000, ...(st.gradient ? { gradient: st.gradient } : {}), ...(st.lines ? { lines: st.lines } : {}),
  };
}

/** The input's geometry with new data (header cloned: writeNifti(out, volume) or with { like: input } agree). */
export function onInputGrid(vol: Volume, data: Float32Array, source: string): Volume {
  return { data, dims: [...vol.dims.slice(0, 3)], voxelSize: vol.voxelSize.slice(0, 3), affine: vol.affine.map((r) => [...r]), header: cloneHeader(vol.header), source };
}

/** Reconstruct slices of a 3-D volume (see the file comment). */
export async function reconstructVolumeIn(env: ReconstructEnv, input: Volume, o: ReconstructOptions): Promise<ReconstructResult> {
  const t0 = performance.now();
  const vol = requireVolume3D(input);
  const Z = vol.dims[2]!;
  const name = vol.source ?? 'volume';
  const model = priorSpec(env.prior, o.modelDir), item = model.item, size = item[1]!;
  if (model.multiple !== null) return reconstructNative(env, vol, o, model, model.multiple, t0);
  const mapping = sliceMapping(vol, size, env.split);
  const [A, B] = sliceRangeOf(o.slices, Z, name);
  const count = B - A;
  const active = o.modality === 'mri' && o.mask === 'active' ? activeSettings(o, size) : undefined;
  const truth = modelSlices(vol, mapping, Array.from({ length: count }, (_, k) => A + k));
  const meas = measurementOperator(o, env, item, active !== undefined);
  const yT = o.measurement ? checkedMeasurement(o, meas.op, count, active !== undefined) : simulate(meas.op, truth, o.seed ?? 0, A);
  const st = await solveStack(o, env, model, meas, yT, A, active);
  const recon = st.recon, reconT = new Tensor([count, 1, size, size], recon);
  // Figures against the truth slices in model space (data range 2).
  const figures = figuresOf(reconT, st.base, new Tensor([count, 1, size, size], st.beforeTv), truth, A, 2);
  const modelStack = createVolume(stackToNiftiOrder(recon, size, size, count), [size, size, count], {
    affine: modelStackAffine(vol.affine, mapping, A),
    xformCode: vol.header.sform_code || vol.header.qform_code || 2,
    descrip: `tweedie model space ${size}x${size}`,
  });
  return {
    volume: onInputGrid(vol, modelToVolume(recon, A, count, vol, mapping), `reconstruct(${name})`), modelStack, truth, mapping, slices: [A, B], figures_grid: 'model',
    ...runFigures(o, st, t0), ...figures,
  };
}

/** k-space --measurement for a prior with a layout: its grid must be one the prior takes (checked before any work). */
function checkedKspaceGrid(o: ReconstructOptions, multiple: number): [number, number] | null {
  if (!o.measurement || o.modality !== 'mri') return null;
  const hw = kspaceGrid(o.measurement);
  if (hw && !takesItems({ itemShape: null, layout: { multiple, background: 0 } }, [1, ...hw])) {
    fail('BAD_SHAPE', `--measurement ${o.measurementName ?? 'data'}: k-space ${hw.join('x')} does not fit ${o.modelDir}, whose ${sizeRule({ multiple, background: 0 })}; zero-padding k-space would interpolate the image, so give k-space on such a grid (or --truth, whose slices are padded in image space)`);
  }
  return hw;
}

/** A prior with a layout: every slice on its own grid, padded with background to the multiple; figures on the input grid. */
async function reconstructNative(env: ReconstructEnv, vol: Volume, o: ReconstructOptions, model: PriorSpec, multiple: number, t0: number): Promise<ReconstructResult> {
  const [X, Y, Z] = vol.dims as [number, number, number];
  const name = vol.source ?? 'volume';
  const mapping = nativeMapping(vol, multiple), { p } = mapping, [lo, hi] = model.range;
  const grid = [1, ...mapping.padded], own = [1, Y, X];
  const kspace = checkedKspaceGrid(o, multiple);
  if (kspace && kspace.join('x') !== mapping.padded.join('x')) fail('BAD_SHAPE', `--measurement ${o.measurementName ?? 'data'}: k-space ${kspace.join('x')}, but ${name}'s ${Y}x${X} slices padded to multiples of ${multiple} are ${mapping.padded.join('x')}`);
  const [A, B] = sliceRangeOf(o.slices, Z, name);
  const count = B - A;
  const raw = axialImages(vol, A, B);
  // x = clip(2 v / p - 1) into the prior's range, as the fixed-size model space; the border is the background.
  const toModel = new Tensor(raw.shape, raw.data.map((v) => Math.min(hi, Math.max(lo, lo + ((hi - lo) * v) / p))));
  const truth = padItems(toModel, grid, lo);
  const active = o.modality === 'mri' && o.mask === 'active' ? activeSettings(o, grid[2]!) : undefined;
  const meas = measurementOperator(o, env, grid, active !== undefined);
  const yT = o.measurement ? checkedMeasurement(o, meas.op, count, active !== undefined) : simulate(meas.op, truth, o.seed ?? 0, A);
  const st = await solveStack(o, env, { ...model, item: grid }, meas, yT, A, active);
  // Cropped back to the input grid and its intensity units; figures against the input itself (data range p).
  const cropped = (x: ArrayLike<number>) => cropItems(new Tensor([count, ...grid], Float32Array.from(x)), own);
  const toInput = (x: Tensor) => new Tensor(x.shape, x.data.map((v) => ((v - lo) / (hi - lo)) * p));
  const recon = cropped(st.recon);
  const figures = figuresOf(toInput(recon), toInput(cropped(st.base.data)), toInput(cropped(st.beforeTv)), raw, A, p);
  const modelStack = createVolume(stackToNiftiOrder(recon.data, Y, X, count), [X, Y, count], {
    affine: modelStackAffine(vol.affine, { x0: 0, y0: 0, side: 1, size: 1 }, A),
    xformCode: vol.header.sform_code || vol.header.qform_code || 2,
    descrip: `tweedie model space ${X}x${Y} (input grid)`,
  });
  return {
    volume: onInputGrid(vol, imagesToVolume(toInput(recon), A, vol), `reconstruct(${name})`), modelStack, truth: cropItems(truth, own), mapping, slices: [A, B], figures_grid: 'input',
    ...runFigures(o, st, t0), ...figures,
  };
}

export interface MeasuredResult extends RunFigures {
  /** The model-space result, S x S x Z, with a 1 mm grid (no input geometry is known). */
  modelStack: Volume;
}

/** Reconstruct measured data (o.measurement, one item per slice) without a ground-truth volume. */
export async function reconstructMeasuredIn(env: ReconstructEnv, o: ReconstructOptions): Promise<MeasuredResult> {
  const t0 = performance.now();
  if (!o.measurement) fail('USAGE', 'reconstruct needs --truth VOL.nii.gz (simulated data) or --measurement FILE.npy');
  const model = priorSpec(env.prior, o.modelDir);
  // A prior with a layout reconstructs MRI k-space on its own grid.
  const kspace = model.multiple !== null ? checkedKspaceGrid(o, model.multiple) : null;
  const item = kspace ? [1, ...kspace] : model.item, [, h, w] = item as [number, number, number];
  const active = o.modality === 'mri' && o.mask === 'active' ? activeSettings(o, w) : undefined;
  const meas = measurementOperator(o, env, item, active !== undefined);
  const count = measurementForOperator(o.measurement, meas.op, o.measurementName ?? 'data').batch;
  const y = checkedMeasurement(o, meas.op, count, active !== undefined);
  const st = await solveStack(o, env, { ...model, item }, meas, y, 0, active);
  const modelStack = createVolume(stackToNiftiOrder(st.recon, h, w, count), [w, h, count], { descrip: `tweedie model space ${w}x${h}` });
  return { modelStack, ...runFigures(o, st, t0) };
}
