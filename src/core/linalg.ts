import { fail } from './errors.js';

/** Small dense linear algebra on row-major Float64Array matrices (d up to a few hundred). */

/** Symmetric eigendecomposition by cyclic Jacobi rotations: A = V diag(values) V^T, V's columns the eigenvectors. */
export function symmetricEigen(A: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const a = A.slice();
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0, diag = 0;
    for (let i = 0; i < n; i++) {
      diag += a[i * n + i]! * a[i * n + i]!;
      for (let j = i + 1; j < n; j++) off += a[i * n + j]! * a[i * n + j]!;
    }
    if (off <= 1e-30 * diag || off === 0) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q]!;
        if (apq === 0) continue;
        const app = a[p * n + p]!, aqq = a[q * n + q]!;
        // Rotation angle that zeroes a[p][q] (Golub & Van Loan, Alg. 8.4.1).
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p]!, akq = a[k * n + q]!;
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k]!, aqk = a[q * n + k]!;
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p]!, vkq = v[k * n + q]!;
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = a[i * n + i]!;
  return { values, vectors: v };
}

/** Lower Cholesky factor L with A = L L^T, or null when A is not positive definite. */
export function cholesky(A: Float64Array, n: number): Float64Array | null {
  const L = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = A[i * n + j]!;
      for (let k = 0; k < j; k++) s -= L[i * n + k]! * L[j * n + k]!;
      if (i === j) {
        if (!(s > 0)) return null;
        L[i * n + i] = Math.sqrt(s);
      } else {
        L[i * n + j] = s / L[j * n + j]!;
      }
    }
  }
  return L;
}

/** out = M x for an m x n matrix. */
export function matVec(M: Float64Array, m: number, n: number, x: ArrayLike<number>, out = new Float64Array(m)): Float64Array {
  for (let i = 0; i < m; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += M[i * n + j]! * x[j]!;
    out[i] = s;
  }
  return out;
}

/** out = M^T x for an m x n matrix. */
export function matTVec(M: Float64Array, m: number, n: number, x: ArrayLike<number>, out = new Float64Array(n)): Float64Array {
  out.fill(0);
  for (let i = 0; i < m; i++) {
    const xi = x[i]!;
    for (let j = 0; j < n; j++) out[j] += M[i * n + j]! * xi;
  }
  return out;
}

/** C = A B for A m x k and B k x n. */
export function matMul(A: Float64Array, B: Float64Array, m: number, k: number, n: number): Float64Array {
  const C = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let p = 0; p < k; p++) {
      const aip = A[i * k + p]!;
      if (aip === 0) continue;
      for (let j = 0; j < n; j++) C[i * n + j] += aip * B[p * n + j]!;
    }
  }
  return C;
}

export function transpose(A: Float64Array, m: number, n: number): Float64Array {
  const T = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) T[j * m + i] = A[i * n + j]!;
  return T;
}

/** Solve A x = b for symmetric positive definite A by Cholesky. */
export function solveSPD(A: Float64Array, n: number, b: ArrayLike<number>): Float64Array {
  const L = cholesky(A, n);
  if (!L) return fail('BAD_INPUT', 'matrix is not symmetric positive definite');
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = b[i]!;
    for (let k = 0; k < i; k++) s -= L[i * n + k]! * y[k]!;
    y[i] = s / L[i * n + i]!;
  }
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i]!;
    for (let k = i + 1; k < n; k++) s -= L[k * n + i]! * x[k]!;
    x[i] = s / L[i * n + i]!;
  }
  return x;
}

/** Largest absolute asymmetry |A_ij - A_ji| relative to the largest entry. */
export function asymmetry(A: Float64Array, n: number): number {
  let m = 0, big = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      big = Math.max(big, Math.abs(A[i * n + j]!));
      if (j > i) m = Math.max(m, Math.abs(A[i * n + j]! - A[j * n + i]!));
    }
  }
  return big === 0 ? 0 : m / big;
}

/**
 * Eigenvalues (descending) and, with `vectors`, eigenvectors (columns, row-major n x n) of a symmetric matrix by
 * Householder tridiagonalisation and the implicit QL algorithm (EISPACK tred2/tql2, as in JAMA): O(n^3) with a
 * small constant, for the large matrices (hundreds to a few thousand rows) where the Jacobi sweeps of
 * symmetricEigen are too slow. Without vectors the rotations are not accumulated (about 4x faster).
 */
export function householderEigen(A: Float64Array, n: number, options: { vectors?: boolean } = {}): { values: Float64Array; vectors: Float64Array | null } {
  const want = options.vectors ?? true;
  const V = A.slice(), d = new Float64Array(n), e = new Float64Array(n);
  if (n === 0) return { values: d, vectors: want ? V : null };
  // tred2: reduce V to tridiagonal form (diagonal d, off-diagonal e), V accumulating the transformations.
  for (let j = 0; j < n; j++) d[j] = V[(n - 1) * n + j]!;
  for (let i = n - 1; i > 0; i--) {
    let scale = 0, h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]!);
    if (scale === 0) {
      e[i] = d[i - 1]!;
      for (let j = 0; j < i; j++) {
        d[j] = V[(i - 1) * n + j]!;
        V[i * n + j] = 0;
        V[j * n + i] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] = d[k]! / scale;
        h += d[k]! * d[k]!;
      }
      let f = d[i - 1]!, g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = d[j]!;
        V[j * n + i] = f;
        g = e[j]! + V[j * n + j]! * f;
        for (let k = j + 1; k <= i - 1; k++) {
          g += V[k * n + j]! * d[k]!;
          e[k] = e[k]! + V[k * n + j]! * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] = e[j]! / h;
        f += e[j]! * d[j]!;
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] = e[j]! - hh * d[j]!;
      for (let j = 0; j < i; j++) {
        f = d[j]!;
        g = e[j]!;
        for (let k = j; k <= i - 1; k++) V[k * n + j] = V[k * n + j]! - (f * e[k]! + g * d[k]!);
        d[j] = V[(i - 1) * n + j]!;
        V[i * n + j] = 0;
      }
    }
    d[i] = h;
  }
  if (want) {
    for (let i = 0; i < n - 1; i++) {
      V[(n - 1) * n + i] = V[i * n + i]!;
      V[i * n + i] = 1;
      const h = d[i + 1]!;
      if (h !== 0) {
        for (let k = 0; k <= i; k++) d[k] = V[k * n + i + 1]! / h;
        for (let j = 0; j <= i; j++) {
          let g = 0;
          for (let k = 0; k <= i; k++) g += V[k * n + i + 1]! * V[k * n + j]!;
          for (let k = 0; k <= i; k++) V[k * n + j] = V[k * n + j]! - g * d[k]!;
        }
      }
      for (let k = 0; k <= i; k++) V[k * n + i + 1] = 0;
    }
  }
  // The tridiagonal's diagonal: saved into V's last row by the accumulation, else still on V's diagonal.
  for (let j = 0; j < n; j++) {
    d[j] = want ? V[(n - 1) * n + j]! : V[j * n + j]!;
    V[(n - 1) * n + j] = 0;
  }
  V[(n - 1) * n + n - 1] = 1;
  e[0] = 0;
  // The QL rotations mix columns of V: they run on its transpose W, whose rows are contiguous.
  const W = want ? transpose(V, n, n) : V;
  // tql2: diagonalise the tridiagonal matrix by implicit QL steps with Wilkinson-like shifts.
  for (let i = 1; i < n; i++) e[i - 1] = e[i]!;
  e[n - 1] = 0;
  let f = 0, tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]!) + Math.abs(e[l]!));
    let m = l;
    while (m < n - 1 && Math.abs(e[m]!) > eps * tst1) m++;
    if (m > l) {
      for (let iter = 0; iter < 100 * n; iter++) {
        let g = d[l]!, p = (d[l + 1]! - g) / (2 * e[l]!), r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l]! / (p + r);
        d[l + 1] = e[l]! * (p + r);
        const dl1 = d[l + 1]!;
        let h = g - d[l]!;
        for (let i = l + 2; i < n; i++) d[i] = d[i]! - h;
        f += h;
        p = d[m]!;
        let c = 1, c2 = 1, c3 = 1, s = 0, s2 = 0;
        const el1 = e[l + 1]!;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i]!;
          h = c * p;
          r = Math.hypot(p, e[i]!);
          e[i + 1] = s * r;
          s = e[i]! / r;
          c = p / r;
          p = c * d[i]! - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]!);
          if (want) {
            const r0 = i * n, r1 = (i + 1) * n;
            for (let k = 0; k < n; k++) {
              const vk1 = W[r1 + k]!, vk = W[r0 + k]!;
              W[r1 + k] = s * vk + c * vk1;
              W[r0 + k] = c * vk - s * vk1;
            }
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]!) / dl1;
        e[l] = s * p;
        d[l] = c * p;
        if (!(Math.abs(e[l]!) > eps * tst1)) break;
      }
    }
    d[l] = d[l]! + f;
    e[l] = 0;
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => d[j]! - d[i]!);
  const values = Float64Array.from(order, (i) => d[i]!);
  if (!want) return { values, vectors: null };
  const vectors = new Float64Array(n * n);
  for (let c = 0; c < n; c++) {
    const row = order[c]! * n;
    for (let r = 0; r < n; r++) vectors[r * n + c] = W[row + r]!;
  }
  return { values, vectors };
}
