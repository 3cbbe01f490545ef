// One mapping of a user's image into a restoration model's space (src/volume/input-mapping.ts), taken by
// `tweedie restore` (and so by a server's restore job, which runs it) and by the app's in-browser task (runTask): the
// same input gives the same restored result in the three. Inputs that tell the old mappings apart: ch2's native
// 181x217 slices in units that are not [0, 1] (the CLI took 64x64 slices only, mapped from the volume's [min, max]), and
// a PNG whose brightest pixels are far below 255 (the page mapped a PNG by its own 99.5th percentile).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTask, type TaskRequest } from '../src/app/browser-tasks.js';
import { imageVolume } from '../src/app/open-volume.js';
import { serverResultVolume } from '../src/app/server-result.js';
import { fillNormal } from '../src/core/rng.js';
import { readNifti, writeNifti } from '../src/io/nifti.js';
import { readNpy } from '../src/io/npy.js';
import { encodePng } from '../src/io/png.js';
import { createVolume, type Volume } from '../src/io/volume.js';
import { OnnxDenoiser } from '../src/models/onnx.js';
import { boundaryNoise } from '../src/restoration/boundary-file.js';
import { readSplit } from '../src/volume/split-file.js';
import { nibabelRead } from './helpers/nibabel.js';

const dir = mkdtempSync(join(tmpdir(), 'tweedie-restore-mapping-'));
const MODEL = 'weights/brain-irsde', CH2 = '/usr/share/mricron/templates/ch2.nii.gz';
const STEPS = 10, SEED = 1;

const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/tweedie.js', 'restore', '--model', MODEL, '--steps', String(STEPS), '--seed', String(SEED), '--threads', '1', ...args], { encoding: 'utf8' });

let loaded: Promise<OnnxDenoiser> | null = null;
/** The app's in-browser task, run in Node on the native ONNX Runtime with the files the page would fetch. */
async function inApp(request: Partial<TaskRequest> & { volume: Volume; slices: [number, number] }) {
  loaded ??= OnnxDenoiser.load(MODEL, { threads: 1, backend: 'cpu' });
  return runTask({ task: 'restore', modelName: MODEL, steps: STEPS, seed: SEED, simulate: false, ...request }, {
    model: await loaded, split: readSplit(MODEL, 'weights/brain-64/split.json'), boundaryNoise: async (b) => boundaryNoise(MODEL, b), onProgress: () => {},
  });
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

/**
 * Slices 88..91 of ch2 (181x217 each) scaled by 3.7, with noise of sd 0.28 p from seed 5, and the clean ones (the model
 * space area-averages about 3 x 3 voxels into a pixel, so the noise there is nearer brain-irsde's denoise task).
 */
function ch2Slab(): { noisy: string; clean: string; vol: Volume } {
  const ch2 = readNifti(CH2), [X, Y] = ch2.dims as [number, number], plane = X * Y, Z0 = 88, Z = 4;
  const clean = Float32Array.from(ch2.data.subarray(Z0 * plane, (Z0 + Z) * plane), (v) => 3.7 * v);
  const p = Float32Array.from(clean).sort()[Math.floor(0.995 * clean.length)]!;
  const noise = new Float64Array(clean.length);
  fillNormal(noise, 0, noise.length, 5, 0, 0);
  // Slice 88 of ch2 sits at voxel z = 88: the slab's affine moves the origin by 88 steps of the third column.
  const affine = ch2.affine.map((row) => [row[0]!, row[1]!, row[2]!, row[3]! + Z0 * row[2]!]);
  const noisy = createVolume(Float32Array.from(clean, (v, i) => v + 0.28 * p * noise[i]!), [X, Y, Z], { affine });
  const files = { noisy: join(dir, 'ch2-noisy.nii.gz'), clean: join(dir, 'ch2-clean.nii.gz') };
  writeNifti(files.noisy, noisy);
  writeNifti(files.clean, createVolume(clean, [X, Y, Z], { affine }));
  return { ...files, vol: readNifti(files.noisy) };
}

test('tweedie restore on native 181x217 slices (--slices 1:3): the input grid and geometry, = the app\'s task and its server mode within float32', async (t) => {
  const slab = ch2Slab(), out = join(dir, 'restored.nii.gz');
  const r = cli('--input', slab.noisy, '--slices', '1:3', '--truth', slab.clean, '--out', out, '--json');
  assert.equal(r.status, 0, r.stderr);
  const json = JSON.parse(r.stdout) as { n: number; slices: number[]; figures_grid: string; psnr: number; psnr_baseline: number; ssim: number; ssim_baseline: number };
  assert.deepEqual([json.n, json.slices, json.figures_grid], [2, [1, 3], 'model']);
  // Measured in model space against the clean slab mapped the input's way; restoring must beat the noisy input.
  assert.ok(json.psnr > json.psnr_baseline && json.ssim > json.ssim_baseline, r.stdout);

  const ours = readNifti(out), nib = nibabelRead(out);
  assert.deepEqual(ours.dims, [181, 217, 4]);
  assert.deepEqual(nib.dims, [181, 217, 4]);
  for (const a of [ours.affine, nib.affine]) assert.ok(maxDiff(a.flat(), slab.vol.affine.flat()) < 1e-4, `affine ${JSON.stringify(a)}`);
  const plane = 181 * 217;
  assert.ok(ours.data.subarray(0, plane).every((v) => v === 0) && ours.data.subarray(3 * plane).every((v) => v === 0), 'slices outside --slices are 0');

  const app = await inApp({ volume: slab.vol, slices: [1, 3] });
  const served = await serverResultVolume({ name: 'restored.nii.gz', bytes: readFileSync(out) }, slab.vol, [1, 3], [-1, 1]);
  const scale = app.volume.data.reduce((m, v) => Math.max(m, v), 0);
  const d = maxDiff(app.volume.data, ours.data), ds = maxDiff(served.data, app.volume.data);
  t.diagnostic(`max |app - cli| ${d.toExponential(2)}, |server mode - app| ${ds.toExponential(2)} of a maximum ${scale.toFixed(1)}; PSNR ${json.psnr_baseline.toFixed(2)} -> ${json.psnr.toFixed(2)} dB`);
  assert.ok(scale > 100, 'the restored slices hold the brain');
  assert.ok(d < 1e-4 * scale && ds < 1e-4 * scale, `app vs cli ${d}, server mode vs app ${ds}`);
});

test('a PNG far from saturation: the page\'s task and its server mode (tweedie restore, .npy back to grey levels) agree', async (t) => {
  const h = readNpy('weights/brain-64/heldout.npy'), noise = new Float64Array(4096);
  fillNormal(noise, 0, 4096, 11, 0, 0);
  const gray = Uint8Array.from({ length: 4096 }, (_, i) => Math.round(Math.min(255, Math.max(0, (0.55 * 255 * (Number(h.data[i]) + 0.2 * noise[i]! + 1)) / 2))));
  assert.ok(Math.max(...gray) < 200, 'the brightest pixel is far below 255, so a percentile rule would rescale the image');
  const file = join(dir, 'dim.png'), npy = join(dir, 'dim.npy');
  writeFileSync(file, encodePng({ width: 64, height: 64, channels: 1, data: gray }));
  const r = cli('--input', file, '--out', npy, '--json');
  assert.equal(r.status, 0, r.stderr);
  const page = imageVolume(Float32Array.from(gray), 64, 64, 'dim.png');
  const served = await serverResultVolume({ name: 'restored.npy', bytes: readFileSync(npy) }, page, [0, 1], [-1, 1]);
  const app = await inApp({ volume: page, slices: [0, 1], image: { channels: 1 } });
  const d = maxDiff(app.volume.data, served.data);
  t.diagnostic(`max |browser - server| ${d.toExponential(2)} grey levels`);
  assert.deepEqual(app.volume.dims, [64, 64, 1]);
  assert.ok(d < 1e-3, `browser vs server: ${d} grey levels`);
});

test('bad input is one line naming it and the fix, the same in the CLI and the app', async () => {
  const slab = ch2Slab();
  const oneLine = (stderr: string, re: RegExp) => assert.match(stderr, new RegExp(`^tweedie restore: [^\\n]*${re.source}[^\\n]*\\n$`));
  const range = /--slices 2:9 is outside .*ch2-noisy\.nii\.gz's third axis 0\.\.4 \(give A:B with 0 <= A < B <= 4\)/;
  oneLine(cli('--input', slab.noisy, '--slices', '2:9', '--out', join(dir, 'o.nii.gz')).stderr, range);
  await assert.rejects(inApp({ volume: slab.vol, slices: [2, 9] }), range);

  const wide = join(dir, 'wide.png');
  writeFileSync(wide, encodePng({ width: 96, height: 80, channels: 1, data: new Uint8Array(96 * 80).fill(90) }));
  const size = /is \[1, 80, 96\] but weights\/brain-irsde restores \[1, 64, 64\] images; resize it to 64x64/;
  oneLine(cli('--input', wide, '--out', join(dir, 'o.npy')).stderr, size);
  await assert.rejects(inApp({ volume: imageVolume(new Float32Array(96 * 80).fill(90), 96, 80, 'wide.png'), slices: [0, 1], image: { channels: 1 } }), size);

  const rgb = join(dir, 'rgb.png');
  writeFileSync(rgb, encodePng({ width: 64, height: 64, channels: 3, data: Uint8Array.from({ length: 3 * 4096 }, (_, i) => (i % 3) * 60) }));
  const colour = /has 3 channels but weights\/brain-irsde restores 1-channel images; convert the image \(e\.g\. to grayscale\)/;
  oneLine(cli('--input', rgb, '--out', join(dir, 'o.npy')).stderr, colour);
  await assert.rejects(inApp({ volume: imageVolume(new Float32Array(4096).fill(60), 64, 64, 'rgb.png'), slices: [0, 1], image: { channels: 3 } }), colour);

  // CT in HU: the model-space rule takes the background at 0 (as reconstruct and the page do); the line says to shift it.
  const hu = join(dir, 'hu.nii.gz'), huVol = createVolume(Float32Array.from(slab.vol.data, (v) => v - 1000), slab.vol.dims, { affine: slab.vol.affine, source: 'hu.nii.gz' });
  writeNifti(hu, huVol);
  const positive = /hu\.nii\.gz: the 99\.5th percentile of the intensities is -\d.*needs positive intensities .*shift the volume so that its background is 0/;
  oneLine(cli('--input', hu, '--out', join(dir, 'o.nii.gz')).stderr, positive);
  await assert.rejects(inApp({ volume: huVol, slices: [0, 4] }), positive);

  oneLine(cli('--input', slab.noisy, '--upscale', '2', '--out', join(dir, 'o.npy')).stderr, /--upscale 2 is for a \.npy or \.png --input; .* drop --upscale/);
  oneLine(cli('--input', wide, '--slices', '0:1', '--out', join(dir, 'o.npy')).stderr, /--slices picks slices of a volume; .*wide\.png is not NIfTI or DICOM: drop --slices/);
});
