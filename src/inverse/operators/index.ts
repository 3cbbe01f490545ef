/** Measurement operators of the inverse problems (A, A^T and their closed forms) and the spec parser. */
export * from './operator.js';
export * from './svd.js';
export * from './pseudo-inverse.js';
export * from './fourier.js';
export * from './identity.js';
export * from './inpainting.js';
export * from './superres.js';
export * from './blur.js';
export * from './colorization.js';
export * from './mri-masks.js';
export * from './mri.js';
export * from './mri-multicoil.js';
export * from './ct.js';
export * from './phantoms.js';
export * from './matrix.js';
export * from './spec.js';
