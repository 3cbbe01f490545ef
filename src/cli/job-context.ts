import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * A CLI command run as a service job (src/service/run-job.ts): the same command, with its progress, its
 * --json summary and its loaded models handed to the job instead of the terminal. Outside a job (the
 * plain CLI) there is no context and the commands draw their progress bar and print their summary.
 */
export interface CommandProgress {
  done: number;
  total: number;
  step?: number;
  steps?: number;
  /** Volume commands: slices finished so far. */
  slicesDone?: number;
}

export interface JobContext {
  /** A progress report; it may throw (a cancelled job) to stop the run, or return a promise to let other work in. */
  progress(label: string, p: CommandProgress): void | Promise<void>;
  /** The command's --json summary. */
  summary(s: Record<string, unknown>): void;
  /** Models loaded by earlier jobs of this process, by model spec and thread count (one ONNX session per worker process). */
  models: Map<string, Promise<unknown>>;
}

export const jobContext = new AsyncLocalStorage<JobContext>();

/** A command's --json summary: to the job running it, else one line on stdout. */
export function printSummary(summary: Record<string, unknown>): void {
  const job = jobContext.getStore();
  if (job) job.summary(summary);
  else process.stdout.write(JSON.stringify(summary) + '\n');
}
