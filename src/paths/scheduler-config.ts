import { fail, TweedieError } from '../core/errors.js';
import { MAX_TRAIN_TIMESTEPS } from '../core/limits.js';
import { BETA_SCHEDULES, type BetaSchedule } from './betas.js';
import type { Spacing } from './grids.js';
import type { Path } from './path.js';
import { ContinuousVPPath, DiscreteVPPath } from './vp.js';
import { EDMPath, FlowPath, VEPath } from './ve.js';
import { MeanRevertingPath, RDDM_SCHEDULES, RDDMPath, ResShiftPath } from './restoration.js';
import type { PredictionType } from '../models/prediction.js';

/**
 * A diffusers `scheduler_config.json`, read as it is: the path it defines, the prediction type,
 * and the sampling options in normalised form. Unknown keys give one warning naming them;
 * invalid values throw BAD_CONFIG.
 */
export interface SchedulerConfig {
  className: string;
  path: Path;
  prediction: PredictionType;
  numTrainTimesteps: number;
  timestepSpacing: Spacing;
  stepsOffset: number;
  /** Sigma spacing flag (mutually exclusive in diffusers). */
  sigmaSpacing: 'karras' | 'exponential' | 'beta' | 'lu' | 'flow' | null;
  finalSigmasType: 'zero' | 'sigma_min';
  setAlphaToOne: boolean;
  thresholding: { ratio: number; maxValue: number } | null;
  clipSample: number | null;
  solverOrder: number;
  algorithmType: string | null;
  solverType: string | null;
  lowerOrderFinal: boolean;
  /** FlowMatch shift: sigma' = s sigma / (1 + (s - 1) sigma). */
  shift: number;
  raw: Readonly<Record<string, unknown>>;
  unknownKeys: string[];
}

export const KNOWN_KEYS: ReadonlySet<string> = new Set([
  '_class_name', '_diffusers_version', '_use_default_values', 'num_train_timesteps', 'beta_start', 'beta_end',
  'beta_schedule', 'trained_betas', 'variance_type', 'clip_sample', 'clip_sample_range', 'set_alpha_to_one',
  'set_alpha_to_zero', 'steps_offset', 'prediction_type', 'thresholding', 'dynamic_thresholding_ratio',
  'sample_max_value', 'timestep_spacing', 'rescale_betas_zero_snr', 'skip_prk_steps', 'use_karras_sigmas',
  'use_exponential_sigmas', 'use_beta_sigmas', 'use_lu_lambdas', 'use_flow_sigmas', 'flow_shift',
  'final_sigmas_type', 'solver_order', 'algorithm_type', 'solver_type', 'lower_order_final', 'euler_at_final',
  'lambda_min_clipped', 'timestep_type', 'interpolation_type', 'sigma_min', 'sigma_max', 'sigma_data', 'rho',
  'predict_x0', 'disable_corrector', 'solver_p', 'shift', 'use_dynamic_shifting', 'base_shift', 'max_shift',
  'base_image_seq_len', 'max_image_seq_len', 'shift_terminal', 'invert_sigmas', 'time_shift_type',
  'stochastic_sampling', 'snr', 'sampling_eps', 'correct_steps', 's_churn', 's_tmin', 's_tmax', 's_noise',
  'noise_sampler_seed', 'sigma_schedule', 'use_karras_sigmas', 'timestep_scaling', 'original_inference_steps',
  'predictor_order', 'corrector_order', 'tau_func',
  // tweedie's restoration schedulers (IRSDEScheduler, ResShiftScheduler, RDDMScheduler; not diffusers classes)
  'max_sigma', 'eps', 'theta_schedule', 'kappa', 'power', 'min_noise_level', 'etas_end', 'sum_scale',
  'alphas_schedule', 'betas_schedule',
]);

const PREDICTIONS: Record<string, PredictionType> = {
  epsilon: 'eps',
  sample: 'x0',
  original_sample: 'x0',
  v_prediction: 'v',
  flow_prediction: 'velocity',
  residual: 'residual',
};
const SPACINGS: readonly Spacing[] = ['linspace', 'leading', 'trailing'];
const ALGORITHMS = ['dpmsolver', 'dpmsolver++', 'sde-dpmsolver', 'sde-dpmsolver++', 'deis', 'data_prediction', 'noise_prediction'];
const SOLVER_TYPES = ['midpoint', 'heun', 'bh1', 'bh2', 'logrho'];

function bad(name: string, key: string, value: unknown, expected: string): never {
  return fail('BAD_CONFIG', `${name}: "${key}" is ${typeof value === 'number' ? String(value) : JSON.stringify(value)}; expected ${expected}`);
}

export function parseSchedulerConfig(json: unknown, name = 'scheduler_config.json', warn: (msg: string) => void = (m) => process.stderr.write(`warning: ${m}\n`)): SchedulerConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail('BAD_CONFIG', `${name}: expected a JSON object`);
  const raw = json as Record<string, unknown>;
  const unknownKeys = Object.keys(raw).filter((k) => !KNOWN_KEYS.has(k));
  if (unknownKeys.length > 0) warn(`${name}: ignoring unknown key${unknownKeys.length > 1 ? 's' : ''} ${unknownKeys.join(', ')}`);

  const num = (key: string, dflt: number, check: (v: number) => boolean, expected: string): number => {
    const v = raw[key];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'number' || !Number.isFinite(v) || !check(v)) bad(name, key, v, expected);
    return v;
  };
  const bool = (key: string, dflt: boolean): boolean => {
    const v = raw[key];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'boolean') bad(name, key, v, 'true or false');
    return v;
  };
  const oneOf = <T extends string>(key: string, dflt: T, allowed: readonly string[]): T => {
    const v = raw[key];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'string' || !allowed.includes(v)) bad(name, key, v, `one of ${allowed.join(', ')}`);
    return v as T;
  };

  const className = typeof raw._class_name === 'string' ? raw._class_name : 'DDPMScheduler';
  const defaultSteps = className === 'IRSDEScheduler' ? 100 : className === 'ResShiftScheduler' ? 15 : 1000;
  if (raw.prediction_type === 'residual' && className !== 'RDDMScheduler') {
    fail('BAD_CONFIG', `${name}: prediction_type "residual" (mu - x0) needs an anchored path; use it with _class_name RDDMScheduler`);
  }
  const numTrainTimesteps = num(
    'num_train_timesteps', defaultSteps, (v) => Number.isInteger(v) && v >= 2 && v <= MAX_TRAIN_TIMESTEPS,
    `an integer in 2..${MAX_TRAIN_TIMESTEPS} (diffusers models train on 1000)`,
  );
  const vDefault = className === 'IPNDMScheduler' || className === 'CosineDPMSolverMultistepScheduler';
  const predictionName = oneOf('prediction_type', className.startsWith('FlowMatch') ? 'flow_prediction' : vDefault ? 'v_prediction' : 'epsilon', Object.keys(PREDICTIONS));
  if (className === 'IPNDMScheduler' && predictionName !== 'v_prediction') {
    fail('BAD_CONFIG', `${name}: IPNDMScheduler reads the model output as v (v-diffusion); remove "prediction_type": "${predictionName}"`);
  }
  const prediction = PREDICTIONS[predictionName]!;

  const flags = (['use_karras_sigmas', 'use_exponential_sigmas', 'use_beta_sigmas', 'use_lu_lambdas', 'use_flow_sigmas'] as const).filter((k) => bool(k, false));
  if (flags.length > 1) fail('BAD_CONFIG', `${name}: ${flags.join(' and ')} are mutually exclusive; set only one`);
  const sigmaSpacing = ({ use_karras_sigmas: 'karras', use_exponential_sigmas: 'exponential', use_beta_sigmas: 'beta', use_lu_lambdas: 'lu', use_flow_sigmas: 'flow' } as const)[flags[0]!] ?? null;

  let path: Path;
  if (className === 'IRSDEScheduler') {
    path = new MeanRevertingPath({
      T: numTrainTimesteps,
      maxSigma: num('max_sigma', 10, (v) => v > 0, 'a positive number (8-bit units when > 1)'),
      eps: num('eps', 0.005, (v) => v > 0 && v < 1, 'a number in (0, 1)'),
      schedule: oneOf('theta_schedule', 'cosine', ['cosine', 'linear', 'constant']),
    });
  } else if (className === 'ResShiftScheduler') {
    path = new ResShiftPath({
      T: numTrainTimesteps,
      kappa: num('kappa', 2, (v) => v > 0, 'a positive number'),
      p: num('power', 0.3, (v) => v > 0, 'a positive number'),
      minNoise: num('min_noise_level', 0.04, (v) => v > 0, 'a positive number'),
      etasEnd: num('etas_end', 0.99, (v) => v > 0 && v < 1, 'a number in (0, 1)'),
    });
  } else if (className === 'RDDMScheduler') {
    path = new RDDMPath({
      T: numTrainTimesteps,
      sumScale: num('sum_scale', 1, (v) => v > 0, 'a positive number'),
      alphas: oneOf('alphas_schedule', 'decreased', RDDM_SCHEDULES),
      betas: oneOf('betas_schedule', 'increased', RDDM_SCHEDULES),
    });
  } else if (className.startsWith('FlowMatch')) {
    path = new FlowPath();
  } else if (className.startsWith('EDM') || className === 'CosineDPMSolverMultistepScheduler') {
    const cosine = className === 'CosineDPMSolverMultistepScheduler';
    path = new EDMPath({
      sigmaMin: num('sigma_min', cosine ? 0.3 : 0.002, (v) => v > 0, 'a positive number'),
      sigmaMax: num('sigma_max', cosine ? 500 : 80, (v) => v > 0, 'a positive number'),
      sigmaData: num('sigma_data', cosine ? 1 : 0.5, (v) => v > 0, 'a positive number'),
    });
  } else if (className === 'IPNDMScheduler') {
    // v-diffusion's clock: the timestep t in [0, 1] with a = cos(pi t / 2), s = sin(pi t / 2).
    if (raw.trained_betas !== undefined && raw.trained_betas !== null) fail('BAD_CONFIG', `${name}: IPNDMScheduler with trained_betas is not supported; remove it`);
    path = new ContinuousVPPath({ schedule: 'cosine', cosineOffset: 0, tMin: 0, tMax: 1 });
  } else if (className === 'ScoreSdeVeScheduler') {
    path = new VEPath({ sigmaMin: num('sigma_min', 0.01, (v) => v > 0, 'a positive number'), sigmaMax: num('sigma_max', 1348, (v) => v > 0, 'a positive number') });
  } else {
    const tb = raw.trained_betas;
    if (tb !== undefined && tb !== null && !(Array.isArray(tb) && tb.every((x) => typeof x === 'number'))) bad(name, 'trained_betas', '[...]', 'an array of numbers');
    const schedule = oneOf<BetaSchedule>('beta_schedule', 'linear', BETA_SCHEDULES);
    try {
      path = new DiscreteVPPath({
        numTrainTimesteps,
        betaStart: num('beta_start', 0.0001, (v) => v > 0 && v < 1, 'a number in (0, 1)'),
        betaEnd: num('beta_end', 0.02, (v) => v > 0 && v < 1, 'a number in (0, 1)'),
        schedule,
        ...(Array.isArray(tb) ? { trainedBetas: tb as number[] } : {}),
        rescaleZeroSnr: bool('rescale_betas_zero_snr', false),
      });
    } catch (e) {
      if (e instanceof TweedieError) fail('BAD_CONFIG', `${name}: ${e.message}`);
      throw e;
    }
  }

  const thresholding = bool('thresholding', false)
    ? { ratio: num('dynamic_thresholding_ratio', 0.995, (v) => v > 0 && v <= 1, 'a number in (0, 1]'), maxValue: num('sample_max_value', 1, (v) => v > 0, 'a positive number') }
    : null;
  const clipSample = bool('clip_sample', false) ? num('clip_sample_range', 1, (v) => v > 0, 'a positive number') : null;
  const algorithmType = raw.algorithm_type === undefined ? null : oneOf('algorithm_type', 'dpmsolver++', ALGORITHMS);
  const solverType = raw.solver_type === undefined ? null : oneOf('solver_type', 'midpoint', SOLVER_TYPES);
  const finalSigmasType = oneOf<'zero' | 'sigma_min'>('final_sigmas_type', 'zero', ['zero', 'sigma_min']);

  return {
    className,
    path,
    prediction,
    numTrainTimesteps,
    timestepSpacing: oneOf<Spacing>('timestep_spacing', className === 'DDIMScheduler' || className === 'PNDMScheduler' || className === 'DDPMScheduler' ? 'leading' : 'linspace', SPACINGS),
    stepsOffset: num('steps_offset', 0, (v) => Number.isInteger(v) && v >= 0, 'a non-negative integer'),
    sigmaSpacing,
    finalSigmasType,
    setAlphaToOne: bool('set_alpha_to_one', true),
    thresholding,
    clipSample,
    solverOrder: num('solver_order', 2, (v) => Number.isInteger(v) && v >= 1 && v <= 3, 'an integer in 1..3'),
    algorithmType,
    solverType,
    lowerOrderFinal: bool('lower_order_final', true),
    shift: num('shift', 1, (v) => v > 0, 'a positive number'),
    raw,
    unknownKeys,
  };
}
