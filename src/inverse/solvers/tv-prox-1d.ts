/**
 * The proximal operator of 1-D total variation, prox_{lambda TV}(v) = argmin_u 1/2 ||u - v||^2 +
 * lambda sum_k |u_{k+1} - u_k|: exact on one signal (Condat's direct algorithm), on every column
 * of a stack along its slowest axis, and by FISTA on the dual as an independent reference.
 */

/**
 * Exact 1-D TV denoising (L. Condat, "A direct algorithm for 1D total variation denoising",
 * IEEE SPL 2013): out = argmin_u 1/2 ||u - v||^2 + lambda sum_k |u_{k+1} - u_k|, in O(n) typical
 * time, by following the taut string. `v` and `out` have length n (they may not alias).
 */
export function tv1dDenoise(v: ArrayLike<number>, out: Float64Array, n: number, lambda: number): void {
  if (n <= 0) return;
  if (lambda <= 0) {
    for (let i = 0; i < n; i++) out[i] = v[i]!;
    return;
  }
  let k = 0, k0 = 0, kplus = 0, kminus = 0;
  let umin = lambda, umax = -lambda;
  let vmin = v[0]! - lambda, vmax = v[0]! + lambda;
  const twoLambda = 2 * lambda, minLambda = -lambda;
  for (;;) {
    while (k === n - 1) {
      if (umin < 0) {
        do out[k0++] = vmin; while (k0 <= kminus);
        k = kminus = k0;
        vmin = v[k]!;
        umin = lambda;
        umax = vmin + umin - vmax;
      } else if (umax > 0) {
        do out[k0++] = vmax; while (k0 <= kplus);
        k = kplus = k0;
        vmax = v[k]!;
        umax = minLambda;
        umin = vmax + umax - vmin;
      } else {
        vmin += umin / (k - k0 + 1);
        do out[k0++] = vmin; while (k0 <= k);
        return;
      }
    }
    umin += v[k + 1]! - vmin;
    if (umin < minLambda) {
      do out[k0++] = vmin; while (k0 <= kminus);
      k = kplus = kminus = k0;
      vmin = v[k]!;
      vmax = vmin + twoLambda;
      umin = lambda;
      umax = minLambda;
      continue;
    }
    umax += v[k + 1]! - vmax;
    if (umax > lambda) {
      do out[k0++] = vmax; while (k0 <= kplus);
      k = kplus = kminus = k0;
      vmax = v[k]!;
      vmin = vmax - twoLambda;
      umin = lambda;
      umax = minLambda;
      continue;
    }
    k++;
    if (umin >= lambda) {
      kminus = k;
      vmin += (umin - lambda) / (kminus - k0 + 1);
      umin = lambda;
    }
    if (umax <= minLambda) {
      kplus = k;
      vmax += (umax + lambda) / (kplus - k0 + 1);
      umax = minLambda;
    }
  }
}

/**
 * prox of lambda * TV along z, in place, for a stack [nz][plane]: every in-plane position's
 * column u in R^nz becomes argmin_u 1/2 ||u - v||^2 + lambda sum_k |u_{k+1} - u_k| (exact, by
 * Condat's direct algorithm).
 */
export function tvProxZ(stack: Float32Array, nz: number, plane: number, lambda: number): void {
  if (nz < 2 || lambda <= 0) return;
  const v = new Float64Array(nz), u = new Float64Array(nz);
  for (let i = 0; i < plane; i++) {
    for (let k = 0; k < nz; k++) v[k] = stack[k * plane + i]!;
    tv1dDenoise(v, u, nz, lambda);
    for (let k = 0; k < nz; k++) stack[k * plane + i] = u[k]!;
  }
}

/** The same prox by accelerated projected gradient on the dual (FISTA, step 1/4): a reference for tests. */
export function tv1dDual(v: ArrayLike<number>, n: number, lambda: number, iters: number): Float64Array {
  const u = new Float64Array(n), p = new Float64Array(Math.max(0, n - 1)), q = new Float64Array(p.length), prev = new Float64Array(p.length);
  const primal = (d: Float64Array) => {
    for (let k = 0; k < n; k++) u[k] = v[k]! - ((k > 0 ? d[k - 1]! : 0) - (k < n - 1 ? d[k]! : 0));
  };
  let t = 1;
  for (let it = 0; it < iters; it++) {
    primal(q);
    prev.set(p);
    for (let k = 0; k < n - 1; k++) p[k] = Math.min(lambda, Math.max(-lambda, q[k]! + 0.25 * (u[k + 1]! - u[k]!)));
    const tn = (1 + Math.sqrt(1 + 4 * t * t)) / 2, w = (t - 1) / tn;
    for (let k = 0; k < n - 1; k++) q[k] = p[k]! + w * (p[k]! - prev[k]!);
    t = tn;
  }
  primal(p);
  return u;
}
