import { Tensor, shapeSize } from '../../core/tensor.js';
import { fail } from '../../core/errors.js';
import { symmetricEigen } from '../../core/linalg.js';
import { checkBatch } from './batch.js';
import type { Operator, OperatorSVD } from './operator-contract.js';

/** Pieces shared by operators that have an SVD: pseudo-inverse and prox from it, and dense SVDs. */

/** [B, size] spectral tensor check; returns B. */
export function checkSpectral(z: Tensor, size: number, what: string): number {
  return checkBatch(z, [size], what);
}

/** A copy of t [B, ...item] as a spectral tensor [B, size]. */
export function toSpectral(t: Tensor, item: readonly number[], what: string): Tensor {
  const b = checkBatch(t, item, what);
  return new Tensor([b, shapeSize(item)], t.data.slice());
}

/** A copy of the spectral tensor z [B, size] as [B, ...item]. */
export function fromSpectral(z: Tensor, item: readonly number[], what: string): Tensor {
  const b = checkSpectral(z, shapeSize(item), what);
  return new Tensor([b, ...item], z.data.slice());
}

/** A^+ y = V diag(1/s on s > 0) U^T y. */
export function pinvFromSVD(svd: OperatorSVD, y: Tensor): Tensor {
  const z = svd.applyUt(y);
  const s = svd.singularValues, n = svd.size, d = z.data;
  for (let b = 0; b < z.batch; b++) {
    for (let i = 0; i < n; i++) d[b * n + i] = s[i]! > 0 ? d[b * n + i]! / s[i]! : 0;
  }
  return svd.applyV(z);
}

/**
 * argmin_x ||A x - y||^2 / (2 sigma^2) + rho/2 ||x - v||^2 in the spectral space:
 * z_i = (s_i (U^T y)_i / sigma^2 + rho (V^T v)_i) / (s_i^2 / sigma^2 + rho), x = V z.
 * sigma = 0: z_i = (U^T y)_i / s_i where s_i > 0, (V^T v)_i elsewhere (projection on A x = y).
 */
export function proxFromSVD(svd: OperatorSVD, v: Tensor, y: Tensor, rho: number, sigma: number): Tensor {
  const zy = svd.applyUt(y);
  const zv = svd.applyVt(v);
  if (zy.batch !== zv.batch) fail('BAD_SHAPE', `prox: v has batch ${zv.batch} but y has batch ${zy.batch}; pass matching batches`);
  const s = svd.singularValues, n = svd.size, a = zv.data, u = zy.data;
  const w = sigma > 0 ? 1 / (sigma * sigma) : 0;
  for (let b = 0; b < zv.batch; b++) {
    for (let i = 0; i < n; i++) {
      const k = b * n + i, si = s[i]!;
      if (si === 0) continue;
      a[k] = sigma > 0 ? (si * w * u[k]! + rho * a[k]!) / (si * si * w + rho) : u[k]! / si;
    }
  }
  return svd.applyV(zv);
}

/**
 * The SVD of an operator whose V and singular values are known (A^T A = V diag(s^2) V^T):
 * the thin U is A V diag(1/s), applied through the operator itself,
 * U z = A V (z / s), U^T y = (V^T A^T y) / s on s > 0.
 */
export function svdFromV(
  op: Pick<Operator, 'forward' | 'adjoint'>,
  spectralShape: readonly number[],
  singularValues: Float64Array,
  applyV: (z: Tensor) => Tensor,
  applyVt: (x: Tensor) => Tensor,
): OperatorSVD {
  const size = shapeSize(spectralShape), s = singularValues;
  const divide = (z: Tensor): Tensor => {
    const d = z.data;
    for (let b = 0; b < z.batch; b++) for (let i = 0; i < size; i++) d[b * size + i] = s[i]! > 0 ? d[b * size + i]! / s[i]! : 0;
    return z;
  };
  return {
    size,
    spectralShape: [...spectralShape],
    singularValues: s,
    applyV,
    applyVt,
    applyU: (z) => {
      checkSpectral(z, size, 'svd applyU');
      return op.forward(applyV(divide(z.clone())));
    },
    applyUt: (y) => divide(applyVt(op.adjoint(y))),
  };
}

// ---------------------------------------------------------------------------------------
// Householder reflections: an orthonormal basis whose first vector is a given unit vector.

/**
 * v = e0 - u for a unit vector u, so that H = I - 2 v v^T / (v^T v) is symmetric,
 * orthogonal, and H e0 = u (the first column of H is u, the others span u's complement).
 * Returns null when u = e0 (H = I).
 */
export function householderFor(u: Float64Array): Float64Array | null {
  const v = Float64Array.from(u, (x) => -x);
  v[0] = v[0]! + 1;
  let vv = 0;
  for (let i = 0; i < v.length; i++) vv += v[i]! * v[i]!;
  if (vv < 1e-30) return null;
  const s = Math.sqrt(2 / vv); // store v scaled so H = I - v v^T
  for (let i = 0; i < v.length; i++) v[i] = v[i]! * s;
  return v;
}

/** In place z <- (I - v v^T) z for z = data[off + k*stride], k < v.length. */
export function applyHouseholder(v: Float64Array | null, data: Float64Array, off: number, stride: number): void {
  if (!v) return;
  let d = 0;
  for (let k = 0; k < v.length; k++) d += v[k]! * data[off + k * stride]!;
  for (let k = 0; k < v.length; k++) data[off + k * stride] = data[off + k * stride]! - d * v[k]!;
}

// ---------------------------------------------------------------------------------------
// Dense SVD through a symmetric eigendecomposition.

export interface DenseSVD {
  readonly m: number;
  readonly n: number;
  /** n singular values, descending; those below the cutoff are exact zeros. */
  readonly s: Float64Array;
  /** m x n row-major; column i is the left singular vector of s_i (zero where s_i = 0). */
  readonly U: Float64Array;
  /** n x n row-major, orthogonal; column i is the right singular vector of s_i. */
  readonly V: Float64Array;
  readonly rank: number;
}

/**
 * SVD of a row-major m x n matrix from the Jacobi eigendecomposition of the smaller Gram
 * matrix (A^T A if n <= m, else A A^T). Accuracy: the Gram matrix squares the condition
 * number, so s_i carries an absolute error of about eps * s_max^2 / s_i and the derived
 * singular vectors lose orthogonality like eps * (s_max / s_i)^2. Singular values below
 * `relCutoff * s_max` (default 1e-7, just above sqrt(eps)) are therefore set to 0 and
 * treated as null space. For the well-conditioned small matrices of tests the result is
 * exact to ~1e-12.
 */
export function denseSVD(A: Float64Array, m: number, n: number, relCutoff = 1e-7): DenseSVD {
  if (A.length !== m * n) fail('BAD_SHAPE', `denseSVD: matrix has ${A.length} entries, expected ${m} x ${n}`);
  const small = Math.min(m, n);
  const viaAtA = n <= m;
  const k = viaAtA ? n : m;
  const G = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    for (let j = i; j < k; j++) {
      let acc = 0;
      if (viaAtA) for (let r = 0; r < m; r++) acc += A[r * n + i]! * A[r * n + j]!;
      else for (let c = 0; c < n; c++) acc += A[i * n + c]! * A[j * n + c]!;
      G[i * k + j] = acc;
      G[j * k + i] = acc;
    }
  }
  const { values, vectors } = symmetricEigen(G, k);
  const order = Array.from({ length: k }, (_, i) => i).sort((a, b) => values[b]! - values[a]!);
  const sMax = Math.sqrt(Math.max(values[order[0]!] ?? 0, 0));
  const s = new Float64Array(n);
  let rank = 0;
  for (let i = 0; i < small; i++) {
    const si = Math.sqrt(Math.max(values[order[i]!]!, 0));
    if (si > relCutoff * sMax && si > 0) {
      s[i] = si;
      rank = i + 1;
    } else break;
  }
  const U = new Float64Array(m * n), V = new Float64Array(n * n);
  if (viaAtA) {
    for (let i = 0; i < n; i++) for (let r = 0; r < n; r++) V[r * n + i] = vectors[r * n + order[i]!]!;
    for (let i = 0; i < rank; i++) {
      for (let r = 0; r < m; r++) {
        let acc = 0;
        for (let c = 0; c < n; c++) acc += A[r * n + c]! * V[c * n + i]!;
        U[r * n + i] = acc / s[i]!;
      }
    }
  } else {
    for (let i = 0; i < rank; i++) {
      for (let c = 0; c < n; c++) {
        let acc = 0;
        for (let r = 0; r < m; r++) acc += A[r * n + c]! * vectors[r * m + order[i]!]!;
        V[c * n + i] = acc / s[i]!;
      }
      for (let r = 0; r < m; r++) U[r * n + i] = vectors[r * m + order[i]!]!;
    }
    completeBasis(V, n, rank);
  }
  return { m, n, s, U, V, rank };
}

/**
 * Fills columns rank..n-1 of the n x n column-orthonormal V with an orthonormal basis of the
 * complement: the standard basis vector with the largest residual after two rounds of
 * Gram-Schmidt against the columns so far, repeatedly.
 */
function completeBasis(V: Float64Array, n: number, rank: number): void {
  const w = new Float64Array(n);
  for (let col = rank; col < n; col++) {
    let best = -1, bestNorm = -1;
    for (let e = 0; e < n; e++) {
      // residual norm^2 of e_e = 1 - sum_j V[e, j]^2
      let proj = 0;
      for (let j = 0; j < col; j++) proj += V[e * n + j]! * V[e * n + j]!;
      if (1 - proj > bestNorm) {
        bestNorm = 1 - proj;
        best = e;
      }
    }
    w.fill(0);
    w[best] = 1;
    for (let pass = 0; pass < 2; pass++) {
      for (let j = 0; j < col; j++) {
        let d = 0;
        for (let r = 0; r < n; r++) d += V[r * n + j]! * w[r]!;
        for (let r = 0; r < n; r++) w[r] = w[r]! - d * V[r * n + j]!;
      }
    }
    let nn = 0;
    for (let r = 0; r < n; r++) nn += w[r]! * w[r]!;
    nn = Math.sqrt(nn);
    for (let r = 0; r < n; r++) V[r * n + col] = w[r]! / nn;
  }
}
