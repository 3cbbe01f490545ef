import { UnrecoverableError, Worker } from 'bullmq';
import { TweedieError } from '../core/errors.js';
import { DataFolder } from './data-folder.js';
import { cancelKey, CANCELLED, connected, QUEUE_NAME, redisConnection, type JobData } from './redis-queue.js';
import { errorLine, isCancellation, runJob, type JobOutcome } from './run-job.js';

export interface WorkerOptions {
  redis: string;
  data: string;
  concurrency: number;
  /** Seconds without a lock renewal after which a job counts as stalled (its worker died) and is run again. */
  stalledS: number;
  log: (line: string) => void;
}

/** How often a running job publishes its progress and looks for a cancellation. */
const PROGRESS_MS = 200;

/**
 * A BullMQ worker running the server's jobs in this process: the same runJob as the embedded queue, with
 * the models it loads kept for later jobs (one ONNX session per model in this process). A job that fails
 * on its input (a TweedieError: the command's one-line message) fails at once; any other failure, or a
 * worker that dies mid-job (SIGKILL, a lost machine: its lock lapses after --stalled-s), is retried.
 */
export async function startWorker(o: WorkerOptions): Promise<{ close(): Promise<void>; closed: Promise<void> }> {
  const data = new DataFolder(o.data);
  const models = new Map<string, Promise<unknown>>();
  const connection = { ...redisConnection(o.redis), maxRetriesPerRequest: null };
  const worker: Worker<JobData, JobOutcome> = new Worker<JobData, JobOutcome>(
    QUEUE_NAME,
    async (job) => {
      const id = job.id!, client = await worker.client;
      if ((await client.get(cancelKey(id))) !== null) throw new UnrecoverableError(CANCELLED);
      o.log(`job ${id} (${job.data.spec.task}) attempt ${job.attemptsStarted ?? job.attemptsMade + 1}`);
      let cancelled = false, lastPush = 0;
      try {
        return await runJob(id, job.data.spec, data, {
          onProgress: (p) => {
            const now = Date.now();
            if (now - lastPush < PROGRESS_MS && p.done < p.total) return;
            lastPush = now;
            void job.updateProgress(p).catch(() => {});
            void client.get(cancelKey(id)).then((v) => (cancelled ||= v !== null)).catch(() => {});
          },
          cancelled: () => cancelled,
          models,
        });
      } catch (e) {
        if (isCancellation(e) && cancelled) {
          data.freshResults(id);
          throw new UnrecoverableError(CANCELLED);
        }
        if (e instanceof TweedieError) throw new UnrecoverableError(errorLine(e));
        throw e;
      }
    },
    { connection, concurrency: o.concurrency, lockDuration: o.stalledS * 1000, stalledInterval: o.stalledS * 1000, maxStalledCount: 2, autorun: false },
  );
  worker.on('error', (e) => o.log(`redis: ${e.message}`));
  worker.on('failed', (job, e) => job && o.log(`job ${job.id} failed: ${e.message}`));
  await connected(worker, o.redis);
  let done!: () => void;
  const closed = new Promise<void>((resolve) => (done = resolve));
  void worker.run().finally(done);
  return { closed, close: () => worker.close() };
}
