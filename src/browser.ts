/**
 * tweedie for browser tabs: the public API minus everything that reads files or needs Node builtins
 * (file readers, NIfTI/DICOM/PNG/NPY, the CLI, onnxruntime-node). Import dist/src/browser.js directly,
 * with an import map entry for onnxruntime-web.
 */
export * from './core/errors.js';
export * from './core/tensor.js';
export * from './core/ops.js';
export * from './core/rng.js';
export * from './core/linalg.js';
export * from './core/fft.js';
export * from './paths/path.js';
export * from './paths/betas.js';
export * from './paths/vp.js';
export * from './paths/ve.js';
export * from './paths/restoration.js';
export * from './paths/grids.js';
export * from './paths/scheduler-config.js';
export * from './paths/registry.js';
export * from './models/prediction.js';
export * from './models/denoiser.js';
export * from './models/model-fn.js';
export * from './models/gmm.js';
export * from './models/guidance.js';
export * from './models/thresholding.js';
export * from './models/model-spec.js';
export * from './models/ort-denoiser.js';
export * from './models/onnx-web.js';
export * from './samplers/types.js';
export * from './samplers/run.js';
export * from './samplers/registry.js';
export * from './restoration/anchor.js';
export * from './recipes/index.js';
export * from './inverse/operators/operator.js';
export * from './inverse/operators/svd.js';
export * from './inverse/operators/fourier.js';
export * from './inverse/operators/mri-masks.js';
export * from './inverse/operators/mri.js';
export * from './inverse/operators/mri-multicoil.js';
export * from './io/grid.js';
export * from './metrics/image.js';
export * from './metrics/distribution.js';
