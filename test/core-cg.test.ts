import { test } from 'node:test';
import assert from 'node:assert/strict';
import { batchedConjugateGradient, conjugateGradient } from '../src/core/cg.js';
import { batchedCGLS } from '../src/core/cgls.js';
import { TweedieError } from '../src/core/errors.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
  };
}

/** A = M^T M + 0.1 I with M random n x n (entries of scale 1/sqrt(n)); row-major. */
function randomSPD(n: number, seed: number): Float64Array {
  const r = rng(seed);
  const M = Float64Array.from({ length: n * n }, () => (2 * r()) / Math.sqrt(n));
  const A = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += M[k * n + i]! * M[k * n + j]!;
      A[i * n + j] = s + (i === j ? 0.1 : 0);
    }
  }
  return A;
}

function matvec(A: Float64Array, n: number) {
  return (x: Float64Array | Float32Array, out: Float64Array | Float32Array): void => {
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += A[i * n + j]! * x[j]!;
      out[i] = s;
    }
  };
}

/** Gaussian elimination with partial pivoting. */
function solveDirect(A: Float64Array, b: Float64Array, n: number): Float64Array {
  const a = A.slice(), x = b.slice();
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(a[r * n + c]!) > Math.abs(a[p * n + c]!)) p = r;
    if (p !== c) {
      for (let k = 0; k < n; k++) {
        const t = a[c * n + k]!; a[c * n + k] = a[p * n + k]!; a[p * n + k] = t;
      }
      const t = x[c]!; x[c] = x[p]!; x[p] = t;
    }
    for (let r = c + 1; r < n; r++) {
      const f = a[r * n + c]! / a[c * n + c]!;
      for (let k = c; k < n; k++) a[r * n + k] = a[r * n + k]! - f * a[c * n + k]!;
      x[r] = x[r]! - f * x[c]!;
    }
  }
  for (let r = n - 1; r >= 0; r--) {
    let s = x[r]!;
    for (let k = r + 1; k < n; k++) s -= a[r * n + k]! * x[k]!;
    x[r] = s / a[r * n + r]!;
  }
  return x;
}

function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

test('CG solves a random SPD system (A = M^T M + 0.1 I, n = 50) like a direct solve', () => {
  const n = 50;
  const A = randomSPD(n, 1);
  const r = rng(2);
  const b = Float64Array.from({ length: n }, r);
  const direct = solveDirect(A, b, n);
  let calls = 0;
  const res = conjugateGradient(matvec(A, n), b, undefined, {
    tol: 1e-12,
    onIter: (k, rel, x) => {
      calls++;
      assert.equal(k, calls);
      assert.ok(Number.isFinite(rel) && x.length === n);
    },
  });
  assert.ok(res.converged);
  assert.ok(res.iterations <= n, `iterations ${res.iterations}`);
  assert.equal(calls, res.iterations, 'onIter called once per iteration');
  assert.ok(relDiff(res.x, direct) < 1e-8, `error ${relDiff(res.x, direct)}`);
  // the reported residual agrees with the true one
  const ax = new Float64Array(n);
  matvec(A, n)(res.x, ax);
  let rr = 0;
  for (let i = 0; i < n; i++) rr += (b[i]! - ax[i]!) ** 2;
  assert.ok(Math.sqrt(rr) < 1e-10 && res.relativeResidual <= 1e-12);
  // the direct solve really solves the system (checks the oracle)
  matvec(A, n)(direct, ax);
  assert.ok(relDiff(ax, b) < 1e-12);
});

test('CG with k distinct eigenvalues converges in k iterations', () => {
  const n = 30;
  const values = [1, 4, 9];
  const d = Float64Array.from({ length: n }, (_, i) => values[i % 3]!);
  const b = Float64Array.from({ length: n }, rng(3));
  const res = conjugateGradient((x, out) => { for (let i = 0; i < n; i++) out[i] = d[i]! * x[i]!; }, b, undefined, { tol: 1e-10 });
  assert.ok(res.converged && res.iterations <= 3, `iterations ${res.iterations}`);
  for (let i = 0; i < n; i++) assert.ok(Math.abs(res.x[i]! - b[i]! / d[i]!) < 1e-9);
});

test('b = 0 gives x = 0 with 0 iterations; an exact x0 gives 0 iterations', () => {
  const n = 10;
  const A = randomSPD(n, 4);
  let calls = 0;
  const x0 = Float64Array.from({ length: n }, rng(5));
  const res = conjugateGradient(matvec(A, n), new Float64Array(n), x0, { onIter: () => calls++ });
  assert.equal(res.iterations, 0);
  assert.equal(res.converged, true);
  assert.equal(res.residualNorm, 0);
  assert.deepEqual([...res.x], new Array(n).fill(0));
  assert.equal(calls, 0);

  const b = new Float64Array(n);
  matvec(A, n)(x0, b);
  const exact = conjugateGradient(matvec(A, n), b, x0, { tol: 1e-8 });
  assert.equal(exact.iterations, 0);
  assert.ok(exact.converged);
  assert.notEqual(exact.x, x0, 'x0 is not modified or returned');
});

test('float32 vectors stay float32 and converge to float32 accuracy', () => {
  const n = 40;
  const A = randomSPD(n, 6);
  const b64 = Float64Array.from({ length: n }, rng(7));
  const b = Float32Array.from(b64);
  const res = conjugateGradient(matvec(A, n), b, undefined, { tol: 1e-5, maxIter: 200 });
  assert.ok(res.x instanceof Float32Array);
  assert.ok(res.converged);
  assert.ok(relDiff(res.x, solveDirect(A, Float64Array.from(b), n)) < 1e-4);
});

test('maxIter caps the iterations and reports converged = false', () => {
  const n = 50;
  const A = randomSPD(n, 8);
  const b = Float64Array.from({ length: n }, rng(9));
  const res = conjugateGradient(matvec(A, n), b, undefined, { tol: 1e-14, maxIter: 3 });
  assert.equal(res.iterations, 3);
  assert.equal(res.converged, false);
  assert.ok(res.relativeResidual > 1e-14 && res.relativeResidual < 1);
});

test('a non-SPD operator, NaN, or bad lengths throw TweedieError', () => {
  const n = 5;
  const b = Float64Array.from({ length: n }, rng(10));
  const code = (c: string) => (e: unknown) => e instanceof TweedieError && e.code === c;
  const negI = (x: Float64Array, out: Float64Array) => { for (let i = 0; i < n; i++) out[i] = -x[i]!; };
  assert.throws(() => conjugateGradient(negI, b), code('BAD_INPUT'));
  const nanOp = (_x: Float64Array, out: Float64Array) => { out.fill(NaN); };
  assert.throws(() => conjugateGradient(nanOp, b), code('BAD_INPUT'));
  const id = (x: Float64Array, out: Float64Array) => { out.set(x); };
  assert.throws(() => conjugateGradient(id, b, new Float64Array(3)), code('BAD_SHAPE'));
  assert.throws(() => conjugateGradient(id, b, undefined, { maxIter: -1 }), code('BAD_CONFIG'));
});

/** Applies a different matrix to each item of a batch laid end to end. */
function blockMatvec(blocks: Float64Array[], n: number) {
  return (x: Float64Array, out: Float64Array): void => {
    blocks.forEach((A, b) => {
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let j = 0; j < n; j++) s += A[i * n + j]! * x[b * n + j]!;
        out[b * n + i] = s;
      }
    });
  };
}

test('batched CG: each item takes its own steps and stops on its own, matching CG on the item alone bit for bit', () => {
  const n = 20;
  // Item 1 has 2 distinct eigenvalues (converges in 2 steps), the others are generic.
  const diag = new Float64Array(n * n);
  for (let i = 0; i < n; i++) diag[i * n + i] = i % 2 === 0 ? 1 : 5;
  const blocks = [randomSPD(n, 11), diag, randomSPD(n, 12)];
  const b = Float64Array.from({ length: 3 * n }, rng(13));
  const x0 = Float64Array.from({ length: 3 * n }, rng(14));
  const res = batchedConjugateGradient(blockMatvec(blocks, n), b, 3, x0, { tol: 1e-9 });
  assert.ok(res.iterations[1]! <= 2 && res.iterations[0]! > 5 && res.iterations[2]! > 5, `iterations ${[...res.iterations]}`);
  blocks.forEach((A, k) => {
    const one = conjugateGradient(matvec(A, n), b.slice(k * n, (k + 1) * n), x0.slice(k * n, (k + 1) * n), { tol: 1e-9 });
    assert.deepEqual([...res.x.subarray(k * n, (k + 1) * n)], [...one.x], `item ${k}`);
    assert.equal(res.iterations[k], one.iterations);
    assert.equal(res.residualNorm[k], one.residualNorm);
    assert.ok(res.relativeResidual[k]! <= 1e-9);
  });
});

test('batched CG: a singular item stops where its curvature vanishes (onBreakdown told), the others go on', () => {
  const n = 6;
  const blocks = [new Float64Array(n * n), randomSPD(n, 15)]; // item 0: A = 0
  const b = Float64Array.from({ length: 2 * n }, rng(16));
  const broken: number[] = [];
  const res = batchedConjugateGradient(blockMatvec(blocks, n), b, 2, undefined, { tol: 1e-10, maxIter: 50, onBreakdown: (item) => broken.push(item) });
  assert.deepEqual(broken, [0]);
  assert.equal(res.iterations[0], 0);
  assert.deepEqual([...res.x.subarray(0, n)], new Array(n).fill(0));
  assert.ok(res.relativeResidual[1]! <= 1e-10);
  assert.throws(() => batchedConjugateGradient(blockMatvec(blocks, n), b, 5), (e: unknown) => e instanceof TweedieError && e.code === 'BAD_SHAPE');
});

test('batched CGLS: least squares, Tikhonov and the minimum-norm solution per item', () => {
  const m = 7, n = 4;
  const r = rng(17);
  const A = Float64Array.from({ length: m * n }, r);
  const forward = (x: Float64Array): Float64Array => {
    const batch = x.length / n, y = new Float64Array(batch * m);
    for (let b = 0; b < batch; b++) for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) y[b * m + i] = y[b * m + i]! + A[i * n + j]! * x[b * n + j]!;
    return y;
  };
  const adjoint = (y: Float64Array): Float64Array => {
    const batch = y.length / m, x = new Float64Array(batch * n);
    for (let b = 0; b < batch; b++) for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) x[b * n + j] = x[b * n + j]! + A[i * n + j]! * y[b * m + i]!;
    return x;
  };
  // Normal equations (A^T A + lambda I) x = A^T y solved directly, per item.
  const normal = (y: Float64Array, lambda: number): Float64Array => {
    const G = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) { let s = 0; for (let k = 0; k < m; k++) s += A[k * n + i]! * A[k * n + j]!; G[i * n + j] = s + (i === j ? lambda : 0); }
    return solveDirect(G, adjoint(y), n);
  };
  const y = Float64Array.from({ length: 2 * m }, rng(18));
  for (const lambda of [0, 0.5]) {
    const res = batchedCGLS(forward, adjoint, y, 2, { lambda, tol: 1e-12, maxIter: 50 });
    for (let b = 0; b < 2; b++) {
      const ref = normal(y.slice(b * m, (b + 1) * m), lambda);
      assert.ok(relDiff(res.x.subarray(b * n, (b + 1) * n), ref) < 1e-9, `lambda ${lambda} item ${b}`);
      assert.ok(res.iterations[b]! <= n + 1 && res.relativeResidual[b]! <= 1e-12);
    }
  }
  // Underdetermined (A^T as the operator): x = A (A^T A)^{-1} y' is the minimum-norm solution, in range(A).
  const yw = Float64Array.from({ length: n }, rng(19));
  const wide = batchedCGLS(adjoint, forward, yw, 1, { tol: 1e-12, maxIter: 50 });
  const G = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) { let s = 0; for (let k = 0; k < m; k++) s += A[k * n + i]! * A[k * n + j]!; G[i * n + j] = s; }
  assert.ok(relDiff(wide.x, forward(solveDirect(G, yw, n))) < 1e-9);
  // The misfit stop (discrepancy principle): each item stops at the first iterate with ||y - A x|| <= misfit.
  const y2 = Float64Array.from({ length: 2 * m }, rng(20)), misfit = 0.8 * Math.sqrt(dotAll(y2, y2) / 2);
  const misfitOf = (x: Float64Array, b: number): number => {
    const ax = forward(x.subarray(b * n, (b + 1) * n).slice());
    let s = 0;
    for (let i = 0; i < m; i++) s += (y2[b * m + i]! - ax[i]!) ** 2;
    return Math.sqrt(s);
  };
  const stopped = batchedCGLS(forward, adjoint, y2, 2, { tol: 1e-12, maxIter: 50, misfit });
  for (let b = 0; b < 2; b++) {
    const k = stopped.iterations[b]!;
    assert.ok(k >= 1 && k < n, `item ${b}: stopped after ${k} iterations`);
    assert.ok(misfitOf(stopped.x, b) <= misfit * (1 + 1e-12), `item ${b}: misfit ${misfitOf(stopped.x, b)} over ${misfit}`);
    const before = batchedCGLS(forward, adjoint, y2, 2, { tol: 1e-12, maxIter: k - 1 });
    assert.ok(misfitOf(before.x, b) > misfit, `item ${b}: the iterate before the stop already fit (${misfitOf(before.x, b)})`);
  }
});

function dotAll(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}
