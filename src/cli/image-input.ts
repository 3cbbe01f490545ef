import { fail } from '../core/errors.js';
import { Tensor } from '../core/tensor.js';
import { isDicomPath } from '../io/dicom-file.js';
import { readNpy } from '../io/npy.js';
import { pngToTensor, readPng } from '../io/png.js';
import { readVolumeFile } from '../io/volume-file.js';
import { isDicomOut, volumeOutFiles } from '../io/volume-out-file.js';
import { requireVolume3D, setSlice, sliceAxial, type Volume } from '../io/volume.js';
import { unitToModel } from '../volume/input-mapping.js';
import { samplesBytes } from './output.js';
import { pickVolume } from './volume-option.js';

/**
 * The image inputs of the CLI (restore --input/--truth, solve --truth, diagnose --data, likelihood --data, --cond-image):
 * .npy, .png, NIfTI or DICOM (a file, or a folder of one series), read as [N, C, H, W] in a model's value range;
 * and the outputs that keep a NIfTI or DICOM input's geometry.
 */

export interface Images {
  x: Tensor;
  /** For NIfTI or DICOM input: the volume and the intensity window mapped onto the model's range. */
  volume?: { vol: Volume; lo: number; hi: number };
}

export const isNifti = (file: string): boolean => /\.nii(\.gz)?$/i.test(file);
/** NIfTI and DICOM inputs carry a geometry that NIfTI and DICOM outputs keep. */
export const isVolumeInput = (file: string): boolean => isNifti(file) || isDicomPath(file);
/** An output that keeps a volume input's geometry: NIfTI, a DICOM folder (DIR/) or one .dcm file. */
export const isVolumeOut = (out: string): boolean => isNifti(out) || isDicomOut(out);
/** Check that readImages takes `file` (before any work): one line naming the kinds it takes. */
export function checkImageInput(file: string, what: string): void {
  if (!/\.(npy|png)$/i.test(file) && !isVolumeInput(file)) fail('USAGE', `${what} ${file}: use a .npy, .png, .nii or .nii.gz file, or DICOM (a file or a folder)`);
}

export interface ImageReadOptions {
  /** --volume T of a 4-D NIfTI. */
  volume?: string | undefined;
  /** --series of a DICOM folder holding several. */
  series?: string | undefined;
}

/**
 * Read images as [N, C, H, W] in `range`: .npy [H, W], [C, H, W] or [N, C, H, W] as stored; .png mapped from [0, 1]
 * (src/volume/input-mapping.ts); a NIfTI or DICOM volume slice by slice along its third axis, mapped linearly
 * from the volume's [min, max] (solve, diagnose, likelihood; restore maps a volume by the model-space path instead).
 */
export async function readImages(file: string, range: [number, number], what: string, options: ImageReadOptions = {}): Promise<Images> {
  checkImageInput(file, what);
  const lower = file.toLowerCase();
  if (lower.endsWith('.npy')) {
    const t = readNpy(file).toDtype('float32');
    const s = t.shape;
    if (s.length === 2) return { x: t.reshape([1, 1, s[0]!, s[1]!]) };
    if (s.length === 3) return { x: t.reshape([1, ...s]) };
    if (s.length === 4) return { x: t };
    return fail('BAD_SHAPE', `${what} ${file} has shape [${s.join(', ')}]; expected [H, W], [C, H, W] or [N, C, H, W]`);
  }
  if (lower.endsWith('.png')) {
    const img = pngToTensor(readPng(file));
    return { x: new Tensor([1, ...img.shape], img.data.map((v) => unitToModel(v, range))) };
  }
  const vol = await readVolumeInput(file, what, options);
  let lo = Infinity, hi = -Infinity;
  for (const v of vol.data) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!(hi > lo)) fail('BAD_INPUT', `${what} ${file} is constant (${lo}); it holds no image to work on`);
  const [X, Y, Z] = vol.dims as [number, number, number];
  const x = Tensor.zeros([Z, 1, Y, X]);
  for (let k = 0; k < Z; k++) {
    const s = sliceAxial(vol, k).data;
    for (let i = 0; i < X * Y; i++) x.data[k * X * Y + i] = range[0] + ((s[i]! - lo) / (hi - lo)) * (range[1] - range[0]);
  }
  return { x, volume: { vol, lo, hi } };
}

/** A NIfTI (one volume of a 4-D file: --volume) or DICOM (one series: --series) input as a 3-D volume. */
export async function readVolumeInput(file: string, what: string, options: ImageReadOptions = {}): Promise<Volume> {
  const read = await readVolumeFile(file, options.series !== undefined ? { series: options.series } : {});
  return requireVolume3D(pickVolume(read, `${what} ${file}`, options.volume));
}

/** An array input that any shape suits (solve --truth, diagnose --data): a .npy as stored, else readImages. */
export async function readArrayOrImages(file: string, range: [number, number], what: string, options: ImageReadOptions = {}): Promise<Images> {
  return /\.npy$/i.test(file) ? { x: readNpy(file) } : readImages(file, range, what, options);
}

/**
 * Result images [N, ...itemShape] (one per input slice) as the files of `out`: a NIfTI or DICOM series with the input
 * volume's geometry and intensity units, or samples (.npy / .png grid).
 */
export function imageOutFiles(out: string, x: Tensor, volume: Images['volume'], itemShape: readonly number[], range: [number, number], description: string): { file: string; bytes: Uint8Array }[] {
  if (volume && isVolumeOut(out)) {
    const { vol, lo, hi } = volume;
    const copy: Volume = { ...vol, data: new Float32Array(vol.data) };
    const plane = x.itemSize;
    for (let k = 0; k < x.batch; k++) {
      const s = x.data.subarray(k * plane, (k + 1) * plane);
      setSlice(copy, k, new Tensor([1, itemShape[1]!, itemShape[2]!], Float32Array.from(s, (v) => lo + ((v - range[0]) / (range[1] - range[0])) * (hi - lo))));
    }
    return volumeOutFiles(out, copy, { description });
  }
  return [{ file: out, bytes: samplesBytes(out, x, itemShape, range) }];
}
