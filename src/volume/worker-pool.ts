import { parentPort, Worker, workerData } from 'node:worker_threads';
import { TweedieError, type ErrorCode } from '../core/errors.js';

/**
 * A pool of worker threads for independent jobs. Every worker builds one runner from the same
 * context (its workerData, so any structured-cloneable object), says 'ready', and is then sent
 * one job at a time; results come back by job id, progress as it goes. The first error (a failed
 * job, a runner that cannot be built, a worker that dies) rejects the whole run, and all workers
 * are terminated however the run ends. With one worker the runner runs in-process instead.
 */

/** Solves jobs one at a time, reporting progress (e.g. steps done) as it goes. */
export interface JobRunner<J, R> {
  run(job: J, onProgress: (progress: number) => void): Promise<R>;
  release(): Promise<void>;
}

/** Builds a runner from the shared context: in each worker thread, or in-process. */
export type RunnerFactory<C, J, R> = (context: C) => Promise<JobRunner<J, R>>;

/** Jobs carry their own id (unique within a run): results and progress are keyed by it. */
export interface PoolJob {
  id: number;
}

export interface PoolOptions<C, J, R> {
  /** The worker thread entry: a module that calls serveJobs with the same factory. */
  entry: URL;
  /** Sent to every worker as its workerData (structured clone). */
  context: C;
  /** The factory, for the in-process path. */
  runner: RunnerFactory<C, J, R>;
  /** Worker threads (at most one per job); 1 or fewer runs the jobs in-process. */
  workers: number;
  /** Names the workers in error messages ("LABEL worker 2 exited with code 1"). */
  label: string;
  onProgress?: (id: number, progress: number) => void;
}

type PoolMessage<R> =
  | { type: 'ready' }
  | { type: 'progress'; id: number; progress: number }
  | { type: 'done'; id: number; result: R }
  | { type: 'error'; code?: ErrorCode; message: string };

/** Run `jobs` on worker threads (or in-process); their results by job id. */
export async function runJobs<C, J extends PoolJob, R>(jobs: readonly J[], o: PoolOptions<C, J, R>): Promise<Map<number, R>> {
  const results = new Map<number, R>();
  const workers = Math.min(o.workers, jobs.length);
  if (workers <= 1) {
    const runner = await o.runner(o.context);
    try {
      for (const job of jobs) results.set(job.id, await runner.run(job, (progress) => o.onProgress?.(job.id, progress)));
    } finally {
      await runner.release();
    }
    return results;
  }
  // Workers inherit the parent's execArgv; --input-type (a parent started with node -e) breaks a file entry.
  const execArgv = process.execArgv.filter((a) => !a.startsWith('--input-type') && !a.startsWith('--eval') && a !== '-e');
  const queue = [...jobs];
  const pool: Worker[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      let failed = false;
      const finish = (e?: unknown) => {
        if (failed) return;
        if (e) {
          failed = true;
          reject(e);
        } else if (results.size === jobs.length) resolve();
      };
      const feed = (w: Worker) => {
        const job = queue.shift();
        if (!job) return;
        w.postMessage({ type: 'job', job });
      };
      for (let i = 0; i < workers; i++) {
        const w = new Worker(o.entry, { workerData: o.context, execArgv });
        pool.push(w);
        w.on('message', (m: PoolMessage<R>) => {
          if (m.type === 'ready') feed(w);
          else if (m.type === 'progress') o.onProgress?.(m.id, m.progress);
          else if (m.type === 'done') {
            results.set(m.id, m.result);
            feed(w);
            finish();
          } else if (m.type === 'error') finish(m.code ? new TweedieError(m.code, m.message) : new Error(m.message));
        });
        w.on('error', (e) => finish(e));
        w.on('exit', (code) => {
          if (code !== 0 && results.size < jobs.length) finish(new Error(`${o.label} worker ${i} exited with code ${code}`));
        });
      }
    });
  } finally {
    await Promise.all(pool.map((w) => w.terminate()));
  }
  return results;
}

/**
 * The worker side of runJobs, for a worker thread's entry module: build the runner from
 * workerData, then solve the jobs the pool sends. `transfer` names the buffers of a result to
 * move rather than copy back.
 */
export async function serveJobs<C, J extends PoolJob, R>(runner: RunnerFactory<C, J, R>, transfer: (result: R) => ArrayBuffer[] = () => []): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('serveJobs runs in a worker thread that runJobs starts');
  const post = (m: PoolMessage<R>, list: ArrayBuffer[] = []) => port.postMessage(m, list);
  const report = (e: unknown) =>
    post(e instanceof TweedieError ? { type: 'error', code: e.code, message: e.message } : { type: 'error', message: (e as Error)?.stack ?? String(e) });
  try {
    const r = await runner(workerData as C);
    port.on('message', (m: { type: 'job'; job: J }) => {
      const job = m.job;
      r.run(job, (progress) => post({ type: 'progress', id: job.id, progress }))
        .then((result) => post({ type: 'done', id: job.id, result }, transfer(result)))
        .catch(report);
    });
    post({ type: 'ready' });
  } catch (e) {
    report(e);
  }
}
