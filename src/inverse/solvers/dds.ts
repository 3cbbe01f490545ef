import { batchedConjugateGradient } from '../../core/cg.js';
import { Tensor } from '../../core/tensor.js';
import { ddimStep, etaSplitCoefficients } from '../../samplers/ddim.js';
import type { Operator } from '../operators/operator.js';
import { defineSolver, type SolverDef } from './types.js';

/**
 * Decomposed Diffusion Sampler (Chung, Lee, Ye 2024, "Decomposed Diffusion Sampler for Accelerating
 * Large-Scale Inverse Problems", Alg. 1/eq. 13; HJ-harry/DDS solver_2d.py). Each step:
 *
 *   x0  = Tweedie estimate at x_t (one model call), eps the matching noise estimate
 *   x0' = M conjugate-gradient steps, started at x0, on
 *           (I + gamma A^T A) x = x0 + gamma A^T y      (sigma_y > 0: argmin gamma/2 ||y - Ax||^2 + 1/2 ||x - x0||^2)
 *           A^T A x = A^T y                             (sigma_y = 0: the Krylov step from x0 towards {A x = y})
 *   x_next = a_next x0' + s_next (eta xi + sqrt(1 - eta^2) eps),   the last step returns x0'.
 *
 * The few CG steps keep the update in the Krylov subspace x0 + K_M (the "tangent space" of the paper).
 * The noise uses the authors' split (c1 = eta s, c2 = sqrt(1 - eta^2) s), not DDIM's eta.
 * CG steps cost operator applications, not model calls. Runs on any affine path.
 */
export const dds = defineSolver({
  name: 'dds',
  description: 'DDS (Chung, Lee, Ye 2024): a few conjugate-gradient data-consistency steps on the Tweedie estimate, then a DDIM-like step',
  needs: {},
  stochastic: true,
  nfePerStep: 1,
  params: {
    cg_steps: { type: 'number', default: 5, min: 0, integer: true, doc: 'conjugate-gradient steps per diffusion step (authors: CG_iter 5); 0 is plain sampling' },
    gamma: {
      type: 'number',
      default: -1,
      min: -1,
      doc: 'data weight of the noisy-measurement step, argmin gamma/2 ||y - Ax||^2 + 1/2 ||x - x0||^2; -1 (default) = 1/sigma_y^2, the MAP weight of unit-scale images against the measurement noise (the authors\' fixed 1.0 assumes a unit-norm operator: on 4x average-pooling SR, ||A||^2 = 1/16, it barely moves x0); unused when sigma_y = 0',
    },
    eta: { type: 'number', default: 0.85, min: 0, max: 1, doc: 'share of fresh noise in the step: s (eta xi + sqrt(1 - eta^2) eps) (authors: 0.85)' },
    tol: { type: 'number', default: 1e-10, min: 0, doc: 'CG also stops early for a batch item when its residual falls below tol relative' },
  },
  notes: 'CG steps cost 1 forward + 1 adjoint each; single-coil Cartesian MRI is solved exactly in 1 step (noiseless) or 2 steps (noisy), matching the authors\' closed form there.',
  async run({ fn, grid, op, y, sigmaY, z, noise, params, report }) {
    const cgSteps = params.cg_steps, eta = params.eta;
    // Measured (one image each, 50 steps): fmnist 4x SR 14.6 -> 22.1 dB, brain MRI 4x 25.0 -> 25.7 dB,
    // CT 30 views 31.58 -> 31.59 dB going from gamma = 1 to 1/sigma_y^2.
    const gamma = params.gamma < 0 ? 1 / (sigmaY * sigmaY) : params.gamma;
    const tol = params.tol;
    const noisy = sigmaY > 0;
    const cg = new BatchedCG(op, y, noisy ? gamma : null);
    for (let i = 0; i < grid.length - 1; i++) {
      const from = grid[i]!, to = grid[i + 1]!;
      const { x0, eps } = await fn!.estimate(z, from);
      const x0p = cg.solve(x0, cgSteps, tol);
      ddimStep(z, x0p, eps.data, etaSplitCoefficients(to.a, to.s, eta), noise, i);
      await report(i + 1, i + 1, z, new Tensor(z.shape, z.dtype === 'float64' ? x0p : Float32Array.from(x0p)));
    }
    return z;
  },
});

/**
 * DDS's data step, capped conjugate gradient on the normal equations of all batch items at once
 * (`batchedConjugateGradient`: one forward and one adjoint of the whole batch per iteration, per-item
 * step sizes), in float64:
 *   gamma given:  (I + gamma A^T A) x = v + gamma A^T y;   gamma null:  A^T A x = A^T y (noiseless).
 * Starts at v. An item stops when its residual falls below tol ||b|| or its curvature p.Mp vanishes
 * (the singular noiseless system once converged), so it never fails on a positive semi-definite M.
 */
class BatchedCG {
  private readonly aty: Float64Array;
  private readonly shape: number[];
  constructor(private readonly op: Operator, y: Tensor, private readonly gamma: number | null) {
    const at = op.adjoint(y.toDtype('float64'));
    this.aty = at.data as Float64Array;
    this.shape = [...at.shape];
  }

  private apply(p: Float64Array, out: Float64Array): void {
    const ata = this.op.adjoint(this.op.forward(new Tensor(this.shape, p))).data;
    const g = this.gamma;
    if (g === null) for (let k = 0; k < out.length; k++) out[k] = ata[k]!;
    else for (let k = 0; k < out.length; k++) out[k] = p[k]! + g * ata[k]!;
  }

  solve(v: Tensor, steps: number, tol: number): Float64Array {
    const x0 = Float64Array.from(v.data), g = this.gamma, aty = this.aty;
    if (steps === 0) return x0;
    const b = g === null ? aty : x0.map((x, k) => x + g * aty[k]!);
    return batchedConjugateGradient((p, out) => this.apply(p, out), b, v.batch, x0, { maxIter: steps, tol }).x;
  }
}

export const DDS_SOLVERS: readonly SolverDef[] = [dds];
