// The app in its "on a tweedie server" mode (a real `tweedie serve`, in Chromium) beyond MRI from a NIfTI
// (test/web-server-mode.test.ts): a PNG restored on the server, a native-size volume restored on the server and in the
// browser (one mapping, src/volume/input-mapping.ts), CT from a NIfTI, and a fastMRI .h5 file. Each result
// is compared with what the CLI writes from the same file and options, and the page's downloads are read back by our
// readers and by independent ones (nibabel for NIfTI, pydicom for the DICOM series in the ZIP).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pydicomOracle } from '../bench/lib/dicom-tools.js';
import { TOKEN } from '../bench/lib/service-procs.js';
import { form, useServedApp, waitStatus } from './helpers/app-page.js';
import { heldoutNifti } from './helpers/heldout-nifti.js';
import { nibabelRead } from './helpers/nibabel.js';
import { noisySlicePng } from './helpers/noisy-png.js';
import { readNifti, writeNifti } from '../src/io/nifti.js';
import { createVolume } from '../src/io/volume.js';
import { readNpy } from '../src/io/npy.js';

const ORACLE = fileURLToPath(new URL('../../test/helpers/dicom_oracle.py', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'tweedie-server-tasks-'));
const app = useServedApp(dir);

const cli = (...args: string[]) => {
  const r = spawnSync(process.execPath, ['bin/tweedie.js', ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
};

/** Open `files`, set the form, run on the server; the finished status line. */
async function runOnServer(files: string | string[], fields: Record<string, string>): Promise<string> {
  await app.page.setInputFiles('#file', files);
  await waitStatus(app.page, /^ready/, 120_000);
  await form(app.page, { ...fields, where: 'server', token: TOKEN });
  await app.page.click('#run');
  const done = await waitStatus(app.page, /^(done|Could not|stopped)/);
  assert.equal(done.error, false, `${done.text}\nserver log: ${app.server.log()}`);
  assert.match(done.text, /^done: job [0-9a-f-]{36}, /);
  return done.text;
}

/** Click a download button and save the file under `name` in the test folder. */
async function download(button: string, name: string): Promise<string> {
  const [d] = await Promise.all([app.page.waitForEvent('download'), app.page.click(button)]);
  const file = join(dir, name);
  await d.saveAs(file);
  return file;
}

/** The page's NIfTI download, read by readNifti and by nibabel: the same dims, affine and voxels from both. */
async function niftiDownload(name: string): Promise<{ data: Float32Array; dims: number[]; affine: number[][] }> {
  const file = await download('#saveNifti', name);
  const ours = readNifti(file), nib = nibabelRead(file);
  assert.deepEqual(nib.dims, ours.dims.slice(0, 3));
  assert.deepEqual(nib.affine.flat().map((v) => +v.toFixed(5)), ours.affine.flat().map((v) => +v.toFixed(5)));
  assert.deepEqual(nib.data, Float64Array.from(ours.data));
  return { data: ours.data as Float32Array, dims: ours.dims, affine: ours.affine };
}

test('denoise a PNG on the server: the job is `tweedie restore` of the PNG (optimal boundary), read back in grey levels', async (t) => {
  const png = noisySlicePng(dir);
  const status = await runOnServer(png.file, { task: 'denoise', simulate: 'no', boundary: '', steps: '10', seed: '1', range: 'one' });
  const out = join(dir, 'restore-cli.npy');
  const json = JSON.parse(cli('restore', '--model', 'weights/brain-irsde', '--input', png.file, '--steps', '10', '--seed', '1', '--out', out, '--json')) as { boundary: string };
  assert.equal(json.boundary, 'optimal');
  const x = readNpy(out), web = await niftiDownload('restore-web.nii');
  assert.deepEqual(web.dims, [64, 64, 1]);
  // The page's volume holds PNG row r at y = 63 - r, in grey levels g = 255 (x + 1) / 2 of the restored x in [-1, 1].
  let d = 0;
  for (let i = 0; i < 4096; i++) {
    const g = (255 * (Math.min(1, Math.max(-1, Number(x.data[i]))) + 1)) / 2;
    d = Math.max(d, Math.abs(web.data[(63 - Math.floor(i / 64)) * 64 + (i % 64)]! - g));
  }
  t.diagnostic(`${status}; max |download - cli| ${d.toExponential(2)} grey levels`);
  // The server ran the CLI's code on this machine; what is left is the float32 rounding of the grey-level map.
  assert.ok(d < 1e-3, `server restore vs cli: ${d} grey levels`);
});

test('a volume of native 181x217 slices in scanner units: restored on the server and in this browser, the same NIfTI within float32', async (t) => {
  // Two ch2 slices times 3.7: neither [0, 1] nor the model's range, nor 64 x 64; both modes take the model-space path.
  const ch2 = readNifti('/usr/share/mricron/templates/ch2.nii.gz'), plane = 181 * 217, file = join(dir, 'ch2-two.nii.gz');
  writeNifti(file, createVolume(Float32Array.from(ch2.data.subarray(90 * plane, 92 * plane), (v) => 3.7 * v), [181, 217, 2], { affine: ch2.affine }));
  const fields = { task: 'denoise', simulate: 'no', boundary: '', steps: '10', seed: '1', range: 'one' };
  const status = await runOnServer(file, fields);
  const served = await niftiDownload('ch2-server.nii');
  await form(app.page, { ...fields, where: 'browser' });
  await app.page.click('#run');
  const done = await waitStatus(app.page, /^(done|Could not|stopped)/);
  assert.equal(done.error, false, done.text);
  const web = await niftiDownload('ch2-browser.nii');
  assert.deepEqual(served.dims, [181, 217, 2]);
  assert.deepEqual(web.dims, served.dims);
  assert.deepEqual(web.affine, served.affine);
  let d = 0, top = 0;
  for (let i = 0; i < web.data.length; i++) (d = Math.max(d, Math.abs(web.data[i]! - served.data[i]!))), (top = Math.max(top, served.data[i]!));
  t.diagnostic(`${status}; ${done.text}; max |browser - server| ${d.toExponential(2)} of a maximum ${top.toFixed(1)}`);
  assert.ok(top > 100 && served.data.subarray(0, plane).every((v) => v === 0), 'the shown slice (1) holds the brain, slice 0 was not restored');
  // wasm and native ONNX Runtime round float32 sums in different orders (test/web-restore.test.ts): 1e-4 of the maximum.
  assert.ok(d < 1e-4 * top, `browser vs server: ${d}`);
});

test('CT on the server (30 views, dds 3 steps, one slice): the NIfTI and the DICOM series ZIP are what `tweedie reconstruct` writes', async (t) => {
  const file = heldoutNifti(dir, 4);
  const status = await runOnServer(file, { task: 'ct', views: '30', steps: '3', seed: '0', range: 'one' });
  // range "one" is the shown slice, the middle one: 2 of 0..3.
  const args = ['reconstruct', '--truth', file, '--modality', 'ct', '--views', '30', '--steps', '3', '--seed', '0', '--slices', '2:3'];
  const out = join(dir, 'ct-cli.nii'), outDicom = join(dir, 'ct-cli-dicom');
  cli(...args, '--out', out);
  cli(...args, '--out', `${outDicom}/`);
  const web = await niftiDownload('ct-web.nii'), node = readNifti(out);
  assert.deepEqual(web.dims, node.dims);
  assert.deepEqual(web.affine, node.affine);
  // The same command line on the same machine: the same float32 operations, so no tolerance.
  assert.deepEqual(web.data, node.data);
  t.diagnostic(status);

  const zip = await download('#saveSeries', 'ct-web.zip'), unzipped = join(dir, 'ct-web-dicom');
  mkdirSync(unzipped);
  const unzip = spawnSync('unzip', ['-q', zip, '-d', unzipped], { encoding: 'utf8' });
  assert.equal(unzip.status, 0, unzip.stderr);
  const decode = (folder: string, name: string) => {
    const npy = join(dir, `${name}.npy`);
    pydicomOracle(ORACLE, ['decode', npy, ...readdirSync(folder).sort().map((f) => join(folder, f))]);
    return readNpy(npy);
  };
  const ours = decode(unzipped, 'ct-web-dicom'), theirs = decode(outDicom, 'ct-cli-dicom');
  assert.deepEqual(ours.shape, [4, 64, 64]);
  assert.deepEqual(ours.data, theirs.data, 'pydicom reads the same rescaled pixels from the page\'s series as from the CLI\'s');
});

test('a fastMRI .h5 file on the server: the job is `tweedie reconstruct --measurement` (4x equispaced, dds), with its figures', async (t) => {
  const h5 = join('test', 'fixtures', 'fastmri', 'ch2_8coil.h5');
  const status = await runOnServer(h5, { task: 'mri', mask: 'equispaced', accel: '4', steps: '3', seed: '0', range: 'all' });
  const out = join(dir, 'kspace-cli.nii');
  const json = JSON.parse(cli('reconstruct', '--measurement', h5, '--accel', '4', '--mask', 'equispaced', '--steps', '3', '--seed', '0', '--out', out, '--json')) as { psnr: number; ssim: number; psnr_zero_filled: number };
  const web = await niftiDownload('kspace-web.nii'), node = readNifti(out);
  assert.deepEqual(web.dims, node.dims);
  assert.deepEqual(web.data, node.data);
  const figures = await app.page.$eval('#figures', (el) => el.textContent ?? '');
  t.diagnostic(`${status}; page: ${figures}`);
  assert.match(figures, new RegExp(`^PSNR ${json.psnr.toFixed(2)} dB, SSIM ${json.ssim.toFixed(4)} \\(zero-filled: ${json.psnr_zero_filled.toFixed(2)} dB`));
});

test('a k-space file restored on the server, or a PNG reconstructed there, is one sentence', async () => {
  await form(app.page, { task: 'denoise', simulate: 'no' });
  await app.page.click('#run');
  const s = await waitStatus(app.page, /^(done|Could not)/, 60_000);
  assert.equal(s.error, true);
  assert.match(s.text, /^Could not run: a fastMRI k-space file is reconstructed, not restored/);
  await app.page.setInputFiles('#file', noisySlicePng(dir).file);
  await waitStatus(app.page, /^ready/, 60_000);
  await form(app.page, { task: 'mri', where: 'server', token: TOKEN });
  await app.page.click('#run');
  const png = await waitStatus(app.page, /^(done|Could not)/, 60_000);
  assert.equal(png.text, 'Could not run: the server reconstructs a NIfTI file or a DICOM series; a PNG is restored (denoise, super-resolve, deblur) there, or reconstructed in this browser');
});
