import { fail } from '../../core/errors.js';
import { Stream } from '../../core/rng.js';
import { Tensor } from '../../core/tensor.js';
import { etaSplitCoefficients } from '../../samplers/ddim.js';
import type { OperatorSVD } from '../operators/operator.js';
import { defineSolver, type SolverDef } from './types.js';

/** The measurement in the operator's spectral space: U^T y and y_bar = Sigma^+ U^T y (0 where s_i = 0). */
export function spectralMeasurement(svd: OperatorSVD, y: Tensor): { uty: Float64Array; ybar: Float64Array } {
  const uty = Float64Array.from(svd.applyUt(y).data);
  const s = svd.singularValues, n = svd.size, ybar = new Float64Array(uty.length);
  for (let k = 0; k < uty.length; k++) {
    const si = s[k % n]!;
    ybar[k] = si > 0 ? uty[k]! / si : 0;
  }
  return { uty, ybar };
}

/** V^T x as a float64 array [B * size]. */
export function spectral(svd: OperatorSVD, x: Tensor): Float64Array {
  const v = svd.applyVt(x).data;
  return v instanceof Float64Array ? v : Float64Array.from(v);
}

/** z <- V v (v a float64 spectral array [B * size]), keeping z's shape and dtype. */
export function fromSpectralInto(svd: OperatorSVD, v: Float64Array, z: Tensor): Tensor {
  const x = svd.applyV(new Tensor([z.batch, svd.size], v));
  z.data.set(x.data);
  return z;
}

/**
 * DDRM (Kawar et al. 2022, "Denoising Diffusion Restoration Models", eq. 7-8; the authors'
 * `efficient_generalized_steps`). In the spectral space of A = U diag(s) V^T, with the VE-scaled state
 * x_bar = V^T z / a, sigma = s/a and y_bar = s_i^-1 (U^T y)_i, coordinate i of the next state is
 *   s_i = 0:                         x0_i + sqrt(1-eta^2) sig' eps_i + eta sig' xi          (prior only)
 *   sig' < sigma_y / s_i:            x0_i + sqrt(1-eta^2) sig' ((U^T y)_i - s_i x0_i)/sigma_y + eta sig' xi
 *   sig' >= sigma_y / s_i:           eta_b y_bar_i + (1-eta_b) x0_i + sqrt(sig'^2 - eta_b^2 sigma_y^2/s_i^2) xi
 * with x0 = V^T x0_hat, eps = V^T eps_hat and sig' = s/a at the target point; then z' = a' V x_bar'.
 * The authors' VP code (sigma = sqrt(1-abar)/sqrt(abar)) is the special case a = sqrt(abar).
 */
export const ddrm = defineSolver({
  name: 'ddrm',
  description: 'DDRM: variational posterior steps in the SVD space of A; observed coordinates follow y_bar = Sigma^-1 U^T y, the null space follows the prior',
  needs: { svd: true },
  stochastic: true,
  nfePerStep: 1,
  params: {
    eta: { type: 'number', default: 0.85, min: 0, max: 1, doc: 'fresh-noise fraction of the prior-driven coordinates (DDRM eta; 0 = deterministic DDIM-like, 1 = all noise fresh); note: DDRM\'s eta, not DDIM\'s' },
    eta_b: { type: 'number', default: 1, min: 0, max: 1, doc: 'weight of the measurement y_bar where the state is noisier than the measurement (DDRM eta_b)' },
    init_from_y: { type: 'boolean', default: true, doc: 'start from the authors\' p(x_T | y): the well-measured coordinates of the initial noise are centered on a_T y_bar' },
  },
  notes: 'Observed coordinates are replaced by the measurement as soon as the state is noisier than it (sigma_t s_i >= sigma_y); with sigma_y = 0 the result meets A x = y exactly. ' +
    'The authors compare with strict inequalities, so at the last step with sigma_y = 0 their code returns x0_hat on the observed coordinates; here the >= case returns y_bar. ' +
    'eta is the fraction of fresh noise c = eta s_t (as DDRM and DDNM), not the DDIM eta of the ddim sampler.',
  async run({ fn, grid, op, y, sigmaY, z, noise, params, report }) {
    const eta = params.eta, etaB = params.eta_b;
    const svd = op.svd!;
    const s = svd.singularValues, n = svd.size, B = z.batch;
    const { uty, ybar } = spectralMeasurement(svd, y);

    if (params.init_from_y && grid.length > 0) {
      // p(x_T | y) of the paper (sec. 3.3): coordinates measured better than the noise level start at y_bar.
      const p = grid[0]!;
      if (p.a > 0 && p.s > 0) {
        const sig = p.s / p.a, scale = Math.sqrt(p.a * p.a + p.s * p.s);
        const v = spectral(svd, z);
        for (let k = 0; k < v.length; k++) {
          const si = s[k % n]!;
          if (si > 0 && si * sig > sigmaY) {
            const r = sigmaY / si;
            // Reuse the initial noise: (V^T z)_k / sqrt(a^2 + s^2) is standard normal.
            v[k] = p.a * (ybar[k]! + Math.sqrt(sig * sig - r * r) * (v[k]! / scale));
          }
        }
        fromSpectralInto(svd, v, z);
      }
    }

    const next = new Float64Array(B * n);
    for (let i = 0; i < grid.length - 1; i++) {
      const from = grid[i]!, to = grid[i + 1]!;
      if (!(to.a > 0)) fail('UNSUPPORTED', `ddrm steps to a point with a(t) = 0 (t = ${to.t}); end the grid at data (a > 0)`);
      const { x0, eps } = await fn!.estimate(z, from);
      const v0 = spectral(svd, x0), ve = spectral(svd, eps);
      const xi = noise.normal([B, n], i, Stream.noise, 'float64').data;
      const sig = to.s / to.a;
      // The eta split in the VE-scaled variable: sqrt(1 - eta^2) sig' on eps, eta sig' fresh.
      const { eps: ce, noise: cn } = etaSplitCoefficients(1, sig, eta);
      for (let k = 0; k < next.length; k++) {
        const si = s[k % n]!;
        let v: number;
        if (si === 0) {
          v = v0[k]! + ce * ve[k]! + cn * xi[k]!;
        } else if (si * sig >= sigmaY) {
          const r = (etaB * sigmaY) / si;
          v = etaB * ybar[k]! + (1 - etaB) * v0[k]! + Math.sqrt(Math.max(0, sig * sig - r * r)) * xi[k]!;
        } else {
          v = v0[k]! + (ce * (uty[k]! - si * v0[k]!)) / sigmaY + cn * xi[k]!;
        }
        next[k] = to.a * v;
      }
      fromSpectralInto(svd, next, z);
      await report(i + 1, i + 1, z, x0);
    }
    return z;
  },
});

export const DDRM_SOLVERS: readonly SolverDef[] = [ddrm];
