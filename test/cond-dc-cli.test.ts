import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NoiseSource } from '../src/core/rng.js';
import { Tensor } from '../src/core/tensor.js';
import { readNpy, writeNpy } from '../src/io/npy.js';
import { parseOperatorSpec } from '../src/inverse/operators/spec-file.js';
import type { Denoiser } from '../src/models/denoiser.js';
import { OnnxDenoiser } from '../src/models/onnx.js';
import { solve } from '../src/recipes/solve.js';

// test/fixtures/zero-filled-gaussian (test/fixtures/onnx/make_class_gaussian.py): the exact x0-denoiser of
// x0 ~ N(c, 0.05 I) as an ONNX graph of any H x W, its condition c declared "from": "zero-filled".
const FIX = 'test/fixtures/zero-filled-gaussian';
const CH2 = '/usr/share/mricron/templates/ch2.nii.gz';
const dir = mkdtempSync(join(tmpdir(), 'tweedie-cond-dc-'));
const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/tweedie.js', ...args], { encoding: 'utf8' });
const SHAPE = [1, 16, 12];

test('tweedie solve --solver cond-dc on an ONNX model of the zero-filled image: the API run of the formula, and A x = y', async () => {
  const x = new Tensor([1, ...SHAPE], Float32Array.from(new NoiseSource(3).uniform(SHAPE.reduce((p, q) => p * q, 1), 0, 0), (u) => 2 * u - 1));
  const file = join(dir, 'truth.npy'), out = join(dir, 'r.npy');
  writeNpy(file, x);
  const r = cli('solve', '--model', FIX, '--operator', 'mri:accel=4', '--truth', file, '--solver', 'cond-dc', '--steps', '8', '--threads', '1', '--out', out);
  assert.equal(r.status, 0, r.stderr);
  const got = readNpy(out);
  // The formula E[x0 | x_t, c] = c + a v / (a^2 v + s^2) (x_t - a c), written here, reading c from its inputs.
  const onnx = await OnnxDenoiser.load(FIX, { threads: 1 });
  const oracle: Denoiser = {
    prediction: 'x0', path: onnx.path, itemShape: SHAPE,
    conditions: { zf: { kind: 'image', input: 'cond', shape: SHAPE, valueRange: [-1, 1], unconditional: 0, from: 'zero-filled' } },
    predict: async (xt, t, cond) => {
      const { a, s } = onnx.path.point(t), c = cond!.inputs!.zf!.data, g = (a * 0.05) / (a * a * 0.05 + s * s);
      return new Tensor(xt.shape, xt.data.map((v, i) => c[i]! + g * (v - a * c[i]!)));
    },
  };
  await onnx.release();
  const op = parseOperatorSpec('mri:accel=4', SHAPE), y = op.forward(x);
  const want = await solve({ model: oracle, operator: op, measurement: y, solver: 'cond-dc', steps: 8 });
  let diff = 0, dc = 0;
  for (let i = 0; i < got.size; i++) diff = Math.max(diff, Math.abs(got.data[i]! - want.x.data[i]!));
  const ax = op.forward(got.reshape([1, ...SHAPE]));
  for (let i = 0; i < y.size; i++) dc = Math.max(dc, Math.abs(ax.data[i]! - y.data[i]!));
  console.log(`# cond-dc CLI vs API formula: max diff ${diff.toExponential(2)}; max |A x - y| ${dc.toExponential(2)}`);
  assert.ok(diff < 2e-3, `CLI ONNX against the API formula: ${diff}`);
  assert.ok(dc < 1e-5, `noiseless hard data consistency: ${dc}`);
});

test('tweedie reconstruct --solver cond-dc runs a zero-filled-conditioned model on the native grid', () => {
  assert.ok(existsSync(CH2), `${CH2} is missing: install mricron-data`);
  const out = join(dir, 'r.nii.gz');
  const r = cli('reconstruct', '--truth', CH2, '--modality', 'mri', '--accel', '4', '--model', FIX, '--solver', 'cond-dc', '--steps', '4', '--slices', '90:92', '--workers', '1', '--threads', '1', '--out', out, '--json');
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { solver: string; figures_grid: string; nfe: number; psnr: number; psnr_baseline: number };
  assert.equal(j.solver, 'cond-dc');
  assert.equal(j.figures_grid, 'input');
  assert.equal(j.nfe, 4);
  assert.ok(Number.isFinite(j.psnr) && existsSync(out));
});

test('cond-dc through the CLI: a model without the zero-filled condition, another operator and --cond-image are refused in one line', () => {
  const file = join(dir, 't.npy');
  writeNpy(file, Tensor.zeros([1, ...SHAPE]));
  const oneLine = (r: ReturnType<typeof cli>, re: RegExp) => {
    assert.notEqual(r.status, 0, r.stdout);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  };
  writeNpy(join(dir, 'small.npy'), Tensor.zeros([1, 1, 2, 2]));
  oneLine(cli('solve', '--model', 'test/fixtures/image-gaussian', '--operator', 'mri:accel=2', '--truth', join(dir, 'small.npy'), '--solver', 'cond-dc', '--out', join(dir, 'x.npy')), /cond-dc needs a model whose one condition is the zero-filled image.*its conditions: lowres \(image\)/);
  oneLine(cli('solve', '--model', FIX, '--operator', 'inpaint:box=4', '--truth', file, '--solver', 'cond-dc', '--out', join(dir, 'x.npy')), /cond-dc enforces the measured lines of single-coil Cartesian k-space; inpaint.* is not an mri operator/);
  oneLine(cli('solve', '--model', FIX, '--operator', 'mri:accel=4', '--truth', file, '--cond-image', file, '--solver', 'cond-dc', '--out', join(dir, 'x.npy')), /cond-dc builds the model's condition from the measurement/);
  assert.ok(!existsSync(join(dir, 'x.npy')), 'nothing written');
});
