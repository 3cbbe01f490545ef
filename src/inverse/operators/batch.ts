import { fail } from '../../core/errors.js';
import type { Tensor } from '../../core/tensor.js';

/** Checks that t is [B, ...item] and returns B. */
export function checkBatch(t: Tensor, item: readonly number[], what: string): number {
  const s = t.shape;
  const ok = s.length === item.length + 1 && item.every((d, i) => s[i + 1] === d);
  if (!ok) {
    fail(
      'BAD_SHAPE',
      `${what}: expected a batch [B, ${item.join(', ')}], got [${s.join(', ')}]; ` +
        (s.length === item.length ? 'add a batch axis (reshape to [1, ...])' : 'pass data of the operator\'s shape'),
    );
  }
  return s[0]!;
}
