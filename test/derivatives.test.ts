import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NoiseSource } from '../src/core/rng.js';
import { Tensor } from '../src/core/tensor.js';
import { Stream } from '../src/core/rng.js';
import { withGradientRoute, x0JacobianAsymmetry, x0Jvp, x0JvpByDifferences } from '../src/models/derivatives.js';
import type { Denoiser } from '../src/models/denoiser.js';
import { GaussianMixture } from '../src/models/gmm.js';
import { loadMixture } from '../src/models/gmm-file.js';
import { OnnxDenoiser } from '../src/models/onnx.js';
import { pathByName } from '../src/paths/registry.js';

// The finite-difference JVP against exact derivatives: the x0 estimate of an exact (MMSE) denoiser has the
// Jacobian a(t)/s(t)^2 Cov[x0 | x_t], which is symmetric, so its J v equals the mixture's exact v^T J.

function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0, n = 0;
  for (let i = 0; i < a.length; i++) {
    d += (a[i]! - b[i]!) ** 2;
    n += b[i]! ** 2;
  }
  return Math.sqrt(d / n);
}

test('a mixture in float64: the central-difference JVP equals the exact Jacobian product to 1e-7 at every noise level', async () => {
  const prior = new GaussianMixture({ weights: [0.3, 0.7], means: [[-1, 0.5, 2], [1.5, -1, 0]], covs: [[[0.4, 0.1, 0], [0.1, 0.3, 0], [0, 0, 0.2]], [[0.2, 0, 0.05], [0, 0.5, 0], [0.05, 0, 0.3]]] });
  const path = pathByName('vp-linear'), d = prior.asDenoiser(path, 'eps');
  for (const t of [0.02, 0.2, 0.5, 0.9]) {
    const x = new NoiseSource(1).normal([4, 3], 0, 0, 'float64'), v = new NoiseSource(2).normal([4, 3], 0, 0, 'float64');
    const { jvp, nfe } = await x0JvpByDifferences(d, x, t, v);
    const exact = await d.x0Vjp!(x, t, v);
    assert.ok(relError(jvp.data, exact.data) < 1e-7, `t = ${t}: ${relError(jvp.data, exact.data)}`);
    assert.equal(nfe, 2);
  }
});

// float32 level: x0 = (x - s eps) / a multiplies the rounding of the network's eps by s/a, while J = a/s^2 Cov
// shrinks with the noise; so the relative error grows with t: about 1e-5, 1e-4 and 4e-2 at t = 100, 500, 900.
test('the gaussian-exact ONNX model in float32: the JVP matches the exact Gaussian Jacobian at the float32 level', async (t) => {
  const onnx = await OnnxDenoiser.load('weights/gaussian-exact', { threads: 1 });
  const exact = loadMixture('weights/gaussian-exact/prior.json').asDenoiser(onnx.path, 'eps');
  for (const [time, bound] of [[100, 1e-4], [500, 1e-3], [900, 0.1]] as const) {
    const x = new NoiseSource(3).normal([2, 1, 8, 8], 0), v = new NoiseSource(4).normal([2, 1, 8, 8], 0);
    const { jvp } = await x0JvpByDifferences(onnx, x, time, v);
    const ref = await exact.x0Vjp!(x.toDtype('float64'), time, v.toDtype('float64'));
    const err = relError(jvp.data, ref.data);
    t.diagnostic(`t = ${time}: relative error ${err.toExponential(2)}`);
    assert.ok(err < bound, `t = ${time}: ${err} (bound ${bound})`);
  }
});

test('a step too small for float32 is refused with the smallest sensible value', async () => {
  const d = new GaussianMixture({ weights: [1], means: [[0, 0]], covs: [[[1, 0], [0, 1]]] }).asDenoiser(pathByName('vp-linear'), 'eps');
  await assert.rejects(x0JvpByDifferences(d, new Tensor([1, 2], Float32Array.from([1, 1])), 0.5, new Tensor([1, 2], Float32Array.from([1, 0])), { step: 1e-9 }), /step 1e-9 is too small for float32 data here; use \d.*or more/);
  await assert.rejects(x0JvpByDifferences(d, Tensor.zeros([1, 2]), 0.5, Tensor.zeros([1, 3])), /must have the state's shape/);
});

test('with a restoration anchor: the JVP in x equals the exact one (the anchor term does not depend on x)', async () => {
  const { MeanRevertingPath } = await import('../src/paths/restoration.js');
  const prior = new GaussianMixture({ weights: [0.5, 0.5], means: [[-1, 1], [1, 0]], covs: [[[0.3, 0], [0, 0.2]], [[0.2, 0.05], [0.05, 0.4]]] });
  const d = prior.asDenoiser(new MeanRevertingPath({ T: 100 }), 'x0');
  const x = new NoiseSource(5).normal([3, 2], 0, 0, 'float64'), v = new NoiseSource(6).normal([3, 2], 0, 0, 'float64');
  const anchor = new NoiseSource(7).normal([3, 2], 0, 0, 'float64');
  const { jvp } = await x0JvpByDifferences(d, x, 40, v, { cond: { anchor } });
  const exact = await d.x0Vjp!(x, 40, v, { anchor });
  assert.ok(relError(jvp.data, exact.data) < 1e-7, String(relError(jvp.data, exact.data)));
});

test('Jacobian asymmetry and rotational norm: at the difference floor for the exact mixture, and the exact values for a non-symmetric linear denoiser', async () => {
  const prior = new GaussianMixture({ weights: [0.4, 0.6], means: [[-1, 0.5], [1.5, -1]], covs: [[[0.4, 0.1], [0.1, 0.3]], [[0.2, 0], [0, 0.5]]] });
  const path = pathByName('vp-linear');
  const x = new NoiseSource(8).normal([3, 2], 0, 0, 'float64');
  const mixture = await x0JacobianAsymmetry(prior.asDenoiser(path, 'eps'), x, 0.3, { probes: 16 });
  assert.ok(mixture.asymmetry < 1e-6 && mixture.rotational < 1e-6, `an exact MMSE denoiser is conservative: ${mixture.asymmetry}, ${mixture.rotational}`);
  assert.equal(mixture.nfe, 64);
  // x0 = M x with M not symmetric: u^T J v - v^T J u = u^T (M - M^T) v, computed here directly from the same probes.
  const M = [1, 0.5, -0.3, 2];
  const linear: Denoiser = {
    prediction: 'x0', path, itemShape: [2],
    async predict(xt: Tensor) {
      const out = xt.zerosLike();
      for (let b = 0; b < xt.batch; b++) {
        const [p, q] = [xt.data[2 * b]!, xt.data[2 * b + 1]!];
        out.data[2 * b] = M[0]! * p + M[1]! * q;
        out.data[2 * b + 1] = M[2]! * p + M[3]! * q;
      }
      return out;
    },
  };
  const r = await x0JacobianAsymmetry(linear, x, 0.3, { probes: 16, seed: 4 });
  const noise = new NoiseSource(4), u = noise.normal([48, 2], 0, Stream.aux, 'float64').data, v = noise.normal([48, 2], 1, Stream.aux, 'float64').data;
  let diff = 0, size = 0, rot2 = 0, size2 = 0;
  for (let k = 0; k < 48; k++) {
    const [u0, u1, v0, v1] = [u[2 * k]!, u[2 * k + 1]!, v[2 * k]!, v[2 * k + 1]!];
    const uMv = u0 * (M[0]! * v0 + M[1]! * v1) + u1 * (M[2]! * v0 + M[3]! * v1);
    const vMu = v0 * (M[0]! * u0 + M[1]! * u1) + v1 * (M[2]! * u0 + M[3]! * u1);
    diff += Math.abs(uMv - vMu);
    size += Math.abs(uMv);
    // u^T A v with A = (M - M^T)/2 = [[0, c], [-c, 0]], c = (M01 - M10)/2.
    rot2 += (((M[1]! - M[2]!) / 2) * (u0 * v1 - u1 * v0)) ** 2;
    size2 += uMv * uMv;
  }
  assert.ok(Math.abs(r.asymmetry - diff / size) < 1e-8, `${r.asymmetry} vs exact ${diff / size}`);
  assert.ok(r.asymmetry > 0.1);
  assert.ok(Math.abs(r.rotational - Math.sqrt(rot2 / size2)) < 1e-8, `${r.rotational} vs ${Math.sqrt(rot2 / size2)}`);
  // And the Frobenius ratio ||(M - M^T)/2||_F / ||M||_F itself, within four standard errors (more pairs).
  const many = await x0JacobianAsymmetry(linear, x, 0.3, { probes: 400, seed: 5 });
  const frob = (Math.SQRT2 * Math.abs(M[1]! - M[2]!)) / 2 / Math.hypot(...M);
  assert.ok(many.rotationalStderr > 0 && many.rotationalStderr < 0.02, String(many.rotationalStderr));
  assert.ok(Math.abs(many.rotational - frob) < 4 * many.rotationalStderr, `${many.rotational} ± ${many.rotationalStderr} vs ${frob}`);
  assert.ok(Math.abs(many.asymmetry - r.asymmetry) < 4 * Math.hypot(many.asymmetryStderr, r.asymmetryStderr));
});

test('gradient routes: auto keeps an exact gradient, differences stands the JVP in for the VJP, a missing route is refused naming the ones that work', async () => {
  const prior = new GaussianMixture({ weights: [0.5, 0.5], means: [[-1, 0.5], [1, -1]], covs: [[[0.4, 0.1], [0.1, 0.3]], [[0.2, 0], [0, 0.5]]] });
  const d = prior.asDenoiser(pathByName('vp-linear'), 'eps');
  assert.equal(withGradientRoute(d, 'auto'), d);
  assert.equal(withGradientRoute(d, 'exact'), d);
  const x = new NoiseSource(3).normal([2, 2], 0, 0, 'float64'), v = new NoiseSource(4).normal([2, 2], 0, 0, 'float64');
  const fd = withGradientRoute(d, 'differences');
  assert.equal(fd.gradient, 'differences');
  const exact = await d.x0Vjp!(x, 0.3, v);
  assert.ok(relError((await fd.x0Vjp!(x, 0.3, v)).data, exact.data) < 1e-7);
  // x0Jvp takes the exact product where there is one (no model call), differences otherwise.
  assert.deepEqual(await x0Jvp(d, x, 0.3, v), { jvp: exact, nfe: 0 });
  assert.equal((await x0Jvp(fd, x, 0.3, v)).nfe, 2);
  assert.throws(() => withGradientRoute(d, 'exported', 'the mixture'), /the mixture has no exported gradient.*'exact' or 'differences'/);
  const forwardOnly: Denoiser = { prediction: 'eps', path: d.path, itemShape: [2], predict: (xx, t) => d.predict(xx, t) };
  assert.equal(withGradientRoute(forwardOnly, 'auto').gradient, 'differences');
  assert.throws(() => withGradientRoute(forwardOnly, 'exact', 'net'), /net has no exact gradient.*route 'differences'/);
});
