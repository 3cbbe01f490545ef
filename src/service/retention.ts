import type { DataFolder } from './data-folder.js';
import { FINISHED, type JobQueue } from './job-status.js';

/** How long finished jobs (their records and files) are kept: at most `maxJobs` of them, none older than `maxAgeS`. */
export interface Retention {
  maxAgeS: number;
  maxJobs: number;
}

/** Remove finished jobs past the retention limits; returns how many went. Queued and running jobs are never removed. */
export async function prune(queue: JobQueue, data: DataFolder, r: Retention, now = Date.now()): Promise<number> {
  const finished = (await queue.list()).filter((s) => FINISHED.has(s.state) && s.finished).sort((a, b) => b.finished!.localeCompare(a.finished!));
  const drop = finished.filter((s, i) => i >= r.maxJobs || now - Date.parse(s.finished!) > r.maxAgeS * 1000);
  for (const s of drop) {
    await queue.forget(s.id);
    data.remove(s.id);
  }
  return drop.length;
}
