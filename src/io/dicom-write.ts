import dcmjs from 'dcmjs';
import { fail } from '../core/errors.js';
import type { DicomSeriesInfo } from './dicom-volume.js';
import { newUid } from './dicom-uid.js';
import { requireVolume3D, type Volume } from './volume.js';

/**
 * A derived DICOM series from a volume, one file per slice along the third axis, written with dcmjs
 * (explicit VR little endian): new Series, SOP Instance UIDs (2.25 root, dicom-uid.ts), ImageType
 * DERIVED\SECONDARY, the geometry of the volume's affine (ImagePositionPatient per slice,
 * ImageOrientationPatient, PixelSpacing, SliceThickness, SpacingBetweenSlices), and intensities stored as
 * signed 16-bit with one RescaleSlope/RescaleIntercept for the series chosen to span the value range (slope 1,
 * intercept 0 when every value already is an int16 integer). Patient, study and frame of reference come from
 * the source series when the input was DICOM; otherwise the patient name and ID are empty (type 2) and the
 * study and frame of reference get new UIDs.
 */

export interface DerivedSeriesOptions {
  /** SeriesDescription, e.g. "tweedie reconstruct dds 50 steps" (at most 64 characters are kept). */
  description: string;
  /** The DICOM series the volume came from (DicomVolume.dicom), whose identity the derived series keeps. */
  source?: DicomSeriesInfo;
  /** SeriesNumber (default 1000 + the source's, or 1000). */
  seriesNumber?: number;
  /** Content date and time (default: now). */
  now?: Date;
}

export interface DerivedSeries {
  /** One Part 10 file per slice, in slice order. */
  files: Uint8Array[];
  seriesInstanceUID: string;
  slope: number;
  intercept: number;
}

const CT_IMAGE = '1.2.840.10008.5.1.4.1.1.2';
const MR_IMAGE = '1.2.840.10008.5.1.4.1.1.4';
const SECONDARY_CAPTURE = '1.2.840.10008.5.1.4.1.1.7';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';
/** tweedie's implementation class UID (a fixed 2.25 UUID). */
const IMPLEMENTATION_UID = '2.25.190431846541385447287612381406366104557';

/** A decimal string (DS) of at most 16 characters for `v`, and the number a reader parses back from it. */
export function decimalString(v: number): string {
  if (!Number.isFinite(v)) return fail('BAD_INPUT', `cannot store ${v} in a DICOM decimal string`);
  for (let p = 15; p >= 1; p--) {
    const s = String(+v.toPrecision(p));
    if (s.length <= 16) return s;
  }
  return fail('BAD_INPUT', `cannot store ${v} in a 16-character DICOM decimal string`);
}

/** RescaleSlope and RescaleIntercept (as stored, parsed back) that map int16 onto [min, max]. */
function rescaleFor(data: Float32Array): { slope: number; intercept: number } {
  let lo = Infinity, hi = -Infinity, integral = true;
  for (const v of data) {
    if (!Number.isFinite(v)) fail('BAD_INPUT', `cannot write ${v} to DICOM: the volume holds non-finite values`);
    if (v < lo) lo = v;
    if (v > hi) hi = v;
    if (integral && !Number.isInteger(v)) integral = false;
  }
  if (integral && lo >= -32768 && hi <= 32767) return { slope: 1, intercept: 0 };
  if (!(hi > lo)) return { slope: 1, intercept: Number(decimalString(lo)) };
  // Slope rounded up so that its stored decimal still spans the range; intercept at the middle of int16.
  let slope = Number(decimalString((hi - lo) / 65534));
  if (slope * 65534 < hi - lo) slope = Number(decimalString(((hi - lo) / 65534) * (1 + 1e-9)));
  const intercept = Number(decimalString((lo + hi) / 2));
  return { slope, intercept };
}

const unit = (v: number[]): [number[], number] => {
  const n = Math.hypot(v[0]!, v[1]!, v[2]!);
  return [v.map((x) => x / n), n];
};

/** Today's date and time as DICOM DA (YYYYMMDD) and TM (HHMMSS), UTC. */
function dateTime(d: Date): [string, string] {
  const iso = d.toISOString();
  return [iso.slice(0, 10).replace(/-/g, ''), iso.slice(11, 19).replace(/:/g, '')];
}

export function encodeDerivedSeries(volume: Volume, options: DerivedSeriesOptions): DerivedSeries {
  const vol = requireVolume3D(volume);
  const [X, Y, Z] = vol.dims as [number, number, number];
  if (X > 65535 || Y > 65535) fail('BAD_SHAPE', `${vol.source ?? 'volume'}: ${X}x${Y} slices do not fit DICOM Rows/Columns (at most 65535)`);
  // RAS -> LPS: negate the first two rows of the affine.
  const lps = vol.affine.slice(0, 3).map((r, i) => (i < 2 ? r.map((x) => -x) : [...r]));
  const col = (j: number): number[] => [lps[0]![j]!, lps[1]![j]!, lps[2]![j]!];
  const [rowDir, dx] = unit(col(0));
  const [colDir, dy] = unit(col(1));
  const step = col(2);
  const dz = Math.hypot(step[0]!, step[1]!, step[2]!);
  if (!(dx > 0 && dy > 0) || Math.abs(rowDir[0]! * colDir[0]! + rowDir[1]! * colDir[1]! + rowDir[2]! * colDir[2]!) > 1e-4) {
    fail('BAD_INPUT', `${vol.source ?? 'volume'}: its affine's first two axes are not orthogonal (a sheared grid), which DICOM's ImageOrientationPatient cannot express; resample it first`);
  }
  const { slope, intercept } = rescaleFor(vol.data);
  const src = options.source;
  const id = src?.identity ?? {};
  const [date, time] = dateTime(options.now ?? new Date());
  const seriesUID = newUid();
  const modality = src?.modality ?? id.Modality ?? 'OT';
  const sopClass = modality === 'CT' ? CT_IMAGE : modality === 'MR' ? MR_IMAGE : SECONDARY_CAPTURE;
  const study = {
    SpecificCharacterSet: id.SpecificCharacterSet ?? 'ISO_IR 192',
    PatientName: id.PatientName ?? '', PatientID: id.PatientID ?? '', PatientBirthDate: id.PatientBirthDate ?? '', PatientSex: id.PatientSex ?? '',
    ...(id.PatientAge ? { PatientAge: id.PatientAge } : {}),
    StudyInstanceUID: id.StudyInstanceUID ?? newUid(), StudyDate: id.StudyDate ?? date, StudyTime: id.StudyTime ?? time, StudyID: id.StudyID ?? '',
    AccessionNumber: id.AccessionNumber ?? '', ReferringPhysicianName: id.ReferringPhysicianName ?? '',
    ...(id.StudyDescription ? { StudyDescription: id.StudyDescription } : {}),
    FrameOfReferenceUID: id.FrameOfReferenceUID ?? newUid(), PositionReferenceIndicator: id.PositionReferenceIndicator ?? '',
    ...(id.BodyPartExamined ? { BodyPartExamined: id.BodyPartExamined } : {}),
  };
  // Type 2 attributes of the CT and MR Image modules, present and empty (PS3.3 C.8.2.1, C.8.3.1).
  const modalityModule = modality === 'CT' ? { KVP: '', AcquisitionNumber: '', RescaleType: 'US' }
    : modality === 'MR' ? { ScanningSequence: 'RM', SequenceVariant: 'NONE', ScanOptions: '', MRAcquisitionType: '', EchoTime: '', EchoTrainLength: '', RepetitionTime: '' }
    : { ConversionType: 'WSD' };
  const ds = (v: number): string => decimalString(Math.abs(v) < 1e-9 ? 0 : v);
  const n = X * Y;
  const files: Uint8Array[] = [];
  const { DicomDict, DicomMetaDictionary } = dcmjs.data;
  for (let k = 0; k < Z; k++) {
    const sop = newUid();
    const pixels = new Int16Array(n);
    for (let i = 0; i < n; i++) pixels[i] = Math.max(-32768, Math.min(32767, Math.round((vol.data[k * n + i]! - intercept) / slope)));
    const position = [0, 1, 2].map((r) => lps[r]![2]! * k + lps[r]![3]!);
    const ref = src && src.sourceSOPInstances.length === Z ? src.sourceSOPInstances[k] : undefined;
    const dataset = {
      ...study,
      ImageType: ['DERIVED', 'SECONDARY'],
      SOPClassUID: sopClass, SOPInstanceUID: sop, Modality: modality,
      SeriesInstanceUID: seriesUID, SeriesNumber: String(options.seriesNumber ?? 1000 + (src?.seriesNumber ?? 0)),
      SeriesDescription: options.description.slice(0, 64), DerivationDescription: options.description.slice(0, 1024),
      ContentDate: date, ContentTime: time, InstanceNumber: String(k + 1),
      ...(src?.lossy ? { LossyImageCompression: '01' } : {}),
      ...(ref ? { SourceImageSequence: [{ ReferencedSOPClassUID: ref.sopClassUID, ReferencedSOPInstanceUID: ref.sopInstanceUID }] } : {}),
      ...modalityModule,
      PatientOrientation: '',
      ImagePositionPatient: position.map(ds), ImageOrientationPatient: [...rowDir, ...colDir].map(ds),
      PixelSpacing: [ds(dy), ds(dx)], SliceThickness: ds(src?.sliceThickness ?? dz), SpacingBetweenSlices: ds(dz),
      SamplesPerPixel: 1, PhotometricInterpretation: 'MONOCHROME2', Rows: Y, Columns: X,
      BitsAllocated: 16, BitsStored: 16, HighBit: 15, PixelRepresentation: 1,
      RescaleIntercept: decimalString(intercept), RescaleSlope: decimalString(slope),
      PixelData: [pixels.buffer], _vrMap: { PixelData: 'OW' },
    };
    const meta = {
      FileMetaInformationVersion: new Uint8Array([0, 1]).buffer, MediaStorageSOPClassUID: sopClass, MediaStorageSOPInstanceUID: sop,
      TransferSyntaxUID: EXPLICIT_LE, ImplementationClassUID: IMPLEMENTATION_UID, ImplementationVersionName: 'TWEEDIE',
    };
    const dict = new DicomDict(DicomMetaDictionary.denaturalizeDataset(meta));
    dict.dict = DicomMetaDictionary.denaturalizeDataset(dataset);
    files.push(new Uint8Array(dict.write()));
  }
  return { files, seriesInstanceUID: seriesUID, slope, intercept };
}
