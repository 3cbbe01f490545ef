import { extname } from 'node:path';
import { fail } from '../core/errors.js';
import type { Tensor } from '../core/tensor.js';
import { imageGrid } from '../io/grid.js';
import { writeNpy } from '../io/npy.js';
import { tensorToPng, writePng } from '../io/png.js';

/** Check an --out name early, before any work is done. */
export function checkOutName(out: string | undefined, command: string): string {
  if (!out) return fail('USAGE', `${command} needs --out FILE.npy or FILE.png`);
  const ext = extname(out).toLowerCase();
  if (ext !== '.npy' && ext !== '.png') fail('USAGE', `--out ${out}: use a .npy or .png file name`);
  return out;
}

/** Write samples [K, ...item] as NPY, or as a PNG grid for image-shaped items [C, H, W]. */
export function writeSamples(out: string, x: Tensor, itemShape: readonly number[], valueRange: [number, number]): void {
  if (extname(out).toLowerCase() === '.npy') return writeNpy(out, x);
  if (itemShape.length !== 3) fail('USAGE', `--out ${out}: a PNG grid needs image-shaped samples [C, H, W]; this model gives [${itemShape.join(', ')}]; write .npy instead`);
  writePng(out, tensorToPng(imageGrid(x.reshape([x.batch, ...itemShape])), valueRange));
}
