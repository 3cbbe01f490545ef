import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { fail } from '../../src/core/errors.js';
import { Tensor } from '../../src/core/tensor.js';

/** The Fashion-MNIST test images (Debian dataset-fashion-mnist, IDX format). */
export const FMNIST_TEST = '/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz';

/** The Fashion-MNIST training images (same package and format). */
export const FMNIST_TRAIN = '/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz';

/**
 * The first n images of an IDX image file as 8-bit levels 0..255 [n, 1, 32, 32], padded by 2 pixels of level 0
 * (the background) as fmnist-32 was trained (training/fmnist32.py).
 */
function fmnistLevels(file: string, n: number): Tensor {
  if (!existsSync(file)) fail('UNREADABLE_FILE', `${file} is missing; apt-get install dataset-fashion-mnist`);
  const raw = gunzipSync(readFileSync(file));
  const count = (raw[4]! << 24) | (raw[5]! << 16) | (raw[6]! << 8) | raw[7]!;
  if (n > count) fail('BAD_INPUT', `${file} holds ${count} images, fewer than ${n}`);
  const out = new Tensor([n, 1, 32, 32], new Float32Array(n * 1024));
  for (let k = 0; k < n; k++) {
    for (let r = 0; r < 28; r++) out.data.set(raw.subarray(16 + k * 784 + r * 28, 16 + k * 784 + (r + 1) * 28), k * 1024 + (r + 2) * 32 + 2);
  }
  return out;
}

/** The first n Fashion-MNIST test images as levels [n, 1, 32, 32] (see fmnistLevels). */
export function fmnistTestLevels(n: number): Tensor {
  return fmnistLevels(FMNIST_TEST, n);
}

/** Levels in the model's range [-1, 1] (level 0 maps to -1). */
function toModelRange(levels: Tensor): Tensor {
  return new Tensor(levels.shape, levels.data.map((v) => v / 127.5 - 1));
}

/** The first n Fashion-MNIST test images in the model's range [-1, 1]. */
export function fmnistTest(n: number): Tensor {
  return toModelRange(fmnistTestLevels(n));
}

/** The first n Fashion-MNIST training images in the model's range [-1, 1]. */
export function fmnistTrain(n: number): Tensor {
  return toModelRange(fmnistLevels(FMNIST_TRAIN, n));
}
