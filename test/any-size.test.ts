import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NoiseSource } from '../src/core/rng.js';
import { Tensor } from '../src/core/tensor.js';
import { IdentityOperator } from '../src/inverse/operators/identity.js';
import { readNifti, writeNifti } from '../src/io/nifti.js';
import { readNpy, writeNpy } from '../src/io/npy.js';
import { readPng } from '../src/io/png.js';
import { NATIVE_DEMO_STEPS } from '../src/cli/demo.js';
import { createVolume } from '../src/io/volume.js';
import type { Conditioning, Denoiser } from '../src/models/denoiser.js';
import { OnnxDenoiser } from '../src/models/onnx.js';
import { parseSchedulerConfig } from '../src/paths/scheduler-config.js';
import { restore } from '../src/recipes/restore.js';
import { solve } from '../src/recipes/solve.js';

// Models with a layout (tweedie.json "multiple") on a user's own grid, checked with weights/gaussian-field: every pixel
// iid N(m, v), so posteriors are known in closed form at any size.
const root = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
const FIELD = join(root, 'weights', 'gaussian-field');
const { mean: m, var: v } = JSON.parse(readFileSync(join(FIELD, 'prior.json'), 'utf8')) as { mean: number; var: number };
const tmp = mkdtempSync(join(tmpdir(), 'tweedie-any-size-'));
const cli = (...args: string[]) => spawnSync(process.execPath, [join(root, 'bin', 'tweedie.js'), ...args], { encoding: 'utf8' });
const oneLine = (stderr: string, re: RegExp) => assert.match(stderr, new RegExp(`^tweedie \\w+: [^\\n]*${re.source}[^\\n]*\\n$`));

test('solve: denoising a 37x45 image through gaussian-field crops back to 37x45 and its mean is the pointwise Wiener filter', async () => {
  const model = await OnnxDenoiser.load(FIELD, { threads: 1 });
  const sigma = 0.2, [h, w] = [37, 45];
  const x = new NoiseSource(11).normal([1, 1, h, w], 0), e = new NoiseSource(12).normal([1, 1, h, w], 0);
  const y = new Tensor([1, 1, h, w], x.data.map((z, i) => m + Math.sqrt(v) * z + sigma * e.data[i]!));
  const n = 16;
  const r = await solve({ model, operator: new IdentityOperator([1, h, w], sigma), measurement: y, solver: 'ddrm', steps: 100, n, seed: 3 });
  assert.deepEqual(r.x.shape, [n, 1, h, w]);
  // E[x | y] = m + k (y - m), k = v / (v + sigma^2), pixel by pixel: fit x = alpha + beta y over all pixels and samples.
  const k = v / (v + sigma * sigma);
  let sy = 0, syy = 0, sx = 0, sxy = 0;
  const N = r.x.size;
  for (let i = 0; i < N; i++) {
    const yi = y.data[i % y.size]!, xi = r.x.data[i]!;
    sy += yi; syy += yi * yi; sx += xi; sxy += xi * yi;
  }
  const beta = (sxy - (sx * sy) / N) / (syy - (sy * sy) / N), alpha = (sx - beta * sy) / N;
  // 16 x 1665 draws with residual sd ~0.1 around the fit: standard errors ~0.0015 (beta) and ~0.001 (alpha); measured
  // beta 0.798, alpha -0.040 against 0.8 and -0.04. A misplaced crop decorrelates x from y (beta ~ 0).
  assert.ok(Math.abs(beta - k) < 0.01, `beta ${beta} vs ${k}`);
  assert.ok(Math.abs(alpha - m * (1 - k)) < 0.01, `alpha ${alpha} vs ${m * (1 - k)}`);
});

test('tweedie solve --truth 37x45: inpainting through gaussian-field keeps every observed pixel and fills the box from the prior', () => {
  const [h, w] = [37, 45];
  const truth = new NoiseSource(21).normal([h, w], 0);
  for (let i = 0; i < truth.size; i++) truth.data[i] = m + Math.sqrt(v) * truth.data[i]!;
  const tf = join(tmp, 'truth.npy'), out = join(tmp, 'inpainted.npy');
  writeNpy(tf, truth);
  const r = cli('solve', '--model', FIELD, '--operator', 'inpaint:box=20x16,noise=0', '--truth', tf, '--solver', 'ddnm', '--steps', '50', '-n', '8', '--out', out, '--json');
  assert.equal(r.status, 0, r.stderr);
  const x = readNpy(out);
  assert.deepEqual(x.shape, [8, 1, h, w]);
  // The box (centred, 20 wide, 16 high) is missing; noiseless data elsewhere: the posterior there is the observed value.
  const [y0, x0] = [Math.floor((h - 16) / 2), Math.floor((w - 20) / 2)];
  let worst = 0, sum = 0, count = 0;
  for (let s = 0; s < 8; s++) {
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        const got = x.data[(s * h + i) * w + j]!;
        if (i >= y0 && i < y0 + 16 && j >= x0 && j < x0 + 20) {
          sum += got;
          count++;
        } else worst = Math.max(worst, Math.abs(got - truth.data[i * w + j]!));
      }
    }
  }
  assert.ok(worst < 1e-5, `observed pixels moved by ${worst}`);
  // Pixels are independent, so the missing ones follow the prior: their mean is m. 2,560 values with sd <= 0.4:
  // standard error <= 0.008; the bound is 4 of them.
  assert.ok(Math.abs(sum / count - m) < 0.032, `box mean ${sum / count} vs prior mean ${m}`);
});

test('tweedie sample --size: any H x W for a model with "multiple", refused for a fixed-size model naming the rule', () => {
  const out = join(tmp, 'field.npy');
  const r = cli('sample', '--model', FIELD, '--size', '37x45', '-n', '3', '--steps', '10', '--out', out);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(readNpy(out).shape, [3, 1, 37, 45]);
  const fixed = cli('sample', '--model', join(root, 'weights', 'gaussian-exact'), '--size', '16x16', '--out', join(tmp, 'no.npy'));
  assert.equal(fixed.status, 2);
  oneLine(fixed.stderr, /--size applies to models whose tweedie.json declares "multiple".*takes only \[1, 8, 8\]/);
  const solveFixed = cli('solve', '--model', join(root, 'weights', 'gaussian-exact'), '--operator', 'identity:noise=0.1', '--measurement', join(tmp, 'field.npy'), '--size', '8x16', '--out', join(tmp, 'no.npy'));
  assert.equal(solveFixed.status, 2);
  oneLine(solveFixed.stderr, /--size applies to models whose tweedie.json declares "multiple"/);
});

test('a bad "multiple" in tweedie.json is one BAD_CONFIG line, before any work', () => {
  for (const [bad, re] of [[0, /"multiple" must be a positive integer/], [7, /"multiple" 7 does not divide/]] as const) {
    const dir = join(tmp, `bad-multiple-${bad}`);
    cpSync(FIELD, dir, { recursive: true });
    const card = JSON.parse(readFileSync(join(dir, 'tweedie.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(dir, 'tweedie.json'), JSON.stringify({ ...card, multiple: bad }));
    const r = cli('sample', '--model', dir, '-n', '1', '--out', join(tmp, 'no.npy'));
    assert.equal(r.status, 1);
    oneLine(r.stderr, re);
  }
});

test('restore pads a 37x45 anchor with the background to the multiple and crops the result back', async () => {
  const sched = parseSchedulerConfig(JSON.parse(readFileSync(join(root, 'weights', 'fmnist-irsde', 'scheduler_config.json'), 'utf8')));
  const seen: number[][] = [];
  let border = Infinity;
  // A restoration model whose clean estimate is the anchor itself: restoring then returns the anchor.
  const model: Denoiser = {
    prediction: 'x0', path: sched.path, itemShape: [1, 32, 32], layout: { multiple: 8, background: -1 },
    async predict(x: Tensor, _t: number, cond?: Conditioning) {
      seen.push([...x.shape]);
      border = Math.min(border, Math.abs(cond!.anchor!.data[0]! + 1));
      return cond!.anchor!.clone();
    },
  };
  const degraded = new NoiseSource(5).normal([2, 1, 37, 45], 0);
  const r = await restore({ model, degraded, steps: 5 });
  assert.deepEqual(r.x.shape, [2, 1, 37, 45]);
  assert.ok(seen.length > 0 && seen.every((s) => s.join(',') === '2,1,40,48'), `model saw ${JSON.stringify(seen[0])}`);
  assert.equal(border, 0, 'the border of the anchor is the background -1');
  let worst = 0;
  for (let i = 0; i < degraded.size; i++) worst = Math.max(worst, Math.abs(r.x.data[i]! - degraded.data[i]!));
  assert.ok(worst < 1e-4, `restored differs from the anchor by ${worst}`);
});

/** A 45x53x4 crop of ch2 (voxels 68.., 80.., 90..), written with the repo's NIfTI writer; its affine shifted to match. */
function ch2Crop(file: string): void {
  const v = readNifti('/usr/share/mricron/templates/ch2.nii.gz');
  const [X, Y] = v.dims as [number, number];
  const [x0, y0, z0, nx, ny, nz] = [68, 80, 90, 45, 53, 4];
  const d = new Float32Array(nx * ny * nz);
  for (let k = 0; k < nz; k++) for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) d[i + nx * (j + ny * k)] = v.data[x0 + i + X * (y0 + j + Y * (z0 + k))]!;
  const affine = v.affine.map((r) => [r[0]!, r[1]!, r[2]!, r[0]! * x0 + r[1]! * y0 + r[2]! * z0 + r[3]!]);
  writeNifti(file, createVolume(d, [nx, ny, nz], { affine, xformCode: 2 }));
}

/** numpy's default (linear) percentile. */
function percentile(a: ArrayLike<number>, q: number): number {
  const s = Float64Array.from(a).sort(), pos = (q / 100) * (s.length - 1), lo = Math.floor(pos);
  return s[lo]! + (pos - lo) * (s[Math.min(lo + 1, s.length - 1)]! - s[lo]!);
}

for (const modality of ['mri', 'ct']) test(`tweedie reconstruct --modality ${modality} --truth, a 45x53x4 volume and gaussian-field: the result on the input grid, PSNR measured there`, () => {
  const input = join(tmp, 'crop.nii.gz'), out = join(tmp, `recon-${modality}.nii.gz`);
  ch2Crop(input);
  const r = cli('reconstruct', '--truth', input, '--modality', modality, '--model', FIELD, '--steps', '10', '--workers', '1', '--out', out, '--json');
  assert.equal(r.status, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  const vin = readNifti(input), vout = readNifti(out);
  assert.deepEqual(vout.dims, [45, 53, 4]);
  assert.deepEqual(vout.affine, vin.affine);
  assert.equal(s.figures_grid, 'input');
  assert.match(s.operator, /1x56x48/, 'the 53x45 slices are padded to 56x48');
  // PSNR of the written volume against the input, data range p = the 99.5th percentile the normalisation uses.
  const p = percentile(vin.data, 99.5);
  let se = 0;
  for (let i = 0; i < vin.data.length; i++) se += (vout.data[i]! - vin.data[i]!) ** 2;
  const psnr = 10 * Math.log10((p * p) / (se / vin.data.length));
  assert.ok(Math.abs(psnr - s.psnr) < 1e-4, `PSNR from the files ${psnr} vs reported ${s.psnr}`);
  assert.ok(vout.data.every((x) => x >= 0 && x <= p + 1e-3), 'in the input units, within [0, p]');
});

test('tweedie reconstruct refuses k-space of a size the prior does not take, and a constant slice, each in one line before any work', () => {
  const k = join(tmp, 'k-53x45.npy');
  writeNpy(k, new Tensor([2, 53, 45, 2]));
  const r = cli('reconstruct', '--measurement', k, '--modality', 'mri', '--model', FIELD, '--out', join(tmp, 'no.nii.gz'));
  assert.equal(r.status, 1);
  oneLine(r.stderr, /k-space 53x45 does not fit .*multiples of 8.*zero-padding k-space would interpolate/);
  const flat = join(tmp, 'flat.nii.gz');
  const d = new Float32Array(16 * 16 * 3).map((_, i) => (i < 256 ? 7 : i % 13));
  writeNifti(flat, createVolume(d, [16, 16, 3]));
  const c = cli('reconstruct', '--truth', flat, '--modality', 'mri', '--model', FIELD, '--out', join(tmp, 'no.nii.gz'));
  assert.equal(c.status, 1);
  oneLine(c.stderr, /flat\.nii\.gz: slice 0 is constant \(7\); .*pick --slices 1:3, the longest run without one/);
});

test('tweedie demo with a prior that declares "multiple": its held-out slices on their own 37x45 grid, the native step default', () => {
  const dir = join(tmp, 'field-demo');
  cpSync(FIELD, dir, { recursive: true });
  const slab = new NoiseSource(31).normal([3, 1, 37, 45], 0);
  for (let i = 0; i < slab.size; i++) slab.data[i] = m + Math.sqrt(v) * slab.data[i]!;
  writeNpy(join(dir, 'heldout.npy'), slab);
  const out = join(tmp, 'demo.png');
  const r = cli('demo', '--model', dir, '--out', out, '--json');
  assert.equal(r.status, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.match(s.operator, /1x37x45\)/);
  assert.equal(s.steps, NATIVE_DEMO_STEPS);
  assert.equal(s.nfe, NATIVE_DEMO_STEPS);
  // truth | zero-filled | reconstruction | error, 2 pixels apart, magnified floor(200 / 37) = 5 times.
  const png = readPng(out);
  assert.deepEqual([png.height, png.width], [5 * 37, 5 * (4 * 45 + 3 * 2)]);
});
