// The playground in a real browser (Debian's chromium through playwright-core): web/index.html samples ONNX
// models with onnxruntime-web and must agree with exact values and with the Node runtime.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { launchChromium, serveWeb } from './helpers/browser.js';
import { NoiseSource } from '../src/core/rng.js';
import type { Data } from '../src/core/tensor.js';
import { readNpy } from '../src/io/npy.js';
import { parseDicom } from '../src/io/dicom-file.js';
import type { Denoiser } from '../src/models/denoiser.js';
import { GaussianMixture } from '../src/models/gmm.js';
import { loadMixture } from '../src/models/gmm-file.js';
import { OnnxDenoiser } from '../src/models/onnx.js';
import { generate } from '../src/recipes/generate.js';

interface SampleRequest { model: string; sampler: string; steps: number; n: number; seed: number; cls?: string; guidanceScale?: string; guidanceInterval?: string }
interface BrowserSample { data: Float32Array; shape: number[]; nfe: number; seconds: number; backend: string }
interface Playground {
  sample(o: SampleRequest): Promise<{ x: { data: Float32Array; shape: number[] }; nfe: number; seconds: number; backend: string }>;
}

const cleanup: (() => unknown)[] = [];
after(async () => {
  for (const f of cleanup.reverse()) await f();
});

interface Tab { page: Page; origin: string; outside: string[]; wasm: string[]; messages: string[] }
let tab: Promise<Tab> | null = null;

/** One server, one browser and one page for all tests (onnxruntime-web compiles its wasm once). */
function openPlayground(): Promise<Tab> {
  tab ??= (async () => {
    const { url, server } = await serveWeb();
    cleanup.push(() => server.kill());
    const browser = await launchChromium();
    cleanup.push(() => browser.close());
    const page = await browser.newPage();
    const origin = new URL(url).origin, outside: string[] = [], wasm: string[] = [], messages: string[] = [];
    await page.route('**/*', (route) => {
      const u = route.request().url();
      if (u.startsWith(`${origin}/`)) return route.continue();
      outside.push(u);
      return route.abort();
    });
    page.on('request', (r) => void (r.url().endsWith('.wasm') && wasm.push(r.url())));
    page.on('console', (m) => void messages.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => void messages.push(`pageerror: ${e.message}`));
    await page.goto(`${url}playground.html`);
    await page.waitForFunction(() => (globalThis as { playground?: { ready: boolean } }).playground?.ready === true, null, { timeout: 60_000 });
    return { page, origin, outside, wasm, messages };
  })();
  return tab;
}

async function browserSample(page: Page, request: SampleRequest): Promise<BrowserSample> {
  const r = await page.evaluate(async (o) => {
    const s = await (globalThis as unknown as { playground: Playground }).playground.sample(o);
    return { data: Array.from(s.x.data), shape: s.x.shape, nfe: s.nfe, seconds: s.seconds, backend: s.backend };
  }, request);
  return { ...r, data: Float32Array.from(r.data) };
}

/** The page's recipe (web/app.js calls `generate`, as `tweedie sample` does) run in Node on any denoiser. */
async function nodeSample(denoiser: Denoiser, r: SampleRequest): Promise<Data> {
  return (await generate({ model: denoiser, sampler: r.sampler, steps: r.steps, n: r.n, seed: r.seed })).x.data;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  return Array.from(a, (v, i) => Math.abs(v - b[i]!)).reduce((m, d) => Math.max(m, d), 0);
}

async function runForm(page: Page, fields: Record<string, string>): Promise<{ text: string; error: boolean }> {
  for (const [id, value] of Object.entries(fields)) {
    if (id === 'sampler') await page.selectOption('#sampler', value);
    else await page.fill(`#${id}`, value);
  }
  await page.click('#run');
  await page.waitForFunction(() => /^(done|error|stopped)/.test((globalThis as unknown as { document: { getElementById(id: string): { textContent: string } } }).document.getElementById('status').textContent), null, { timeout: 120_000 });
  return page.$eval('#status', (el) => ({ text: el.textContent ?? '', error: el.className === 'error' }));
}

test('the playground samples fmnist-32 through its form and draws the grid, with onnxruntime-web served locally', async () => {
  const { page, origin, outside, wasm, messages } = await openPlayground();
  // The server's COOP/COEP headers make the page cross-origin isolated, so WebAssembly may use threads.
  assert.equal(await page.evaluate(() => (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated), true);
  const status = await runForm(page, { model: 'weights/fmnist-32', sampler: 'ddim', steps: '3', n: '4', seed: '1' });
  assert.equal(status.error, false, status.text);
  const backend = /, (wasm|webgpu)\)$/.exec(status.text)?.[1];
  assert.ok(backend, status.text);
  const canvas = await page.$eval('#canvas', (c) => {
    const el = c as unknown as { width: number; height: number; getContext(k: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } };
    const px = el.getContext('2d').getImageData(0, 0, el.width, el.height).data;
    let lo = 255, hi = 0;
    for (let i = 0; i < px.length; i += 4) (lo = Math.min(lo, px[i]!)), (hi = Math.max(hi, px[i]!));
    return { w: el.width, h: el.height, lo, hi };
  });
  assert.deepEqual([canvas.w, canvas.h], [2 * 34 + 2, 2 * 34 + 2], '2 x 2 grid of 32 x 32 images with 2-pixel padding');
  assert.ok(canvas.hi - canvas.lo > 50, `the drawn grid has contrast (${canvas.lo}..${canvas.hi})`);
  assert.deepEqual(outside, [], 'no request leaves the local server');
  assert.ok(wasm.length > 0 && wasm.every((u) => u.startsWith(`${origin}/node_modules/onnxruntime-web/dist/`)), `wasm fetched locally: ${wasm.join(', ')}`);
  const hasGpu = await page.evaluate(() => 'gpu' in (globalThis as unknown as { navigator: object }).navigator);
  const fallbacks = messages.filter((m) => m.includes('tweedie: WebGPU backend unavailable'));
  assert.equal(fallbacks.length, hasGpu && backend === 'wasm' ? 1 : 0, messages.join('\n'));
});

test('gaussian-exact in the browser (DDIM) agrees with the exact Gaussian denoiser computed in Node', async (t) => {
  const { page } = await openPlayground();
  const request = { model: 'weights/gaussian-exact', sampler: 'ddim', steps: 25, n: 6, seed: 5 };
  const web = await browserSample(page, request);
  assert.deepEqual(web.shape, [6, 1, 8, 8]);
  assert.equal(web.nfe, 25);
  const onnx = await OnnxDenoiser.load('weights/gaussian-exact', { threads: 1 });
  const exact = await nodeSample(loadMixture('weights/gaussian-exact/prior.json').asDenoiser(onnx.path, 'eps'), request);
  const native = await nodeSample(onnx, request);
  const dExact = maxAbsDiff(web.data, exact), dNative = maxAbsDiff(web.data, native), dNativeExact = maxAbsDiff(native, exact);
  t.diagnostic(`max |browser - exact| ${dExact.toExponential(2)}, |browser - onnxruntime-node| ${dNative.toExponential(2)}, |onnxruntime-node - exact| ${dNativeExact.toExponential(2)}`);
  // The float32 graph against the float64 mixture after 25 steps: a few float32 ulps of values of order 1.
  assert.ok(dExact < 1e-5, `browser vs exact: ${dExact}`);
  assert.ok(dExact <= 2 * dNativeExact + 1e-6, `the browser is as close to exact as onnxruntime-node (${dExact} vs ${dNativeExact})`);
});

test('the exported gradient route in the browser: gaussian-exact\'s VJP through model.grad.onnx (fetched at the first VJP) matches the exact Jacobian', async (t) => {
  const { page, origin } = await openPlayground();
  const x = new NoiseSource(3).normal([2, 1, 8, 8], 0), u = new NoiseSource(4).normal([2, 1, 8, 8], 0), time = 500;
  const web = await page.evaluate(async ({ xs, us, time, root }) => {
    const tw = await import(`${root}/dist/src/browser.js`);
    const model = await tw.OnnxWebDenoiser.create(await tw.fetchModelFolder(`${root}/weights/gaussian-exact`));
    const vjp = await model.x0Vjp(new tw.Tensor([2, 1, 8, 8], Float32Array.from(xs)), time, new tw.Tensor([2, 1, 8, 8], Float32Array.from(us)));
    return { gradient: model.gradient as string, calls: model.calls as number, data: Array.from(vjp.data as Float32Array) };
  }, { xs: Array.from(x.data), us: Array.from(u.data), time, root: origin });
  assert.equal(web.gradient, 'exported');
  assert.equal(web.calls, 1, 'one run of the gradient graph, counted');
  const onnx = await OnnxDenoiser.load('weights/gaussian-exact', { threads: 1 });
  const exact = await loadMixture('weights/gaussian-exact/prior.json').asDenoiser(onnx.path, 'eps').x0Vjp!(x.toDtype('float64'), time, u.toDtype('float64'));
  const d = maxAbsDiff(web.data, exact.data);
  t.diagnostic(`max |browser VJP - exact| ${d.toExponential(2)}`);
  // float32 rounding of u/a - (s/a) J_eps^T u, terms of size |u|/a = 3.6 |u| at t = 500 (test/gradient-route.test.ts).
  assert.ok(d < 1e-5, `browser VJP vs exact: ${d}`);
});

test('fmnist-32 in the browser matches `tweedie sample` (onnxruntime-node) for the same seed and sampler', async (t) => {
  const { page, origin, messages } = await openPlayground();
  // Single model calls first (three at once: the web denoiser queues them): wasm's and the native CPU's kernels sum
  // float32 products in a different order (SIMD width, FMA), so eps predictions of size ~4 differ by a few ulps;
  // a sampler then scales them by up to s(t)/a(t).
  const x = new NoiseSource(11).normal([4, 1, 32, 32], 0);
  const onnx = await OnnxDenoiser.load('weights/fmnist-32', { threads: 1 });
  const times = [999, 500, 20];
  const webCalls = await page.evaluate(async ({ data, times, root }) => {
    const tw = await import(`${root}/dist/src/browser.js`);
    const model = await tw.OnnxWebDenoiser.create(await tw.fetchModelFolder(`${root}/weights/fmnist-32`));
    const input = new tw.Tensor([4, 1, 32, 32], Float32Array.from(data));
    return Promise.all(times.map(async (time) => Array.from((await model.predict(input, time)).data as Float32Array)));
  }, { data: Array.from(x.data), times, root: origin });
  for (const [k, time] of times.entries()) {
    const d = maxAbsDiff(webCalls[k]!, (await onnx.predict(x, time)).data);
    t.diagnostic(`one call at t = ${time}: max |browser - node| ${d.toExponential(2)}`);
    assert.ok(d < 1e-5, `one model call at t = ${time}: ${d}`);
  }
  const out = mkdtempSync(join(tmpdir(), 'tweedie-web-'));
  for (const request of [
    { model: 'weights/fmnist-32', sampler: 'ddim', steps: 5, n: 4, seed: 3 },
    { model: 'weights/fmnist-32', sampler: 'dpm-solver++', steps: 20, n: 4, seed: 3 },
  ]) {
    const file = join(out, `${request.sampler}.npy`);
    const cli = spawnSync(process.execPath, ['bin/tweedie.js', 'sample', '--model', request.model, '--sampler', request.sampler, '--steps', String(request.steps),
      '-n', String(request.n), '--seed', String(request.seed), '--threads', '1', '--out', file, '--json'], { encoding: 'utf8' });
    assert.equal(cli.status, 0, cli.stderr);
    const node = readNpy(file);
    const web = await browserSample(page, request);
    const again = await browserSample(page, request);
    assert.deepEqual(web.shape, node.shape);
    assert.deepEqual(again.data, web.data, 'the browser is deterministic by seed');
    const d = maxAbsDiff(web.data, node.data);
    t.diagnostic(`${request.sampler} ${request.steps} steps, batch ${request.n}: max |browser - node| ${d.toExponential(2)}; browser ${(request.n / again.seconds).toFixed(2)} images/s (${web.backend}), node ${(request.n / JSON.parse(cli.stdout).seconds).toFixed(2)} images/s (1 thread)`);
    // Not bit for bit (above): 4e-5..7e-5 measured; 2e-4 is far below any visible difference (pixel step 2/255).
    assert.ok(d < 2e-4, `${request.sampler}: browser vs node ${d}`);
  }
  assert.ok(messages.filter((m) => m.includes('WebGPU backend unavailable')).length <= 1, 'one WebGPU warning per page, however many models');
});

test('a bad model folder gives a clear error in the page', async () => {
  const { page, messages } = await openPlayground();
  const seen = messages.length;
  const bad = await runForm(page, { model: 'weights/web-bad-model', sampler: 'ddim', steps: '2', n: '1' });
  assert.equal(bad.error, true, bad.text);
  assert.match(bad.text, /^error: cannot load ONNX model http:\S+\/weights\/web-bad-model\/model\.onnx: /);
  assert.ok(!messages.slice(seen).some((m) => m.includes('WebGPU backend unavailable')), 'a broken file is not reported as a WebGPU problem');
  const missing = await runForm(page, { model: 'weights/no-such-model' });
  assert.match(missing.text, /^error: cannot fetch http:\S+\/weights\/no-such-model\/\S+: HTTP 404; a model folder holds model.onnx/);
});

test('a missing chromium fails with the install hint, never a download', async () => {
  await assert.rejects(launchChromium('/nonexistent/chromium'), /install Debian's chromium \(apt-get install chromium\)/);
});

test('DICOM in the browser: the page decodes JPEG-LS, JPEG 2000, RLE and JPEG Lossless files with the codecs served from node_modules, as Node does', async () => {
  const { page, origin } = await openPlayground();
  const T = '/usr/lib/python3/dist-packages/pydicom/data/test_files/';
  const dir = mkdtempSync(join(tmpdir(), 'tweedie-browser-dicom-'));
  const lossless = join(dir, 'sv1.dcm');
  const r = spawnSync('dcmcjpeg', ['+e1', `${T}CT_small.dcm`, lossless], { encoding: 'utf8' });
  assert.equal(r.status, 0, `dcmcjpeg (Debian dcmtk) is needed: ${r.stderr ?? r.error}`);
  const files = [`${T}MR_small_jpeg_ls_lossless.dcm`, `${T}MR_small_jp2klossless.dcm`, `${T}MR_small_RLE.dcm`, `${T}MR_small_bigendian.dcm`, lossless];
  for (const s of ['dicom-parser/dist/dicomParser.min.js', '@cornerstonejs/codec-charls/dist/charlswasm_decode.js', '@cornerstonejs/codec-openjpeg/dist/openjpegwasm_decode.js', '@cornerstonejs/codec-libjpeg-turbo-8bit/dist/libjpegturbowasm_decode.js']) {
    await page.addScriptTag({ url: `${origin}/node_modules/${s}` });
  }
  const web = await page.evaluate(async ({ root, inputs }) => {
    const tw = await import(`${root}/dist/src/browser.js`);
    const libs = tw.browserDicomLibraries({ jpegLosslessUrl: `${root}/node_modules/jpeg-lossless-decoder-js/release/lossless.js` });
    const out: number[][] = [];
    for (const bytes of inputs) out.push(Array.from((await tw.decodeDicom(Uint8Array.from(bytes), 'page', libs))[0].pixels as Float32Array));
    return out;
  }, { root: origin, inputs: files.map((f) => Array.from(readFileSync(f))) });
  for (const [i, f] of files.entries()) {
    const [node] = await parseDicom(readFileSync(f), f);
    assert.deepEqual(web[i], Array.from(node!.pixels), f);
  }
});

test('a class-conditional model in the playground: the class and guidance fields give the exact mixture\'s guided samples; bad values one sentence', async (t) => {
  const { page } = await openPlayground();
  const fields = { model: 'weights/class-gaussian', sampler: 'dpm-solver++', steps: '10', n: '4', seed: '5', class: '0,1,2,1', 'guidance-scale': '3', 'guidance-interval': '0.1,10' };
  try {
    const done = await runForm(page, fields);
    assert.equal(done.error, false, done.text);
    assert.match(await page.$eval('#classes', (el) => el.textContent ?? ''), /^classes 0\.\.2$/);
    const web = await browserSample(page, { model: 'weights/class-gaussian', sampler: 'dpm-solver++', steps: 10, n: 4, seed: 5, cls: '0,1,2,1', guidanceScale: '3', guidanceInterval: '0.1,10' });
    // The oracle: the recipe on the mixture the fixture was written from (test/fixtures/onnx/make_class_gaussian.py), on its path.
    const path = (await OnnxDenoiser.load('test/fixtures/class-gaussian', { threads: 1 })).path;
    const exact = GaussianMixture.fromJsonText(readFileSync('test/fixtures/class-gaussian/prior.json', 'utf8')).asDenoiser(path);
    const run = (o: object) => generate({ model: exact, sampler: 'dpm-solver++', steps: 10, n: 4, seed: 5, condition: { class: [0, 1, 2, 1] }, ...o });
    const guided = (await run({ guidance: { scale: 3, interval: [0.1, 10] } })).x.data, plain = (await run({})).x.data;
    const d = maxAbsDiff(web.data, guided);
    t.diagnostic(`max |browser - exact guided| ${d.toExponential(2)}`);
    assert.ok(d < 2e-3, `browser vs exact guided: ${d}`);
    assert.ok(maxAbsDiff(guided, plain) > 0.05, 'guidance changes the samples (the check could fail)');
    const cases: [Record<string, string>, RegExp][] = [
      [{ class: '7', 'guidance-scale': '', 'guidance-interval': '' }, /^error: the class 7 is outside the model's classes; give an integer 0\.\.2$/],
      [{ class: 'shoe' }, /^error: the class must be an integer class, or a comma-separated list of one per sample, got "shoe"$/],
      [{ class: '1', 'guidance-scale': '-1' }, /^error: the guidance scale must be a number >= 0 \(1: the conditional model, 0: the unconditional one, above 1: guided\), got -1$/],
      [{ 'guidance-scale': '2', 'guidance-interval': '5' }, /^error: the guidance interval must be LO,HI \(two noise levels sigma = s\/a\), got "5"$/],
      [{ model: 'weights/gaussian-exact', 'guidance-interval': '' }, /^error: the class: weights\/gaussian-exact takes no class condition \(its tweedie\.json declares no "conditioning"\); drop the class$/],
    ];
    for (const [change, message] of cases) {
      const r = await runForm(page, change);
      assert.equal(r.error, true, r.text);
      assert.match(r.text, message);
    }
  } finally {
    for (const id of ['class', 'guidance-scale', 'guidance-interval']) await page.fill(`#${id}`, '');
  }
});
