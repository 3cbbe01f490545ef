import { parentPort, Worker, workerData } from 'node:worker_threads';
import { TweedieError, type ErrorCode } from '../core/errors.js';
import { inProcessPool, runJobsOn, type Pool, type PoolJob, type PoolOptions, type RunnerFactory } from './job-pool.js';

export type { JobRunner, Pool, PoolJob, PoolOptions, RunnerFactory } from './job-pool.js';

/**
 * A pool of worker threads for independent jobs. Every worker builds one runner from the same
 * context (its workerData, so any structured-cloneable object), says 'ready', and is then sent
 * one job at a time; results come back by job id, progress as it goes. The first error (a failed
 * job, a runner that cannot be built, a worker that dies) rejects the whole run, and all workers
 * are terminated however the run ends. With one worker the runner runs in-process instead.
 * A pool may also be kept open for rounds of jobs (openPool), e.g. slices advancing in lockstep.
 */

type PoolMessage<R> =
  | { type: 'ready' }
  | { type: 'progress'; id: number; progress: number }
  | { type: 'done'; id: number; result: R }
  | { type: 'error'; code?: ErrorCode; message: string };

/** Run `jobs` on worker threads (or in-process); their results by job id. */
export function runJobs<C, J extends PoolJob, R>(jobs: readonly J[], o: PoolOptions<C, J, R>): Promise<Map<number, R>> {
  return runJobsOn(jobs, o, openPool);
}

/** Start `o.workers` worker threads (or, for 1 or fewer, one in-process runner) for rounds of jobs. */
export async function openPool<C, J extends PoolJob, R>(o: PoolOptions<C, J, R>): Promise<Pool<J, R>> {
  return o.workers <= 1 ? inProcessPool(o) : threadPool(o);
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
    if (!o.entry) throw new Error(`${o.label}: a pool of worker threads needs an entry module`);
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
