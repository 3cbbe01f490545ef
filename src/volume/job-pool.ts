/**
 * Jobs solved one at a time by a runner built from a shared context, without threads (browser-safe):
 * the in-process side of src/volume/worker-pool.ts, and what a page's Web Worker runs.
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
  /** The worker thread entry: a module that calls serveJobs with the same factory (unused in-process). */
  entry?: URL;
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

/** Workers kept for several rounds of jobs (e.g. one round per diffusion step): each runner is built once. */
export interface Pool<J, R> {
  /** Solve one round of jobs; resolves when all are done (their results by job id). */
  run(jobs: readonly J[]): Promise<Map<number, R>>;
  /** Release the runner(s) and terminate the workers. */
  close(): Promise<void>;
}

/** One runner in this thread, for rounds of jobs run one after another. */
export async function inProcessPool<C, J extends PoolJob, R>(o: PoolOptions<C, J, R>): Promise<Pool<J, R>> {
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

/** Run `jobs` on a pool that `open` starts, closing it however the run ends; results by job id. */
export async function runJobsOn<C, J extends PoolJob, R>(jobs: readonly J[], o: PoolOptions<C, J, R>, open: (o: PoolOptions<C, J, R>) => Promise<Pool<J, R>>): Promise<Map<number, R>> {
  const pool = await open({ ...o, workers: Math.min(o.workers, jobs.length) });
  try {
    return await pool.run(jobs);
  } finally {
    await pool.close();
  }
}
