import { SPIN_ENV, THREADS_FORCE_ENV } from '../models/onnx.js';
import { MAX_STEPS } from '../core/limits.js';

/** Options that mean the same in every command that takes them, declared once. */

export const threadsOption = {
  type: 'string', value: 'N',
  doc: `ONNX Runtime threads (default: all cores); at most the core count (os.availableParallelism()) unless ${THREADS_FORCE_ENV}=1 is set; idle threads sleep rather than spin unless ${SPIN_ENV}=1`,
} as const;

export function seedOption(item: string) {
  return { type: 'string', value: 'S', default: '0', doc: `noise seed; ${item} i depends only on (S, i)` } as const;
}

export function paramOption(owner: 'sampler' | 'solver') {
  return { type: 'string', value: 'KEY=VALUE', multiple: true, doc: `a ${owner} option (repeatable), see "tweedie ${owner}s --json"` } as const;
}

export function batchOption(items: string, dflt: string) {
  return { type: 'string', value: 'B', default: dflt, doc: `${items} per model call; results do not depend on it` } as const;
}

export function jsonOption(keys: string) {
  return { type: 'boolean', doc: `print one JSON object on stdout: ${keys}` } as const;
}

export function stepsOption(what: string, dflt: string) {
  return { type: 'string', value: 'N', default: dflt, doc: `${what}, 1..${MAX_STEPS}` } as const;
}

/** --grad: how gradient solvers (dps, pigdm) differentiate the model (src/models/derivatives.ts). */
export const gradOption = {
  type: 'string', value: 'ROUTE', default: 'auto',
  doc: 'how dps and pigdm differentiate the model: exported (the model.grad.onnx graph tweedie.json declares: one run, 2.7-2.8x the time of a forward call in bench inverse), ' +
    'differences (central differences: 2 model evaluations, the JVP standing in for the VJP, right where the Jacobian is symmetric), ' +
    'exact (gmm: models), or auto (the model\'s own gradient, else differences)',
} as const;

/** --size HxW: the image size for a model whose tweedie.json declares "multiple" (src/models/layout.ts). */
export const sizeOption = {
  type: 'string', value: 'HxW',
  doc: 'image size for a model whose tweedie.json declares "multiple" (any H x W; run padded to multiples of it and cropped back); default: its "shape". Refused for fixed-size models',
} as const;
