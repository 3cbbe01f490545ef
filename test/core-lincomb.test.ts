import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lincomb } from '../src/core/ops.js';
import { Tensor } from '../src/core/tensor.js';

// The oracle: the naive per-element loop, a float64 sum from 0 in term order, stored once.
function naive(coeffs: number[], terms: Tensor[], dtype: 'float32' | 'float64'): Float64Array | Float32Array {
  const n = terms[0]?.size ?? 5000;
  const out = dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let acc = 0;
    for (let k = 0; k < terms.length; k++) acc += coeffs[k]! * terms[k]!.data[i]!;
    out[i] = acc;
  }
  return out;
}

/** Values of mixed magnitudes and signs, so that rounding depends on the order of the sum. */
function term(n: number, k: number, dtype: 'float32' | 'float64'): Tensor {
  const v = Array.from({ length: n }, (_, i) => Math.sin(1.7 * i + 3.1 * k) * 10 ** ((i * 7 + k) % 9 - 4));
  return Tensor.from([n], v, dtype);
}

test('lincomb equals the naive per-element loop bit for bit, 0 to 9 terms, both dtypes, across block edges', () => {
  for (const dtype of ['float32', 'float64'] as const) {
    for (const n of [1, 1023, 1024, 1025, 5000]) {
      for (let K = 0; K <= 9; K++) {
        const terms = Array.from({ length: K }, (_, k) => term(n, k, dtype));
        const coeffs = Array.from({ length: K }, (_, k) => (k % 2 ? -1 : 1) * (0.3 + 1.9 * k) * 10 ** (k % 3));
        const out = Tensor.zeros([n], dtype);
        out.data.fill(Number.NaN); // whatever out held must not leak into the result
        lincomb(out, coeffs, terms);
        const want = naive(coeffs, terms, dtype).subarray(0, n);
        assert.deepEqual(Array.from(out.data), Array.from(want), `${dtype}, n = ${n}, ${K} terms`);
      }
    }
  }
});

test('lincomb may write into one of its terms', () => {
  for (let K = 1; K <= 7; K++) {
    for (let alias = 0; alias < K; alias++) {
      const terms = Array.from({ length: K }, (_, k) => term(3000, k, 'float32'));
      const coeffs = Array.from({ length: K }, (_, k) => 0.5 + k);
      const want = naive(coeffs, terms, 'float32');
      lincomb(terms[alias]!, coeffs, terms);
      assert.deepEqual(Array.from(terms[alias]!.data), Array.from(want), `${K} terms, out = term ${alias}`);
    }
  }
});
