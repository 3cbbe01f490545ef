import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { packageRoot } from '../../src/package-root.js';

/** A client's view (tests and bench service) of `tweedie serve` and `tweedie worker`: real processes, real sockets. */
export const TOKEN = 'test-token-0123456789abcdef';

export interface Proc {
  child: ChildProcess;
  log: () => string;
}

/**
 * Spawn `node bin/tweedie.js ARGS` with the token in its environment, collecting stdout and stderr; `root` is the
 * package whose bin/ runs (its weights/ are the shipped models).
 */
export function tweedie(args: string[], env: Record<string, string> = {}, root = packageRoot): Proc {
  const child = spawn(process.execPath, [join(root, 'bin', 'tweedie.js'), ...args], { env: { ...process.env, TWEEDIE_TOKEN: TOKEN, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout!.on('data', (b) => (log += String(b)));
  child.stderr!.on('data', (b) => (log += String(b)));
  return { child, log: () => log };
}

/** Start `tweedie serve --port 0 ARGS` (of the package at `root`) and wait for the address it prints. */
export async function serve(args: string[], root = packageRoot): Promise<Proc & { url: string }> {
  const p = tweedie(['serve', '--port', '0', ...args], {}, root);
  const url = await waitFor(() => /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(p.log())?.[1], 30_000, () => `serve did not start: ${p.log()}`);
  return { ...p, url };
}

/** Poll `f` every 50 ms until it gives a value. */
export async function waitFor<T>(f: () => T | undefined | null | Promise<T | undefined | null>, ms: number, why: () => string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== null && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out: ${why()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function stop(p: Proc | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    p.child.once('exit', () => resolve());
    p.child.kill(signal);
  });
}

/** A free loopback TCP port. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** A real redis-server on a free loopback port, no persistence unless `appendonly` (then in `dir`). */
export async function redisServer(dir: string, appendonly = false, port?: number): Promise<{ port: number; url: string; proc: Proc }> {
  port ??= await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', appendonly ? 'yes' : 'no', '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout!.on('data', (b) => (log += String(b)));
  await waitFor(() => /Ready to accept connections/.test(log) || undefined, 10_000, () => `redis-server did not start: ${log}`);
  return { port, url: `redis://127.0.0.1:${port}`, proc: { child, log: () => log } };
}

export const redisAvailable = spawnSync('redis-server', ['--version']).status === 0;

/** fetch with the bearer token. */
export function api(base: string, path: string, init: RequestInit = {}, token: string | null = TOKEN): Promise<Response> {
  return fetch(new URL(path, base), { ...init, headers: { ...(token !== null ? { authorization: `Bearer ${token}` } : {}), ...(init.headers ?? {}) } });
}

/** POST /jobs with options and input files; the response. */
export function submit(base: string, options: Record<string, unknown>, files: { name: string; bytes: Uint8Array }[] = []): Promise<Response> {
  const form = new FormData();
  form.append('options', JSON.stringify(options));
  for (const f of files) form.append('input', new Blob([f.bytes]), f.name);
  return api(base, '/jobs', { method: 'POST', body: form });
}

/** A job's server-sent status events, read until the stream ends. */
export async function jobEvents(base: string, id: string): Promise<Record<string, any>[]> {
  const r = await api(base, `/jobs/${id}/events`);
  if (r.status !== 200 || !/text\/event-stream/.test(r.headers.get('content-type') ?? '')) throw new Error(`GET /jobs/${id}/events: ${r.status} ${r.headers.get('content-type')}`);
  const text = await r.text();
  return text.split('\n\n').filter((b) => b.startsWith('event: status')).map((b) => JSON.parse(b.split('\ndata: ')[1]!));
}

/** Wait until job `id` reaches one of `states`; its status. */
export async function untilState(base: string, id: string, states: string[], ms = 60_000): Promise<Record<string, any>> {
  let last: Record<string, any> = {};
  return waitFor(async () => {
    last = (await (await api(base, `/jobs/${id}`)).json()) as Record<string, any>;
    return states.includes(last.state) ? last : undefined;
  }, ms, () => `job ${id} never reached ${states.join('|')}: ${JSON.stringify(last)}`);
}
