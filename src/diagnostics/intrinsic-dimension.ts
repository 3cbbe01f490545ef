import { fail } from '../core/errors.js';
import { householderEigen } from '../core/linalg.js';
import { NoiseSource, Stream } from '../core/rng.js';
import { Tensor } from '../core/tensor.js';
import type { Denoiser } from '../models/denoiser.js';
import { x0Jvp } from '../models/derivatives.js';

/**
 * Local intrinsic dimension at data points from the spectrum of the denoiser's Jacobian at small noise.
 *
 * Near a data manifold, the score at small noise points along the normal space (Stanczuk et al. 2023, "Your
 * diffusion model secretly knows the dimension of the data manifold"), so J = d E[x0 | z] / dz = (I + s^2 grad
 * score) / a tends to P_T / a, the projection onto the tangent space: a J has singular values near 1 along the
 * manifold and near 0 across it. Horvat & Pfister (ICLR 2025, "On gauge freedom, conservativity and intrinsic
 * dimensionality estimation in diffusion models", Sec. 5) show that this reading of the Jacobian's spectrum
 * is sound for a conservative field and can fail for a non-conservative one, which is why the diagnose report
 * shows the asymmetry beside it. The dimension is the number of singular values of a J above 1/2, the midpoint
 * between the two clusters; for a Gaussian N(m, S) they are lam / (lam + sigma^2), so it counts the
 * eigenvalues of S above sigma^2.
 */

export interface LidOptions {
  /** Krylov dimension, at most the item size (default: the item size, i.e. the full spectrum). */
  krylov?: number;
  /** JVP directions per step, batched into one model call (default 16). */
  block?: number;
  seed?: number;
  /** Called after each block of JVPs. */
  onProgress?: (done: number, total: number) => void;
}

export interface LidResult {
  /** Per item: the number of singular values of a J Q above 1/2. */
  dimension: number[];
  /** Per item: the singular values of a J Q, descending (Q the orthonormal Krylov basis). */
  singularValues: Float64Array[];
  /** Columns of Q; when it is below the item size, each dimension is a lower bound (interlacing). */
  krylov: number;
  /** Per item: the dimension from the first half of Q's columns, a check on convergence when krylov is below the item size. */
  dimensionAtHalf: number[];
  /** Model evaluations per item. */
  nfe: number;
}

/**
 * Block Arnoldi on JVPs, not Lanczos: a forward-only model gives J v but not J^T v, and a network's J is not
 * symmetric, so Lanczos' three-term recurrence does not hold; Arnoldi with full (twice-repeated Gram-Schmidt)
 * orthogonalisation needs J v only, reduces to Lanczos where J is symmetric, and its blocks batch the JVPs into
 * one model call. An invariant subspace (exactly repeated eigenvalues, as in a low-rank Gaussian) is continued
 * with a fresh random direction. The singular values of J Q (not the Ritz values, which can be complex for a
 * non-symmetric J) are those of J itself once Q spans the whole space, and lower bounds before.
 */
export async function localIntrinsicDimension(denoiser: Denoiser, x: Tensor, t: number, options: LidOptions = {}): Promise<LidResult> {
  const B = x.batch, n = x.itemSize;
  const m = options.krylov ?? n;
  if (!(Number.isInteger(m) && m >= 1 && m <= n)) fail('BAD_INPUT', `krylov must be an integer from 1 to the item size ${n}, got ${m}`);
  const block = Math.min(options.block ?? 16, m);
  if (!(Number.isInteger(block) && block >= 1)) fail('BAD_INPUT', `block must be an integer >= 1, got ${options.block}`);
  const a = denoiser.path.a(t);
  const noise = new NoiseSource(options.seed ?? 0);
  // Per item: Q (rows = orthonormal basis vectors) and W (rows = a J q).
  const Q = Array.from({ length: B }, () => new Float64Array(m * n));
  const W = Array.from({ length: B }, () => new Float64Array(m * n));
  let cols = 0, nfe = 0, draws = 0;
  const random = (b: number) => noise.normalForSample([n], b, draws, Stream.aux);
  // The first block: random directions.
  let next: Float64Array[][] = Array.from({ length: B }, (_, b) => Array.from({ length: block }, (_, k) => noise.normalForSample([n], b * block + k, 0, Stream.aux)));
  draws++;
  while (cols < m) {
    const width = Math.min(block, m - cols);
    for (let b = 0; b < B; b++) {
      for (let k = 0; k < width; k++) {
        let v = next[b]![k]!;
        if (!orthonormalise(v, Q[b]!, cols + k, n)) {
          v = random(b);
          draws++;
          if (!orthonormalise(v, Q[b]!, cols + k, n)) fail('BAD_INPUT', 'the Krylov basis lost orthogonality; lower --krylov');
        }
        Q[b]!.set(v, (cols + k) * n);
      }
    }
    // J q for the new columns of every item in one batched call.
    const X = Tensor.zeros([B * width, ...x.shape.slice(1)], x.dtype), V = Tensor.zeros(X.shape, x.dtype);
    for (let b = 0; b < B; b++) {
      for (let k = 0; k < width; k++) {
        X.data.set(x.data.subarray(b * n, (b + 1) * n), (b * width + k) * n);
        V.data.set(Q[b]!.subarray((cols + k) * n, (cols + k + 1) * n), (b * width + k) * n);
      }
    }
    const { jvp, nfe: calls } = await x0Jvp(denoiser, X, t, V);
    nfe += calls * width;
    next = Array.from({ length: B }, (_, b) =>
      Array.from({ length: width }, (_, k) => {
        const w = Float64Array.from(jvp.data.subarray((b * width + k) * n, (b * width + k + 1) * n), (v) => a * v);
        W[b]!.set(w, (cols + k) * n);
        return w.slice();
      }),
    );
    cols += width;
    options.onProgress?.(cols, m);
  }
  // Singular values of the first c columns of W = a J Q, from the eigenvalues of their Gram matrix.
  const singular = (w: Float64Array, c: number) => {
    const G = new Float64Array(c * c);
    for (let i = 0; i < c; i++) {
      for (let j = 0; j <= i; j++) {
        let s = 0;
        for (let k = 0; k < n; k++) s += w[i * n + k]! * w[j * n + k]!;
        G[i * c + j] = s;
        G[j * c + i] = s;
      }
    }
    return householderEigen(G, c, { vectors: false }).values.map((v) => Math.sqrt(Math.max(v, 0)));
  };
  const count = (sv: Float64Array) => sv.filter((v) => v > 0.5).length;
  const singularValues = W.map((w) => singular(w, m));
  const dimension = singularValues.map(count);
  const dimensionAtHalf = W.map((w) => count(singular(w, Math.ceil(m / 2))));
  return { dimension, singularValues, krylov: m, dimensionAtHalf, nfe };
}

/**
 * Orthogonalise v against the first `count` rows of Q (Gram-Schmidt twice, which keeps Q orthonormal to
 * rounding) and normalise it; false when v was (numerically) in their span.
 */
function orthonormalise(v: Float64Array, Q: Float64Array, count: number, n: number): boolean {
  let before = 0;
  for (let i = 0; i < n; i++) before += v[i]! * v[i]!;
  for (let pass = 0; pass < 2; pass++) {
    for (let j = 0; j < count; j++) {
      let c = 0;
      for (let i = 0; i < n; i++) c += Q[j * n + i]! * v[i]!;
      for (let i = 0; i < n; i++) v[i] -= c * Q[j * n + i]!;
    }
  }
  let after = 0;
  for (let i = 0; i < n; i++) after += v[i]! * v[i]!;
  if (!(after > 1e-16 * before)) return false;
  const inv = 1 / Math.sqrt(after);
  for (let i = 0; i < n; i++) v[i] *= inv;
  return true;
}
