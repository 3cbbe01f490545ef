import { fail } from '../src/core/errors.js';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readNpy } from '../src/io/npy.js';
import { readNifti, writeNifti } from '../src/io/nifti.js';
import { createVolume } from '../src/io/volume.js';
import { packageRoot } from '../src/package-root.js';
import { launchChromium, serveWeb } from './lib/browser.js';

export const description =
  "the web app (web/index.html) in Debian's chromium: MRI 4x of the 16 held-out brain-64 slices (ddnm 20 steps) in the page's Web Worker against `tweedie reconstruct` (1 worker; 1 thread and the page's thread count): seconds, model load, browser / Node speed, longest main-thread long task, max difference";

const STEPS = 20, P = 178;

/** weights/brain-64/heldout.npy (model units) as a 64 x 64 x 16 NIfTI in intensity units, image row r at y = 63 - r. */
function heldout(dir: string): string {
  const h = readNpy(join(packageRoot, 'weights', 'brain-64', 'heldout.npy'));
  const n = h.shape[0]!, data = new Float32Array(64 * 64 * n);
  for (let k = 0; k < n; k++) for (let r = 0; r < 64; r++) for (let x = 0; x < 64; x++) data[k * 4096 + (63 - r) * 64 + x] = ((Number(h.data[k * 4096 + r * 64 + x]) + 1) * P) / 2;
  const file = join(dir, 'heldout.nii.gz');
  writeNifti(file, createVolume(data, [64, 64, n]));
  return file;
}

export async function run(opts: { json: boolean; log: (m: string) => void }): Promise<Record<string, unknown>> {
  if (!existsSync(join(packageRoot, 'web', 'index.html'))) fail('UNSUPPORTED', 'bench web serves the app of a checkout of the repository (web/, scripts/serve-web.mjs); run it there');
  if (!existsSync(join(packageRoot, 'dist', 'src', 'browser.js'))) fail('UNREADABLE_FILE', 'dist/ is missing; run "npm run build" first');
  const dir = mkdtempSync(join(tmpdir(), 'tweedie-bench-web-'));
  const file = heldout(dir);
  const { url, server } = await serveWeb(packageRoot);
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.goto(url);
    await page.waitForFunction(() => (globalThis as { app?: { ready: boolean } }).app?.ready === true, null, { timeout: 60_000 });
    await page.setInputFiles('#file', file);
    await page.waitForFunction(() => /^ready/.test((globalThis as unknown as { document: { getElementById(id: string): { textContent: string } } }).document.getElementById('status').textContent));
    for (const [id, v] of [['task', 'mri'], ['mask', 'equispaced'], ['range', 'all'], ['where', 'browser']]) await page.selectOption(`#${id}`, v!);
    for (const [id, v] of [['accel', '4'], ['steps', String(STEPS)], ['seed', '0']]) await page.fill(`#${id}`, v!);
    opts.log(`web: MRI 4x, 16 slices, ddnm ${STEPS} steps in the browser ...`);
    const t0 = performance.now();
    await page.click('#run');
    await page.waitForFunction(() => /^(done|Could not|stopped)/.test((globalThis as unknown as { document: { getElementById(id: string): { textContent: string } } }).document.getElementById('status').textContent), null, { timeout: 1_800_000 });
    const wall = (performance.now() - t0) / 1000;
    const status = await page.$eval('#status', (el) => el.textContent ?? '');
    if (!status.startsWith('done')) fail('BAD_INPUT', `the app did not finish: ${status}`);
    const web = await page.evaluate(() => Array.from((globalThis as unknown as { app: { result(): { data: Float32Array } } }).app.result().data));
    const longest = await page.evaluate(() => Math.max(0, ...(globalThis as unknown as { app: { longTasks: number[] } }).app.longTasks));
    const [, run, backend, load] = /NFE \d+, ([\d.]+) s in this browser \(([^;]+); model ready in ([\d.]+) s\)/.exec(status) ?? [];
    // onnxruntime-node with 1 thread, and with as many as the page's WebAssembly ran, for the browser / Node ratio.
    const threads = Number(/(\d+) threads?/.exec(backend ?? '')?.[1] ?? 1);
    const node = (n: number) => {
      opts.log(`web: the same with tweedie reconstruct (1 worker, ${n} thread${n > 1 ? 's' : ''}) ...`);
      const out = join(dir, `node-${n}.nii`);
      const cli = spawnSync(process.execPath, [join(packageRoot, 'bin', 'tweedie.js'), 'reconstruct', '--truth', file, '--modality', 'mri', '--accel', '4', '--steps', String(STEPS), '--seed', '0',
        '--workers', '1', '--threads', String(n), '--out', out, '--json'], { encoding: 'utf8' });
      if (cli.status !== 0) fail('BAD_INPUT', `tweedie reconstruct failed: ${cli.stderr}`);
      return { data: readNifti(out).data, ...(JSON.parse(cli.stdout) as { seconds: number; psnr: number }) };
    };
    const one = node(1), same = threads > 1 ? node(threads) : one;
    let d = 0;
    for (let i = 0; i < one.data.length; i++) d = Math.max(d, Math.abs(web[i]! - one.data[i]!));
    const r = {
      slices: 16, steps: STEPS, backend, browser_run_s: Number(run), browser_model_load_s: Number(load), browser_wall_s: wall, node_s: one.seconds,
      node_threads: threads, node_same_threads_s: same.seconds, browser_over_node: same.seconds / Number(run),
      longest_main_thread_task_ms: longest, max_diff_model_units: (2 * d) / P, psnr_node: one.psnr, status,
    };
    if (!opts.json) {
      console.log('| where | seconds | notes |\n|---|---|---|');
      console.log(`| browser (${backend}) | ${Number(run).toFixed(1)} run + ${Number(load).toFixed(1)} model load (${wall.toFixed(1)} wall from the click) | longest main-thread task ${longest.toFixed(0)} ms |`);
      console.log(`| tweedie reconstruct, 1 thread | ${one.seconds.toFixed(1)} | PSNR ${one.psnr.toFixed(2)} dB |`);
      if (threads > 1) console.log(`| tweedie reconstruct, ${threads} threads | ${same.seconds.toFixed(1)} | |`);
      console.log(`browser / Node speed at ${threads} thread${threads > 1 ? 's' : ''}: ${r.browser_over_node.toFixed(2)} (target >= 0.5)`);
      console.log(`max |browser - node| ${r.max_diff_model_units.toExponential(2)} model units`);
    }
    return r;
  } finally {
    await browser.close();
    server.kill();
  }
}
