/** Options that mean the same in every command that takes them, declared once. */

export const threadsOption = { type: 'string', value: 'N', doc: 'ONNX Runtime threads (default: all cores)' } as const;

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
