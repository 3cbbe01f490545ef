import { fail } from '../core/errors.js';
import { lincomb2, lincomb3, scale } from '../core/ops.js';
import { NoiseSource, Stream } from '../core/rng.js';
import type { Tensor } from '../core/tensor.js';
import type { GridPoint, Path } from '../paths/path.js';
import { ALL_PREDICTIONS } from './common.js';
import { ddimNoiseScale, ddimStep } from './ddim.js';
import type { ParamSpecs, ParamsOf } from './method.js';
import { defineSampler, type SamplerContext, type SamplerDef } from './types.js';
import { estimateBuffers } from '../models/model-fn.js';

/**
 * k-diffusion-style samplers (Karras et al. 2022, "Elucidating the design space", and
 * crowsonkb/k-diffusion k_diffusion/sampling.py). They work in sigma = s/a on x~ = z/a, where the
 * probability-flow ODE is dx~/dsigma = eps (the derivative d = (x~ - x0)/sigma of `to_d`). Each
 * update is written back in (a, s) form, x~ = x0 + sigma eps  <=>  z = a x0 + s eps, so a step that
 * needs only the current estimate (Euler, ancestral, DDPM) is finite even where a = 0; the
 * second-order ones (heun, dpm2) need a finite sigma and refuse a grid starting at a = 0.
 */

const sigmaOf = (p: GridPoint): number => p.s / p.a;

/** The clear refusal for a start at a = 0 (sigma = inf), e.g. rectified flow at t = 1. */
function refuseInfiniteSigma(name: string, p: GridPoint): never {
  return fail(
    'UNSUPPORTED',
    `${name} works in sigma = s/a, which is infinite at the grid's first point (t = ${p.t}, a = 0: pure noise) and its second-order correction is infinite there; ` +
      'start the grid before that point (e.g. tStart = 0.999 on rectified flow) or use euler, flow-heun, rk45 or a DPM-Solver',
  );
}

/** Karras Alg. 2 churn knobs, with the defaults of k-diffusion sample_euler / diffusers EulerDiscreteScheduler.step. */
const CHURN_PARAMS = {
  s_churn: { type: 'number', default: 0, min: 0, doc: 'Karras S_churn: gamma = min(s_churn / steps, sqrt(2) - 1) of extra noise per step (0: deterministic)' },
  s_tmin: { type: 'number', default: 0, min: 0, doc: 'churn only where sigma = s/a >= s_tmin' },
  s_tmax: { type: 'number', default: Number.MAX_VALUE, min: 0, doc: 'churn only where sigma = s/a <= s_tmax (default: no limit)' },
  s_noise: { type: 'number', default: 1, min: 0, doc: 'scale of the churn noise (Karras S_noise, e.g. 1.003)' },
} as const satisfies ParamSpecs;

/**
 * Karras et al. 2022 Alg. 2 lines 4-6: raise sigma to sigma_hat = (1 + gamma) sigma by adding noise
 * of variance sigma_hat^2 - sigma^2 to x~ = z/a. Returns the point at sigma_hat (z is updated in
 * place to the centered state there) or `from` when there is no churn. sigma_hat is the sigma of the
 * path point actually reached, so a sigma_hat beyond the path's noise end is clamped to it.
 */
function churn(path: Path, noise: NoiseSource, z: Tensor, xi: Tensor, from: GridPoint, step: number, steps: number, params: ParamsOf<typeof CHURN_PARAMS>): GridPoint {
  const sChurn = params.s_churn;
  if (sChurn === 0) return from;
  const sigma = sigmaOf(from);
  // sigma = inf (a = 0) is above every finite s_tmax: no churn there.
  if (!(sigma >= params.s_tmin && sigma <= params.s_tmax)) return from;
  const gamma = Math.min(sChurn / steps, Math.SQRT2 - 1);
  if (gamma === 0) return from;
  const p = path.point(Math.min(path.tMax, path.tOfSigma(sigma * (1 + gamma))));
  const sigmaHat = sigmaOf(p);
  if (!(sigmaHat > sigma)) return from;
  const c = params.s_noise * Math.sqrt(sigmaHat * sigmaHat - sigma * sigma);
  noise.fillNormal(xi, step, Stream.noise);
  // z_hat = a_hat (z / a + c xi)
  lincomb2(z, p.a / from.a, z, p.a * c, xi);
  return p;
}

/**
 * Karras Alg. 2 with Euler steps (k-diffusion sample_euler; diffusers scheduling_euler_discrete.py).
 * x~' = x~_hat + (sigma' - sigma_hat) eps = x0 + sigma' eps, i.e. z' = a' x0 + s' eps: without churn
 * this is DDIM (eta = 0) on the same grid, and the step into sigma = 0 is the x0 estimate.
 *
 * diffusers' EulerDiscreteScheduler.step calls the model at sigma before adding the churn noise and then
 * reuses that output at sigma_hat; here the model is evaluated at (x_hat, sigma_hat) as in Karras Alg. 2
 * and k-diffusion. Without churn (the diffusers pipelines' default) the two are the same.
 */
export const euler = defineSampler({
  name: 'euler',
  description: 'Euler on the probability-flow ODE in sigma (Karras et al. 2022 Alg. 2, optional churn), as k-diffusion sample_euler / diffusers EulerDiscreteScheduler',
  order: 1,
  nfePerStep: 1,
  stochastic: false,
  predictions: ALL_PREDICTIONS,
  params: CHURN_PARAMS,
  notes: 'deterministic at the default s_churn = 0 (then identical to ddim with eta = 0); stochastic when s_churn > 0. Churn needs a finite sigma at the churned points.',
  async run({ fn, path, grid, z, noise, params, report }) {
    const steps = grid.length - 1;
    const xi = z.zerosLike(), est = estimateBuffers(z);
    for (let i = 0; i < steps; i++) {
      const from = grid[i]!, to = grid[i + 1]!;
      const p = churn(path, noise, z, xi, from, i, steps, params);
      const { x0, eps } = await fn.estimate(z, p, false, est);
      lincomb2(z, to.a, x0, to.s, eps);
      await report(i + 1, i + 1, z, x0);
    }
    return z;
  },
});

/**
 * k-diffusion get_ancestral_step in ratio form: with r = sigma'/sigma, sigma_up = sigma' u and
 * sigma_down = sigma' sqrt(1 - u^2), u = min(1, eta sqrt(1 - r^2)). r stays finite where a = 0.
 */
export function ancestralFraction(from: GridPoint, to: GridPoint, eta: number): number {
  if (eta === 0 || to.s === 0) return 0;
  const r = (to.s * from.a) / (to.a * from.s);
  return Math.min(1, eta * Math.sqrt(Math.max(0, 1 - r * r)));
}

/** The knobs of k-diffusion's ancestral samplers (diffusers' ancestral schedulers fix eta = 1). */
export const ANCESTRAL_PARAMS = {
  eta: { type: 'number', default: 1, min: 0, doc: 'ancestral noise: sigma_up = min(sigma_next, eta sqrt(sigma_next^2 (sigma^2 - sigma_next^2) / sigma^2)); 0 is deterministic' },
  s_noise: { type: 'number', default: 1, min: 0, doc: 'scale of the added noise (k-diffusion s_noise)' },
} as const satisfies ParamSpecs;

/**
 * Euler ancestral (k-diffusion sample_euler_ancestral; diffusers scheduling_euler_ancestral_discrete.py,
 * whose eta is fixed to 1): Euler to sigma_down, then fresh noise of std sigma_up; in (a, s) form
 * z' = a' x0 + s' sqrt(1 - u^2) eps + s_noise s' u xi. With eta = 1 this is the DDPM posterior
 * sample (= ddim eta 1 = ddpm fixed_small on the same grid and noise).
 */
export const eulerAncestral = defineSampler({
  name: 'euler-ancestral',
  description: 'Euler ancestral (k-diffusion sample_euler_ancestral / diffusers EulerAncestralDiscreteScheduler): Euler step to sigma_down plus noise sigma_up',
  order: 1,
  nfePerStep: 1,
  stochastic: true,
  predictions: ALL_PREDICTIONS,
  params: ANCESTRAL_PARAMS,
  notes: 'weak order 1. With eta = 1 and s_noise = 1 it coincides with ddpm (fixed_small) and ddim (eta = 1) on the same grid.',
  async run({ fn, grid, z, noise, params, report }) {
    const eta = params.eta, sNoise = params.s_noise;
    const est = estimateBuffers(z);
    for (let i = 0; i < grid.length - 1; i++) {
      const from = grid[i]!, to = grid[i + 1]!;
      const { x0, eps } = await fn.estimate(z, from, false, est);
      const u = ancestralFraction(from, to, eta);
      // u > 0 only where s_to > 0, so the noise weight is positive exactly when u > 0 and s_noise > 0.
      ddimStep(z, x0.data, eps.data, { a: to.a, eps: to.s * Math.sqrt(Math.max(0, 1 - u * u)), noise: sNoise * to.s * u }, noise, i);
      await report(i + 1, i + 1, z, x0);
    }
    return z;
  },
});

/**
 * Heun's method in sigma with churn (Karras et al. 2022 Alg. 2; k-diffusion sample_heun; diffusers
 * scheduling_heun_discrete.py): trapezoid of eps at sigma_hat and at the Euler prediction at sigma'. The
 * step into sigma = 0 is first-order Euler (the x0 estimate), so it costs 1 NFE: k-diffusion branches on
 * sigmas[i + 1] == 0, diffusers' timesteps [t0, t1, t1, ..., t_{N-1}, t_{N-1}] (2N - 1 model calls) never
 * reach the second evaluation of the last step.
 */
export const heun = defineSampler({
  name: 'heun',
  description: 'Heun (EDM second order, Karras et al. 2022 Alg. 2 with optional churn), as k-diffusion sample_heun / diffusers HeunDiscreteScheduler',
  order: 2,
  nfePerStep: 2,
  stochastic: false,
  predictions: ALL_PREDICTIONS,
  params: CHURN_PARAMS,
  notes: '2 NFE per step except the Euler step into sigma = 0 (1 NFE). Needs a finite sigma at the start (refuses a = 0). Stochastic when s_churn > 0.',
  async run({ fn, path, grid, z, noise, params, report }) {
    if (grid[0]!.a === 0) refuseInfiniteSigma('heun', grid[0]!);
    const steps = grid.length - 1;
    const xi = z.zerosLike(), z2 = z.zerosLike(), est1 = estimateBuffers(z), est2 = estimateBuffers(z);
    for (let i = 0; i < steps; i++) {
      const from = grid[i]!, to = grid[i + 1]!;
      const p = churn(path, noise, z, xi, from, i, steps, params);
      const e1 = await fn.estimate(z, p, false, est1);
      if (to.s === 0) {
        scale(z, to.a, e1.x0);
      } else {
        const sh = sigmaOf(p), st = sigmaOf(to);
        lincomb2(z2, to.a, e1.x0, to.s, e1.eps);
        const e2 = await fn.estimate(z2, to, false, est2);
        // x~' = x~_hat + (st - sh)(eps1 + eps2)/2 with x~_hat = x0_1 + sh eps1
        lincomb3(z, to.a, e1.x0, (to.a * (sh + st)) / 2, e1.eps, (to.a * (st - sh)) / 2, e2.eps);
      }
      await report(i + 1, i + 1, z, e1.x0);
    }
    return z;
  },
});

/**
 * DPM-Solver-2-inspired midpoint step (k-diffusion sample_dpm_2, current version; diffusers
 * scheduling_k_dpm_2_discrete.py): Euler to the midpoint in log sigma, sigma_mid = sqrt(sigma_hat sigma')
 * (sigma.log().lerp(sigma_next.log(), 0.5).exp()), then the full step with the derivative there. The step
 * into sigma = 0 is Euler (the x0 estimate): k-diffusion's branch on sigmas[i + 1] == 0; in diffusers the
 * interpolated sigma of that step is 0, so its first-order half lands on the x0 estimate and no second
 * call follows (2N - 1 model calls).
 */
export const dpm2 = defineSampler({
  name: 'dpm2',
  description: 'DPM2 (k-diffusion sample_dpm_2 / diffusers KDPM2DiscreteScheduler): midpoint method in log sigma, optional churn',
  order: 2,
  nfePerStep: 2,
  stochastic: false,
  predictions: ALL_PREDICTIONS,
  params: CHURN_PARAMS,
  notes: '2 NFE per step except the Euler step into sigma = 0 (1 NFE). Needs a finite sigma at the start (refuses a = 0). Stochastic when s_churn > 0.',
  async run({ fn, path, grid, z, noise, params, report }) {
    if (grid[0]!.a === 0) refuseInfiniteSigma('dpm2', grid[0]!);
    const steps = grid.length - 1;
    const xi = z.zerosLike(), z2 = z.zerosLike(), est1 = estimateBuffers(z), est2 = estimateBuffers(z);
    for (let i = 0; i < steps; i++) {
      const from = grid[i]!, to = grid[i + 1]!;
      const p = churn(path, noise, z, xi, from, i, steps, params);
      const e1 = await fn.estimate(z, p, false, est1);
      if (to.s === 0) {
        scale(z, to.a, e1.x0);
      } else {
        const sh = sigmaOf(p), st = sigmaOf(to);
        const pm = (p === from ? from.mid : undefined) ?? path.point(path.tOfSigma(Math.sqrt(sh * st)));
        // x~_mid = x~_hat + (sigma_mid - sh) eps1 = x0_1 + sigma_mid eps1, at the midpoint's own (a, s)
        lincomb2(z2, pm.a, e1.x0, pm.s, e1.eps);
        const e2 = await fn.estimate(z2, pm, false, est2);
        // x~' = x~_hat + (st - sh) eps2
        lincomb3(z, to.a, e1.x0, to.a * sh, e1.eps, to.a * (st - sh), e2.eps);
      }
      await report(i + 1, i + 1, z, e1.x0);
    }
    return z;
  },
});

/**
 * The loop of the two-stage ancestral samplers (dpm2-ancestral, dpm++2s-ancestral). Both take their stage at
 * sigma_mid = sqrt(sigma sigma_down) (the log-sigma midpoint towards sigma_down), reached by the same first-order
 * move x~_mid = x0_1 + sigma_mid eps_1 (Euler in dpm2's words, the exponential integrator in DPM-Solver++'s), and
 * differ in the full step to sigma_down: dpm2 takes x~ + (sigma_down - sigma) eps_mid, DPM-Solver++(2S)
 * (sigma_down / sigma) x~ + (1 - sigma_down / sigma) x0_mid. Then noise sigma_up (Philox, step index i). A grid point's
 * `mid` (diffusers' KDPM2 table) replaces the stage point. The step into sigma = 0 (sigma_down = 0) is the x0 estimate.
 */
export async function runAncestralMidpoint(ctx: SamplerContext<typeof ANCESTRAL_PARAMS>, name: string, full: 'dpm2' | 'dpm++'): Promise<Tensor> {
  const { fn, path, grid, z, noise, params, report } = ctx;
  if (grid[0]!.a === 0) refuseInfiniteSigma(name, grid[0]!);
  const xi = z.zerosLike(), z2 = z.zerosLike(), est1 = estimateBuffers(z), est2 = estimateBuffers(z);
  for (let i = 0; i < grid.length - 1; i++) {
    const from = grid[i]!, to = grid[i + 1]!;
    const e1 = await fn.estimate(z, from, false, est1);
    const u = ancestralFraction(from, to, params.eta);
    const st = sigmaOf(to), down = st * Math.sqrt(Math.max(0, 1 - u * u));
    if (down === 0) {
      scale(z, to.a, e1.x0);
    } else {
      const sg = sigmaOf(from);
      const pm = from.mid ?? path.point(path.tOfSigma(Math.sqrt(sg * down)));
      lincomb2(z2, pm.a, e1.x0, pm.s, e1.eps);
      const e2 = await fn.estimate(z2, pm, false, est2);
      // z' = a' x~' with x~ = x0_1 + sigma eps_1
      if (full === 'dpm2') lincomb3(z, to.a, e1.x0, to.a * sg, e1.eps, to.a * (down - sg), e2.eps);
      else lincomb3(z, to.a * (down / sg), e1.x0, to.a * down, e1.eps, to.a * (1 - down / sg), e2.x0);
      const up = params.s_noise * st * u;
      if (up > 0) lincomb2(z, 1, z, to.a * up, noise.fillNormal(xi, i, Stream.noise));
    }
    await report(i + 1, i + 1, z, e1.x0);
  }
  return z;
}

/**
 * DPM-2 ancestral (k-diffusion sample_dpm_2_ancestral; diffusers scheduling_k_dpm_2_ancestral_discrete.py): the
 * dpm2 midpoint step taken to sigma_down instead of sigma', then fresh noise of std sigma_up (the ancestralFraction
 * split of sigma'). Midpoint sigma_mid = sqrt(sigma sigma_down); x~' = x~ + (sigma_down - sigma) eps_mid + sigma_up xi.
 * The step into sigma = 0 (sigma_down = 0) is Euler: the x0 estimate, no noise, 1 NFE.
 */
export const dpm2Ancestral = defineSampler({
  name: 'dpm2-ancestral',
  description: 'DPM-2 ancestral (k-diffusion sample_dpm_2_ancestral / diffusers KDPM2AncestralDiscreteScheduler): dpm2 midpoint step to sigma_down plus noise sigma_up',
  order: 1,
  nfePerStep: 2,
  stochastic: true,
  predictions: ALL_PREDICTIONS,
  params: ANCESTRAL_PARAMS,
  notes: 'weak order 1; 2 NFE per step except the Euler step into sigma = 0 (1 NFE). Needs a finite sigma at the start (refuses a = 0). With eta = 0 it is dpm2 without churn.',
  run: (ctx) => runAncestralMidpoint(ctx, 'dpm2-ancestral', 'dpm2'),
});

/**
 * Noise std of one ancestral DDPM step (Ho et al. 2020 eq. 6-7) on any affine path. The forward
 * transition of the centered variable between the two points is z_from = alpha z_to + sqrt(beta) w with
 * alpha = a_from / a_to and beta = s_from^2 - alpha^2 s_to^2 = s_from^2 (1 - r^2), r = e^{-h} =
 * (a_from s_to) / (a_to s_from). fixed_small is the posterior std s_to sqrt(1 - r^2) (ddimNoiseScale with
 * eta 1); fixed_large is sqrt(beta) (diffusers DDPMScheduler: current_beta_t = 1 - abar_t / abar_prev on VP).
 * Neither adds noise into clean data (diffusers adds noise only while t > 0).
 */
export function ddpmNoiseStd(from: GridPoint, to: GridPoint, varianceType: 'fixed_small' | 'fixed_large'): number {
  const small = ddimNoiseScale(from, to, 1);
  if (varianceType === 'fixed_small' || to.s === 0) return small;
  return (small * from.s) / to.s;
}

/**
 * Ancestral DDPM: the posterior mean of q(z_to | z_from, x0_hat), a_to x0 + s_to r eps (diffusers
 * scheduling_ddpm.py: pred_original_sample_coeff = sqrt(abar_prev) beta_t / (1 - abar_t) on x0 and
 * current_sample_coeff = sqrt(alpha_t) (1 - abar_prev) / (1 - abar_t) on x_t, written for the centered
 * variable with x_t = a x0 + s eps), plus noise of std ddpmNoiseStd.
 */
export const ddpm = defineSampler({
  name: 'ddpm',
  description: 'Ancestral DDPM (Ho et al. 2020): sample the posterior q(x_{t-1} | x_t, x0_hat) on any affine path, as diffusers DDPMScheduler',
  order: 1,
  nfePerStep: 1,
  stochastic: true,
  predictions: ALL_PREDICTIONS,
  params: {
    variance_type: {
      type: 'choice',
      default: 'fixed_small',
      values: ['fixed_small', 'fixed_large'],
      doc: 'fixed_small: the posterior variance s_to^2 (1 - e^{-2h}); fixed_large: the forward transition variance beta = s_from^2 (1 - e^{-2h}) (1 - abar_t/abar_prev on VP), as diffusers',
    },
  },
  notes: 'weak order 1. fixed_small equals ddim with eta = 1 and euler-ancestral with eta = 1 on the same grid and noise. fixed_large on other paths uses the forward transition variance between the two grid points.',
  async run({ fn, grid, z, noise, params, report }) {
    const vt = params.variance_type;
    const est = estimateBuffers(z);
    for (let i = 0; i < grid.length - 1; i++) {
      const from = grid[i]!, to = grid[i + 1]!;
      const { x0, eps } = await fn.estimate(z, from, false, est);
      const r = to.s === 0 ? 0 : (from.a * to.s) / (to.a * from.s);
      ddimStep(z, x0.data, eps.data, { a: to.a, eps: to.s * r, noise: ddpmNoiseStd(from, to, vt) }, noise, i);
      await report(i + 1, i + 1, z, x0);
    }
    return z;
  },
});

export const KARRAS_SAMPLERS: readonly SamplerDef[] = [euler, eulerAncestral, heun, dpm2, dpm2Ancestral, ddpm];
