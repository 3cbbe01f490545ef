import { Stream } from '../../core/rng.js';
import { Tensor } from '../../core/tensor.js';
import { measuredCount } from '../operators/operator.js';
import { pseudoInverse } from '../operators/pseudo-inverse.js';
import { residual } from './dps.js';
import { defineSolver, type SolverDef } from './types.js';

const WEIGHTINGS = ['linear', 'sqrt', 'square', 'log', 'trunc_linear', 'const', 'power2over3'] as const;

/** RED-diff's denoise_term_weight applied to the inverse SNR s/a (algos/reddiff.py). */
function snrWeight(kind: string, snrInv: number): number {
  switch (kind) {
    case 'sqrt': return Math.sqrt(snrInv);
    case 'square': return snrInv * snrInv;
    case 'log': return Math.log(snrInv + 1);
    case 'trunc_linear': return Math.min(snrInv, 1);
    case 'const': return 1;
    case 'power2over3': return Math.pow(snrInv, 2 / 3);
    default: return snrInv;
  }
}

/**
 * RED-diff (Mardani, Song, Kautz & Vahdat 2024, "A variational perspective on solving inverse problems with
 * diffusion models", eq. 9-12; NVlabs/RED-diff algos/reddiff.py): q(x0 | y) = N(mu, sigma_x0^2 I) and, with
 * sigma_x0 -> 0, mu minimises by Adam, one timestep per iteration from noise to data,
 *   obs/(2m) ||y - A mu||^2 + lambda w_t / d * (eps_hat(x_t, t) - eps)^T mu,   x_t = a_t mu + s_t eps,
 * eps_hat detached (a score-matching regulariser: no Jacobian of the denoiser), w_t = (s_t/a_t) ("linear" =
 * 1/sqrt(SNR)). The two means (over the m measurements and the d pixels) are the authors' normalisation.
 */
export const reddiff = defineSolver({
  name: 'reddiff',
  description: 'RED-diff (Mardani et al. 2024): variational MAP-like estimate, Adam on mu with a denoiser regulariser (eps_hat - eps)^T mu',
  needs: {},
  stochastic: true,
  nfePerStep: 1,
  params: {
    lr: { type: 'number', default: 0.1, min: 0, doc: "Adam learning rate (_configs/algo/reddiff.yaml 0.1; the README's example uses 0.5)" },
    lambda: { type: 'number', default: 0.25, min: 0, doc: 'weight of the denoiser regulariser (grad_term_weight, 0.25)' },
    obsWeight: { type: 'number', default: 1, min: 0, doc: 'weight of the data term (obs_weight, 1)' },
    weighting: {
      type: 'choice',
      default: 'linear',
      values: WEIGHTINGS,
      doc: 'denoise_term_weight: w_t as a function of s/a (linear = s/a, sqrt, square, log = log(1 + s/a), trunc_linear = min(s/a, 1), const, power2over3)',
    },
    init: { type: 'choice', default: 'pinv', values: ['pinv', 'adjoint'], doc: "initial mu: 'pinv' = A^+ y as the authors, 'adjoint' = A^T y" },
    discrepancy: {
      type: 'number',
      default: 1,
      min: 0,
      doc: "operators without a closed-form pseudo-inverse (CT, multi-coil MRI): the CGLS of init 'pinv' stops once ||y - A x|| <= discrepancy x sigma_y sqrt(measured entries), the noise norm of y (Morozov's discrepancy principle); 0 fits y as far as it goes",
    },
    sigmaX0: { type: 'number', default: 0, min: 0, doc: 'std of q(x0|y) used to draw x0 = mu + sigma_x0 n each step (sigma_x0, 0)' },
  },
  notes:
    'A MAP-like point estimate, not a posterior sampler: the result is mu, the same for every sample up to the ' +
    'per-sample noise draws, so its spread is near zero and the sliced Wasserstein distance to the posterior reflects ' +
    'that; judge it by the error of the mean. The data term is not divided by sigma_y^2 (the authors\' code ignores ' +
    'sigma_y in the loss). Stochastic inside (eps draws) but deterministic given the seed. Adam betas (0.9, 0.99), eps 1e-8 ' +
    'as the authors. On any affine path x_t = a mu + s eps with w_t from s/a.',
  async run(ctx) {
    const { fn, grid, op, y, sigmaY, z, noise, params, report } = ctx;
    const lr = params.lr, lambda = params.lambda, obsWeight = params.obsWeight;
    const weighting = params.weighting, sigmaX0 = params.sigmaX0;
    const shape = z.shape;
    // A CG pseudo-inverse fitted past the noise level of y fits the noise: brain-64, 50 steps, 4 held-out slices,
    // ct:views=30 / 60,noise=0.1: 14.0 / 14.7 dB with CGLS to tol 1e-8, 27.2 / 31.0 dB stopped at the discrepancy.
    const start = params.init === 'adjoint' ? op.adjoint(y) : pseudoInverse(op, y, { maxIter: 500, tol: 1e-8, misfit: params.discrepancy * sigmaY * Math.sqrt(measuredCount(op)) }).x;
    const mu = Tensor.zeros(shape, z.dtype);
    mu.data.set(start.data);
    const nEl = mu.data.length, d = mu.itemSize;
    // The authors' loss is a mean over the measured entries (H.H returns only those): the rank of A when known.
    const sv = op.svd?.singularValues;
    let m = op.outShape.reduce((p, q) => p * q, 1);
    if (sv) m = sv.reduce((c, s) => c + (s > 0 ? 1 : 0), 0) || m;
    const m1 = new Float64Array(nEl), m2 = new Float64Array(nEl);
    const beta1 = 0.9, beta2 = 0.99, adamEps = 1e-8;
    const x0 = Tensor.zeros(shape, z.dtype), zt = Tensor.zeros(shape, z.dtype);
    let k = 0;
    for (let i = 0; i < grid.length - 1; i++) {
      const p = grid[i]!;
      if (p.s === 0) continue;
      const e = noise.normal(shape, i, Stream.noise, z.dtype);
      const ed = e.data, md = mu.data, xd = x0.data, zd = zt.data;
      if (sigmaX0 > 0) {
        const n0 = noise.normal(shape, i, Stream.aux, z.dtype).data;
        for (let j = 0; j < nEl; j++) xd[j] = md[j]! + sigmaX0 * n0[j]!;
      } else xd.set(md);
      for (let j = 0; j < nEl; j++) zd[j] = p.a * xd[j]! + p.s * ed[j]!;
      const { eps: epsHat } = await fn!.estimate(zt, p);
      const gObs = op.adjoint(residual(ctx, x0)).data; // A^T (A x0 - y)
      const wt = (lambda * snrWeight(weighting, p.s / p.a)) / d, wo = obsWeight / m;
      const eh = epsHat.data;
      k++;
      const c1 = 1 - beta1 ** k, c2 = 1 - beta2 ** k;
      for (let j = 0; j < nEl; j++) {
        const g = wo * gObs[j]! + wt * (eh[j]! - ed[j]!);
        m1[j] = beta1 * m1[j]! + (1 - beta1) * g;
        m2[j] = beta2 * m2[j]! + (1 - beta2) * g * g;
        md[j] = md[j]! - (lr * (m1[j]! / c1)) / (Math.sqrt(m2[j]! / c2) + adamEps);
      }
      await report(i + 1, i + 1, mu, mu);
    }
    return mu;
  },
});

export const REDDIFF_SOLVERS: readonly SolverDef[] = [reddiff];
