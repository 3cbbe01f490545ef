import { fail } from '../../core/errors.js';
import { Stream } from '../../core/rng.js';
import { Tensor } from '../../core/tensor.js';
import { ddimCoefficients } from '../../samplers/ddim.js';
import type { ParamSpecs } from '../../samplers/method.js';
import type { OperatorSVD } from '../operators/operator.js';
import { defineSolver, type SolverContext, type SolverDef } from './types.js';

/** What one SMC run did: the effective sample size before each step's resampling decision, and when it resampled. */
export interface SmcStats {
  /** ESS (in particles) of the weights after step k's reweighting, before any resampling. */
  ess: number[];
  /** Whether step k resampled before moving the particles. */
  resampled: boolean[];
  /** Whether the returned ensemble needed a final resampling (the weights were not uniform after the last step). */
  finalResample: boolean;
  /**
   * Estimate of log p(y) (the measurement's evidence under the diffusion prior, Gaussian noise sigma_y on the range of A):
   * the SMC normalising constant, converted from the pseudo-observations of the noisy states back to y.
   * Exact as particles grow for the discrete-time model; meaningful only for sigma_y > 0 and rank(A) = dim(y).
   */
  logEvidence: number;
}

/** Effective sample size 1 / sum W_j^2 of normalised weights given as log-weights. */
export function effectiveSampleSize(logw: ArrayLike<number>): number {
  let mx = -Infinity;
  for (let j = 0; j < logw.length; j++) mx = Math.max(mx, logw[j]!);
  if (mx === -Infinity || !Number.isFinite(mx)) return 0;
  let s = 0, s2 = 0;
  for (let j = 0; j < logw.length; j++) {
    const w = Math.exp(logw[j]! - mx);
    s += w;
    s2 += w * w;
  }
  return (s * s) / s2;
}

/**
 * Systematic resampling (Kitagawa 1996): n ancestors from the weights exp(logw), using the n points (u + j) / n,
 * j = 0..n-1, with one uniform u in [0, 1). Particle j is copied between floor(n W_j) and ceil(n W_j) times.
 */
export function systematicResample(logw: ArrayLike<number>, u: number, out = new Int32Array(logw.length)): Int32Array {
  const n = logw.length;
  if (!(u >= 0 && u <= 1)) fail('BAD_INPUT', `systematic resampling needs a uniform in [0, 1], got ${u}`);
  let mx = -Infinity;
  for (let j = 0; j < n; j++) mx = Math.max(mx, logw[j]!);
  if (!Number.isFinite(mx)) fail('NAN_IN_MODEL', 'smc: every particle has zero (or non-finite) weight; the measurement is far outside the prior, or sigma_y / kappa is too small');
  const w = new Float64Array(n);
  let total = 0;
  for (let j = 0; j < n; j++) total += (w[j] = Math.exp(logw[j]! - mx));
  const uu = u >= 1 ? 1 - 1e-12 : u;
  let cum = w[0]! / total, i = 0;
  for (let j = 0; j < n; j++) {
    const pos = (uu + j) / n;
    while (pos >= cum && i < n - 1) cum += w[++i]! / total;
    out[j] = i;
  }
  return out;
}

/** log N(x; mu, v) */
function logNormal(x: number, mu: number, v: number): number {
  const r = x - mu;
  return -0.5 * (Math.log(2 * Math.PI * v) + (r * r) / v);
}

function toSpectral(svd: OperatorSVD, x: Tensor): Float64Array {
  const v = svd.applyVt(x).data;
  return v instanceof Float64Array ? v : Float64Array.from(v);
}

/** z <- V v for the float64 spectral array v [B * size], keeping z's shape and dtype. */
function fromSpectralInto(svd: OperatorSVD, v: Float64Array, z: Tensor): void {
  z.data.set(svd.applyV(new Tensor([z.batch, svd.size], v)).data);
}

/**
 * The SMC core, with the run's bookkeeping written into `stats` when given. See `smc` for the method.
 *
 * Notation (MCGdiff, Cardoso et al., arXiv 2308.07983, in the spectral space of A = U diag(s) V^T): coordinate i of
 * x_bar = V^T x0 is measured as y_bar_i = (U^T y)_i / s_i = x_bar_i + r_i n with r_i = sigma_y / s_i. A noisy state
 * z_t = a_t x0 + s_t eps has z_bar_i / a_t = x_bar_i + sigma_t eps (sigma_t = s_t / a_t), so at the first grid point
 * tau_i with sigma_tau <= r_i the measurement is the pseudo-observation y~_i = a_tau y_bar_i of z_bar_{tau,i} with the
 * leftover noise variance kappa_i = a_tau^2 r_i^2 - s_tau^2 >= 0: the target is p(z_{0:T}) prod_i N(y~_i; z_{tau_i,i}, kappa_i),
 * whose x0 marginal is the posterior. Before tau_i the particles carry a twist h_{t,i}(z) = N(y~_i; alpha z + beta, gamma),
 * an approximation of p(y~_i | z_t,i) that equals the likelihood at tau_i (alpha = 1, beta = 0, gamma = kappa_i).
 */
export async function runSmc(ctx: SolverContext<typeof SMC_PARAMS>, stats?: SmcStats): Promise<Tensor> {
  const { fn, grid, op, y, sigmaY, z, noise, params, report } = ctx;
  const eta = params.eta, threshold = params.resample_threshold, kappa = params.kappa;
  const twist = params.twist, priorVar = params.prior_var;
  if (!(eta > 0)) fail('BAD_CONFIG', `smc needs eta > 0 (the DDPM kernel must be stochastic for the particle proposal), got ${eta}`);
  if (sigmaY === 0 && !(kappa > 0)) fail('BAD_CONFIG', `smc on a noiseless measurement needs kappa > 0 (the pseudo-noise variance of the observed coordinates), got ${kappa}`);
  const svd = op.svd;
  if (!svd) return fail('UNSUPPORTED', `smc needs the SVD of ${op.name}; use an operator with an SVD (inpaint, sr, blur, color, mri single-coil, matrix)`);
  const B = z.batch, n = svd.size;
  if (grid.length < 2) fail('BAD_INPUT', `smc needs a grid of at least 2 points, got ${grid.length}`);

  // One ensemble, one measurement.
  const m = y.itemSize;
  for (let b = 1; b < B; b++) {
    for (let k = 0; k < m; k++) {
      if (y.data[b * m + k] !== y.data[k]) fail('BAD_INPUT', 'smc treats the batch as one particle ensemble for one measurement; give a single measurement (it is broadcast to every particle)');
    }
  }
  const uty = svd.applyUt(new Tensor([1, ...op.outShape], Float64Array.from(y.data.subarray(0, m)))).data;
  const sv = svd.singularValues;

  // Observed spectral coordinates: pseudo-observation y~, matched grid point tau and leftover variance kappa.
  const sigma2 = grid.map((p) => (p.a > 0 ? (p.s * p.s) / (p.a * p.a) : Infinity));
  const obs: number[] = [], ytil: number[] = [], ktau: number[] = [], kap: number[] = [];
  for (let i = 0; i < n; i++) {
    const si = sv[i]!;
    if (!(si > 0)) continue;
    const ri2 = sigmaY > 0 ? (sigmaY * sigmaY) / (si * si) : kappa;
    let k = sigma2.findIndex((s2) => s2 <= ri2);
    let leftover: number;
    if (k >= 0) {
      const p = grid[k]!;
      leftover = Math.max(0, p.a * p.a * ri2 - p.s * p.s);
    } else {
      // The grid ends noisier than this coordinate's measurement: at the last point, p(y | z) ~ N(y~; z, a^2 r^2 + s^2).
      k = grid.length - 1;
      const p = grid[k]!;
      leftover = p.a * p.a * ri2 + p.s * p.s;
    }
    obs.push(i);
    ytil.push((grid[k]!.a * uty[i]!) / si);
    ktau.push(k);
    kap.push(leftover);
  }
  const nObs = obs.length;
  const muP = new Float64Array(nObs), varP = new Float64Array(nObs).fill(priorVar > 0 ? priorVar : 1);

  // Twist of observed coordinate q at grid point k <= ktau[q], fixed when z_k is proposed from z_{k-1}:
  // h(z) = N(y~; alpha z + beta, gamma), an approximation of p(y~ | z_k) that is the likelihood itself at k = ktau
  // (alpha = 1, beta = 0, gamma = kappa). Any such twist keeps the target exact; a better one keeps the weights even.
  //  forward (MCGdiff): the pinned observation diffused forward, alpha = a_tau / a_k, beta = 0,
  //    gamma = a_tau^2 (sigma_k^2 - sigma_tau^2) + kappa (the flat-prior limit of the other two).
  //  gaussian / tweedie: E[z_tau | z_k] = rho z_k + (a_tau - rho a_k) E[x0 | z_k] exactly (rho = s_tau^2 a_k / (a_tau s_k^2),
  //    the DDPM bridge from k to tau), Var = c^2_{tau|k} + (a_tau - rho a_k)^2 Var[x0 | z_k]. E[x0 | z_k] is linearised
  //    around the kernel mean m: x0_hat(z) ~ x0_hat(z_{k-1}) + J (z - m) (the Tweedie estimates are a martingale along the
  //    reverse process), with J = a P / (a^2 P + s^2) and Var[x0 | z] = P s^2 / (a^2 P + s^2) from a Gaussian fit N(mu, P)
  //    of the prior. gaussian puts mu in place of x0_hat (the exact twist for a Gaussian prior with independent spectral
  //    coordinates); tweedie uses the particle's own x0_hat, so the twist sees the prior's modes and correlations.
  //    Then beta = lead (x0_hat - J m) with lead = a_tau - rho a_k: `lead` and `J` are returned, beta is per particle.
  const co = { alpha: 0, gamma: 1, lead: 0, J: 0 };
  const coef = (q: number, k: number): typeof co => {
    const kt = ktau[q]!;
    co.lead = 0;
    co.J = 0;
    if (k === kt) {
      co.alpha = 1;
      co.gamma = Math.max(kap[q]!, 1e-300);
      return co;
    }
    const p = grid[k]!, t = grid[kt]!;
    if (twist === 'forward') {
      co.alpha = p.a > 0 ? t.a / p.a : 0; // a = 0: pure noise, a flat twist
      co.gamma = p.a > 0 ? t.a * t.a * (sigma2[k]! - sigma2[kt]!) + kap[q]! : 1;
    } else {
      const P = varP[q]!, vk = p.a * p.a * P + p.s * p.s;
      const rho = (t.s * t.s * p.a) / (t.a * p.s * p.s);
      const J = (p.a * P) / vk, lead = t.a - rho * p.a;
      co.alpha = rho + lead * J;
      co.gamma = t.s * t.s - rho * rho * p.s * p.s + lead * lead * ((P * p.s * p.s) / vk) + kap[q]!;
      co.lead = lead;
      co.J = J;
    }
    co.gamma = Math.max(co.gamma, 1e-300);
    return co;
  };

  let Z: Float64Array = toSpectral(svd, z);
  const logW = new Float64Array(B);
  // Coordinates whose measurement sits at grid[0] already: the initial particles (from the prior) carry its likelihood.
  for (let q = 0; q < nObs; q++) {
    if (ktau[q] !== 0) continue;
    const v = Math.max(kap[q]!, 1e-300), yq = ytil[q]!;
    for (let j = 0; j < B; j++) logW[j] += logNormal(yq, Z[j * n + obs[q]!]!, v);
  }
  let logZ = logMeanExp(logW);

  const M = new Float64Array(B * n), inc = new Float64Array(B);
  let next: Float64Array = new Float64Array(B * n);
  // Twist offsets beta per particle and observed coordinate: for the upcoming point, and for the particles' current point.
  const betaNext = new Float64Array(B * nObs), betaNow = new Float64Array(B * nObs);
  const alphaNow = new Float64Array(nObs), gammaNow = new Float64Array(nObs);
  const alphaNext = new Float64Array(nObs), gammaNext = new Float64Array(nObs);
  const ancestors = new Int32Array(B);
  const steps = grid.length - 1;
  for (let k = 0; k < steps; k++) {
    const from = grid[k]!, to = grid[k + 1]!;
    const { x0, eps } = await fn!.estimate(z, from);
    const v0 = toSpectral(svd, x0), ve = toSpectral(svd, eps);
    if (k === 0 && twist !== 'forward') estimatePrior(v0, Z, B, n, obs, from.a, priorVar, muP, varP);
    // DDPM / DDIM(eta) kernel N(m, c^2 I) with m = a' x0 + sqrt(s'^2 - c^2) eps (diagonal in any orthogonal basis).
    const { eps: ce, noise: c } = ddimCoefficients(from, to, eta), c2 = c * c;
    for (let e = 0; e < M.length; e++) M[e] = to.a * v0[e]! + ce * ve[e]!;

    // Fully adapted weights (as MCGdiff's `mcg_diff` loop): int N(z'; m, c^2) h_{k+1}(z') dz' / h_k(z) over the coordinates still
    // ahead of their measurement point; a coordinate's likelihood, once reached, stays in the target.
    inc.fill(0);
    for (let q = 0; q < nObs; q++) {
      if (ktau[q]! < k + 1) continue;
      const i = obs[q]!, yq = ytil[q]!;
      const { alpha, gamma, lead, J } = coef(q, k + 1);
      alphaNext[q] = alpha;
      gammaNext[q] = gamma;
      const dn = alpha * alpha * c2 + gamma;
      for (let j = 0; j < B; j++) {
        const e = j * n + i, mm = M[e]!;
        const beta = twist === 'tweedie' ? lead * (v0[e]! - J * mm) : lead * (1 - J * to.a) * muP[q]!;
        betaNext[j * nObs + q] = beta;
        inc[j] += logNormal(yq, alpha * mm + beta, dn);
      }
      if (k > 0) {
        // at k = 0 the initial weight h_0 and this division cancel
        const a0 = alphaNow[q]!, g0 = gammaNow[q]!;
        for (let j = 0; j < B; j++) inc[j] -= logNormal(yq, a0 * Z[j * n + i]! + betaNow[j * nObs + q]!, g0);
      }
    }
    logZ += logWeightedMeanExp(logW, inc);
    for (let j = 0; j < B; j++) logW[j] += inc[j]!;
    const ess = effectiveSampleSize(logW);
    if (!(ess > 0)) fail('NAN_IN_MODEL', `smc: all particle weights vanished at step ${k + 1}; the measurement is far outside the prior, or sigma_y / kappa is too small`);
    const resample = ess < threshold * B;
    if (resample) {
      systematicResample(logW, noise.uniform(1, 0, k, Stream.resample)[0]!, ancestors);
      logW.fill(0);
    } else {
      for (let j = 0; j < B; j++) ancestors[j] = j;
    }
    stats?.ess.push(ess);
    stats?.resampled.push(resample);

    // Move: the DDPM kernel times the next twist (a Gaussian in z') on the coordinates still ahead of their measurement.
    const xi = noise.normal([B, n], k, Stream.noise, 'float64').data;
    for (let j = 0; j < B; j++) {
      const src = ancestors[j]! * n, dst = j * n;
      for (let i = 0; i < n; i++) next[dst + i] = M[src + i]! + c * xi[dst + i]!;
    }
    for (let q = 0; q < nObs; q++) {
      if (ktau[q]! < k + 1) continue;
      const i = obs[q]!, yq = ytil[q]!, alpha = alphaNext[q]!, gamma = gammaNext[q]!;
      const d = alpha * alpha * c2 + gamma, gain = (c2 * alpha) / d, sd = Math.sqrt((c2 * gamma) / d);
      for (let j = 0; j < B; j++) {
        const e = j * n + i, a = ancestors[j]!, mm = M[a * n + i]!, beta = betaNext[a * nObs + q]!;
        next[e] = mm + gain * (yq - alpha * mm - beta) + sd * xi[e]!;
        betaNow[j * nObs + q] = beta;
      }
      alphaNow[q] = alpha;
      gammaNow[q] = gamma;
    }
    const moved = next;
    next = Z;
    Z = moved;
    fromSpectralInto(svd, Z, z);
    await report(k + 1, k + 1, z, x0);
  }

  // Equally weighted output: resample once more unless the last step left uniform weights.
  let uniform = true;
  for (let j = 1; j < B; j++) if (logW[j] !== logW[0]) uniform = false;
  if (!uniform) {
    systematicResample(logW, noise.uniform(1, 0, steps, Stream.resample)[0]!, ancestors);
    const src = Float64Array.from(z.data), item = z.itemSize, zd = z.data;
    for (let j = 0; j < B; j++) for (let e = 0; e < item; e++) zd[j * item + e] = src[ancestors[j]! * item + e]!;
  }
  if (stats) {
    stats.finalResample = !uniform;
    // Z estimates prod_i N(y~_i; z_tau,i, kappa_i), = prod_i N(y_bar_i; x_i, r_i^2) / a_tau_i under the forward process,
    // while p(y | x) = prod_i N(y_bar_i; x_i, r_i^2) / s_i on the range of A.
    let corr = 0;
    for (let q = 0; q < nObs; q++) corr += Math.log(grid[ktau[q]!]!.a) - Math.log(sv[obs[q]!]!);
    stats.logEvidence = logZ + corr;
  }
  return z;
}

/**
 * Prior moments of the observed spectral coordinates from the first model call on the initial (prior) ensemble:
 * mu = mean of x0_hat, and P = Cov(x0_hat, z) / a, since Cov(E[x0 | z], z) = Cov(x0, z) = a Var(x0) for any prior.
 * A positive `fixed` variance overrides the estimate.
 */
function estimatePrior(v0: Float64Array, Z: Float64Array, B: number, n: number, obs: readonly number[], a: number, fixed: number, mu: Float64Array, P: Float64Array): void {
  for (let q = 0; q < obs.length; q++) {
    const i = obs[q]!;
    let mx = 0, mz = 0;
    for (let j = 0; j < B; j++) {
      mx += v0[j * n + i]!;
      mz += Z[j * n + i]!;
    }
    mx /= B;
    mz /= B;
    mu[q] = mx;
    if (fixed > 0) continue;
    let cov = 0;
    for (let j = 0; j < B; j++) cov += (v0[j * n + i]! - mx) * (Z[j * n + i]! - mz);
    const est = a > 0 && B > 1 ? cov / (B - 1) / a : 0;
    P[q] = est > 1e-8 ? est : 1e-8;
  }
}

function logMeanExp(l: Float64Array): number {
  let mx = -Infinity;
  for (const v of l) mx = Math.max(mx, v);
  if (!Number.isFinite(mx)) return mx;
  let s = 0;
  for (const v of l) s += Math.exp(v - mx);
  return mx + Math.log(s / l.length);
}

/** log sum_j W_j exp(inc_j), W the normalised weights exp(logW). */
function logWeightedMeanExp(logW: Float64Array, inc: Float64Array): number {
  let mx = -Infinity, mw = -Infinity;
  for (let j = 0; j < logW.length; j++) {
    mx = Math.max(mx, logW[j]! + inc[j]!);
    mw = Math.max(mw, logW[j]!);
  }
  if (!Number.isFinite(mx)) return mx;
  let s = 0, sw = 0;
  for (let j = 0; j < logW.length; j++) {
    s += Math.exp(logW[j]! + inc[j]! - mx);
    sw += Math.exp(logW[j]! - mw);
  }
  return mx + Math.log(s) - mw - Math.log(sw);
}

const SMC_PARAMS = {
  eta: { type: 'number', default: 1, min: 0, max: 1, doc: 'noise of the DDPM/DDIM proposal kernel, in (0, 1] (MCGdiff eta; default 1 = ancestral DDPM)' },
  resample_threshold: {
    type: 'number',
    default: 0.5,
    min: 0,
    max: 1,
    doc: 'resample (systematic, one uniform per step from the run\'s noise) when the effective sample size falls below this fraction of the particles; 1 = nearly every step (as MCGdiff and TDS), 0 = never (importance sampling)',
  },
  twist: {
    type: 'choice',
    default: 'tweedie',
    values: ['tweedie', 'gaussian', 'forward'],
    doc: 'approximation of p(y | z_t) that guides the particles before their matched noise level: tweedie = through the particle\'s own x0 estimate (TDS-like, no gradients); gaussian = exact for a Gaussian fit of the prior; forward = MCGdiff\'s (the observation diffused forward, the flat-prior limit). All three are exact as particles grow; they differ in weight variance',
  },
  prior_var: {
    type: 'number',
    default: 0,
    min: 0,
    doc: 'variance of the Gaussian prior fit used by the tweedie and gaussian twists, per SVD coordinate; 0 = estimate it from the first model call, Cov(x0_hat, z) / a over the initial ensemble',
  },
  kappa: {
    type: 'number',
    default: 1e-4,
    min: 0,
    doc: 'noiseless measurements only: pseudo-noise variance of the observed SVD coordinates in x0 units (MCGdiff gaussian_var), so the target is the posterior under measurement noise std sqrt(kappa) * s_i',
  },
} as const satisfies ParamSpecs;

/**
 * Particle posterior sampler in the line of MCGdiff (Cardoso, Janati, Le Corff, Moulines 2024, "Monte Carlo guided
 * diffusion for Bayesian linear inverse problems", ICLR; gabrielvc/mcg_diff `particle_filter.py`) with TDS-style
 * Tweedie twisting (Wu et al. 2023, "Practical and asymptotically exact conditional sampling in diffusion models";
 * blt2114/twisted_diffusion_sampler): the n batch items are ONE particle ensemble; each step proposes from the DDPM
 * kernel times a Gaussian twist (coordinatewise in the SVD basis of A), weights by the kernel's marginal of that twist
 * over the previous one, and resamples systematically when the ESS falls below a threshold.
 */
export const smc = defineSolver({
  name: 'smc',
  description: 'sequential Monte Carlo (MCGdiff-style, Tweedie-twisted): the batch is one particle ensemble; DDPM steps twisted towards the measurement in the SVD basis, reweighted and resampled; exact as particles grow',
  needs: { particles: true, svd: true },
  stochastic: true,
  nfePerStep: 1,
  params: SMC_PARAMS,
  notes:
    'The particle count is the batch size (n samples = n particles: one ensemble for one measurement; n = 1 is a single twisted DDPM path with no correction, MCGdiff uses 64). ' +
    'NFE: 1 batched model call per step (counted once by ctx.fn), i.e. n particle evaluations per step. ' +
    'Each observed SVD coordinate i is matched to the first grid point whose noise-to-signal ratio s/a is at most sigma_y / s_i and the leftover variance is kept ' +
    'in the likelihood there, so the target is the exact posterior of the discrete-time DDPM prior on any grid (MCGdiff instead takes the nearest grid time ' +
    'and, for noisy data, reweights by p(y | x0) at the end). Exact as particles grow for that discrete-time model; its distance to the continuous prior shrinks with the steps. ' +
    'The output is resampled once more at the end, so its n particles are equally weighted (with duplicates). ' +
    'Needs the operator\'s SVD and a grid that ends at clean data (final "zero", the default) for exactness.',
  run: (ctx) => runSmc(ctx),
});

export const SMC_SOLVERS: readonly SolverDef[] = [smc];
