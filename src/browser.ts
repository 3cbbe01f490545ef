/**
 * tweedie without Node: every module that reads no files and imports no Node builtin (`tweedie/browser`;
 * in a page without a bundler, dist/src/browser.js with an import map entry for onnxruntime-web).
 * The Node entry (index.ts) is this plus the file readers, onnxruntime-node, operator specs and volumes.
 */
export * from './core/errors.js';
export * from './core/tensor.js';
export * from './core/ops.js';
export * from './core/rng.js';
export * from './core/linalg.js';
export * from './core/fft.js';
export * from './core/cg.js';
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
export * from './models/derivatives.js';
export * from './models/gmm.js';
export * from './models/gaussian-fit.js';
export * from './models/guidance.js';
export * from './models/thresholding.js';
export * from './models/model-spec.js';
export * from './models/ort-denoiser.js';
export * from './models/onnx-web.js';
export * from './core/numeric.js';
export * from './samplers/index.js';
export * from './restoration/anchor.js';
export * from './recipes/index.js';
export * from './inverse/operators/index.js';
export * from './inverse/exact-posterior.js';
export * from './inverse/solvers/types.js';
export * from './inverse/solvers/registry.js';
export * from './inverse/solvers/run.js';
export * from './inverse/active.js';
export * from './io/grid.js';
export * from './io/svg-plot.js';
export * from './diagnostics/diagnose.js';
export * from './diagnostics/intrinsic-dimension.js';
export * from './diagnostics/plots.js';
export * from './metrics/image.js';
export * from './metrics/distribution.js';
