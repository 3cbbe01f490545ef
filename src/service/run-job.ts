import { basename } from 'node:path';
import { fail, TweedieError } from '../core/errors.js';
import { jobContext, type CommandProgress } from '../cli/job-context.js';
import { parseOptions, type Command } from '../cli/options.js';
import type { DataFolder } from './data-folder.js';
import { jobArgv, TASKS, type JobSpec } from './job-spec.js';
import type { JobProgress } from './job-status.js';

export interface JobHooks {
  onProgress(p: JobProgress): void;
  /** True once the job was cancelled: the run stops at its next progress report. */
  cancelled(): boolean;
  /** Loaded models kept across the jobs of this process. */
  models: Map<string, Promise<unknown>>;
}

export interface JobOutcome {
  metrics: Record<string, unknown>;
  results: string[];
}

/** How often a running job lets the event loop serve requests (HTTP, Redis locks) between its steps. */
const YIELD_MS = 50;

/**
 * Run a job in this process: the task's CLI command on the job's argv (jobArgv), its progress and
 * summary collected through the job context. Every attempt starts with an empty results folder, and
 * the command writes its files atomically, so a retried job ends with one set of results. The part of a
 * split job reads the inputs of its whole job (`inputsOf`).
 */
export async function runJob(id: string, spec: JobSpec, data: DataFolder, hooks: JobHooks, inputsOf = id): Promise<JobOutcome> {
  const inputDir = data.inputDir(inputsOf), resultDir = data.freshResults(id);
  const cmd = TASKS[spec.task] as Command;
  const args = parseOptions(cmd, jobArgv(spec, inputDir, resultDir));
  const start = Date.now();
  let summary: Record<string, unknown> | null = null, lastYield = start;
  const progress = (_label: string, p: CommandProgress): void | Promise<void> => {
    if (hooks.cancelled()) fail('ABORTED', 'the job was cancelled');
    const now = Date.now(), elapsed = (now - start) / 1000;
    hooks.onProgress({
      done: p.done, total: p.total, step: p.step ?? null, steps: p.steps ?? null, slices_done: p.slicesDone ?? null,
      eta_s: p.done > 0 ? Math.round((elapsed * (p.total - p.done)) / p.done * 10) / 10 : null,
    });
    if (now - lastYield < YIELD_MS) return;
    lastYield = now;
    return new Promise((resolve) => setImmediate(resolve));
  };
  await jobContext.run({ progress, summary: (s) => (summary = s), models: hooks.models }, () => cmd.run(args));
  if (hooks.cancelled()) fail('ABORTED', 'the job was cancelled');
  // Server paths stay on the server: a file in the summary is named by its base name (a DICOM series out by the job's NAME/).
  const local = (v: unknown): unknown => {
    if (typeof v !== 'string' || !(v.startsWith(inputDir) || v.startsWith(resultDir))) return v;
    return v === `${resultDir}/` ? spec.options.out : basename(v);
  };
  const metrics = Object.fromEntries(Object.entries(summary ?? {}).map(([k, v]) => [k, local(v)]));
  return { metrics, results: data.results(id) };
}

/** A failed run as one line for the job's `error`. */
export function errorLine(e: unknown): string {
  if (e instanceof TweedieError) return e.message.replace(/\s*\n\s*/g, ' ');
  return `internal error: ${(e as Error)?.message ?? String(e)}`;
}

export function isCancellation(e: unknown): boolean {
  return e instanceof TweedieError && e.code === 'ABORTED';
}
