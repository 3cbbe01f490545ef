import { isDicomPath, readDicom, type ReadDicomOptions } from './dicom-file.js';
import type { DicomVolume } from './dicom-volume.js';
import { readNifti } from './nifti.js';
import type { Volume } from './volume.js';

/**
 * A volume from a NIfTI file (.nii, .nii.gz) or from DICOM: a folder of one series (or several, with
 * `series` choosing one), a .dcm file, or any file with the DICOM preamble. DICOM volumes keep their
 * source's identity (DicomVolume.dicom) for a derived series.
 */
export async function readVolumeFile(path: string, options: ReadDicomOptions = {}): Promise<Volume | DicomVolume> {
  if (!/\.nii(\.gz)?$/i.test(path) && isDicomPath(path)) return readDicom(path, options);
  return readNifti(path);
}

/** The DICOM source of a volume read by readVolumeFile, if it came from DICOM. */
export const dicomSourceOf = (vol: Volume): DicomVolume['dicom'] | undefined => (vol as Partial<DicomVolume>).dicom;
