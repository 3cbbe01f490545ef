/**
 * Measurement operators of the inverse problems (A, A^T and their closed forms), their spec grammar and
 * structured configurations: pure maths. Reading the files a spec names is the Node edge, spec-file.ts.
 */
export * from './operator.js';
export * from './svd.js';
export * from './svd-operator.js';
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
export * from './mri-def.js';
export * from './ct.js';
export * from './phantoms.js';
export * from './matrix.js';
export * from './padded.js';
export * from './spec-grammar.js';
export * from './registry.js';
