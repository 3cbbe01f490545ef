import { OnnxDenoiser } from '../models/onnx.js';
import { chunkSolverFor, type ChunkContext, type ChunkSolver } from './chunk-solver.js';

/** The reconstruct runner of a worker thread (or the in-process path): loads ctx.modelDir with onnxruntime-node. */
export async function chunkSolver(ctx: ChunkContext): Promise<ChunkSolver> {
  return chunkSolverFor(await OnnxDenoiser.load(ctx.modelDir, { threads: ctx.threads, backend: 'cpu' }), ctx);
}
