import { readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fail, fileError } from '../core/errors.js';
import { checkedSize, requireFinite } from './validate.js';
import { createVolume, NIFTI_XFORM, type Volume } from './volume.js';

/**
 * DICOM Part 10 files (128-byte preamble + "DICM") with uncompressed pixel data in the
 * implicit or explicit VR little endian transfer syntax; one grayscale frame per file.
 * `readDicom` reads one file or a folder holding one series and returns a Volume whose
 * affine is in NIfTI's RAS+ world (DICOM's LPS with x and y negated).
 *
 * Every element length is checked against the bytes left before it is used, nested
 * sequences are skipped with a loop that advances at least 8 bytes per step, and pixel
 * buffers are only allocated after the PixelData element is known to hold them (and within
 * MAX_VALUES pixels). Rescaled intensities that overflow float32 are refused with their position.
 */

export interface DicomImage {
  /** The file path (or the name given to parseDicom). */
  name: string;
  transferSyntax: string;
  sopClassUID: string;
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
  /** Rescaled intensities, row-major [rows, columns]. */
  pixels: Float32Array;
  notes: string[];
}

const IMPLICIT_LE = '1.2.840.10008.1.2';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const MEDIA_STORAGE_DIRECTORY = '1.2.840.10008.1.3.10';

/** Names of the transfer syntaxes we recognise but cannot read. */
const TRANSFER_SYNTAX_NAMES: Record<string, string> = {
  '1.2.840.10008.1.2.1.99': 'Deflated Explicit VR Little Endian',
  '1.2.840.10008.1.2.2': 'Explicit VR Big Endian',
  '1.2.840.10008.1.2.4.50': 'JPEG Baseline (Process 1)',
  '1.2.840.10008.1.2.4.51': 'JPEG Extended (Process 2 & 4)',
  '1.2.840.10008.1.2.4.57': 'JPEG Lossless, Non-Hierarchical (Process 14)',
  '1.2.840.10008.1.2.4.70': 'JPEG Lossless, First-Order Prediction (Process 14, SV1)',
  '1.2.840.10008.1.2.4.80': 'JPEG-LS Lossless',
  '1.2.840.10008.1.2.4.81': 'JPEG-LS Near-Lossless',
  '1.2.840.10008.1.2.4.90': 'JPEG 2000 Lossless Only',
  '1.2.840.10008.1.2.4.91': 'JPEG 2000',
  '1.2.840.10008.1.2.4.201': 'HTJ2K Lossless',
  '1.2.840.10008.1.2.4.202': 'HTJ2K Lossless RPCL',
  '1.2.840.10008.1.2.4.203': 'HTJ2K',
  '1.2.840.10008.1.2.5': 'RLE Lossless',
};

const tagOf = (group: number, element: number): number => group * 0x10000 + element;
const hex4 = (n: number): string => n.toString(16).toUpperCase().padStart(4, '0');
const tagName = (tag: number): string => `(${hex4(Math.floor(tag / 0x10000))},${hex4(tag % 0x10000)})`;

const T = {
  transferSyntax: tagOf(0x0002, 0x0010),
  mediaStorageSOPClass: tagOf(0x0002, 0x0002),
  sopClass: tagOf(0x0008, 0x0016),
  modality: tagOf(0x0008, 0x0060),
  seriesDescription: tagOf(0x0008, 0x103e),
  sliceThickness: tagOf(0x0018, 0x0050),
  spacingBetweenSlices: tagOf(0x0018, 0x0088),
  seriesInstanceUID: tagOf(0x0020, 0x000e),
  seriesNumber: tagOf(0x0020, 0x0011),
  instanceNumber: tagOf(0x0020, 0x0013),
  position: tagOf(0x0020, 0x0032),
  orientation: tagOf(0x0020, 0x0037),
  samplesPerPixel: tagOf(0x0028, 0x0002),
  numberOfFrames: tagOf(0x0028, 0x0008),
  rows: tagOf(0x0028, 0x0010),
  columns: tagOf(0x0028, 0x0011),
  pixelSpacing: tagOf(0x0028, 0x0030),
  bitsAllocated: tagOf(0x0028, 0x0100),
  bitsStored: tagOf(0x0028, 0x0101),
  highBit: tagOf(0x0028, 0x0102),
  pixelRepresentation: tagOf(0x0028, 0x0103),
  rescaleIntercept: tagOf(0x0028, 0x1052),
  rescaleSlope: tagOf(0x0028, 0x1053),
  pixelData: tagOf(0x7fe0, 0x0010),
} as const;

const WANTED = new Set<number>(Object.values(T));
const UNDEFINED = 0xffffffff;
/** Explicit VRs with a 2-byte reserved field and a 4-byte length. */
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);

const bad = (name: string, what: string): never => fail('UNREADABLE_FILE', `${name}: not a readable DICOM file: ${what}`);

interface ElementHeader {
  tag: number;
  vr: string;
  length: number;
  valueStart: number;
}

interface ParsedFile {
  name: string;
  transferSyntax: string;
  mediaStorageSOPClass: string;
  /** Value offset and length of each wanted element (PixelData: length UNDEFINED when encapsulated). */
  elements: Map<number, { start: number; length: number }>;
  bytes: Uint8Array;
  view: DataView;
}

class Reader {
  constructor(
    readonly bytes: Uint8Array,
    readonly view: DataView,
    readonly name: string,
  ) {}

  header(pos: number, explicit: boolean): ElementHeader {
    const end = this.bytes.length;
    if (pos + 8 > end) bad(this.name, `truncated element header at byte ${pos} (the file ends at ${end})`);
    const v = this.view;
    const group = v.getUint16(pos, true), element = v.getUint16(pos + 2, true);
    const tag = tagOf(group, element);
    let vr = 'UN', length: number, valueStart: number;
    if (!explicit || group === 0xfffe) {
      length = v.getUint32(pos + 4, true);
      valueStart = pos + 8;
    } else {
      const c0 = this.bytes[pos + 4]!, c1 = this.bytes[pos + 5]!;
      if (c0 < 0x41 || c0 > 0x5a || c1 < 0x41 || c1 > 0x5a) {
        bad(this.name, `element ${tagName(tag)} at byte ${pos} has no valid explicit VR (bytes ${c0}, ${c1}); the file is corrupt or its transfer syntax is wrong`);
      }
      vr = String.fromCharCode(c0, c1);
      if (LONG_VRS.has(vr)) {
        if (pos + 12 > end) bad(this.name, `truncated element header of ${tagName(tag)} at byte ${pos}`);
        length = v.getUint32(pos + 8, true);
        valueStart = pos + 12;
      } else {
        length = v.getUint16(pos + 6, true);
        valueStart = pos + 8;
      }
    }
    if (length !== UNDEFINED && valueStart + length > end) {
      bad(this.name, `truncated DICOM element ${tagName(tag)} at byte ${pos}: it declares ${length} bytes but only ${end - valueStart} remain`);
    }
    return { tag, vr, length, valueStart };
  }

  /**
   * Skip the contents of an undefined-length element (a sequence, or encapsulated data)
   * starting at `pos`; returns the offset after its Sequence Delimitation Item. Iterative:
   * every step consumes at least 8 bytes, so it ends within the file's length.
   */
  skipUndefined(pos: number, explicit: boolean, owner: number): number {
    // Stack of open containers: 's' sequence (holds items) or 'i' undefined-length item (holds elements),
    // each with the VR mode of the elements inside.
    const kinds: string[] = ['s'];
    const modes: boolean[] = [explicit];
    const end = this.bytes.length;
    const v = this.view;
    while (kinds.length > 0) {
      if (pos + 8 > end) bad(this.name, `the undefined-length element ${tagName(owner)} is never closed: the file ends inside it (truncated)`);
      const group = v.getUint16(pos, true), element = v.getUint16(pos + 2, true);
      const top = kinds.length - 1;
      if (group === 0xfffe) {
        const length = v.getUint32(pos + 4, true);
        if (element === 0xe000) {
          if (length === UNDEFINED) {
            kinds.push('i');
            modes.push(modes[top]!);
            pos += 8;
          } else {
            if (pos + 8 + length > end) bad(this.name, `truncated DICOM element: an item in ${tagName(owner)} declares ${length} bytes but only ${end - pos - 8} remain`);
            pos += 8 + length;
          }
        } else if (element === 0xe00d || element === 0xe0dd) {
          kinds.pop();
          modes.pop();
          pos += 8;
        } else {
          bad(this.name, `unexpected delimiter (FFFE,${hex4(element)}) at byte ${pos} inside ${tagName(owner)}`);
        }
        continue;
      }
      if (kinds[top] === 's') bad(this.name, `element ${tagName(tagOf(group, element))} at byte ${pos} sits directly in sequence ${tagName(owner)}, outside an item; the file is corrupt`);
      const h = this.header(pos, modes[top]!);
      if (h.length === UNDEFINED) {
        kinds.push('s');
        // Undefined-length UN holds implicit VR little endian data (DICOM PS3.5 6.2.2).
        modes.push(h.vr === 'UN' ? false : modes[top]!);
        pos = h.valueStart;
      } else {
        pos = h.valueStart + h.length;
      }
    }
    return pos;
  }
}

function str(bytes: Uint8Array, start: number, length: number): string {
  let s = '';
  for (let i = start; i < start + length; i++) s += String.fromCharCode(bytes[i]!);
  return s.replace(/[\0 ]+$/, '').replace(/^ +/, '');
}

/** Parse the file meta group and the dataset up to PixelData, recording the elements we use. */
function parseFile(bytes: Uint8Array, name: string): ParsedFile {
  if (bytes.length < 132) bad(name, `only ${bytes.length} bytes; a DICOM Part 10 file starts with a 128-byte preamble and "DICM"`);
  if (bytes[128] !== 0x44 || bytes[129] !== 0x49 || bytes[130] !== 0x43 || bytes[131] !== 0x4d) {
    bad(name, 'no "DICM" marker at byte 128 (only DICOM Part 10 files with the preamble are read)');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const r = new Reader(bytes, view, name);
  const elements = new Map<number, { start: number; length: number }>();
  let pos = 132;
  // File meta information: group 0002, always explicit VR little endian.
  while (pos + 2 <= bytes.length && view.getUint16(pos, true) === 0x0002) {
    const h = r.header(pos, true);
    if (h.length === UNDEFINED) bad(name, `file meta element ${tagName(h.tag)} has an undefined length`);
    elements.set(h.tag, { start: h.valueStart, length: h.length });
    pos = h.valueStart + h.length;
  }
  const tsEl = elements.get(T.transferSyntax);
  if (!tsEl) bad(name, 'the file meta information has no TransferSyntaxUID (0002,0010)');
  const transferSyntax = str(bytes, tsEl!.start, tsEl!.length);
  const msEl = elements.get(T.mediaStorageSOPClass);
  const mediaStorageSOPClass = msEl ? str(bytes, msEl.start, msEl.length) : '';
  if (transferSyntax !== IMPLICIT_LE && transferSyntax !== EXPLICIT_LE) {
    const known = TRANSFER_SYNTAX_NAMES[transferSyntax];
    const what = known ? `${transferSyntax} (${known})` : `${transferSyntax} (not a transfer syntax this reader knows)`;
    fail(
      'UNSUPPORTED',
      `${name}: transfer syntax ${what} is not supported; only uncompressed implicit and explicit VR little endian ` +
        `files are read — convert first, e.g. "gdcmconv --raw in.dcm out.dcm" or "dcmdjpeg in.dcm out.dcm"`,
    );
  }
  const explicit = transferSyntax === EXPLICIT_LE;
  while (pos < bytes.length) {
    const h = r.header(pos, explicit);
    if (Math.floor(h.tag / 0x10000) === 0xfffe) bad(name, `unexpected item or delimiter ${tagName(h.tag)} at byte ${pos} in the top-level dataset`);
    if (h.tag === T.pixelData) {
      elements.set(h.tag, { start: h.valueStart, length: h.length });
      break; // nothing after the pixel data is needed
    }
    if (h.length === UNDEFINED) {
      pos = r.skipUndefined(h.valueStart, explicit && h.vr !== 'UN', h.tag);
    } else {
      if (WANTED.has(h.tag)) elements.set(h.tag, { start: h.valueStart, length: h.length });
      pos = h.valueStart + h.length;
    }
  }
  return { name, transferSyntax, mediaStorageSOPClass, elements, bytes, view };
}

/** Typed access to the recorded elements of one file. */
class Fields {
  constructor(private readonly f: ParsedFile) {}
  has(tag: number): boolean {
    return this.f.elements.has(tag);
  }
  string(tag: number): string | undefined {
    const e = this.f.elements.get(tag);
    return e ? str(this.f.bytes, e.start, e.length) : undefined;
  }
  us(tag: number, what: string): number | undefined {
    const e = this.f.elements.get(tag);
    if (!e || e.length === 0) return undefined;
    if (e.length < 2) bad(this.f.name, `${what} ${tagName(tag)} has ${e.length} byte(s); an unsigned short needs 2`);
    return this.f.view.getUint16(e.start, true);
  }
  numbers(tag: number, what: string, count: number): number[] | undefined {
    const s = this.string(tag);
    if (s === undefined || s === '') return undefined;
    const parts = s.split('\\').map((p) => p.trim());
    const vals = parts.map(Number);
    if (parts.length < count || vals.some((v, i) => !Number.isFinite(v) || parts[i] === '')) {
      bad(this.f.name, `${what} ${tagName(tag)} is ${JSON.stringify(s.slice(0, 80))}, expected ${count} number(s)`);
    }
    return vals.slice(0, count);
  }
  number(tag: number, what: string): number | undefined {
    return this.numbers(tag, what, 1)?.[0];
  }
  integer(tag: number, what: string): number | undefined {
    const v = this.number(tag, what);
    if (v !== undefined && !Number.isInteger(v)) bad(this.f.name, `${what} ${tagName(tag)} is ${v}, expected an integer`);
    return v;
  }
}

interface ImageInfo extends Omit<DicomImage, 'pixels'> {
  file: ParsedFile;
}

function describe(f: ParsedFile): ImageInfo {
  const F = new Fields(f);
  const name = f.name;
  const info: ImageInfo = {
    file: f,
    name,
    transferSyntax: f.transferSyntax,
    sopClassUID: F.string(T.sopClass) ?? f.mediaStorageSOPClass,
    seriesInstanceUID: F.string(T.seriesInstanceUID) ?? '',
    rows: F.us(T.rows, 'Rows') ?? 0,
    columns: F.us(T.columns, 'Columns') ?? 0,
    bitsAllocated: F.us(T.bitsAllocated, 'BitsAllocated') ?? 0,
    bitsStored: 0,
    pixelRepresentation: F.us(T.pixelRepresentation, 'PixelRepresentation') ?? 0,
    rescaleSlope: F.number(T.rescaleSlope, 'RescaleSlope') ?? 1,
    rescaleIntercept: F.number(T.rescaleIntercept, 'RescaleIntercept') ?? 0,
    notes: [],
  };
  info.bitsStored = F.us(T.bitsStored, 'BitsStored') ?? info.bitsAllocated;
  const opt = <K extends keyof ImageInfo>(key: K, v: ImageInfo[K] | undefined): void => {
    if (v !== undefined) info[key] = v;
  };
  opt('seriesNumber', F.integer(T.seriesNumber, 'SeriesNumber'));
  opt('seriesDescription', F.string(T.seriesDescription));
  opt('modality', F.string(T.modality));
  opt('instanceNumber', F.integer(T.instanceNumber, 'InstanceNumber'));
  opt('position', F.numbers(T.position, 'ImagePositionPatient', 3) as ImageInfo['position']);
  opt('orientation', F.numbers(T.orientation, 'ImageOrientationPatient', 6) as ImageInfo['orientation']);
  opt('pixelSpacing', F.numbers(T.pixelSpacing, 'PixelSpacing', 2) as ImageInfo['pixelSpacing']);
  opt('sliceThickness', F.number(T.sliceThickness, 'SliceThickness'));
  opt('spacingBetweenSlices', F.number(T.spacingBetweenSlices, 'SpacingBetweenSlices'));
  if (info.rescaleSlope === 0) {
    info.notes.push(`${basename(name)}: RescaleSlope is 0; read as 1`);
    info.rescaleSlope = 1;
  }
  return info;
}

/** Decode the pixel data of one described file (rescaled to float32). */
function decodePixels(info: ImageInfo): Float32Array {
  const f = info.file, name = f.name, F = new Fields(f);
  const px = f.elements.get(T.pixelData);
  if (!px) {
    return bad(name, `no PixelData (7FE0,0010) element: this DICOM file holds no image (SOP class ${info.sopClassUID || 'unknown'}); point at image files`);
  }
  if (px.length === UNDEFINED) bad(name, 'PixelData is encapsulated (compressed fragments) although the transfer syntax is uncompressed; the file is corrupt');
  const spp = F.us(T.samplesPerPixel, 'SamplesPerPixel') ?? 1;
  if (spp !== 1) fail('UNSUPPORTED', `${name}: SamplesPerPixel is ${spp}; only grayscale (1 sample per pixel) images are read`);
  const frames = F.integer(T.numberOfFrames, 'NumberOfFrames') ?? 1;
  if (frames > 1) fail('UNSUPPORTED', `${name}: a multi-frame image (${frames} frames) is not supported; only one frame per file is read (split it, e.g. with dcm2niix)`);
  const { rows, columns, bitsAllocated: ba, bitsStored: bs, pixelRepresentation: pr } = info;
  if (!F.has(T.rows) || !F.has(T.columns) || rows < 1 || columns < 1) bad(name, `Rows ${rows} and Columns ${columns} must both be present and positive`);
  if (ba !== 8 && ba !== 16 && ba !== 32) fail('UNSUPPORTED', `${name}: BitsAllocated ${ba} is not supported (8, 16 or 32 are read)`);
  const hb = F.us(T.highBit, 'HighBit') ?? bs - 1;
  if (bs < 1 || bs > ba || hb < bs - 1 || hb >= ba) bad(name, `BitsStored ${bs} and HighBit ${hb} do not fit BitsAllocated ${ba}`);
  if (pr !== 0 && pr !== 1) bad(name, `PixelRepresentation ${pr} must be 0 (unsigned) or 1 (signed)`);
  const n = rows * columns, size = ba / 8;
  if (px.length < n * size) {
    bad(name, `PixelData holds ${px.length} bytes but Rows x Columns x BitsAllocated/8 = ${rows} x ${columns} x ${size} needs ${n * size}`);
  }
  checkedSize([rows, columns], name, `Rows x Columns ${rows} x ${columns}`, 'downsample the image first');
  const v = f.view, o = px.start;
  const out = new Float32Array(n);
  const slope = info.rescaleSlope, inter = info.rescaleIntercept;
  const shift = hb + 1 - bs;
  const full = bs === ba && shift === 0;
  const span = 2 ** bs, half = 2 ** (bs - 1);
  for (let i = 0; i < n; i++) {
    let raw = ba === 8 ? v.getUint8(o + i) : ba === 16 ? v.getUint16(o + 2 * i, true) : v.getUint32(o + 4 * i, true);
    if (!full) raw = Math.floor(raw / 2 ** shift) % span; // keep bits [hb-bs+1 .. hb]
    if (pr === 1 && raw >= half) raw -= span; // two's complement in bs bits
    out[i] = raw * slope + inter;
  }
  requireFinite(out, { name, dims: [rows, columns], order: 'C' }, `check RescaleSlope (0028,1053) ${slope} and RescaleIntercept (0028,1052) ${inter}`);
  return out;
}

/** Parse one DICOM Part 10 file held in memory; `name` appears in every error message. */
export function parseDicom(bytes: Uint8Array, name = '<buffer>'): DicomImage {
  const info = describe(parseFile(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), name));
  const pixels = decodePixels(info);
  const { file: _file, ...rest } = info;
  void _file;
  return { ...rest, pixels };
}

const cross = (a: number[], b: number[]): number[] => [a[1]! * b[2]! - a[2]! * b[1]!, a[2]! * b[0]! - a[0]! * b[2]!, a[0]! * b[1]! - a[1]! * b[0]!];
const dot = (a: readonly number[], b: readonly number[]): number => a[0]! * b[0]! + a[1]! * b[1]! + a[2]! * b[2]!;
const fmt = (v: number): string => String(+v.toPrecision(6));

function seriesLabel(images: readonly DicomImage[]): string {
  const a = images[0]!;
  const desc = a.seriesDescription ? ` '${a.seriesDescription}'` : '';
  const num = a.seriesNumber !== undefined ? `series ${a.seriesNumber}, ` : '';
  return `${a.seriesInstanceUID || '(no SeriesInstanceUID)'}${desc} (${num}${images.length} file(s), e.g. ${basename(a.name)})`;
}

/** The third voxel size when positions cannot give it: SpacingBetweenSlices, else SliceThickness, else 1 mm. */
function sliceSpacing(im: DicomImage, notes: string[]): number {
  for (const v of [im.spacingBetweenSlices, im.sliceThickness]) if (v !== undefined && v > 0) return v;
  notes.push('no positive SpacingBetweenSlices or SliceThickness; 1 mm slices assumed');
  return 1;
}

/** Refuse slices of more than one series, listing them. */
function requireOneSeries(images: readonly DicomImage[], where: string): void {
  const groups = new Map<string, DicomImage[]>();
  for (const im of images) {
    const g = groups.get(im.seriesInstanceUID);
    if (g) g.push(im);
    else groups.set(im.seriesInstanceUID, [im]);
  }
  if (groups.size > 1) {
    const list = [...groups.values()].map(seriesLabel).join('; ');
    fail('BAD_INPUT', `${where} holds slices of ${groups.size} DICOM series; read one series at a time (put each series in its own folder): ${list}`);
  }
}

/**
 * Stack the slices of one series into a volume. Slices are ordered by ImagePositionPatient
 * projected on the slice normal (row direction x column direction from
 * ImageOrientationPatient), or by InstanceNumber when some slice lacks position or
 * orientation. Voxel (i, j, k) is column i, row j of slice k.
 */
export function volumeFromDicom(images: readonly DicomImage[], name = 'DICOM series'): Volume {
  if (images.length === 0) fail('BAD_INPUT', `${name}: no DICOM images to stack`);
  requireOneSeries(images, name);
  const first = images[0]!;
  const notes: string[] = images.flatMap((im) => im.notes);
  const { rows, columns } = first;
  for (const im of images) {
    if (im.rows !== rows || im.columns !== columns) {
      fail('BAD_INPUT', `${name}: ${basename(im.name)} is ${im.columns}x${im.rows} but ${basename(first.name)} is ${columns}x${rows}; a series must have one image size`);
    }
  }
  let ps = first.pixelSpacing;
  if (!ps) {
    notes.push('PixelSpacing (0028,0030) is missing; 1 mm pixels assumed');
    ps = [1, 1];
  }
  for (const im of images) {
    const q = im.pixelSpacing ?? ps;
    if (Math.abs(q[0] - ps[0]) > 1e-4 * ps[0] || Math.abs(q[1] - ps[1]) > 1e-4 * ps[1]) {
      fail('BAD_INPUT', `${name}: PixelSpacing differs between ${basename(first.name)} (${ps.join('\\')}) and ${basename(im.name)} (${q.join('\\')})`);
    }
  }
  if (!(ps[0] > 0 && ps[1] > 0)) bad(first.name, `PixelSpacing ${ps.join('\\')} must be positive`);

  const geometric = images.every((im) => im.position && im.orientation);
  let row: number[], col: number[], normal: number[];
  const orientationOf = (im: DicomImage): [number[], number[]] => {
    const o = im.orientation ?? [1, 0, 0, 0, 1, 0];
    return [o.slice(0, 3), o.slice(3, 6)];
  };
  [row, col] = orientationOf(first);
  const nr = Math.hypot(row[0]!, row[1]!, row[2]!), nc = Math.hypot(col[0]!, col[1]!, col[2]!);
  if (!(Math.abs(nr - 1) < 1e-2 && Math.abs(nc - 1) < 1e-2 && Math.abs(dot(row, col)) < 1e-2)) {
    bad(first.name, `ImageOrientationPatient ${(first.orientation ?? []).map(fmt).join('\\')} is not two orthogonal unit vectors`);
  }
  row = row.map((x) => x / nr);
  col = col.map((x) => x / nc);
  normal = cross(row, col);
  const nn = Math.hypot(normal[0]!, normal[1]!, normal[2]!);
  normal = normal.map((x) => x / nn);

  let order: DicomImage[];
  let step: number[]; // LPS displacement from one slice to the next
  if (geometric) {
    for (const im of images) {
      const [r2, c2] = orientationOf(im);
      if (r2.some((x, i) => Math.abs(x / nr - row[i]!) > 1e-3) || c2.some((x, i) => Math.abs(x / nc - col[i]!) > 1e-3)) {
        fail('BAD_INPUT', `${name}: ImageOrientationPatient differs between ${basename(first.name)} and ${basename(im.name)}; the slices are not one stack`);
      }
    }
    const keyed = images.map((im) => ({ im, d: dot(normal, im.position!) }));
    keyed.sort((a, b) => a.d - b.d);
    order = keyed.map((k) => k.im);
    for (let i = 1; i < keyed.length; i++) {
      if (Math.abs(keyed[i]!.d - keyed[i - 1]!.d) < 1e-4) {
        fail(
          'UNSUPPORTED',
          `${name}: ${basename(keyed[i - 1]!.im.name)} and ${basename(keyed[i]!.im.name)} lie at the same slice position (${fmt(keyed[i]!.d)} mm); ` +
            'the series holds several volumes (echoes, time points or repeats) — split it (e.g. with dcm2niix) and read one volume',
        );
      }
    }
    if (order.length > 1) {
      const span = keyed[keyed.length - 1]!.d - keyed[0]!.d;
      const mean = span / (order.length - 1);
      const gaps = keyed.slice(1).map((k, i) => k.d - keyed[i]!.d);
      const big = gaps.indexOf(Math.max(...gaps)), small = Math.min(...gaps);
      if (gaps[big]! - small > Math.max(1e-3, 0.01 * mean)) {
        fail(
          'UNSUPPORTED',
          `${name}: slice spacing is not uniform (gaps from ${fmt(small)} to ${fmt(gaps[big]!)} mm; ${fmt(gaps[big]!)} mm between ` +
            `${basename(keyed[big]!.im.name)} and ${basename(keyed[big + 1]!.im.name)}); slices may be missing from the folder`,
        );
      }
      const p0 = order[0]!.position!, p1 = order[order.length - 1]!.position!;
      step = [0, 1, 2].map((i) => (p1[i]! - p0[i]!) / (order.length - 1));
    } else {
      step = normal.map((x) => x * sliceSpacing(first, notes));
    }
  } else {
    const missing = images.filter((im) => im.instanceNumber === undefined);
    if (images.length > 1 && missing.length) {
      bad(missing[0]!.name, 'cannot order the slices: ImagePositionPatient/ImageOrientationPatient and InstanceNumber are missing');
    }
    order = [...images].sort((a, b) => a.instanceNumber! - b.instanceNumber!);
    for (let i = 1; i < order.length; i++) {
      if (order[i]!.instanceNumber === order[i - 1]!.instanceNumber) {
        fail('BAD_INPUT', `${name}: ${basename(order[i - 1]!.name)} and ${basename(order[i]!.name)} share InstanceNumber ${order[i]!.instanceNumber} and have no ImagePositionPatient to order them`);
      }
    }
    const dz = sliceSpacing(first, notes);
    step = normal.map((x) => x * dz);
    if (images.length > 1) notes.push('slices ordered by InstanceNumber: ImagePositionPatient/ImageOrientationPatient missing; slice spacing from SpacingBetweenSlices/SliceThickness');
    if (!first.orientation || !first.position) notes.push('geometry incomplete: missing ImagePositionPatient/ImageOrientationPatient taken as origin 0 and orientation 1\\0\\0\\0\\1\\0');
  }
  const p0 = order[0]!.position ?? [0, 0, 0];
  // LPS affine: columns are the voxel steps along i (row direction, column spacing ps[1]),
  // j (column direction, row spacing ps[0]) and k (slice to slice); then LPS -> RAS.
  const lps = [0, 1, 2].map((i) => [row[i]! * ps![1], col[i]! * ps![0], step[i]!, p0[i]!]);
  const affine = [
    lps[0]!.map((x) => -x),
    lps[1]!.map((x) => -x),
    lps[2]!,
    [0, 0, 0, 1],
  ].map((r) => r.map((x) => (x === 0 ? 0 : x))); // no -0
  const n = rows * columns;
  checkedSize([order.length, rows, columns], name, `${order.length} slices of ${columns}x${rows}`, 'read a smaller series (or fewer slices)');
  const data = new Float32Array(n * order.length);
  order.forEach((im, k) => data.set(im.pixels, k * n));
  const desc = `DICOM${first.modality ? ` ${first.modality}` : ''} series ${first.seriesNumber ?? ''} ${first.seriesDescription ?? ''}`.replace(/ +/g, ' ').trim();
  return createVolume(data, [columns, rows, order.length], {
    affine,
    xformCode: NIFTI_XFORM.scanner,
    descrip: desc.slice(0, 80),
    source: name,
    notes,
  });
}

function readBytes(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    return fileError('read', path, e);
  }
}

const hasPreamble = (b: Uint8Array): boolean => b.length >= 132 && b[128] === 0x44 && b[129] === 0x49 && b[130] === 0x43 && b[131] === 0x4d;

/**
 * Read one DICOM file, or a folder holding the files of one series (files without the
 * "DICM" marker and DICOMDIR index files are skipped; subfolders are not searched).
 */
export function readDicom(pathOrFolder: string): Volume {
  let isDir: boolean;
  try {
    isDir = statSync(pathOrFolder).isDirectory();
  } catch (e) {
    return fileError('read', pathOrFolder, e);
  }
  if (!isDir) {
    const image = parseDicom(readBytes(pathOrFolder), pathOrFolder);
    return volumeFromDicom([image], pathOrFolder);
  }
  let entries: string[], subdirs: string[];
  try {
    const all = readdirSync(pathOrFolder, { withFileTypes: true });
    entries = all.filter((e) => e.isFile()).map((e) => e.name).sort();
    subdirs = all.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  } catch (e) {
    return fileError('list', pathOrFolder, e);
  }
  const infos: ImageInfo[] = [];
  const skipped: string[] = [];
  for (const entry of entries) {
    const path = join(pathOrFolder, entry);
    const bytes = readBytes(path);
    if (!hasPreamble(bytes)) {
      skipped.push(entry);
      continue;
    }
    const f = parseFile(bytes, path);
    if (f.mediaStorageSOPClass === MEDIA_STORAGE_DIRECTORY) {
      skipped.push(entry);
      continue;
    }
    infos.push(describe(f));
  }
  if (infos.length === 0) {
    const why = [
      entries.length ? `${entries.length} file(s) without the DICOM "DICM" marker (${skipped.slice(0, 5).join(', ')}${skipped.length > 5 ? ', ...' : ''})` : 'no files',
      subdirs.length ? `subfolders ${subdirs.slice(0, 5).join(', ')}${subdirs.length > 5 ? ', ...' : ''} (point at one of them)` : '',
    ].filter(Boolean);
    fail('UNREADABLE_FILE', `${pathOrFolder}: no DICOM image files in this folder: ${why.join('; ')}`);
  }
  // Group before decoding, so a folder of mixed series is refused with the list of series.
  requireOneSeries(
    infos.map((i) => ({ ...i, pixels: new Float32Array(0) })),
    pathOrFolder,
  );
  const images: DicomImage[] = infos.map((info) => {
    const pixels = decodePixels(info);
    const { file: _file, ...rest } = info;
    void _file;
    return { ...rest, pixels };
  });
  const vol = volumeFromDicom(images, pathOrFolder);
  if (skipped.length) (vol.notes ??= []).push(`skipped ${skipped.length} non-image file(s): ${skipped.slice(0, 5).join(', ')}${skipped.length > 5 ? ', ...' : ''}`);
  return vol;
}
