import { parentPort, workerData } from 'node:worker_threads';
import { TweedieError } from '../core/errors.js';
import { chunkSolver, type ChunkContext, type ChunkJob } from './reconstruct.js';

/**
 * A reconstruct worker thread: loads its own ONNX session (ctx.threads intra-op threads, 1 by
 * default), says 'ready', then solves the batches of slices it is sent, one at a time.
 */
const port = parentPort;
if (!port) throw new Error('src/volume/worker.ts runs as a worker thread (reconstructVolume starts it)');
const ctx = workerData as ChunkContext;
const post = (m: unknown, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);
const report = (e: unknown) =>
  post(e instanceof TweedieError ? { type: 'error', code: e.code, message: e.message } : { type: 'error', message: (e as Error)?.stack ?? String(e) });

try {
  const solver = await chunkSolver(ctx);
  port.on('message', (m: { type: 'job'; job: ChunkJob }) => {
    const job = m.job;
    solver
      .solve(job, (step) => post({ type: 'step', id: job.id, step }))
      .then((r) => post({ type: 'done', id: job.id, ...r }, [r.x.buffer as ArrayBuffer]))
      .catch(report);
  });
  post({ type: 'ready' });
} catch (e) {
  report(e);
}
