import { fail } from '../core/errors.js';
import { Tensor } from '../core/tensor.js';
import { NoiseSource, Stream } from '../core/rng.js';
import { asymmetry, cholesky, symmetricEigen } from '../core/linalg.js';
import type { GridPoint, Path } from '../paths/path.js';
import type { Conditioning, Denoiser } from './denoiser.js';
import { derivativesAt, fromX0Eps, type PredictionType } from './prediction.js';
import { ClassMixtureDenoiser } from './class-mixture.js';

/** JSON form of a Gaussian mixture prior on x0. */
export interface MixtureJson {
  weights: number[];
  means: number[][];
  covs: number[][][];
  /** Optional image shape [C, H, W] with C*H*W = d. */
  shape?: number[];
  /**
   * Optional class of each component (0..C-1, every class with a component): the mixture is then class-conditional,
   * p(x0 | c) the mixture of class c's components, and its denoiser takes a "class" condition (class-mixture.ts).
   */
  classes?: number[];
}

/** One component in its eigenbasis: Sigma = U diag(lam) U^T. */
interface Component {
  logWeight: number;
  mean: Float64Array;
  lam: Float64Array;
  /** Eigenvectors as columns, row-major d x d. */
  U: Float64Array;
}

/** Per-item results of the exact posterior computations at one (a, s). */
export interface MixtureStats {
  x0: Float64Array;
  score: Float64Array;
  logDensity: number;
}

/**
 * Exact Gaussian-mixture prior x0 ~ sum_k w_k N(m_k, S_k). For any affine path,
 * z = x - b mu = a x0 + s eps is the mixture sum_k w_k N(a m_k, a^2 S_k + s^2 I), so E[x0 | x_t],
 * the score and the log-density are closed forms (computed per component in its eigenbasis).
 */
export class GaussianMixture {
  readonly dim: number;
  readonly shape: readonly number[];
  readonly weights: Float64Array;
  readonly means: Float64Array[];
  readonly covs: Float64Array[];
  /** The class of each component, for a class-conditional mixture (MixtureJson "classes"); null otherwise. */
  readonly classes: Int32Array | null;
  private readonly comps: Component[];

  constructor(spec: MixtureJson, name = 'mixture') {
    const { weights, means, covs } = spec;
    if (!Array.isArray(weights) || !Array.isArray(means) || !Array.isArray(covs)) {
      fail('BAD_INPUT', `${name}: needs arrays "weights", "means" and "covs"`);
    }
    const K = weights.length;
    if (K === 0) fail('BAD_INPUT', `${name}: "weights" is empty; give at least one component`);
    if (means.length !== K || covs.length !== K) {
      fail('BAD_INPUT', `${name}: ${K} weights but ${means.length} means and ${covs.length} covs; give one mean and one cov per weight`);
    }
    let total = 0;
    weights.forEach((w, k) => {
      if (typeof w !== 'number' || !Number.isFinite(w) || w < 0) fail('BAD_INPUT', `${name}: weight ${k} is ${w}; weights must be non-negative numbers`);
      total += w;
    });
    if (Math.abs(total - 1) > 1e-6) fail('BAD_INPUT', `${name}: weights sum to ${total}, not 1; normalise them`);
    const d = means[0]!.length;
    if (!(d > 0)) fail('BAD_INPUT', `${name}: mean 0 is empty`);
    this.dim = d;
    this.shape = spec.shape ?? [d];
    if (this.shape.reduce((p, q) => p * q, 1) !== d) {
      fail('BAD_SHAPE', `${name}: "shape" [${this.shape.join(', ')}] has ${this.shape.reduce((p, q) => p * q, 1)} elements but the means have ${d}`);
    }
    this.weights = Float64Array.from(weights);
    this.classes = spec.classes === undefined ? null : classesOf(spec.classes, K, name);
    this.means = [];
    this.covs = [];
    this.comps = [];
    for (let k = 0; k < K; k++) {
      const m = means[k]!, c = covs[k]!;
      if (!Array.isArray(m) || m.length !== d) fail('BAD_INPUT', `${name}: mean ${k} has length ${m?.length} but mean 0 has ${d}; all means need the same dimension`);
      if (!Array.isArray(c) || c.length !== d || c.some((row) => !Array.isArray(row) || row.length !== d)) {
        fail('BAD_INPUT', `${name}: cov ${k} must be a ${d} x ${d} matrix to match the means`);
      }
      const mean = Float64Array.from(m);
      const cov = Float64Array.from(c.flat());
      if (!mean.every(Number.isFinite) || !cov.every(Number.isFinite)) fail('BAD_INPUT', `${name}: component ${k} has a non-finite value`);
      if (asymmetry(cov, d) > 1e-8) fail('BAD_INPUT', `${name}: cov ${k} is not symmetric`);
      if (!cholesky(cov, d)) fail('BAD_INPUT', `${name}: cov ${k} is not positive definite; add a small multiple of the identity`);
      const { values, vectors } = symmetricEigen(cov, d);
      this.means.push(mean);
      this.covs.push(cov);
      this.comps.push({ logWeight: Math.log(weights[k]!), mean, lam: values.map((v) => Math.max(v, 0)), U: vectors });
    }
  }

  static fromJsonText(text: string, name = 'mixture'): GaussianMixture {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      return fail('UNREADABLE_FILE', `${name} is not valid JSON: ${(e as Error).message}`);
    }
    if (typeof json !== 'object' || json === null) fail('BAD_INPUT', `${name}: expected an object with weights, means, covs`);
    return new GaussianMixture(json as MixtureJson, name);
  }

  get components(): number {
    return this.comps.length;
  }

  toJson(): MixtureJson {
    const d = this.dim;
    return {
      weights: [...this.weights],
      means: this.means.map((m) => [...m]),
      covs: this.covs.map((c) => Array.from({ length: d }, (_, i) => [...c.subarray(i * d, (i + 1) * d)])),
      shape: [...this.shape],
      ...(this.classes ? { classes: [...this.classes] } : {}),
    };
  }

  /** The mixture of the given components, reweighted to sum to 1 (no classes): p(x0 | component in the set). */
  subMixture(components: readonly number[]): GaussianMixture {
    const total = components.reduce((p, k) => p + this.weights[k]!, 0);
    const json = this.toJson();
    return new GaussianMixture({ weights: components.map((k) => this.weights[k]! / total), means: components.map((k) => json.means[k]!), covs: components.map((k) => json.covs[k]!), shape: json.shape! });
  }

  /**
   * Exact E[x0 | z], grad_z log p(z) and log p(z) for one centered item z = a x0 + s eps.
   * With q = U^T (z - a m) and v_i = a^2 lam_i + s^2 per component:
   * log N = -(d log 2 pi + sum log v + sum q^2/v)/2, E_k[x0|z] = m + U (a lam / v) q, score_k = -U (q / v).
   */
  stats(z: ArrayLike<number>, a: number, s: number): MixtureStats {
    const out = { x0: new Float64Array(this.dim), score: new Float64Array(this.dim), logDensity: 0 };
    out.logDensity = this.statsInto(z, 0, this.coefficients(a, s), out.x0, out.score, 0);
    return out;
  }

  /** Per-component variances v = a^2 lam + s^2 and log-normalisers at one (a, s), shared by a batch. */
  coefficients(a: number, s: number): { a: number; v: Float64Array[]; logNorm: Float64Array } {
    const d = this.dim;
    const v = this.comps.map((c) => c.lam.map((l) => a * a * l + s * s));
    const logNorm = Float64Array.from(this.comps, (c, k) => {
      let logdet = 0;
      for (let j = 0; j < d; j++) logdet += Math.log(v[k]![j]!);
      return c.logWeight - 0.5 * (d * Math.log(2 * Math.PI) + logdet);
    });
    return { a, v, logNorm };
  }

  private scratch: { q: Float64Array[]; logp: Float64Array; cx: Float64Array; cs: Float64Array } | null = null;

  /**
   * The same for the item at z[off .. off+d), writing E[x0|z] and the score at x0[outOff..] and score[outOff..];
   * returns log p(z). Scratch buffers are reused across calls.
   */
  statsInto(z: ArrayLike<number>, off: number, co: ReturnType<GaussianMixture['coefficients']>, x0: Float64Array | Float32Array, score: Float64Array | Float32Array, outOff: number): number {
    const d = this.dim, K = this.comps.length, a = co.a;
    const sc = (this.scratch ??= { q: this.comps.map(() => new Float64Array(d)), logp: new Float64Array(K), cx: new Float64Array(d), cs: new Float64Array(d) });
    const { logp, cx, cs } = sc;
    let mx = -Infinity;
    for (let k = 0; k < K; k++) {
      const { mean, U } = this.comps[k]!;
      const q = sc.q[k]!, v = co.v[k]!;
      q.fill(0);
      for (let i = 0; i < d; i++) {
        const di = z[off + i]! - a * mean[i]!;
        const row = i * d;
        for (let j = 0; j < d; j++) q[j] += U[row + j]! * di;
      }
      let quad = 0;
      for (let j = 0; j < d; j++) quad += (q[j]! * q[j]!) / v[j]!;
      logp[k] = co.logNorm[k]! - 0.5 * quad;
      if (logp[k]! > mx) mx = logp[k]!;
    }
    let tot = 0;
    for (let k = 0; k < K; k++) tot += Math.exp(logp[k]! - mx);
    const logDensity = mx + Math.log(tot);
    for (let i = 0; i < d; i++) {
      x0[outOff + i] = 0;
      score[outOff + i] = 0;
    }
    for (let k = 0; k < K; k++) {
      const g = Math.exp(logp[k]! - logDensity);
      if (g === 0) continue;
      const { mean, lam, U } = this.comps[k]!;
      const q = sc.q[k]!, v = co.v[k]!;
      for (let j = 0; j < d; j++) {
        cx[j] = (g * a * lam[j]! * q[j]!) / v[j]!;
        cs[j] = (-g * q[j]!) / v[j]!;
      }
      for (let i = 0; i < d; i++) {
        let ax = 0, as = 0;
        const row = i * d;
        for (let j = 0; j < d; j++) {
          ax += U[row + j]! * cx[j]!;
          as += U[row + j]! * cs[j]!;
        }
        x0[outOff + i] += g * mean[i]! + ax;
        score[outOff + i] += as;
      }
    }
    return logDensity;
  }

  /**
   * v^T d E[x0|z] / dz = sum_k g_k a S_k P_k v + sum_k g_k (v . m_k(z)) (score_k - score),
   * with P_k = (a^2 S_k + s^2 I)^-1, m_k(z) the component posterior mean and g_k the responsibilities.
   */
  x0Vjp(z: ArrayLike<number>, a: number, s: number, vec: ArrayLike<number>): Float64Array {
    const d = this.dim, K = this.comps.length;
    const total = this.stats(z, a, s);
    const out = new Float64Array(d);
    const diff = new Float64Array(d), q = new Float64Array(d), uv = new Float64Array(d);
    for (let k = 0; k < K; k++) {
      const { mean, lam, U, logWeight } = this.comps[k]!;
      for (let i = 0; i < d; i++) diff[i] = z[i]! - a * mean[i]!;
      let quad = 0, logdet = 0;
      for (let j = 0; j < d; j++) {
        let acc = 0, accv = 0;
        for (let i = 0; i < d; i++) {
          acc += U[i * d + j]! * diff[i]!;
          accv += U[i * d + j]! * vec[i]!;
        }
        q[j] = acc;
        uv[j] = accv;
        const vj = a * a * lam[j]! + s * s;
        quad += (acc * acc) / vj;
        logdet += Math.log(vj);
      }
      const g = Math.exp(logWeight - 0.5 * (d * Math.log(2 * Math.PI) + logdet + quad) - total.logDensity);
      if (g === 0) continue;
      // Component mean m_k(z) and score_k in the original basis; dot of v with m_k(z).
      let vm = 0;
      for (let i = 0; i < d; i++) {
        let ax = 0;
        for (let j = 0; j < d; j++) ax += U[i * d + j]! * ((a * lam[j]! * q[j]!) / (a * a * lam[j]! + s * s));
        vm += vec[i]! * (mean[i]! + ax);
      }
      for (let i = 0; i < d; i++) {
        let sym = 0, sk = 0;
        for (let j = 0; j < d; j++) {
          const vj = a * a * lam[j]! + s * s;
          sym += U[i * d + j]! * ((a * lam[j]! * uv[j]!) / vj);
          sk += U[i * d + j]! * (-q[j]! / vj);
        }
        out[i] += g * (sym + vm * (sk - total.score[i]!));
      }
    }
    return out;
  }

  /** n exact samples of x0 as a Tensor [n, ...shape]; sample i depends only on (seed, i). */
  sample(n: number, seed: number, dtype: 'float32' | 'float64' = 'float64'): Tensor {
    const d = this.dim;
    const out = Tensor.zeros([n, ...this.shape], dtype);
    const src = new NoiseSource(seed);
    const cum: number[] = [];
    let acc = 0;
    for (const w of this.weights) cum.push((acc += w));
    for (let i = 0; i < n; i++) {
      const u = src.uniform(1, i, 0, Stream.init)[0]! * acc;
      let k = cum.findIndex((c) => u <= c);
      if (k < 0) k = cum.length - 1;
      const xi = src.normalForSample([d], i, 0, Stream.aux);
      const { mean, lam, U } = this.comps[k]!;
      for (let r = 0; r < d; r++) {
        let v = mean[r]!;
        for (let j = 0; j < d; j++) v += U[r * d + j]! * Math.sqrt(lam[j]!) * xi[j]!;
        out.data[i * d + r] = v;
      }
    }
    return out;
  }

  /** Mixture mean and covariance of x0 (for closed-form Gaussian fits and checks). */
  moments(): { mean: Float64Array; cov: Float64Array } {
    const d = this.dim;
    const mean = new Float64Array(d), cov = new Float64Array(d * d);
    this.weights.forEach((w, k) => {
      for (let i = 0; i < d; i++) mean[i] += w * this.means[k]![i]!;
    });
    this.weights.forEach((w, k) => {
      const m = this.means[k]!, c = this.covs[k]!;
      for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) cov[i * d + j] += w * (c[i * d + j]! + (m[i]! - mean[i]!) * (m[j]! - mean[j]!));
    });
    return { mean, cov };
  }

  /** The exact denoiser on a path, reporting predictions of the requested type. */
  asDenoiser(path: Path, prediction: PredictionType = 'x0'): Denoiser {
    if (this.classes) return new ClassMixtureDenoiser(this, this.classes, path, prediction);
    return new MixtureDenoiser(this, path, prediction);
  }
}

/** MixtureJson "classes": one integer class per component, the classes 0..C-1 each with a component. */
function classesOf(v: unknown, K: number, name: string): Int32Array {
  if (!Array.isArray(v) || v.length !== K || !v.every((c) => Number.isSafeInteger(c) && c >= 0)) fail('BAD_INPUT', `${name}: "classes" must give each of the ${K} components its class, an integer >= 0`);
  const C = Math.max(...(v as number[])) + 1;
  for (let c = 0; c < C; c++) if (!v.includes(c)) fail('BAD_INPUT', `${name}: "classes" has no component of class ${c}; number the classes 0..${C - 1} without gaps`);
  return Int32Array.from(v as number[]);
}

/** All of x centered: z = x - b mu. */
function centeredAll(x: Tensor, b: number, anchor: Tensor): Float64Array {
  const z = new Float64Array(x.size);
  for (let j = 0; j < z.length; j++) z[j] = x.data[j]! - b * anchor.data[j]!;
  return z;
}

/** Centered items of x at path time t: z = x - b(t) mu. */
function centered(x: Tensor, b: number, anchor: Tensor | undefined, i: number, d: number): Float64Array {
  const z = new Float64Array(d);
  for (let j = 0; j < d; j++) z[j] = x.data[i * d + j]! - (anchor ? b * anchor.data[i * d + j]! : 0);
  return z;
}

export class MixtureDenoiser implements Denoiser {
  readonly itemShape: readonly number[];
  readonly gradient = 'exact';
  constructor(readonly mixture: GaussianMixture, readonly path: Path, readonly prediction: PredictionType) {
    this.itemShape = mixture.shape;
  }

  private checkShape(x: Tensor): void {
    if (x.itemSize !== this.mixture.dim) {
      fail('BAD_SHAPE', `input of shape [${x.shape.join(', ')}] does not fit the mixture of dimension ${this.mixture.dim} (shape [${this.mixture.shape.join(', ')}])`);
    }
  }

  async predict(x: Tensor, t: number, cond?: Conditioning): Promise<Tensor> {
    this.checkShape(x);
    const p: GridPoint = this.path.point(t);
    const d = this.mixture.dim, B = x.batch;
    const x0 = x.zerosLike(), eps = x.zerosLike();
    const co = this.mixture.coefficients(p.a, p.s);
    const z = cond?.anchor && p.b !== 0 ? centeredAll(x, p.b, cond.anchor) : x.data;
    for (let i = 0; i < B; i++) this.mixture.statsInto(z, i * d, co, x0.data, eps.data, i * d);
    // E[eps | z] = -s grad log p(z) (Tweedie); eps holds the score so far.
    const e = eps.data;
    for (let i = 0; i < e.length; i++) e[i] = -p.s * e[i]!;
    if (this.prediction === 'x0') return x0;
    if (this.prediction === 'eps') return eps;
    const deriv = this.prediction === 'velocity' ? derivativesAt(this.path, t) : null;
    return fromX0Eps(this.prediction, x0, eps, p, cond?.anchor ?? null, deriv, x.zerosLike());
  }

  async x0Vjp(x: Tensor, t: number, v: Tensor, cond?: Conditioning): Promise<Tensor> {
    this.checkShape(x);
    const p = this.path.point(t);
    const d = this.mixture.dim, out = x.zerosLike();
    for (let i = 0; i < x.batch; i++) {
      const g = this.mixture.x0Vjp(centered(x, p.b, cond?.anchor, i, d), p.a, p.s, v.data.subarray(i * d, (i + 1) * d));
      out.data.set(g, i * d);
    }
    return out;
  }

  /** J v = J^T v: the x0 Jacobian a/s^2 Cov[x0 | x_t] is symmetric. */
  x0Jvp(x: Tensor, t: number, v: Tensor, cond?: Conditioning): Promise<Tensor> {
    return this.x0Vjp(x, t, v, cond);
  }
}
