import { Tensor } from '../core/tensor.js';
import { fail } from '../core/errors.js';

/**
 * A medical image volume, shared by the NIfTI and DICOM readers.
 *
 * Voxel order is NIfTI's: the first axis varies fastest, so voxel (i, j, k, t) of a volume
 * with dims [X, Y, Z, T] is `data[i + X * (j + Y * (k + Z * t))]`. For DICOM, i is the column
 * and j the row of a slice and k the slice index, so slice k is the DICOM image as stored.
 *
 * `affine` maps voxel indices (i, j, k, 1) to world coordinates in millimetres in NIfTI's
 * RAS+ convention (+x right, +y anterior, +z superior); DICOM's LPS patient coordinates are
 * converted by negating x and y. It is a 4x4 row-major nested array: world = affine * [i, j, k, 1].
 */
export interface Volume {
  /** Intensities after scaling (scl_slope/scl_inter for NIfTI, RescaleSlope/Intercept for DICOM). */
  data: Float32Array;
  /** [X, Y, Z] or more (up to 7); a 4-D volume is [X, Y, Z, T]. */
  dims: number[];
  /** Grid spacing per axis (NIfTI pixdim[1..ndim]); the first three are millimetres for the files we write. */
  voxelSize: number[];
  /** 4x4 voxel -> world (RAS+, mm). */
  affine: number[][];
  /** The raw NIfTI header fields, kept so that a write reproduces the input's geometry. */
  header: NiftiHeader;
  /** Where the volume came from (a path or the name passed to a parser). */
  source?: string;
  /** Things the reader could not take at face value (e.g. DICOM slices ordered by InstanceNumber). */
  notes?: string[];
}

/** One NIfTI header extension (esize/ecode block after the header); `data` excludes the 8-byte esize/ecode. */
export interface NiftiExtension {
  code: number;
  data: Uint8Array;
}

/**
 * The NIfTI-1 / NIfTI-2 header fields, named as in nifti1.h / nifti2.h. Numbers are kept
 * exactly as read (float32 fields of NIfTI-1 hold their float32 values), so writing a header
 * back as NIfTI-1 reproduces its bits.
 */
export interface NiftiHeader {
  /** 1 for NIfTI-1 (348-byte header), 2 for NIfTI-2 (540 bytes). */
  version: 1 | 2;
  /** Byte order of the file that was read (files are always written little-endian). */
  littleEndian: boolean;
  dim_info: number;
  /** dim[0] = number of dimensions, dim[1..7] = sizes (8 entries). */
  dim: number[];
  intent_p1: number;
  intent_p2: number;
  intent_p3: number;
  intent_code: number;
  datatype: number;
  bitpix: number;
  slice_start: number;
  /** pixdim[0] = qfac (+1 or -1), pixdim[1..7] = grid spacings (8 entries). */
  pixdim: number[];
  vox_offset: number;
  scl_slope: number;
  scl_inter: number;
  slice_end: number;
  slice_code: number;
  xyzt_units: number;
  cal_max: number;
  cal_min: number;
  slice_duration: number;
  toffset: number;
  descrip: string;
  aux_file: string;
  qform_code: number;
  sform_code: number;
  quatern_b: number;
  quatern_c: number;
  quatern_d: number;
  qoffset_x: number;
  qoffset_y: number;
  qoffset_z: number;
  srow_x: number[];
  srow_y: number[];
  srow_z: number[];
  intent_name: string;
  magic: string;
  extensions: NiftiExtension[];
}

/** NIfTI datatype codes and names (nifti1.h). */
export const NIFTI_DATATYPES: Record<number, string> = {
  1: 'binary',
  2: 'uint8',
  4: 'int16',
  8: 'int32',
  16: 'float32',
  32: 'complex64',
  64: 'float64',
  128: 'rgb24',
  256: 'int8',
  512: 'uint16',
  768: 'uint32',
  1024: 'int64',
  1280: 'uint64',
  1536: 'float128',
  1792: 'complex128',
  2048: 'complex256',
  2304: 'rgba32',
};

/** xyzt_units code for millimetres (space) and seconds (time). */
export const NIFTI_UNITS_MM = 2;
export const NIFTI_UNITS_SEC = 8;
/** xform codes. */
export const NIFTI_XFORM = { unknown: 0, scanner: 1, aligned: 2, talairach: 3, mni: 4 } as const;

const identity4 = (): number[][] => [
  [1, 0, 0, 0],
  [0, 1, 0, 0],
  [0, 0, 1, 0],
  [0, 0, 0, 1],
];

/** A header with NIfTI-1 defaults for `dims` (float32, unit spacing, no transforms). */
export function defaultNiftiHeader(dims: readonly number[]): NiftiHeader {
  checkDims(dims, 'defaultNiftiHeader');
  const dim = [dims.length, 1, 1, 1, 1, 1, 1, 1];
  for (let i = 0; i < dims.length; i++) dim[i + 1] = dims[i]!;
  return {
    version: 1,
    littleEndian: true,
    dim_info: 0,
    dim,
    intent_p1: 0,
    intent_p2: 0,
    intent_p3: 0,
    intent_code: 0,
    datatype: 16,
    bitpix: 32,
    slice_start: 0,
    pixdim: [1, 1, 1, 1, 1, 1, 1, 1],
    vox_offset: 352,
    scl_slope: 1,
    scl_inter: 0,
    slice_end: 0,
    slice_code: 0,
    xyzt_units: NIFTI_UNITS_MM | NIFTI_UNITS_SEC,
    cal_max: 0,
    cal_min: 0,
    slice_duration: 0,
    toffset: 0,
    descrip: '',
    aux_file: '',
    qform_code: 0,
    sform_code: 0,
    quatern_b: 0,
    quatern_c: 0,
    quatern_d: 0,
    qoffset_x: 0,
    qoffset_y: 0,
    qoffset_z: 0,
    srow_x: [0, 0, 0, 0],
    srow_y: [0, 0, 0, 0],
    srow_z: [0, 0, 0, 0],
    intent_name: '',
    magic: 'n+1',
    extensions: [],
  };
}

/** A deep copy of a header (arrays and extension bytes copied). */
export function cloneHeader(h: NiftiHeader): NiftiHeader {
  return {
    ...h,
    dim: [...h.dim],
    pixdim: [...h.pixdim],
    srow_x: [...h.srow_x],
    srow_y: [...h.srow_y],
    srow_z: [...h.srow_z],
    extensions: h.extensions.map((e) => ({ code: e.code, data: e.data.slice() })),
  };
}

function checkDims(dims: readonly number[], who: string): void {
  if (dims.length < 1 || dims.length > 7) fail('BAD_SHAPE', `${who}: a volume has 1 to 7 dimensions, got [${dims.join(', ')}]`);
  for (const d of dims) {
    if (!Number.isSafeInteger(d) || d < 1) fail('BAD_SHAPE', `${who}: dimensions must be positive integers, got [${dims.join(', ')}]`);
  }
}

// ------------------------------------------------------------------------------ geometry

/**
 * The qform affine (NIfTI "method 2"): rotation from the unit quaternion (a, b, c, d) with
 * a = sqrt(1 - b^2 - c^2 - d^2), scaled by pixdim[1..3] (the third by qfac = pixdim[0]),
 * plus qoffset. As in nifti1_io.c: a non-positive pixdim counts as 1, qfac is -1 when
 * pixdim[0] < 0 and +1 otherwise, and a quaternion with b^2 + c^2 + d^2 > 1 is renormalised.
 */
export function qformAffine(h: NiftiHeader): number[][] {
  let b = h.quatern_b, c = h.quatern_c, d = h.quatern_d;
  let a = 1 - (b * b + c * c + d * d);
  if (a < 1e-7) {
    const s = 1 / Math.sqrt(b * b + c * c + d * d);
    b *= s; c *= s; d *= s;
    a = 0;
  } else {
    a = Math.sqrt(a);
  }
  const zoom = (v: number | undefined): number => (v !== undefined && v > 0 ? v : 1);
  const dx = zoom(h.pixdim[1]), dy = zoom(h.pixdim[2]);
  const dz = zoom(h.pixdim[3]) * ((h.pixdim[0] ?? 1) < 0 ? -1 : 1);
  const r = [
    [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
    [2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)],
    [2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - c * c - b * b],
  ];
  const off = [h.qoffset_x, h.qoffset_y, h.qoffset_z];
  const m = identity4();
  for (let i = 0; i < 3; i++) {
    m[i]![0] = r[i]![0]! * dx;
    m[i]![1] = r[i]![1]! * dy;
    m[i]![2] = r[i]![2]! * dz;
    m[i]![3] = off[i]!;
  }
  return m;
}

/** The sform affine (NIfTI "method 3"): the rows srow_x, srow_y, srow_z. */
export function sformAffine(h: NiftiHeader): number[][] {
  return [[...h.srow_x], [...h.srow_y], [...h.srow_z], [0, 0, 0, 1]];
}

/**
 * The affine nibabel uses when neither qform nor sform is set (Analyze convention):
 * diag(-dx, dy, dz) with the origin at the centre of the volume.
 */
export function baseAffine(dims: readonly number[], pixdim: readonly number[]): number[][] {
  const m = identity4();
  for (let i = 0; i < 3; i++) {
    const n = dims[i] ?? 1;
    const z = i < dims.length ? (pixdim[i + 1] ?? 1) : 1;
    const zoom = i === 0 ? -z : z;
    m[i]![i] = zoom;
    m[i]![3] = (-(n - 1) / 2) * zoom;
  }
  return m;
}

/** The sform if sform_code > 0, else the qform if qform_code > 0, else the base affine (nibabel's get_best_affine). */
export function bestAffine(h: NiftiHeader, dims: readonly number[] = h.dim.slice(1, 1 + (h.dim[0] ?? 0))): number[][] {
  if (h.sform_code > 0) return sformAffine(h);
  if (h.qform_code > 0) return qformAffine(h);
  return baseAffine(dims, h.pixdim);
}

/**
 * Decompose a 4x4 affine into the qform fields (nifti_mat44_to_quatern): voxel sizes are the
 * column norms, qfac = -1 when the determinant is negative (the third column is flipped),
 * and the rotation (orthonormalised) becomes the quaternion (b, c, d) with a >= 0.
 */
export function affineToQuatern(affine: readonly (readonly number[])[]): {
  b: number; c: number; d: number; qfac: number; pixdim: [number, number, number]; offset: [number, number, number];
} {
  const col = (j: number): number[] => [affine[0]![j]!, affine[1]![j]!, affine[2]![j]!];
  const norm = (v: number[]): number => Math.hypot(v[0]!, v[1]!, v[2]!);
  const cols = [col(0), col(1), col(2)];
  const zooms = cols.map(norm) as [number, number, number];
  // Gram-Schmidt: an orthonormal frame close to the (possibly sheared) columns.
  const unit = (v: number[], fallback: number[]): number[] => {
    const n = norm(v);
    return n > 1e-12 ? v.map((x) => x / n) : fallback;
  };
  const dot = (u: number[], v: number[]): number => u[0]! * v[0]! + u[1]! * v[1]! + u[2]! * v[2]!;
  const cross = (u: number[], v: number[]): number[] => [
    u[1]! * v[2]! - u[2]! * v[1]!,
    u[2]! * v[0]! - u[0]! * v[2]!,
    u[0]! * v[1]! - u[1]! * v[0]!,
  ];
  const x = unit(cols[0]!, [1, 0, 0]);
  let y = cols[1]!.map((v, i) => v - dot(cols[1]!, x) * x[i]!);
  y = unit(y, Math.abs(x[0]!) < 0.9 ? unit(cross(x, [1, 0, 0]), [0, 1, 0]) : unit(cross(x, [0, 1, 0]), [0, 0, 1]));
  const zRight = cross(x, y);
  // affine = R diag(dx, dy, qfac dz) with R proper: R's third column is x cross y, and qfac
  // says whether the affine's third column points along it or against it.
  const qfac = dot(zRight, cols[2]!) < 0 ? -1 : 1;
  const r = [
    [x[0]!, y[0]!, zRight[0]!],
    [x[1]!, y[1]!, zRight[1]!],
    [x[2]!, y[2]!, zRight[2]!],
  ];
  const [r11, r12, r13] = r[0]! as [number, number, number];
  const [r21, r22, r23] = r[1]! as [number, number, number];
  const [r31, r32, r33] = r[2]! as [number, number, number];
  let a = r11 + r22 + r33 + 1;
  let b: number, c: number, d: number;
  if (a > 0.5) {
    a = 0.5 * Math.sqrt(a);
    b = (0.25 * (r32 - r23)) / a;
    c = (0.25 * (r13 - r31)) / a;
    d = (0.25 * (r21 - r12)) / a;
  } else {
    const xd = 1 + r11 - (r22 + r33), yd = 1 + r22 - (r11 + r33), zd = 1 + r33 - (r11 + r22);
    if (xd > 1) {
      b = 0.5 * Math.sqrt(xd);
      c = (0.25 * (r12 + r21)) / b;
      d = (0.25 * (r13 + r31)) / b;
      a = (0.25 * (r32 - r23)) / b;
    } else if (yd > 1) {
      c = 0.5 * Math.sqrt(yd);
      b = (0.25 * (r12 + r21)) / c;
      d = (0.25 * (r23 + r32)) / c;
      a = (0.25 * (r13 - r31)) / c;
    } else {
      d = 0.5 * Math.sqrt(zd);
      b = (0.25 * (r13 + r31)) / d;
      c = (0.25 * (r23 + r32)) / d;
      a = (0.25 * (r21 - r12)) / d;
    }
    if (a < 0) {
      b = -b; c = -c; d = -d;
    }
  }
  return { b, c, d, qfac, pixdim: zooms, offset: [affine[0]![3]!, affine[1]![3]!, affine[2]![3]!] };
}

/**
 * Store `affine` in the header as both sform (srow) and qform (quaternion, qfac, pixdim[1..3],
 * qoffset), with the given xform codes.
 */
export function setHeaderAffine(h: NiftiHeader, affine: readonly (readonly number[])[], sformCode: number, qformCode: number): void {
  const q = affineToQuatern(affine);
  h.srow_x = [...affine[0]!];
  h.srow_y = [...affine[1]!];
  h.srow_z = [...affine[2]!];
  h.quatern_b = q.b;
  h.quatern_c = q.c;
  h.quatern_d = q.d;
  [h.qoffset_x, h.qoffset_y, h.qoffset_z] = q.offset;
  h.pixdim[0] = q.qfac;
  h.pixdim[1] = q.pixdim[0];
  h.pixdim[2] = q.pixdim[1];
  h.pixdim[3] = q.pixdim[2];
  h.sform_code = sformCode;
  h.qform_code = qformCode;
}

/** True when two 4x4 affines agree to `tol` relative to their size. */
export function affinesClose(a: readonly (readonly number[])[], b: readonly (readonly number[])[], tol = 1e-6): boolean {
  let scale = 1;
  for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) scale = Math.max(scale, Math.abs(a[i]![j]!), Math.abs(b[i]![j]!));
  for (let i = 0; i < 4; i++) {
    for (let j = 0; j < 4; j++) if (!(Math.abs(a[i]![j]! - b[i]![j]!) <= tol * scale)) return false;
  }
  return true;
}

// ------------------------------------------------------------------------------ volumes

/**
 * A new volume from data in NIfTI voxel order. Geometry: `affine` if given, else
 * diag(voxelSize) (default 1 mm); the header gets it as sform and qform with `xformCode`
 * (default 2, aligned anatomical; DICOM volumes use 1, scanner).
 */
export function createVolume(
  data: Float32Array,
  dims: readonly number[],
  options: { affine?: number[][]; voxelSize?: number[]; xformCode?: number; descrip?: string; source?: string; notes?: string[] } = {},
): Volume {
  checkDims(dims, 'createVolume');
  const n = dims.reduce((p, d) => p * d, 1);
  if (data.length !== n) fail('BAD_SHAPE', `createVolume: data has ${data.length} values but dims [${dims.join(', ')}] need ${n}`);
  const h = defaultNiftiHeader(dims);
  let affine = options.affine;
  if (!affine) {
    const vs = options.voxelSize ?? [1, 1, 1];
    affine = identity4();
    for (let i = 0; i < 3; i++) affine[i]![i] = vs[i] ?? 1;
  }
  const code = options.xformCode ?? NIFTI_XFORM.aligned;
  setHeaderAffine(h, affine, code, code);
  for (let i = 3; i < dims.length; i++) h.pixdim[i + 1] = options.voxelSize?.[i] ?? 1;
  if (options.descrip !== undefined) h.descrip = options.descrip;
  const vol: Volume = {
    data,
    dims: [...dims],
    voxelSize: h.pixdim.slice(1, 1 + dims.length),
    affine: affine.map((r) => [...r]),
    header: h,
  };
  if (options.source !== undefined) vol.source = options.source;
  if (options.notes) vol.notes = [...options.notes];
  return vol;
}

const nameOf = (vol: Volume): string => vol.source ?? 'volume';

/** Number of 3-D volumes (the product of dims beyond the third). */
export function volumeCount(vol: Volume): number {
  let n = 1;
  for (let i = 3; i < vol.dims.length; i++) n *= vol.dims[i]!;
  return n;
}

/**
 * The volume as exactly three dimensions: 1-D and 2-D images get unit trailing axes, and
 * trailing axes of size 1 are dropped. A 4-D (or higher) volume with more than one 3-D
 * volume is refused with a message naming its dims: pick one with `selectVolume`.
 */
export function requireVolume3D(vol: Volume): Volume {
  const count = volumeCount(vol);
  if (count > 1) {
    fail(
      'BAD_SHAPE',
      `${nameOf(vol)}: a 3-D volume is needed but this is a ${vol.dims.length}-D image with dims [${vol.dims.join(', ')}] ` +
        `(${count} volumes of ${vol.dims.slice(0, 3).join('x')}); pick one volume with selectVolume(vol, t), t in 0..${count - 1}`,
    );
  }
  if (vol.dims.length === 3) return vol;
  const dims = [vol.dims[0] ?? 1, vol.dims[1] ?? 1, vol.dims[2] ?? 1];
  const voxelSize = [vol.voxelSize[0] ?? 1, vol.voxelSize[1] ?? 1, vol.voxelSize[2] ?? 1];
  return { ...vol, dims, voxelSize };
}

/** 3-D volume number `t` (counting over all axes beyond the third) of a 4-D+ volume, as a copy. */
export function selectVolume(vol: Volume, t: number): Volume {
  const count = volumeCount(vol);
  if (!Number.isInteger(t) || t < 0 || t >= count) {
    fail('BAD_INPUT', `${nameOf(vol)}: volume index ${t} is out of range; dims [${vol.dims.join(', ')}] hold ${count} volume(s), 0..${count - 1}`);
  }
  const dims = [vol.dims[0] ?? 1, vol.dims[1] ?? 1, vol.dims[2] ?? 1];
  const m = dims[0]! * dims[1]! * dims[2]!;
  const voxelSize = [vol.voxelSize[0] ?? 1, vol.voxelSize[1] ?? 1, vol.voxelSize[2] ?? 1];
  return { ...vol, data: vol.data.slice(t * m, (t + 1) * m), dims, voxelSize, affine: vol.affine.map((r) => [...r]) };
}

function sliceRange(vol: Volume, k: number, t: number, who: string): [number, number, number] {
  const X = vol.dims[0] ?? 1, Y = vol.dims[1] ?? 1, Z = vol.dims[2] ?? 1;
  if (!Number.isInteger(k) || k < 0 || k >= Z) {
    fail('BAD_INPUT', `${who}: slice ${k} is out of range for ${nameOf(vol)} with dims [${vol.dims.join(', ')}] (third axis 0..${Z - 1})`);
  }
  const count = volumeCount(vol);
  if (!Number.isInteger(t) || t < 0 || t >= count) {
    fail('BAD_INPUT', `${who}: volume ${t} is out of range for ${nameOf(vol)} with dims [${vol.dims.join(', ')}] (0..${count - 1})`);
  }
  return [X, Y, (t * Z + k) * X * Y];
}

/**
 * Slice k along the third axis (axial for the usual RAS-ish storage) of volume t, as a
 * Tensor [1, Y, X] (rows are the second axis j, columns the first axis i; for DICOM that is
 * the image as stored). A copy: changing it does not change the volume.
 */
export function sliceAxial(vol: Volume, k: number, t = 0): Tensor {
  const [X, Y, off] = sliceRange(vol, k, t, 'sliceAxial');
  return new Tensor([1, Y, X], vol.data.slice(off, off + X * Y));
}

/** Write a [1, Y, X] (or [Y, X]) tensor into slice k of volume t, in place; returns the volume. */
export function setSlice(vol: Volume, k: number, slice: Tensor, t = 0): Volume {
  const [X, Y, off] = sliceRange(vol, k, t, 'setSlice');
  const s = slice.shape;
  const ok = (s.length === 3 && s[0] === 1 && s[1] === Y && s[2] === X) || (s.length === 2 && s[0] === Y && s[1] === X);
  if (!ok) fail('BAD_SHAPE', `setSlice: slice of shape [${s.join(', ')}] does not fit ${nameOf(vol)}; expected [1, ${Y}, ${X}]`);
  const d = slice.data;
  for (let i = 0; i < X * Y; i++) vol.data[off + i] = d[i]!;
  return vol;
}

/** One line for logs: "181x217x181 uint8 (voxel 1x1x1 mm), sform mni" and, for 4-D, the volume count. */
export function describeVolume(vol: Volume): string {
  const h = vol.header;
  const spatial = vol.dims.slice(0, 3).join('x');
  const vs = vol.voxelSize.slice(0, 3).map((v) => +v.toPrecision(6)).join('x');
  const type = NIFTI_DATATYPES[h.datatype] ?? `datatype ${h.datatype}`;
  const codes = ['unknown', 'scanner', 'aligned', 'talairach', 'mni'];
  const xform = h.sform_code > 0 ? `sform ${codes[h.sform_code] ?? h.sform_code}` : h.qform_code > 0 ? `qform ${codes[h.qform_code] ?? h.qform_code}` : 'no transform (base affine)';
  const extra = vol.dims.length > 3 && volumeCount(vol) > 1 ? `, ${vol.dims.length}-D: ${volumeCount(vol)} volumes [${vol.dims.slice(3).join('x')}]` : '';
  return `${spatial} ${type} (voxel ${vs} mm), ${xform}${extra}`;
}
