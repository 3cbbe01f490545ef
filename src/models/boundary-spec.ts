import { fail } from '../core/errors.js';

/**
 * tweedie.json "boundary": the optimal boundary conditions (starting noises) shipped with a restoration model, one per
 * deterministic sampler setting it was selected for (Ma et al., ICLR 2024). A noise is optimal only for the sampler,
 * its parameters, its step count and the item shape it was selected at, so those four are its key.
 */
export interface BoundarySpec {
  /** The noise [...shape] as .npy inside the model folder. */
  file: string;
  sampler: string;
  /** The sampler's parameters with every default filled in. */
  params: Record<string, number | boolean | string>;
  steps: number;
  shape: number[];
  /** How it was selected (metric, candidates, seed, reference set, scores): provenance, not read by the sampler. */
  selection: Record<string, unknown>;
}

const EXAMPLE = '[{"file": "boundary-mrs-10.npy", "sampler": "mrs", "params": {...}, "steps": 10, "shape": [1, 32, 32], "selection": {...}}]';

/** The sampler settings a boundary was selected for, as one comparable string. */
export function boundaryKey(b: { sampler: string; params: Record<string, unknown>; steps: number; shape: readonly number[] }): string {
  const params = Object.keys(b.params).sort().map((k) => `${k}=${String(b.params[k])}`).join(',');
  return `${b.sampler}${params ? ` (${params})` : ''}, ${b.steps} steps, [${b.shape.join(', ')}]`;
}

export function parseBoundaries(v: unknown, name: string): BoundarySpec[] {
  if (v === undefined) return [];
  const bad = (what: string): never => fail('BAD_CONFIG', `${name}: "boundary" ${what}; it is a list like ${EXAMPLE} (written by "tweedie boundary")`);
  if (!Array.isArray(v)) return bad('must be a list');
  const seen = new Set<string>();
  return v.map((e, i) => {
    if (typeof e !== 'object' || e === null || Array.isArray(e)) return bad(`entry ${i} is not an object`);
    const b = e as Record<string, unknown>;
    const file = b.file;
    // A name inside the folder: fetched next to model.onnx in the browser as on disk.
    if (typeof file !== 'string' || !/^[\w.=-]+\.npy$/.test(file) || file.startsWith('.')) return bad(`entry ${i}: "file" must be an .npy file name inside the model folder`);
    if (typeof b.sampler !== 'string' || b.sampler === '') return bad(`entry ${i}: "sampler" must be a sampler name`);
    if (!Number.isSafeInteger(b.steps) || (b.steps as number) < 1) return bad(`entry ${i}: "steps" must be a positive integer`);
    const params = b.params ?? {};
    if (typeof params !== 'object' || params === null || Array.isArray(params) || !Object.values(params).every((p) => ['number', 'boolean', 'string'].includes(typeof p))) {
      return bad(`entry ${i}: "params" must be an object of numbers, booleans and strings`);
    }
    if (!Array.isArray(b.shape) || b.shape.length === 0 || !b.shape.every((d) => Number.isSafeInteger(d) && d > 0)) return bad(`entry ${i}: "shape" must be a list of positive integers`);
    const selection = b.selection ?? {};
    if (typeof selection !== 'object' || selection === null || Array.isArray(selection)) return bad(`entry ${i}: "selection" must be an object`);
    const spec: BoundarySpec = { file, sampler: b.sampler, params: params as BoundarySpec['params'], steps: b.steps as number, shape: b.shape as number[], selection: selection as Record<string, unknown> };
    const key = boundaryKey(spec);
    if (seen.has(key)) return bad(`has two entries for ${key}; keep one`);
    seen.add(key);
    return spec;
  });
}
