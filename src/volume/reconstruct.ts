import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { fail, TweedieError, type ErrorCode } from '../core/errors.js';
import { NoiseSource, Stream } from '../core/rng.js';
import { Tensor, shapeSize } from '../core/tensor.js';
import { cloneHeader, createVolume, requireVolume3D, type Volume } from '../io/volume.js';
import { psnr, ssim } from '../metrics/image.js';
import { OnnxDenoiser } from '../models/onnx.js';
import { acquisitionSteps, activeSubsampling, ACTIVE_WINDOW, checkActiveSolver, maskKspace } from '../inverse/active.js';
import { MRIOperator } from '../inverse/operators/mri.js';
import { defaultCenterFraction, lineMask2D, roundHalfEven } from '../inverse/operators/mri-masks.js';
import { proxDataConsistency, type Operator } from '../inverse/operators/operator.js';
import { parseOperatorSpec } from '../inverse/operators/spec.js';
import { runSolver } from '../inverse/solvers/run.js';
import { solverByName } from '../inverse/solvers/registry.js';
import { defaultGridSpec, makeGrid } from '../paths/grids.js';
import { initialState } from '../samplers/run.js';
import type { ParamValues } from '../samplers/types.js';
import { emptyColumns, measurementForOperator } from './measurement.js';

/**
 * Volume reconstruction with a 2-D diffusion prior (slice by slice, DiffusionMBIR / 3-D DDS
 * style): every axial slice (third axis) of a volume is brought to the model's input grid
 * exactly as the prior's training data was made, measured (seeded per slice), reconstructed
 * with a posterior solver in batches of slices spread over worker threads, and the slices are
 * then coupled by total variation along z (a 1-D TV proximal step on every in-plane column,
 * alternated with per-slice data consistency). The result is mapped back to the input grid.
 *
 * Model space. For the brain-64 prior (weights/brain-64/split.json): the square
 * vol[x0:x0+side, y0:y0+side, z] (zero outside the volume) is area-averaged to 64x64 (exact
 * box filter with fractional overlaps), image rows run over y from high to low and columns
 * over x from low to high, and intensities map by x = clip(2 v / p - 1, -1, 1), p the 99.5th
 * percentile of all voxels. The training volume (split.json's volume_shape and the same p)
 * uses split.json's crop and p verbatim; any other volume gets the same rule computed on it
 * (p = its 99.5th percentile; crop = the bounding box of voxels > 0.1 p over all slices, made
 * square about its centre, at least 64 voxels). For ch2 the computed rule reproduces split.json.
 *
 * Back to the input grid. Area averaging side -> 64 (side > 64) is not invertible. The
 * reconstruction is therefore returned twice: `modelStack`, the exact model-space result on a
 * resampled grid (64 x 64 x slices) whose affine is the input affine composed with the
 * crop/resize map (model voxel (i, j, k) sits at input voxel
 * (x0 - 0.5 + (i + 0.5) s, y0 - 0.5 + (j + 0.5) s, A + k), s = side / 64, j = 63 - row), and
 * `volume`, on the input grid and in input intensity units: bilinear interpolation of the
 * model-space slices at every input voxel centre inside the crop square (edge pixels held
 * constant), v = (x + 1) p / 2, and 0 outside the crop square and on slices that were not
 * reconstructed. Values above p were clipped by the normalisation and cannot come back.
 */

// ------------------------------------------------------------------------------ preprocessing

export interface SliceMapping {
  /** Model input side (64 for brain-64). */
  size: number;
  x0: number;
  y0: number;
  side: number;
  /** Intensity scale: x = clip(2 v / p - 1, -1, 1). */
  p: number;
  /** 'split.json' when the prior's training record was used verbatim, else 'computed'. */
  source: 'split.json' | 'computed';
}

interface SplitJson {
  volume_shape?: number[];
  crop?: { x0: number; y0: number; side: number };
  normalisation?: { percentile?: number; p: number };
}

/** The 99.5th (or q-th) percentile with numpy's default linear interpolation. */
export function percentile(data: ArrayLike<number>, q: number): number {
  const s = Float32Array.from(data).sort();
  if (s.length === 0) return NaN;
  const pos = (q / 100) * (s.length - 1);
  const lo = Math.floor(pos), hi = Math.min(s.length - 1, lo + 1);
  return s[lo]! + (pos - lo) * (s[hi]! - s[lo]!);
}

/** split.json of the prior: in the model folder, else the shipped weights/brain-64 record. */
export function readSplit(modelDir: string, fallback?: string): SplitJson | null {
  for (const f of [join(modelDir, 'split.json'), ...(fallback ? [fallback] : [])]) {
    if (existsSync(f)) {
      try {
        return JSON.parse(readFileSync(f, 'utf8')) as SplitJson;
      } catch (e) {
        fail('BAD_CONFIG', `${f}: not valid JSON (${(e as Error).message})`);
      }
    }
  }
  return null;
}

/** The crop/resize/intensity map of `vol` onto a size x size model grid (see the file comment). */
export function sliceMapping(vol: Volume, size: number, split: SplitJson | null): SliceMapping {
  const [X, Y, Z] = vol.dims as [number, number, number];
  const name = vol.source ?? 'volume';
  if (X < size || Y < size) {
    fail('BAD_SHAPE', `${name}: in-plane size ${X}x${Y} is too small for the ${size}x${size} prior; reconstruct needs axial slices of at least ${size}x${size} voxels (the model was trained on downsampled slices)`);
  }
  const q = split?.normalisation?.percentile ?? 99.5;
  const p = percentile(vol.data, q);
  // The training volume itself (same grid and same intensity scale): split.json's record verbatim.
  // Another volume on the same grid (any 1 mm MNI image is 181x217x181) gets its own p and crop.
  if (split?.crop && split.normalisation && split.volume_shape?.join(',') === [X, Y, Z].join(',') && Math.abs(p - split.normalisation.p) <= 1e-6 * Math.abs(p)) {
    return { size, x0: split.crop.x0, y0: split.crop.y0, side: split.crop.side, p: split.normalisation.p, source: 'split.json' };
  }
  if (!(p > 0)) fail('BAD_INPUT', `${name}: the ${q}th percentile of the intensities is ${p}; the prior's normalisation needs positive intensities (an empty or negative-valued volume?)`);
  let xlo = X, xhi = -1, ylo = Y, yhi = -1;
  const thr = 0.1 * p;
  for (let k = 0; k < Z; k++) {
    for (let j = 0; j < Y; j++) {
      const off = X * (j + Y * k);
      for (let i = 0; i < X; i++) {
        if (vol.data[off + i]! > thr) {
          if (i < xlo) xlo = i;
          if (i > xhi) xhi = i;
          if (j < ylo) ylo = j;
          if (j > yhi) yhi = j;
        }
      }
    }
  }
  if (xhi < 0) fail('BAD_INPUT', `${name}: no voxel exceeds 0.1 x p${q}; nothing to crop`);
  let side = Math.max(xhi - xlo + 1, yhi - ylo + 1);
  if (side < size) side = size;
  const x0 = Math.floor((xlo + xhi + 1 - side) / 2), y0 = Math.floor((ylo + yhi + 1 - side) / 2);
  return { size, x0, y0, side, p, source: 'computed' };
}

/** [n_out, n_in] exact area-averaging matrix (training/brain64.py area_matrix), row-major. */
export function areaMatrix(nIn: number, nOut: number): Float64Array {
  const s = nIn / nOut;
  const R = new Float64Array(nOut * nIn);
  for (let i = 0; i < nOut; i++) {
    const lo = i * s, hi = (i + 1) * s;
    for (let j = Math.floor(lo); j < Math.min(nIn, Math.ceil(hi)); j++) R[i * nIn + j] = (Math.min(hi, j + 1) - Math.max(lo, j)) / s;
  }
  return R;
}

/** Slice z of `vol` in model space: [size*size] row-major, normalised to [-1, 1]. */
export function sliceToModel(vol: Volume, m: SliceMapping, z: number, R: Float64Array = areaMatrix(m.side, m.size)): Float32Array {
  const [X, Y] = vol.dims as [number, number];
  const { side, size, x0, y0 } = m;
  // img[r][c] = vol[x0 + c, y0 + side - 1 - r, z] (zero outside); small = R img R^T.
  const tmp = new Float64Array(size * side); // tmp[a][c] = sum_r R[a][r] img[r][c]
  const base = X * Y * z;
  for (let r = 0; r < side; r++) {
    const y = y0 + side - 1 - r;
    if (y < 0 || y >= Y) continue;
    for (let a = 0; a < size; a++) {
      const w = R[a * side + r]!;
      if (w === 0) continue;
      const row = tmp.subarray(a * side, (a + 1) * side);
      for (let c = 0; c < side; c++) {
        const x = x0 + c;
        if (x >= 0 && x < X) row[c]! += w * vol.data[base + X * y + x]!;
      }
    }
  }
  const out = new Float32Array(size * size);
  for (let a = 0; a < size; a++) {
    for (let b = 0; b < size; b++) {
      let s = 0;
      for (let c = 0; c < side; c++) s += tmp[a * side + c]! * R[b * side + c]!;
      out[a * size + b] = Math.min(1, Math.max(-1, (2 * s) / m.p - 1));
    }
  }
  return out;
}

/**
 * Model-space slices (rows as in `sliceToModel`) back onto the input grid and intensity units:
 * bilinear at each voxel centre inside the crop square, 0 elsewhere. `slices[k]` is slice A + k.
 */
export function modelToVolume(slices: Float32Array, A: number, count: number, like: Volume, m: SliceMapping): Float32Array {
  const [X, Y, Z] = like.dims as [number, number, number];
  const out = new Float32Array(X * Y * Z);
  const { size, side, x0, y0, p } = m;
  const s = side / size, n2 = size * size;
  const coord = (t: number): [number, number, number] => {
    const u = Math.min(size - 1, Math.max(0, (t + 0.5) / s - 0.5));
    const i0 = Math.min(size - 2, Math.floor(u));
    return [i0, i0 + 1, u - i0];
  };
  const cols = Array.from({ length: X }, (_, x) => coord(x - x0));
  const rows = Array.from({ length: Y }, (_, y) => coord(y0 + side - 1 - y));
  for (let k = 0; k < count; k++) {
    const z = A + k, img = slices.subarray(k * n2, (k + 1) * n2);
    for (let y = 0; y < Y; y++) {
      if (y < y0 || y >= y0 + side) continue;
      const [a0, a1, fa] = rows[y]!;
      const off = X * (y + Y * z);
      for (let x = 0; x < X; x++) {
        if (x < x0 || x >= x0 + side) continue;
        const [b0, b1, fb] = cols[x]!;
        const v =
          (1 - fa) * ((1 - fb) * img[a0 * size + b0]! + fb * img[a0 * size + b1]!) +
          fa * ((1 - fb) * img[a1 * size + b0]! + fb * img[a1 * size + b1]!);
        out[off + x] = ((v + 1) * p) / 2;
      }
    }
  }
  return out;
}

/** The affine of the model-space stack (see the file comment): input affine times the crop/resize map. */
export function modelStackAffine(inputAffine: number[][], m: SliceMapping, A: number): number[][] {
  const s = m.side / m.size;
  const M = [
    [s, 0, 0, m.x0 - 0.5 + 0.5 * s],
    [0, s, 0, m.y0 - 0.5 + 0.5 * s],
    [0, 0, 1, A],
    [0, 0, 0, 1],
  ];
  return inputAffine.map((row) => M[0]!.map((_, j) => row.reduce((acc, v, k) => acc + v * M[k]![j]!, 0)));
}

/** Model stack [count][row][col] -> NIfTI voxel order (i = col, j = size - 1 - row, k). */
function stackToNiftiOrder(stack: Float32Array, size: number, count: number): Float32Array {
  const out = new Float32Array(stack.length);
  for (let k = 0; k < count; k++) {
    for (let r = 0; r < size; r++) {
      const j = size - 1 - r;
      for (let c = 0; c < size; c++) out[c + size * (j + size * k)] = stack[(k * size + r) * size + c]!;
    }
  }
  return out;
}

// ------------------------------------------------------------------------------ z-TV

/**
 * Exact 1-D TV denoising (L. Condat, "A direct algorithm for 1D total variation denoising",
 * IEEE SPL 2013): out = argmin_u 1/2 ||u - v||^2 + lambda sum_k |u_{k+1} - u_k|, in O(n) typical
 * time, by following the taut string. `v` and `out` have length n (they may not alias).
 */
export function tv1dDenoise(v: ArrayLike<number>, out: Float64Array, n: number, lambda: number): void {
  if (n <= 0) return;
  if (lambda <= 0) {
    for (let i = 0; i < n; i++) out[i] = v[i]!;
    return;
  }
  let k = 0, k0 = 0, kplus = 0, kminus = 0;
  let umin = lambda, umax = -lambda;
  let vmin = v[0]! - lambda, vmax = v[0]! + lambda;
  const twoLambda = 2 * lambda, minLambda = -lambda;
  for (;;) {
    while (k === n - 1) {
      if (umin < 0) {
        do out[k0++] = vmin; while (k0 <= kminus);
        k = kminus = k0;
        vmin = v[k]!;
        umin = lambda;
        umax = vmin + umin - vmax;
      } else if (umax > 0) {
        do out[k0++] = vmax; while (k0 <= kplus);
        k = kplus = k0;
        vmax = v[k]!;
        umax = minLambda;
        umin = vmax + umax - vmin;
      } else {
        vmin += umin / (k - k0 + 1);
        do out[k0++] = vmin; while (k0 <= k);
        return;
      }
    }
    umin += v[k + 1]! - vmin;
    if (umin < minLambda) {
      do out[k0++] = vmin; while (k0 <= kminus);
      k = kplus = kminus = k0;
      vmin = v[k]!;
      vmax = vmin + twoLambda;
      umin = lambda;
      umax = minLambda;
      continue;
    }
    umax += v[k + 1]! - vmax;
    if (umax > lambda) {
      do out[k0++] = vmax; while (k0 <= kplus);
      k = kplus = kminus = k0;
      vmax = v[k]!;
      vmin = vmax - twoLambda;
      umin = lambda;
      umax = minLambda;
      continue;
    }
    k++;
    if (umin >= lambda) {
      kminus = k;
      vmin += (umin - lambda) / (kminus - k0 + 1);
      umin = lambda;
    }
    if (umax <= minLambda) {
      kplus = k;
      vmax += (umax + lambda) / (kplus - k0 + 1);
      umax = minLambda;
    }
  }
}

/**
 * prox of lambda * TV along z, in place, for a stack [nz][plane]: every in-plane position's
 * column u in R^nz becomes argmin_u 1/2 ||u - v||^2 + lambda sum_k |u_{k+1} - u_k| (exact, by
 * Condat's direct algorithm).
 */
export function tvProxZ(stack: Float32Array, nz: number, plane: number, lambda: number): void {
  if (nz < 2 || lambda <= 0) return;
  const v = new Float64Array(nz), u = new Float64Array(nz);
  for (let i = 0; i < plane; i++) {
    for (let k = 0; k < nz; k++) v[k] = stack[k * plane + i]!;
    tv1dDenoise(v, u, nz, lambda);
    for (let k = 0; k < nz; k++) stack[k * plane + i] = u[k]!;
  }
}

/** The same prox by accelerated projected gradient on the dual (FISTA, step 1/4): a reference for tests. */
export function tv1dDual(v: ArrayLike<number>, n: number, lambda: number, iters: number): Float64Array {
  const u = new Float64Array(n), p = new Float64Array(Math.max(0, n - 1)), q = new Float64Array(p.length), prev = new Float64Array(p.length);
  const primal = (d: Float64Array) => {
    for (let k = 0; k < n; k++) u[k] = v[k]! - ((k > 0 ? d[k - 1]! : 0) - (k < n - 1 ? d[k]! : 0));
  };
  let t = 1;
  for (let it = 0; it < iters; it++) {
    primal(q);
    prev.set(p);
    for (let k = 0; k < n - 1; k++) p[k] = Math.min(lambda, Math.max(-lambda, q[k]! + 0.25 * (u[k + 1]! - u[k]!)));
    const tn = (1 + Math.sqrt(1 + 4 * t * t)) / 2, w = (t - 1) / tn;
    for (let k = 0; k < n - 1; k++) q[k] = p[k]! + w * (p[k]! - prev[k]!);
    t = tn;
  }
  primal(p);
  return u;
}

// ------------------------------------------------------------------------------ the solve

export type Modality = 'mri' | 'ct';

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
  /** Slices [A, B) along the third axis (default: all). */
  slices?: [number, number];
  /** Worker threads (default os.availableParallelism(), at most the number of batches). */
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
  /** mask active: the acquired columns of each slice (sorted) and the order the criterion chose them in. */
  lines?: SliceLines[];
}

export interface ReconstructResult extends RunFigures {
  /** On the input grid, in input intensity units (same dims and affine as the input). */
  volume: Volume;
  /** The model-space result, 64 x 64 x slices, on the resampled grid (exact, no interpolation). */
  modelStack: Volume;
  /** Model-space truth slices (normalised) [count, 1, 64, 64]. */
  truth: Tensor;
  mapping: SliceMapping;
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

/** What a worker (or the in-process path) needs to solve batches of slices. */
export interface ChunkContext {
  modelDir: string;
  threads: number;
  solver: string;
  steps: number;
  params: Partial<ParamValues>;
  opSpec: string;
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
}

export interface ChunkResult {
  x: Float32Array;
  /** Network evaluations per slice, and batched model calls of the whole job. */
  nfe: number;
  calls: number;
  /** mask active: acquired columns [count, W] and the acquisition order [count, budget - centre lines]. */
  columns?: Uint8Array;
  order?: Int32Array;
}

export interface ChunkSolver {
  solve(job: ChunkJob, onStep: (step: number) => void): Promise<ChunkResult>;
  release(): Promise<void>;
}

/** Load the model and build the operator once; solve batches of slices with seeds by slice index. */
export async function chunkSolver(ctx: ChunkContext): Promise<ChunkSolver> {
  const model = await OnnxDenoiser.load(ctx.modelDir, { threads: ctx.threads, backend: 'cpu' });
  if (ctx.active) return activeChunkSolver(model, ctx, ctx.active);
  const op = parseOperatorSpec(ctx.opSpec, model.itemShape);
  const solver = solverByName(ctx.solver);
  const grid = makeGrid(model.path, defaultGridSpec(model.path, ctx.steps));
  return {
    async solve(job, onStep) {
      const y = new Tensor([job.count, ...op.outShape], job.y);
      // Batch item b is global sample start + b: the noise of slice z depends on (seed, z) only.
      const xT = initialState(new NoiseSource(ctx.seed, job.start).normal([job.count, ...op.inShape], 0, Stream.init), grid[0]!);
      const r = await runSolver(solver, model, grid, op, y, xT, {
        noise: new NoiseSource(ctx.seed, job.start),
        params: ctx.params,
        onStep: (info) => onStep(info.step),
      });
      const x = r.x.data instanceof Float32Array ? r.x.data : Float32Array.from(r.x.data);
      for (let i = 0; i < x.length; i++) {
        if (!Number.isFinite(x[i]!)) fail('NAN_IN_MODEL', `${ctx.solver} returned a non-finite value for slice ${job.start + Math.floor(i / op.inShape.reduce((a, b) => a * b, 1))}; try more --steps or another --solver`);
      }
      return { x, nfe: r.nfe, calls: r.nfe };
    },
    release: () => model.release(),
  };
}

/** mask active: each slice of a job is its own active run (own mask), reading lines from its full scan. */
function activeChunkSolver(model: OnnxDenoiser, ctx: ChunkContext, a: NonNullable<ChunkContext['active']>): ChunkSolver {
  const [, h, w] = model.itemShape as [number, number, number];
  const n2 = h * w, picks = a.budget - a.centerLines;
  return {
    async solve(job, onStep) {
      const x = new Float32Array(job.count * n2), columns = new Uint8Array(job.count * w), order = new Int32Array(job.count * picks);
      let calls = 0, nfe = 0;
      for (let i = 0; i < job.count; i++) {
        const r = await activeSubsampling({
          denoiser: model, kspace: new Tensor([1, 1, h, w, 2], job.y.subarray(i * n2 * 2, (i + 1) * n2 * 2)),
          budget: a.budget, centerLines: a.centerLines, particles: a.particles, steps: ctx.steps, solver: ctx.solver, params: ctx.params,
          noiseSigma: a.noise, seed: ctx.seed, firstSample: (job.start + i) * a.particles,
          onStep: (info) => onStep(Math.floor((i * ctx.steps + info.step) / job.count)),
        });
        x.set(r.x.data, i * n2);
        columns.set(r.columns, i * w);
        order.set(r.order, i * picks);
        calls += r.nfe;
        nfe = r.nfe;
      }
      return { x, nfe, calls, columns, order };
    },
    release: () => model.release(),
  };
}

/** The operator spec string for a modality. */
export function operatorSpec(o: Pick<ReconstructOptions, 'modality' | 'acceleration' | 'mask' | 'maskFile' | 'views' | 'noise'>): string {
  const noise = o.noise ?? 0.01;
  if (o.modality === 'mri' && o.maskFile !== undefined) {
    if (/[,=]/.test(o.maskFile)) fail('USAGE', `--mask-file ${o.maskFile}: the path may not contain ',' or '='; rename or move the file`);
    return `mri:mask=${o.maskFile},noise=${noise}`;
  }
  if (o.modality === 'mri') {
    const accel = o.acceleration ?? 4;
    return `mri:accel=${accel},mask=${o.mask ?? 'equispaced'},acs=${accel < 8 ? 0.08 : 0.04},noise=${noise}`;
  }
  if (o.modality === 'ct') return `ct:views=${o.views ?? 30},noise=${noise}`;
  return fail('USAGE', `unknown modality "${String(o.modality)}"; use mri or ct`);
}

type WorkerMsg =
  | { type: 'ready' }
  | { type: 'step'; id: number; step: number }
  | ({ type: 'done'; id: number } & ChunkResult)
  | { type: 'error'; code?: ErrorCode; message: string };

/** Run jobs on `workers` worker threads (each its own ONNX session), or in-process for 1. */
async function runJobs(ctx: ChunkContext, jobs: ChunkJob[], workers: number, onStep: (id: number, step: number) => void): Promise<Map<number, ChunkResult>> {
  const results = new Map<number, ChunkResult>();
  if (workers <= 1) {
    const s = await chunkSolver(ctx);
    try {
      for (const job of jobs) results.set(job.id, await s.solve(job, (step) => onStep(job.id, step)));
    } finally {
      await s.release();
    }
    return results;
  }
  const url = new URL('./worker.js', import.meta.url);
  // Workers inherit the parent's execArgv; --input-type (a parent started with node -e) breaks a file entry.
  const execArgv = process.execArgv.filter((a) => !a.startsWith('--input-type') && !a.startsWith('--eval') && a !== '-e');
  const queue = [...jobs];
  const pool: Worker[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      let failed = false;
      const finish = (e?: unknown) => {
        if (failed) return;
        if (e) {
          failed = true;
          reject(e);
        } else if (results.size === jobs.length) resolve();
      };
      const feed = (w: Worker) => {
        const job = queue.shift();
        if (!job) return;
        w.postMessage({ type: 'job', job });
      };
      for (let i = 0; i < workers; i++) {
        const w = new Worker(url, { workerData: ctx, execArgv });
        pool.push(w);
        w.on('message', (m: WorkerMsg) => {
          if (m.type === 'ready') feed(w);
          else if (m.type === 'step') onStep(m.id, m.step);
          else if (m.type === 'done') {
            const { type: _type, id, ...r } = m;
            results.set(id, r);
            feed(w);
            finish();
          } else if (m.type === 'error') finish(m.code ? new TweedieError(m.code, m.message) : new Error(m.message));
        });
        w.on('error', (e) => finish(e));
        w.on('exit', (code) => {
          if (code !== 0 && results.size < jobs.length) finish(new Error(`reconstruct worker ${i} exited with code ${code}`));
        });
      }
    });
  } finally {
    await Promise.all(pool.map((w) => w.terminate()));
  }
  return results;
}

/** The prior's item shape [1, S, S] and value range, from its tweedie.json (loading a session here would be wasted). */
function modelSpec(modelDir: string): { item: number[]; range: [number, number] } {
  const spec = JSON.parse(readFileSync(join(modelDir, 'tweedie.json'), 'utf8')) as { shape?: number[]; value_range?: [number, number] };
  const item = spec.shape ?? [1, 64, 64];
  if (item.length !== 3 || item[0] !== 1 || item[1] !== item[2]) fail('UNSUPPORTED', `${modelDir}: reconstruct needs a square single-channel prior, this one takes [${item.join(', ')}]`);
  return { item, range: spec.value_range ?? [-1, 1] };
}

/** mask active: lines per slice (round(W / acceleration)) and centre lines, checked before any work. */
function activeSettings(o: ReconstructOptions, w: number): NonNullable<ChunkContext['active']> {
  checkActiveSolver(o.solver);
  const accel = o.acceleration ?? 4;
  const budget = Math.round(w / accel), centerLines = roundHalfEven(w * defaultCenterFraction(accel));
  if (budget < centerLines) fail('USAGE', `--mask active --acceleration ${accel}: ${budget} lines of ${w} are fewer than the ${centerLines} centre lines it starts from; lower --acceleration`);
  acquisitionSteps(budget - centerLines, o.steps, ACTIVE_WINDOW);
  const particles = o.particles ?? 8;
  if (!Number.isInteger(particles) || particles < 1) fail('USAGE', `--particles must be an integer >= 1, got ${particles}`);
  return { budget, centerLines, particles, noise: o.noise ?? 0.01 };
}

/** The operator that measures every slice (for mask active: the fully sampled scan) and its spec for the workers. */
function measurementOperator(o: ReconstructOptions, item: number[], active: boolean): { op: Operator; spec: string } {
  if (!active) {
    const spec = operatorSpec(o);
    return { op: parseOperatorSpec(spec, item), spec };
  }
  const n = item[1]! * item[2]!;
  return { op: new MRIOperator(item, { mask: new Uint8Array(n).fill(1), noiseSigma: o.noise ?? 0.01, label: 'fully sampled scan' }), spec: '' };
}

/** --measurement: the file's data as [count, ...outShape]; mask active needs a full scan. */
function checkedMeasurement(o: ReconstructOptions, op: Operator, count: number, active: boolean): Tensor {
  const y = measurementForOperator(o.measurement!, op, o.measurementName ?? 'data');
  if (y.batch !== count) fail('BAD_SHAPE', `--measurement holds ${y.batch} slices but ${count} are reconstructed; give one item per slice (or pick --slices to match)`);
  if (active) {
    const [, h, w] = op.outShape as [number, number, number];
    for (let k = 0; k < count; k++) {
      const empty = emptyColumns(y, k, h, w);
      if (empty.length > 0) fail('BAD_INPUT', `--mask active reads its lines from a fully sampled k-space, but slice ${k} of --measurement has ${empty.length} empty columns (${empty.slice(0, 5).join(', ')}...); give the full scan, or use a fixed mask (--mask-file or --acceleration with --mask equispaced)`);
    }
  }
  return y;
}

interface SolvedStack {
  /** Model-space result [count * S * S] after z-TV and clipping, and before z-TV. */
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
  lines?: SliceLines[];
}

/** Solve slices A.. from y ([count, ...op.outShape]) on worker threads, couple them by z-TV and clip to the prior's range. */
async function solveStack(o: ReconstructOptions, model: { item: number[]; range: [number, number] }, meas: { op: Operator; spec: string }, y: Tensor, A: number, active?: ChunkContext['active']): Promise<SolvedStack> {
  const { item } = model, { op } = meas;
  const count = y.batch, size = item[1]!, n2 = size * size, outItem = shapeSize(op.outShape);
  const tvZ = o.tvZ ?? 0.05, tvIters = o.tvIters ?? 2;
  if (!(tvZ >= 0) || !Number.isInteger(tvIters) || tvIters < 0) fail('USAGE', `tvZ must be a number >= 0 and tvIters an integer >= 0 (got ${tvZ}, ${tvIters})`);
  const solver = solverByName(o.solver);
  if (solver.needs.noPrior) fail('USAGE', `--solver ${solver.name} is a baseline without a prior; use a diffusion solver (dds, ddnm, ddrm, diffpir, score-sde)`);
  if (solver.needs.svd && !op.svd) fail('UNSUPPORTED', `solver ${solver.name} needs the operator's SVD, which ${op.name} does not provide; use dds or diffpir`);
  if (solver.needs.gradients) fail('UNSUPPORTED', `solver ${solver.name} needs gradients of the denoiser, which an ONNX prior cannot give; use ddnm, ddrm, dds or diffpir`);
  const yData = y.data instanceof Float32Array ? y.data : Float32Array.from(y.data);
  const batch = Math.max(1, o.batch ?? 4);
  const jobs: ChunkJob[] = [];
  for (let s = 0; s < count; s += batch) {
    const c = Math.min(batch, count - s);
    jobs.push({ id: jobs.length, start: A + s, count: c, y: yData.slice(s * outItem, (s + c) * outItem) });
  }
  const workers = Math.max(1, Math.min(o.workers ?? availableParallelism(), jobs.length));
  const ctx: ChunkContext = { modelDir: o.modelDir, threads: o.threads ?? 1, solver: solver.name, steps: o.steps, params: o.params ?? {}, opSpec: meas.spec, seed: o.seed ?? 0, ...(active ? { active } : {}) };
  const stepsDone = new Array<number>(jobs.length).fill(0);
  const total = count * o.steps;
  const results = await runJobs(ctx, jobs, workers, (id, step) => {
    stepsDone[id] = Math.min(o.steps, step);
    const done = stepsDone.reduce((acc, s, i) => acc + s * jobs[i]!.count, 0);
    const slicesDone = stepsDone.reduce((acc, s, i) => acc + (s >= o.steps ? jobs[i]!.count : 0), 0);
    o.onProgress?.(done, total, slicesDone);
  });
  let nfe = 0, calls = 0;
  const recon = new Float32Array(count * n2);
  const columns = new Uint8Array(count * size), lines: SliceLines[] = [];
  for (const job of jobs) {
    const r = results.get(job.id)!;
    recon.set(r.x, (job.start - A) * n2);
    nfe = Math.max(nfe, r.nfe);
    calls += r.calls;
    if (active && r.columns && r.order) {
      columns.set(r.columns, (job.start - A) * size);
      const picks = active.budget - active.centerLines;
      for (let i = 0; i < job.count; i++) {
        const c = r.columns.subarray(i * size, (i + 1) * size);
        lines.push({ z: job.start + i, columns: [...c.keys()].filter((j) => c[j]), order: [...r.order.subarray(i * picks, (i + 1) * picks)] });
      }
    }
  }
  o.onProgress?.(total, total, count);
  // Each slice's own operator and measurement: with mask active, its acquired lines of the full scan.
  const sliceOp = (k: number): Operator =>
    active ? new MRIOperator(item, { mask: lineMask2D(columns.subarray(k * size, (k + 1) * size), size), noiseSigma: active.noise, label: `active ${active.budget} lines` }) : op;
  const sliceY = (k: number): Tensor => {
    const yk = new Tensor([1, ...op.outShape], yData.slice(k * outItem, (k + 1) * outItem));
    return active ? maskKspace(yk, columns.subarray(k * size, (k + 1) * size)).reshape([1, ...op.outShape]) : yk;
  };
  const beforeTv = recon.slice();

  // Couple the slices: z-TV prox alternated with per-slice data consistency.
  if (tvZ > 0 && count > 1) {
    for (let it = 0; it < tvIters; it++) {
      tvProxZ(recon, count, n2, tvZ);
      // argmin ||Ax - y||^2 / (2 sigma^2) + rho/2 ||x - v||^2 with rho = 1 / sigma^2: measured
      // components move halfway back towards y, the null space keeps the z-TV result. Closed
      // form for MRI, a few CG iterations otherwise; noiseless data use sigma = 0.01 here.
      const sigma = op.noiseSigma > 0 ? op.noiseSigma : 0.01;
      for (let k = 0; k < count; k++) {
        const xk = new Tensor([1, ...item], recon.subarray(k * n2, (k + 1) * n2));
        recon.set(proxDataConsistency(sliceOp(k), xk, sliceY(k), 1 / (sigma * sigma), sigma, { tol: 1e-6, maxIter: 30 }).data, k * n2);
      }
    }
  }
  // The prior's value range (training data were clipped to it): clip the result to it.
  const [lo, hi] = model.range;
  for (let i = 0; i < recon.length; i++) recon[i] = Math.min(hi, Math.max(lo, recon[i]!));
  const baseline = o.modality === 'mri' ? 'zero-filled' : 'fbp';
  const base = new Tensor([count, ...item]);
  for (let k = 0; k < count; k++) {
    const b = await runSolver(solverByName(baseline), null, [], sliceOp(k), sliceY(k), Tensor.zeros([1, ...item]));
    base.data.set(b.x.data, k * n2);
  }
  const operator = active ? `mri(active: ${active.budget} of ${size} lines from ${active.centerLines} centre lines, ${active.particles} particles, noise ${active.noise})` : op.name;
  return { recon, beforeTv, base, baseline, operator, nfe, calls, workers, batch, ...(active ? { lines } : {}) };
}

/** Reconstruct slices of a 3-D volume (see the file comment). */
export async function reconstructVolume(input: Volume, o: ReconstructOptions): Promise<ReconstructResult> {
  const t0 = performance.now();
  const vol = requireVolume3D(input);
  const [X, Y, Z] = vol.dims as [number, number, number];
  const name = vol.source ?? 'volume';
  const model = modelSpec(o.modelDir), item = model.item, size = item[1]!;
  const mapping = sliceMapping(vol, size, readSplit(o.modelDir, o.splitFallback));
  const [A, B] = o.slices ?? [0, Z];
  if (!(Number.isInteger(A) && Number.isInteger(B) && 0 <= A && A < B && B <= Z)) {
    fail('USAGE', `--slices ${A}:${B} is outside ${name}'s third axis 0..${Z} (give A:B with 0 <= A < B <= ${Z})`);
  }
  const count = B - A, n2 = size * size;
  const active = o.modality === 'mri' && o.mask === 'active' ? activeSettings(o, size) : undefined;
  const R = areaMatrix(mapping.side, size);
  const truth = new Tensor([count, 1, size, size]);
  for (let k = 0; k < count; k++) truth.data.set(sliceToModel(vol, mapping, A + k, R), k * n2);

  const meas = measurementOperator(o, item, active !== undefined), op = meas.op;
  const seed = o.seed ?? 0;
  let yT: Tensor;
  if (o.measurement) yT = checkedMeasurement(o, op, count, active !== undefined);
  else {
    // Measurements, seeded per slice: slice z is sample z of the measurement noise.
    const outItem = shapeSize(op.outShape);
    yT = new Tensor([count, ...op.outShape]);
    for (let k = 0; k < count; k++) yT.data.set(op.measure(truth.sliceBatch(k, k + 1), new NoiseSource(seed, A + k)).data, k * outItem);
  }
  const st = await solveStack(o, model, meas, yT, A, active);
  const recon = st.recon, reconT = new Tensor([count, 1, size, size], recon);
  const beforeTv = new Tensor([count, 1, size, size], st.beforeTv);

  // Figures against the truth slices in model space (data range 2).
  const base = st.base;
  const pr = psnr(reconT, truth, 2), sr = ssim(reconT, truth, { dataRange: 2 });
  const pb = psnr(base, truth, 2), sb = ssim(base, truth, { dataRange: 2 });
  const p0 = psnr(beforeTv, truth, 2);
  const mean = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v, 0) / a.length;
  const volPsnr = (x: Tensor) => {
    let se = 0;
    for (let i = 0; i < x.size; i++) se += (x.data[i]! - truth.data[i]!) ** 2;
    return 10 * Math.log10(4 / (se / x.size));
  };
  const per_slice: SliceFigures[] = Array.from({ length: count }, (_, k) => ({
    z: A + k, psnr: pr[k]!, ssim: sr[k]!, psnr_baseline: pb[k]!, ssim_baseline: sb[k]!, psnr_before_tv: p0[k]!,
  }));

  // The input's geometry (header cloned: writeNifti(out, volume) or with { like: input } agree).
  const volume: Volume = {
    data: modelToVolume(recon, A, count, vol, mapping), dims: [X, Y, Z], voxelSize: vol.voxelSize.slice(0, 3),
    affine: vol.affine.map((r) => [...r]), header: cloneHeader(vol.header), source: `reconstruct(${name})`,
  };
  const modelStack = createVolume(stackToNiftiOrder(recon, size, count), [size, size, count], {
    affine: modelStackAffine(vol.affine, mapping, A),
    xformCode: vol.header.sform_code || vol.header.qform_code || 2,
    descrip: `tweedie model space ${size}x${size}`,
  });
  return {
    volume, modelStack, truth, mapping, slices: [A, B], operator: st.operator, solver: o.solver, baseline: st.baseline,
    steps: o.steps, nfe: st.nfe, model_calls: st.calls, workers: st.workers, batch: st.batch, seconds: (performance.now() - t0) / 1000,
    psnr: volPsnr(reconT), ssim: mean(sr), psnr_baseline: volPsnr(base), ssim_baseline: mean(sb), per_slice, ...(st.lines ? { lines: st.lines } : {}),
  };
}

export interface MeasuredResult extends RunFigures {
  /** The model-space result, S x S x Z, with a 1 mm grid (no input geometry is known). */
  modelStack: Volume;
}

/** Reconstruct measured data (o.measurement, one item per slice) without a ground-truth volume. */
export async function reconstructMeasured(o: ReconstructOptions): Promise<MeasuredResult> {
  const t0 = performance.now();
  if (!o.measurement) fail('USAGE', 'reconstruct needs --input VOL.nii.gz (simulated data) or --measurement FILE.npy');
  const model = modelSpec(o.modelDir), item = model.item, size = item[1]!;
  const active = o.modality === 'mri' && o.mask === 'active' ? activeSettings(o, size) : undefined;
  const meas = measurementOperator(o, item, active !== undefined);
  const count = measurementForOperator(o.measurement, meas.op, o.measurementName ?? 'data').batch;
  const y = checkedMeasurement(o, meas.op, count, active !== undefined);
  const st = await solveStack(o, model, meas, y, 0, active);
  const modelStack = createVolume(stackToNiftiOrder(st.recon, size, count), [size, size, count], { descrip: `tweedie model space ${size}x${size}` });
  return {
    modelStack, operator: st.operator, solver: o.solver, baseline: st.baseline, steps: o.steps, nfe: st.nfe, model_calls: st.calls,
    workers: st.workers, batch: st.batch, seconds: (performance.now() - t0) / 1000, ...(st.lines ? { lines: st.lines } : {}),
  };
}

/** Normalised ch2 slices straight from a volume (for tests and benches). */
export function modelSlices(vol: Volume, m: SliceMapping, zs: number[]): Tensor {
  const n2 = m.size * m.size, R = areaMatrix(m.side, m.size);
  const t = new Tensor([zs.length, 1, m.size, m.size]);
  zs.forEach((z, k) => t.data.set(sliceToModel(vol, m, z, R), k * n2));
  return t;
}
