import { fail } from '../../core/errors.js';
import { ddimStep } from '../../samplers/ddim.js';
import { proxDataConsistency } from '../operators/operator.js';
import type { Tensor } from '../../core/tensor.js';
import { defineSolver, type SolverContext, type SolverDef } from './types.js';

/**
 * DiffPIR (Zhu et al. 2023, "Denoising Diffusion Models for Plug-and-Play Image Restoration",
 * Alg. 1; yuanzhi-zhu/DiffPIR main_ddpir_*.py). Half-quadratic splitting inside a DDIM-like loop:
 *
 *   x0      = D(x_t)                                               (denoiser / Tweedie estimate)
 *   x0'     = argmin_x ||y - A x||^2 + rho_t ||x - x0||^2,  rho_t = lambda sigma_y^2 / sigmabar_t^2  (eq. 13)
 *   eps'    = (x_t - a_t x0') / s_t                                 (effective noise of the corrected x0)
 *   x_next  = a_next x0' + s_next (sqrt(1 - zeta) eps' + sqrt(zeta) xi)                            (eq. 15)
 *
 * with sigmabar_t = s/a, so the loop runs on any affine path. The data step is the operator's
 * closed-form prox when it has one and conjugate gradient otherwise: argmin ||Ax-y||^2/(2 sig^2)
 * + (lambda / sigmabar^2)/2 ||x - x0||^2 with sig = max(sigma_y, sigma_min) is the same minimiser.
 * Their code floors the noise level at 0.001 (sigma = max(0.001, noise_level_img)), so a noiseless
 * measurement gives a near-projection; sigma_min = 0 here gives the exact projection (needs A^+).
 */
export const diffpir = defineSolver({
  name: 'diffpir',
  description: 'DiffPIR (Zhu et al. 2023): denoise, proximal data step with rho_t = lambda sigma_y^2 / sigmabar_t^2, then DDIM-like re-noising with zeta',
  needs: {},
  stochastic: true,
  nfePerStep: 1,
  params: {
    lambda: {
      type: 'number',
      default: 1,
      min: 0,
      doc: 'prior weight of the data step, rho_t = lambda sigma_y^2 / sigmabar_t^2 (configs/*.yaml: 1; their deblur script and deepinv use 7); smaller trusts the measurement more',
    },
    zeta: {
      type: 'number',
      default: -1,
      min: -1,
      max: 1,
      doc: 'share of fresh noise in the re-noising: 0 deterministic (DDIM), 1 all fresh; -1 (default) picks the authors\' per-task setting: 1 for masking operators (inpainting, MRI k-space masks; their inpainting config) and 0.1 otherwise (their SR / deblur configs)',
    },
    sigma_min: {
      type: 'number',
      default: 0.001,
      min: 0,
      doc: 'floor on sigma_y in the data step, as the authors\' max(0.001, sigma_y); 0 gives the projection onto A x = y when the measurement is noiseless (closed form, or capped CGLS without a pseudo-inverse)',
    },
    cg_iters: {
      type: 'number',
      default: 50,
      min: 1,
      integer: true,
      doc: 'conjugate-gradient cap of the data step on operators without a closed-form prox (CT), warm-started at x0; the authors only use closed forms',
    },
  },
  notes: 'One model call per step; the data step is a closed form (inpainting, MRI, SR, blur, dense) or capped CG (CT; a noiseless CT measurement makes that system ill-conditioned, so expect an approximate data step there). Paper Alg. 1 applies the data step at every step including the last (the authors\' scripts skip it at the last step).',
  run({ op, sigmaY, params, ...ctx }) {
    // With few steps a small zeta keeps the aliasing of masked data in eps' (brain MRI 4x, 10 steps:
    // 18.98 dB at zeta 0.1 vs 23.35 dB at zeta 1), hence the authors' zeta = 1 for masks.
    const masking = op.kind === 'inpaint' || op.kind === 'mri' || op.kind === 'mri-multicoil';
    const zeta = params.zeta < 0 ? (masking ? 1 : 0.1) : params.zeta;
    return proximalLoop({ op, ...ctx }, { lambda: params.lambda, zeta, sigma: Math.max(sigmaY, params.sigma_min), cgIters: params.cg_iters }, 'diffpir');
  },
});

/**
 * The data step's weights: rho_t = lambda sigma^2 / sigmabar_t^2 (sigma = 0: the projection onto A x = y; sigma = Infinity:
 * no data step), and the re-noising's fresh-noise share zeta.
 */
export interface ProximalSettings {
  lambda: number;
  zeta: number;
  sigma: number;
  cgIters: number;
}

/**
 * The loop of DiffPIR (Alg. 1), shared with cond-dc: x0 = D(z), its proximal data step (eq. 13), the step to the
 * next noise level from the corrected x0 (eq. 15).
 */
export async function proximalLoop({ fn, grid, op, y, z, noise, report }: Pick<SolverContext, 'fn' | 'grid' | 'op' | 'y' | 'z' | 'noise' | 'report'>, o: ProximalSettings, solver: string): Promise<Tensor> {
  const { lambda, sigma } = o;
  const keep = Math.sqrt(1 - o.zeta), fresh = Math.sqrt(o.zeta);
  const cgOptions = { maxIter: o.cgIters, tol: 1e-6 };
  const zd = z.data;
  for (let i = 0; i < grid.length - 1; i++) {
    const from = grid[i]!, to = grid[i + 1]!;
    if (!(from.s > 0)) fail('UNSUPPORTED', `${solver}: grid point ${i} is clean data (s = 0) before the last step; end the grid at s = 0 only once`);
    const { x0 } = await fn!.estimate(z, from);
    // Data step. In our scaling the prox weight is lambda / sigmabar^2 next to 1 / sigma^2 on the data;
    // where a = 0 (sigmabar infinite) the limit is the projection of x0 onto {A x = y}.
    const rho = (lambda * from.a * from.a) / (from.s * from.s);
    const x0p = sigma === Infinity ? x0 : rho > 0 && Number.isFinite(rho) && sigma > 0 ? proxDataConsistency(op, x0, y, rho, sigma, cgOptions) : proxDataConsistency(op, x0, y, 1, 0, cgOptions);
    const xp = x0p.data, e = new Float64Array(zd.length);
    for (let k = 0; k < zd.length; k++) e[k] = zd[k]! - from.a * xp[k]!; // s_t * eps'
    ddimStep(z, xp, e, { a: to.a, eps: (keep * to.s) / from.s, noise: fresh * to.s }, noise, i);
    await report(i + 1, i + 1, z, x0p);
  }
  return z;
}

export const DIFFPIR_SOLVERS: readonly SolverDef[] = [diffpir];
