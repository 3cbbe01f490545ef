// The app's page (web/index.html) as the browser tests drive it: its status line and its form.
import type { Page } from 'playwright-core';
import type { Browser } from 'playwright-core';
import { after, before } from 'node:test';
import { join } from 'node:path';
import { launchChromium, serveWeb } from './browser.js';
import { serve, stop, type Proc } from '../../bench/lib/service-procs.js';

const statusText = (page: Page) => page.$eval('#status', (el) => ({ text: el.textContent ?? '', error: el.className === 'error' }));

export async function waitStatus(page: Page, pattern: RegExp, timeout = 600_000): Promise<{ text: string; error: boolean }> {
  await page.waitForFunction((src) => new RegExp(src).test((globalThis as unknown as { document: { getElementById(id: string): { textContent: string } } }).document.getElementById('status').textContent), pattern.source, { timeout });
  return statusText(page);
}

export async function form(page: Page, fields: Record<string, string>): Promise<void> {
  for (const [id, value] of Object.entries(fields)) {
    const tag = await page.$eval(`#${id}`, (el) => el.tagName);
    if (tag === 'SELECT') await page.selectOption(`#${id}`, value);
    else await page.fill(`#${id}`, value);
  }
}

/** A new Chromium page (downloads accepted) on the app at `url`, loaded and ready. */
async function appPage(browser: Browser, url: string): Promise<Page> {
  const p = await (await browser.newContext({ acceptDownloads: true })).newPage();
  p.on('console', (m) => void (m.type() === 'error' && console.error(`page: ${m.text()}`)));
  await p.goto(url);
  await p.waitForFunction(() => (globalThis as { app?: { ready: boolean } }).app?.ready === true, null, { timeout: 60_000 });
  return p;
}

/** The app served by serveWeb() in a new Chromium page; what to close goes on `cleanup`. */
export async function openAppPage(cleanup: (() => unknown)[]): Promise<Page> {
  const { url, server } = await serveWeb();
  cleanup.push(() => server.kill());
  const browser = await launchChromium();
  cleanup.push(() => browser.close());
  return appPage(browser, url);
}

/**
 * The app as a real `tweedie serve` serves it at /web/ (embedded queue, TWEEDIE_TOKEN, --data in `dir`), in Chromium,
 * for a test file: started in its `before`, closed in its `after`; the fields are set once `before` has run.
 */
export function useServedApp(dir: string): { server: Proc & { url: string }; page: Page } {
  const app = {} as { server: Proc & { url: string }; page: Page };
  let browser: Browser | undefined;
  before(async () => {
    app.server = await serve(['--data', join(dir, 'data')]);
    browser = await launchChromium();
    app.page = await appPage(browser, `${app.server.url}web/`);
  });
  after(async () => {
    await browser?.close();
    await stop(app.server);
  });
  return app;
}
