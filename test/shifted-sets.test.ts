import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { sum } from '../src/core/ops.js';
import { Tensor } from '../src/core/tensor.js';
import { heldoutImages, SETS, setImages } from '../bench/lib/brain-sets.js';
import { resampleImages, resampleMatrix, rotateImages } from '../bench/lib/resample.js';
import { roughCount, roughness, windows } from '../bench/lib/roughness.js';

/** An image [1, 1, H, W] with value f(i, j) at pixel (i, j). */
function image(H: number, W: number, f: (i: number, j: number) => number): Tensor {
  const t = new Tensor([1, 1, H, W]);
  for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) t.data[i * W + j] = f(i, j);
  return t;
}

test('resampling keeps a constant and reproduces a linear ramp at the new pixel centres (area averaging down, linear interpolation up)', () => {
  for (const [nIn, nOut] of [[217, 155], [181, 226], [10, 7], [7, 10]] as const) {
    const R = resampleMatrix(nIn, nOut);
    for (let i = 0; i < nOut; i++) {
      const row = R.subarray(i * nIn, (i + 1) * nIn);
      assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-12, `row ${i} of ${nIn}->${nOut} sums to 1`);
      assert.ok(row.every((r) => r >= 0), 'no negative weights (no ringing)');
    }
  }
  // f = 3 + 0.5 y + 0.25 x at pixel centres (y, x) = (i + 0.5, j + 0.5) in input pixel units; output pixel (i, j) is
  // centred at ((i + 0.5) H / h, (j + 0.5) W / w). Averaging whole pixels (a factor 2) of a ramp gives its value at the
  // centre; linear interpolation is exact on it away from the clamped edge pixels.
  const f = (y: number, x: number) => 3 + 0.5 * y + 0.25 * x;
  for (const [H, W, h, w] of [[40, 30, 20, 15], [20, 15, 32, 24]] as const) {
    const out = resampleImages(image(H, W, (i, j) => f(i + 0.5, j + 0.5)), h, w);
    const edge = h > H ? 1 : 0;
    let worst = 0;
    for (let i = edge; i < h - edge; i++) for (let j = edge; j < w - edge; j++) {
      worst = Math.max(worst, Math.abs(out.data[i * w + j]! - f(((i + 0.5) * H) / h, ((j + 0.5) * W) / w)));
    }
    assert.ok(worst < 1e-4, `${H}x${W} -> ${h}x${w}: ramp off by ${worst}`);
  }
  // Area averaging at 1.4 mm keeps the integral: sum(out) (H / h) (W / w) = sum(in).
  const x = image(217, 181, (i, j) => Math.sin(i / 7) + Math.cos(j / 3) + ((i * j) % 11) / 11);
  const y = resampleImages(x, 155, 129);
  assert.ok(Math.abs((sum(y.data) * 217 * 181) / (155 * 129) - sum(x.data)) < 1e-6 * 217 * 181, `integral ${sum(y.data) * 217 * 181 / (155 * 129)} vs ${sum(x.data)}`);
});

test('rotation: 90 degrees is an exact permutation, any angle rotates a linear ramp about the centre, outside is the fill', () => {
  const N = 9, x = image(N, N, (i, j) => i * N + j + 1);
  const r = rotateImages(x, 90, -1);
  // Counter-clockwise on the display (rows downwards): output (i, j) is input (j, N - 1 - i).
  for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) assert.ok(Math.abs(r.data[i * N + j]! - x.data[j * N + (N - 1 - i)]!) < 1e-9);
  // A ramp g = 2 X + 5 Y in display coordinates about the centre (X right, Y up): rotating the image by theta
  // counter-clockwise gives g(R(-theta) (X, Y)). Checked where the source point lies inside the image.
  const H = 31, W = 41, cy = (H - 1) / 2, cx = (W - 1) / 2, th = (20 * Math.PI) / 180;
  const g = (X: number, Y: number) => 2 * X + 5 * Y;
  const rr = rotateImages(image(H, W, (i, j) => g(j - cx, cy - i)), 20, -100);
  let worst = 0, filled = 0;
  for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) {
    const X = j - cx, Y = cy - i, Xs = Math.cos(th) * X + Math.sin(th) * Y, Ys = -Math.sin(th) * X + Math.cos(th) * Y;
    const inside = Math.abs(Xs) <= cx && Math.abs(Ys) <= cy;
    if (inside) worst = Math.max(worst, Math.abs(rr.data[i * W + j]! - g(Xs, Ys)));
    else if (Math.abs(Xs) > cx + 1e-6 || Math.abs(Ys) > cy + 1e-6) filled += rr.data[i * W + j] === -100 ? 0 : 1;
  }
  assert.ok(worst < 1e-3, `ramp off by ${worst}`);
  assert.equal(filled, 0, 'points from outside the image take the fill');
});

test('roughness: 0 on a linear ramp, 8 on a +-1 checkerboard (the 5-point Laplacian of training/tweedie_train/preview.py); the count uses the quantile of the real images', () => {
  const ramp = image(12, 10, (i, j) => 0.1 * i - 0.3 * j);
  const checker = image(12, 10, (i, j) => ((i + j) % 2 ? 1 : -1));
  const r = roughness(new Tensor([2, 1, 12, 10], Float32Array.from([...ramp.data, ...checker.data])));
  assert.ok(Math.abs(r[0]!) < 1e-6 && Math.abs(r[1]! - 8) < 1e-6, `roughness ${r[0]}, ${r[1]}`);
  // Real: 100 images of roughness 0.00, 0.01, ..., 0.99 (a checkerboard scaled by k / 800); their 0.99 quantile is
  // 0.9801; samples of roughness 0.5, 0.985 and 2: two are rougher.
  const scaled = (k: number) => checker.data.map((v) => (v * k) / 8);
  const real = new Tensor([100, 1, 12, 10], Float32Array.from(Array.from({ length: 100 }, (_, k) => [...scaled(k / 100)]).flat()));
  const samples = new Tensor([3, 1, 12, 10], Float32Array.from([0.5, 0.985, 2].flatMap((k) => [...scaled(k)])));
  const c = roughCount(samples, real);
  assert.equal(c.rough, 2);
  assert.ok(Math.abs(c.threshold - 0.9801) < 1e-5, `threshold ${c.threshold}`);
  // Windows: 3 x 2 positions of 4x4 at stride 4 in 12x10; only the bright left column passes the mean test.
  const w = windows(image(12, 10, (_, j) => (j < 4 ? 1 : -1)), 4, 4, 0);
  assert.deepEqual(w.shape, [3, 1, 4, 4]);
  assert.ok(w.data.every((v) => v === 1));
});

test('the held-out set is ch2 slice z read and normalised as an independent reader (nibabel, numpy) does', () => {
  // Axial slice z = vol[:, :, z], rows over y from high to low, columns over x; x = clip(2 v / p - 1, -1, 1) with p
  // the 99.5th percentile of the volume (training/brain_native.py's split.json and tweedie reconstruct).
  const script = [
    'import nibabel, numpy, sys',
    'for f in ("ch2", "ch2bet"):',
    '  v = numpy.asarray(nibabel.load(f"/usr/share/mricron/templates/{f}.nii.gz").dataobj, dtype=numpy.float64)',
    '  p = numpy.percentile(v, 99.5)',
    '  s = numpy.clip(2 * v[:, :, 64] / p - 1, -1, 1).T[::-1]',
    '  print(f, p, s.shape[0], s.shape[1], s[100, 90], s[40, 50], s.sum())',
  ].join('\n');
  const py = spawnSync('/usr/bin/python3', ['-c', script], { encoding: 'utf8' });
  assert.equal(py.status, 0, py.stderr);
  for (const line of py.stdout.trim().split('\n')) {
    const [name, , h, w, a, b, total] = line.split(' ');
    const x = heldoutImages(`/usr/share/mricron/templates/${name}.nii.gz`, [64]);
    assert.deepEqual(x.shape, [1, 1, Number(h), Number(w)]);
    assert.ok(Math.abs(x.data[100 * Number(w) + 90]! - Number(a)) < 1e-5 && Math.abs(x.data[40 * Number(w) + 50]! - Number(b)) < 1e-5, `${name}: pixels`);
    assert.ok(Math.abs(sum(x.data) - Number(total)) < 1e-2, `${name}: sum`);
  }
});

test('every shifted set has the size its definition states, values in [-1, 1]', () => {
  const sizes: Record<string, [number, number]> = {
    heldout: [217, 181], 'pixel-1.4mm': [155, 129], 'pixel-0.8mm': [271, 226], 'rotated-20': [217, 181], 'fov-176': [176, 176], ch2bet: [217, 181],
  };
  assert.deepEqual(SETS.map((s) => s.name).sort(), Object.keys(sizes).sort());
  for (const def of SETS) {
    const x = setImages(def, [62]);
    assert.deepEqual(x.shape.slice(2), sizes[def.name], def.name);
    assert.ok(x.data.every((v) => v >= -1 - 1e-6 && v <= 1 + 1e-6), `${def.name}: values in [-1, 1]`);
  }
});
