import { cpSync, mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { serveWeb as serveRoot } from '../../bench/lib/browser.js';

export { CHROMIUM, launchChromium } from '../../bench/lib/browser.js';

/**
 * A checkout as the app's server sees it, in a temporary folder: the built library, the pages and
 * onnxruntime-web and the DICOM reader's and writer's and the ZIP writer's libraries linked from this one, and a weights/ folder holding the models the tests load plus the
 * broken model and the class-conditional one of test/fixtures (the server serves only dist/, web/, weights/ and onnxruntime's files).
 */
function playgroundRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'tweedie-playground-'));
  const dicom = ['dcmjs', 'dicom-parser', '@cornerstonejs/codec-charls', '@cornerstonejs/codec-openjpeg', '@cornerstonejs/codec-libjpeg-turbo-8bit', 'jpeg-lossless-decoder-js', 'h5wasm', 'fflate'].map((p) => `node_modules/${p}`);
  for (const dir of ['dist', 'web', 'node_modules/onnxruntime-web', 'node_modules/onnxruntime-common', ...dicom]) {
    mkdirSync(join(root, dir, '..'), { recursive: true });
    symlinkSync(resolve(dir), join(root, dir));
  }
  for (const model of ['fmnist-32', 'gaussian-exact', 'brain-64', 'brain-irsde']) cpSync(join('weights', model), join(root, 'weights', model), { recursive: true });
  cpSync('test/fixtures/web-bad-model', join(root, 'weights', 'web-bad-model'), { recursive: true });
  cpSync('test/fixtures/class-gaussian', join(root, 'weights', 'class-gaussian'), { recursive: true });
  return root;
}

/** The app's server over `playgroundRoot()`. */
export function serveWeb(): Promise<{ url: string; server: ChildProcess }> {
  return serveRoot(playgroundRoot());
}
