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
