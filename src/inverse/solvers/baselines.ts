import { fail } from '../../core/errors.js';
import { Tensor } from '../../core/tensor.js';
import { CTOperator } from '../operators/ct.js';
import { pseudoInverse } from '../operators/pseudo-inverse.js';
import { solveTV } from './baselines-tv.js';

export { pseudoInverse, type PinvOptions, type PinvResult } from '../operators/pseudo-inverse.js';
import { defineSolver, type SolverContext, type SolverDef } from './types.js';

export { solveTV, tvObjective, totalVariation, gradient2d, gradientAdjoint2d, imagePlanes } from './baselines-tv.js';
export type { TVOptions, TVResult } from './baselines-tv.js';

/**
 * Classical reconstructions without a diffusion prior, the baselines the posterior solvers are
 * compared against. They ignore the denoiser, the time grid and the initial state (runSolver
 * passes a zero image), use sigma_y only through their own parameters, and are deterministic.
 */

/** The result in the dtype and batch shape of the solver state. */
function asState(ctx: SolverContext, x: Tensor): Tensor {
  const out = Tensor.zeros([ctx.y.batch, ...ctx.op.inShape], ctx.z.dtype);
  out.data.set(x.data);
  return out;
}

/** Report a one-shot baseline as a single finished step at the clean end of the grid. */
async function reportDone(ctx: SolverContext, step: number, x: Tensor): Promise<void> {
  await ctx.report(step, Math.max(0, ctx.grid.length - 1), x, x);
}

/**
 * Zero-filled: x = A^T y, the adjoint (A^H y for complex data, real inner product). For
 * single-coil Cartesian MRI this is the zero-filled inverse FFT of the masked k-space (its real
 * part for real images), for multi-coil MRI the SENSE-combined adjoint sum_c conj(S_c) F^H M y_c;
 * for CT the unfiltered backprojection, for inpainting the masked image, for other operators the
 * adjoint, which is not scaled to invert anything (use pinv or fbp for that).
 */
export const zeroFilled = defineSolver({
  name: 'zero-filled',
  description: 'adjoint reconstruction A^T y (zero-filled inverse FFT for MRI, SENSE adjoint for multi-coil, backprojection for CT)',
  needs: { noPrior: true },
  stochastic: false,
  nfePerStep: 0,
  params: {},
  notes: 'The adjoint, not an inverse: for operators other than Cartesian MRI (whose A^T A is a projection) its scale is off; pinv is the least-squares inverse.',
  async run(ctx) {
    const x = asState(ctx, ctx.op.adjoint(ctx.y));
    await reportDone(ctx, 1, x);
    return x;
  },
});

export const pinv = defineSolver({
  name: 'pinv',
  description: 'pseudo-inverse A^+ y (closed form when the operator has one, else CGLS; optional Tikhonov lambda)',
  needs: { noPrior: true },
  stochastic: false,
  nfePerStep: 0,
  params: {
    lambda: { type: 'number', default: 0, min: 0, doc: 'Tikhonov weight: minimises ||A x - y||^2 + lambda ||x||^2 by CGLS; 0 = the pseudo-inverse (closed form when available)' },
    method: { type: 'choice', default: 'auto', values: ['auto', 'cg'], doc: 'auto: op.pinv, then the SVD, then CGLS; cg: always CGLS on the normal equations' },
    iterations: { type: 'number', default: 1000, min: 1, integer: true, doc: 'CGLS iteration cap (operators without a closed form, or lambda > 0)' },
    tol: { type: 'number', default: 1e-10, min: 0, doc: 'CGLS relative tolerance on the normal-equation residual' },
  },
  notes: 'Operators with pinv or svd (MRI single-coil, inpainting, super-resolution, blur, colorization, identity, matrix) use the exact closed form; multi-coil MRI and CT use CGLS from 0, which converges to the minimum-norm solution A^+ y. For ill-conditioned operators (sparse-view CT) the exact A^+ y amplifies noise: lower iterations (early stopping) or set lambda > 0.',
  async run(ctx) {
    const r = pseudoInverse(ctx.op, ctx.y, {
      lambda: ctx.params.lambda,
      method: ctx.params.method,
      maxIter: ctx.params.iterations,
      tol: ctx.params.tol,
    });
    const x = asState(ctx, r.x);
    await reportDone(ctx, Math.max(1, r.iterations), x);
    return x;
  },
});

/** Filtered back-projection for CT operators (the operator's `fbp`). */
export const fbp = defineSolver({
  name: 'fbp',
  description: 'filtered back-projection (Ram-Lak or Hann ramp filter, then backprojection); CT operators only',
  needs: { noPrior: true },
  stochastic: false,
  nfePerStep: 0,
  params: {
    filter: { type: 'choice', default: 'operator', values: ['operator', 'ramlak', 'hann'], doc: "ramp filter: 'operator' = the one in the operator spec (ct:...,filter=; default ramlak), ramlak, or hann (apodised, less noise)" },
  },
  notes: 'Analytic inversion of the parallel-beam Radon transform; an approximate inverse of the discrete A (not A^+), streaky with few views.',
  async run(ctx) {
    const op = ctx.op;
    if (!(op instanceof CTOperator)) {
      return fail('UNSUPPORTED', `solver fbp is filtered back-projection for CT operators (ct:views=N), but the operator is ${op.name}; use zero-filled (the adjoint A^T y) or pinv (the pseudo-inverse A^+ y) instead`);
    }
    const f = ctx.params.filter;
    const x = asState(ctx, op.fbp(ctx.y, f === 'operator' ? op.filter : f));
    await reportDone(ctx, 1, x);
    return x;
  },
});

/**
 * Default TV weight (relative to ||A||^2), tuned on the noiseless 64 x 64 Shepp-Logan phantom in
 * [-1, 1] at the default 300 iterations (PSNR dB, lambda = 1e-4 / 1e-3 / 1e-2): mri:accel=4
 * 21.8 / 21.7 / 20.9 (zero-filled 17.7), mri random mask 28.4 / 28.1 / 25.2, ct:views=30
 * 37.1 / 28.5 / 20.2 (FBP 20.9). Smaller lambda suits noiseless data but converges more slowly;
 * 1e-2 over-smooths CT below FBP, 1e-3 is a safe middle.
 */
export const TV_DEFAULT_LAMBDA = 0.001;

export const tv = defineSolver({
  name: 'tv',
  description: 'total-variation regularised least squares 1/2||Ax - y||^2 + lambda TV(x) by the Chambolle-Pock primal-dual algorithm',
  needs: { noPrior: true },
  stochastic: false,
  nfePerStep: 0,
  params: {
    lambda: { type: 'number', default: TV_DEFAULT_LAMBDA, min: 0, doc: 'TV weight; with scaleLambda it is relative to ||A||^2 (the objective is 1/2||Ax - y||^2 + lambda ||A||^2 TV(x)), so one value serves MRI and CT; raise it for noisy data' },
    iterations: { type: 'number', default: 300, min: 1, integer: true, doc: 'primal-dual iterations (each one forward and one adjoint)' },
    nonneg: { type: 'boolean', default: false, doc: 'constrain x >= 0 (for attenuation or magnitude images in [0, 1]; leave off for [-1, 1] images)' },
    scaleLambda: { type: 'boolean', default: true, doc: 'multiply lambda by ||A||^2 (false: lambda is the absolute weight of the objective as written)' },
    stepRatio: { type: 'number', default: 0, min: 0, doc: 'primal/dual step balance r (tau = 0.99 r/sqrt 2, sigma = 0.99/(r sqrt 2)); 0 = automatic, r = rms(A^T y)/(16 lambda ||A||^2)' },
  },
  notes: 'Isotropic TV per channel (forward differences, Neumann boundary), Chambolle & Pock 2011 Alg. 1 on K = [A/||A||; grad/sqrt 8], tau sigma ||K||^2 <= 0.98, ||A|| from op.normEstimate(). Starts from 0; reports every iteration. Ignores sigma_y: raise lambda for noisy data. Plain Alg. 1 is not monotone: the objective may rise briefly.',
  async run(ctx) {
    const last = Math.max(0, ctx.grid.length - 1);
    const r = await solveTV(ctx.op, ctx.y, {
      lambda: ctx.params.lambda,
      iterations: ctx.params.iterations,
      nonneg: ctx.params.nonneg,
      scaleLambda: ctx.params.scaleLambda,
      stepRatio: ctx.params.stepRatio,
      onIter: (k, x) => ctx.report(k, last, x, x),
    });
    return asState(ctx, r.x);
  },
});

/** The classical baselines, in the order `tweedie solvers` lists them. */
export const BASELINE_SOLVERS: readonly SolverDef[] = [zeroFilled, pinv, fbp, tv];
