import { readFileSync, statSync } from 'node:fs';
import { fail, fileError } from '../core/errors.js';
import { openFastmri, type FastmriFile } from './fastmri.js';

/** The largest HDF5 file read whole into memory: 2 GiB (a fastMRI brain volume is about 0.5 GiB). */
export const MAX_HDF5_BYTES = 2 ** 31;

/** Open a fastMRI HDF5 file from disk (Node only; the browser hands the bytes to openFastmri). */
export async function readFastmriFile(path: string): Promise<FastmriFile> {
  let bytes: Uint8Array;
  try {
    const size = statSync(path).size;
    if (size > MAX_HDF5_BYTES) fail('BAD_INPUT', `${path} is ${(size / 2 ** 30).toFixed(1)} GiB, more than the 2 GiB tweedie reads; split the slices into smaller files`);
    bytes = readFileSync(path);
  } catch (e) {
    return fileError('read', path, e);
  }
  return openFastmri(bytes, path);
}

/** True for a file name that reconstruct reads as fastMRI HDF5. */
export function isHdf5Name(path: string): boolean {
  return /\.(h5|hdf5|hdf)$/i.test(path);
}
