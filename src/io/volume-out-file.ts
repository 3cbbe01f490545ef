import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fail } from '../core/errors.js';
import { encodeDerivedSeries } from './dicom-write.js';
import { dicomSourceOf } from './volume-file.js';
import { niftiFileBytes } from './nifti.js';
import type { Volume } from './volume.js';

/**
 * Where a command writes a volume: a NIfTI file (.nii, .nii.gz), a DICOM folder ("DIR/", or an existing
 * folder) holding a derived series of one file per slice, or one .dcm file for a one-slice volume.
 */

const isNifti = (out: string): boolean => /\.nii(\.gz)?$/i.test(out);
export const isDicomFolderOut = (out: string): boolean => /[/\\]$/.test(out) || (existsSync(out) && statSync(out).isDirectory());
export const isDicomOut = (out: string): boolean => isDicomFolderOut(out) || /\.dcm$/i.test(out);
const sliceName = (k: number, z: number): string => `IMG${String(k + 1).padStart(Math.max(5, String(z).length), '0')}.dcm`;

/**
 * Check a volume output name before any work; for a DICOM folder, make sure it is new or empty and create it.
 * Returns the file to hand to checkOutputs (for a folder, its first slice's file).
 */
export function prepareVolumeOut(option: string, out: string): string {
  if (isNifti(out) || /\.dcm$/i.test(out)) return out;
  if (!isDicomFolderOut(out)) fail('USAGE', `${option} ${out}: write a NIfTI file (.nii or .nii.gz), a DICOM folder (end the name with /) or one .dcm file`);
  if (existsSync(out)) {
    const held = readdirSync(out);
    if (held.length) fail('USAGE', `${option} ${out}: the folder already holds ${held.length} file(s) (${held.slice(0, 3).join(', ')}); name a new or empty folder for the DICOM series`);
  } else {
    if (!existsSync(dirname(resolve(out)))) fail('USAGE', `${option} ${out}: the folder ${dirname(resolve(out))} does not exist; create it first`);
    mkdirSync(out);
  }
  return join(out, sliceName(0, 1));
}

export interface VolumeOutOptions {
  /** NIfTI: copy this volume's header (NIfTI geometry of the input). */
  like?: Volume;
  /** DICOM: the SeriesDescription, naming the method. */
  description: string;
  /** DICOM: the volume whose DICOM identity the series keeps (default `vol` itself). */
  source?: Volume;
}

/** The files (name and bytes) that hold `vol` at `out`, for commitOutputs. */
export function volumeOutFiles(out: string, vol: Volume, options: VolumeOutOptions): { file: string; bytes: Uint8Array }[] {
  if (isNifti(out)) return [{ file: out, bytes: niftiFileBytes(out, vol, options.like ? { like: options.like } : {}) }];
  const source = dicomSourceOf(options.source ?? vol) ?? dicomSourceOf(vol);
  const series = encodeDerivedSeries(vol, { description: options.description, ...(source ? { source } : {}) });
  if (!isDicomFolderOut(out)) {
    if (series.files.length !== 1) fail('USAGE', `--out ${out}: a .dcm file holds one image but the result has ${series.files.length} slices; write a folder (--out DIR/)`);
    return [{ file: out, bytes: series.files[0]! }];
  }
  return series.files.map((bytes, k) => ({ file: join(out, sliceName(k, series.files.length)), bytes }));
}
