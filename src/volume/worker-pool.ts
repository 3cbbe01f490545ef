import { parentPort, Worker, workerData } from 'node:worker_threads';
import { TweedieError, type ErrorCode } from '../core/errors.js';

/**
 * A pool of worker threads for independent jobs. Every worker builds one runner from the same
 * context (its workerData, so any structured-cloneable object), says 'ready', and is then sent
 * one job at a time; results come back by job id, progress as it goes. The first error (a failed
 * job, a runner that cannot be built, a worker that dies) rejects the whole run, and all workers
 * are terminated however the run ends. With one worker the runner runs in-process instead.
 * A pool may also be kept open for rounds of jobs (openPool), e.g. slices advancing in lockstep.
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
  const pool = await openPool({ ...o, workers: Math.min(o.workers, jobs.length) });
  try {
    return await pool.run(jobs);
  } finally {
    await pool.close();
  }
}

/** Workers kept for several rounds of jobs (e.g. one round per diffusion step): each runner is built once. */
export interface Pool<J, R> {
  /** Solve one round of jobs; resolves when all are done (their results by job id). */
  run(jobs: readonly J[]): Promise<Map<number, R>>;
  /** Release the runner(s) and terminate the workers. */
  close(): Promise<void>;
}

/** Start `o.workers` worker threads (or, for 1 or fewer, one in-process runner) for rounds of jobs. */
export async function openPool<C, J extends PoolJob, R>(o: PoolOptions<C, J, R>): Promise<Pool<J, R>> {
  if (o.workers <= 1) {
    const runner = await o.runner(o.context);
    return {
      async run(jobs) {
        const results = new Map<number, R>();
        for (const job of jobs) results.set(job.id, await runner.run(job, (progress) => o.onProgress?.(job.id, progress)));
        return results;
      },
      close: () => runner.release(),
    };
  }
  return threadPool(o);
}

/** The worker-thread pool: idle workers take queued jobs; the first error fails the round (and every later one). */
function threadPool<C, J extends PoolJob, R>(o: PoolOptions<C, J, R>): Pool<J, R> {
  // Workers inherit the parent's execArgv; --input-type (a parent started with node -e) breaks a file entry.
  const execArgv = process.execArgv.filter((a) => !a.startsWith('--input-type') && !a.startsWith('--eval') && a !== '-e');
  const pool: Worker[] = [], idle: Worker[] = [];
  let queue: J[] = [];
  let round: { results: Map<number, R>; expected: number; resolve: (r: Map<number, R>) => void; reject: (e: unknown) => void } | null = null;
  let failure: unknown = null, closing = false;
  const abort = (e: unknown) => {
    if (failure !== null) return;
    failure = e;
    round?.reject(e);
    round = null;
  };
  const pump = () => {
    while (failure === null && idle.length > 0 && queue.length > 0) idle.shift()!.postMessage({ type: 'job', job: queue.shift()! });
  };
  for (let i = 0; i < o.workers; i++) {
    const w = new Worker(o.entry, { workerData: o.context, execArgv });
    pool.push(w);
    w.on('message', (m: PoolMessage<R>) => {
      if (m.type === 'ready') {
        idle.push(w);
        pump();
      } else if (m.type === 'progress') {
        // A progress callback may stop the run (a cancelled service job): its error fails the round.
        try {
          o.onProgress?.(m.id, m.progress);
        } catch (e) {
          abort(e);
        }
      }
      else if (m.type === 'done') {
        idle.push(w);
        if (round) {
          round.results.set(m.id, m.result);
          if (round.results.size === round.expected) {
            const r = round;
            round = null;
            r.resolve(r.results);
          }
        }
        pump();
      } else if (m.type === 'error') abort(m.code ? new TweedieError(m.code, m.message) : new Error(m.message));
    });
    w.on('error', (e) => abort(e));
    w.on('exit', (code) => {
      if (!closing && code !== 0) abort(new Error(`${o.label} worker ${i} exited with code ${code}`));
    });
  }
  return {
    run(jobs) {
      if (failure !== null) return Promise.reject(failure);
      if (round) return Promise.reject(new Error(`${o.label}: a round of jobs is still running`));
      if (jobs.length === 0) return Promise.resolve(new Map());
      return new Promise((resolve, reject) => {
        round = { results: new Map(), expected: jobs.length, resolve, reject };
        queue = [...jobs];
        pump();
      });
    },
    async close() {
      closing = true;
      await Promise.all(pool.map((w) => w.terminate()));
    },
  };
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
