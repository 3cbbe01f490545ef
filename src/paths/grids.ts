import { fail } from '../core/errors.js';
import { MAX_STEPS } from '../core/limits.js';
import { exponentialSigmas, karrasSigmas, linspace, polyexponentialSigmas } from '../core/numeric.js';
import type { GridPoint, Path } from './path.js';

/** A sampling grid: points from noise (first) to data (last); steps = points - 1. */
export type TimeGrid = readonly GridPoint[];

export type Spacing = 'linspace' | 'leading' | 'trailing';
export type GridKind = 'time-uniform' | 'time-power' | 'logsnr-uniform' | 'karras' | 'exponential' | 'polyexponential' | 'timesteps';
/** How a grid ends: at clean data (sigma = 0, diffusers' 'zero') or at tEnd (default tMin: 'sigma_min'). */
export type FinalSigma = 'zero' | 'sigma_min';

export interface GridSpec {
  kind: GridKind;
  steps: number;
  /** Start and end times; default the path's tMax and tMin. */
  tStart?: number;
  tEnd?: number;
  /** Karras rho (default 7); polyexponential rho (default 1, k-diffusion's). */
  rho?: number;
  /** For kind 'time-power': the exponent p (default 1.5). */
  power?: number;
  /** For kind 'timesteps' (discrete VP): diffusers timestep_spacing and steps_offset. */
  spacing?: Spacing;
  stepsOffset?: number;
  final?: FinalSigma;
}

/** Steps of a grid: an integer in 1..MAX_STEPS, checked before anything is allocated. */
export function checkSteps(steps: number): void {
  if (!Number.isInteger(steps) || steps < 1) fail('BAD_INPUT', `steps must be a positive integer, got ${steps}`);
  if (steps > MAX_STEPS) fail('BAD_INPUT', `steps ${steps} is more than ${MAX_STEPS}, the most a grid may have (diffusers models train on 1000 timesteps); use fewer steps`);
}

/**
 * Integer training timesteps, descending, as diffusers' DDIM/DDPM `set_timesteps` spaces them
 * (Lin et al. 2024, Table 2): linspace, leading (+ steps_offset) or trailing.
 */
export function discreteTimesteps(numTrain: number, steps: number, spacing: Spacing = 'leading', stepsOffset = 0): number[] {
  checkSteps(steps);
  if (steps > numTrain) fail('BAD_INPUT', `steps (${steps}) cannot exceed num_train_timesteps (${numTrain})`);
  const out: number[] = [];
  if (spacing === 'linspace') {
    const ts = linspace(0, numTrain - 1, steps);
    for (let i = steps - 1; i >= 0; i--) out.push(Math.round(ts[i]!));
  } else if (spacing === 'leading') {
    const ratio = Math.floor(numTrain / steps);
    for (let i = steps - 1; i >= 0; i--) out.push(i * ratio + stepsOffset);
  } else if (spacing === 'trailing') {
    const ratio = numTrain / steps;
    for (let i = 0; i < steps; i++) out.push(Math.round(numTrain - i * ratio) - 1);
  } else {
    fail('BAD_CONFIG', `unknown timestep_spacing "${String(spacing)}"; use linspace, leading or trailing`);
  }
  return out;
}

/** Points at the given times; a time equal to the path's tClean is the clean endpoint. */
export function gridFromTimes(path: Path, times: ArrayLike<number>): TimeGrid {
  return Array.from(times, (t) => path.point(t));
}

export function gridFromSigmas(path: Path, sigmas: ArrayLike<number>): TimeGrid {
  return Array.from(sigmas, (sg) => path.point(path.tOfSigma(sg)));
}

/** Build a grid on a path. The number of steps (intervals) is always spec.steps. */
export function makeGrid(path: Path, spec: GridSpec): TimeGrid {
  checkSteps(spec.steps);
  const tStart = spec.tStart ?? path.tMax;
  const tEnd = spec.tEnd ?? path.tMin;
  if (!(tStart > tEnd)) fail('BAD_INPUT', `grid start time ${tStart} must be after its end time ${tEnd}`);
  const final = spec.final ?? 'zero';
  // With a final clean point one of the steps goes to sigma = 0.
  const n = final === 'zero' ? spec.steps : spec.steps + 1;
  if (n < 1) fail('BAD_INPUT', 'grid needs at least one step');
  let grid: GridPoint[];
  switch (spec.kind) {
    case 'time-uniform':
      grid = [...gridFromTimes(path, n === 1 ? [tStart] : linspace(tStart, tEnd, n))];
      break;
    case 'time-power': {
      // t_i = tEnd + (tStart - tEnd) (1 - i / (n - 1))^p: uniform for p = 1, finer towards the data for p > 1
      const p = spec.power ?? 1.5;
      if (!(p >= 1 && p <= 10)) fail('BAD_INPUT', `a time-power grid needs a power in 1..10, got ${p}`);
      grid = [...gridFromTimes(path, n === 1 ? [tStart] : Array.from({ length: n }, (_, i) => tEnd + (tStart - tEnd) * (1 - i / (n - 1)) ** p))];
      break;
    }
    case 'logsnr-uniform': {
      if (!Number.isFinite(path.lambda(tStart)) || !Number.isFinite(path.lambda(tEnd))) {
        fail('BAD_INPUT', `a logsnr-uniform grid needs finite log-SNR at both ends (t = ${tStart}, ${tEnd}); start before the path's pure-noise end`);
      }
      const lams = n === 1 ? [path.lambda(tStart)] : linspace(path.lambda(tStart), path.lambda(tEnd), n);
      grid = Array.from(lams, (l, i) => path.point(i === 0 ? tStart : i === n - 1 ? tEnd : path.tOfLambda(l)));
      break;
    }
    case 'karras':
    case 'exponential':
    case 'polyexponential': {
      const smax = path.sigma(tStart), smin = path.sigma(tEnd);
      if (!Number.isFinite(smax) || !(smin > 0)) {
        fail('BAD_INPUT', `a ${spec.kind} grid needs finite, positive sigmas at both ends (sigma ${smax} at t = ${tStart}, ${smin} at t = ${tEnd}); start before the path's pure-noise end`);
      }
      if (spec.kind === 'polyexponential' && !(spec.rho === undefined || (spec.rho > 0 && Number.isFinite(spec.rho)))) fail('BAD_INPUT', `a polyexponential grid needs rho > 0, got ${spec.rho}`);
      const sig =
        n === 1 ? [smax]
        : spec.kind === 'karras' ? karrasSigmas(n, smin, smax, spec.rho ?? 7)
        : spec.kind === 'polyexponential' ? polyexponentialSigmas(n, smin, smax, spec.rho ?? 1)
        : exponentialSigmas(n, smin, smax);
      grid = Array.from(sig, (sg, i) => path.point(i === 0 ? tStart : i === n - 1 ? tEnd : path.tOfSigma(sg)));
      break;
    }
    case 'timesteps': {
      if (path.family !== 'vp-discrete') fail('UNSUPPORTED', `grid kind "timesteps" needs a discrete VP path, not ${path.family}`);
      const numTrain = Math.round(path.tMax) + 1;
      grid = [...gridFromTimes(path, discreteTimesteps(numTrain, n, spec.spacing ?? 'leading', spec.stepsOffset ?? 0))];
      break;
    }
    default:
      return fail('BAD_CONFIG', `unknown grid kind "${String(spec.kind)}"`);
  }
  if (final === 'zero') grid.push(path.point(path.tClean));
  return grid;
}

/**
 * The default grid for a family. Unconditional sampling on VP paths: `time-power` 1.5 from tMax straight to
 * clean data, chosen by `tweedie bench grids` (error at 10 and 20 NFE of every deterministic sampler on exact
 * mixtures; the README's sampler table): no model call at tMin, whose step to clean data is nearly wasted,
 * and steps that shrink towards the data. The posterior solvers keep uniform time on VP paths: their
 * benchmarks (bench inverse, bench posterior) were tuned and measured on it. Karras sigmas for sigma-time
 * families. RDDM's grid is uniform over the whole of [0, T] (ddim_sample: T, T - T/n, ..., 0), not over
 * [1, T] plus a last step 1 -> 0, which with T = 1000 would spend one of 10 NFE on a thousandth of the path.
 */
export function defaultGridSpec(path: Path, steps: number, purpose: 'sample' | 'solve' = 'solve'): GridSpec {
  if (path.family === 'residual') return { kind: 'time-uniform', steps, tEnd: path.tClean, final: 'sigma_min' };
  const vp = path.family === 'vp-discrete' || path.family === 'vp-continuous';
  if (vp && purpose === 'sample') return { kind: 'time-power', power: 1.5, steps, tEnd: path.tClean, final: 'sigma_min' };
  const sigmaTime = path.family === 'edm' || path.family === 've';
  return { kind: sigmaTime ? 'karras' : 'time-uniform', steps, final: 'zero' };
}
