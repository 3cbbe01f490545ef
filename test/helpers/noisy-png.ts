import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fillNormal } from '../../src/core/rng.js';
import { readNpy } from '../../src/io/npy.js';
import { encodePng } from '../../src/io/png.js';

/**
 * A noisy 8-bit grey PNG of brain-64's first held-out slice (noise sd 0.2 in model units, seed 11, brightened by 1.4
 * so that its brightest pixels saturate, two opposite corners white). The page and `tweedie restore` read a PNG the same
 * way (src/volume/input-mapping.ts: x = 2 g / 255 - 1 for brain-irsde's [-1, 1]). Returns the file and its grey levels
 * (rows top to bottom).
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

/** Model units of a 255-grey-level value (the one PNG mapping). */
export const greyToModel = (g: number): number => (2 * g) / 255 - 1;
