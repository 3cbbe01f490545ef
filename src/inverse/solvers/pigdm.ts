import { conjugateGradient } from '../../core/cg.js';
import { Tensor } from '../../core/tensor.js';
import type { Operator } from '../operators/operator.js';
import { ddimCoefficients, ddimStep } from '../../samplers/ddim.js';
import { residual, vpScale, x0VjpAt } from './dps.js';
import { defineSolver, type SolverDef } from './types.js';

/**
 * A^T (r2 A A^T + sigma2 I)^{-1} v for each batch item of v ([B, ...outShape]). With the operator's SVD
 * A = U S V^T this is V diag(s / (r2 s^2 + sigma2)) U^T v (exact; A^T removes the part of v outside the
 * range of U). Otherwise conjugate gradient in measurement space; when sigma2 = 0 a ridge of 1e-9 r2 keeps
 * the system definite (invisible at float32 precision for operators of norm about 1).
 */
export function weightedPinv(op: Operator, v: Tensor, r2: number, sigma2: number): Tensor {
  const svd = op.svd;
  if (svd) {
    const u = svd.applyUt(v);
    const s = svd.singularValues, n = svd.size, d = u.data;
    for (let b = 0; b < u.batch; b++) {
      for (let i = 0; i < n; i++) {
        const si = s[i]!, den = r2 * si * si + sigma2;
        d[b * n + i] = si > 0 && den > 0 ? (d[b * n + i]! * si) / den : 0;
      }
    }
    return svd.applyV(u);
  }
  const m = v.itemSize, B = v.batch;
  const s2 = sigma2 > 0 ? sigma2 : 1e-9 * r2;
  const out = Tensor.zeros([B, ...op.outShape], 'float64');
  const p = new Tensor([1, ...op.inShape], new Float64Array(op.inShape.reduce((a, c) => a * c, 1)));
  for (let b = 0; b < B; b++) {
    const rhs = Float64Array.from(v.data.subarray(b * m, (b + 1) * m));
    const apply = (x: Float64Array, o: Float64Array): void => {
      const q = op.adjoint(new Tensor([1, ...op.outShape], x));
      p.data.set(q.data);
      const aat = op.forward(p).data;
      for (let i = 0; i < m; i++) o[i] = r2 * aat[i]! + s2 * x[i]!;
    };
    const res = conjugateGradient(apply, rhs, undefined, { tol: 1e-8, maxIter: Math.min(m, 500) });
    out.data.set(res.x, b * m);
  }
  const g = op.adjoint(out);
  return v.dtype === 'float64' ? g : g.toDtype('float32');
}

/**
 * Pseudoinverse-guided diffusion (Song, Vahdat, Mardani & Kautz 2023, "Pseudoinverse-guided diffusion models
 * for inverse problems", eq. 7-8): p(x0 | x_t) is approximated by N(x0_hat, r_t^2 I), which gives the
 * likelihood score
 *   g = grad_{x_t} log p(y | x_t) ~ J^T A^T (r_t^2 A A^T + sigma_y^2 I)^{-1} (y - A x0_hat),   J = d x0_hat / d x_t,
 * r_t^2 = sigma^2 / (1 + sigma^2) with sigma = s/a the noise-to-signal ratio (= s^2 on VP, = 1 - alphabar_t).
 * form 'tweedie' puts g into both DDIM predictions, x0_y = x0_hat + (s^2/a) w g and eps_y = eps_hat - s w g
 * (Tweedie's formula for the conditional; exact when the prior is Gaussian), and takes the DDIM step with them.
 * form 'nvlabs' is NVlabs/RED-diff's algos/pgdm.py: the noiseless guidance h = J^T A^+ (y - A x0_hat) added as
 * x_s += w sqrt(abar_s) sqrt(abar_t) h after an unguided DDIM step.
 */
export const pigdm = defineSolver({
  name: 'pigdm',
  description: 'PiGDM (Song et al. 2023): DDIM with the pseudoinverse guidance J^T A^T (r_t^2 A A^T + sigma_y^2 I)^-1 (y - A x0_hat)',
  needs: { gradients: true },
  stochastic: true,
  nfePerStep: 1,
  params: {
    eta: { type: 'number', default: 1, min: 0, doc: 'DDIM noise (mandt-lab/c-pigdm pgdm.yaml eta 1.0; NVlabs/RED-diff pgdm.yaml uses 0)' },
    weight: { type: 'number', default: 1, min: 0, doc: 'guidance weight w (grad_term_weight in the authors\' configs, 1)' },
    form: {
      type: 'choice',
      default: 'tweedie',
      values: ['tweedie', 'nvlabs'],
      doc: "'tweedie': the guidance score enters x0 and eps of the DDIM step (noisy measurements supported); 'nvlabs': RED-diff's pgdm.py, x_s += w a_s a_t J^T A^+ (y - A x0_hat) (noiseless form, ignores sigma_y)",
    },
  },
  notes:
    'One model evaluation plus one vector-Jacobian product per step (NFE counts the evaluations). The weighted pseudo-inverse ' +
    'uses the operator SVD when present, else conjugate gradient in measurement space. r_t^2 assumes data of unit variance, ' +
    "as the paper. On any affine path: r_t^2 = s^2/(a^2 + s^2), and the 'nvlabs' step is a_to a_from h in the centered state.",
  async run(ctx) {
    const { fn, grid, op, z, params, report, sigmaY } = ctx;
    const eta = params.eta, w = params.weight;
    const nvlabs = params.form === 'nvlabs';
    for (let i = 0; i < grid.length - 1; i++) {
      const from = grid[i]!, to = grid[i + 1]!;
      const { x0, eps } = await fn!.estimate(z, from);
      const r = residual(ctx, x0); // A x0_hat - y
      const k2 = vpScale(from) ** 2;
      const r2 = nvlabs ? 1 : (from.s * from.s) / k2;
      const h = weightedPinv(op, r, r2, nvlabs ? 0 : sigmaY * sigmaY); // A^T (r2 A A^T + sigma^2)^-1 (A x0 - y)
      const g = await x0VjpAt(ctx, z, from, h);
      const gd = g.data;
      for (let j = 0; j < gd.length; j++) gd[j] = -w * gd[j]!; // now w * grad log p(y | z)
      if (nvlabs) {
        ddimStep(z, x0.data, eps.data, ddimCoefficients(from, to, eta), ctx.noise, i);
        const c = to.a * from.a, zd = z.data;
        for (let j = 0; j < zd.length; j++) zd[j] = zd[j]! + c * gd[j]!;
      } else {
        const x0d = x0.data, ed = eps.data, cx = (from.s * from.s) / from.a;
        for (let j = 0; j < gd.length; j++) {
          x0d[j] = x0d[j]! + cx * gd[j]!;
          ed[j] = ed[j]! - from.s * gd[j]!;
        }
        ddimStep(z, x0.data, eps.data, ddimCoefficients(from, to, eta), ctx.noise, i);
      }
      await report(i + 1, i + 1, z, x0);
    }
    return z;
  },
});

export const PIGDM_SOLVERS: readonly SolverDef[] = [pigdm];
