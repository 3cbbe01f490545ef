import { UnrecoverableError, Worker } from 'bullmq';
import { TweedieError } from '../core/errors.js';
import { DataFolder } from './data-folder.js';
import { cancelKey, CANCELLED, connected, QUEUE_NAME, redisConnection, type JobData } from './redis-queue.js';
import { errorLine, isCancellation, runJob, type JobOutcome } from './run-job.js';
import { commitOutputs } from '../cli/output.js';
import { join } from 'node:path';
import { DEFAULT_OUT, type JobSpec } from './job-spec.js';
import { assembleParts, PART_OUT } from './volume-split.js';

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
      const id = job.id!, client = await worker.client, whole = job.data.partOf ?? id;
      if ((await client.get(cancelKey(whole))) !== null) throw new UnrecoverableError(CANCELLED);
      if (job.data.parts) return assemble(id, job.data.spec, job.data.parts, data, await job.getChildrenValues<JobOutcome>());
      o.log(`job ${id} (${job.data.spec.task}) attempt ${job.attemptsStarted ?? job.attemptsMade + 1}`);
      let cancelled = false, lastPush = 0;
      try {
        return await runJob(id, job.data.spec, data, {
          onProgress: (p) => {
            const now = Date.now();
            if (now - lastPush < PROGRESS_MS && p.done < p.total) return;
            lastPush = now;
            void job.updateProgress(p).catch(() => {});
            void client.get(cancelKey(whole)).then((v) => (cancelled ||= v !== null)).catch(() => {});
          },
          cancelled: () => cancelled,
          models,
        }, whole);
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
  worker.on('completed', (job) => o.log(`job ${job.id} done`));
  worker.on('failed', (job, e) => job && o.log(`job ${job.id} failed: ${e.message}`));
  await connected(worker, o.redis);
  let done!: () => void;
  const closed = new Promise<void>((resolve) => (done = resolve));
  void worker.run().finally(done);
  return { closed, close: () => worker.close() };
}

/** The last step of a split job: its parts' volumes in slice order, written atomically, with their metrics. */
async function assemble(id: string, spec: JobSpec, parts: NonNullable<JobData['parts']>, data: DataFolder, done: Record<string, JobOutcome>): Promise<JobOutcome> {
  // BullMQ keys the parts' return values "bull:QUEUE:ID".
  const metricsOf = (partId: string) => Object.entries(done).find(([key]) => key.endsWith(`:${partId}`))?.[1]?.metrics ?? {};
  const out = String(spec.options.out ?? DEFAULT_OUT.reconstruct);
  const file = join(data.freshResults(id), out);
  commitOutputs([{ file, bytes: assembleParts(file, parts.map((p) => ({ file: join(data.resultDir(p.id), PART_OUT), range: p.range }))) }]);
  return { metrics: { out, parts: parts.map((p) => ({ ...metricsOf(p.id), slices: p.range })) }, results: data.results(id) };
}
