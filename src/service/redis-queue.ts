import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { FlowProducer, Job, Queue, QueueEvents } from 'bullmq';
import { fail } from '../core/errors.js';
import type { DataFolder } from './data-folder.js';
import type { JobSpec } from './job-spec.js';
import type { JobOutcome } from './run-job.js';
import type { JobProgress, JobQueue, JobState, JobStatus } from './job-status.js';
import { partSpec, splitCount, splitRanges } from './volume-split.js';

/** The BullMQ queue the server fills and `tweedie worker` processes drain. */
export const QUEUE_NAME = 'tweedie-jobs';
/** A worker's failure reason for a cancelled job. */
export const CANCELLED = 'cancelled';
/** The Redis key that marks a job cancelled (workers check it between steps). */
export const cancelKey = (id: string) => `tweedie:cancel:${id}`;

export interface JobData {
  spec: JobSpec;
  /** A part of a split job: the id of the whole job (whose inputs it reads). */
  partOf?: string;
  /** A split job: its parts' job ids and slice ranges, in slice order (it runs once they are done). */
  parts?: { id: string; range: [number, number] }[];
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

// A split job waits for its parts: it is running as soon as they are.
const STATES: Record<string, JobState> = { waiting: 'queued', wait: 'queued', delayed: 'queued', prioritized: 'queued', paused: 'queued', 'waiting-children': 'running', active: 'running', completed: 'done', failed: 'failed' };

/**
 * The queue of `tweedie serve --redis URL`: jobs are BullMQ jobs (id = the job id, data = the spec), so they
 * survive a server restart and are run by any number of `tweedie worker` processes. Status comes from
 * BullMQ's record: its state, progress, return value (metrics and result names) or failure reason.
 */
export class RedisQueue implements JobQueue {
  readonly kind = 'redis' as const;
  private readonly emitter = new EventEmitter().setMaxListeners(0);

  private constructor(private readonly queue: Queue<JobData, JobOutcome>, private readonly flows: FlowProducer, private readonly events: QueueEvents, private readonly data: DataFolder) {
    for (const name of ['waiting', 'active', 'progress', 'completed', 'failed', 'delayed', 'stalled'] as const) {
      events.on(name, ({ jobId }: { jobId: string }) => void this.changed(jobId));
    }
  }

  static async open(url: string, data: DataFolder): Promise<RedisQueue> {
    const connection = redisConnection(url);
    const queue = new Queue<JobData, JobOutcome>(QUEUE_NAME, { connection });
    const events = new QueueEvents(QUEUE_NAME, { connection });
    const flows = new FlowProducer({ connection });
    queue.on('error', () => {});
    events.on('error', () => {});
    flows.on('error', () => {});
    try {
      for (const c of [queue, events, flows]) await connected(c, url);
    } catch (e) {
      await Promise.allSettled([queue.close(), events.close(), flows.close()]);
      throw e;
    }
    return new RedisQueue(queue, flows, events, data);
  }

  async submit(id: string, spec: JobSpec): Promise<void> {
    const opts = { attempts: ATTEMPTS, backoff: { type: 'exponential', delay: 1000 }, removeOnComplete: false, removeOnFail: false };
    const k = splitCount(spec);
    if (k === 1) return void (await this.queue.add('job', { spec }, { jobId: id, ...opts }));
    // A split job: its parts run first (on any workers), then the job itself puts them together.
    const parts = (await splitRanges(spec, this.data.inputDir(id), k)).map((range) => ({ id: randomUUID(), range }));
    await this.flows.add({
      name: 'assemble', queueName: QUEUE_NAME, data: { spec, parts }, opts: { jobId: id, ...opts },
      children: parts.map((p) => ({ name: 'job', queueName: QUEUE_NAME, data: { spec: partSpec(spec, p.range), partOf: id }, opts: { jobId: p.id, failParentOnFailure: true, ...opts } })),
    });
  }

  async get(id: string): Promise<JobStatus | null> {
    // The state first, then the job: a job read first could finish before its state is read, and a 'done'
    // state would meet a job record without its return value (no results).
    const state = await this.queue.getJobState(id);
    const job = await this.queue.getJob(id);
    if (!job || state === 'unknown') return null;
    return this.status(job, state);
  }

  async list(): Promise<JobStatus[]> {
    const out: JobStatus[] = [];
    for (const [state] of Object.entries(STATES)) {
      if (state === 'wait') continue;
      for (const job of await this.queue.getJobs([state as 'waiting'], 0, -1)) if (job && !job.data.partOf) out.push(await this.status(job, state));
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
    const job = await this.queue.getJob(id);
    for (const p of job?.data.parts ?? []) this.data.remove(p.id);
    await job?.remove();
    await (await this.queue.client).del(cancelKey(id));
  }

  watch(id: string, listener: (s: JobStatus) => void): () => void {
    this.emitter.on(id, listener);
    return () => this.emitter.off(id, listener);
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.events.close(), this.queue.close(), this.flows.close()]);
  }

  private async changed(id: string): Promise<void> {
    if (this.emitter.eventNames().length === 0) return;
    await this.notify(id);
    // A part's change is its split job's progress too (partsProgress sums the parts).
    const parent = (await this.queue.getJob(id).catch(() => undefined))?.data.partOf;
    if (parent) await this.notify(parent);
  }

  private async notify(id: string): Promise<void> {
    if (this.emitter.listenerCount(id) === 0) return;
    const s = await this.get(id).catch(() => null);
    if (s) this.emitter.emit(id, s);
  }

  /** A split job's progress: its parts' summed. */
  private async partsProgress(parts: { id: string }[]): Promise<JobProgress | null> {
    const ps = (await Promise.all(parts.map(async (p) => (await this.queue.getJob(p.id))?.progress))).map((p) => (typeof p === 'object' ? (p as unknown as JobProgress) : null));
    const known = ps.filter((p): p is JobProgress => p !== null);
    if (known.length === 0) return null;
    const sum = (f: (p: JobProgress) => number | null) => known.reduce((acc, p) => acc + (f(p) ?? 0), 0);
    const eta = known.map((p) => p.eta_s).filter((e): e is number => e !== null);
    return { done: sum((p) => p.done), total: sum((p) => p.total), step: null, steps: null, slices_done: sum((p) => p.slices_done), eta_s: eta.length ? Math.max(...eta) : null };
  }

  private async status(job: Job<JobData, JobOutcome>, bullState: string): Promise<JobStatus> {
    let state = STATES[bullState] ?? 'queued';
    if (state === 'failed' && job.failedReason === CANCELLED) state = 'cancelled';
    if (state === 'queued' && (await (await this.queue.client).get(cancelKey(job.id!))) !== null) state = 'cancelled';
    const done = state === 'done' ? job.returnvalue : null;
    const progress = bullState === 'waiting-children' ? await this.partsProgress(job.data.parts ?? []) : typeof job.progress === 'object' ? (job.progress as unknown as JobProgress) : null;
    return {
      id: job.id!, task: job.data.spec.task, state, progress,
      metrics: done?.metrics ?? null,
      results: done ? done.results : state === 'failed' ? this.data.results(job.id!) : [],
      error: state === 'failed' ? job.failedReason ?? null : null,
      attempts: job.attemptsStarted ?? job.attemptsMade,
      created: new Date(job.timestamp).toISOString(),
      finished: state === 'cancelled' || state === 'done' || state === 'failed' ? new Date(job.finishedOn ?? Date.now()).toISOString() : null,
    };
  }
}
