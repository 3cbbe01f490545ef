import type { JobSpec } from './job-spec.js';

/** What GET /jobs/:id answers, in either queue. */
export type JobState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';
export const JOB_STATES: readonly JobState[] = ['queued', 'running', 'done', 'failed', 'cancelled'];
export const FINISHED: ReadonlySet<JobState> = new Set(['done', 'failed', 'cancelled']);

export interface JobProgress {
  /** Sampler/solver steps done over the whole job, and their total. */
  done: number;
  total: number;
  /** The step of the batch (or slice chunk) being run, of `steps`. */
  step: number | null;
  steps: number | null;
  /** Volume jobs: slices finished. */
  slices_done: number | null;
  /** Seconds left at the rate so far. */
  eta_s: number | null;
}

export interface JobStatus {
  id: string;
  task: JobSpec['task'];
  state: JobState;
  progress: JobProgress | null;
  /** The command's --json summary (file paths as result names). */
  metrics: Record<string, unknown> | null;
  /** Result file names, for GET /jobs/:id/results/:name. */
  results: string[];
  /** Why the job failed: the command's one-line message. */
  error: string | null;
  /** Attempts started (Redis mode retries a failed or stalled attempt). */
  attempts: number;
  created: string;
  finished: string | null;
}

/** The queue behind the API: embedded (in-process) or BullMQ on Redis, with the same interface. */
export interface JobQueue {
  readonly kind: 'embedded' | 'redis';
  submit(id: string, spec: JobSpec): Promise<void>;
  get(id: string): Promise<JobStatus | null>;
  list(): Promise<JobStatus[]>;
  /** Cancel a queued or running job; a finished job stays as it is. Null when there is no such job. */
  cancel(id: string): Promise<JobStatus | null>;
  /** Drop a finished job's record (retention). */
  forget(id: string): Promise<void>;
  /** Call `listener` with the job's status on every change; returns the unsubscribe function. */
  watch(id: string, listener: (s: JobStatus) => void): () => void;
  close(): Promise<void>;
}
