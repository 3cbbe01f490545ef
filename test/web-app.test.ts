// The app (web/index.html) in a real browser (Debian's chromium through playwright-core), driven through its form:
// open a held-out NIfTI, reconstruct MRI 4x in the page's Web Worker and compare with `tweedie reconstruct` in Node,
// download the NIfTI and read it back, stop a run, refuse bad input, and make no request but the app's own files.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page, Request } from 'playwright-core';
import { launchChromium, serveWeb } from './helpers/browser.js';
import { heldoutNifti as heldoutNiftiIn, P } from './helpers/heldout-nifti.js';
import { form, waitStatus } from './helpers/app-page.js';
import { readNpy } from '../src/io/npy.js';
import { readNifti } from '../src/io/nifti.js';
import { encodeDerivedSeries } from '../src/io/dicom-write.js';
import { encodePng, tensorToPng } from '../src/io/png.js';
import { Tensor } from '../src/core/tensor.js';

const cleanup: (() => unknown)[] = [];
after(async () => {
  for (const f of cleanup.reverse()) await f();
});

const dir = mkdtempSync(join(tmpdir(), 'tweedie-app-'));
const SLICES = 4, STEPS = 10;
const heldoutNifti = () => heldoutNiftiIn(dir, SLICES);

interface Tab { page: Page; origin: string; requests: Request[]; outside: string[] }
let tab: Promise<Tab> | null = null;

function openApp(): Promise<Tab> {
  tab ??= (async () => {
    const { url, server } = await serveWeb();
    cleanup.push(() => server.kill());
    const browser = await launchChromium();
    cleanup.push(() => browser.close());
    const context = await browser.newContext({ acceptDownloads: true });
    const page = await context.newPage();
    const origin = new URL(url).origin, requests: Request[] = [], outside: string[] = [];
    // Every request of the page and its workers, recorded; any other origin is refused and listed.
    await context.route('**/*', (route) => {
      const u = route.request().url();
      if (u.startsWith(`${origin}/`)) return route.continue();
      outside.push(u);
      return route.abort();
    });
    context.on('request', (r) => void requests.push(r));
    page.on('console', (m) => void (m.type() === 'error' && console.error(`page: ${m.text()}`)));
    await page.goto(url);
    await page.waitForFunction(() => (globalThis as { app?: { ready: boolean } }).app?.ready === true, null, { timeout: 60_000 });
    return { page, origin, requests, outside };
  })();
  return tab;
}

const resultData = (page: Page) => page.evaluate(() => Array.from((globalThis as unknown as { app: { result(): { data: Float32Array } } }).app.result().data));

let recon: { file: string; web: Float32Array } | null = null;

test('MRI 4x in the browser (Web Worker, cross-origin isolated) matches `tweedie reconstruct` on the same held-out NIfTI', async (t) => {
  const { page } = await openApp();
  assert.equal(await page.evaluate(() => (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated), true, 'COOP/COEP make the page cross-origin isolated');
  const file = heldoutNifti();
  await page.setInputFiles('#file', file);
  await waitStatus(page, /^ready/, 60_000);
  await form(page, { task: 'mri', mask: 'equispaced', accel: '4', steps: String(STEPS), seed: '0', range: 'all', where: 'browser' });
  await page.click('#run');
  await waitStatus(page, /step \d+ \/ \d+/);
  const workers = page.workers().map((w) => w.url());
  assert.ok(workers.some((u) => u.endsWith('/web/worker.js')), `the model runs in the app's Web Worker: ${workers.join(', ')}`);
  const done = await waitStatus(page, /^(done|Could not|stopped)/);
  assert.equal(done.error, false, done.text);
  const cores = await page.evaluate(() => (globalThis as unknown as { navigator: { hardwareConcurrency: number } }).navigator.hardwareConcurrency);
  const threads = Math.min(8, cores);
  assert.match(done.text, new RegExp(`in this browser \\((wasm, ${threads} threads?|webgpu); model ready in [\\d.]+ s\\)$`), `cross-origin isolated: WebAssembly runs one thread per core (${cores} cores), not onnxruntime-web's half`);
  const web = Float32Array.from(await resultData(page));
  const longest = await page.evaluate(() => Math.max(0, ...(globalThis as unknown as { app: { longTasks: number[] } }).app.longTasks));
  const figures = await page.$eval('#figures', (el) => el.textContent ?? '');

  const out = join(dir, 'node.nii');
  const cli = spawnSync(process.execPath, ['bin/tweedie.js', 'reconstruct', '--truth', file, '--modality', 'mri', '--accel', '4', '--mask', 'equispaced', '--steps', String(STEPS),
    '--seed', '0', '--workers', '1', '--threads', '1', '--out', out, '--json'], { encoding: 'utf8' });
  assert.equal(cli.status, 0, cli.stderr);
  const node = readNifti(out).data;
  assert.equal(web.length, node.length);
  let d = 0;
  for (let i = 0; i < node.length; i++) d = Math.max(d, Math.abs(web[i]! - node[i]!));
  const dModel = (2 * d) / P, json = JSON.parse(cli.stdout) as { psnr: number; ssim: number; seconds: number };
  t.diagnostic(`${SLICES} slices, ddnm ${STEPS} steps: max |browser - node| ${d.toExponential(2)} intensity units = ${dModel.toExponential(2)} model units; node PSNR ${json.psnr.toFixed(3)} dB, SSIM ${json.ssim.toFixed(4)}, ${json.seconds.toFixed(1)} s; page: ${figures}; ${done.text}`);
  t.diagnostic(`main thread during the run: longest long task ${longest.toFixed(0)} ms`);
  // wasm and the native CPU sum float32 products in different orders (a few ulps per model call, test/browser.test.ts);
  // ddnm's data consistency keeps measured k-space fixed, so the difference stays at the level of a few model calls'
  // rounding: 1.7e-6 measured; 1e-4 model units is 1/100 of a grey level of 8-bit display (2 / 255).
  assert.ok(dModel < 1e-4, `browser vs node: ${dModel} model units`);
  assert.match(figures, new RegExp(`^PSNR ${json.psnr.toFixed(2)} dB, SSIM ${json.ssim.toFixed(4)} \\(zero-filled`), 'the page shows the figures the CLI computes');
  recon = { file, web };
});

test('the result downloads as a NIfTI that the project reader reads back bit for bit, on the input grid', async () => {
  const { page } = await openApp();
  assert.ok(recon, 'needs the reconstruction above');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#saveNifti')]);
  assert.match(download.suggestedFilename(), /^heldout4-tweedie\.nii$/);
  const saved = join(dir, download.suggestedFilename());
  await download.saveAs(saved);
  const back = readNifti(saved), input = readNifti(recon.file);
  assert.deepEqual(back.dims, input.dims);
  assert.deepEqual(back.affine, input.affine);
  assert.deepEqual(back.data, recon.web);
});

test('the DICOM, series and PNG downloads are a DICOM slice dcmtk reads, a ZIP of one DICOM file per slice and a PNG of the slice size', async () => {
  const { page } = await openApp();
  assert.ok(recon, 'needs the reconstruction above');
  const [dcm] = await Promise.all([page.waitForEvent('download'), page.click('#saveDicom')]);
  const dcmFile = join(dir, dcm.suggestedFilename());
  await dcm.saveAs(dcmFile);
  const dump = spawnSync('dcmdump', ['+P', 'Rows', '+P', 'Columns', '+P', 'SeriesDescription', dcmFile], { encoding: 'utf8' });
  assert.equal(dump.status, 0, dump.stderr);
  assert.match(dump.stdout, /\(0028,0010\) US 64/);
  assert.match(dump.stdout, /tweedie mri/);
  const [zip] = await Promise.all([page.waitForEvent('download'), page.click('#saveSeries')]);
  const zipFile = join(dir, zip.suggestedFilename()), unzipped = join(dir, 'series');
  await zip.saveAs(zipFile);
  const unzip = spawnSync('unzip', ['-q', zipFile, '-d', unzipped], { encoding: 'utf8' });
  assert.equal(unzip.status, 0, unzip.stderr);
  const files = readdirSync(unzipped).sort();
  assert.equal(files.length, SLICES, 'one DICOM file per slice');
  const numbers = files.map((f) => /\[(\d+)\]/.exec(spawnSync('dcmdump', ['+P', 'InstanceNumber', join(unzipped, f)], { encoding: 'utf8' }).stdout)?.[1]);
  assert.deepEqual(numbers, files.map((_, z) => String(z + 1)), 'instance numbers in file order');
  assert.deepEqual(readFileSync(join(unzipped, files[0]!)).subarray(128, 132), Buffer.from('DICM'));
  const [png] = await Promise.all([page.waitForEvent('download'), page.click('#savePng')]);
  const pngFile = join(dir, png.suggestedFilename());
  await png.saveAs(pngFile);
  const bytes = readFileSync(pngFile);
  assert.equal(bytes.readUInt32BE(16), 64, 'PNG width');
  assert.equal(bytes.readUInt32BE(20), 64, 'PNG height');
});

test('Stop terminates the worker mid-run and keeps nothing of the run', async () => {
  const { page } = await openApp();
  await form(page, { task: 'mri', steps: '400', range: 'all' });
  await page.click('#run');
  await waitStatus(page, /step [1-9]\d* \/ \d+/);
  const worker = page.workers().find((w) => w.url().endsWith('/web/worker.js'));
  assert.ok(worker, 'a run has its worker');
  const closed = new Promise((ok) => worker.once('close', ok));
  await page.click('#stop');
  const s = await waitStatus(page, /^stopped/, 30_000);
  assert.equal(s.error, false);
  await closed;
  assert.deepEqual(page.workers().map((w) => w.url()).filter((u) => u.endsWith('/web/worker.js')), [], 'the worker is gone');
  assert.equal(await page.$eval('#saveNifti', (b) => (b as unknown as { disabled: boolean }).disabled), true);
  assert.equal(await page.evaluate(() => (globalThis as unknown as { app: { result(): unknown } }).app.result()), null);
});

test('bad input gives one human sentence and clears the stale result: a file that is not an image, a model of the wrong kind', async () => {
  const { page } = await openApp();
  const notes = join(dir, 'notes.txt');
  writeFileSync(notes, 'not an image\n');
  await page.setInputFiles('#file', notes);
  const bad = await waitStatus(page, /^Could not/, 30_000);
  assert.equal(bad.error, true);
  assert.equal(bad.text, 'Could not open notes.txt: notes.txt is not an image this app opens; choose a NIfTI (.nii, .nii.gz), DICOM (.dcm files or a folder), PNG or fastMRI k-space (.h5) file');
  const fake = join(dir, 'fake.nii');
  writeFileSync(fake, 'x'.repeat(400));
  await page.setInputFiles('#file', fake);
  assert.match((await waitStatus(page, /^Could not/, 30_000)).text, /^Could not open fake\.nii: fake\.nii: not a readable NIfTI file/);
  await page.setInputFiles('#file', heldoutNifti());
  await waitStatus(page, /^ready/, 60_000);
  await form(page, { task: 'mri', steps: '2', range: 'one' });
  await page.selectOption('#model', 'weights/brain-irsde');
  await page.click('#run');
  const wrong = await waitStatus(page, /^(done|Could not)/, 120_000);
  assert.equal(wrong.error, true);
  assert.equal(wrong.text, 'Could not run: weights/brain-irsde is a restoration model; MRI and CT reconstruction need a prior such as brain-64');
  assert.equal(await page.$eval('#saveNifti', (b) => (b as unknown as { disabled: boolean }).disabled), true);
});

test('denoise in the browser: a PNG slice opens as one slice, the model card is shown, and brain-irsde beats the noisy input', async (t) => {
  const { page } = await openApp();
  const h = readNpy('weights/brain-64/heldout.npy');
  const png = join(dir, 'slice.png');
  writeFileSync(png, encodePng(tensorToPng(new Tensor([1, 64, 64], Float32Array.from(h.data.slice(0, 4096), Number)), [-1, 1])));
  await page.setInputFiles('#file', png);
  await waitStatus(page, /^ready/, 60_000);
  assert.match(await page.$eval('#info', (el) => el.textContent ?? ''), /^slice\.png: 64 x 64 x 1 voxels/);
  await form(page, { task: 'denoise', simulate: 'yes', steps: '10', range: 'one', where: 'browser' });
  await page.waitForFunction(() => /^# brain-irsde/.test((globalThis as unknown as { document: { getElementById(id: string): { textContent: string } } }).document.getElementById('card').textContent));
  await page.click('#run');
  const done = await waitStatus(page, /^(done|Could not|stopped)/);
  assert.equal(done.error, false, done.text);
  const figures = await page.$eval('#figures', (el) => el.textContent ?? '');
  t.diagnostic(`${done.text}; ${figures}`);
  const m = /^PSNR ([\d.]+) dB, SSIM ([\d.]+) \(degraded input: ([\d.]+) dB, ([\d.]+)\)/.exec(figures);
  assert.ok(m, figures);
  // Noise of sd 0.2 on the range [-1, 1] is a baseline near 20 log10(2 / 0.2) = 20 dB; a denoiser must beat it.
  assert.ok(Math.abs(Number(m[3]) - 20) < 1, `the simulated noise is sd 0.2 (${m[3]} dB)`);
  assert.ok(Number(m[1]) > Number(m[3]) + 3 && Number(m[2]) > Number(m[4]), figures);
});

test('a DICOM series opens (files of the project writer, read back in the page) and CT reconstructs one slice with FBP as the baseline', async () => {
  const { page } = await openApp();
  assert.ok(recon, 'needs the held-out NIfTI above');
  const series = encodeDerivedSeries(readNifti(recon.file), { description: 'held-out slices' });
  const files = series.files.map((bytes, k) => {
    const f = join(dir, `IMG${k + 1}.dcm`);
    writeFileSync(f, bytes);
    return f;
  });
  await page.setInputFiles('#file', files);
  await waitStatus(page, /^ready/, 60_000);
  assert.match(await page.$eval('#info', (el) => el.textContent ?? ''), /^4 DICOM files: 64 x 64 x 4 voxels/);
  await form(page, { task: 'ct', views: '30', steps: '3', range: 'one', where: 'browser' });
  await page.click('#run');
  const done = await waitStatus(page, /^(done|Could not|stopped)/);
  assert.equal(done.error, false, done.text);
  assert.match(done.text, /^done: ct\(30 views.*dds 3 steps/);
  assert.match(await page.$eval('#figures', (el) => el.textContent ?? ''), /\(fbp: /);
});

test('in-browser mode sends nothing anywhere: every request is a GET of the app\'s own static files, none carries data', async () => {
  const { requests, outside, origin } = await openApp();
  assert.ok(recon, 'after the runs above');
  assert.deepEqual(outside, [], 'no request to another origin');
  const allowed = /^\/(web|dist|weights|node_modules\/(onnxruntime-web|dcmjs|dicom-parser|@cornerstonejs\/codec-[\w-]+|jpeg-lossless-decoder-js|fflate))\//;
  const bad = requests.filter((r) => {
    const u = new URL(r.url());
    if (u.protocol === 'blob:' || u.protocol === 'data:') return false;
    return u.origin !== origin || r.method() !== 'GET' || r.postData() !== null || u.search !== '' || !allowed.test(u.pathname) || /heldout|notes|fake|slice\.png|IMG\d/.test(u.pathname);
  });
  assert.deepEqual(bad.map((r) => `${r.method()} ${r.url()}`), []);
  assert.ok(requests.some((r) => r.url().endsWith('/weights/brain-64/model.onnx')), 'the model was fetched from the app\'s server');
  // The worker is kept between runs with its models: brain-irsde, loaded for the refused MRI run, served the denoising.
  assert.equal(requests.filter((r) => r.url().endsWith('/weights/brain-irsde/model.onnx')).length, 1, 'a model is fetched once per worker');
});
