// The app's page (web/index.html) as the browser tests drive it: its status line and its form.
import type { Page } from 'playwright-core';

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
