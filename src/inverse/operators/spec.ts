// Callers of the spec parser import it from here until they move to spec-file.js; then this module goes.
export { parseOperatorSpec, type SpecOptions } from './spec-file.js';
