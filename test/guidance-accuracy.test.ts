import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TweedieError } from '../src/core/errors.js';
import { NoiseSource } from '../src/core/rng.js';
import { classAccuracy, spreadClasses } from '../src/metrics/sample-quality.js';
import { GaussianMixture, type MixtureJson } from '../src/models/gmm.js';
import { pathByName } from '../src/paths/registry.js';
import { generate } from '../src/recipes/generate.js';

test('classAccuracy: the share of rows whose largest logit (the first on ties) is the requested class', () => {
  const logits = Float64Array.of(0.1, 2, -1, /* tie: class 0 */ 3, 3, 0, -5, -4, -4.5, 0, 0, 1);
  // Rows' argmax 1, 0, 1, 2 against requests 1, 1, 2, 2: rows 0 and 3 hit.
  assert.equal(classAccuracy(logits, 3, [1, 1, 2, 2]), 0.5);
  assert.equal(classAccuracy(logits, 3, [1, 0, 1, 2]), 1);
  assert.throws(() => classAccuracy(logits, 3, [1, 1, 2]), (e) => e instanceof TweedieError && e.code === 'BAD_SHAPE' && /3 requested classes for 4 rows/.test(e.message));
});

test('spreadClasses: sample i asks for class i mod C, so class counts differ by at most one', () => {
  assert.deepEqual([...spreadClasses(7, 3)], [0, 1, 2, 0, 1, 2, 0]);
  const counts = new Array(10).fill(0);
  for (const c of spreadClasses(1000, 10)) counts[c]++;
  assert.deepEqual(counts, new Array(10).fill(100));
});

// Three overlapping classes in 2-D: class 0 has two components, classes 1 and 2 one each.
const MIX: MixtureJson = {
  weights: [0.3, 0.2, 0.25, 0.25],
  classes: [0, 0, 1, 2],
  means: [[0.6, -0.3], [-0.5, 0.4], [0.1, 0.6], [-0.2, -0.6]],
  covs: [[[0.2, 0.05], [0.05, 0.1]], [[0.1, -0.03], [-0.03, 0.15]], [[0.08, 0], [0, 0.3]], [[0.25, 0.1], [0.1, 0.12]]],
};

/** log w_k N(x; m_k, S_k) with the 2 x 2 inverse written out (independent of gmm.ts). */
function logComponent(k: number, x0: number, x1: number): number {
  const [[p, q], [, r]] = MIX.covs[k]! as [[number, number], [number, number]];
  const d0 = x0 - MIX.means[k]![0]!, d1 = x1 - MIX.means[k]![1]!, det = p * r - q * q;
  return Math.log(MIX.weights[k]!) - Math.log(2 * Math.PI) - 0.5 * Math.log(det) - (0.5 * (r * d0 * d0 - 2 * q * d0 * d1 + p * d1 * d1)) / det;
}

/** The exact Bayes classifier's scores log p(c, x) of points [n, 2]: the log-sum of class c's components. */
function bayesLogits(x: ArrayLike<number>): Float64Array {
  const n = x.length / 2, out = new Float64Array(n * 3);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) {
      const terms = MIX.classes!.flatMap((k, j) => (k === c ? [logComponent(j, x[2 * i]!, x[2 * i + 1]!)] : []));
      const top = Math.max(...terms);
      out[i * 3 + c] = top + Math.log(terms.reduce((s, v) => s + Math.exp(v - top), 0));
    }
  }
  return out;
}

/** n exact draws of x0 | c for the requested classes (component by weight, then m + chol(S) z). */
function exactDraws(requested: Int32Array, seed: number): Float64Array {
  const rng = new NoiseSource(seed), n = requested.length, z = rng.normal([n, 2], 0, undefined, 'float64').data, out = new Float64Array(2 * n);
  for (let i = 0; i < n; i++) {
    const ks = MIX.classes!.flatMap((k, j) => (k === requested[i] ? [j] : []));
    const total = ks.reduce((s, k) => s + MIX.weights[k]!, 0);
    let pick = rng.uniform(1, i, 0)[0]! * total, k = ks[0]!;
    for (const j of ks) { k = j; pick -= MIX.weights[j]!; if (pick <= 0) break; }
    const [[p, q], [, r]] = MIX.covs[k]! as [[number, number], [number, number]];
    const l00 = Math.sqrt(p), l10 = q / l00, l11 = Math.sqrt(r - l10 * l10);
    out[2 * i] = MIX.means[k]![0]! + l00 * z[2 * i]!;
    out[2 * i + 1] = MIX.means[k]![1]! + l10 * z[2 * i]! + l11 * z[2 * i + 1]!;
  }
  return out;
}

test('guided samples of the exact class mixture: Bayes accuracy 1/3 unconditional, the exact conditional one at w = 1, rising with w', async () => {
  const n = 600, requested = spreadClasses(n, 3), path = pathByName('vp-linear');
  const model = new GaussianMixture(MIX).asDenoiser(path);
  const accuracy = async (scale: number) => {
    const r = await generate({ model, sampler: 'dpm-solver++', steps: 20, n, seed: 3, condition: { class: [...requested] }, guidance: { scale } });
    return classAccuracy(bayesLogits(r.x.data), 3, requested);
  };
  const [a0, a1, a2, a4] = [await accuracy(0), await accuracy(1), await accuracy(2), await accuracy(4)];
  // w = 0 draws from p(x) whatever the request: each class is hit with the chance of its Bayes region, 1/3 on average.
  assert.ok(Math.abs(a0 - 1 / 3) < 0.07, `w = 0: ${a0} vs 1/3`);
  // w = 1 draws from p(x | c): the Bayes classifier's exact accuracy, estimated on 30,000 exact draws.
  const big = spreadClasses(30000, 3), exact = classAccuracy(bayesLogits(exactDraws(big, 11)), 3, big);
  assert.ok(exact > 0.5 && exact < 0.9, `the classes overlap: exact accuracy ${exact}`);
  assert.ok(Math.abs(a1 - exact) < 0.06, `w = 1: ${a1} vs exact ${exact}`);
  assert.ok(a2 > a1 + 0.03 && a4 > a2 + 0.01, `accuracy rises with the scale: ${a1}, ${a2}, ${a4}`);
});
