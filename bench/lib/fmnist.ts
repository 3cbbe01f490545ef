import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { fail } from '../../src/core/errors.js';
import { Tensor } from '../../src/core/tensor.js';

/** The first n Fashion-MNIST test images (Debian dataset-fashion-mnist), in [-1, 1], padded to 32x32 with -1 (as training/fmnist32.py). */
export function fmnistTest(n: number): Tensor {
  const file = '/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz';
  if (!existsSync(file)) fail('UNREADABLE_FILE', `${file} is missing; apt-get install dataset-fashion-mnist`);
  const raw = gunzipSync(readFileSync(file));
  const out = new Tensor([n, 1, 32, 32], new Float32Array(n * 1024).fill(-1));
  for (let k = 0; k < n; k++) {
    for (let i = 0; i < 28; i++) for (let j = 0; j < 28; j++) out.data[k * 1024 + (i + 2) * 32 + j + 2] = raw[16 + k * 784 + i * 28 + j]! / 127.5 - 1;
  }
  return out;
}
