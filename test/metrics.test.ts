import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../src/core/tensor.js';
import { TweedieError } from '../src/core/errors.js';
import { NoiseSource, Stream } from '../src/core/rng.js';
import { psnr, ssim } from '../src/metrics/image.js';
import {
  covarianceError, meanError, medianBandwidth, mmd2, sampleCovariance, sampleMean, slicedWasserstein, wasserstein2Sorted1d,
} from '../src/metrics/distribution.js';

const close = (a: number, b: number, tol: number, what = ''): void =>
  assert.ok(Math.abs(a - b) <= tol, `${what} ${a} vs ${b} (tol ${tol})`);

const isCode = (code: string) => (e: unknown): boolean => e instanceof TweedieError && e.code === code;

/** The deterministic test image of the skimage reference values below (H = 24, W = 20). */
function patterns(): { x: Float64Array; y: Float64Array; x3: Float64Array; y3: Float64Array } {
  const H = 24, W = 20, P = H * W;
  const x = new Float64Array(P), y = new Float64Array(P), x3 = new Float64Array(3 * P), y3 = new Float64Array(3 * P);
  for (let i = 0; i < H; i++) {
    for (let j = 0; j < W; j++) {
      const k = i * W + j;
      const xv = 0.5 + 0.3 * Math.sin(0.7 * i) * Math.cos(0.45 * j) + 0.02 * ((7 * i + 13 * j) % 5);
      const yv = xv + 0.05 * Math.sin(1.3 * i + 0.2 * j * j);
      x[k] = xv; y[k] = yv;
      x3[k] = xv; x3[P + k] = 1 - xv; x3[2 * P + k] = xv * xv;
      y3[k] = yv; y3[P + k] = 1 - 0.9 * yv; y3[2 * P + k] = xv * xv + 0.1 * Math.cos(i * j * 0.1);
    }
  }
  return { x, y, x3, y3 };
}

function noiseImage(shape: number[], seed: number, step = 0): Tensor {
  return new NoiseSource(seed).normal(shape, step, Stream.aux, 'float64');
}

test('psnr matches a hand-computed value and is per image', () => {
  const ref = Tensor.from([2, 2], [0, 0, 0, 1], 'float64');
  const x = Tensor.from([2, 2], [0, 0, 0, 0], 'float64');
  // MSE = 1/4, R = 1: 10 log10(1 / 0.25) = 20 log10(2).
  close(psnr(x, ref, 1)[0]!, 20 * Math.log10(2), 1e-12, 'psnr');
  close(psnr(x, ref, 'auto')[0]!, 20 * Math.log10(2), 1e-12, 'psnr auto');
  // R = 255 on the same error: 10 log10(255^2 * 4).
  close(psnr(x, ref, 255)[0]!, 10 * Math.log10(255 * 255 * 4), 1e-12, 'psnr 255');
  const batch = Tensor.from([2, 1, 2, 2], [0, 0, 0, 1, 5, 5, 5, 5], 'float64');
  const out = psnr(Tensor.from([2, 1, 2, 2], [0, 0, 0, 0, 5, 5, 5, 5]), batch, 1);
  assert.equal(out.length, 2);
  close(out[0]!, 20 * Math.log10(2), 1e-12);
  assert.equal(out[1], Infinity);
  assert.throws(() => psnr(x, Tensor.from([2, 2], [3, 3, 3, 3]), 'auto'), isCode('BAD_INPUT'));
  assert.throws(() => psnr(x, Tensor.from([4], [0, 0, 0, 0]), 1), isCode('BAD_SHAPE'));
});

test('psnr agrees with skimage.metrics.peak_signal_noise_ratio', () => {
  const { x, y } = patterns();
  close(psnr(new Tensor([24, 20], y), new Tensor([24, 20], x), 1)[0]!, 29.021088656358902, 1e-9);
});

test('ssim agrees with skimage.metrics.structural_similarity (scikit-image 0.26)', () => {
  const { x, y, x3, y3 } = patterns();
  const X = new Tensor([24, 20], x), Y = new Tensor([24, 20], y);
  // gaussian_weights=True, sigma=1.5, use_sample_covariance=True, data_range=1.0
  close(ssim(Y, X, { dataRange: 1 })[0]!, 0.9680417600659196, 1e-10, 'gaussian');
  // defaults of skimage: uniform 7x7 window
  close(ssim(Y, X, { dataRange: 1, gaussian: false })[0]!, 0.9729156291818379, 1e-10, 'uniform');
  // use_sample_covariance=False, data_range=2.0
  close(ssim(Y, X, { dataRange: 2, sampleCovariance: false })[0]!, 0.9701793315937453, 1e-10, 'population covariance');
  // channel_axis=0, three channels
  close(ssim(new Tensor([3, 24, 20], y3), new Tensor([3, 24, 20], x3), { dataRange: 1 })[0]!, 0.9436003526372589, 1e-10, 'multichannel');
  // float32 images give the same value to float32 precision
  close(ssim(Y.toDtype('float32'), X.toDtype('float32'), { dataRange: 1 })[0]!, 0.9680417600659196, 1e-5, 'float32');
});

test('ssim of an image with itself is 1, per image of a batch', () => {
  const x = noiseImage([3, 2, 16, 16], 1);
  const out = ssim(x, x, { dataRange: 8 });
  assert.equal(out.length, 3);
  for (const v of out) close(v, 1, 1e-12);
});

test('ssim of a constant shift of a constant image is the luminance term', () => {
  // Both images constant: every local variance and covariance is 0, so the structure term is
  // C2 / C2 = 1 and every window gives (2 mu1 mu2 + C1) / (mu1^2 + mu2^2 + C1).
  const a = 0.3, c = 0.2, R = 1;
  const C1 = (0.01 * R) ** 2;
  const expected = (2 * a * (a + c) + C1) / (a * a + (a + c) ** 2 + C1);
  const x = Tensor.zeros([16, 16], 'float64');
  x.data.fill(a);
  const y = Tensor.zeros([16, 16], 'float64');
  y.data.fill(a + c);
  close(ssim(y, x, { dataRange: R })[0]!, expected, 1e-12);
  close(ssim(y, x, { dataRange: R, gaussian: false })[0]!, expected, 1e-12);
});

test('ssim decreases as noise grows', () => {
  const { x } = patterns();
  const ref = new Tensor([24, 20], x);
  const z = noiseImage([24, 20], 7);
  let prev = 1;
  for (const sigma of [0.01, 0.03, 0.1, 0.3]) {
    const noisy = ref.clone();
    for (let i = 0; i < noisy.size; i++) noisy.data[i] = noisy.data[i]! + sigma * z.data[i]!;
    const s = ssim(noisy, ref, { dataRange: 1 })[0]!;
    assert.ok(s < prev, `ssim ${s} at noise ${sigma} is not below ${prev}`);
    prev = s;
  }
  assert.ok(prev < 0.5);
});

test('ssim rejects images smaller than the window and missing ranges', () => {
  const x = Tensor.zeros([10, 30]);
  assert.throws(() => ssim(x, x, { dataRange: 1 }), isCode('BAD_SHAPE'));
  const y = Tensor.zeros([12, 12]);
  assert.throws(() => ssim(y, y, { dataRange: 0 }), isCode('BAD_INPUT'));
  assert.throws(() => ssim(y, y, { dataRange: 'auto' }), /constant/);
});

const gaussianCloud = (n: number, d: number, seed: number, shift: number[] = []): Float64Array => {
  const x = new NoiseSource(seed).normal([n, d], 0, Stream.noise, 'float64').data as Float64Array;
  for (let i = 0; i < n; i++) for (let k = 0; k < shift.length; k++) x[i * d + k] = x[i * d + k]! + shift[k]!;
  return x;
};

test('1-D W2 of empirical measures is exact for unequal sizes', () => {
  // Quantiles of {0, 1} and {0, 1, 2} differ by 1 on (1/3, 1/2] and (2/3, 1]: 1/6 + 1/3.
  close(wasserstein2Sorted1d(Float64Array.from([0, 1]), Float64Array.from([0, 1, 2])), 0.5, 1e-15);
  close(wasserstein2Sorted1d(Float64Array.from([0, 1]), Float64Array.from([3, 4])), 9, 1e-15);
  close(wasserstein2Sorted1d(Float64Array.from([0]), Float64Array.from([1, 2, 3])), (1 + 4 + 9) / 3, 1e-14);
});

test('sliced Wasserstein: zero for identical clouds, invariant to duplicating points, deterministic', () => {
  const d = 3;
  const x = gaussianCloud(200, d, 3);
  assert.equal(slicedWasserstein(x, x, d, { projections: 32 }), 0);
  const y = gaussianCloud(150, d, 4);
  const y2 = new Float64Array(2 * y.length);
  y2.set(y);
  y2.set(y, y.length);
  // {y, y} is the same empirical measure as y, so W2 per direction is unchanged (n != m path).
  close(slicedWasserstein(x, y2, d, { seed: 5 }), slicedWasserstein(x, y, d, { seed: 5 }), 1e-12);
  assert.equal(slicedWasserstein(x, y, d, { seed: 5 }), slicedWasserstein(x, y, d, { rng: new NoiseSource(5) }));
  assert.notEqual(slicedWasserstein(x, y, d, { seed: 5 }), slicedWasserstein(x, y, d, { seed: 6 }));
  assert.throws(() => slicedWasserstein(x, y.subarray(0, 10), d), isCode('BAD_SHAPE'));
});

test('sliced Wasserstein between N(0, I) and N(m, I) is close to |m| / sqrt(d)', () => {
  // Per direction theta the projected laws are N(0, 1) and N(theta.m, 1), so W2 = |theta.m| and
  // the mean over the sphere of (theta.m)^2 is |m|^2 / d. Sampling error: with d = 4,
  // (theta.m)^2 / |m|^2 ~ Beta(1/2, 3/2) has coefficient of variation 1, so 1000 directions give
  // about 1.6% relative sd on the distance; 4000 points per cloud add a small positive bias.
  const d = 4, m = [1, -0.5, 0.5, 0.25];
  const expected = Math.hypot(...m) / Math.sqrt(d); // 0.625
  const x = gaussianCloud(4000, d, 11);
  const y = gaussianCloud(4000, d, 12, m);
  const swd = slicedWasserstein(x, y, d, { projections: 1000, seed: 1 });
  close(swd, expected, 0.04, 'swd');
  const same = slicedWasserstein(x, gaussianCloud(4000, d, 13), d, { projections: 200, seed: 1 });
  assert.ok(same < 0.06, `swd of two samples of one law ${same}`);
});

test('MMD^2 (unbiased, RBF) matches its closed form for Gaussians and is near 0 for one law', () => {
  // For N(0, I) vs N(m, I) in d dims and k = exp(-|a-b|^2 / (2 h^2)):
  // E k(X, X') = (h^2 / (h^2 + 2))^(d/2), E k(X, Y) = E k(X, X') exp(-|m|^2 / (2 (h^2 + 2))).
  const d = 2, h = 1, n = 1000;
  const kxx = (h * h / (h * h + 2)) ** (d / 2);
  const exact = 2 * kxx * (1 - Math.exp(-1 / (2 * (h * h + 2))));
  const x = gaussianCloud(n, d, 21);
  const shifted = mmd2(x, gaussianCloud(n, d, 22, [1, 0]), d, { bandwidth: h });
  close(shifted, exact, 0.02, 'mmd2 shift'); // exact = 0.1023; the estimator's sd here is about 0.005
  const same = mmd2(x, gaussianCloud(n, d, 23), d, { bandwidth: h });
  assert.ok(Math.abs(same) < 0.01, `mmd2 of one law ${same}`);
  const auto = mmd2(x, gaussianCloud(n, d, 22, [1, 0]), d);
  assert.ok(auto > 10 * Math.abs(mmd2(x, gaussianCloud(n, d, 23), d)), 'median heuristic separates the laws');
  // For N(0, I) in 2-D, |X - X'|^2 / 2 ~ chi^2_2, so the median distance is sqrt(4 ln 2).
  close(medianBandwidth(x, gaussianCloud(n, d, 23), d), Math.sqrt(4 * Math.log(2)), 0.05, 'median bandwidth');
});

test('sample mean, covariance and their errors', () => {
  const pts = Float64Array.from([0, 0, 2, 0, 0, 2, 2, 2]); // the corners of a square, d = 2
  assert.deepEqual([...sampleMean(pts, 2)], [1, 1]);
  assert.deepEqual([...sampleCovariance(pts, 2)], [4 / 3, 0, 0, 4 / 3]);
  assert.deepEqual([...sampleCovariance(pts, 2, 0)], [1, 0, 0, 1]);
  const shifted = pts.map((v, i) => v + (i % 2 === 0 ? 3 : 4));
  close(meanError(pts, shifted, 2), 5, 1e-15);
  close(covarianceError(pts, shifted, 2), 0, 1e-15);
  const scaled = pts.map((v) => 2 * v);
  // Covariance scales by 4: difference 3 * (4/3) I, Frobenius norm 4 sqrt(2).
  close(covarianceError(pts, scaled, 2), 4 * Math.SQRT2, 1e-12);

  // Sampling check: N(0, I) vs N(0, diag(4, 1, 1)) differ by diag(3, 0, 0); sd of the estimate ~0.1.
  const d = 3, n = 4000;
  const x = gaussianCloud(n, d, 31);
  const y = gaussianCloud(n, d, 32);
  for (let i = 0; i < n; i++) y[i * d] = 2 * y[i * d]!;
  close(covarianceError(x, y, d), 3, 0.4, 'covariance error');
  assert.ok(meanError(x, y, d) < 0.15);
  assert.throws(() => sampleCovariance(Float64Array.from([1, 2]), 2), isCode('BAD_INPUT'));
});
