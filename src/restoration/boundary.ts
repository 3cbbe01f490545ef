import { fail } from '../core/errors.js';
import { Tensor } from '../core/tensor.js';
import type { Operator } from '../inverse/operators/operator.js';
import { boundaryKey, type BoundarySpec } from '../models/boundary-spec.js';
import type { Denoiser } from '../models/denoiser.js';
import { restore } from '../recipes/restore.js';
import { resolveParams, type ParamValues } from '../samplers/method.js';
import { startNoise } from '../samplers/start.js';
import { degradedAnchor } from './anchor.js';
import type { SamplerDef } from '../samplers/types.js';

/** A reference set R of pairs: degraded images (the model's anchors) and their clean originals, [|R|, ...item] each. */
export interface ReferenceSet {
  degraded: Tensor;
  truth: Tensor;
}

export interface BoundarySelection {
  /** Candidate k is the starting noise of image k of a random run with this seed. */
  seed: number;
  /** Mean squared error over R of the restoration from each candidate. */
  scores: number[];
  chosen: number;
  /** The chosen candidate [...item]. */
  noise: Tensor;
  /** Model evaluations the selection took (every image of R counted): K + 1 solves of R (one repeats candidate 0). */
  nfe: number;
  /** Model evaluations of one restoration (one solve of one image). */
  nfePerRestore: number;
}

/**
 * The reference pairs of clean images x [N, ...item] under every degradation (the model's tasks), task after task:
 * R = {(mu_j(x_i), x_i)}, |R| = N x tasks, with each task's measurement noise drawn from `seed`.
 */
export function referencePairs(x: Tensor, operators: readonly Operator[], seed: number): ReferenceSet {
  const degraded = Tensor.zeros([x.batch * operators.length, ...x.shape.slice(1)], x.dtype);
  const truth = degraded.zerosLike();
  operators.forEach((op, j) => {
    degraded.data.set(degradedAnchor(op, x, seed).data, j * x.size);
    truth.data.set(x.data, j * x.size);
  });
  return { degraded, truth };
}

/** The sampler's parameters with every default filled in, as a boundary's key stores them. */
export function fullParams(sampler: SamplerDef, params: Partial<ParamValues> = {}): ParamValues {
  return { ...resolveParams(sampler, params) };
}

function meanSquaredError(x: Tensor, truth: Tensor): number {
  let se = 0;
  for (let i = 0; i < x.size; i++) se += (x.data[i]! - truth.data[i]!) ** 2;
  return se / x.size;
}

/**
 * The optimal boundary condition of a deterministic restoration sampler (Ma et al., ICLR 2024, arXiv 2305.15357,
 * Sec. 3.3): one starting noise shared by every input, picked by Monte Carlo among K candidates z_k ~ N(0, I) as
 * argmin_k mean_{(x, y) in R} M(ODESolve(z_k, y), x). The paper's M is LPIPS; here M is the mean squared error.
 * Costs K |R| NFE model evaluations; a stochastic sampler setting is refused (its output would not be a function
 * of the starting noise).
 */
export async function selectBoundary(o: {
  model: Denoiser;
  reference: ReferenceSet;
  sampler: SamplerDef;
  steps: number;
  params?: Partial<ParamValues>;
  candidates: number;
  seed: number;
  batch?: number;
  onCandidate?: (k: number, score: number) => void;
}): Promise<BoundarySelection> {
  const { reference } = o;
  if (reference.degraded.shape.join(',') !== reference.truth.shape.join(',')) {
    fail('BAD_SHAPE', `the reference set's degraded images [${reference.degraded.shape.join(', ')}] and clean images [${reference.truth.shape.join(', ')}] differ in shape; give one clean image per degraded image`);
  }
  if (!(Number.isSafeInteger(o.candidates) && o.candidates >= 2)) fail('USAGE', `the boundary selection needs at least 2 candidates, got ${o.candidates}`);
  const item = reference.degraded.shape.slice(1);
  const solve = (start: Tensor, seed: number) =>
    restore({ model: o.model, degraded: reference.degraded, sampler: o.sampler, steps: o.steps, ...(o.params ? { params: o.params } : {}), start, seed, ...(o.batch ? { batch: o.batch } : {}) });
  const candidate = (k: number) => startNoise(o.seed, k, 0, 1, item).reshape(item);
  const scores: number[] = [];
  // A run's nfe counts the model calls of each of its batches (64 pairs by default).
  const batches = Math.ceil(reference.degraded.batch / (o.batch ?? 64));
  let nfe = 0, nfePerRestore = 0;
  for (let k = 0; k < o.candidates; k++) {
    const r = await solve(candidate(k), 0), x = r.x;
    nfePerRestore = r.nfe / batches;
    nfe += nfePerRestore * reference.degraded.batch;
    if (k === 0) {
      // The same start under another seed of the sampler's own noise: a deterministic setting gives the same images.
      const again = (await solve(candidate(0), 1)).x;
      nfe += nfePerRestore * reference.degraded.batch;
      if (!x.data.every((v, i) => v === again.data[i])) {
        fail('USAGE', `sampler ${o.sampler.name} with these parameters is stochastic; an optimal boundary is for a deterministic (ODE) sampler, e.g. mrs with mode=ode or rddm with eta=0`);
      }
    }
    scores.push(meanSquaredError(x, reference.truth));
    o.onCandidate?.(k, scores[k]!);
  }
  const chosen = scores.indexOf(Math.min(...scores));
  return { seed: o.seed, scores, chosen, noise: candidate(chosen), nfe, nfePerRestore };
}

/** The shipped boundary selected for this sampler, parameters, steps and item shape, or null. */
export function boundaryFor(boundaries: readonly BoundarySpec[], sampler: SamplerDef, params: Partial<ParamValues>, steps: number, item: readonly number[]): BoundarySpec | null {
  const key = boundaryKey({ sampler: sampler.name, params: fullParams(sampler, params), steps, shape: item });
  return boundaries.find((b) => boundaryKey(b) === key) ?? null;
}

/**
 * The starting noise a restore asks for (`mode`: 'optimal', 'random', or undefined for the default): the folder's
 * boundary for this sampler setting and image size, else random starts (entry null) with a note naming what the folder
 * has. `option` is how the user set it (the CLI's --boundary, the page's field), for the messages.
 */
export function chooseBoundary(mode: string | undefined, boundaries: readonly BoundarySpec[], modelDir: string, option: string, sampler: SamplerDef, params: Partial<ParamValues>, steps: number, item: readonly number[]): { entry: BoundarySpec | null; note: string | null } {
  if (mode !== undefined && mode !== 'optimal' && mode !== 'random') fail('USAGE', `${option} ${mode}: use optimal or random`);
  if (mode === 'random') return { entry: null, note: null };
  const entry = boundaryFor(boundaries, sampler, params, steps, item);
  if (entry) return { entry, note: null };
  const have = boundaries.map((b) => boundaryKey(b)).join('; ');
  const wanted = boundaryKey({ sampler: sampler.name, params: fullParams(sampler, params), steps, shape: item });
  if (mode === 'optimal') {
    fail('USAGE', have
      ? `${option} optimal: ${modelDir} has optimal boundaries for ${have}, not for ${wanted}; use one of those settings, or ${option} random`
      : `${option} optimal: ${modelDir} has no optimal boundary (no "boundary" in its tweedie.json); select one with "tweedie boundary --model ${modelDir} --reference CLEAN.npy", or use ${option} random`);
  }
  return { entry: null, note: have ? `random boundary: ${modelDir}'s optimal boundaries are for ${have}, not ${wanted}` : null };
}

/** A boundary's noise as read from `file` (disk or fetched), checked against the shape its tweedie.json entry declares. */
export function checkedBoundaryNoise(noise: Tensor, b: BoundarySpec, file: string): Tensor {
  if (noise.shape.join(',') !== b.shape.join(',') || !noise.data.every(Number.isFinite)) {
    fail('BAD_CONFIG', `${file} is not a finite [${b.shape.join(', ')}] noise as its tweedie.json entry says; select it again with "tweedie boundary", or remove the entry`);
  }
  return noise;
}
