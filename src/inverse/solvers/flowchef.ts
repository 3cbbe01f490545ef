import { ddimCoefficients, ddimStep } from '../../samplers/ddim.js';
import { residual } from './dps.js';
import { defineSolver, type SolverDef } from './types.js';

/**
 * FlowChef (Patel et al. 2024, "Steering rectified flow models in the vector field for controlled image
 * generation", arXiv 2412.00100, Alg. 1 with gradient skipping): at each Euler step of a rectified flow
 * z_t = (1 - t) x0 + t eps, with x0_hat = z_t - t v_theta(z_t, t),
 *   z_t <- z_t - scale * grad_{z_t} mean((A x0_hat - y)^2),   the Jacobian d x0_hat / d z_t taken as the identity,
 *   z_next = z_t + (t_next - t) v_theta,                       v_theta not re-evaluated,
 * so one model evaluation per step and no backpropagation through the network. The mean runs over the
 * measurement's m entries of each item: the steer is scale * (2 / m) * A^T (A x0_hat - y), as in the authors'
 * pixel-space code (FlowChef/FlowChef inverseproblems/pixel_models/rfpp, `gradient_scale`), which also skips it
 * on the last step. Their default (100) was set for 64x64 RGB images; ours (scale 0) is the step 1 / ||A||^2 on
 * A^T (A x0_hat - y), gradient descent's step 1 / L on the half squared residual (L = ||A||^2), which on a masked
 * orthonormal operator (MRI, inpainting) replaces the measured part of x0_hat by the data. On a rectified flow the Euler
 * step with a fixed velocity is the DDIM step from (x0_hat, eps_hat), and the steer is simply subtracted from its result.
 */
export const flowchef = defineSolver({
  name: 'flowchef',
  description: 'FlowChef (Patel et al. 2024): Euler steps of a rectified flow steered by the data-fit gradient at x0_hat, the network Jacobian skipped',
  needs: { flow: true },
  stochastic: false,
  nfePerStep: 1,
  params: {
    scale: {
      type: 'number',
      default: 0,
      min: 0,
      doc: "the authors' gradient_scale: the steer is scale * grad of the MEAN squared residual over the measurement's entries (their pixel-space default, 100, was set for 64x64 RGB images and 20 steps); 0 = the step 1 / ||A||^2 on A^T (A x0_hat - y), i.e. scale = m / (2 ||A||^2)",
    },
  },
  notes:
    'Rectified-flow models only (the path a = 1 - t, s = t), where the method is defined. Measurement noise is not modelled ' +
    '(as the authors). One model evaluation per step; no gradients of the network, so any flow model runs it.',
  async run(ctx) {
    const { fn, grid, op, z, params, report } = ctx;
    const B = z.batch, n = z.itemSize;
    const gamma = params.scale > 0 ? (2 * params.scale) / ctx.y.itemSize : 1 / op.normEstimate() ** 2;
    for (let i = 0; i < grid.length - 1; i++) {
      const from = grid[i]!, to = grid[i + 1]!;
      const { x0, eps } = await fn!.estimate(z, from);
      const steer = i < grid.length - 2 && gamma > 0 ? op.adjoint(residual(ctx, x0)).data : null;
      ddimStep(z, x0.data, eps.data, ddimCoefficients(from, to, 0), ctx.noise, i);
      if (steer) {
        const zd = z.data;
        for (let j = 0; j < B * n; j++) zd[j] = zd[j]! - gamma * steer[j]!;
      }
      await report(i + 1, i + 1, z, x0);
    }
    return z;
  },
});

export const FLOWCHEF_SOLVERS: readonly SolverDef[] = [flowchef];
