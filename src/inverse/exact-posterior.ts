import { fail } from '../core/errors.js';
import { cholesky, matMul, solveSPD, transpose } from '../core/linalg.js';
import { GaussianMixture } from '../models/gmm.js';

/**
 * The exact posterior of a Gaussian-mixture prior under a linear measurement y = A x0 + n, n ~ N(0, sigma^2 I):
 * again a mixture, component k with
 *   covariance P_k = (C_k^-1 + A^T A / sigma^2)^-1 = C_k - C_k A^T (A C_k A^T + sigma^2 I)^-1 A C_k,
 *   mean       m_k + C_k A^T (A C_k A^T + sigma^2 I)^-1 (y - A m_k),
 *   weight     proportional to w_k N(y; A m_k, A C_k A^T + sigma^2 I).
 * The Woodbury form needs only an m x m solve, and works for sigma = 0 when A C_k A^T is invertible.
 * A is dense, m x d, row-major.
 */
export function mixturePosterior(prior: GaussianMixture, A: Float64Array, m: number, y: ArrayLike<number>, sigma: number): GaussianMixture {
  const d = prior.dim;
  if (A.length !== m * d) fail('BAD_SHAPE', `operator matrix has ${A.length} entries, expected ${m} x ${d}`);
  if (y.length !== m) fail('BAD_SHAPE', `measurement has ${y.length} values, expected ${m}`);
  const At = transpose(A, m, d);
  const logw: number[] = [];
  const means: number[][] = [];
  const covs: number[][][] = [];
  for (let k = 0; k < prior.components; k++) {
    const C = prior.covs[k]!, mk = prior.means[k]!;
    const CAt = matMul(C, At, d, d, m); // d x m
    const S = matMul(A, CAt, m, d, m); // A C A^T
    for (let i = 0; i < m; i++) S[i * m + i] += sigma * sigma;
    const r = new Float64Array(m);
    for (let i = 0; i < m; i++) {
      let acc = y[i]!;
      for (let j = 0; j < d; j++) acc -= A[i * d + j]! * mk[j]!;
      r[i] = acc;
    }
    const L = cholesky(S, m);
    if (!L) fail('BAD_INPUT', 'A C A^T + sigma^2 I is singular; use a positive noise level or an operator of full row rank');
    const Sr = solveSPD(S, m, r);
    let logdet = 0, quad = 0;
    for (let i = 0; i < m; i++) {
      logdet += 2 * Math.log(L[i * m + i]!);
      quad += r[i]! * Sr[i]!;
    }
    logw.push(Math.log(prior.weights[k]!) - 0.5 * (m * Math.log(2 * Math.PI) + logdet + quad));
    const mean = new Array<number>(d);
    for (let i = 0; i < d; i++) {
      let acc = mk[i]!;
      for (let j = 0; j < m; j++) acc += CAt[i * m + j]! * Sr[j]!;
      mean[i] = acc;
    }
    // P = C - (C A^T) S^-1 (A C), column by column of S^-1 (A C).
    const P = Float64Array.from(C);
    const AC = transpose(CAt, d, m); // m x d
    for (let c = 0; c < d; c++) {
      const col = new Float64Array(m);
      for (let i = 0; i < m; i++) col[i] = AC[i * d + c]!;
      const sol = solveSPD(S, m, col);
      for (let i = 0; i < d; i++) {
        let acc = 0;
        for (let j = 0; j < m; j++) acc += CAt[i * m + j]! * sol[j]!;
        P[i * d + c] -= acc;
      }
    }
    // Symmetrise and keep it positive definite against rounding.
    const cov: number[][] = [];
    for (let i = 0; i < d; i++) {
      const row: number[] = [];
      for (let j = 0; j < d; j++) row.push(0.5 * (P[i * d + j]! + P[j * d + i]!) + (i === j ? 1e-12 : 0));
      cov.push(row);
    }
    means.push(mean);
    covs.push(cov);
  }
  const mx = Math.max(...logw);
  const ws = logw.map((l) => Math.exp(l - mx));
  const tot = ws.reduce((p, q) => p + q, 0);
  return new GaussianMixture({ weights: ws.map((w) => w / tot), means, covs, shape: [...prior.shape] });
}
