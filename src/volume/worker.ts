import { chunkSolver } from './onnx-chunk-solver.js';
import { serveJobs } from './worker-pool.js';

/**
 * A reconstruct worker thread: loads its own ONNX session (ctx.threads intra-op threads, 1 by
 * default), says 'ready', then solves the batches of slices it is sent, one at a time.
 */
await serveJobs(chunkSolver, (r) => [r.x.buffer as ArrayBuffer]);
