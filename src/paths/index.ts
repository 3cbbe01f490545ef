export * from './path.js';
export * from './betas.js';
export * from './vp.js';
export * from './ve.js';
export * from './restoration.js';
export * from './grids.js';
export * from './scheduler-config.js';
export * from './registry.js';
