export * from './batches.js';
export * from './generate.js';
export * from './solve.js';
export * from './restore.js';
export * from './condition.js';
