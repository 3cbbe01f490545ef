import { fail } from '../../core/errors.js';
import { proximalLoop } from './diffpir.js';
import { defineSolver, type SolverDef } from './types.js';

/**
 * Conditional sampling with k-space data consistency in every reverse step. The model is conditioned on the
 * zero-filled image A^H y of the measurement (bound by runSolver, zero-filled-condition.ts); after each step's x0
 * prediction the measured lines are enforced, then the step goes to the next noise level from the corrected x0:
 *   hard (noiseless):  k(x0) := y on the measured lines, k(x0) kept elsewhere (the projection onto A x = y);
 *   soft (sigma_y > 0): x0' = argmin ||A x - y||^2 / sigma_y^2 + ||x - x0||^2 / r_t^2, in closed form on the Cartesian
 *                       mask, with r_t = sigmabar_t / sqrt(lambda), sigmabar_t = s_t / a_t: the x0 error scale of
 *                       DiffPIR's data step (Zhu et al. 2023, eq. 13, rho_t = lambda sigma_y^2 / sigmabar_t^2);
 *   z_next = a_next x0' + s_next (sqrt(1 - eta) eps' + sqrt(eta) xi),  eps' = (z - a x0') / s  (DDIM at eta = 0;
 *            on a rectified flow the Euler step of the velocity of (x0', eps')).
 * This is DiffPIR's loop run on a conditional model (the loop is shared), with all-fresh noise (zeta = 1) by default.
 */
export const condDc = defineSolver({
  name: 'cond-dc',
  description: 'a model conditioned on the zero-filled image A^H y, with the measured k-space lines enforced on every x0 prediction (hard replacement, or the proximal form under noise)',
  needs: { zeroFilledCondition: true },
  stochastic: true,
  nfePerStep: 1,
  params: {
    dc: { type: 'choice', default: 'auto', values: ['auto', 'hard', 'soft', 'none'], doc: 'hard: replace the measured lines of each x0 by the data (noiseless); soft: the proximal step under the measurement noise sigma_y; none: the conditional model alone; auto: soft when sigma_y > 0, else hard' },
    lambda: { type: 'number', default: 1, min: 0, doc: 'soft data consistency: the x0 error scale r_t = sigmabar_t / sqrt(lambda) (DiffPIR eq. 13); larger trusts the model more, 0 gives the hard replacement' },
    // DiffPIR's authors take zeta = 1 for masks, and so does our diffpir on masking operators. On weights/brain-cond-mri
    // (2,560 steps), bench inverse's 2 held-out slices, 50 steps: MRI 4x 26.19 / 26.93 / 27.49 / 27.96 / 28.95 dB at
    // eta 0 / 0.3 / 0.5 / 0.7 / 1; MRI 8x 20.48 -> 23.38 dB, the 1.4 mm set at 4x 24.01 -> 25.99 dB (eta 0 -> 1).
    eta: { type: 'number', default: 1, min: 0, max: 1, doc: 'share of fresh noise in the step to the next level: 1 all fresh (DiffPIR\'s zeta for masks), 0 deterministic (DDIM / flow Euler)' },
  },
  notes:
    'Needs a model whose one condition is the zero-filled image ("from": "zero-filled"; training/brain_cond_mri.py) and a single-coil ' +
    'Cartesian MRI operator; the condition is built from the measurement, so no --cond-image. One model call per step; the data step is the ' +
    "operator's closed form in k-space. With sigma_y = 0 the result meets A x = y exactly (hard). The default eta = 1 leans to the " +
    'posterior mean (higher PSNR; with an exact model its samples sit at half the squared distance of exact posterior samples from the ' +
    'mean); eta = 0 samples the posterior exactly when the model is exact.',
  run({ op, sigmaY, params, ...ctx }) {
    const dc = params.dc === 'auto' ? (sigmaY > 0 ? 'soft' : 'hard') : params.dc;
    if (dc === 'soft' && !(sigmaY > 0)) fail('USAGE', 'cond-dc dc=soft weighs the data by the measurement noise, which is 0 here; give the noise level (--sigma-y) or use dc=hard');
    const sigma = dc === 'hard' ? 0 : dc === 'soft' ? sigmaY : Infinity;
    return proximalLoop({ op, ...ctx }, { lambda: params.lambda, zeta: params.eta, sigma, cgIters: 1 }, 'cond-dc');
  },
});

export const COND_DC_SOLVERS: readonly SolverDef[] = [condDc];
