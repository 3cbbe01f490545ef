import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fillNormal } from '../../src/core/rng.js';
import { readNpy } from '../../src/io/npy.js';
import { encodePng } from '../../src/io/png.js';

/**
 * A noisy 8-bit grey PNG of brain-64's first held-out slice (noise sd 0.2 in model units, seed 11, brightened by 1.4
 * so that its brightest pixels saturate), made so that the
 * page's model-space mapping of a 64 x 64 image (src/volume/model-space.ts: crop = the box of pixels above 0.1 p,
 * x = 2 g / p - 1, p the 99.5th percentile) is exactly `tweedie restore`'s PNG mapping (x = 2 g / 255 - 1): two
 * opposite corners are white, so the box is the whole image, and the test checks that at least 1% of the pixels are
 * 255 (then p = 255). Returns the file and its grey levels (rows top to bottom).
 */
export function noisySlicePng(dir: string): { file: string; gray: Uint8Array } {
  const h = readNpy('weights/brain-64/heldout.npy'), noise = new Float64Array(4096);
  fillNormal(noise, 0, 4096, 11, 0, 0);
  const gray = Uint8Array.from({ length: 4096 }, (_, i) => Math.round(Math.min(255, Math.max(0, (1.4 * 255 * (Number(h.data[i]) + 0.2 * noise[i]! + 1)) / 2))));
  gray[0] = gray[4095] = 255;
  const file = join(dir, 'noisy-slice.png');
  writeFileSync(file, encodePng({ width: 64, height: 64, channels: 1, data: gray }));
  return { file, gray };
}

/** Model units of a 255-grey-level value (the PNG mapping of both). */
export const greyToModel = (g: number): number => (2 * g) / 255 - 1;
