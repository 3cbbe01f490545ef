import { MAX_TRAIN_TIMESTEPS } from '../core/limits.js';
import { fail } from '../core/errors.js';
import { linspace } from '../core/numeric.js';

/** The beta schedules of diffusers' scheduler configs, in float64. */
export type BetaSchedule = 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';
export const BETA_SCHEDULES: readonly BetaSchedule[] = ['linear', 'scaled_linear', 'squaredcos_cap_v2'];

export interface BetaOptions {
  numTrainTimesteps: number;
  betaStart?: number;
  betaEnd?: number;
  schedule?: BetaSchedule;
  trainedBetas?: readonly number[];
  /** Lin et al. 2024 ("Common diffusion noise schedules and sample steps are flawed"), Algorithm 1. */
  rescaleZeroSnr?: boolean;
  /** For squaredcos_cap_v2: 'cosine' (Nichol & Dhariwal) or 'exp'. */
  alphaTransform?: 'cosine' | 'exp';
}

/** betas_for_alpha_bar: beta_i = min(1 - abar((i+1)/N) / abar(i/N), 0.999). */
function betasForAlphaBar(n: number, transform: 'cosine' | 'exp'): Float64Array {
  const abar = transform === 'cosine'
    ? (t: number) => Math.cos(((t + 0.008) / 1.008) * Math.PI * 0.5) ** 2
    : (t: number) => Math.exp(t * -12.0);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.min(1 - abar((i + 1) / n) / abar(i / n), 0.999);
  return out;
}

export function makeBetas(o: BetaOptions): Float64Array {
  const n = o.numTrainTimesteps;
  if (!Number.isInteger(n) || n < 2 || n > MAX_TRAIN_TIMESTEPS) fail('BAD_CONFIG', `num_train_timesteps must be an integer in 2..${MAX_TRAIN_TIMESTEPS} (diffusers models train on 1000), got ${n}`);
  let betas: Float64Array;
  if (o.trainedBetas) {
    if (o.trainedBetas.length !== n) {
      fail('BAD_CONFIG', `trained_betas has ${o.trainedBetas.length} values but num_train_timesteps is ${n}; make them agree`);
    }
    betas = Float64Array.from(o.trainedBetas);
  } else {
    const start = o.betaStart ?? 0.0001, end = o.betaEnd ?? 0.02;
    switch (o.schedule ?? 'linear') {
      case 'linear':
        betas = linspace(start, end, n);
        break;
      case 'scaled_linear':
        betas = linspace(Math.sqrt(start), Math.sqrt(end), n).map((x) => x * x);
        break;
      case 'squaredcos_cap_v2':
        betas = betasForAlphaBar(n, o.alphaTransform ?? 'cosine');
        break;
      default:
        return fail('BAD_CONFIG', `unknown beta_schedule "${String(o.schedule)}"; use one of ${BETA_SCHEDULES.join(', ')} or trained_betas`);
    }
  }
  for (let i = 0; i < n; i++) {
    const b = betas[i]!;
    if (!(b > 0 && b <= 1)) fail('BAD_CONFIG', `beta[${i}] = ${b} is outside (0, 1]; check beta_start/beta_end or trained_betas`);
  }
  return o.rescaleZeroSnr ? rescaleZeroTerminalSnr(betas) : betas;
}

/** Rescale so that the last step has zero SNR while keeping the first (Lin et al. 2024, Alg. 1). */
export function rescaleZeroTerminalSnr(betas: Float64Array): Float64Array {
  const n = betas.length;
  const sq = new Float64Array(n);
  let prod = 1;
  for (let i = 0; i < n; i++) {
    prod *= 1 - betas[i]!;
    sq[i] = Math.sqrt(prod);
  }
  const first = sq[0]!, last = sq[n - 1]!;
  for (let i = 0; i < n; i++) sq[i] = ((sq[i]! - last) * first) / (first - last);
  const out = new Float64Array(n);
  out[0] = 1 - sq[0]! * sq[0]!;
  for (let i = 1; i < n; i++) out[i] = 1 - (sq[i]! * sq[i]!) / (sq[i - 1]! * sq[i - 1]!);
  return out;
}

export function alphasCumprod(betas: Float64Array): Float64Array {
  const out = new Float64Array(betas.length);
  let prod = 1;
  for (let i = 0; i < betas.length; i++) {
    prod *= 1 - betas[i]!;
    out[i] = prod;
  }
  return out;
}
