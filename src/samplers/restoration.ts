import { fail } from '../core/errors.js';
import { lincomb } from '../core/ops.js';
import { Stream } from '../core/rng.js';
import type { Tensor } from '../core/tensor.js';
import { ALL_PREDICTIONS } from './common.js';
import { ddimStep } from './ddim.js';
import { defineSampler, type SamplerContext, type SamplerDef } from './types.js';
import { estimateBuffers } from '../models/model-fn.js';

/**
 * IR-SDE's reverse sampler (Luo et al. 2023; Algolzw/image-restoration-sde codes/utils/sde_utils.py,
 * IRSDE.reverse_sde / reverse_sde_step): Euler-Maruyama in x,
 *   x <- x - [theta_t (mu - x) - sigma_t^2 score] dt - sigma_t sqrt(dt) z,  sigma_t^2 = 2 lambda^2 theta_t,
 * score = -eps / sigma_bar_t, evaluated at the step's start t, with the noise term kept on the last step.
 * On any affine path the x-space SDE is dx = [f x + (b' - f b) mu] dt + g dw (f = a'/a, g^2 the
 * path's diffusion2); for MeanRevertingPath f = -theta_t dt, b' - f b = theta_t dt and g^2 = 2 lambda^2 theta_t dt
 * per unit step. The rates are taken on the interval being traversed (just below t), which at
 * integer t is the authors' theta_t = thetabar_t - thetabar_{t-1}. The update is done on x (so the
 * anchor enters exactly as in the authors' code) and re-centered with the next b.
 */
export const irsdeEm = defineSampler({
  name: 'irsde-em',
  description: "IR-SDE's Euler-Maruyama reverse-SDE sampler (Luo et al. 2023): x <- x - [theta (mu - x) - sigma^2 score] dt + sigma sqrt(dt) z, score = -eps/sigma_bar; T = 100 steps in the paper",
  order: 0.5,
  nfePerStep: 1,
  stochastic: true,
  predictions: ALL_PREDICTIONS,
  params: {},
  notes: 'strong order 1/2, weak order 1; needs small steps (the paper uses every one of the T = 100 training steps). Refuses a grid starting at a = 0 (rectified flow t = 1), where the drift a\'/a is infinite; a last step into a clean point at infinite time (VE, EDM) returns the x0 estimate.',
  async run({ fn, path, grid, z, noise, report }) {
    const mu = fn.anchor;
    const est = estimateBuffers(z), xi = z.zerosLike();
    for (let i = 0; i < grid.length - 1; i++) {
      const from = grid[i]!, to = grid[i + 1]!;
      if (from.a === 0) {
        fail('UNSUPPORTED', `irsde-em: the drift a'/a is infinite at a = 0 (t = ${from.t}); start the grid before t = 1 on rectified flow`);
      }
      const { x0, eps } = await fn.estimate(z, from, false, est);
      const dt = to.t - from.t; // negative: reverse time
      if (!Number.isFinite(dt)) {
        // Clean point at infinite time (VE / EDM sigma-time, tClean = -inf): the step is the x0 estimate.
        lincomb(z, [to.a], [x0]);
        await report(i + 1, i + 1, z, x0);
        continue;
      }
      const te = from.t + 1e-7 * dt;
      const f = path.drift(te), g2 = path.diffusion2(te);
      const cz = 1 + f * dt;
      const ceps = (g2 * dt) / from.s; // -g^2 score dt with score = -eps/s
      const cn = Math.sqrt(Math.max(0, -g2 * dt));
      const coeffs = [cz, ceps], terms = [z, eps];
      if (cn > 0) {
        coeffs.push(cn);
        terms.push(noise.fillNormal(xi, i, Stream.noise));
      }
      if (mu) {
        // x = z + b mu; x-space anchor drift (b' - f b) mu; back to z with b_next.
        const cmu = from.b * cz + (path.db(te) - f * path.b(te)) * dt - to.b;
        if (cmu !== 0) {
          coeffs.push(cmu);
          terms.push(mu);
        }
      }
      lincomb(z, coeffs, terms);
      await report(i + 1, i + 1, z, x0);
    }
    return z;
  },
});

/**
 * One step of the DDIM family on an additive chain z_t = z_{t'} + (a_t - a_{t'}) x0 + noise (the centered
 * form of ResShift's and RDDM's forward processes, where no factor multiplies the previous state):
 *   z_{t'} = a_{t'} x0_hat + sqrt(s_{t'}^2 - c^2) eps_hat + c xi,  c^2 = eta s_{t'}^2 (1 - s_{t'}^2/s_t^2),
 * RDDM's ddim_sample sigma_t^2 = eta beta_t^2 betabar_{t-1}^2 / betabar_t^2 (nachifur/RDDM). eta = 1 is the
 * chain's posterior q(z_{t'} | z_t, x0_hat); eta = 0 is deterministic and equals DDIM at eta = 0.
 */
async function additiveChain({ fn, grid, z, noise, report }: SamplerContext, eta: number): Promise<Tensor> {
  const est = estimateBuffers(z);
  for (let i = 0; i < grid.length - 1; i++) {
    const from = grid[i]!, to = grid[i + 1]!;
    const { x0, eps } = await fn.estimate(z, from, false, est);
    const c = Math.sqrt(Math.max(0, eta * to.s * to.s * (1 - (to.s * to.s) / (from.s * from.s))));
    ddimStep(z, x0.data, eps.data, { a: to.a, eps: Math.sqrt(Math.max(0, to.s * to.s - c * c)), noise: c }, noise, i);
    await report(i + 1, i + 1, z, x0);
  }
  return z;
}

/**
 * ResShift's sampler (Yue et al. 2023; zsyOAOA/ResShift models/gaussian_diffusion.py, p_mean_variance):
 * the posterior q(x_{t-1} | x_t, x0_hat) with mean (eta_{t-1}/eta_t) x_t + (alpha_t/eta_t) x0_hat and
 * variance kappa^2 eta_{t-1} alpha_t / eta_t, alpha_t = eta_t - eta_{t-1}: the additive chain's posterior
 * (additiveChain at eta = 1), exactly this formula on ResShiftPath (a = 1 - eta, s = kappa sqrt(eta)) and
 * a valid ancestral sampler on any other path. Fractional grids interpolate eta.
 */
export const resshift = defineSampler({
  name: 'resshift',
  description: "ResShift's posterior sampler (Yue et al. 2023): mean (eta_{t-1}/eta_t) x_t + (alpha_t/eta_t) x0_hat, variance kappa^2 eta_{t-1} alpha_t/eta_t (T = 15 or 4 steps)",
  order: 1,
  nfePerStep: 1,
  stochastic: true,
  predictions: ALL_PREDICTIONS,
  params: {},
  notes: 'ancestral: the last step into eta = 0 returns the x0 estimate (zero variance).',
  run: (ctx) => additiveChain(ctx, 1),
});

/**
 * RDDM's sampler (Liu et al. 2024; nachifur/RDDM ResidualDiffusion.ddim_sample, "use_pred_noise"):
 * I_{t'} = I_t - (alphabar_t - alphabar_{t'}) I_res_hat - (betabar_t - sqrt(betabar_{t'}^2 - sigma^2)) eps_hat + sigma xi,
 * which on the centered variable is additiveChain; the authors use eta = 0 for restoration.
 */
export const rddm = defineSampler({
  name: 'rddm',
  description: "RDDM's DDIM-style sampler (Liu et al. 2024): I <- I - dalphabar I_res - (betabar - sqrt(betabar'^2 - sigma^2)) eps + sigma xi; eta = 0 (the authors' default for restoration, 10 steps) is deterministic, eta = 1 the posterior (= resshift)",
  order: 1,
  nfePerStep: 1,
  stochastic: false,
  predictions: ALL_PREDICTIONS,
  params: { eta: { type: 'number', default: 0, min: 0, max: 1, doc: 'sigma^2 = eta beta^2 betabar\'^2/betabar^2: 0 deterministic, 1 the posterior' } },
  notes: 'deterministic at the default eta = 0 (then equal to ddim); stochastic when eta > 0',
  run: (ctx) => additiveChain(ctx, ctx.params.eta),
});

export const RESTORATION_SAMPLERS: readonly SamplerDef[] = [irsdeEm, resshift, rddm];
