import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fail } from '../core/errors.js';
import type { Tensor } from '../core/tensor.js';
import { readNpy } from '../io/npy.js';
import type { BoundarySpec } from '../models/boundary-spec.js';
import { checkedBoundaryNoise } from './boundary.js';

/** A shipped boundary's noise (tweedie.json "boundary"), read and checked against the shape its entry declares. */
export function boundaryNoise(dir: string, b: BoundarySpec): Tensor {
  const file = join(dir, b.file);
  if (!existsSync(file)) fail('UNREADABLE_FILE', `${join(dir, 'tweedie.json')}: "boundary" names ${b.file}, which is not in ${dir}; copy it back, or remove its entry (then restores start from random noise)`);
  return checkedBoundaryNoise(readNpy(file), b, file);
}
