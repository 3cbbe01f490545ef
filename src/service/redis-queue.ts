import { EventEmitter } from 'node:events';
import { Job, Queue, QueueEvents } from 'bullmq';
import { fail } from '../core/errors.js';
import type { DataFolder } from './data-folder.js';
import type { JobSpec } from './job-spec.js';
import type { JobOutcome } from './run-job.js';
import type { JobProgress, JobQueue, JobState, JobStatus } from './job-status.js';

/** The BullMQ queue the server fills and `tweedie worker` processes drain. */
export const QUEUE_NAME = 'tweedie-jobs';
/** A worker's failure reason for a cancelled job. */
export const CANCELLED = 'cancelled';
/** The Redis key that marks a job cancelled (workers check it between steps). */
export const cancelKey = (id: string) => `tweedie:cancel:${id}`;

export interface JobData {
  spec: JobSpec;
}

/** Failed attempts (a worker that died, an internal error) are retried this often, with exponential backoff from 1 s. */
const ATTEMPTS = 3;
const CONNECT_TIMEOUT_MS = 5000;

/** redis://[user:password@]host[:port][/db] as BullMQ connection options. */
export function redisConnection(url: string): { host: string; port: number; db: number; username?: string; password?: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return fail('USAGE', `--redis ${url}: use redis://host:port (e.g. redis://127.0.0.1:6379)`);
  }
  if (u.protocol !== 'redis:') fail('USAGE', `--redis ${url}: use redis://host:port (e.g. redis://127.0.0.1:6379)`);
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) fail('USAGE', `--redis ${url}: the database after "/" must be a number`);
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port ? Number(u.port) : 6379, db,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}), ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
  };
}

/** Wait for a BullMQ client's connection, or say in one line that Redis cannot be reached. */
export async function connected(client: { waitUntilReady(): Promise<unknown> }, url: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('timeout')), CONNECT_TIMEOUT_MS)));
  try {
    await Promise.race([client.waitUntilReady(), timeout]);
  } catch {
    fail('UNREADABLE_FILE', `cannot reach Redis at ${url} within ${CONNECT_TIMEOUT_MS / 1000} s; start it (redis-server --port N) or fix --redis`);
  } finally {
    clearTimeout(timer);
  }
}

const STATES: Record<string, JobState> = { waiting: 'queued', wait: 'queued', delayed: 'queued', prioritized: 'queued', paused: 'queued', 'waiting-children': 'queued', active: 'running', completed: 'done', failed: 'failed' };

/**
 * The queue of `tweedie serve --redis URL`: jobs are BullMQ jobs (id = the job id, data = the spec), so they
 * survive a server restart and are run by any number of `tweedie worker` processes. Status comes from
 * BullMQ's record: its state, progress, return value (metrics and result names) or failure reason.
 */
export class RedisQueue implements JobQueue {
  readonly kind = 'redis' as const;
  private readonly emitter = new EventEmitter().setMaxListeners(0);

  private constructor(private readonly queue: Queue<JobData, JobOutcome>, private readonly events: QueueEvents, private readonly data: DataFolder) {
    for (const name of ['waiting', 'active', 'progress', 'completed', 'failed', 'delayed', 'stalled'] as const) {
      events.on(name, ({ jobId }: { jobId: string }) => void this.changed(jobId));
    }
  }

  static async open(url: string, data: DataFolder): Promise<RedisQueue> {
    const connection = redisConnection(url);
    const queue = new Queue<JobData, JobOutcome>(QUEUE_NAME, { connection });
    const events = new QueueEvents(QUEUE_NAME, { connection });
    queue.on('error', () => {});
    events.on('error', () => {});
    try {
      await connected(queue, url);
      await connected(events, url);
    } catch (e) {
      await Promise.allSettled([queue.close(), events.close()]);
      throw e;
    }
    return new RedisQueue(queue, events, data);
  }

  async submit(id: string, spec: JobSpec): Promise<void> {
    await this.queue.add('job', { spec }, { jobId: id, attempts: ATTEMPTS, backoff: { type: 'exponential', delay: 1000 }, removeOnComplete: false, removeOnFail: false });
  }

  async get(id: string): Promise<JobStatus | null> {
    const job = await this.queue.getJob(id);
    if (!job) return null;
    return this.status(job, await job.getState());
  }

  async list(): Promise<JobStatus[]> {
    const out: JobStatus[] = [];
    for (const [state] of Object.entries(STATES)) {
      if (state === 'wait') continue;
      for (const job of await this.queue.getJobs([state as 'waiting'], 0, -1)) if (job) out.push(await this.status(job, state));
    }
    return out;
  }

  async cancel(id: string): Promise<JobStatus | null> {
    const job = await this.queue.getJob(id);
    if (!job) return null;
    const client = await this.queue.client;
    await client.set(cancelKey(id), '1');
    await this.changed(id);
    return this.get(id);
  }

  async forget(id: string): Promise<void> {
    await (await this.queue.getJob(id))?.remove();
    await (await this.queue.client).del(cancelKey(id));
  }

  watch(id: string, listener: (s: JobStatus) => void): () => void {
    this.emitter.on(id, listener);
    return () => this.emitter.off(id, listener);
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.events.close(), this.queue.close()]);
  }

  private async changed(id: string): Promise<void> {
    if (this.emitter.listenerCount(id) === 0) return;
    const s = await this.get(id).catch(() => null);
    if (s) this.emitter.emit(id, s);
  }

  private async status(job: Job<JobData, JobOutcome>, bullState: string): Promise<JobStatus> {
    let state = STATES[bullState] ?? 'queued';
    if (state === 'failed' && job.failedReason === CANCELLED) state = 'cancelled';
    if (state === 'queued' && (await (await this.queue.client).get(cancelKey(job.id!))) !== null) state = 'cancelled';
    const done = state === 'done' ? job.returnvalue : null;
    return {
      id: job.id!, task: job.data.spec.task, state,
      progress: typeof job.progress === 'object' ? (job.progress as unknown as JobProgress) : null,
      metrics: done?.metrics ?? null,
      results: done ? done.results : state === 'failed' ? this.data.results(job.id!) : [],
      error: state === 'failed' ? job.failedReason ?? null : null,
      attempts: job.attemptsStarted ?? job.attemptsMade,
      created: new Date(job.timestamp).toISOString(),
      finished: state === 'cancelled' || state === 'done' || state === 'failed' ? new Date(job.finishedOn ?? Date.now()).toISOString() : null,
    };
  }
}
