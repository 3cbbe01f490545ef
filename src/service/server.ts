import { fail } from '../core/errors.js';
import { buildApp } from './app.js';
import { DataFolder } from './data-folder.js';
import { EmbeddedQueue } from './embedded-queue.js';
import type { JobQueue } from './job-status.js';
import { RedisQueue } from './redis-queue.js';
import { prune, type Retention } from './retention.js';

export interface ServerOptions {
  port: number;
  host: string;
  token: string;
  data: string;
  redis?: string;
  concurrency: number;
  maxUpload: number;
  maxFiles: number;
  retention: Retention;
}

export interface RunningServer {
  url: string;
  queue: JobQueue['kind'];
  /** Resolves when the server has stopped. */
  closed: Promise<void>;
  close(): Promise<void>;
}

/** How often retention runs besides after each submitted job. */
const PRUNE_EVERY_MS = 10 * 60_000;

/** Start the API on its queue (embedded, or BullMQ when `redis` is given). */
export async function startServer(o: ServerOptions): Promise<RunningServer> {
  const data = new DataFolder(o.data);
  const queue: JobQueue = o.redis !== undefined ? await RedisQueue.open(o.redis, data) : new EmbeddedQueue(data, o.concurrency);
  const app = await buildApp({ queue, data, token: o.token, maxUpload: o.maxUpload, maxFiles: o.maxFiles, retention: o.retention });
  try {
    await app.listen({ port: o.port, host: o.host });
  } catch (e) {
    await queue.close();
    fail('USAGE', `cannot listen on ${o.host}:${o.port}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; pick another --port or --host`);
  }
  const timer = setInterval(() => void prune(queue, data, o.retention).catch(() => {}), PRUNE_EVERY_MS).unref();
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : o.port;
  let done!: () => void;
  const closed = new Promise<void>((resolve) => (done = resolve));
  return {
    url: `http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}/`,
    queue: queue.kind,
    closed,
    async close() {
      clearInterval(timer);
      await app.close();
      await queue.close();
      done();
    },
  };
}
