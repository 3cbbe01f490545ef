import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor } from '../src/core/tensor.js';
import { parseOperatorSpec } from '../src/inverse/operators/spec-file.js';
import { readNifti, writeNifti } from '../src/io/nifti.js';
import { readNpy, writeNpy } from '../src/io/npy.js';
import { encodePng } from '../src/io/png.js';
import { createVolume } from '../src/io/volume.js';
import { psnr } from '../src/metrics/image.js';
import { OnnxDenoiser } from '../src/models/onnx.js';
import { parseSchedulerConfig } from '../src/paths/scheduler-config.js';
import { degradedAnchor } from '../src/restoration/anchor.js';
import { restore } from '../src/recipes/restore.js';
import { samplerByName } from '../src/samplers/registry.js';

const run = (...args: string[]) => spawnSync(process.execPath, ['bin/tweedie.js', ...args], { encoding: 'utf8' });
const tmp = mkdtempSync(join(tmpdir(), 'tweedie-restore-'));
const heldout = readNpy('examples/fmnist-t10k-64.npy').toDtype('float32');
const tasks = (dir: string) => (JSON.parse(readFileSync(join(dir, 'tasks.json'), 'utf8')) as { tasks: { name: string; operator: string }[] }).tasks;

test('restoration scheduler configs: IR-SDE and ResShift paths hit their defining end points', () => {
  const quiet = () => {};
  const ir = parseSchedulerConfig({ _class_name: 'IRSDEScheduler', num_train_timesteps: 100, max_sigma: 20, eps: 0.005 }, 'ir', quiet).path;
  // IR-SDE (Luo et al. 2023): dt is chosen so that e^{-thetabar_T dt} = eps; stationary std lambda = max_sigma / 255.
  assert.ok(Math.abs(ir.a(100) - 0.005) < 1e-12 && ir.a(0) === 1 && ir.s(0) === 0);
  assert.ok(Math.abs(ir.s(100) - (20 / 255) * Math.sqrt(1 - 0.005 ** 2)) < 1e-12);
  assert.ok(Math.abs(ir.a(37) + ir.b(37) - 1) < 1e-15);
  const rs = parseSchedulerConfig({ _class_name: 'ResShiftScheduler', num_train_timesteps: 15, kappa: 1, power: 0.3, min_noise_level: 0.04, etas_end: 0.99 }, 'rs', quiet).path;
  // ResShift (Yue et al. 2023): sqrt(eta_1) = min(min_noise / kappa, min_noise), sqrt(eta_T) = etas_end, s = kappa sqrt(eta).
  assert.ok(Math.abs(rs.b(1) - 0.04 ** 2) < 1e-15 && Math.abs(rs.b(15) - 0.99 ** 2) < 1e-12 && Math.abs(rs.s(15) - 0.99) < 1e-12);
  const warnings: string[] = [];
  parseSchedulerConfig({ _class_name: 'IRSDEScheduler', max_sigmaa: 3 }, 'typo.json', (m) => warnings.push(m));
  assert.match(warnings.join(), /max_sigmaa/);
  assert.throws(() => parseSchedulerConfig({ _class_name: 'ResShiftScheduler', etas_end: 1.5 }, 'bad.json', quiet), /etas_end.*\(0, 1\)/);
});

test('degraded anchors match the recipe: SR mu = nearest upsampling of 4x4 block means, deblur = circular Gaussian convolution', () => {
  const x = heldout.sliceBatch(0, 2);
  const sr = degradedAnchor(parseOperatorSpec('sr:factor=4', [1, 32, 32]), x, 0);
  const blur = degradedAnchor(parseOperatorSpec('blur:gaussian,sigma=2', [1, 32, 32]), x, 0);
  const k = 6, g: number[] = [];
  for (let i = -k; i <= k; i++) for (let j = -k; j <= k; j++) g.push(Math.exp(-(i * i + j * j) / 8));
  const gs = g.reduce((p, q) => p + q, 0);
  let srErr = 0, blurErr = 0;
  for (let b = 0; b < 2; b++) {
    const img = (i: number, j: number) => x.data[b * 1024 + (((i % 32) + 32) % 32) * 32 + (((j % 32) + 32) % 32)]!;
    for (let i = 0; i < 32; i++) {
      for (let j = 0; j < 32; j++) {
        let m = 0;
        for (let u = 0; u < 4; u++) for (let v = 0; v < 4; v++) m += img(4 * Math.floor(i / 4) + u, 4 * Math.floor(j / 4) + v) / 16;
        srErr = Math.max(srErr, Math.abs(sr.data[b * 1024 + i * 32 + j]! - m));
        let c = 0;
        for (let u = -k; u <= k; u++) for (let v = -k; v <= k; v++) c += (g[(u + k) * 13 + v + k]! / gs) * img(i - u, j - v);
        blurErr = Math.max(blurErr, Math.abs(blur.data[b * 1024 + i * 32 + j]! - c));
      }
    }
  }
  assert.ok(srErr < 1e-5, `sr anchor error ${srErr}`);
  assert.ok(blurErr < 1e-5, `blur anchor error ${blurErr}`);
});

/** Each shipped restoration model with its fast sampler: MRS 10 NFE (IR-SDE), ResShift 4 steps, RDDM 10 steps. */
const FAST: Record<string, { sampler: string; steps: number }> = {
  'fmnist-irsde': { sampler: 'mrs', steps: 10 },
  'fmnist-resshift': { sampler: 'resshift', steps: 4 },
  'fmnist-rddm': { sampler: 'rddm', steps: 10 },
  'brain-irsde': { sampler: 'mrs', steps: 10 },
  'brain-resshift': { sampler: 'resshift', steps: 4 },
  'brain-rddm': { sampler: 'rddm', steps: 10 },
};

for (const [name, { sampler, steps }] of Object.entries(FAST)) {
  test(`${name}: every task's restoration of held-out images beats its degraded input (PSNR)`, async () => {
    const dir = join('weights', name);
    const model = await OnnxDenoiser.load(dir, { threads: 1 });
    const held = readNpy((JSON.parse(readFileSync(join(dir, 'tasks.json'), 'utf8')) as { heldout: string }).heldout).toDtype('float32');
    const x = held.sliceBatch(0, 8);
    for (const task of tasks(dir)) {
      const mu = degradedAnchor(parseOperatorSpec(task.operator, x.shape.slice(1)), x, 3);
      const r = await restore({ model, degraded: mu, sampler: samplerByName(sampler), steps, seed: 1 });
      assert.equal(r.nfe, steps);
      const before = psnr(mu, x, 2), after = psnr(r.x, x, 2);
      const gains = Array.from(after, (v, i) => v - before[i]!);
      // Every image, not just the mean, must improve.
      assert.ok(gains.every((g) => g > 0), `${name} ${task.name} with ${sampler} ${steps}: PSNR gains ${gains.map((g) => g.toFixed(2)).join(', ')}`);
    }
  });
}

test('restore is deterministic by seed and independent of the batch size; the seed matters for a stochastic sampler', async () => {
  const model = await OnnxDenoiser.load('weights/fmnist-irsde', { threads: 1 });
  const mu = degradedAnchor(parseOperatorSpec('identity:noise=0.2', [1, 32, 32]), heldout.sliceBatch(0, 3), 5);
  const em = samplerByName('irsde-em');
  const a = await restore({ model, degraded: mu, sampler: em, steps: 6, seed: 7, batch: 3 });
  const b = await restore({ model, degraded: mu, sampler: em, steps: 6, seed: 7, batch: 1 });
  const c = await restore({ model, degraded: mu, sampler: em, steps: 6, seed: 8, batch: 3 });
  assert.deepEqual(Array.from(a.x.data), Array.from(b.x.data));
  assert.ok(a.x.data.some((v, i) => v !== c.x.data[i]));
});

test('tweedie restore: npy in, png/npy out, --truth metrics, --upscale for low-resolution input, NIfTI geometry kept', () => {
  const x = heldout.sliceBatch(0, 2);
  const mu = degradedAnchor(parseOperatorSpec('identity:noise=0.2', [1, 32, 32]), x, 2);
  writeNpy(join(tmp, 'noisy.npy'), mu);
  writeNpy(join(tmp, 'clean.npy'), x);
  const r = run('restore', '--input', join(tmp, 'noisy.npy'), '--truth', join(tmp, 'clean.npy'), '--out', join(tmp, 'out.npy'), '--json');
  assert.equal(r.status, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.nfe, 10);
  assert.equal(s.baseline, 'degraded input');
  assert.ok(s.psnr > s.psnr_baseline && s.ssim > s.ssim_baseline, r.stdout);
  assert.deepEqual(readNpy(join(tmp, 'out.npy')).shape, [2, 1, 32, 32]);
  const png = run('restore', '--input', join(tmp, 'noisy.npy'), '--out', join(tmp, 'out.png'));
  assert.equal(png.status, 0, png.stderr);
  assert.match(png.stdout, /^wrote \S*out\.png: 2 images, mrs 10 steps/);
  // An 8x8 low-resolution image: refused at 8x8 with a hint, restored with --upscale 4.
  writeNpy(join(tmp, 'low.npy'), new Tensor([1, 8, 8], new Float32Array(64).fill(0.2)));
  const small = run('restore', '--input', join(tmp, 'low.npy'), '--out', join(tmp, 'o.npy'));
  assert.equal(small.status, 1);
  assert.match(small.stderr, /\[1, 8, 8\].*\[1, 32, 32\].*--upscale/);
  assert.equal(run('restore', '--input', join(tmp, 'low.npy'), '--upscale', '4', '--out', join(tmp, 'o.npy')).status, 0);
  // A NIfTI stack of two 32x32 slices with a non-trivial affine keeps its geometry.
  const affine = [[0, -2, 0, 10], [1.5, 0, 0, -3], [0, 0, 3, 7], [0, 0, 0, 1]];
  const vol = createVolume(Float32Array.from(mu.data, (v) => 1000 + 400 * v), [32, 32, 2], { affine });
  writeNifti(join(tmp, 'in.nii.gz'), vol);
  const nr = run('restore', '--input', join(tmp, 'in.nii.gz'), '--out', join(tmp, 'out.nii.gz'));
  assert.equal(nr.status, 0, nr.stderr);
  const back = readNifti(join(tmp, 'out.nii.gz'));
  assert.deepEqual(back.dims, [32, 32, 2]);
  assert.deepEqual(back.affine, vol.affine);
  assert.ok(back.data.some((v, i) => v !== vol.data[i]));
});

test('tweedie restore bad input: wrong channel count, NaN, a model without an anchor, NIfTI out from npy in, missing options', () => {
  const rgb = { width: 32, height: 32, channels: 3 as const, data: new Uint8Array(32 * 32 * 3).fill(100) };
  writeFileSync(join(tmp, 'rgb.png'), encodePng(rgb));
  const c = run('restore', '--input', join(tmp, 'rgb.png'), '--out', join(tmp, 'o.png'));
  assert.equal(c.status, 1);
  assert.match(c.stderr, /3 channels.*1-channel.*grayscale/);
  const nan = new Float32Array(1024).fill(0);
  nan[5] = NaN;
  writeNpy(join(tmp, 'nan.npy'), new Tensor([1, 32, 32], nan));
  assert.match(run('restore', '--input', join(tmp, 'nan.npy'), '--out', join(tmp, 'o.npy')).stderr, /NaN/);
  writeNpy(join(tmp, 'ok.npy'), new Tensor([1, 32, 32], new Float32Array(1024)));
  const plain = run('restore', '--model', 'weights/fmnist-32', '--input', join(tmp, 'ok.npy'), '--out', join(tmp, 'o.npy'));
  assert.equal(plain.status, 2);
  assert.match(plain.stderr, /not a restoration model/);
  const niiOut = run('restore', '--input', join(tmp, 'ok.npy'), '--out', join(tmp, 'o.nii.gz'));
  assert.equal(niiOut.status, 2);
  assert.match(niiOut.stderr, /NIfTI output keeps a NIfTI input's geometry/);
  assert.equal(run('restore', '--out', join(tmp, 'o.npy')).status, 2);
  assert.match(run('restore', '--input', join(tmp, 'ok.npy'), '--out', join(tmp, 'o.jpg')).stderr, /\.png, \.npy, \.nii/);
});
