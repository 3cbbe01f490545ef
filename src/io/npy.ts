import { readFileSync, writeFileSync } from 'node:fs';
import type { Tensor } from '../core/tensor.js';
import { fileError } from '../core/errors.js';
import { encodeNpy, parseTypedNpy } from './npy-codec.js';

/** NumPy .npy files on disk; the format itself is src/io/npy-codec.ts. */
export { encodeNpy, parseNpy, parseTypedNpy } from './npy-codec.js';

export function readNpy(path: string): Tensor {
  return readTypedNpy(path).tensor;
}

export function readTypedNpy(path: string): { tensor: Tensor; descr: string } {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    return fileError('read', path, e);
  }
  return parseTypedNpy(bytes, path);
}

export function writeNpy(path: string, t: Tensor): void {
  try {
    writeFileSync(path, encodeNpy(t));
  } catch (e) {
    fileError('write', path, e);
  }
}
