import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readNifti, writeNifti } from '../src/io/nifti.js';
import { readNpy, writeNpy } from '../src/io/npy.js';
import { createVolume } from '../src/io/volume.js';
import { NoiseSource } from '../src/core/rng.js';
import { Tensor } from '../src/core/tensor.js';
import { equispacedLineMask } from '../src/inverse/operators/mri-masks.js';
import { psnr } from '../src/metrics/image.js';
import { modelSlices, modelToVolume, sliceMapping } from '../src/volume/model-space.js';
import { operatorConfig, reconstructVolume } from '../src/volume/reconstruct.js';
import { buildOperator } from '../src/inverse/operators/registry.js';
import { parseOperatorSpec } from '../src/inverse/operators/spec-file.js';
import { readSplit } from '../src/volume/split-file.js';

const CH2 = '/usr/share/mricron/templates/ch2.nii.gz';
const root = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'tweedie-recon-'));

function ch2(): string {
  assert.ok(existsSync(CH2), `${CH2} is missing: these tests need the MNI ch2 template; install it with "apt-get install mricron-data"`);
  return CH2;
}

/** The brain prior shipped in weights/brain-64. */
function modelDir(): string {
  const d = join(root, 'weights', 'brain-64');
  if (!existsSync(join(d, 'model.onnx'))) assert.fail('weights/brain-64/model.onnx is missing: the reconstruct tests need the brain-64 prior (run training/brain64.py or restore weights/)');
  return d;
}

/** Run `tweedie reconstruct ...`. */
function cli(...args: string[]) {
  return spawnSync(process.execPath, [join(root, 'bin', 'tweedie.js'), 'reconstruct', ...args], { encoding: 'utf8' });
}

test('ch2 slices map to model space exactly as the prior was trained (heldout.npy)', () => {
  const vol = readNifti(ch2());
  const dir = join(root, 'weights', 'brain-64');
  const split = readSplit(dir);
  assert.ok(split, 'weights/brain-64/split.json');
  const m = sliceMapping(vol, 64, split);
  assert.equal(m.source, 'split.json');
  // The rule computed from the volume itself agrees with the training record.
  const c = sliceMapping(vol, 64, null);
  assert.deepEqual([c.x0, c.y0, c.side, c.p], [m.x0, m.y0, m.side, m.p]);
  const held = readNpy(join(existsSync(join(dir, 'heldout.npy')) ? dir : modelDir(), 'heldout.npy'));
  const zs = Array.from({ length: 16 }, (_, k) => 60 + k);
  const t = modelSlices(vol, m, zs);
  let maxErr = 0;
  for (let i = 0; i < t.size; i++) maxErr = Math.max(maxErr, Math.abs(t.data[i]! - held.data[i]!));
  assert.ok(maxErr < 1e-5, `max |ours - heldout.npy| = ${maxErr}`);
  // Back to the input grid and into model space again: only the interpolation blur is lost,
  // and the orientation is right (a one-pixel shift scores far lower).
  const back = { ...vol, data: modelToVolume(t.data as Float32Array, 60, 16, vol, m) };
  const again = modelSlices(back, m, zs);
  const p = psnr(again, t, 2);
  for (const v of p) assert.ok(v > 28, `round trip PSNR ${v}`);
});

test('tweedie reconstruct: 4 ch2 slices, 20 steps, 2 workers: input geometry, finite, beats zero-filled', () => {
  const input = ch2();
  const out = join(tmp, 'recon.nii.gz');
  const r = cli('--truth', input, '--modality', 'mri', '--accel', '4', '--mask', 'equispaced', '--solver', 'ddnm', '--steps', '20',
    '--slices', '62:66', '--workers', '2', '--batch', '2', '--model', modelDir(), '--out', out, '--json');
  assert.equal(r.status, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  const vin = readNifti(input), vout = readNifti(out);
  assert.deepEqual(vout.dims, vin.dims);
  assert.deepEqual(vout.affine, vin.affine);
  assert.ok(vout.data.every(Number.isFinite));
  const X = vin.dims[0]!, Y = vin.dims[1]!, plane = X * Y;
  let inside = 0;
  for (let i = 62 * plane; i < 66 * plane; i++) inside += vout.data[i]!;
  assert.ok(inside > 0, 'reconstructed slices hold signal');
  for (let i = 0; i < 62 * plane; i++) assert.equal(vout.data[i], 0);
  assert.equal(s.per_slice.length, 4);
  assert.deepEqual(s.per_slice.map((p: { z: number }) => p.z), [62, 63, 64, 65]);
  assert.equal(s.nfe, 20);
  assert.equal(s.workers, 2);
  assert.equal(s.figures_grid, 'model');
  assert.ok(s.psnr > s.psnr_baseline + 1, `PSNR ${s.psnr} vs zero-filled ${s.psnr_baseline}`);
  for (const p of s.per_slice) assert.ok(p.psnr > p.psnr_baseline, `slice ${p.z}: ${p.psnr} vs ${p.psnr_baseline}`);
  assert.ok(s.ssim > s.ssim_baseline);
});

test('tweedie reconstruct --solver dps on both gradient routes: the route in --json, gradient runs counted, beats zero-filled; a route the prior lacks is refused before any worker starts', () => {
  for (const grad of ['exported', 'differences']) {
    const r = cli('--truth', ch2(), '--modality', 'mri', '--accel', '4', '--solver', 'dps', '--grad', grad, '--param', 'zeta=3', '--steps', '20',
      '--slices', '64:66', '--workers', '1', '--batch', '2', '--model', modelDir(), '--out', join(tmp, `dps-${grad}.nii.gz`), '--json');
    assert.equal(r.status, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.equal(s.gradient, grad);
    assert.equal(s.nfe, 20);
    // One forward run and one gradient run (the graph, or both difference points in one batch) per step.
    assert.equal(s.model_calls, 40);
    assert.ok(s.psnr > s.psnr_baseline + 1, `--grad ${grad}: PSNR ${s.psnr} vs zero-filled ${s.psnr_baseline}`);
  }
  const plain = join(tmp, 'brain-no-grad');
  mkdirSync(plain, { recursive: true });
  for (const f of ['model.onnx', 'scheduler_config.json', 'split.json']) copyFileSync(join(modelDir(), f), join(plain, f));
  const { gradient: _, ...card } = JSON.parse(readFileSync(join(modelDir(), 'tweedie.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(plain, 'tweedie.json'), JSON.stringify(card));
  const r = cli('--truth', ch2(), '--modality', 'mri', '--solver', 'dps', '--grad', 'exported', '--slices', '64:65', '--model', plain, '--out', join(tmp, 'x.nii.gz'));
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /^tweedie reconstruct: --grad: --model .*brain-no-grad has no exported gradient.*use the gradient route 'differences'[^\n]*\n$/);
});

test('reconstructVolume: --workers 1 and 2 give the same volume (seed per slice, fixed batches)', async () => {
  const vol = readNifti(ch2());
  const common = { modelDir: modelDir(), splitFallback: join(root, 'weights', 'brain-64', 'split.json'), modality: 'mri' as const, solver: 'ddnm', steps: 3, slices: [70, 74] as [number, number], batch: 2, seed: 5 };
  const a = await reconstructVolume(vol, { ...common, workers: 1 });
  const b = await reconstructVolume(vol, { ...common, workers: 2 });
  assert.equal(a.workers, 1);
  assert.equal(b.workers, 2);
  assert.deepEqual(b.modelStack.data, a.modelStack.data);
  assert.deepEqual(b.volume.data, a.volume.data);
  assert.equal(a.model_calls, 2 * 3);
  // The model-space stack sits on a resampled grid: 64x64 in-plane, side/64 mm voxels.
  assert.deepEqual(a.modelStack.dims, [64, 64, 4]);
  assert.ok('side' in a.mapping && Math.abs(a.modelStack.affine[0]![0]! - a.mapping.side / 64) < 1e-9);
  const other = await reconstructVolume(vol, { ...common, seed: 6, workers: 2 });
  assert.notDeepEqual(other.modelStack.data, a.modelStack.data);
});

test('tweedie reconstruct: 4-D input, too-small volume and unknown modality are clear errors', () => {
  const four = join(tmp, 'four.nii.gz');
  writeNifti(four, createVolume(new Float32Array(70 * 70 * 4 * 2).fill(1), [70, 70, 4, 2]));
  const out = join(tmp, 'x.nii.gz');
  const r4 = cli('--truth', four, '--modality', 'mri', '--model', modelDir(), '--out', out);
  assert.equal(r4.status, 1, r4.stderr);
  assert.match(r4.stderr, /4-D.*\[70, 70, 4, 2\].*--volume/);
  assert.equal(r4.stderr.trim().split('\n').length, 1);

  const small = join(tmp, 'small.nii');
  writeNifti(small, createVolume(new Float32Array(32 * 40 * 6).fill(1), [32, 40, 6]));
  const rs = cli('--truth', small, '--modality', 'ct', '--views', '20', '--model', modelDir(), '--out', out);
  assert.equal(rs.status, 1, rs.stderr);
  assert.match(rs.stderr, /32x40 is too small for the 64x64 prior/);

  const rm = cli('--truth', small, '--modality', 'pet', '--out', out);
  assert.equal(rm.status, 2);
  assert.match(rm.stderr, /unknown modality "pet"/);
  const ra = cli('--truth', small, '--modality', 'ct', '--accel', '4', '--out', out);
  assert.equal(ra.status, 2);
  assert.match(ra.stderr, /--accel and --mask are for --modality mri/);
  assert.ok(!existsSync(out), 'no output written on errors');
});

test('tweedie reconstruct --measurement / --mask-file: NPY k-space reproduces the simulated run, with or without --truth', () => {
  const input = ch2(), vol = readNifti(input);
  const m = sliceMapping(vol, 64, readSplit(modelDir()));
  const op = buildOperator(operatorConfig({ modality: 'mri', acceleration: 4, noise: 0.01 }), [1, 64, 64]);
  /** The scan the simulation makes of slices zs: slice z measured with the noise of sample z (seed 0). */
  const scan = (zs: number[]) => {
    const truth = modelSlices(vol, m, zs), y = new Tensor([zs.length, 64, 64, 2]);
    zs.forEach((z, k) => y.data.set(op.measure(truth.sliceBatch(k, k + 1), new NoiseSource(0, z)).data, k * 8192));
    return y;
  };
  const y = scan([70, 71]), first = scan([0, 1]);
  // The first slices again as re and im planes [Z, 2, H, W].
  const planes = new Tensor([2, 2, 64, 64]);
  for (let k = 0; k < 2; k++) {
    for (let i = 0; i < 4096; i++) {
      planes.data[k * 8192 + i] = first.data[k * 8192 + 2 * i]!;
      planes.data[k * 8192 + 4096 + i] = first.data[k * 8192 + 2 * i + 1]!;
    }
  }
  const files = { y: join(tmp, 'y.npy'), planes: join(tmp, 'planes.npy'), cols: join(tmp, 'cols.npy'), bad: join(tmp, 'bad.npy') };
  writeNpy(files.y, y);
  writeNpy(files.planes, planes);
  writeNpy(files.cols, Tensor.from([64], equispacedLineMask(64, 4, { centerFraction: 0.08 }).columns));
  writeNpy(files.bad, new Tensor([2, 64, 64]));
  const common = ['--modality', 'mri', '--steps', '4', '--workers', '1', '--model', modelDir(), '--json'];
  const run = (out: string, ...args: string[]) => {
    const r = cli(...common, '--out', join(tmp, out), ...args);
    assert.equal(r.status, 0, r.stderr);
    return { s: JSON.parse(r.stdout), v: readNifti(join(tmp, out)) };
  };
  const sim = run('sim.nii.gz', '--truth', input, '--slices', '70:72');
  const meas = run('meas.nii.gz', '--truth', input, '--slices', '70:72', '--measurement', files.y);
  assert.deepEqual(meas.v.data, sim.v.data);
  assert.equal(meas.s.psnr, sim.s.psnr);
  const file = run('maskfile.nii.gz', '--truth', input, '--slices', '70:72', '--mask-file', files.cols);
  assert.deepEqual(file.v.data, sim.v.data);
  // Without --truth the file's slices are numbered 0.., so they match simulated slices 0 and 1.
  run('sim0.nii.gz', '--truth', input, '--slices', '0:2', '--out-model', join(tmp, 'sim0-model.nii.gz'));
  const bare = run('bare.nii.gz', '--measurement', files.planes);
  assert.equal(bare.s.psnr, null);
  assert.deepEqual(bare.v.dims, [64, 64, 2]);
  assert.deepEqual(bare.v.data, readNifti(join(tmp, 'sim0-model.nii.gz')).data);
  const bad = cli(...common, '--out', join(tmp, 'x.nii.gz'), '--measurement', files.bad);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--measurement \S*bad\.npy has shape \[2, 64, 64\], which does not fit mri.*give k-space \[Z, 64, 64, 2\]/);
  const notFull = cli('--modality', 'mri', '--model', modelDir(), '--out', join(tmp, 'x.nii.gz'), '--measurement', files.y, '--mask', 'active', '--steps', '30');
  assert.equal(notFull.status, 1);
  assert.match(notFull.stderr, /fully sampled k-space.*empty columns/);
});

test('tweedie reconstruct --mask active: each slice gets its own lines, exactly W/R, better than zero-filled', () => {
  const r = cli('--truth', ch2(), '--modality', 'mri', '--mask', 'active', '--accel', '8', '--particles', '2', '--steps', '14',
    '--slices', '70:72', '--workers', '2', '--batch', '1', '--model', modelDir(), '--out', join(tmp, 'active.nii.gz'), '--json');
  assert.equal(r.status, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.lines.length, 2);
  for (const l of s.lines) {
    assert.equal(l.columns.length, 8);
    assert.equal(l.order.length, 5);
    for (const c of [31, 32, 33]) assert.ok(l.columns.includes(c), `slice ${l.z}: centre line ${c}`);
  }
  assert.equal(s.model_calls, 2 * 14);
  assert.match(s.operator, /active: 8 of 64 lines from 3 centre lines, 2 particles/);
  assert.ok(s.psnr > s.psnr_baseline + 1, `PSNR ${s.psnr} vs zero-filled ${s.psnr_baseline}`);
});

test('the workers get the operator as a structured config: a mask file is read once, and its path may hold "," and "="', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tweedie-mask-'));
  const cols = new Tensor([64], Float32Array.from({ length: 64 }, (_, i) => (i % 4 === 0 || (i >= 28 && i < 36) ? 1 : 0)));
  const odd = join(dir, 'mask,accel=8.npy');
  writeNpy(odd, cols);
  const config = structuredClone(operatorConfig({ modality: 'mri', maskFile: odd, noise: 0.01 }));
  const x = new NoiseSource(3).normal([1, 1, 64, 64], 0);
  const viaConfig = buildOperator(config, [1, 64, 64]).forward(x);
  writeNpy(join(dir, 'plain.npy'), cols);
  const viaSpec = parseOperatorSpec('mri:mask=plain.npy,noise=0.01', [1, 64, 64], { baseDir: dir }).forward(x);
  assert.deepEqual(Array.from(viaConfig.data), Array.from(viaSpec.data));
});
