import { availableParallelism } from 'node:os';
import { loadOperatorFiles } from '../inverse/operators/spec-file.js';
import type { OperatorConfig } from '../inverse/operators/registry.js';
import type { MriConfig } from '../inverse/operators/mri-def.js';
import type { GradientRoute } from '../models/denoiser.js';
import { readModelFolder } from '../models/model-folder.js';
import type { Volume } from '../io/volume.js';
import { chunkSolver } from './onnx-chunk-solver.js';
import { openPool } from './worker-pool.js';
import { readSplit } from './split-file.js';
import {
  priorGradientRoute, operatorConfig as simulatedConfig, reconstructMeasuredIn, reconstructVolumeIn, type MeasuredResult, type ReconstructEnv, type ReconstructOptions, type ReconstructResult,
} from './reconstruct-core.js';

export * from './reconstruct-core.js';

/**
 * Volume reconstruction in Node (src/volume/reconstruct-core.ts does the work): the prior read from its folder,
 * a mask file read here, batches of slices on worker threads with onnxruntime-node.
 */

/** The operator of a modality as a structured config; a mask file is read here, so workers receive its data. */
export function operatorConfig(o: Pick<ReconstructOptions, 'modality' | 'acceleration' | 'mask' | 'maskFile' | 'views' | 'noise'>): OperatorConfig {
  if (o.modality === 'mri' && o.maskFile !== undefined) return loadOperatorFiles<MriConfig>({ kind: 'mri', noise: o.noise ?? 0.01, complex: false, mask: { file: o.maskFile, format: 'npy' } });
  return simulatedConfig(o);
}

function nodeEnv(o: ReconstructOptions): ReconstructEnv {
  return {
    prior: readModelFolder(o.modelDir, () => {}), split: readSplit(o.modelDir, o.splitFallback), operatorConfig,
    runner: chunkSolver, open: openPool, entry: new URL('./worker.js', import.meta.url), workers: availableParallelism(),
  };
}

/** The gradient route the solver will use on the prior (null for a gradient-free solver); a route the prior lacks is refused before any worker starts. */
export function reconstructGradientRoute(o: Pick<ReconstructOptions, 'modelDir' | 'solver' | 'gradient'>): GradientRoute | null {
  return priorGradientRoute(readModelFolder(o.modelDir, () => {}), o);
}

/** Reconstruct slices of a 3-D volume (src/volume/reconstruct-core.ts). */
export function reconstructVolume(input: Volume, o: ReconstructOptions): Promise<ReconstructResult> {
  return reconstructVolumeIn(nodeEnv(o), input, o);
}

/** Reconstruct measured data (o.measurement, one item per slice) without a ground-truth volume. */
export function reconstructMeasured(o: ReconstructOptions): Promise<MeasuredResult> {
  return reconstructMeasuredIn(nodeEnv(o), o);
}
