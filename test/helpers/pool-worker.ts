import { writeFileSync } from 'node:fs';
import { isMainThread, threadId } from 'node:worker_threads';
import { TweedieError } from '../../src/core/errors.js';
import { serveJobs, type JobRunner } from '../../src/volume/worker-pool.js';

/** A toy runner for the worker-pool tests, and (in a worker thread) their worker entry. */
export interface SumContext {
  scale: number;
  offsets: Float64Array;
  failOnStart?: boolean;
  /** A 'hang' job still running after 1 s writes this file. */
  marker?: string;
}

export interface SumJob {
  id: number;
  values: number[];
  /** 'throw': a TweedieError; 'exit': the thread exits with code 3; 'hang': runs for a minute. */
  fault?: 'throw' | 'exit' | 'hang';
}

export interface SumResult {
  sum: number;
  thread: number;
}

export async function sumRunner(ctx: SumContext): Promise<JobRunner<SumJob, SumResult>> {
  if (ctx.failOnStart) throw new TweedieError('BAD_CONFIG', 'runner cannot start');
  return {
    async run(job, onProgress) {
      if (job.fault === 'throw') throw new TweedieError('BAD_INPUT', `job ${job.id} failed`);
      if (job.fault === 'exit') process.exit(3);
      if (job.fault === 'hang') {
        setTimeout(() => ctx.marker && writeFileSync(ctx.marker, 'still running'), 1000);
        await new Promise((resolve) => setTimeout(resolve, 60_000));
      }
      let sum = ctx.offsets[job.id % ctx.offsets.length]!;
      job.values.forEach((v, i) => {
        sum += ctx.scale * v;
        onProgress(i + 1);
      });
      return { sum, thread: threadId };
    },
    release: async () => {},
  };
}

if (!isMainThread) await serveJobs(sumRunner);
