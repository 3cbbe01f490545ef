import { fail } from '../core/errors.js';
import { Stream, type NoiseSource } from '../core/rng.js';
import { Tensor } from '../core/tensor.js';
import type { ModelFn } from '../models/model-fn.js';
import type { TimeGrid } from '../paths/grids.js';
import type { GridPoint, Path } from '../paths/path.js';
import { ALL_PREDICTIONS } from './common.js';
import { ddim } from './ddim.js';
import { dpmSolverPP } from './dpm-solver.js';
import { resolveParams } from './method.js';
import { noiseLevelEstimatorFor, type NoiseLevelEstimator } from '../models/noise-level.js';
import { defineSampler, type SamplerDef } from './types.js';
import { unipc } from './unipc.js';

/**
 * Denoising MCMC (Kim & Ye, ICML 2023, arXiv 2209.14593), its Denoising Langevin Gibbs form: a Gibbs
 * chain over the product space (x, t) with target p_t(x) pi(t), pi uniform over a set of levels,
 *
 *   x <- x + (delta / 2) grad log p_t(x) + sqrt(delta) xi,   delta = eta s(t)^2   (Langevin on x | t),
 *   t ~ p(t | x)  (or its argmax, as the paper's code does)              (the noise-level estimator),
 *
 * keeping per sample the chain state of lowest t (the paper's code: "choose MCMC samples of smallest noise
 * levels"; a selection that biases x | t) or the last one, which an ODE sampler then integrates to the data.
 * The Langevin step is relative to the level's noise variance s(t)^2 (annealed Langevin's scaling); the paper's
 * code uses a fixed step on a VE path, which would blow up at the small noise levels of a VP path.
 *
 * A chain starts at the starting state of its first item at the grid's first point, optionally warmed up by the
 * finisher's first init_steps grid steps, and yields chain_samples samples, one per window of mcmc_steps.
 * NFE counts the denoiser's evaluations per sample (the chain's, shared by its samples, then the finisher's);
 * the estimator's calls are not counted (a small classifier, or the exact mixture posterior). Items at
 * different levels are evaluated in groups, one model call per level present, each item once.
 */

const FINISHERS: Record<string, SamplerDef> = { 'dpm-solver++': dpmSolverPP, unipc, ddim };

/**
 * The grid rescaled in t to start at level time `t`, ending where it ends: the same kind of grid, from t. The
 * finite times are rescaled: all of them, or all but a clean end at t = -inf (VE paths), which is kept.
 */
export function gridFrom(path: Path, grid: TimeGrid, t: number): TimeGrid {
  const last = grid[grid.length - 1]!, end = Number.isFinite(last.t) ? grid.length - 1 : grid.length - 2;
  if (end === 0) return [path.point(t), last];
  const tEnd = grid[end]!.t;
  if (!(t > tEnd)) fail('UNSUPPORTED', `dmcmc: a chain reached the level t = ${t}, at or past the grid's last noisy time ${tEnd}; end the grid at clean data`);
  const r = (t - tEnd) / (grid[0]!.t - tEnd);
  return grid.map((p, i) => (i >= end ? p : path.point(tEnd + r * (p.t - tEnd))));
}

/** Items grouped by level index: level -> item indices. */
function groupByLevel(level: Int32Array): Map<number, number[]> {
  const groups = new Map<number, number[]>();
  level.forEach((k, b) => {
    const g = groups.get(k);
    if (g) g.push(b);
    else groups.set(k, [b]);
  });
  return groups;
}

function gather(z: Tensor, items: readonly number[]): Tensor {
  const m = z.itemSize, out = Tensor.zeros([items.length, ...z.shape.slice(1)], z.dtype);
  items.forEach((b, j) => out.data.set(z.data.subarray(b * m, (b + 1) * m), j * m));
  return out;
}

function scatter(into: Tensor, part: Tensor, items: readonly number[]): void {
  const m = into.itemSize;
  items.forEach((b, j) => into.data.set(part.data.subarray(j * m, (j + 1) * m), b * m));
}

/**
 * One Langevin step of every item at its own level, in place: z <- z + (delta/2) score + sqrt(delta) xi with
 * score = -eps / s and delta = eta s^2, xi the corrector noise of step `index` of batch row rows[b] (default b).
 * One model call per level present.
 */
export async function langevinAtLevels(fn: ModelFn, z: Tensor, points: readonly GridPoint[], level: Int32Array, eta: number, noise: NoiseSource, index: number, rows?: readonly number[]): Promise<void> {
  const m = z.itemSize, zd = z.data;
  const xi = noise.normal([rows ? Math.max(...rows) + 1 : z.batch, ...z.shape.slice(1)], index, Stream.corrector, z.dtype).data;
  for (const [k, items] of groupByLevel(level)) {
    const p = points[k]!;
    const { eps } = await fn.estimate(gather(z, items), p);
    const half = 0.5 * eta * p.s, root = Math.sqrt(eta) * p.s;
    items.forEach((b, j) => {
      const row = rows ? rows[b]! : b;
      for (let i = 0; i < m; i++) zd[b * m + i] = zd[b * m + i]! - half * eps.data[j * m + i]! + root * xi[row * m + i]!;
    });
  }
}

/** The Gibbs step over t: per item a draw from the posterior (uniforms of step `index`, batch row rows[b]), or its argmax. */
export async function drawLevels(estimator: NoiseLevelEstimator, x: Tensor, rule: 'sample' | 'argmax', noise: NoiseSource, index: number, out: Int32Array, rows?: readonly number[]): Promise<Int32Array> {
  const K = estimator.levels.length, logp = await estimator.logPosterior(x);
  for (let b = 0; b < x.batch; b++) {
    let pick = 0;
    if (rule === 'argmax') {
      for (let k = 1; k < K; k++) if (logp[b * K + k]! > logp[b * K + pick]!) pick = k;
    } else {
      let u = noise.uniform(1, rows ? rows[b]! : b, index, Stream.resample)[0]!;
      for (pick = 0; pick < K - 1; pick++) {
        u -= Math.exp(logp[b * K + pick]!);
        if (u <= 0) break;
      }
    }
    out[b] = pick;
  }
  return out;
}

/** The finisher's whole steps within a budget of `nfe` evaluations per sample, `chainNfe` of them spent on the chain. */
export function finisherSteps(nfe: number, chainNfe: number): number {
  const steps = Math.floor(nfe - chainNfe + 1e-9);
  if (steps < 1) fail('BAD_INPUT', `dmcmc: a budget of ${nfe} NFE leaves no finisher step after the chain's ${chainNfe} per sample; give at least ${Math.ceil(chainNfe) + 1} NFE, or fewer mcmc_steps or init_steps`);
  return steps;
}

export const dmcmc = defineSampler({
  name: 'dmcmc',
  description: 'Denoising MCMC (Kim & Ye 2023): Langevin-Gibbs chain over (x, t) with a noise-level estimator, then an ODE sampler from the lowest-noise chain state to the data',
  order: 2,
  nfePerStep: 'mcmc_steps + init_steps / chain_samples, plus 1 per finisher step',
  stochastic: true,
  predictions: ALL_PREDICTIONS,
  params: {
    mcmc_steps: { type: 'number', default: 2, min: 1, integer: true, doc: 'Langevin-Gibbs steps per sample (one model call each); the finisher then takes the grid\'s steps' },
    eta: { type: 'number', default: 1, min: 1e-6, max: 2, doc: 'Langevin step relative to the level\'s noise variance: delta = eta s(t)^2 (defaults: the best of six settings on fmnist-32, README)' },
    t_rule: { type: 'choice', default: 'argmax', values: ['argmax', 'sample'], doc: 'Gibbs step over t: the estimator\'s most probable level (the paper\'s code) or a draw from its posterior (exact Gibbs)' },
    keep: { type: 'choice', default: 'lowest', values: ['lowest', 'last'], doc: 'the chain state each sample finishes from: the lowest level visited (the paper\'s code) or the last (unbiased once the chain is stationary)' },
    then: { type: 'choice', default: 'dpm-solver++', values: Object.keys(FINISHERS), doc: 'the sampler that integrates each chain state from its level to the data, on the grid rescaled to start there (default options)' },
    chain_samples: { type: 'number', default: 1, min: 1, integer: true, doc: 'samples each chain yields, one per window of mcmc_steps (the paper runs long chains); reproducible for batch sizes that are multiples of it' },
    init_steps: { type: 'number', default: 0, min: 0, integer: true, doc: 'warm start: each chain first takes this many of the finisher\'s grid steps from the starting noise (the paper starts its chains from a sampler run); shared by the chain\'s samples' },
    exact_levels: { type: 'number', default: 40, min: 2, integer: true, doc: 'levels of the exact posterior over t (analytic mixture models only), uniform in t' },
  },
  notes:
    'Needs a noise-level estimator: the exact posterior over t for analytic mixtures, a trained network for ONNX models (weights/fmnist-32/noise-level, ' +
    'training/fmnist_noise_level.py), or attachNoiseLevelEstimator(denoiser, estimator). NFE per sample = (init_steps + chain_samples mcmc_steps) / chain_samples + the finisher\'s NFE on the grid.',
  async run({ fn, path, grid, z, noise, params, report }) {
    const estimator = noiseLevelEstimatorFor(fn.denoiser, params.exact_levels);
    if (!estimator) {
      fail('UNSUPPORTED', 'dmcmc needs a noise-level estimator for this model: ship one in the model folder (noise-level/, training/fmnist_noise_level.py) or attach one with attachNoiseLevelEstimator(denoiser, estimator)');
    }
    if (grid[0]!.b !== 0 || fn.anchor) fail('UNSUPPORTED', 'dmcmc samples generative paths only (no anchor); use a restoration sampler for restoration paths');
    const points = estimator.levels.map((t) => path.point(t));
    const then = FINISHERS[params.then]!, thenParams = resolveParams(then, {});
    const B = z.batch, m = z.itemSize, k = params.chain_samples, steps = params.mcmc_steps;
    // Chain c serves items heads[c] .. heads[c] + k - 1 and draws the noise of item heads[c].
    const heads = Array.from({ length: Math.ceil(B / k) }, (_, c) => c * k);
    let chain = gather(z, heads), initNfe = 0;
    if (params.init_steps > 0) {
      if (params.init_steps >= grid.length - 1) fail('BAD_INPUT', `dmcmc: init_steps = ${params.init_steps} must be below the grid's ${grid.length - 1} steps (the finisher needs the grid from the chain level)`);
      const before = fn.nfe;
      chain = await then.run({ fn, path, grid: grid.slice(0, params.init_steps + 1), z: chain, noise, params: thenParams, report: async () => {} });
      initNfe = fn.nfe - before;
    }
    const level = await drawLevels(estimator, chain, params.t_rule, noise, 0, new Int32Array(heads.length), heads);
    const best = z.zerosLike(), bestLevel = new Int32Array(B);
    for (let window = 0; window < k; window++) {
      // Window `window` of each chain yields its item heads[c] + window: its lowest (or last) state.
      const kept = chain.clone(), keptLevel = Int32Array.from(level);
      for (let s = 1; s <= steps; s++) {
        const index = window * steps + s;
        await langevinAtLevels(fn, chain, points, level, params.eta, noise, index, heads);
        await drawLevels(estimator, chain, params.t_rule, noise, index, level, heads);
        heads.forEach((_, c) => {
          if (params.keep === 'lowest' && points[level[c]!]!.t >= points[keptLevel[c]!]!.t) return;
          keptLevel[c] = level[c]!;
          kept.data.set(chain.data.subarray(c * m, (c + 1) * m), c * m);
        });
        await report(index, 0, chain, null, points[level[0]!]);
      }
      heads.forEach((h, c) => {
        if (h + window >= B) return;
        bestLevel[h + window] = keptLevel[c]!;
        best.data.set(kept.data.subarray(c * m, (c + 1) * m), (h + window) * m);
      });
    }
    let finisherNfe = 0;
    for (const [lv, items] of groupByLevel(bestLevel)) {
      const before = fn.nfe;
      const part = await then.run({ fn, path, grid: gridFrom(path, grid, points[lv]!.t), z: gather(best, items), noise, params: thenParams, report: async () => {} });
      finisherNfe = fn.nfe - before;
      scatter(z, part, items);
    }
    // Evaluations per sample: the chains' (warm start and k windows of mcmc_steps, shared by k samples), then the
    // finisher's (the same for every level group); the calls themselves were one per level group.
    fn.nfe = (heads.length * (initNfe + k * steps)) / B + finisherNfe;
    await report(k * steps + 1, grid.length - 1, z, null);
    return z;
  },
});

export const DMCMC_SAMPLERS: readonly SamplerDef[] = [dmcmc];
