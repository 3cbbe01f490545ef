/**
 * diffusers scheduler_config.json -> tweedie sampling: the exact grid diffusers' `set_timesteps` builds
 * for each scheduler class, and the tweedie sampler + params that take the same steps on it.
 *
 * Sources read (huggingface/diffusers src/diffusers/schedulers/, re-derived here, no code copied):
 * scheduling_ddim.py, scheduling_ddpm.py, scheduling_pndm.py, scheduling_euler_discrete.py,
 * scheduling_euler_ancestral_discrete.py, scheduling_heun_discrete.py, scheduling_k_dpm_2_discrete.py, scheduling_k_dpm_2_ancestral_discrete.py,
 * scheduling_lms_discrete.py, scheduling_deis_multistep.py, scheduling_dpmsolver_multistep.py, scheduling_dpmsolver_multistep_inverse.py,
 * scheduling_dpmsolver_singlestep.py, scheduling_unipc_multistep.py, scheduling_flow_match_euler_discrete.py,
 * scheduling_flow_match_heun_discrete.py, scheduling_ipndm.py, scheduling_dpmsolver_sde.py, scheduling_edm_euler.py,
 * scheduling_edm_dpmsolver_multistep.py, scheduling_cosine_dpmsolver_multistep.py, scheduling_sasolver.py,
 * and their tests under tests/schedulers/.
 *
 * Grid points carry diffusers' own numbers: t is the timestep diffusers hands the model (an integer training
 * timestep for the VP classes, a fractional one for the Euler family, sigma in [0, 1] for flow matching, whose
 * diffusers timestep is t * num_train_timesteps: see `timestepScale`), and (a, s) come from diffusers' sigma,
 * a = 1 / sqrt(1 + sigma^2), s = sigma a (VP) or a = 1 - sigma, s = sigma (flow). The sigma tables are computed
 * in float32 as diffusers does (torch float32 cumprod of 1 - beta), so rounding decisions (karras timesteps,
 * lambda_min_clipped) are diffusers'.
 *
 * Scaling: diffusers' Euler family keeps its sample in the variance-exploding scaling x~ = x / a and starts from
 * noise * init_noise_sigma; tweedie keeps x = a x~. `initNoiseScale` converts: tweedie's initial state is
 * initNoiseScale * standard normal noise, and x_diffusers = x_tweedie / a at the same grid point (a = 1 at the
 * final sigma = 0, so final samples compare directly).
 *
 * Zero-length final steps: with use_karras_sigmas / use_exponential_sigmas / use_lu_lambdas and final_sigmas_type
 * sigma_min the spaced sigmas already end at sigma_min, so diffusers' last step goes from sigma_min to sigma_min.
 * It is not a no-op for every class (UniPC applies its corrector there, the singlestep solver closes an order-2
 * group on it, the multistep order rules count it), so the grid keeps it; runSampler's grid check must accept an
 * equal final sigma for these configs. DDIM / DDPM / PNDM, whose such step is the identity, drop it.
 */
import { editDistance } from '../core/edit-distance.js';
import { fail } from '../core/errors.js';
import { betaSigmas, exponentialSigmas, karrasSigmas, npArange, npLinspace, roundHalfEven, torchLinspaceF32 } from '../core/numeric.js';
import type { PredictionType } from '../models/prediction.js';
import { checkSteps as checkGridSteps, type TimeGrid } from '../paths/grids.js';
import type { GridPoint, Path } from '../paths/path.js';
import type { SchedulerConfig } from '../paths/scheduler-config.js';
import { DiscreteVPPath } from '../paths/vp.js';
import { ddim, ddimInverse } from './ddim.js';
import { deis } from './deis.js';
import { dpmSolver, dpmSolverPP, dpmSolverPPInverse, dpmSolverPPSde } from './dpm-solver.js';
import { flowEuler, flowHeun } from './flow.js';
import { ddpm, dpm2, dpm2Ancestral, euler, eulerAncestral, heun } from './karras.js';
import { dpmppSde } from './kdiffusion-dpmpp.js';
import { lms } from './lms.js';
import { cosineNoise, edmNoise } from '../models/edm-precondition.js';
import { ipndm, plms, pndm } from './pndm.js';
import { saSolver } from './sa-solver.js';
import { resolveParams, type ParamValues } from './method.js';
import type { SamplerDef } from './types.js';
import { unipc } from './unipc.js';

/** The scheduler classes whose configs map onto tweedie samplers. */
export const DIFFUSERS_CLASSES = [
  'DDIMScheduler',
  'DDIMInverseScheduler',
  'DDPMScheduler',
  'PNDMScheduler',
  'EulerDiscreteScheduler',
  'EulerAncestralDiscreteScheduler',
  'HeunDiscreteScheduler',
  'KDPM2DiscreteScheduler',
  'KDPM2AncestralDiscreteScheduler',
  'LMSDiscreteScheduler',
  'DEISMultistepScheduler',
  'DPMSolverMultistepScheduler',
  'DPMSolverSinglestepScheduler',
  'UniPCMultistepScheduler',
  'FlowMatchEulerDiscreteScheduler',
  'IPNDMScheduler',
  'DPMSolverMultistepInverseScheduler',
  'FlowMatchHeunDiscreteScheduler',
  'DPMSolverSDEScheduler',
  'EDMEulerScheduler',
  'EDMDPMSolverMultistepScheduler',
  'CosineDPMSolverMultistepScheduler',
  'SASolverScheduler',
] as const;
export type DiffusersClass = (typeof DIFFUSERS_CLASSES)[number];

type Family = 'ddim' | 'inverse' | 'euler' | 'solver' | 'flow' | 'ipndm' | 'solver-inverse' | 'edm';
const FAMILY: Record<DiffusersClass, Family> = {
  DDIMScheduler: 'ddim',
  DDIMInverseScheduler: 'inverse',
  DDPMScheduler: 'ddim',
  PNDMScheduler: 'ddim',
  EulerDiscreteScheduler: 'euler',
  EulerAncestralDiscreteScheduler: 'euler',
  HeunDiscreteScheduler: 'euler',
  KDPM2DiscreteScheduler: 'euler',
  KDPM2AncestralDiscreteScheduler: 'euler',
  LMSDiscreteScheduler: 'euler',
  DEISMultistepScheduler: 'solver',
  DPMSolverMultistepScheduler: 'solver',
  DPMSolverSinglestepScheduler: 'solver',
  UniPCMultistepScheduler: 'solver',
  FlowMatchEulerDiscreteScheduler: 'flow',
  IPNDMScheduler: 'ipndm',
  DPMSolverMultistepInverseScheduler: 'solver-inverse',
  FlowMatchHeunDiscreteScheduler: 'flow',
  DPMSolverSDEScheduler: 'euler',
  EDMEulerScheduler: 'edm',
  EDMDPMSolverMultistepScheduler: 'edm',
  CosineDPMSolverMultistepScheduler: 'edm',
  SASolverScheduler: 'solver',
};

/** Which classes read `thresholding` and `clip_sample` (diffusers ignores keys a class does not declare). */
const THRESHOLDING: ReadonlySet<string> = new Set(['DDIMScheduler', 'DDPMScheduler', 'DEISMultistepScheduler', 'DPMSolverMultistepScheduler', 'DPMSolverMultistepInverseScheduler', 'EDMDPMSolverMultistepScheduler', 'DPMSolverSinglestepScheduler', 'UniPCMultistepScheduler', 'SASolverScheduler']);
const CLIP_SAMPLE: ReadonlySet<string> = new Set(['DDIMScheduler', 'DDIMInverseScheduler', 'DDPMScheduler', 'HeunDiscreteScheduler']);

// ---------------------------------------------------------------------------------------------------------
// numpy semantics

/** numpy.interp on an integer grid 0..n-1 (clamped at the ends). */
function interpIndex(x: number, fp: ArrayLike<number>): number {
  const n = fp.length;
  if (x <= 0) return fp[0]!;
  if (x >= n - 1) return fp[n - 1]!;
  const k = Math.floor(x), f = x - k;
  return fp[k]! + f * (fp[k + 1]! - fp[k]!);
}

const f32 = Math.fround;

// ---------------------------------------------------------------------------------------------------------
// the training schedule as diffusers holds it (float32)

interface Table {
  n: number;
  alphasCumprod: Float64Array;
  /** sigma = sqrt((1 - abar) / abar), float32 values (Infinity where abar = 0). */
  sigmas: Float64Array;
  logSigmas: Float64Array;
}

/**
 * The betas as diffusers' torch float32 tensor holds them: linear and scaled_linear from torch.linspace (bit for bit,
 * torchLinspaceF32); the others (trained, squaredcos_cap_v2, zero-SNR rescaled) are float64 in diffusers too before
 * the cast, or rescaled in float32 (zero SNR: tweedie's float64 rescale, cast, may differ in the last bit).
 */
function torchBetas(cfg: SchedulerConfig, path: DiscreteVPPath): Float64Array {
  const n = path.betas.length, schedule = cfg.raw.trained_betas ? null : rawStr(cfg, 'beta_schedule', 'linear');
  if (cfg.raw.rescale_betas_zero_snr !== true && (schedule === 'linear' || schedule === 'scaled_linear')) {
    const start = rawNum(cfg, 'beta_start', 0.0001), end = rawNum(cfg, 'beta_end', 0.02);
    if (schedule === 'linear') return torchLinspaceF32(start, end, n);
    return torchLinspaceF32(Math.sqrt(start), Math.sqrt(end), n).map((r) => f32(r * r));
  }
  return path.betas.map(f32);
}

function trainTable(cfg: SchedulerConfig, path: DiscreteVPPath, zeroSnrFloor: boolean): Table {
  const betas = torchBetas(cfg, path), n = betas.length;
  const ac = new Float64Array(n), sg = new Float64Array(n), ls = new Float64Array(n);
  // torch.cumprod of float32 on the CPU accumulates in float64 and rounds each output.
  let prod = 1;
  for (let i = 0; i < n; i++) {
    prod *= f32(1 - betas[i]!);
    ac[i] = f32(prod);
  }
  // DPM-Solver / Euler / UniPC / DEIS set the last alphas_cumprod to 2^-24 under rescale_betas_zero_snr.
  if (zeroSnrFloor && ac[n - 1]! === 0) ac[n - 1] = 2 ** -24;
  for (let i = 0; i < n; i++) {
    sg[i] = ac[i]! === 0 ? Infinity : f32(Math.sqrt(f32(f32(1 - ac[i]!) / ac[i]!)));
    ls[i] = f32(Math.log(sg[i]!));
  }
  return { n, alphasCumprod: ac, sigmas: sg, logSigmas: ls };
}

/**
 * diffusers' _sigma_to_t: the fractional training timestep whose log sigma (linearly interpolated) is log(sigma).
 * numpy's value-based casting meets the float64 log sigma with the float32 table in float32, so the bracket and the
 * weight w are float32 sums (log sigma of a table sigma gives its integer timestep exactly).
 */
export function sigmaToT(sigma: number, logSigmas: ArrayLike<number>): number {
  const n = logSigmas.length;
  const ls = f32(Math.log(Math.max(sigma, 1e-10)));
  let low = 0;
  for (let i = 0; i < n; i++) if (ls >= logSigmas[i]!) low = i;
  low = Math.min(low, n - 2);
  const lo = logSigmas[low]!, hi = logSigmas[low + 1]!;
  let w = f32(f32(lo - ls) / f32(lo - hi));
  w = Math.min(1, Math.max(0, Number.isNaN(w) ? 0 : w));
  return f32(1 - w) * low + w * (low + 1);
}

/** diffusers' _convert_to_karras / _convert_to_exponential / _convert_to_beta from smax down to smin. */
function spacedSigmas(kind: 'karras' | 'exponential' | 'beta', steps: number, smin: number, smax: number): number[] {
  if (kind === 'karras') return karrasSigmas(steps, smin, smax, 7, npLinspace);
  return kind === 'exponential' ? exponentialSigmas(steps, smin, smax, npLinspace) : betaSigmas(steps, smin, smax);
}

function vpPoint(t: number, sigma: number): GridPoint {
  if (sigma === Infinity) return { t, a: 0, b: 0, s: 1 };
  const a = 1 / Math.sqrt(1 + sigma * sigma);
  return { t, a, b: 0, s: sigma * a };
}

// ---------------------------------------------------------------------------------------------------------
// normalised options (class defaults where scheduler-config.ts has one default for all classes)

function raw(cfg: SchedulerConfig, key: string): unknown {
  const v = cfg.raw[key];
  return v === null ? undefined : v;
}
function rawBool(cfg: SchedulerConfig, key: string, dflt: boolean): boolean {
  const v = raw(cfg, key);
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') fail('BAD_CONFIG', `${cfg.className}: "${key}" is ${JSON.stringify(v)}; expected true or false`);
  return v;
}
function rawNum(cfg: SchedulerConfig, key: string, dflt: number): number {
  const v = raw(cfg, key);
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || Number.isNaN(v)) fail('BAD_CONFIG', `${cfg.className}: "${key}" is ${typeof v === 'number' ? 'NaN' : JSON.stringify(v)}; expected a number`);
  return v;
}
function rawStr(cfg: SchedulerConfig, key: string, dflt: string): string {
  const v = raw(cfg, key);
  if (v === undefined) return dflt;
  if (typeof v !== 'string') fail('BAD_CONFIG', `${cfg.className}: "${key}" is ${JSON.stringify(v)}; expected a string`);
  return v;
}

/** diffusers classes that cannot map onto a denoiser's sampler, and why. */
const UNMAPPABLE: Record<string, string> = {
  CMStochasticIterativeScheduler: 'it samples a consistency model, which maps noise to data in one call, not a denoiser',
  LCMScheduler: 'it samples a latent consistency model, not a denoiser',
  TCDScheduler: 'it samples a trajectory consistency distilled model, not a denoiser',
  VQDiffusionScheduler: 'its diffusion is over discrete tokens, not a Gaussian path',
};

function classOf(cfg: SchedulerConfig): DiffusersClass {
  const c = cfg.className;
  if (!(DIFFUSERS_CLASSES as readonly string[]).includes(c)) {
    const nearest = DIFFUSERS_CLASSES.reduce((best, k) => (editDistance(c, k) < editDistance(c, best) ? k : best));
    const why = UNMAPPABLE[c] ? ` (${UNMAPPABLE[c]})` : '';
    fail('BAD_CONFIG', `scheduler class "${c}" has no tweedie mapping${why}; the nearest mapped class is ${nearest} (supported: ${DIFFUSERS_CLASSES.join(', ')})`);
  }
  return c as DiffusersClass;
}

function vpPath(cfg: SchedulerConfig): DiscreteVPPath {
  if (!(cfg.path instanceof DiscreteVPPath)) fail('BAD_CONFIG', `${cfg.className} needs a discrete VP (beta) schedule, got ${cfg.path.describe()}`);
  return cfg.path;
}

/** diffusers' final_sigmas_type, with each class's default ('zero'; DEIS ends at sigma_min). */
function finalSigmasType(cfg: SchedulerConfig, cls: DiffusersClass): 'zero' | 'sigma_min' {
  const dflt = cls === 'DEISMultistepScheduler' ? 'sigma_min' : 'zero';
  const v = rawStr(cfg, 'final_sigmas_type', dflt);
  if (v !== 'zero' && v !== 'sigma_min') fail('BAD_CONFIG', `${cls}: "final_sigmas_type" is "${v}"; expected zero or sigma_min`);
  return v;
}

/** Spacing with each class's default: leading for DDIM/DDPM/PNDM and DDIM inversion, linspace otherwise. */
function spacing(cfg: SchedulerConfig, cls: DiffusersClass): 'linspace' | 'leading' | 'trailing' {
  const dflt = FAMILY[cls] === 'ddim' || FAMILY[cls] === 'inverse' ? 'leading' : 'linspace';
  const v = rawStr(cfg, 'timestep_spacing', dflt);
  if (v !== 'linspace' && v !== 'leading' && v !== 'trailing') fail('BAD_CONFIG', `${cls}: "timestep_spacing" is "${v}"; expected linspace, leading or trailing`);
  return v;
}

function checkSteps(steps: number, max: number, cls: string): void {
  if (!Number.isInteger(steps) || steps < 1) fail('BAD_INPUT', `${cls}: steps must be a positive integer, got ${steps}`);
  if (steps > max) fail('BAD_INPUT', `${cls}: steps (${steps}) cannot exceed num_train_timesteps (${max})`);
}

export interface DiffusersGridOptions {
  /** FlowMatch use_dynamic_shifting: the resolution-dependent shift mu diffusers' pipelines pass to set_timesteps. */
  mu?: number;
  /** Notes on behaviours where a tweedie run differs from diffusers are pushed here. */
  notes?: string[];
  /**
   * Take the corrected steps where diffusers' own are a known bug or an inconsistency (--fix-diffusers-quirks):
   * DDIM steps between consecutive timesteps and recomputes eps from the clipped x0. Default false: diffusers' steps.
   */
  fixQuirks?: boolean;
}

// ---------------------------------------------------------------------------------------------------------
// the grids

/** DDIM / DDPM / PNDM integer timesteps (descending). */
function ddimTimesteps(n: number, steps: number, sp: string, offset: number): number[] {
  if (sp === 'linspace') return npLinspace(0, n - 1, steps).map(roundHalfEven).reverse();
  if (sp === 'leading') {
    const r = Math.floor(n / steps);
    return Array.from({ length: steps }, (_, i) => (steps - 1 - i) * r + offset);
  }
  // trailing
  return npArange(n, 0, -n / steps).map((v) => roundHalfEven(v) - 1);
}

/** The training table, spacing and integer timesteps (descending) of the DDIM-like classes, checked. */
function ddimSetup(cfg: SchedulerConfig, cls: DiffusersClass, steps: number) {
  const path = vpPath(cfg);
  const table = trainTable(cfg, path, false);
  const n = table.n;
  checkSteps(steps, n, cls);
  const sp = spacing(cfg, cls);
  if (sp === 'linspace' && FAMILY[cls] === 'inverse') fail('BAD_CONFIG', `${cls}: timestep_spacing "linspace" is not supported (diffusers raises too); use leading or trailing`);
  const ts = ddimTimesteps(n, steps, sp, cfg.stepsOffset);
  for (const t of ts) if (t < 0 || t >= n) fail('BAD_CONFIG', `${cls}: timestep ${t} (steps_offset ${cfg.stepsOffset}) is outside [0, ${n - 1}]`);
  return { path, table, n, sp, ts };
}

function ddimFamilyGrid(cfg: SchedulerConfig, cls: DiffusersClass, steps: number, notes: string[], fixQuirks: boolean): GridPoint[] {
  const { path, table, n, sp, ts } = ddimSetup(cfg, cls, steps);
  const pts = ts.map((t) => vpPoint(t, table.sigmas[t]!));
  // The point after the last timestep: DDPM always reaches clean data; DDIM and PNDM reach
  // final_alpha_cumprod = 1 (set_alpha_to_one) or alphas_cumprod[0].
  const alphaToOne = cls === 'DDPMScheduler' ? true : rawBool(cfg, 'set_alpha_to_one', cls === 'DDIMScheduler');
  const last = alphaToOne ? { t: path.tClean, a: 1, b: 0, s: 0 } : vpPoint(0, table.sigmas[0]!);
  if (last.s === 0 || last.s / last.a < pts[pts.length - 1]!.s / pts[pts.length - 1]!.a) pts.push(last);
  else notes.push(`${cls}: the final point (alphas_cumprod[0]) equals the last timestep, so diffusers' last step is the identity; the grid ends at t = 0 without it (one model call fewer)`);
  // DDIM and PNDM step from t to t - N // steps (or the final point below 0), not always to the next listed
  // timestep (linspace and trailing spacings); DDPM steps to the next one.
  if (cls === 'DDPMScheduler') return pts;
  const r = Math.floor(n / steps);
  const strayed = ts.map((t, i) => {
    const to = t - r < 0 ? last : vpPoint(t - r, table.sigmas[t - r]!), next = pts[i + 1] ?? last;
    return to.a !== next.a || to.s !== next.s ? to : null;
  });
  if (!strayed.some((p) => p)) return pts;
  const stride = `${cls} with timestep_spacing ${sp} and ${steps} steps steps from t to t - ${r} (num_train_timesteps // steps), which is not always the next timestep`;
  if (cls === 'DDIMScheduler' && !fixQuirks) {
    notes.push(`${stride}: reproducing diffusers' steps, a known diffusers bug (huggingface/diffusers#12633); --fix-diffusers-quirks (fixQuirks) steps between consecutive timesteps`);
    return pts.map((p, i) => (strayed[i] ? { ...p, ddimTo: strayed[i]! } : p));
  }
  if (cls === 'PNDMScheduler') notes.push(`${stride}; tweedie's PNDM steps between consecutive timesteps, so trajectories differ from diffusers there`);
  return pts;
}

/**
 * DDIMInverseScheduler, from data towards noise. Its step at timestep t hands the model t but takes the sample to be
 * at t - N // steps (or at clean data, set_alpha_to_one, or alphas_cumprod[0] below 0), and lands at t: so grid point
 * i carries the timestep t_i with the noise level of t_i - N // steps. With trailing spacing that level is not where
 * the previous step landed (the stride of diffusers#12633): the landing point rides on ddimTo, unless fixQuirks
 * takes each step from where the previous one landed.
 */
function inverseGrid(cfg: SchedulerConfig, cls: DiffusersClass, steps: number, notes: string[], fixQuirks: boolean): GridPoint[] {
  const { path, table, n, sp, ts: descending } = ddimSetup(cfg, cls, steps);
  const ts = descending.reverse();
  const r = Math.floor(n / steps);
  const initial = rawBool(cfg, 'set_alpha_to_one', true) ? { t: path.tClean, a: 1, b: 0, s: 0 } : vpPoint(0, table.sigmas[0]!);
  const level = (c: number) => (c >= 0 ? vpPoint(c, table.sigmas[c]!) : initial);
  const lands = ts.map((t) => vpPoint(t, table.sigmas[t]!));
  // Without set_alpha_to_one the first step at timestep 0 goes from alphas_cumprod[0] to itself (kept: clip_sample acts).
  const pts: GridPoint[] = ts.map((t, i) => ({ ...(fixQuirks && i > 0 ? lands[i - 1]! : level(Math.min(t - r, n - 1))), t }));
  pts.push(lands[lands.length - 1]!);
  const strayed = lands.map((p, i) => (p.a !== pts[i + 1]!.a || p.s !== pts[i + 1]!.s ? p : null));
  if (!strayed.some((p) => p)) return pts;
  notes.push(`${cls} with timestep_spacing ${sp} and ${steps} steps takes each step from t - ${r} (num_train_timesteps // steps), which is not where the previous step landed: reproducing diffusers' steps, a known diffusers bug (huggingface/diffusers#12633); --fix-diffusers-quirks (fixQuirks) steps from where the previous step landed`);
  return pts.map((p, i) => (strayed[i] ? { ...p, ddimTo: strayed[i]! } : p));
}

/** Euler-family float timesteps (descending), diffusers' EulerDiscreteScheduler.set_timesteps spacing. */
function eulerTimesteps(n: number, steps: number, sp: string, offset: number): number[] {
  if (sp === 'linspace') return npLinspace(0, n - 1, steps).map(f32).reverse();
  if (sp === 'leading') {
    const r = Math.floor(n / steps);
    return Array.from({ length: steps }, (_, i) => f32((steps - 1 - i) * r) + offset);
  }
  return npArange(n, 0, -n / steps).map((v) => f32(roundHalfEven(v)) - 1);
}

function eulerFamilyGrid(cfg: SchedulerConfig, cls: DiffusersClass, steps: number): GridPoint[] {
  const path = vpPath(cfg);
  const table = trainTable(cfg, path, cfg.raw.rescale_betas_zero_snr === true);
  const n = table.n;
  checkSteps(steps, n, cls);
  if (rawStr(cfg, 'interpolation_type', 'linear') !== 'linear') fail('BAD_CONFIG', `${cls}: interpolation_type "${String(cfg.raw.interpolation_type)}" is not supported; use "linear"`);
  if (rawStr(cfg, 'timestep_type', 'discrete') !== 'discrete') fail('BAD_CONFIG', `${cls}: timestep_type "${String(cfg.raw.timestep_type)}" is not supported; use "discrete"`);
  const sp = spacing(cfg, cls);
  let ts = eulerTimesteps(n, steps, sp, cfg.stepsOffset);
  // Sigmas interpolated linearly in sigma over the fractional timesteps (np.interp), then float32.
  let sigmas = ts.map((t) => interpIndex(t, table.sigmas));
  if (cfg.sigmaSpacing === 'karras' || cfg.sigmaSpacing === 'exponential' || cfg.sigmaSpacing === 'beta') {
    const smin = cls === 'EulerDiscreteScheduler' ? rawNum(cfg, 'sigma_min', sigmas[sigmas.length - 1]!) : sigmas[sigmas.length - 1]!;
    const smax = cls === 'EulerDiscreteScheduler' ? rawNum(cfg, 'sigma_max', sigmas[0]!) : sigmas[0]!;
    sigmas = spacedSigmas(cfg.sigmaSpacing, steps, smin, smax);
    ts = sigmas.map((s) => f32(sigmaToT(s, table.logSigmas)));
  } else if (cfg.sigmaSpacing !== null) {
    fail('BAD_CONFIG', `${cls}: use_${cfg.sigmaSpacing}_sigmas is not supported; use use_karras_sigmas, use_exponential_sigmas, use_beta_sigmas or none`);
  }
  const pts = sigmas.map((s, i) => vpPoint(ts[i]!, f32(s)));
  const fin = cls === 'EulerDiscreteScheduler' ? finalSigmasType(cfg, cls) : 'zero';
  pts.push(fin === 'zero' ? { t: path.tClean, a: 1, b: 0, s: 0 } : vpPoint(0, table.sigmas[0]!));
  if (cls !== 'KDPM2DiscreteScheduler' && cls !== 'KDPM2AncestralDiscreteScheduler' && cls !== 'DPMSolverSDEScheduler') return pts;
  // The stage points the KDPM2 and DPMSolverSDE schedulers interleave: sigma_interpol = exp(lerp(log sigma, log sigma_to,
  // 0.5)) in float32, sigma_to the next sigma (or KDPM2 ancestral's sigma_down), and its timestep _sigma_to_t on the
  // float32 table.
  return pts.map((p, i) => {
    const next = pts[i + 1];
    if (!next || next.s === 0) return p;
    const sg = f32(p.s / p.a), sn = f32(next.s / next.a);
    let to = sn;
    if (cls === 'KDPM2AncestralDiscreteScheduler') {
      const up2 = f32(f32(sn * sn) * f32(f32(sg * sg) - f32(sn * sn))) / f32(sg * sg);
      to = f32(Math.sqrt(Math.max(0, f32(sn * sn) - f32(up2))));
      // float32 can round sigma_down to 0 where sigma' is tiny (diffusers#14213): the sampler takes its own stage there.
      if (to === 0) return p;
    }
    const lsg = f32(Math.log(sg));
    const mid = f32(Math.exp(f32(lsg + 0.5 * f32(f32(Math.log(to)) - lsg))));
    return { ...p, mid: vpPoint(sigmaToT(mid, table.logSigmas), mid) };
  });
}

/** lambda_min_clipped: how many training timesteps have a half log-SNR below it (the noisiest ones, dropped). */
function clippedCount(cfg: SchedulerConfig, table: Table): number {
  const lmc = rawNum(cfg, 'lambda_min_clipped', -Infinity);
  let clipped = 0;
  for (let i = 0; i < table.n; i++) {
    const ab = table.alphasCumprod[i]!;
    if (f32(f32(Math.log(f32(Math.sqrt(ab)))) - f32(Math.log(f32(Math.sqrt(f32(1 - ab)))))) < lmc) clipped++;
  }
  return clipped;
}

/** DPM-Solver multistep / singlestep, UniPC, DEIS, SA-Solver. */
function solverGrid(cfg: SchedulerConfig, cls: DiffusersClass, steps: number, notes: string[]): GridPoint[] {
  if (cfg.sigmaSpacing === 'flow') fail('BAD_CONFIG', `${cls}: use_flow_sigmas is not supported yet; use FlowMatchEulerDiscreteScheduler`);
  const path = vpPath(cfg);
  const table = trainTable(cfg, path, cfg.raw.rescale_betas_zero_snr === true);
  const n = table.n;
  checkSteps(steps, n, cls);
  const clips = cls === 'DPMSolverMultistepScheduler' || cls === 'DPMSolverSinglestepScheduler' || cls === 'SASolverScheduler';
  const last = clips ? n - clippedCount(cfg, table) : n;
  // DPMSolverSinglestepScheduler spaces its timesteps with linspace whatever timestep_spacing says.
  const sp = cls === 'DPMSolverSinglestepScheduler' ? 'linspace' : spacing(cfg, cls);
  if (cls === 'DPMSolverSinglestepScheduler' && raw(cfg, 'timestep_spacing') !== undefined && raw(cfg, 'timestep_spacing') !== 'linspace') {
    notes.push(`${cls} ignores timestep_spacing "${String(raw(cfg, 'timestep_spacing'))}" (it always spaces with linspace), and so does this grid`);
  }
  let ts: number[];
  if (sp === 'linspace') ts = npLinspace(0, last - 1, steps + 1).map(roundHalfEven).reverse().slice(0, steps);
  else if (sp === 'leading') {
    const r = Math.floor(last / (steps + 1));
    ts = Array.from({ length: steps }, (_, i) => (steps - i) * r + cfg.stepsOffset);
  } else ts = npArange(last, 0, -n / steps).map((v) => roundHalfEven(v) - 1);
  // When steps approach num_train_timesteps the rounded timesteps repeat; diffusers keeps the first of each.
  const listed = ts.length;
  ts = ts.filter((t, i) => ts.indexOf(t) === i);
  // SASolverScheduler keeps repeated timesteps (zero-length steps) and knows only use_karras_sigmas.
  if (cls === 'SASolverScheduler' && ts.length < listed) notes.push(`${cls}: ${steps} steps repeat timesteps; diffusers steps on the repeats (zero-length steps), this grid drops them`);
  let spaced = cfg.sigmaSpacing;
  if (cls === 'SASolverScheduler' && spaced !== null && spaced !== 'karras') {
    notes.push(`${cls} has no use_${spaced}_sigmas option; it is ignored, as diffusers ignores it`);
    spaced = null;
  }
  let sigmas: number[];
  switch (spaced) {
    case 'karras':
      sigmas = karrasSigmas(steps, table.sigmas[0]!, table.sigmas[n - 1]!, 7, npLinspace);
      ts = sigmas.map((s) => roundHalfEven(sigmaToT(s, table.logSigmas)));
      break;
    case 'lu': {
      if (cls !== 'DPMSolverMultistepScheduler') fail('BAD_CONFIG', `${cls}: use_lu_lambdas is only a DPMSolverMultistepScheduler option`);
      sigmas = npLinspace(0, 1, steps).map((r) => Math.exp(table.logSigmas[n - 1]! + r * (table.logSigmas[0]! - table.logSigmas[n - 1]!)));
      ts = sigmas.map((s) => roundHalfEven(sigmaToT(s, table.logSigmas)));
      break;
    }
    case 'exponential':
    case 'beta':
      sigmas = spacedSigmas(spaced, steps, table.sigmas[0]!, table.sigmas[n - 1]!);
      // diffusers casts these unrounded timesteps to int64 (truncation).
      ts = sigmas.map((s) => Math.trunc(sigmaToT(s, table.logSigmas)));
      break;
    case null:
      sigmas = ts.map((t) => interpIndex(t, table.sigmas));
      break;
    default:
      return fail('BAD_CONFIG', `${cls}: use_${cfg.sigmaSpacing}_sigmas is not supported; use use_karras_sigmas, use_exponential_sigmas, use_beta_sigmas${cls === 'DPMSolverMultistepScheduler' ? ', use_lu_lambdas' : ''} or none`);
  }
  const pts = sigmas.map((s, i) => vpPoint(ts[i]!, f32(s)));
  // SASolverScheduler always ends at sigma_min (the sigma of alphas_cumprod[0]).
  const fin = cls === 'SASolverScheduler' ? 'sigma_min' : finalSigmasType(cfg, cls);
  // When the spaced sigmas already end at sigma_min, diffusers' last step has zero length; it is kept (module notes).
  pts.push(fin === 'zero' ? { t: path.tClean, a: 1, b: 0, s: 0 } : vpPoint(0, table.sigmas[0]!));
  return pts;
}

/**
 * DPMSolverMultistepInverseScheduler, from data towards noise: integer timesteps ascending from 0 up to the noisiest
 * one lambda_min_clipped keeps, each carrying its table sigma (or the spaced sigmas, which _convert_to_karras & co.
 * build ascending because they read the table's first and last entries as sigma_max and sigma_min), then the
 * noisiest sigma (spaced: the last sigma again, a zero-length last step).
 */
function solverInverseGrid(cfg: SchedulerConfig, cls: DiffusersClass, steps: number): GridPoint[] {
  const path = vpPath(cfg);
  const table = trainTable(cfg, path, false);
  const n = table.n;
  checkSteps(steps, n, cls);
  const top = n - 1 - clippedCount(cfg, table);
  const sp = spacing(cfg, cls);
  let ts: number[];
  if (sp === 'linspace') ts = npLinspace(0, top, steps + 1).map(roundHalfEven).slice(0, steps);
  else if (sp === 'leading') {
    const r = Math.floor((top + 1) / (steps + 1));
    ts = Array.from({ length: steps }, (_, i) => i * r + cfg.stepsOffset);
  } else ts = npArange(top + 1, 0, -n / steps).map((v) => roundHalfEven(v) - 1).reverse();
  let sigmas: number[];
  let last: GridPoint;
  if (cfg.sigmaSpacing === 'karras' || cfg.sigmaSpacing === 'exponential' || cfg.sigmaSpacing === 'beta') {
    sigmas = spacedSigmas(cfg.sigmaSpacing, steps, table.sigmas[n - 1]!, table.sigmas[0]!);
    ts = sigmas.map((sg) => (cfg.sigmaSpacing === 'karras' ? roundHalfEven : Math.trunc)(sigmaToT(sg, table.logSigmas)));
    last = vpPoint(ts[ts.length - 1]!, f32(sigmas[sigmas.length - 1]!));
  } else if (cfg.sigmaSpacing === null) {
    sigmas = ts.map((t) => interpIndex(t, table.sigmas));
    last = vpPoint(top, table.sigmas[top]!);
  } else {
    return fail('BAD_CONFIG', `${cls}: use_${cfg.sigmaSpacing}_sigmas is not supported; use use_karras_sigmas, use_exponential_sigmas, use_beta_sigmas or none`);
  }
  // When steps approach num_train_timesteps the rounded timesteps repeat; diffusers keeps the first of each.
  const pts = sigmas.map((sg, i) => vpPoint(ts[i]!, f32(sg))).filter((p, i) => ts.indexOf(p.t) === i);
  pts.push(last);
  return pts;
}

/** FlowMatchEulerDiscreteScheduler: sigmas linspace(1, 1/N, steps), shifted once (diffusers#13243 fixed), then 0. */
function flowGrid(cfg: SchedulerConfig, cls: DiffusersClass, steps: number, opts: DiffusersGridOptions): GridPoint[] {
  const n = cfg.numTrainTimesteps;
  if (!Number.isInteger(steps) || steps < 1) fail('BAD_INPUT', `${cls}: steps must be a positive integer, got ${steps}`);
  // Flow matching has no num_train_timesteps bound on its steps: the grid's own limit applies.
  checkGridSteps(steps);
  if (cls === 'FlowMatchHeunDiscreteScheduler') return flowHeunGrid(cfg, steps);
  let sigmas = npLinspace(n, 1, steps).map((t) => t / n);
  if (rawBool(cfg, 'use_dynamic_shifting', false)) {
    if (opts.mu === undefined) fail('BAD_CONFIG', `${cls}: use_dynamic_shifting needs mu (diffusers pipelines compute it from the image size); pass it in the grid options`);
    const mu = opts.mu;
    const linear = rawStr(cfg, 'time_shift_type', 'exponential') === 'linear';
    sigmas = sigmas.map((t) => (linear ? mu / (mu + (1 / t - 1)) : Math.exp(mu) / (Math.exp(mu) + (1 / t - 1))));
  } else {
    const sh = rawNum(cfg, 'shift', 1);
    sigmas = sigmas.map((s) => (sh * s) / (1 + (sh - 1) * s));
  }
  const term = rawNum(cfg, 'shift_terminal', 0);
  if (term) {
    const scaleF = (1 - sigmas[sigmas.length - 1]!) / (1 - term);
    sigmas = sigmas.map((s) => 1 - (1 - s) / scaleF);
  }
  if (cfg.sigmaSpacing === 'karras' || cfg.sigmaSpacing === 'exponential' || cfg.sigmaSpacing === 'beta') sigmas = spacedSigmas(cfg.sigmaSpacing, steps, sigmas[sigmas.length - 1]!, sigmas[0]!);
  else if (cfg.sigmaSpacing !== null) fail('BAD_CONFIG', `${cls}: use_${cfg.sigmaSpacing}_sigmas is not supported`);
  if (rawBool(cfg, 'invert_sigmas', false)) fail('BAD_CONFIG', `${cls}: invert_sigmas is not supported`);
  const pts: GridPoint[] = sigmas.map((s) => {
    const sg = f32(s);
    return { t: sg, a: 1 - sg, b: 0, s: sg };
  });
  pts.push({ t: 0, a: 1, b: 0, s: 0 });
  return pts;
}

/**
 * FlowMatchHeunDiscreteScheduler (shift its only option): linspace from sigma_max = 1 to its __init__'s shifted
 * sigma_min = shift / N / (1 + (shift - 1) / N) in steps, shifted again (diffusers shifts sigma_min twice here, the
 * stride FlowMatchEuler had before diffusers#13243), in float32, then 0.
 */
function flowHeunGrid(cfg: SchedulerConfig, steps: number): GridPoint[] {
  const n = cfg.numTrainTimesteps, sh = rawNum(cfg, 'shift', 1);
  const shift = (s: number) => (sh * s) / (1 + (sh - 1) * s);
  const pts: GridPoint[] = npLinspace(n, f32(shift(1 / n)) * n, steps).map((t) => {
    const sg = f32(shift(t / n));
    return { t: sg, a: 1 - sg, b: 0, s: sg };
  });
  pts.push({ t: 0, a: 1, b: 0, s: 0 });
  return pts;
}

/**
 * EDMEulerScheduler and EDMDPMSolverMultistepScheduler: sigma_schedule karras (rho from the config) or exponential between sigma_min and sigma_max in
 * float32, then 0 (final_sigmas_type zero) or sigma_min; grid points on the EDM path (t = sigma; the network's
 * c_noise = log(sigma) / 4 is applied by edmPreconditioned).
 */
function edmGrid(cfg: SchedulerConfig, cls: DiffusersClass, steps: number): GridPoint[] {
  if (!Number.isInteger(steps) || steps < 1) fail('BAD_INPUT', `${cls}: steps must be a positive integer, got ${steps}`);
  checkGridSteps(steps);
  const { tMin: smin, tMax: smax } = cfg.path;
  const kind = rawStr(cfg, 'sigma_schedule', cls === 'CosineDPMSolverMultistepScheduler' ? 'exponential' : 'karras');
  if (kind !== 'karras' && kind !== 'exponential') fail('BAD_CONFIG', `${cls}: "sigma_schedule" is "${kind}"; expected karras or exponential`);
  const sigmas = kind === 'karras' ? karrasSigmas(steps, smin, smax, rawNum(cfg, 'rho', 7), npLinspace) : exponentialSigmas(steps, smin, smax, npLinspace);
  const pts: GridPoint[] = sigmas.map((sg) => ({ t: f32(sg), a: 1, b: 0, s: f32(sg) }));
  pts.push(rawStr(cfg, 'final_sigmas_type', 'zero') === 'zero' ? { t: 0, a: 1, b: 0, s: 0 } : { t: smin, a: 1, b: 0, s: smin });
  return pts;
}

/**
 * IPNDMScheduler (v-diffusion's clock): u = linspace(1, 0, steps + 1) in float32, s = sin(u pi / 2)^2 (diffusers calls
 * it betas), a = sqrt(1 - s^2), the model's timestep atan2(s, a) 2 / pi; the grid starts at a = 0 (pure noise).
 */
function ipndmGrid(cls: DiffusersClass, steps: number): GridPoint[] {
  if (!Number.isInteger(steps) || steps < 1) fail('BAD_INPUT', `${cls}: steps must be a positive integer, got ${steps}`);
  checkGridSteps(steps);
  const pi = f32(Math.PI);
  return Array.from(torchLinspaceF32(1, 0, steps + 1), (u, k) => {
    const sn = k === steps ? 0 : f32(Math.sin(f32(f32(u * pi) / 2)));
    const s = f32(sn * sn), a = f32(Math.sqrt(f32(1 - f32(s * s))));
    return { t: f32(f32(f32(Math.atan2(s, a)) / pi) * 2), a, b: 0, s };
  });
}

/**
 * The grid diffusers' `set_timesteps(steps)` produces for the config's scheduler class, as tweedie grid points
 * (noise first, then towards data). One grid step is one diffusers step (Heun and KDPM2 take two model calls per
 * step inside the sampler, as diffusers' interleaved timesteps do).
 */
export function diffusersGrid(cfg: SchedulerConfig, steps: number, opts: DiffusersGridOptions = {}): TimeGrid {
  const cls = classOf(cfg);
  const notes = opts.notes ?? [];
  switch (FAMILY[cls]) {
    case 'ddim':
      return ddimFamilyGrid(cfg, cls, steps, notes, opts.fixQuirks ?? false);
    case 'inverse':
      return inverseGrid(cfg, cls, steps, notes, opts.fixQuirks ?? false);
    case 'euler':
      return eulerFamilyGrid(cfg, cls, steps);
    case 'solver':
      return solverGrid(cfg, cls, steps, notes);
    case 'flow':
      return flowGrid(cfg, cls, steps, opts);
    case 'ipndm':
      return ipndmGrid(cls, steps);
    case 'solver-inverse':
      return solverInverseGrid(cfg, cls, steps);
    case 'edm':
      return edmGrid(cfg, cls, steps);
  }
}

/**
 * diffusers' init_noise_sigma in its own scaling: 1 for the VP classes and flow matching; for the Euler family
 * the largest sigma (linspace, trailing) or sqrt(sigma_max^2 + 1) (leading).
 */
export function diffusersInitNoiseSigma(cfg: SchedulerConfig, grid: TimeGrid): number {
  const cls = classOf(cfg);
  // EDMEulerScheduler and EDMDPMSolverMultistepScheduler: sqrt(sigma_max^2 + 1) whatever the spacing.
  if (FAMILY[cls] === 'edm') return Math.sqrt(grid[0]!.s ** 2 + 1);
  if (FAMILY[cls] !== 'euler') return 1;
  const p = grid[0]!;
  const smax = f32(p.s / p.a);
  return spacing(cfg, cls) === 'leading' ? Math.sqrt(smax * smax + 1) : smax;
}

/** Factor that turns standard normal noise into tweedie's initial state at grid[0] (diffusers' initial latents, in tweedie's scaling). */
export function initNoiseScale(cfg: SchedulerConfig, grid: TimeGrid): number {
  const cls = classOf(cfg);
  return FAMILY[cls] === 'euler' || FAMILY[cls] === 'edm' ? grid[0]!.a * diffusersInitNoiseSigma(cfg, grid) : 1;
}

// ---------------------------------------------------------------------------------------------------------
// the sampler mapping

export interface DiffusersSampling {
  className: DiffusersClass;
  path: Path;
  prediction: PredictionType;
  sampler: SamplerDef;
  /** The sampler's full params (resolved with its defaults). */
  params: ParamValues;
  /** ModelFn options, only where the class applies them. */
  thresholding: { ratio: number; maxValue: number } | null;
  clipSample: number | null;
  /** Pair the clipped / thresholded x0 with the model's own eps (diffusers' DDIM; ModelFnOptions.keepModelEps). */
  keepModelEps: boolean;
  /** Multiply GridPoint.t by this for diffusers' model timestep (num_train_timesteps for flow matching, else 1). */
  timestepScale: number;
  /**
   * EDM and cosine classes: the network is preconditioned; wrap it with edmPreconditioned(network, path, outputSign,
   * cNoise) (sign -1 for prediction_type v_prediction), which reads it as an x0 model on the EDM path. null otherwise.
   */
  precondition: { outputSign: 1 | -1; cNoise: (sigma: number) => number } | null;
  grid(steps: number, opts?: DiffusersGridOptions): TimeGrid;
  /** Where a tweedie run cannot take diffusers' exact steps for this config. */
  notes: string[];
}

function unsupported(cls: string, what: string): never {
  return fail('BAD_CONFIG', `${cls}: ${what} is not supported by tweedie's samplers`);
}

function order(cfg: SchedulerConfig, cls: string): number {
  const o = rawNum(cfg, 'solver_order', 2);
  if (!Number.isInteger(o) || o < 1 || o > 3) fail('BAD_CONFIG', `${cls}: "solver_order" is ${o}; expected 1, 2 or 3`);
  return o;
}

/** SASolverScheduler's predictor_order / corrector_order (1 to 4, default 2). */
function saOrder(cfg: SchedulerConfig, cls: string, key: 'predictor_order' | 'corrector_order'): number {
  const o = rawNum(cfg, key, 2);
  if (!Number.isInteger(o) || o < 1 || o > 4) fail('BAD_CONFIG', `${cls}: "${key}" is ${o}; expected 1, 2, 3 or 4`);
  return o;
}

function mapSampler(cfg: SchedulerConfig, cls: DiffusersClass, notes: string[]): { sampler: SamplerDef; params: Partial<ParamValues> } {
  const variance = raw(cfg, 'variance_type');
  switch (cls) {
    case 'DDIMScheduler':
      return { sampler: ddim, params: { eta: 0 } };
    case 'DDIMInverseScheduler':
      return { sampler: ddimInverse, params: { clean_start: 'as-is' } };
    case 'DDPMScheduler': {
      const v = (variance as string | undefined) ?? 'fixed_small';
      if (v === 'fixed_small' || v === 'fixed_small_log') return { sampler: ddpm, params: { variance_type: 'fixed_small' } };
      if (v === 'fixed_large' || v === 'fixed_large_log') return { sampler: ddpm, params: { variance_type: 'fixed_large' } };
      return unsupported(cls, `variance_type "${String(v)}" (a learned variance needs the model's variance output)`);
    }
    case 'PNDMScheduler':
      return { sampler: rawBool(cfg, 'skip_prk_steps', false) ? plms : pndm, params: {} };
    case 'EulerDiscreteScheduler':
      return { sampler: euler, params: {} };
    case 'EulerAncestralDiscreteScheduler':
      return { sampler: eulerAncestral, params: { eta: 1 } };
    case 'HeunDiscreteScheduler':
      return { sampler: heun, params: {} };
    case 'KDPM2DiscreteScheduler':
      return { sampler: dpm2, params: {} };
    case 'KDPM2AncestralDiscreteScheduler':
      return { sampler: dpm2Ancestral, params: { eta: 1 } };
    case 'EDMEulerScheduler':
      return { sampler: euler, params: {} };
    case 'DPMSolverSDEScheduler':
      if (raw(cfg, 'noise_sampler_seed') !== undefined) notes.push(`${cls}: noise_sampler_seed is not used; the Brownian path comes from the run's seed`);
      return { sampler: dpmppSde, params: { eta: 1 } };
    case 'LMSDiscreteScheduler':
      return { sampler: lms, params: { order: 4 } };
    case 'DEISMultistepScheduler': {
      const alg = rawStr(cfg, 'algorithm_type', 'deis');
      if (!['deis', 'dpmsolver', 'dpmsolver++'].includes(alg)) unsupported(cls, `algorithm_type "${alg}"`);
      return { sampler: deis, params: { order: order(cfg, cls), lower_order_final: rawBool(cfg, 'lower_order_final', true) } };
    }
    case 'DPMSolverMultistepScheduler':
    case 'EDMDPMSolverMultistepScheduler':
    case 'CosineDPMSolverMultistepScheduler':
    case 'DPMSolverSinglestepScheduler': {
      const single = cls === 'DPMSolverSinglestepScheduler';
      if (variance === 'learned' || variance === 'learned_range') unsupported(cls, `variance_type "${variance}" (the model's extra variance channels)`);
      // CosineDPMSolverMultistepScheduler always takes sde-dpmsolver++ steps (its noise: see the notes).
      let alg = cls === 'CosineDPMSolverMultistepScheduler' ? 'sde-dpmsolver++' : rawStr(cfg, 'algorithm_type', 'dpmsolver++');
      if (cls === 'CosineDPMSolverMultistepScheduler') notes.push(`${cls}: its noise is the run's per-step Philox noise, not diffusers' Brownian tree, so samples differ from diffusers' draw for draw`);
      if (alg === 'deis') alg = 'dpmsolver++';
      const fin = finalSigmasType(cfg, cls);
      if ((alg === 'dpmsolver' || alg === 'sde-dpmsolver') && fin === 'zero') {
        fail('BAD_CONFIG', `${cls}: final_sigmas_type "zero" is not supported with algorithm_type ${alg} (diffusers raises too); use "sigma_min"`);
      }
      let solverType = rawStr(cfg, 'solver_type', 'midpoint');
      if (['logrho', 'bh1', 'bh2'].includes(solverType)) solverType = 'midpoint';
      if (solverType !== 'midpoint' && solverType !== 'heun') unsupported(cls, `solver_type "${solverType}"`);
      const o = order(cfg, cls);
      const lof = rawBool(cfg, 'lower_order_final', !single);
      const eaf = single ? false : rawBool(cfg, 'euler_at_final', false);
      const common = { solver_type: solverType, lower_order_final: lof, euler_at_final: eaf };
      if (alg === 'sde-dpmsolver++') {
        if (single) unsupported(cls, 'algorithm_type sde-dpmsolver++ in the singlestep scheduler');
        return { sampler: dpmSolverPPSde, params: { ...common, order: o, eta: 1, third_order: 'diffusers' } };
      }
      if (alg === 'sde-dpmsolver') unsupported(cls, 'algorithm_type sde-dpmsolver');
      if (alg === 'dpmsolver' || o === 1) {
        // First order is the same DDIM step for both algorithms.
        return { sampler: dpmSolver, params: { ...common, order: o, method: single ? 'singlestep' : 'multistep' } };
      }
      if (alg !== 'dpmsolver++') unsupported(cls, `algorithm_type "${alg}"`);
      return { sampler: dpmSolverPP, params: { ...common, variant: `${o}${single ? 'S' : 'M'}` } };
    }
    case 'UniPCMultistepScheduler': {
      if (raw(cfg, 'solver_p') !== undefined) unsupported(cls, 'solver_p');
      let variant = rawStr(cfg, 'solver_type', 'bh2');
      if (variant !== 'bh1' && variant !== 'bh2') variant = 'bh2';
      const dc = raw(cfg, 'disable_corrector') ?? [];
      if (!Array.isArray(dc) || !dc.every((v, i) => v === i)) unsupported(cls, `disable_corrector ${JSON.stringify(dc)} (only a prefix [0, 1, ..., n-1] maps)`);
      return {
        sampler: unipc,
        params: { order: order(cfg, cls), variant, predict_x0: rawBool(cfg, 'predict_x0', true), lower_order_final: rawBool(cfg, 'lower_order_final', true), disable_corrector: dc.length },
      };
    }
    case 'SASolverScheduler': {
      if (variance === 'learned' || variance === 'learned_range') unsupported(cls, `variance_type "${variance}" (the model's extra variance channels)`);
      if (cfg.prediction === 'velocity') fail('BAD_CONFIG', `${cls}: prediction_type must be epsilon, sample or v_prediction (diffusers' SASolverScheduler reads no other)`);
      const alg = rawStr(cfg, 'algorithm_type', 'data_prediction');
      if (alg !== 'data_prediction' && alg !== 'noise_prediction') fail('BAD_CONFIG', `${cls}: "algorithm_type" is "${alg}"; expected data_prediction or noise_prediction`);
      if (raw(cfg, 'tau_func') !== undefined) fail('BAD_CONFIG', `${cls}: "tau_func" is a Python function and cannot come from a config file; remove it for diffusers' default band, or run --sampler sa-solver with --param tau=... / tau_where=all`);
      return {
        sampler: saSolver,
        params: { predictor_order: saOrder(cfg, cls, 'predictor_order'), corrector_order: saOrder(cfg, cls, 'corrector_order'), algorithm_type: alg, lower_order_final: rawBool(cfg, 'lower_order_final', true) },
      };
    }
    case 'FlowMatchEulerDiscreteScheduler':
      if (rawBool(cfg, 'stochastic_sampling', false)) unsupported(cls, 'stochastic_sampling');
      return { sampler: flowEuler, params: {} };
    case 'FlowMatchHeunDiscreteScheduler':
      return { sampler: flowHeun, params: {} };
    case 'IPNDMScheduler':
      return { sampler: ipndm, params: {} };
    case 'DPMSolverMultistepInverseScheduler': {
      const alg = rawStr(cfg, 'algorithm_type', 'dpmsolver++');
      if (alg !== 'dpmsolver++' && alg !== 'deis') unsupported(cls, `algorithm_type "${alg}" (dpmsolver++ is)`);
      if (variance === 'learned' || variance === 'learned_range') unsupported(cls, `variance_type "${variance}" (the model's extra variance channels)`);
      let solverType = rawStr(cfg, 'solver_type', 'midpoint');
      if (['logrho', 'bh1', 'bh2'].includes(solverType)) solverType = 'midpoint';
      if (solverType !== 'midpoint' && solverType !== 'heun') unsupported(cls, `solver_type "${solverType}"`);
      const o = order(cfg, cls);
      if (o === 1) unsupported(cls, 'solver_order 1 (ddim-inverse is that step: use DDIMInverseScheduler)');
      return {
        sampler: dpmSolverPPInverse,
        params: { variant: `${o}M`, solver_type: solverType, lower_order_final: rawBool(cfg, 'lower_order_final', true), euler_at_final: rawBool(cfg, 'euler_at_final', false) },
      };
    }
  }
}

/** diffusers' precondition_outputs: c_out = +sigma sigma_data / ... for epsilon, minus for v_prediction. */
function edmOutputSign(cfg: SchedulerConfig, cls: string): 1 | -1 {
  if (cfg.prediction === 'eps') return 1;
  if (cfg.prediction === 'v') return -1;
  return fail('BAD_CONFIG', `${cls}: prediction_type must be epsilon or v_prediction (diffusers' EDM preconditioning reads no other)`);
}

/**
 * The tweedie sampler, params and ModelFn options that take diffusers' steps for this config (or with `fixQuirks`
 * the corrected ones, see DiffusersGridOptions), and its grid. Throws BAD_CONFIG for an unsupported class or option
 * value.
 */
export function samplerForConfig(cfg: SchedulerConfig, opts: { fixQuirks?: boolean } = {}): DiffusersSampling {
  const cls = classOf(cfg);
  const notes: string[] = [];
  const fixQuirks = opts.fixQuirks ?? false;
  const { sampler, params } = mapSampler(cfg, cls, notes);
  const family = FAMILY[cls];
  if (family === 'flow' && cfg.prediction !== 'velocity') fail('BAD_CONFIG', `${cls}: prediction_type must be flow_prediction`);
  const clipDefault = cls === 'DDIMScheduler' || cls === 'DDIMInverseScheduler' || cls === 'DDPMScheduler';
  const clip = CLIP_SAMPLE.has(cls) && rawBool(cfg, 'clip_sample', clipDefault) ? rawNum(cfg, 'clip_sample_range', 1) : null;
  return {
    className: cls,
    path: cfg.path,
    prediction: cfg.prediction,
    sampler,
    params: resolveParams(sampler, params),
    thresholding: THRESHOLDING.has(cls) ? cfg.thresholding : null,
    clipSample: clip,
    keepModelEps: (cls === 'DDIMScheduler' || cls === 'DDIMInverseScheduler') && !fixQuirks && (clip !== null || cfg.thresholding !== null),
    timestepScale: family === 'flow' ? cfg.numTrainTimesteps : 1,
    precondition: family === 'edm' ? { outputSign: edmOutputSign(cfg, cls), cNoise: cls === 'CosineDPMSolverMultistepScheduler' ? cosineNoise : edmNoise } : null,
    grid: (steps, gridOpts = {}) => diffusersGrid(cfg, steps, { fixQuirks, ...gridOpts, notes: gridOpts.notes ?? notes }),
    notes,
  };
}

/** Everything `tweedie sample --scheduler-config FILE --steps N` needs. */
export interface ConfigSampling extends Omit<DiffusersSampling, 'grid'> {
  steps: number;
  grid: TimeGrid;
  /** Multiply standard normal noise by this for the initial state at grid[0]. */
  initNoiseScale: number;
}

/** Everything `tweedie sample --scheduler-config` needs from a parsed scheduler config (read it with readSchedulerConfig). */
export function configToSampling(cfg: SchedulerConfig, steps: number, opts: DiffusersGridOptions & { warn?: (msg: string) => void } = {}): ConfigSampling {
  const s = samplerForConfig(cfg, { fixQuirks: opts.fixQuirks ?? false });
  const grid = s.grid(steps, opts.mu === undefined ? {} : { mu: opts.mu });
  for (const n of s.notes) opts.warn?.(n);
  return {
    className: s.className,
    path: s.path,
    prediction: s.prediction,
    sampler: s.sampler,
    params: s.params,
    thresholding: s.thresholding,
    clipSample: s.clipSample,
    keepModelEps: s.keepModelEps,
    timestepScale: s.timestepScale,
    precondition: s.precondition,
    notes: s.notes,
    steps,
    grid,
    initNoiseScale: initNoiseScale(cfg, grid),
  };
}
