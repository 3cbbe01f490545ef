export * from './types.js';
export * from './run.js';
export * from './registry.js';
export * from './ddim.js';
