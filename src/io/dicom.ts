import type { DataSet, Element } from 'dicom-parser';
import { fail, TweedieError } from '../core/errors.js';
import { decodeFrame, encapsulatedFrames, type DicomCodecs, type PixelFormat } from './dicom-pixels.js';
import { transferSyntax, type TransferSyntax } from './dicom-syntax.js';
import { checkedSize, MAX_INFLATED_BYTES } from './validate.js';

/**
 * DICOM Part 10 objects through dicom-parser (implicit/explicit VR, little and big endian, deflated) with
 * pixel data decoded by dicom-pixels.ts (native, RLE, JPEG Baseline/Extended 8-bit, JPEG Lossless,
 * JPEG-LS, JPEG 2000). Single- and multi-frame objects: the geometry and rescale of each frame come from
 * its Per-Frame Functional Groups, else the Shared Functional Groups, else the top-level attributes
 * (enhanced CT/MR, PS3.3 C.7.6.16); RT Dose frames from GridFrameOffsetVector. No Node builtin here: the
 * libraries, the inflater and the file access are passed in (dicom-file.ts in Node, browserDicomLibraries
 * in a page).
 *
 * Every element's length is checked against the file before a value is read, sizes are checked against
 * MAX_VALUES before pixels are decoded, and inflated data is capped at MAX_INFLATED_BYTES.
 */

/** One grayscale frame with its geometry: a slice of a volume. */
export interface DicomImage {
  /** The file path (or the name given to the parser); "PATH frame K" for frames of a multi-frame object. */
  name: string;
  transferSyntax: string;
  sopClassUID: string;
  sopInstanceUID?: string;
  seriesInstanceUID: string;
  seriesNumber?: number;
  seriesDescription?: string;
  modality?: string;
  instanceNumber?: number;
  /** ImagePositionPatient: the centre of the first (top-left) pixel, LPS mm. */
  position?: [number, number, number];
  /** ImageOrientationPatient: row direction (along a row, increasing column) then column direction, LPS. */
  orientation?: [number, number, number, number, number, number];
  rows: number;
  columns: number;
  /** PixelSpacing: [spacing between rows, spacing between columns] in mm. */
  pixelSpacing?: [number, number];
  sliceThickness?: number;
  spacingBetweenSlices?: number;
  bitsAllocated: number;
  bitsStored: number;
  pixelRepresentation: number;
  rescaleSlope: number;
  rescaleIntercept: number;
  /** The pixel data went through a lossy compression (the transfer syntax says so). */
  lossy: boolean;
  /** Patient and study attributes (dcmjs keywords) a derived series carries over. */
  identity: DicomIdentity;
  /** Rescaled intensities, row-major [rows, columns]. */
  pixels: Float32Array;
  notes: string[];
}

/** The patient, study and frame-of-reference attributes of the source that a derived series keeps. */
export type DicomIdentity = Partial<Record<(typeof IDENTITY_KEYWORDS)[number], string>>;

/** The keywords of DicomIdentity with their tags (PS3.6). */
const IDENTITY_TAGS = {
  PatientName: 'x00100010', PatientID: 'x00100020', PatientBirthDate: 'x00100030', PatientSex: 'x00100040', PatientAge: 'x00101010',
  StudyInstanceUID: 'x0020000d', StudyDate: 'x00080020', StudyTime: 'x00080030', StudyID: 'x00200010', AccessionNumber: 'x00080050',
  ReferringPhysicianName: 'x00080090', StudyDescription: 'x00081030', FrameOfReferenceUID: 'x00200052', PositionReferenceIndicator: 'x00201040',
  Modality: 'x00080060', BodyPartExamined: 'x00180015', SpecificCharacterSet: 'x00080005',
} as const;
export const IDENTITY_KEYWORDS = Object.keys(IDENTITY_TAGS) as (keyof typeof IDENTITY_TAGS)[];

/** dicom-parser's entry point (the package's module). */
export interface DicomParserLibrary {
  parseDicom(bytes: Uint8Array, options?: { inflater?: (bytes: Uint8Array, position: number) => Uint8Array }): DataSet;
}

/** What decoding needs from its surroundings: the dataset parser, a raw-deflate inflater, the pixel codecs. */
export interface DicomLibraries {
  parser: DicomParserLibrary;
  /** Raw DEFLATE (RFC 1951) of `bytes`, refusing (throwing) output over `maxBytes`. */
  inflate?: (bytes: Uint8Array, maxBytes: number) => Uint8Array;
  codecs: DicomCodecs;
}

const MEDIA_STORAGE_DIRECTORY = '1.2.840.10008.1.3.10';
const T = {
  transferSyntax: 'x00020010', mediaStorageSOPClass: 'x00020002', sopClass: 'x00080016', sopInstance: 'x00080018', modality: 'x00080060',
  seriesDescription: 'x0008103e', sliceThickness: 'x00180050', spacingBetweenSlices: 'x00180088', seriesInstanceUID: 'x0020000e',
  seriesNumber: 'x00200011', instanceNumber: 'x00200013', position: 'x00200032', orientation: 'x00200037', samplesPerPixel: 'x00280002',
  numberOfFrames: 'x00280008', rows: 'x00280010', columns: 'x00280011', pixelSpacing: 'x00280030', bitsAllocated: 'x00280100',
  bitsStored: 'x00280101', highBit: 'x00280102', pixelRepresentation: 'x00280103', rescaleIntercept: 'x00281052', rescaleSlope: 'x00281053',
  pixelData: 'x7fe00010', sharedGroups: 'x52009229', perFrameGroups: 'x52009230', planePosition: 'x00209113', planeOrientation: 'x00209116',
  pixelMeasures: 'x00289110', valueTransformation: 'x00289145', gridFrameOffsets: 'x3004000c', doseGridScaling: 'x3004000e',
} as const;

const tagName = (tag: string): string => `(${tag.slice(1, 5).toUpperCase()},${tag.slice(5, 9).toUpperCase()})`;
const bad = (name: string, what: string): never => fail('UNREADABLE_FILE', `${name}: not a readable DICOM file: ${what}`);

const overrun = (tag: string, el: Element, end: number): string =>
  `truncated DICOM element ${tagName(tag)}: it declares ${el.length} bytes at byte ${el.dataOffset} but only ${Math.max(0, end - el.dataOffset)} remain`;

/** Check that every element and item (at any depth) lies inside the file; dicom-parser lets a truncated value run past it. */
function checkLengths(ds: DataSet, name: string, depth = 0): void {
  if (depth > 32) bad(name, 'sequences nested more than 32 deep');
  const end = ds.byteArray.length;
  for (const [tag, el] of Object.entries(ds.elements)) {
    if (el.dataOffset + el.length > end && !(el.encapsulatedPixelData && el.hadUndefinedLength)) bad(name, overrun(tag, el, end));
    for (const item of el.items ?? []) if (item.dataSet) checkLengths(item.dataSet, name, depth + 1);
  }
}

/** The element that overran the file in a failed parse: one read with a length past the end, else the one after the last read. */
function nextElement(partial: DataSet | undefined): string | undefined {
  if (!partial) return undefined;
  const over = Object.entries(partial.elements).find(([, el]) => el.dataOffset + el.length > partial.byteArray.length);
  if (over) return overrun(over[0], over[1], partial.byteArray.length);
  const ends = Object.values(partial.elements).filter((el) => !el.hadUndefinedLength).map((el) => el.dataOffset + el.length);
  const pos = ends.length ? Math.max(...ends) : -1;
  const b = partial.byteArray;
  if (pos < 0 || pos + 4 > b.length) return undefined;
  const p = partial.byteArrayParser;
  const hex = (n: number): string => n.toString(16).toUpperCase().padStart(4, '0');
  return `truncated DICOM element (${hex(p.readUint16(b, pos))},${hex(p.readUint16(b, pos + 2))}) at byte ${pos}: it runs past the end of the file`;
}

/** A parsed object: its dataset and transfer syntax. */
export interface DicomDataset {
  name: string;
  ds: DataSet;
  syntax: TransferSyntax;
}

const hasPreamble = (b: Uint8Array): boolean => b.length >= 132 && b[128] === 0x44 && b[129] === 0x49 && b[130] === 0x43 && b[131] === 0x4d;
/** True when `bytes` start like a DICOM Part 10 file (a 128-byte preamble, then "DICM"). */
export const isDicomBytes = hasPreamble;

/** Parse a Part 10 file's dataset (not its pixels); a media storage directory (DICOMDIR) returns null. */
export function parseDicomDataset(bytes: Uint8Array, name: string, libs: DicomLibraries): DicomDataset | null {
  if (bytes.length < 132) bad(name, `only ${bytes.length} bytes; a DICOM Part 10 file starts with a 128-byte preamble and "DICM"`);
  if (!hasPreamble(bytes)) bad(name, 'no "DICM" marker at byte 128 (only DICOM Part 10 files with the preamble are read)');
  const inflater = (arr: Uint8Array, position: number): Uint8Array => {
    if (!libs.inflate) return fail('UNSUPPORTED', `${name}: Deflated Explicit VR Little Endian needs an inflater (DicomLibraries.inflate)`);
    let inflated: Uint8Array;
    try {
      inflated = libs.inflate(arr.subarray(position), MAX_INFLATED_BYTES);
    } catch (e) {
      return bad(name, `the deflated dataset does not inflate within ${MAX_INFLATED_BYTES} bytes (${(e as Error).message ?? e})`);
    }
    const full = new Uint8Array(position + inflated.length);
    full.set(arr.subarray(0, position));
    full.set(inflated, position);
    return full;
  };
  let ds: DataSet;
  try {
    ds = libs.parser.parseDicom(bytes, { inflater });
  } catch (e) {
    const inner = (e as { exception?: unknown }).exception ?? e;
    if (inner instanceof TweedieError) throw inner;
    const text = String(inner instanceof Error ? inner.message : inner).replace(/^dicomParser[.:][\w.:]+: ?/, '').split('\n')[0]!.slice(0, 200);
    if (!/overrun|beyond|past the end|end of buffer/i.test(text)) return bad(name, text);
    const at = nextElement((e as { dataSet?: DataSet }).dataSet);
    return bad(name, at ?? `truncated: an element runs past the end of the file (${text})`);
  }
  checkLengths(ds, name);
  const uid = ds.string(T.transferSyntax);
  if (!uid) bad(name, 'the file meta information has no TransferSyntaxUID (0002,0010)');
  const syntax = transferSyntax(uid!, name);
  if ((ds.string(T.mediaStorageSOPClass) ?? '') === MEDIA_STORAGE_DIRECTORY) return null;
  return { name, ds, syntax };
}

/** Typed reads of one dataset, with the file name in every error. */
class Fields {
  constructor(readonly ds: DataSet, readonly name: string) {}
  has(tag: string): boolean {
    return this.ds.elements[tag] !== undefined;
  }
  string(tag: string): string | undefined {
    const el = this.ds.elements[tag];
    if (!el || el.length === 0) return undefined;
    const s = this.ds.string(tag);
    return s === undefined ? undefined : s.replace(/\0+$/, '');
  }
  /** The whole value with its backslashes (dicom-parser's string() returns one value). */
  text(tag: string): string | undefined {
    const el = this.ds.elements[tag];
    if (!el || el.length === 0) return undefined;
    let s = '';
    const b = this.ds.byteArray;
    for (let i = el.dataOffset; i < el.dataOffset + el.length; i++) s += String.fromCharCode(b[i]!);
    return s.replace(/[\0 ]+$/, '').replace(/^ +/, '');
  }
  us(tag: string, what: string): number | undefined {
    const el = this.ds.elements[tag];
    if (!el || el.length === 0) return undefined;
    if (el.length < 2) bad(this.name, `${what} ${tagName(tag)} has ${el.length} byte(s); an unsigned short needs 2`);
    return this.ds.uint16(tag);
  }
  numbers(tag: string, what: string, count: number): number[] | undefined {
    const s = this.text(tag);
    if (s === undefined || s === '') return undefined;
    const parts = s.split('\\').map((p) => p.trim());
    const vals = parts.map(Number);
    if (parts.length < count || vals.some((v, i) => !Number.isFinite(v) || parts[i] === '')) {
      bad(this.name, `${what} ${tagName(tag)} is ${JSON.stringify(s.slice(0, 80))}, expected ${count} number(s)`);
    }
    return vals.slice(0, count);
  }
  allNumbers(tag: string, what: string): number[] | undefined {
    const s = this.text(tag);
    return s === undefined || s === '' ? undefined : this.numbers(tag, what, s.split('\\').length);
  }
  number(tag: string, what: string): number | undefined {
    return this.numbers(tag, what, 1)?.[0];
  }
  integer(tag: string, what: string): number | undefined {
    const v = this.number(tag, what);
    if (v !== undefined && !Number.isInteger(v)) bad(this.name, `${what} ${tagName(tag)} is ${v}, expected an integer`);
    return v;
  }
  /** The dataset of item `i` of sequence `tag`. */
  item(tag: string, i = 0): Fields | undefined {
    const d = this.ds.elements[tag]?.items?.[i]?.dataSet;
    return d ? new Fields(d, this.name) : undefined;
  }
  items(tag: string): number {
    return this.ds.elements[tag]?.items?.length ?? 0;
  }
}

type Geometry = Pick<DicomImage, 'position' | 'orientation' | 'pixelSpacing' | 'sliceThickness' | 'spacingBetweenSlices' | 'rescaleSlope' | 'rescaleIntercept'>;

/** Geometry and rescale from one dataset level: the top level, or a functional group item's sequences. */
function geometryAt(F: Fields | undefined, grouped: boolean): Partial<Geometry> {
  if (!F) return {};
  const at = (seq: string): Fields | undefined => (grouped ? F.item(seq) : F);
  const g: Partial<Geometry> = {};
  const set = <K extends keyof Geometry>(k: K, v: Geometry[K] | undefined): void => {
    if (v !== undefined) g[k] = v;
  };
  set('position', at(T.planePosition)?.numbers(T.position, 'ImagePositionPatient', 3) as Geometry['position']);
  set('orientation', at(T.planeOrientation)?.numbers(T.orientation, 'ImageOrientationPatient', 6) as Geometry['orientation']);
  const m = at(T.pixelMeasures);
  set('pixelSpacing', m?.numbers(T.pixelSpacing, 'PixelSpacing', 2) as Geometry['pixelSpacing']);
  set('sliceThickness', m?.number(T.sliceThickness, 'SliceThickness'));
  set('spacingBetweenSlices', m?.number(T.spacingBetweenSlices, 'SpacingBetweenSlices'));
  const r = at(T.valueTransformation);
  set('rescaleSlope', r?.number(T.rescaleSlope, 'RescaleSlope'));
  set('rescaleIntercept', r?.number(T.rescaleIntercept, 'RescaleIntercept'));
  return g;
}

/** A described object: everything but the decoded pixels, with the geometry of each frame. */
export interface DicomObject {
  source: DicomDataset;
  format: PixelFormat;
  /** One entry per frame: the image without pixels. */
  frames: Omit<DicomImage, 'pixels'>[];
}

/** Describe a parsed object: its pixel format and each frame's geometry and rescale. */
export function describeDicom(src: DicomDataset): DicomObject {
  const { ds, name, syntax } = src;
  const F = new Fields(ds, name);
  const rows = F.us(T.rows, 'Rows') ?? 0, columns = F.us(T.columns, 'Columns') ?? 0;
  const bitsAllocated = F.us(T.bitsAllocated, 'BitsAllocated') ?? 0;
  const bitsStored = F.us(T.bitsStored, 'BitsStored') ?? bitsAllocated;
  const frames = F.integer(T.numberOfFrames, 'NumberOfFrames') ?? 1;
  const format: PixelFormat = {
    rows, columns, frames, bitsAllocated, bitsStored,
    highBit: F.us(T.highBit, 'HighBit') ?? bitsStored - 1,
    pixelRepresentation: F.us(T.pixelRepresentation, 'PixelRepresentation') ?? 0,
  };
  if (frames < 1) bad(name, `NumberOfFrames is ${frames}`);
  // Bound the frame count before describing each frame (a single frame is checked with its pixel data).
  if (frames > 1) checkedSize([frames, Math.max(rows, 1), Math.max(columns, 1)], name, `NumberOfFrames x Rows x Columns ${frames} x ${rows} x ${columns}`, 'downsample the image first');
  const identity: DicomIdentity = {};
  for (const k of IDENTITY_KEYWORDS) {
    const v = F.text(IDENTITY_TAGS[k]);
    if (v) identity[k] = v;
  }
  const base: Omit<DicomImage, 'pixels' | 'name'> = {
    transferSyntax: syntax.uid,
    sopClassUID: F.string(T.sopClass) ?? F.string(T.mediaStorageSOPClass) ?? '',
    seriesInstanceUID: F.string(T.seriesInstanceUID) ?? '',
    rows, columns, bitsAllocated, bitsStored, pixelRepresentation: format.pixelRepresentation,
    rescaleSlope: 1, rescaleIntercept: 0, lossy: syntax.lossy, identity, notes: [],
  };
  const opt = <K extends keyof typeof base>(key: K, v: (typeof base)[K] | undefined): void => {
    if (v !== undefined) base[key] = v;
  };
  opt('sopInstanceUID', F.string(T.sopInstance));
  opt('seriesNumber', F.integer(T.seriesNumber, 'SeriesNumber'));
  opt('seriesDescription', F.string(T.seriesDescription));
  opt('modality', F.string(T.modality));
  opt('instanceNumber', F.integer(T.instanceNumber, 'InstanceNumber'));
  const top = geometryAt(F, false);
  const shared = geometryAt(F.item(T.sharedGroups), true);
  const perFrame = F.items(T.perFrameGroups);
  if (perFrame > 0 && perFrame !== frames) bad(name, `NumberOfFrames is ${frames} but the Per-Frame Functional Groups Sequence holds ${perFrame} item(s)`);
  // RT Dose: frame k lies GridFrameOffsetVector[k] mm along the normal from ImagePositionPatient.
  const offsets = frames > 1 && perFrame === 0 ? F.allNumbers(T.gridFrameOffsets, 'GridFrameOffsetVector') : undefined;
  if (offsets && offsets.length !== frames) bad(name, `GridFrameOffsetVector lists ${offsets.length} offsets for ${frames} frames`);
  const doseScale = F.number(T.doseGridScaling, 'DoseGridScaling');
  const list: Omit<DicomImage, 'pixels'>[] = [];
  for (let k = 0; k < frames; k++) {
    const g = { ...top, ...shared, ...geometryAt(F.item(T.perFrameGroups, k), true) };
    const im: Omit<DicomImage, 'pixels'> = { ...base, ...g, name: frames > 1 ? `${name} frame ${k + 1}` : name, notes: [] };
    if (frames > 1) im.instanceNumber = k + 1;
    if (offsets && im.position && im.orientation) {
      const o = im.orientation;
      const normal = [o[1] * o[5] - o[2] * o[4], o[2] * o[3] - o[0] * o[5], o[0] * o[4] - o[1] * o[3]];
      im.position = im.position.map((p, i) => p + offsets[k]! * normal[i]!) as DicomImage['position'];
    }
    if (doseScale !== undefined && g.rescaleSlope === undefined) im.rescaleSlope = doseScale;
    if (im.rescaleSlope === 0) {
      im.notes.push(`${im.name}: RescaleSlope is 0; read as 1`);
      im.rescaleSlope = 1;
    }
    list.push(im);
  }
  return { source: src, format, frames: list };
}

/** Check the pixel format before any pixel is decoded. */
function checkFormat(obj: DicomObject): void {
  const { ds, name, syntax } = obj.source;
  const F = new Fields(ds, name);
  const { rows, columns, frames, bitsAllocated: ba, bitsStored: bs, highBit: hb, pixelRepresentation: pr } = obj.format;
  const px = ds.elements[T.pixelData];
  if (!px) bad(name, `no PixelData (7FE0,0010) element: this DICOM file holds no image (SOP class ${obj.frames[0]?.sopClassUID || 'unknown'}); point at image files`);
  const spp = F.us(T.samplesPerPixel, 'SamplesPerPixel') ?? 1;
  if (spp !== 1) fail('UNSUPPORTED', `${name}: SamplesPerPixel is ${spp}; only grayscale (1 sample per pixel) images are read`);
  if (!F.has(T.rows) || !F.has(T.columns) || rows < 1 || columns < 1) bad(name, `Rows ${rows} and Columns ${columns} must both be present and positive`);
  if (ba !== 8 && ba !== 16 && ba !== 32) fail('UNSUPPORTED', `${name}: BitsAllocated ${ba} is not supported (8, 16 or 32 are read)`);
  if (bs < 1 || bs > ba || hb < bs - 1 || hb >= ba) bad(name, `BitsStored ${bs} and HighBit ${hb} do not fit BitsAllocated ${ba}`);
  if (pr !== 0 && pr !== 1) bad(name, `PixelRepresentation ${pr} must be 0 (unsigned) or 1 (signed)`);
  // Native pixels must be in the file; only then is the size checked (a codestream's frames are checked before decoding).
  if (syntax.encoding === 'native') {
    if (px!.encapsulatedPixelData) bad(name, `PixelData is encapsulated (compressed fragments) although the transfer syntax ${syntax.name} is uncompressed; the file is corrupt`);
    const need = frames * rows * columns * (ba / 8);
    if (px!.length < need) {
      bad(name, `PixelData holds ${px!.length} bytes but NumberOfFrames x Rows x Columns x BitsAllocated/8 = ${frames} x ${rows} x ${columns} x ${ba / 8} needs ${need}`);
    }
  } else if (!px!.encapsulatedPixelData) {
    bad(name, `the transfer syntax ${syntax.name} needs encapsulated (fragmented) pixel data but PixelData has a defined length`);
  }
  checkedSize([frames, rows, columns], name, `NumberOfFrames x Rows x Columns ${frames} x ${rows} x ${columns}`, 'downsample the image first');
}

/** Decode every frame of a described object. */
export async function decodeDicomObject(obj: DicomObject, codecs: DicomCodecs): Promise<DicomImage[]> {
  checkFormat(obj);
  const { ds, name, syntax } = obj.source;
  const px = ds.elements[T.pixelData] as Element;
  const encoded = syntax.encoding === 'native' ? undefined : encapsulatedFrames(ds, px, obj.format.frames, name);
  const out: DicomImage[] = [];
  for (let k = 0; k < obj.frames.length; k++) {
    const f = obj.frames[k]!;
    const pixels = await decodeFrame(ds, px, syntax, obj.format, k, { slope: f.rescaleSlope, intercept: f.rescaleIntercept }, codecs, name, encoded);
    out.push({ ...f, pixels });
  }
  return out;
}

/** Parse and decode one DICOM Part 10 file held in memory: one image per frame. `name` appears in every error. */
export async function decodeDicom(bytes: Uint8Array, name: string, libs: DicomLibraries): Promise<DicomImage[]> {
  const src = parseDicomDataset(bytes, name, libs);
  if (!src) return fail('BAD_INPUT', `${name}: this is a DICOMDIR (media storage directory), not an image; point at the image files or their folder`);
  return decodeDicomObject(describeDicom(src), libs.codecs);
}
