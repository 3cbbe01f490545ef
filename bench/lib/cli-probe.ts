import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/package-root.js';

/** One run of the `tweedie` command: its exit, output, peak memory and time. */
export interface CliProbe {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Peak resident set size of the child in kB (NaN if it died before reporting). */
  rssKb: number;
  seconds: number;
}

const work = mkdtempSync(join(tmpdir(), 'tweedie-probe-'));
// A preload that records the child's peak resident set size (kB) in the file the environment names.
const preload = join(work, 'peak-rss.mjs');
writeFileSync(preload, "import { writeFileSync } from 'node:fs';\nprocess.on('exit', () => { if (process.env.PEAK_RSS_FILE) writeFileSync(process.env.PEAK_RSS_FILE, String(process.resourceUsage().maxRSS)); });\n");
let runs = 0;

/** Run `tweedie ARGS` under a time limit (killed past it), recording its peak memory. */
export function probeCli(args: string[], options: { env?: Record<string, string>; timeoutMs?: number } = {}): CliProbe {
  const rssFile = join(work, `rss-${runs++}`);
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['--import', preload, join(packageRoot, 'bin', 'tweedie.js'), ...args], {
    encoding: 'utf8', timeout: options.timeoutMs ?? 30_000, killSignal: 'SIGKILL', env: { ...process.env, ...options.env, PEAK_RSS_FILE: rssFile },
  });
  return {
    status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr,
    rssKb: existsSync(rssFile) ? Number(readFileSync(rssFile, 'utf8')) : NaN, seconds: (performance.now() - t0) / 1000,
  };
}

/** A clean refusal: exit 1 or 2, one line on stderr, no internal error or stack, nothing on stdout. */
export function cleanRefusal(p: CliProbe): boolean {
  return (p.status === 1 || p.status === 2) && p.stderr.trim().split('\n').length === 1 && !/internal error|\n\s+at /.test(p.stderr) && p.stdout === '';
}
