import { fail } from '../core/errors.js';
import { NoiseSource, Stream } from '../core/rng.js';
import { Tensor } from '../core/tensor.js';
import type { Denoiser } from '../models/denoiser.js';
import { sizeRule, takesItems } from '../models/layout.js';
import type { GradientChoice } from '../models/derivatives.js';
import { initialState } from '../samplers/run.js';
import { runGrid, startNoise } from '../samplers/start.js';
import type { ParamValues } from '../samplers/types.js';
import { MRIOperator } from './operators/mri.js';
import { centerRange, lineMask2D } from './operators/mri-masks.js';
import { reflectCentered } from './operators/fourier.js';
import { solverByName } from './solvers/registry.js';
import { batchMeasurement, runSolver } from './solvers/run.js';

/**
 * Active Diffusion Subsampling (Nolan, Stevens, van Sloun et al. 2024, "Active Diffusion
 * Subsampling"; active-diffusion-subsampling/ads) for single-coil Cartesian MRI of real images.
 *
 * A posterior sampler runs with P particles (batch items conditioned on the same measurement),
 * starting from the fully sampled centre lines. At evenly spaced steps of a sampling window the
 * k-space column l that the particles' x0 estimates disagree on most is acquired: l maximises
 *   H(l) = sum_i log sum_j exp(||A_l (x0_i - x0_j)||^2 / (2 sigma^2))
 * over columns not yet acquired (A_l: column l of the centered orthonormal FFT), the entropy of a
 * Gaussian mixture centred on the particles' predicted measurements (paper eq. 9-11). The line is
 * then read from the fully sampled noisy k-space (a retrospective scan) and sampling continues
 * with the larger mask. The solver is run segment by segment between acquisitions, so it must be
 * memoryless from step to step (ddnm, dds, and dps, the guidance of the paper); each segment draws
 * its own noise. The particles end with hard data consistency on the acquired lines, and their mean
 * is the reconstruction.
 */

/** Solvers whose state is only the current sample, so a run can be split where the mask grows. */
export const ACTIVE_SOLVERS: readonly string[] = ['ddnm', 'dds', 'dps'];

/** Default acquisition window, fractions [start, stop) of the steps. */
export const ACTIVE_WINDOW: [number, number] = [0.1, 0.5];

/** Active sampling needs a solver from ACTIVE_SOLVERS; anything else is a usage error naming the fix. */
export function checkActiveSolver(name: string): void {
  if (!ACTIVE_SOLVERS.includes(name)) {
    fail('USAGE', `active sampling (--mask active) chooses lines while sampling and works with solver ${ACTIVE_SOLVERS.join(', ')} only (a run whose state is the current sample, so it can be split where the mask grows), not ${name}; use --solver dps (the paper's guidance), ddnm or dds, or a fixed --mask equispaced|random|poisson with ${name}`);
  }
}

export interface LineSamplingOptions {
  /** The prior on real single-channel images [1, H, W]. */
  denoiser: Denoiser;
  /** Fully sampled noisy k-space of one slice, [1, 1, H, W, 2] or [1, H, W, 2] ((re, im) last, fft2c layout). */
  kspace: Tensor;
  /** Particles (posterior samples per slice; default 8). */
  particles?: number;
  /** Diffusion steps (default 50). */
  steps?: number;
  /** Posterior solver: one of ACTIVE_SOLVERS (default ddnm). */
  solver?: string;
  params?: Partial<ParamValues>;
  /** dps: how the denoiser is differentiated (default 'auto'). */
  gradient?: GradientChoice;
  /** k-space noise standard deviation, for the solver's data term (default 0). */
  noiseSigma?: number;
  seed?: number;
  /** Global sample index of particle 0, so that different slices draw different noise (default 0). */
  firstSample?: number;
  onStep?: (info: { step: number; steps: number; lines: number }) => void;
  signal?: AbortSignal;
}

export interface ActiveOptions extends LineSamplingOptions {
  /** Lines (k-space columns) at the end, centre included. */
  budget: number;
  /** Fully sampled centre lines the run starts from. */
  centerLines: number;
  /** Acquisition window as fractions [start, stop) of the steps (default ACTIVE_WINDOW). */
  window?: [number, number];
  /** Kernel width sigma of the entropy, in units of the orthonormal k-space (default 1). */
  sigma?: number;
}

export interface LineSamplingResult {
  /** Mean of the particles after hard data consistency: [1, 1, H, W]. */
  x: Tensor;
  /** The particles [P, 1, H, W]. */
  particles: Tensor;
  /** 1 for every acquired column, length W. */
  columns: Uint8Array;
  /** Columns acquired by the active criterion, in order (empty for a fixed mask). */
  order: number[];
  /** Steps after which each of `order` was acquired. */
  acquiredAt: number[];
  nfe: number;
  seconds: number;
}

/** Image size [H, W] of a k-space tensor [1, 1, H, W, 2] or [1, H, W, 2]. */
function kspaceSize(kspace: Tensor): [number, number] {
  const s = kspace.shape;
  const ok = s[s.length - 1] === 2 && s.slice(0, -3).every((d) => d === 1) && s.length >= 4 && s.length <= 5;
  if (!ok) fail('BAD_SHAPE', `k-space of shape [${s.join(', ')}]: give one slice [1, H, W, 2] (or [1, 1, H, W, 2]) with (re, im) last`);
  return [s[s.length - 3]!, s[s.length - 2]!];
}

/** The measurement of `columns`: the k-space with every other column zeroed, [1, 1, H, W, 2]. */
export function maskKspace(kspace: Tensor, columns: ArrayLike<number>): Tensor {
  const [h, w] = kspaceSize(kspace);
  const y = Tensor.zeros([1, 1, h, w, 2], kspace.dtype);
  for (let i = 0; i < h; i++) {
    for (let j = 0; j < w; j++) {
      if (!columns[j]) continue;
      const k = 2 * (i * w + j);
      y.data[k] = kspace.data[k]!;
      y.data[k + 1] = kspace.data[k + 1]!;
    }
  }
  return y;
}

/**
 * H(l) for every column l: particles [P, C, H, W] (real images), kernel width sigma. Columns where all
 * particles agree score P log P; the score grows with their spread in k-space (see the module comment).
 */
export function columnEntropy(particles: Tensor, sigma: number): Float64Array {
  if (!(sigma > 0) || !Number.isFinite(sigma)) fail('BAD_CONFIG', `active sampling: entropy sigma must be a number > 0, got ${sigma}`);
  if (particles.shape.length !== 4) fail('BAD_SHAPE', `active sampling: particles must be [P, C, H, W], got [${particles.shape.join(', ')}]`);
  const [P, c, h, w] = particles.shape as [number, number, number, number];
  const full = new MRIOperator([c, h, w], { mask: new Uint8Array(h * w).fill(1), label: 'full' });
  const k = full.forward(particles.toDtype('float64')).data; // [P, C, H, W, 2]
  const item = c * h * w * 2, inv = 1 / (2 * sigma * sigma);
  const d = new Float64Array(P * P * w); // d[(i P + j) w + l] = ||A_l (x_i - x_j)||^2
  for (let i = 0; i < P; i++) {
    for (let jj = i + 1; jj < P; jj++) {
      const row = (i * P + jj) * w;
      for (let r = 0; r < c * h; r++) {
        for (let l = 0; l < w; l++) {
          const a = i * item + 2 * (r * w + l), b = jj * item + 2 * (r * w + l);
          const dr = k[a]! - k[b]!, di = k[a + 1]! - k[b + 1]!;
          d[row + l] += dr * dr + di * di;
        }
      }
      for (let l = 0; l < w; l++) d[(jj * P + i) * w + l] = d[row + l]!;
    }
  }
  const score = new Float64Array(w);
  for (let l = 0; l < w; l++) {
    let total = 0;
    for (let i = 0; i < P; i++) {
      let max = -Infinity;
      for (let j = 0; j < P; j++) max = Math.max(max, d[(i * P + j) * w + l]! * inv);
      let s = 0;
      for (let j = 0; j < P; j++) s += Math.exp(d[(i * P + j) * w + l]! * inv - max);
      total += max + Math.log(s);
    }
    score[l] = total;
  }
  return score;
}

/** The column with the largest entropy among those with taken[l] = 0 (the lowest index on ties). */
export function selectColumn(particles: Tensor, taken: ArrayLike<number>, sigma: number): number {
  const score = columnEntropy(particles, sigma);
  if (taken.length !== score.length) fail('BAD_SHAPE', `active sampling: ${taken.length} mask columns but the particles have ${score.length}`);
  let best = -1;
  for (let l = 0; l < score.length; l++) if (!taken[l] && (best < 0 || score[l]! > score[best]!)) best = l;
  if (best < 0) fail('BAD_CONFIG', 'active sampling: every column is already acquired; lower the budget');
  return best;
}

/** Steps (1..steps-1) after which the n acquisitions happen: evenly spaced over the window [start, stop). */
export function acquisitionSteps(n: number, steps: number, window: [number, number]): number[] {
  const [a, b] = window;
  if (!(a >= 0 && a < b && b <= 1)) fail('BAD_CONFIG', `active sampling window [${a}, ${b}] must satisfy 0 <= start < stop <= 1 (fractions of the steps)`);
  if (n === 0) return [];
  const s0 = Math.max(1, Math.round(a * steps)), s1 = Math.min(steps - 1, Math.round(b * steps));
  if (s1 - s0 < n) {
    fail('BAD_CONFIG', `active sampling: ${n} lines to acquire but the window [${a}, ${b}] of ${steps} steps holds only ${Math.max(0, s1 - s0)} acquisition steps (one line per step); raise --steps or widen the window`);
  }
  return Array.from({ length: n }, (_, k) => s0 + Math.floor((k * (s1 - s0)) / n));
}

/**
 * Run the solver from noise with the mask `columns`, acquiring one more column (by the entropy
 * criterion, sigma) after each step in `at`; ends with hard data consistency. Shared by the active
 * run and the fixed-mask reconstructions it is compared with.
 */
async function sampleWithLines(o: LineSamplingOptions, start: Uint8Array, at: number[], sigma: number): Promise<LineSamplingResult> {
  const t0 = performance.now();
  const [h, w] = kspaceSize(o.kspace);
  const P = o.particles ?? 8, steps = o.steps ?? 50, seed = o.seed ?? 0, first = o.firstSample ?? 0;
  if (!Number.isInteger(P) || P < 1) fail('BAD_CONFIG', `active sampling: particles must be an integer >= 1, got ${P}`);
  if (!(seed >= 0 && seed < 2 ** 32 && Number.isInteger(seed))) fail('BAD_CONFIG', `active sampling: seed ${seed} must be an integer in [0, 2^32)`);
  const def = solverByName(o.solver ?? 'ddnm');
  checkActiveSolver(def.name);
  const shape = [1, h, w];
  if (!takesItems(o.denoiser, shape)) {
    const takes = o.denoiser.layout ? `images whose ${sizeRule(o.denoiser.layout)}` : `[${o.denoiser.itemShape?.join(', ')}]`;
    fail('BAD_SHAPE', `active sampling: the k-space is ${h}x${w} but the model takes ${takes}; give k-space of a size the model takes`);
  }
  const grid = runGrid(o.denoiser.path, steps);
  const columns = start.slice();
  let z = initialState(startNoise(seed, first, 0, P, shape), grid[0]!);
  const lines = () => columns.reduce((a, b) => a + b, 0);
  const op = () => new MRIOperator(shape, { mask: lineMask2D(columns, h), noiseSigma: o.noiseSigma ?? 0, label: `${lines()} lines` });
  const order: number[] = [], bounds = [0, ...at, steps];
  let nfe = 0;
  for (let seg = 0; seg + 1 < bounds.length; seg++) {
    const from = bounds[seg]!, to = bounds[seg + 1]!;
    let x0: Tensor | null = null;
    // Segment seg draws its noise under the key (seed, seg): no segment repeats another's noise.
    const segOp = op(), y = maskKspace(o.kspace, columns);
    const r = await runSolver(def, o.denoiser, grid.slice(from, to + 1), segOp, y, z, {
      noise: new NoiseSource(seed + seg * 2 ** 32, first),
      ...(o.params ? { params: o.params } : {}),
      ...(o.gradient ? { gradient: o.gradient } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
      onStep: (info) => {
        x0 = info.x0;
        o.onStep?.({ step: from + info.step, steps, lines: lines() });
      },
    });
    z = r.x;
    nfe += r.nfe;
    if (to < steps) {
      // Score the data-consistent estimates: acquired columns (and, for real images, their mirror
      // columns, which carry the same information) then agree across particles.
      const consistent = segOp.proxDataConsistency!((x0 ?? z) as Tensor, batchMeasurement(segOp, y, P), 1, 0);
      const l = selectColumn(consistent, columns, sigma);
      columns[l] = 1;
      order.push(l);
    }
  }
  const final = op();
  const particles = final.proxDataConsistency!(z, batchMeasurement(final, maskKspace(o.kspace, columns), P), 1, 0);
  const x = Tensor.zeros([1, ...shape], particles.dtype), n = h * w;
  for (let p = 0; p < P; p++) for (let i = 0; i < n; i++) x.data[i] = x.data[i]! + particles.data[p * n + i]! / P;
  return { x, particles, columns, order, acquiredAt: at, nfe, seconds: (performance.now() - t0) / 1000 };
}

/** Active Diffusion Subsampling of one slice (see the module comment). */
export async function activeSubsampling(o: ActiveOptions): Promise<LineSamplingResult> {
  const [, w] = kspaceSize(o.kspace);
  const { budget, centerLines } = o;
  if (!Number.isInteger(centerLines) || centerLines < 1 || centerLines > w) fail('BAD_CONFIG', `active sampling: centre lines ${centerLines} must be an integer in [1, ${w}]`);
  if (!Number.isInteger(budget) || budget < centerLines || budget > w) {
    fail('BAD_CONFIG', `active sampling: a budget of ${budget} lines must be an integer between the ${centerLines} centre lines and the ${w} k-space columns; ` +
      (budget < centerLines ? 'raise the budget (lower the acceleration) or use fewer centre lines' : `use at most ${w} lines`));
  }
  const start = new Uint8Array(w);
  const [a, b] = centerRange(w, centerLines);
  start.fill(1, a, b);
  const at = acquisitionSteps(budget - centerLines, o.steps ?? 50, o.window ?? ACTIVE_WINDOW);
  return sampleWithLines(o, start, at, o.sigma ?? 1);
}

/** The same posterior sampling and hard data consistency on a fixed set of columns (the comparison). */
export async function fixedLineSampling(o: LineSamplingOptions, columns: ArrayLike<number>): Promise<LineSamplingResult> {
  const [, w] = kspaceSize(o.kspace);
  if (columns.length !== w) fail('BAD_SHAPE', `fixed line mask has ${columns.length} columns but the k-space has ${w}`);
  return sampleWithLines(o, Uint8Array.from(columns, (v) => (v > 0 ? 1 : 0)), [], 1);
}

/**
 * Exactly `budget` lines: the centre block of `centerLines`, and the rest among the other columns either
 * evenly spaced or drawn uniformly without replacement (seeded), or `center`: one centre block of
 * `budget` lines (a low-pass scan). The fixed masks the active ones are compared with.
 */
export function budgetLineMask(kind: 'equispaced' | 'random' | 'center', w: number, centerLines: number, budget: number, seed = 0): Uint8Array {
  if (!(Number.isInteger(budget) && budget >= centerLines && budget <= w)) fail('BAD_CONFIG', `line budget ${budget} must lie between the ${centerLines} centre lines and ${w}`);
  const cols = new Uint8Array(w);
  const [a, b] = centerRange(w, kind === 'center' ? budget : centerLines);
  cols.fill(1, a, b);
  const free = Array.from({ length: w }, (_, j) => j).filter((j) => !cols[j]);
  const n = budget - centerLines;
  if (kind === 'equispaced') {
    for (let k = 0; k < n; k++) cols[free[Math.floor(((k + 0.5) * free.length) / n)]!] = 1;
  } else if (kind === 'random') {
    const u = new NoiseSource(seed).uniform(free.length, 0, 0, Stream.aux);
    const order = free.map((j, i) => [u[i]!, j] as const).sort((p, q) => p[0] - q[0] || p[1] - q[1]);
    for (let k = 0; k < n; k++) cols[order[k]![1]] = 1;
  }
  return cols;
}

/** Columns that carry distinct information for a real image: l and its reflection -l count once. */
export function distinctLines(columns: ArrayLike<number>): number {
  const w = columns.length, seen = new Uint8Array(w);
  let n = 0;
  for (let l = 0; l < w; l++) {
    if (!columns[l] || seen[l]) continue;
    n++;
    seen[l] = seen[reflectCentered(l, w)] = 1;
  }
  return n;
}
