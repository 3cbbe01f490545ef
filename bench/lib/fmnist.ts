import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { fail } from '../../src/core/errors.js';
import { Tensor } from '../../src/core/tensor.js';

/** The Fashion-MNIST test images (Debian dataset-fashion-mnist, IDX format). */
export const FMNIST_TEST = '/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz';

/**
 * The first n Fashion-MNIST test images as 8-bit levels 0..255 [n, 1, 32, 32], padded by 2 pixels of level 0
 * (the background) as fmnist-32 was trained (training/fmnist32.py).
 */
export function fmnistTestLevels(n: number): Tensor {
  if (!existsSync(FMNIST_TEST)) fail('UNREADABLE_FILE', `${FMNIST_TEST} is missing; apt-get install dataset-fashion-mnist`);
  const raw = gunzipSync(readFileSync(FMNIST_TEST));
  const count = (raw[4]! << 24) | (raw[5]! << 16) | (raw[6]! << 8) | raw[7]!;
  if (n > count) fail('BAD_INPUT', `${FMNIST_TEST} holds ${count} images, fewer than ${n}`);
  const out = new Tensor([n, 1, 32, 32], new Float32Array(n * 1024));
  for (let k = 0; k < n; k++) {
    for (let r = 0; r < 28; r++) out.data.set(raw.subarray(16 + k * 784 + r * 28, 16 + k * 784 + (r + 1) * 28), k * 1024 + (r + 2) * 32 + 2);
  }
  return out;
}

/** The first n Fashion-MNIST test images in the model's range [-1, 1] (level 0 maps to -1). */
export function fmnistTest(n: number): Tensor {
  const levels = fmnistTestLevels(n);
  return new Tensor(levels.shape, levels.data.map((v) => v / 127.5 - 1));
}
