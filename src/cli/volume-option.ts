import { fail } from '../core/errors.js';
import { selectVolume, volumeCount, type Volume } from '../io/volume.js';
import { intOption } from './args.js';

/** --volume T of the commands that read NIfTI volumes (restore, reconstruct). */
export function volumeOption(files: string) {
  return { type: 'string', value: 'T', doc: `the volume of a 4-D ${files} file to use (0-based)` } as const;
}

/** --series of the commands that read DICOM folders. */
export function seriesOption(files: string) {
  return { type: 'string', value: 'UID|NUMBER', doc: `the series to read from a DICOM ${files} folder holding several (its SeriesInstanceUID or SeriesNumber)` } as const;
}

/**
 * The 3-D volume of `vol`, read from `file`: a file with more than one volume (4-D) needs --volume T,
 * given as `volume`, in 0..volumes-1.
 */
export function pickVolume(vol: Volume, file: string, volume: string | undefined): Volume {
  const count = volumeCount(vol);
  if (volume !== undefined) return selectVolume(vol, intOption(volume, 'volume', 0, count - 1));
  if (count > 1) {
    fail('BAD_SHAPE', `${file} is ${vol.dims.length}-D with dims [${vol.dims.join(', ')}] (${count} volumes); pick one 3-D volume with --volume T (0..${count - 1}), or split the file (e.g. fslsplit)`);
  }
  return vol;
}

/** --slices A:B of the commands that work on a volume's slices (reconstruct, restore). */
export const slicesOption = { type: 'string', value: 'A:B', doc: 'slices A..B-1 along the third axis (default all)' } as const;

/** --slices A:B parsed (checked against the volume later, src/volume/reconstruct-core.ts sliceRangeOf). */
export function parseSlices(v: string | undefined): [number, number] | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d+):(\d+)$/.exec(v.trim());
  if (!m) fail('USAGE', `--slices must look like A:B (slices A..B-1), got "${v}"`);
  const a = Number(m![1]), b = Number(m![2]);
  if (!Number.isSafeInteger(b)) fail('USAGE', `--slices ${v}: B must be at most 2^53-1`);
  if (!(a < b)) fail('USAGE', `--slices ${v}: A must be less than B`);
  return [a, b];
}
