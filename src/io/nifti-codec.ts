import { fail } from '../core/errors.js';
import { checkInflatedSize, checkedSize, exactInteger, requireFinite, type ValueSource } from './validate.js';
import {
  NIFTI_DATATYPES,
  affinesClose,
  bestAffine,
  cloneHeader,
  setHeaderAffine,
  NIFTI_XFORM,
  type NiftiExtension,
  type NiftiHeader,
  type Volume,
} from './volume.js';

/**
 * NIfTI-1 and NIfTI-2 single files (.nii, and .nii.gz detected by the gzip magic bytes),
 * either byte order (detected from sizeof_hdr: 348 or 540). Reads uint8, int8, int16,
 * uint16, int32, uint32, int64, uint64, float32 and float64 voxels and applies
 * scl_slope/scl_inter (when the slope is finite and nonzero) to give float32 intensities.
 * Writes little-endian NIfTI-1 (NIfTI-2 when asked or when a dimension exceeds 32767),
 * float32 by default, or an integer type with scl_slope/scl_inter.
 *
 * Every declared size is checked against the byte length before anything is allocated, so a
 * corrupt header gives a TweedieError rather than a huge allocation or a RangeError. A .nii.gz
 * is inflated in two steps: the header alone, then the whole file with its output capped at the
 * size the header declares (at most MAX_VALUES voxels and MAX_INFLATED_BYTES of voxel data), so
 * a decompression bomb costs no more memory than an honest file. NaN and infinite intensities,
 * and 64-bit integers beyond 2^53, are refused with the voxel's position.
 * Browser-safe: gzip and files are src/io/nifti.ts's (Node) or the caller's (a page's DecompressionStream).
 */

export { type Volume, type NiftiHeader } from './volume.js';

interface TypeInfo {
  size: number;
  /** Lower and upper bounds of the stored values (integer types). */
  range?: [number, number];
}

const TYPES: Record<number, TypeInfo> = {
  2: { size: 1, range: [0, 255] },
  256: { size: 1, range: [-128, 127] },
  4: { size: 2, range: [-32768, 32767] },
  512: { size: 2, range: [0, 65535] },
  8: { size: 4, range: [-2147483648, 2147483647] },
  768: { size: 4, range: [0, 4294967295] },
  1024: { size: 8 },
  1280: { size: 8 },
  16: { size: 4 },
  64: { size: 8 },
};

/** Datatypes `writeNifti` can store. */
export type NiftiWriteType = 'uint8' | 'int8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'float32' | 'float64';
const WRITE_CODES: Record<NiftiWriteType, number> = {
  uint8: 2, int8: 256, int16: 4, uint16: 512, int32: 8, uint32: 768, float32: 16, float64: 64,
};

const readableTypes = (): string => Object.keys(TYPES).map((c) => NIFTI_DATATYPES[+c]).join(', ');

const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const bad = (name: string, what: string): never => fail('UNREADABLE_FILE', `${name}: not a readable NIfTI file: ${what}`);

/**
 * A plain Uint8Array view of the same bytes: a Node Buffer's slice() is a view rather than a
 * copy, and the copies below must be real copies.
 */
const plain = (b: Uint8Array): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

function latin1(bytes: Uint8Array, start: number, len: number): string {
  let s = '';
  for (let i = start; i < start + len; i++) {
    const b = bytes[i]!;
    if (b === 0) break;
    s += String.fromCharCode(b);
  }
  return s;
}

/** Parse the header (and extensions) of uncompressed NIfTI bytes. */
export function parseNiftiHeader(input: Uint8Array, name = '<buffer>'): NiftiHeader {
  const bytes = plain(input);
  if (bytes.length < 4) bad(name, `only ${bytes.length} bytes; a NIfTI-1 header alone is 348 bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = view.getInt32(0, true), be = view.getInt32(0, false);
  let version: 1 | 2, littleEndian: boolean;
  if (le === 348 || le === 540) {
    version = le === 348 ? 1 : 2;
    littleEndian = true;
  } else if (be === 348 || be === 540) {
    version = be === 348 ? 1 : 2;
    littleEndian = false;
  } else {
    return bad(name, `sizeof_hdr is ${le} (expected 348 for NIfTI-1 or 540 for NIfTI-2, in either byte order); is this a NIfTI file?`);
  }
  const hsize = version === 1 ? 348 : 540;
  if (bytes.length < hsize) bad(name, `truncated header: NIfTI-${version} needs ${hsize} header bytes, the file has ${bytes.length}`);
  const L = littleEndian;
  const i16 = (o: number): number => view.getInt16(o, L);
  const i32 = (o: number): number => view.getInt32(o, L);
  const i64 = (o: number): number => Number(view.getBigInt64(o, L));
  const f32 = (o: number): number => view.getFloat32(o, L);
  const f64 = (o: number): number => view.getFloat64(o, L);
  const arr = (n: number, o: number, step: number, get: (o: number) => number): number[] =>
    Array.from({ length: n }, (_, i) => get(o + i * step));

  let h: NiftiHeader;
  if (version === 1) {
    h = {
      version, littleEndian,
      dim_info: bytes[39]!,
      dim: arr(8, 40, 2, i16),
      intent_p1: f32(56), intent_p2: f32(60), intent_p3: f32(64),
      intent_code: i16(68),
      datatype: i16(70),
      bitpix: i16(72),
      slice_start: i16(74),
      pixdim: arr(8, 76, 4, f32),
      vox_offset: f32(108),
      scl_slope: f32(112), scl_inter: f32(116),
      slice_end: i16(120),
      slice_code: bytes[122]!,
      xyzt_units: bytes[123]!,
      cal_max: f32(124), cal_min: f32(128),
      slice_duration: f32(132), toffset: f32(136),
      descrip: latin1(bytes, 148, 80),
      aux_file: latin1(bytes, 228, 24),
      qform_code: i16(252), sform_code: i16(254),
      quatern_b: f32(256), quatern_c: f32(260), quatern_d: f32(264),
      qoffset_x: f32(268), qoffset_y: f32(272), qoffset_z: f32(276),
      srow_x: arr(4, 280, 4, f32), srow_y: arr(4, 296, 4, f32), srow_z: arr(4, 312, 4, f32),
      intent_name: latin1(bytes, 328, 16),
      magic: latin1(bytes, 344, 4),
      extensions: [],
    };
  } else {
    h = {
      version, littleEndian,
      magic: latin1(bytes, 4, 8),
      datatype: i16(12),
      bitpix: i16(14),
      dim: arr(8, 16, 8, i64),
      intent_p1: f64(80), intent_p2: f64(88), intent_p3: f64(96),
      pixdim: arr(8, 104, 8, f64),
      vox_offset: i64(168),
      scl_slope: f64(176), scl_inter: f64(184),
      cal_max: f64(192), cal_min: f64(200),
      slice_duration: f64(208), toffset: f64(216),
      slice_start: i64(224), slice_end: i64(232),
      descrip: latin1(bytes, 240, 80),
      aux_file: latin1(bytes, 320, 24),
      qform_code: i32(344), sform_code: i32(348),
      quatern_b: f64(352), quatern_c: f64(360), quatern_d: f64(368),
      qoffset_x: f64(376), qoffset_y: f64(384), qoffset_z: f64(392),
      srow_x: arr(4, 400, 8, f64), srow_y: arr(4, 432, 8, f64), srow_z: arr(4, 464, 8, f64),
      slice_code: i32(496),
      xyzt_units: i32(500),
      intent_code: i32(504),
      intent_name: latin1(bytes, 508, 16),
      dim_info: bytes[524]!,
      extensions: [],
    };
  }

  const single = version === 1 ? 'n+1' : 'n+2', pair = version === 1 ? 'ni1' : 'ni2';
  if (h.magic === pair) {
    fail('UNSUPPORTED', `${name}: this is the header of a two-file NIfTI-${version} pair (.hdr + .img, magic '${pair}'); only single .nii/.nii.gz files are read — convert the pair, e.g. with nibabel (nib.save(nib.load('x.hdr'), 'x.nii.gz'))`);
  }
  if (h.magic !== single) bad(name, `wrong magic ${JSON.stringify(h.magic)} (expected '${single}' for a single-file NIfTI-${version})`);

  const ndim = h.dim[0]!;
  if (!(ndim >= 1 && ndim <= 7)) bad(name, `dim[0] = ${ndim} must be the number of dimensions, 1 to 7`);
  const dims = h.dim.slice(1, 1 + ndim);
  if (dims.some((d) => !(d >= 1) || !Number.isSafeInteger(d))) {
    bad(name, `dimensions [${dims.join(', ')}] (dim[1..${ndim}]) must all be positive; the header is corrupt`);
  }

  const minOffset = hsize + 4;
  let vo = h.vox_offset;
  if (vo === 0) vo = minOffset; // some writers leave vox_offset 0 for single files; the data then follows the extender
  if (!Number.isSafeInteger(vo) || vo < minOffset) {
    bad(name, `vox_offset ${h.vox_offset} is not a whole number of bytes at or after the end of the header (${minOffset})`);
  }
  h.vox_offset = vo;
  h.extensions = parseExtensions(bytes, view, hsize, Math.min(vo, bytes.length), L);
  return h;
}

/**
 * Extensions: a 4-byte extender whose first byte is nonzero, then blocks of (esize, ecode,
 * data) up to vox_offset. A malformed block ends the list (as nibabel, the data still loads).
 */
function parseExtensions(bytes: Uint8Array, view: DataView, hsize: number, end: number, le: boolean): NiftiExtension[] {
  const out: NiftiExtension[] = [];
  if (bytes.length < hsize + 4 || bytes[hsize] === 0) return out;
  let p = hsize + 4;
  while (p + 8 <= end) {
    const esize = view.getInt32(p, le), ecode = view.getInt32(p + 4, le);
    if (esize < 16 || esize % 16 !== 0 || p + esize > end) break;
    out.push({ code: ecode, data: bytes.slice(p + 8, p + esize) });
    p += esize;
  }
  return out;
}

/** The dims and (readable) datatype of a parsed header. */
function dataLayout(h: NiftiHeader, name: string): { dims: number[]; type: TypeInfo } {
  const type = TYPES[h.datatype];
  if (!type) {
    const known = NIFTI_DATATYPES[h.datatype];
    fail(
      'UNSUPPORTED',
      `${name}: NIfTI datatype ${h.datatype}${known ? ` (${known})` : ' (not a NIfTI datatype code)'} cannot be read; ` +
        `readable: ${readableTypes()} — convert the file to float32 first`,
    );
  }
  return { dims: h.dim.slice(1, 1 + h.dim[0]!), type };
}

/** The number of voxels, refused beyond MAX_VALUES. */
function voxelCount(dims: readonly number[], name: string): number {
  return checkedSize(dims, name, `dims [${dims.join(', ')}]`, 'crop it or split its volumes first (e.g. fslroi, fslsplit)');
}

/** The gzip magic bytes a .nii.gz starts with. */
export const isGzip = (b: Uint8Array): boolean => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;

/**
 * The bytes a .nii.gz may inflate to, from the inflated start of the file (at least its header): vox_offset plus
 * voxels x bytes per voxel, refused beyond the size limits (`fix` says how to read it instead).
 */
export function niftiDeclaredBytes(head: Uint8Array, name: string, fix: string): number {
  const h = parseNiftiHeader(head, name);
  const { dims, type } = dataLayout(h, name);
  const bytes = voxelCount(dims, name) * type.size;
  checkInflatedSize(bytes, name, `dims [${dims.join(', ')}] of ${NIFTI_DATATYPES[h.datatype]}`, fix);
  return h.vox_offset + bytes;
}

/**
 * Parse NIfTI bytes held in memory; `name` (a path) appears in every error message. Compressed bytes go through
 * `gunzip` (src/io/nifti.ts passes zlib's); without one they are refused.
 */
export function parseNiftiBytes(input: Uint8Array, name: string, gunzip: ((bytes: Uint8Array, name: string) => Uint8Array) | null): Volume {
  if (isGzip(input) && !gunzip) bad(name, 'it is gzip-compressed; decompress it first');
  const bytes = plain(isGzip(input) ? gunzip!(input, name) : input);
  const h = parseNiftiHeader(bytes, name);
  const ndim = h.dim[0]!;
  const { dims, type } = dataLayout(h, name);
  let n = 1;
  for (const d of dims) n *= d;
  const voxOffset = h.vox_offset;
  const need = n * type.size;
  const have = bytes.length - voxOffset;
  if (have < need) {
    bad(name, `truncated data: dims [${dims.join(', ')}] of ${NIFTI_DATATYPES[h.datatype]} need ${need} bytes from offset ${voxOffset}, the file holds ${Math.max(0, have)}`);
  }
  voxelCount(dims, name);
  const notes: string[] = [];
  let slope = h.scl_slope, inter = h.scl_inter;
  if (slope === 0 || !Number.isFinite(slope)) {
    slope = 1;
    inter = 0;
  } else if (!Number.isFinite(inter)) {
    notes.push(`scl_inter ${inter} is not finite; read as 0`);
    inter = 0;
  }
  const src: ValueSource = { name, dims, order: 'F' };
  const data = decodeVoxels(bytes, voxOffset, n, h.datatype, h.littleEndian, slope, inter, src);
  requireFinite(data, src, 'replace them first (e.g. fslmaths in -nan out), or check scl_slope/scl_inter if the stored values are finite');
  const vol: Volume = {
    data,
    dims,
    voxelSize: h.pixdim.slice(1, 1 + ndim),
    affine: bestAffine(h, dims),
    header: h,
    source: name,
  };
  if (notes.length) vol.notes = notes;
  return vol;
}

function decodeVoxels(bytes: Uint8Array, off: number, n: number, datatype: number, le: boolean, slope: number, inter: number, src: ValueSource): Float32Array {
  const out = new Float32Array(n);
  const scaled = slope !== 1 || inter !== 0;
  const start = bytes.byteOffset + off;
  const native = le === littleEndianHost;
  const size = TYPES[datatype]!.size;
  // A typed-array view of the raw voxels when the byte order matches (copying to align if needed).
  const raw = <T>(ctor: new (buf: ArrayBufferLike, o: number, n: number) => T): T => {
    if (start % size === 0) return new ctor(bytes.buffer, start, n);
    const copy = bytes.slice(off, off + n * size);
    return new ctor(copy.buffer, 0, n);
  };
  let values: ArrayLike<number> | null = null;
  if (datatype === 2) values = bytes.subarray(off, off + n);
  else if (datatype === 256) values = new Int8Array(bytes.buffer, start, n);
  else if (native) {
    if (datatype === 4) values = raw(Int16Array);
    else if (datatype === 512) values = raw(Uint16Array);
    else if (datatype === 8) values = raw(Int32Array);
    else if (datatype === 768) values = raw(Uint32Array);
    else if (datatype === 16) values = raw(Float32Array);
    else if (datatype === 64) values = raw(Float64Array);
  }
  if (values) {
    if (scaled) for (let i = 0; i < n; i++) out[i] = values[i]! * slope + inter;
    else out.set(values as ArrayLike<number>);
    return out;
  }
  const view = new DataView(bytes.buffer, start, n * size);
  const get: (o: number) => number =
    datatype === 4 ? (o) => view.getInt16(o, le)
    : datatype === 512 ? (o) => view.getUint16(o, le)
    : datatype === 8 ? (o) => view.getInt32(o, le)
    : datatype === 768 ? (o) => view.getUint32(o, le)
    : datatype === 16 ? (o) => view.getFloat32(o, le)
    : datatype === 64 ? (o) => view.getFloat64(o, le)
    : datatype === 1024 ? (o) => exactInteger(view.getBigInt64(o, le), o / 8, src)
    : (o) => exactInteger(view.getBigUint64(o, le), o / 8, src);
  for (let i = 0; i < n; i++) out[i] = get(i * size) * slope + inter;
  return out;
}


// ------------------------------------------------------------------------------ writing

export interface NiftiWriteOptions {
  /**
   * Take the header (geometry: pixdim, qform, sform, units; and descrip, intent, ...) from
   * this volume, e.g. the input a result was computed from. Its first three dims must equal
   * the written volume's. Default: the volume's own header.
   */
  like?: Volume;
  /**
   * Stored type: 'float32' (the default; scl_slope 1, lossless for Volume data), another
   * type name, or 'original' for the header's datatype. Integer types keep the header's
   * scl_slope/scl_inter (a volume read from an int16 file with scaling writes back to the
   * same stored integers) unless `rescale` is set.
   */
  datatype?: NiftiWriteType | 'original';
  /** Integer types: choose scl_slope/scl_inter so the data's range spans the type's range. */
  rescale?: boolean;
  /** 1 or 2; default the header's version (2 when a dimension exceeds 32767). */
  version?: 1 | 2;
  /** Compress; default: when the path ends with .gz. */
  gzip?: boolean;
}

/** The bytes of an uncompressed little-endian .nii file for `vol`. */
export function encodeNifti(vol: Volume, options: NiftiWriteOptions = {}): Uint8Array {
  const name = vol.source ?? 'volume';
  const n = vol.dims.reduce((p, d) => p * d, 1);
  if (vol.dims.length < 1 || vol.dims.length > 7 || vol.dims.some((d) => !Number.isSafeInteger(d) || d < 1) || vol.data.length !== n) {
    fail('BAD_SHAPE', `writeNifti: ${name} has dims [${vol.dims.join(', ')}] and ${vol.data.length} values; dims must be 1 to 7 positive sizes whose product is the number of values`);
  }
  const template = options.like ?? vol;
  if (options.like) {
    // Missing trailing dims are 1: a 2-D image [X, Y] and a one-slice volume [X, Y, 1] lie on the same grid.
    const grid = (d: readonly number[]) => [0, 1, 2].map((i) => d[i] ?? 1).join('x');
    const a = grid(vol.dims), b = grid(options.like.dims);
    if (a !== b) {
      fail('BAD_SHAPE', `writeNifti: ${name} is ${a} but 'like' (${options.like.source ?? 'volume'}) is ${b}; its geometry only applies to a volume on the same grid`);
    }
  }
  const h = cloneHeader(template.header);
  // An affine changed since reading (or set by hand) wins over the stored transforms.
  if (!affinesClose(template.affine, bestAffine(template.header, template.dims))) {
    const s = h.sform_code > 0 ? h.sform_code : h.qform_code > 0 ? h.qform_code : NIFTI_XFORM.aligned;
    setHeaderAffine(h, template.affine, s, h.qform_code > 0 ? h.qform_code : s);
  }
  h.dim = [vol.dims.length, 1, 1, 1, 1, 1, 1, 1];
  vol.dims.forEach((d, i) => (h.dim[i + 1] = d));

  const choice = options.datatype ?? 'float32';
  let datatype: number;
  if (choice === 'original') {
    datatype = h.datatype;
    if (!Object.values(WRITE_CODES).includes(datatype)) {
      fail('UNSUPPORTED', `writeNifti: cannot store ${name} as its original datatype ${h.datatype} (${NIFTI_DATATYPES[h.datatype] ?? 'unknown'}); choose one of ${Object.keys(WRITE_CODES).join(', ')}`);
    }
  } else {
    datatype = WRITE_CODES[choice];
    if (datatype === undefined) fail('BAD_INPUT', `writeNifti: unknown datatype '${String(choice)}'; choose one of ${Object.keys(WRITE_CODES).join(', ')} or 'original'`);
  }
  const type = TYPES[datatype]!;
  const version: 1 | 2 = options.version ?? (vol.dims.some((d) => d > 32767) ? 2 : h.version);
  if (version === 1 && vol.dims.some((d) => d > 32767)) fail('BAD_SHAPE', `writeNifti: dims [${vol.dims.join(', ')}] exceed NIfTI-1's 32767 limit; write version 2`);
  h.version = version;
  h.datatype = datatype;
  h.bitpix = type.size * 8;

  // Scaling: float types store the intensities themselves; integer types store
  // round((value - scl_inter) / scl_slope), which must fit the type.
  const f = version === 1 ? Math.fround : (x: number) => x;
  let slope = 1, inter = 0;
  if (type.range) {
    if (options.rescale) {
      let lo = Infinity, hi = -Infinity;
      for (let i = 0; i < n; i++) {
        const v = vol.data[i]!;
        if (!Number.isFinite(v)) fail('BAD_INPUT', `writeNifti: ${name} holds NaN or infinite values (voxel ${i}); store it as float32`);
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      const [tmin, tmax] = type.range;
      slope = hi > lo ? f((hi - lo) / (tmax - tmin)) : 1;
      inter = f(lo - tmin * slope);
    } else if (Number.isFinite(h.scl_slope) && h.scl_slope !== 0) {
      slope = f(h.scl_slope);
      inter = Number.isFinite(h.scl_inter) ? f(h.scl_inter) : 0;
    }
  }
  h.scl_slope = slope;
  h.scl_inter = inter;

  const hsize = version === 1 ? 348 : 540;
  const extBytes = h.extensions.reduce((s, e) => s + Math.ceil((e.data.length + 8) / 16) * 16, 0);
  const voxOffset = hsize + 4 + extBytes;
  h.vox_offset = voxOffset;
  h.magic = version === 1 ? 'n+1' : 'n+2';
  const out = new Uint8Array(voxOffset + n * type.size);
  const view = new DataView(out.buffer);
  writeHeader(out, view, h);
  if (h.extensions.length) {
    out[hsize] = 1;
    let p = hsize + 4;
    for (const e of h.extensions) {
      const esize = Math.ceil((e.data.length + 8) / 16) * 16;
      view.setInt32(p, esize, true);
      view.setInt32(p + 4, e.code, true);
      out.set(e.data, p + 8);
      p += esize;
    }
  }
  encodeVoxels(vol.data, view, voxOffset, datatype, slope, inter, name);
  return out;
}

function encodeVoxels(data: Float32Array, view: DataView, off: number, datatype: number, slope: number, inter: number, name: string): void {
  const n = data.length;
  if (datatype === 16) {
    if (littleEndianHost) new Uint8Array(view.buffer).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), off);
    else for (let i = 0; i < n; i++) view.setFloat32(off + 4 * i, data[i]!, true);
    return;
  }
  if (datatype === 64) {
    for (let i = 0; i < n; i++) view.setFloat64(off + 8 * i, data[i]!, true);
    return;
  }
  const { size, range } = TYPES[datatype]!;
  const [lo, hi] = range!;
  const set: (o: number, v: number) => void =
    datatype === 2 ? (o, v) => view.setUint8(o, v)
    : datatype === 256 ? (o, v) => view.setInt8(o, v)
    : datatype === 4 ? (o, v) => view.setInt16(o, v, true)
    : datatype === 512 ? (o, v) => view.setUint16(o, v, true)
    : datatype === 8 ? (o, v) => view.setInt32(o, v, true)
    : (o, v) => view.setUint32(o, v, true);
  for (let i = 0; i < n; i++) {
    let q = Math.round((data[i]! - inter) / slope);
    if (!(q >= lo && q <= hi)) {
      // Rescaled ranges may overshoot by one step through float32 rounding of slope/inter.
      if (Number.isFinite(q) && q >= lo - 1 && q <= hi + 1) q = Math.min(hi, Math.max(lo, q));
      else {
        fail(
          'BAD_INPUT',
          `writeNifti: value ${data[i]} of ${name} (voxel ${i}) does not fit ${NIFTI_DATATYPES[datatype]} with scl_slope ${slope} and scl_inter ${inter}; ` +
            `store float32 (the default) or pass rescale: true`,
        );
      }
    }
    set(off + i * size, q);
  }
}

function writeLatin1(out: Uint8Array, s: string, start: number, len: number): void {
  for (let i = 0; i < Math.min(len, s.length); i++) {
    const c = s.charCodeAt(i);
    out[start + i] = c < 256 ? c : 0x3f;
  }
}

function writeHeader(out: Uint8Array, view: DataView, h: NiftiHeader): void {
  const i16 = (o: number, v: number): void => view.setInt16(o, v, true);
  const i32 = (o: number, v: number): void => view.setInt32(o, v, true);
  const i64 = (o: number, v: number): void => view.setBigInt64(o, BigInt(Number.isFinite(v) ? Math.trunc(v) : 0), true);
  const f32 = (o: number, v: number): void => view.setFloat32(o, v, true);
  const f64 = (o: number, v: number): void => view.setFloat64(o, v, true);
  const arr = (vals: number[], o: number, step: number, set: (o: number, v: number) => void): void =>
    vals.forEach((v, i) => set(o + i * step, v));
  if (h.version === 1) {
    i32(0, 348);
    out[38] = 0x72; // 'r' (regular), as Analyze readers expect
    out[39] = h.dim_info;
    arr(h.dim, 40, 2, i16);
    f32(56, h.intent_p1); f32(60, h.intent_p2); f32(64, h.intent_p3);
    i16(68, h.intent_code);
    i16(70, h.datatype);
    i16(72, h.bitpix);
    i16(74, h.slice_start);
    arr(h.pixdim, 76, 4, f32);
    f32(108, h.vox_offset);
    f32(112, h.scl_slope); f32(116, h.scl_inter);
    i16(120, h.slice_end);
    out[122] = h.slice_code;
    out[123] = h.xyzt_units;
    f32(124, h.cal_max); f32(128, h.cal_min);
    f32(132, h.slice_duration); f32(136, h.toffset);
    writeLatin1(out, h.descrip, 148, 80);
    writeLatin1(out, h.aux_file, 228, 24);
    i16(252, h.qform_code); i16(254, h.sform_code);
    f32(256, h.quatern_b); f32(260, h.quatern_c); f32(264, h.quatern_d);
    f32(268, h.qoffset_x); f32(272, h.qoffset_y); f32(276, h.qoffset_z);
    arr(h.srow_x, 280, 4, f32); arr(h.srow_y, 296, 4, f32); arr(h.srow_z, 312, 4, f32);
    writeLatin1(out, h.intent_name, 328, 16);
    writeLatin1(out, 'n+1', 344, 4);
  } else {
    i32(0, 540);
    out.set([0x6e, 0x2b, 0x32, 0x00, 0x0d, 0x0a, 0x1a, 0x0a], 4); // "n+2\0\r\n\032\n"
    i16(12, h.datatype);
    i16(14, h.bitpix);
    arr(h.dim, 16, 8, i64);
    f64(80, h.intent_p1); f64(88, h.intent_p2); f64(96, h.intent_p3);
    arr(h.pixdim, 104, 8, f64);
    i64(168, h.vox_offset);
    f64(176, h.scl_slope); f64(184, h.scl_inter);
    f64(192, h.cal_max); f64(200, h.cal_min);
    f64(208, h.slice_duration); f64(216, h.toffset);
    i64(224, h.slice_start); i64(232, h.slice_end);
    writeLatin1(out, h.descrip, 240, 80);
    writeLatin1(out, h.aux_file, 320, 24);
    i32(344, h.qform_code); i32(348, h.sform_code);
    f64(352, h.quatern_b); f64(360, h.quatern_c); f64(368, h.quatern_d);
    f64(376, h.qoffset_x); f64(384, h.qoffset_y); f64(392, h.qoffset_z);
    arr(h.srow_x, 400, 8, f64); arr(h.srow_y, 432, 8, f64); arr(h.srow_z, 464, 8, f64);
    i32(496, h.slice_code);
    i32(500, h.xyzt_units);
    i32(504, h.intent_code);
    writeLatin1(out, h.intent_name, 508, 16);
    out[524] = h.dim_info;
  }
}

