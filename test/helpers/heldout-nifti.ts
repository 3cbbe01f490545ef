import { join } from 'node:path';
import { readNpy } from '../../src/io/npy.js';
import { writeNifti } from '../../src/io/nifti.js';
import { createVolume } from '../../src/io/volume.js';

/** brain-64's split.json intensity scale: x = 2 v / p - 1 (model units) for v in the volume's units. */
export const P = 178;

/**
 * The first `slices` held-out slices of brain-64 (weights/brain-64/heldout.npy, model units) as a 64 x 64 x slices
 * NIfTI in `dir`, in intensity units v = (x + 1) p / 2, image row r at y = 63 - r (the model space's orientation),
 * gzip-compressed.
 */
export function heldoutNifti(dir: string, slices: number): string {
  const h = readNpy('weights/brain-64/heldout.npy');
  const data = new Float32Array(64 * 64 * slices);
  for (let k = 0; k < slices; k++) {
    for (let r = 0; r < 64; r++) for (let x = 0; x < 64; x++) data[k * 4096 + (63 - r) * 64 + x] = ((Number(h.data[k * 4096 + r * 64 + x]) + 1) * P) / 2;
  }
  const file = join(dir, `heldout${slices}.nii.gz`);
  writeNifti(file, createVolume(data, [64, 64, slices], { descrip: 'brain-64 held-out slices 60..63' }));
  return file;
}
