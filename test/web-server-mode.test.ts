// The app as `tweedie serve` serves it (embedded queue, token from TWEEDIE_TOKEN, a temporary --data folder, a free
// port), in Chromium, in its "on a tweedie server" mode: the held-out NIfTI is uploaded, MRI 4x runs as a job, and
// the downloaded NIfTI is the one `tweedie reconstruct` writes from the same file (and from a DICOM series pydicom wrote,
// uploaded as its files); Stop cancels the job; a wrong token is one sentence.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { pydicomOracle } from '../bench/lib/dicom-tools.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { api, TOKEN, untilState } from '../bench/lib/service-procs.js';
import { form, useServedApp, waitStatus } from './helpers/app-page.js';
import { heldoutNifti } from './helpers/heldout-nifti.js';
import { readNifti } from '../src/io/nifti.js';

const ORACLE = fileURLToPath(new URL('../../test/helpers/dicom_oracle.py', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'tweedie-server-mode-'));
const SLICES = 4, STEPS = 10;
const app = useServedApp(dir);

test('MRI 4x in server mode: the downloaded NIfTI is bit for bit the one `tweedie reconstruct` writes from the same file', async (t) => {
  const file = heldoutNifti(dir, SLICES);
  await app.page.setInputFiles('#file', file);
  await waitStatus(app.page, /^ready/, 60_000);
  await form(app.page, { task: 'mri', mask: 'equispaced', accel: '4', steps: String(STEPS), seed: '0', range: 'all', where: 'server', token: TOKEN });
  await app.page.click('#run');
  const done = await waitStatus(app.page, /^(done|Could not|stopped)/);
  assert.equal(done.error, false, `${done.text}\nserver log: ${app.server.log()}`);
  const origin = new URL(app.server.url).origin;
  assert.match(done.text, new RegExp(`^done: job [0-9a-f-]{36}, NFE \\d+, [\\d.]+ s on ${origin.replace(/\./g, '\\.')}$`));
  const [download] = await Promise.all([app.page.waitForEvent('download'), app.page.click('#saveNifti')]);
  const saved = join(dir, download.suggestedFilename());
  await download.saveAs(saved);

  // The same command line the job ran (jobArgv), on the same machine: the same float32 operations, so no tolerance.
  const out = join(dir, 'node.nii');
  const cli = spawnSync(process.execPath, ['bin/tweedie.js', 'reconstruct', '--truth', file, '--modality', 'mri', '--accel', '4', '--mask', 'equispaced', '--steps', String(STEPS),
    '--seed', '0', '--slices', `0:${SLICES}`, '--out', out, '--json'], { encoding: 'utf8' });
  assert.equal(cli.status, 0, cli.stderr);
  const web = readNifti(saved), node = readNifti(out), input = readNifti(file);
  assert.deepEqual(web.dims, input.dims);
  assert.deepEqual(web.affine, input.affine);
  assert.deepEqual(web.data, node.data);
  const json = JSON.parse(cli.stdout) as { psnr: number; ssim: number };
  const figures = await app.page.$eval('#figures', (el) => el.textContent ?? '');
  t.diagnostic(`${done.text}; page: ${figures}; node PSNR ${json.psnr.toFixed(3)} dB, SSIM ${json.ssim.toFixed(4)}`);
  assert.match(figures, new RegExp(`^PSNR ${json.psnr.toFixed(2)} dB, SSIM ${json.ssim.toFixed(4)} \\(zero-filled`), 'the page shows the figures of the job');
});

test('the DICOM download works from tweedie serve too (the writer\'s dcmjs is among the files it serves): dcmtk reads the slice', async () => {
  const [dcm] = await Promise.all([app.page.waitForEvent('download'), app.page.click('#saveDicom')]);
  const file = join(dir, dcm.suggestedFilename());
  await dcm.saveAs(file);
  const dump = spawnSync('dcmdump', ['+P', 'Rows', '+P', 'Columns', file], { encoding: 'utf8' });
  assert.equal(dump.status, 0, dump.stderr);
  assert.match(dump.stdout, /\(0028,0010\) US 64/);
});

test('a DICOM series in server mode: its files are uploaded as one series, and the NIfTI is the one `tweedie reconstruct` writes from the folder', async () => {
  const series = join(dir, 'series');
  mkdirSync(series);
  pydicomOracle(ORACLE, ['series', series, '3']);
  const files = readdirSync(series).sort().map((f) => join(series, f));
  await app.page.setInputFiles('#file', files);
  await waitStatus(app.page, /^ready/, 60_000);
  await form(app.page, { task: 'mri', mask: 'equispaced', accel: '4', steps: '3', seed: '0', range: 'all', where: 'server', token: TOKEN });
  await app.page.click('#run');
  const done = await waitStatus(app.page, /^(done|Could not|stopped)/);
  assert.equal(done.error, false, `${done.text}\nserver log: ${app.server.log()}`);
  const [download] = await Promise.all([app.page.waitForEvent('download'), app.page.click('#saveNifti')]);
  const saved = join(dir, `dicom-${download.suggestedFilename()}`);
  await download.saveAs(saved);
  const out = join(dir, 'dicom-node.nii');
  const cli = spawnSync(process.execPath, ['bin/tweedie.js', 'reconstruct', '--truth', series, '--modality', 'mri', '--accel', '4', '--mask', 'equispaced', '--steps', '3',
    '--seed', '0', '--slices', '0:3', '--out', out], { encoding: 'utf8' });
  assert.equal(cli.status, 0, cli.stderr);
  const web = readNifti(saved), node = readNifti(out);
  assert.deepEqual(web.dims, node.dims);
  assert.deepEqual(web.data, node.data);
});

test('Stop in server mode cancels the job on the server (DELETE /jobs/:id): the job ends cancelled with no results', async () => {
  await form(app.page, { where: 'server', token: TOKEN, steps: '400', range: 'all' });
  await app.page.click('#run');
  await waitStatus(app.page, /step [1-9]\d* \/ \d+/);
  await app.page.click('#stop');
  const s = await waitStatus(app.page, /^stopped/, 30_000);
  assert.equal(s.error, false);
  const { jobs } = (await (await api(app.server.url, '/jobs')).json()) as { jobs: { id: string; state: string }[] };
  const stopped = jobs.at(-1)!;
  const final = await untilState(app.server.url, stopped.id, ['cancelled', 'done', 'failed'], 30_000);
  assert.equal(final.state, 'cancelled');
  assert.deepEqual(final.results, []);
  assert.equal(await app.page.$eval('#saveNifti', (b) => (b as unknown as { disabled: boolean }).disabled), true);
});

test('server mode with a wrong token: one human sentence in the page, no result', async () => {
  await form(app.page, { where: 'server', token: 'wrong-token-0123456789abcdef', steps: '2' });
  await app.page.click('#run');
  const s = await waitStatus(app.page, /^(done|Could not|stopped)/, 60_000);
  assert.equal(s.error, true);
  assert.equal(s.text, `Could not run: the server at ${new URL(app.server.url).origin} refused the token; paste the token it was started with (TWEEDIE_TOKEN)`);
  assert.equal(await app.page.$eval('#saveNifti', (b) => (b as unknown as { disabled: boolean }).disabled), true);
});
