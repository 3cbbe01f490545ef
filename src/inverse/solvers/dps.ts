import { fail } from '../../core/errors.js';
import type { Tensor } from '../../core/tensor.js';
import type { GridPoint } from '../../paths/path.js';
import { ddimCoefficients, ddimStep } from '../../samplers/ddim.js';
import type { OperatorKind } from '../operators/operator.js';
import { defineSolver, type SolverContext, type SolverDef } from './types.js';

// ---------------------------------------------------------------------------------------
// Pieces shared by the gradient solvers (dps, pigdm).

/**
 * v^T d x0_hat / d z at grid point p, z the centered state. The anchor term b mu of restoration paths
 * does not depend on z, so the derivative in z equals the one in x = z + b mu that the denoiser gives.
 */
export async function x0VjpAt(ctx: SolverContext, z: Tensor, p: GridPoint, v: Tensor): Promise<Tensor> {
  const { denoiser, fn } = ctx;
  if (!denoiser?.x0Vjp || !fn) return fail('UNSUPPORTED', `this solver needs gradients of the denoiser (a vector-Jacobian product), which the model does not provide`);
  const anchor = fn.anchor;
  return denoiser.x0Vjp(fn.uncenter(z, p.b), p.t, v.reshape(z.shape), anchor ? { anchor } : undefined);
}

/** r = A x - y, batched like y. */
export function residual(ctx: SolverContext, x: Tensor): Tensor {
  const r = ctx.op.forward(x);
  const rd = r.data, yd = ctx.y.data;
  for (let i = 0; i < rd.length; i++) rd[i] = rd[i]! - yd[i]!;
  return r;
}

/** Euclidean norm of each batch item. */
export function itemNorms(t: Tensor): Float64Array {
  const B = t.batch, m = t.itemSize, d = t.data, out = new Float64Array(B);
  for (let b = 0; b < B; b++) {
    let s = 0;
    for (let i = b * m; i < (b + 1) * m; i++) s += d[i]! * d[i]!;
    out[b] = Math.sqrt(s);
  }
  return out;
}

/** sqrt(a^2 + s^2): the scale of the state relative to the variance-preserving path (1 on VP). */
export function vpScale(p: GridPoint): number {
  return Math.sqrt(p.a * p.a + p.s * p.s);
}

// ---------------------------------------------------------------------------------------

/** DPS2022 configs (`conditioning.params.scale`, for 1000 ancestral steps). */
export function dpsDefaultZeta(kind: OperatorKind): number {
  if (kind === 'inpaint') return 0.5; // configs/inpainting_config.yaml
  if (kind === 'sr' || kind === 'blur') return 0.3; // super_resolution / gaussian_deblur / motion_deblur configs
  return 1.0; // phase_retrieval_config.yaml (no config for the other operators)
}

/**
 * Diffusion posterior sampling (Chung et al. 2023, "Diffusion posterior sampling for general noisy inverse
 * problems", Alg. 1 for Gaussian noise): an ancestral step of the unconditional sampler from x_t, then
 *   x_{t-1} <- x_{t-1} - zeta_t grad_{x_t} ||y - A x0_hat(x_t)||,
 * the gradient taken through the denoiser: grad = J^T A^T (A x0_hat - y) / ||y - A x0_hat|| with J = d x0_hat/d x_t.
 * As the authors' code (guided_diffusion/condition_methods.py) the step is zeta times the gradient of the
 * residual NORM, i.e. zeta_t = zeta / ||y - A x0_hat|| on the gradient of half the squared norm
 * (the paper's Alg. 1 writes zeta' / ||.|| on the squared norm: a factor 2). The norm is per sample here
 * (the authors' code takes the norm of the whole batch, which at batch 1 is the same).
 */
export const dps = defineSolver({
  name: 'dps',
  description: 'DPS (Chung et al. 2023): ancestral step, then a gradient step on ||y - A x0_hat(x_t)|| through the denoiser',
  needs: { gradients: true },
  stochastic: true,
  nfePerStep: 1,
  params: {
    zeta: {
      type: 'number',
      default: 0,
      min: 0,
      doc: 'step size on grad ||y - A x0_hat|| (the authors\' `scale`, tuned for 1000 steps); 0 = the authors\' value for the operator: inpainting 0.5, super-resolution and deblurring 0.3, other operators 1.0. With fewer steps a larger value is usually needed',
    },
    step: {
      type: 'choice',
      default: 'normalized',
      values: ['normalized', 'scale'],
      doc: "'normalized': zeta * grad ||y - A x0_hat|| (DPS2022 code); 'scale': scale * a_to * a_from * grad ||y - A x0_hat||^2, the unnormalised weighting of NVlabs/RED-diff's DPS baseline (algo.original = False)",
    },
    scale: { type: 'number', default: 1, min: 0, doc: "multiplier of the 'scale' step (RED-diff's baseline uses 1)" },
    eta: { type: 'number', default: 1, min: 0, doc: 'noise of the unconditional step (DDIM eta); 1 = ancestral DDPM as the authors' },
  },
  notes:
    'One model evaluation plus one vector-Jacobian product per step (NFE counts the evaluations). On paths other than VP the ' +
    'step is taken in the variance-preserving variable z / sqrt(a^2 + s^2), so zeta means the same on VE/EDM/flow paths. ' +
    'Unlike the authors (x0_hat clipped to [-1, 1], learned DDPM variance) the x0 estimate is not clipped and the ancestral ' +
    'variance is the DDPM posterior one. zeta was tuned for 1000 steps; the measured error falls as steps grow at fixed zeta.',
  async run(ctx) {
    const { fn, grid, op, z, params, report } = ctx;
    const eta = params.eta;
    const mode = params.step;
    const zeta = params.zeta > 0 ? params.zeta : dpsDefaultZeta(op.kind);
    const scale = params.scale;
    const B = z.batch, n = z.itemSize;
    for (let i = 0; i < grid.length - 1; i++) {
      const from = grid[i]!, to = grid[i + 1]!;
      const { x0, eps } = await fn!.estimate(z, from);
      const r = residual(ctx, x0);
      const norms = itemNorms(r);
      // J^T A^T (A x0_hat - y) = grad_z of half the squared residual.
      const g = await x0VjpAt(ctx, z, from, op.adjoint(r));
      ddimStep(z, x0.data, eps.data, ddimCoefficients(from, to, eta), ctx.noise, i);
      const zd = z.data, gd = g.data;
      for (let b = 0; b < B; b++) {
        let coef: number;
        if (mode === 'scale') coef = 2 * scale * to.a * from.a;
        else coef = norms[b]! > 0 ? (zeta * vpScale(to) * vpScale(from)) / norms[b]! : 0;
        if (coef === 0) continue;
        for (let j = b * n; j < (b + 1) * n; j++) zd[j] = zd[j]! - coef * gd[j]!;
      }
      await report(i + 1, i + 1, z, x0);
    }
    return z;
  },
});

export const DPS_SOLVERS: readonly SolverDef[] = [dps];
