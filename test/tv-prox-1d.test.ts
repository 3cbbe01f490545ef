import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tv1dDenoise, tv1dDual, tvProxZ } from '../src/inverse/solvers/tv-prox-1d.js';

test('z-TV prox: closed form for two slices, constant columns for a large weight, Condat = dual FISTA', () => {
  const s = Float32Array.from([0, 1, 1, 0]); // two slices of a 2-pixel plane
  tvProxZ(s, 2, 2, 0.1);
  assert.ok(Math.abs(s[0]! - 0.1) < 1e-6 && Math.abs(s[2]! - 0.9) < 1e-6, `${s}`);
  assert.ok(Math.abs(s[1]! - 0.9) < 1e-6 && Math.abs(s[3]! - 0.1) < 1e-6, `${s}`);
  const col = Float32Array.from([1, 5, 2, 8, 4]);
  tvProxZ(col, 5, 1, 100);
  for (const v of col) assert.ok(Math.abs(v - 4) < 1e-6, `${col}`);
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  for (let trial = 0; trial < 50; trial++) {
    const n = 1 + Math.floor(rand() * 30), lambda = rand() * 0.5;
    const v = Float64Array.from({ length: n }, () => 2 * rand() - 1 + (rand() < 0.3 ? 1 : 0));
    const exact = new Float64Array(n);
    tv1dDenoise(v, exact, n, lambda);
    const ref = tv1dDual(v, n, lambda, 20000);
    for (let i = 0; i < n; i++) assert.ok(Math.abs(exact[i]! - ref[i]!) < 1e-7, `n=${n} lambda=${lambda}: ${exact} vs ${ref}`);
  }
});
