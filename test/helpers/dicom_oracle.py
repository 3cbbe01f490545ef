"""Independent DICOM writer and reader for tweedie's DICOM tests (run with /usr/bin/python3: Debian's
python3-pydicom, python3-nibabel, numpy). No code shared with src/io/.

  series OUTDIR N [SIZE [INTERCEPT]]  N axial slices of ch2 as a CT series (int16 stored, signed, RescaleSlope
                           0.25, RescaleIntercept -1000, explicit VR little endian), files named out of z order;
                           with SIZE, the central SIZE x SIZE block of each slice; INTERCEPT another
                           RescaleIntercept (500: ch2's background at 0, as the model-space mapping wants it)
  enhanced OUT N           the same N slices as one Enhanced MR Image object: per-frame PlanePosition and
                           PixelValueTransformation (a different rescale per frame), shared orientation and
                           spacing, frames stored in shuffled order
  decode OUT.npy FILE...   pydicom's own decoding of uncompressed files, rescaled, float64 [frames, rows, cols]
                           (frames of all files in the order given)
  expected OUT.npy N [SIZE] the values `series`/`enhanced` store, float64 [slice, row, col], ascending z
"""
import sys
import numpy as np
import nibabel as nib
import pydicom
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

CH2 = '/usr/share/mricron/templates/ch2.nii.gz'
SLOPE, INTERCEPT = 0.25, -1000.0
# Column direction +x (RAS) = -x (LPS), rows along +y (RAS) = -y (LPS): ImageOrientationPatient -1\0\0\0\-1\0.
IOP = [-1.0, 0.0, 0.0, 0.0, -1.0, 0.0]


def slices(n, size=None):
    img = nib.load(CH2)
    a = np.asarray(img.dataobj, dtype=np.float64)
    ks = [40 + 3 * i for i in range(n)]
    # Slice k: rows j (RAS y), columns i (RAS x); stored int16 values spanning negatives.
    stored = [np.round(a[:, :, k].T * 40.0 - 2000.0).astype(np.int16) for k in ks]
    i0 = j0 = 0
    if size:
        j0, i0 = (stored[0].shape[0] - size) // 2, (stored[0].shape[1] - size) // 2
        stored = [s[j0:j0 + size, i0:i0 + size].copy() for s in stored]
    aff = img.affine
    pos = []
    for k in ks:
        w = aff @ np.array([i0, j0, k, 1.0])
        pos.append([-w[0], -w[1], w[2]])  # RAS -> LPS
    return stored, pos, (1.0, 1.0), 3.0


def base(sop_class, modality):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(None, {}, file_meta=meta, preamble=b'\0' * 128)
    ds.is_little_endian, ds.is_implicit_VR = True, False
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = 'Oracle^Colin', 'CH2-27', '19700101', 'M'
    ds.StudyInstanceUID, ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber = '2.25.11', '20260101', '120000', 'S1', 'A1'
    ds.ReferringPhysicianName = ''
    ds.FrameOfReferenceUID = '2.25.12'
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, 'MONOCHROME2'
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    return ds


def series(out, n, size=None, intercept=INTERCEPT):
    stored, pos, ps, dz = slices(n, size)
    uid = generate_uid()
    for s, (px, p) in enumerate(zip(stored, pos)):
        ds = base('1.2.840.10008.5.1.4.1.1.2', 'CT')
        ds.SeriesInstanceUID, ds.SeriesNumber, ds.SeriesDescription = uid, 3, 'oracle ch2 CT'
        ds.InstanceNumber = s + 1
        ds.ImagePositionPatient, ds.ImageOrientationPatient = [f'{v:g}' for v in p], IOP
        ds.PixelSpacing, ds.SliceThickness = list(ps), dz
        ds.Rows, ds.Columns = px.shape
        ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = SLOPE, intercept, 'HU'
        ds.PixelData = px.tobytes()
        ds.save_as(f'{out}/S{(3 * s + 1) % n:04d}-{s}.dcm', write_like_original=False)


def enhanced(out, n):
    stored, pos, ps, dz = slices(n)
    order = [(5 * s + 2) % n for s in range(n)] if n % 5 else list(reversed(range(n)))
    ds = base('1.2.840.10008.5.1.4.1.1.4.1', 'MR')
    ds.SeriesInstanceUID, ds.SeriesNumber, ds.SeriesDescription = generate_uid(), 4, 'oracle ch2 enhanced MR'
    ds.InstanceNumber, ds.NumberOfFrames = 1, n
    ds.Rows, ds.Columns = stored[0].shape
    shared = Dataset()
    po = Dataset(); po.ImageOrientationPatient = IOP
    pm = Dataset(); pm.PixelSpacing, pm.SliceThickness, pm.SpacingBetweenSlices = list(ps), dz, dz
    shared.PlaneOrientationSequence, shared.PixelMeasuresSequence = Sequence([po]), Sequence([pm])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    frames, pixels = [], []
    for s in order:
        f = Dataset()
        pp = Dataset(); pp.ImagePositionPatient = [f'{v:g}' for v in pos[s]]
        vt = Dataset()
        # Per-frame rescale: frame of slice s stores (value - b_s) / m_s.
        m, b = SLOPE * (1 + s % 3), INTERCEPT + 10 * s
        vt.RescaleSlope, vt.RescaleIntercept, vt.RescaleType = m, b, 'US'
        f.PlanePositionSequence, f.PixelValueTransformationSequence = Sequence([pp]), Sequence([vt])
        frames.append(f)
        value = stored[s].astype(np.float64) * SLOPE + INTERCEPT
        pixels.append(np.round((value - b) / m).astype(np.int16))
    ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
    ds.PixelData = np.stack(pixels).tobytes()
    ds.save_as(out, write_like_original=False)


def expected(out, n, size=None):
    stored, _, _, _ = slices(n, size)
    np.save(out, np.stack([s.astype(np.float64) * SLOPE + INTERCEPT for s in stored]))


def enhanced_expected(out, n):
    """What the enhanced object's frames hold after its per-frame rescale (rounding included), ascending z."""
    stored, _, _, _ = slices(n)
    res = []
    for s in range(n):
        m, b = SLOPE * (1 + s % 3), INTERCEPT + 10 * s
        value = stored[s].astype(np.float64) * SLOPE + INTERCEPT
        res.append(np.round((value - b) / m) * m + b)
    np.save(out, np.stack(res))


def decode(out, files):
    arrays = []
    for f in files:
        ds = pydicom.dcmread(f)
        a = ds.pixel_array.astype(np.float64)
        a = a * float(getattr(ds, 'RescaleSlope', getattr(ds, 'DoseGridScaling', 1))) + float(getattr(ds, 'RescaleIntercept', 0))
        arrays.append(a.reshape((-1,) + a.shape[-2:]))
    np.save(out, np.concatenate(arrays))


if __name__ == '__main__':
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == 'series':
        series(args[0], int(args[1]), int(args[2]) if len(args) > 2 else None, float(args[3]) if len(args) > 3 else INTERCEPT)
    elif cmd == 'enhanced':
        enhanced(args[0], int(args[1]))
    elif cmd == 'expected':
        expected(args[0], int(args[1]), int(args[2]) if len(args) > 2 else None)
    elif cmd == 'enhanced-expected':
        enhanced_expected(args[0], int(args[1]))
    elif cmd == 'decode':
        decode(args[0], args[1:])
    else:
        sys.exit(f'unknown command {cmd}')
