import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { fail } from '../../src/core/errors.js';
import { packageRoot } from '../../src/package-root.js';

/** Chromium for the browser tests and bench/web.ts: Debian's, through playwright-core; never a downloaded one. */
export const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'];

export async function launchChromium(executablePath = CHROMIUM): Promise<Browser> {
  if (!existsSync(executablePath)) throw new Error(`${executablePath} not found: install Debian's chromium (apt-get install chromium); the browser test never downloads a browser`);
  // playwright-core is a development dependency: an installed package has no browser driver (nor web/ to serve).
  const { chromium } = await import('playwright-core').catch(() => fail('UNSUPPORTED', 'playwright-core is not installed: the browser tests and bench web run in a checkout of the repository after npm ci'));
  try {
    return await chromium.launch({ executablePath, args: ARGS });
  } catch (e) {
    throw new Error(`cannot start ${executablePath} (${(e as Error).message.split('\n')[0]}); install Debian's chromium (apt-get install chromium)`);
  }
}

/** Start scripts/serve-web.mjs on a free port over the checkout `root`; resolves with the app's URL it prints (…/web/). */
export function serveWeb(root: string): Promise<{ url: string; server: ChildProcess }> {
  const server = spawn(process.execPath, [join(packageRoot, 'scripts', 'serve-web.mjs'), '--port', '0', '--root', root], { stdio: ['ignore', 'pipe', 'pipe'] });
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
