// The app's in-browser restore (web/worker.js, onnxruntime-web) starts from the model's optimal boundary as
// `tweedie restore` does (README "Optimal boundary"): same default, same "random" choice, and the same image as the
// CLI for the same PNG and options within float32 rounding (wasm vs native ONNX Runtime).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { form, openAppPage, waitStatus } from './helpers/app-page.js';
import { greyToModel, noisySlicePng } from './helpers/noisy-png.js';
import { readNpy } from '../src/io/npy.js';

const dir = mkdtempSync(join(tmpdir(), 'tweedie-web-restore-'));
// Seed 1: brain-irsde's boundary is candidate 0 of seed 0, the very noise a random start of seed 0 draws for one image.
const STEPS = 10, SEED = 1;
const cleanup: (() => unknown)[] = [];
after(async () => {
  for (const f of cleanup.reverse()) await f();
});

let page: Promise<Page> | null = null;
function openApp(): Promise<Page> {
  page ??= (async () => {
    const p = await openAppPage(cleanup);
    await p.setInputFiles('#file', png.file);
    await waitStatus(p, /^ready/, 60_000);
    return p;
  })();
  return page;
}

const png = noisySlicePng(dir);

/** Denoise the PNG in the page with `boundary` ('' = the default); the result in model units, rows top to bottom. */
async function restoreInPage(boundary: string): Promise<{ x: Float64Array; status: string }> {
  const p = await openApp();
  await form(p, { task: 'denoise', simulate: 'no', boundary, steps: String(STEPS), seed: String(SEED), range: 'one', where: 'browser' });
  await p.click('#run');
  const done = await waitStatus(p, /^(done|Could not|stopped)/);
  assert.equal(done.error, false, done.text);
  const v = await p.evaluate(() => Array.from((globalThis as unknown as { app: { result(): { data: Float32Array } } }).app.result().data));
  // The page's volume holds image row r at y = 63 - r, in grey levels (p = 255).
  return { x: Float64Array.from({ length: 4096 }, (_, i) => greyToModel(v[(63 - Math.floor(i / 64)) * 64 + (i % 64)]!)), status: done.text };
}

/** `tweedie restore` on the same PNG and options; x clipped to [-1, 1] as the page clips its result. */
function restoreCli(extra: string[]): { x: Float64Array; boundary: string } {
  const out = join(dir, `cli-${extra.join('') || 'default'}.npy`);
  const r = spawnSync(process.execPath, ['bin/tweedie.js', 'restore', '--model', 'weights/brain-irsde', '--input', png.file, '--steps', String(STEPS), '--seed', String(SEED), '--threads', '1', ...extra, '--out', out, '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const x = readNpy(out);
  assert.deepEqual(x.shape, [1, 1, 64, 64]);
  return { x: Float64Array.from(x.data, (v) => Math.min(1, Math.max(-1, Number(v)))), boundary: (JSON.parse(r.stdout) as { boundary: string }).boundary };
}

const maxDiff = (a: Float64Array, b: Float64Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

test('in-browser restore starts from the optimal boundary by default, as `tweedie restore` does: the same image within float32 rounding', async (t) => {
  const web = await restoreInPage('');
  assert.match(web.status, /optimal boundary/, 'the status line names the starting noise');
  const cli = restoreCli([]);
  assert.equal(cli.boundary, 'optimal');
  const d = maxDiff(web.x, cli.x);
  t.diagnostic(`brain-irsde, mrs ${STEPS} steps, optimal boundary: max |browser - cli| ${d.toExponential(2)} model units; ${web.status}`);
  // wasm and native ONNX Runtime round float32 sums in different orders (a few ulps per model call, test/browser.test.ts);
  // 1e-4 model units is 1/100 of a grey level of 8-bit display, and the grey levels the page reads are exact.
  assert.ok(d < 1e-4, `browser vs cli: ${d} model units`);
});

test('"random" starting noise in the page is `tweedie restore --boundary random`, and differs from the optimal start', async (t) => {
  const optimal = restoreCli([]).x;
  const web = await restoreInPage('random');
  assert.match(web.status, /random boundary/);
  const cli = restoreCli(['--boundary', 'random']);
  assert.equal(cli.boundary, 'random');
  const d = maxDiff(web.x, cli.x), apart = maxDiff(cli.x, optimal);
  t.diagnostic(`random boundary: max |browser - cli| ${d.toExponential(2)}; max |random - optimal| ${apart.toExponential(2)} model units`);
  assert.ok(d < 1e-4, `browser vs cli: ${d} model units`);
  assert.ok(apart > 1e-2, 'the starting noise changes the result, so the comparison above tells the two apart');
});

test('"optimal" with settings the model has no boundary for is one sentence naming what it has', async () => {
  const p = await openApp();
  await form(p, { task: 'denoise', simulate: 'no', boundary: 'optimal', steps: '3', where: 'browser' });
  await p.click('#run');
  const s = await waitStatus(p, /^(done|Could not)/);
  assert.equal(s.error, true);
  assert.match(s.text, /^Could not run: starting noise optimal: weights\/brain-irsde has optimal boundaries for mrs \(.*\), 10 steps, \[1, 64, 64\], not for mrs \(.*\), 3 steps, \[1, 64, 64\]; use one of those settings, or starting noise random$/);
});
