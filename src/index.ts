/** tweedie: diffusion models in TypeScript. The public API. */
export * from './core/errors.js';
export * from './core/tensor.js';
export * from './core/ops.js';
export * from './core/rng.js';
export * from './core/linalg.js';
export * from './paths/index.js';
export * from './models/prediction.js';
export * from './models/denoiser.js';
export * from './models/model-fn.js';
export * from './models/gmm.js';
export * from './models/guidance.js';
export * from './models/thresholding.js';
