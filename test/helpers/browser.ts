import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Browser } from 'playwright-core';

/** Debian's chromium: the browser test uses it and never downloads one. */
export const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'];

export async function launchChromium(executablePath = CHROMIUM): Promise<Browser> {
  if (!existsSync(executablePath)) throw new Error(`${executablePath} not found: install Debian's chromium (apt-get install chromium); the browser test never downloads a browser`);
  try {
    return await chromium.launch({ executablePath, args: ARGS });
  } catch (e) {
    throw new Error(`cannot start ${executablePath} (${(e as Error).message.split('\n')[0]}); install Debian's chromium (apt-get install chromium)`);
  }
}

/**
 * A checkout as the app's server sees it, in a temporary folder: the built library, the pages and
 * onnxruntime-web and the DICOM reader's and writer's libraries linked from this one, and a weights/ folder holding the models the tests load plus the
 * broken model of test/fixtures (the server serves only dist/, web/, weights/ and onnxruntime's files).
 */
function playgroundRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'tweedie-playground-'));
  const dicom = ['dcmjs', 'dicom-parser', '@cornerstonejs/codec-charls', '@cornerstonejs/codec-openjpeg', '@cornerstonejs/codec-libjpeg-turbo-8bit', 'jpeg-lossless-decoder-js'].map((p) => `node_modules/${p}`);
  for (const dir of ['dist', 'web', 'node_modules/onnxruntime-web', 'node_modules/onnxruntime-common', ...dicom]) {
    mkdirSync(join(root, dir, '..'), { recursive: true });
    symlinkSync(resolve(dir), join(root, dir));
  }
  for (const model of ['fmnist-32', 'gaussian-exact', 'brain-64', 'brain-irsde']) cpSync(join('weights', model), join(root, 'weights', model), { recursive: true });
  cpSync('test/fixtures/web-bad-model', join(root, 'weights', 'web-bad-model'), { recursive: true });
  return root;
}

/** Start scripts/serve-web.mjs on a free port over `playgroundRoot()`; resolves with the app's URL it prints (…/web/). */
export function serveWeb(): Promise<{ url: string; server: ChildProcess }> {
  const server = spawn(process.execPath, ['scripts/serve-web.mjs', '--port', '0', '--root', playgroundRoot()], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((ok, no) => {
    let out = '';
    const take = (b: Buffer) => {
      out += String(b);
      const m = /http:\/\/\S+\/web\//.exec(out);
      if (m) ok({ url: m[0], server });
    };
    server.stdout!.on('data', take);
    server.stderr!.on('data', take);
    server.on('exit', (code) => no(new Error(`scripts/serve-web.mjs exited with ${code}: ${out}`)));
  });
}
