// The app (web/index.html) in Chromium opens a fastMRI .h5 file (h5wasm through the page's import map) and
// reconstructs it in its Web Worker with the same code and defaults as `tweedie reconstruct --measurement FILE.h5`;
// the result must equal the CLI's within float32 rounding (wasm vs native ONNX Runtime), and the page shows the
// CLI's figures. The file was written by h5py (training/fastmri_file.py), not by us.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { form, openAppPage, waitStatus } from './helpers/app-page.js';
import { readNifti } from '../src/io/nifti.js';

const FIX = join('test', 'fixtures', 'fastmri');
const FULL = join(FIX, 'ch2_8coil.h5');
const STEPS = 10;
const cleanup: (() => unknown)[] = [];
after(async () => {
  for (const f of cleanup.reverse()) await f();
});

let page: Promise<Page> | null = null;
function openApp(): Promise<Page> {
  page ??= openAppPage(cleanup);
  return page;
}

test('a fastMRI .h5 file reconstructs in the browser as `tweedie reconstruct --measurement` does (4x equispaced, dds)', async (t) => {
  const p = await openApp();
  await p.setInputFiles('#file', FULL);
  await waitStatus(p, /^ready/, 120_000);
  assert.match(await p.$eval('#info', (el) => el.textContent ?? ''), /^ch2_8coil\.h5: 64 x 64 x 2 voxels .*raw k-space of 8 coils, fully sampled/);
  await form(p, { task: 'mri', mask: 'equispaced', accel: '4', steps: String(STEPS), seed: '0', range: 'all', where: 'browser' });
  await p.click('#run');
  const done = await waitStatus(p, /^(done|Could not|stopped)/);
  assert.equal(done.error, false, done.text);
  const web = Float32Array.from(await p.evaluate(() => Array.from((globalThis as unknown as { app: { result(): { data: Float32Array } } }).app.result().data)));
  const figures = await p.$eval('#figures', (el) => el.textContent ?? '');

  const out = join(mkdtempSync(join(tmpdir(), 'tweedie-web-kspace-')), 'node.nii');
  const cli = spawnSync(process.execPath, ['bin/tweedie.js', 'reconstruct', '--measurement', FULL, '--accel', '4', '--mask', 'equispaced', '--steps', String(STEPS),
    '--seed', '0', '--threads', '1', '--out', out, '--json'], { encoding: 'utf8' });
  assert.equal(cli.status, 0, cli.stderr);
  const json = JSON.parse(cli.stdout) as { psnr: number; ssim: number; psnr_zero_filled: number; scale: number };
  const node = readNifti(out);
  assert.deepEqual(node.dims, [64, 64, 2]);
  assert.equal(web.length, node.data.length);
  let d = 0;
  for (let i = 0; i < web.length; i++) d = Math.max(d, Math.abs(web[i]! - node.data[i]!));
  // x_file = s (x + 1) / 2: a difference d in file units is 2 d / s in model units.
  const dModel = (2 * d) / json.scale;
  t.diagnostic(`2 slices, dds ${STEPS} steps: max |browser - node| ${d.toExponential(2)} file units = ${dModel.toExponential(2)} model units; node PSNR ${json.psnr.toFixed(3)} dB; page: ${figures}; ${done.text}`);
  // As test/web-app.test.ts: wasm and native ONNX Runtime round float32 sums differently, a few ulps per model call.
  assert.ok(dModel < 1e-4, `browser vs node: ${dModel} model units`);
  assert.match(figures, new RegExp(`^PSNR ${json.psnr.toFixed(2)} dB, SSIM ${json.ssim.toFixed(4)} \\(zero-filled: ${json.psnr_zero_filled.toFixed(2)} dB`));
});

test('an HDF5 file without kspace is refused in one sentence naming what it holds', async () => {
  const p = await openApp();
  await p.setInputFiles('#file', join(FIX, 'bad', 'no_kspace.h5'));
  const s = await waitStatus(p, /^Could not open/, 60_000);
  assert.equal(s.error, true);
  assert.match(s.text, /no_kspace\.h5 holds no "kspace" dataset \(it has "ismrmrd_header", "reconstruction_rss"\)/);
});
