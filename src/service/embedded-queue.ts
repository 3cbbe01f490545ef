import { EventEmitter } from 'node:events';
import type { DataFolder } from './data-folder.js';
import type { JobSpec } from './job-spec.js';
import { FINISHED, type JobQueue, type JobStatus } from './job-status.js';
import { errorLine, isCancellation, runJob } from './run-job.js';

interface Entry {
  status: JobStatus;
  spec: JobSpec;
  cancelled: boolean;
}

/**
 * The queue of `tweedie serve` without --redis: jobs run in the server process, `concurrency` at a time,
 * in submission order. Its records live in memory (a restarted server forgets them; their files stay in
 * the data folder until retention removes them); Redis mode keeps them across restarts.
 */
export class EmbeddedQueue implements JobQueue {
  readonly kind = 'embedded' as const;
  private readonly entries = new Map<string, Entry>();
  private readonly pending: string[] = [];
  private readonly events = new EventEmitter().setMaxListeners(0);
  private readonly models = new Map<string, Promise<unknown>>();
  private running = 0;

  constructor(private readonly data: DataFolder, private readonly concurrency = 1) {}

  async submit(id: string, spec: JobSpec): Promise<void> {
    const status: JobStatus = { id, task: spec.task, state: 'queued', progress: null, metrics: null, results: [], error: null, attempts: 0, created: new Date().toISOString(), finished: null };
    this.entries.set(id, { status, spec, cancelled: false });
    this.pending.push(id);
    this.changed(id);
    this.pump();
  }

  async get(id: string): Promise<JobStatus | null> {
    return this.entries.get(id)?.status ?? null;
  }

  async list(): Promise<JobStatus[]> {
    return [...this.entries.values()].map((e) => e.status);
  }

  async cancel(id: string): Promise<JobStatus | null> {
    const e = this.entries.get(id);
    if (!e) return null;
    if (e.status.state === 'queued') {
      this.pending.splice(this.pending.indexOf(id), 1);
      this.finish(e, { state: 'cancelled' });
    } else if (e.status.state === 'running') e.cancelled = true;
    return e.status;
  }

  async forget(id: string): Promise<void> {
    if (FINISHED.has(this.entries.get(id)?.status.state ?? 'queued')) this.entries.delete(id);
  }

  watch(id: string, listener: (s: JobStatus) => void): () => void {
    this.events.on(id, listener);
    return () => this.events.off(id, listener);
  }

  async close(): Promise<void> {
    for (const e of this.entries.values()) e.cancelled = true;
  }

  private changed(id: string): void {
    const e = this.entries.get(id);
    if (e) this.events.emit(id, e.status);
  }

  private finish(e: Entry, patch: Partial<JobStatus>): void {
    e.status = { ...e.status, ...patch, finished: new Date().toISOString() };
    this.changed(e.status.id);
  }

  private pump(): void {
    while (this.running < this.concurrency && this.pending.length > 0) void this.start(this.entries.get(this.pending.shift()!)!);
  }

  private async start(e: Entry): Promise<void> {
    this.running++;
    const id = e.status.id;
    e.status = { ...e.status, state: 'running', attempts: e.status.attempts + 1 };
    this.changed(id);
    try {
      const r = await runJob(id, e.spec, this.data, {
        onProgress: (progress) => {
          e.status = { ...e.status, progress };
          this.changed(id);
        },
        cancelled: () => e.cancelled,
        models: this.models,
      });
      this.finish(e, { state: 'done', ...r });
    } catch (err) {
      if (isCancellation(err) && e.cancelled) {
        this.data.freshResults(id);
        this.finish(e, { state: 'cancelled' });
      } else this.finish(e, { state: 'failed', error: errorLine(err), results: this.data.results(id) });
    } finally {
      this.running--;
      this.pump();
    }
  }
}
