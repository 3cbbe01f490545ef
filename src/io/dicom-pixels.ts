import type { DataSet, Element } from 'dicom-parser';
import { fail, TweedieError } from '../core/errors.js';
import { codestreamHeader } from './dicom-codestream.js';
import { decodeRle } from './dicom-rle.js';
import { concatBytes } from './bytes.js';
import type { TransferSyntax } from './dicom-syntax.js';
import { requireFinite } from './validate.js';

/**
 * Pixel data of one DICOM object, frame by frame: native (little or big endian), RLE, or a codestream
 * decoded by a WebAssembly/JavaScript codec the caller passes in (DicomCodecs), so this module runs in
 * Node and in a browser alike. Every frame is checked against Rows x Columns before a decoder sees it.
 */

/** What an Emscripten codec class of the Cornerstone packages offers (charls, openjpeg, libjpeg-turbo). */
export interface WasmDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  decode(): void;
  getDecodedBuffer(): Uint8Array;
  getFrameInfo(): { width: number; height: number; bitsPerSample: number; componentCount: number; isSigned?: boolean };
  delete(): void;
}

/**
 * The decoders, loaded on first use: the Cornerstone WebAssembly codecs and jpeg-lossless-decoder-js. In Node
 * dicom-file.ts loads them from node_modules; a page passes the same packages' files (see browserDicomCodecs).
 */
export interface DicomCodecs {
  jpegLS?: () => Promise<{ JpegLSDecoder: new () => WasmDecoder }>;
  jpeg2000?: () => Promise<{ J2KDecoder: new () => WasmDecoder }>;
  jpegBaseline?: () => Promise<{ JPEGDecoder: new () => WasmDecoder }>;
  jpegLossless?: () => Promise<{ Decoder: new () => LosslessDecoder }>;
}

/** jpeg-lossless-decoder-js's Decoder, with the end-of-scan state it leaves behind. */
export interface LosslessDecoder {
  decode(buffer: ArrayBuffer, offset: number, length: number, numBytes?: number): ArrayBufferView;
  marker?: number;
  markerIndex?: number;
  restarting?: boolean;
}

const losslessDecoders = new WeakMap<new () => LosslessDecoder, LosslessDecoder>();

/**
 * One jpeg-lossless-decoder-js Decoder per class, reused: its constructor allocates some 100k-entry Huffman
 * tables, which made a third of the decoding time of a series. decode() rereads tables and headers, but keeps
 * the marker it stopped at, which the next frame would take for its own (every second frame then decodes
 * wrong): that state is cleared first.
 */
function losslessDecoder(Decoder: new () => LosslessDecoder): LosslessDecoder {
  let d = losslessDecoders.get(Decoder);
  if (!d) losslessDecoders.set(Decoder, (d = new Decoder()));
  d.marker = 0;
  d.markerIndex = 0;
  d.restarting = false;
  return d;
}

/** The stored-value layout of every frame of one object. */
export interface PixelFormat {
  rows: number;
  columns: number;
  frames: number;
  bitsAllocated: number;
  bitsStored: number;
  highBit: number;
  pixelRepresentation: number;
}

const message = (e: unknown): string => (e instanceof Error ? e.message : typeof e === 'number' ? `codec error ${e}` : String(e)).split('\n')[0]!.slice(0, 200);

/** The byte ranges of the fragments of encapsulated pixel data, checked against the file. */
function fragments(ds: DataSet, px: Element, name: string): Uint8Array[] {
  const list = px.fragments ?? [];
  const b = ds.byteArray;
  return list.map((f, i) => {
    if (f.position + f.length > b.length) fail('UNREADABLE_FILE', `${name}: not a readable DICOM file: pixel data fragment ${i + 1} runs past the end of the file (truncated)`);
    return b.subarray(f.position, f.position + f.length);
  });
}

const startsFrame = (f: Uint8Array): boolean => f.length >= 2 && f[0] === 0xff && (f[1] === 0xd8 || f[1] === 0x4f);

/**
 * The encoded bytes of each frame: by the Basic Offset Table when there is one, else one frame of all
 * fragments, one fragment per frame, or (JPEG family) a new frame at each fragment that starts a codestream.
 */
export function encapsulatedFrames(ds: DataSet, px: Element, frames: number, name: string): Uint8Array[] {
  const frags = fragments(ds, px, name);
  if (frags.length === 0) fail('UNREADABLE_FILE', `${name}: not a readable DICOM file: the encapsulated pixel data holds no fragments`);
  const bot = px.basicOffsetTable ?? [];
  const wrong = (what: string): never => fail('UNREADABLE_FILE', `${name}: not a readable DICOM file: NumberOfFrames is ${frames} but ${what}`);
  if (bot.length > 0) {
    if (bot.length !== frames) wrong(`the Basic Offset Table lists ${bot.length} frame(s)`);
    const offsets = (px.fragments ?? []).map((f) => f.offset);
    return bot.map((start, k) => {
      const end = k + 1 < bot.length ? bot[k + 1]! : Infinity;
      const parts = frags.filter((_, i) => offsets[i]! >= start && offsets[i]! < end);
      if (parts.length === 0) wrong(`frame ${k + 1}'s offset ${start} starts no fragment`);
      return concatBytes(parts);
    });
  }
  if (frames === 1) return [concatBytes(frags)];
  if (frags.length === frames) return frags;
  const groups: Uint8Array[][] = [];
  for (const f of frags) {
    if (startsFrame(f) || groups.length === 0) groups.push([f]);
    else groups[groups.length - 1]!.push(f);
  }
  if (groups.length !== frames) wrong(`the pixel data holds ${frags.length} fragment(s) that cannot be split into ${frames} frames`);
  return groups.map((g) => concatBytes(g));
}

/**
 * A copy of a JPEG Lossless frame with one byte of 1-bits (0xFF 0x00, a stuffed byte) before its EOI marker.
 * jpeg-lossless-decoder-js 2.1 drops the last pixel when the entropy-coded data end right before the marker
 * (seen with dcmtk's SV1 output, which ends "... FF FF D9"); padding 1-bits after the last code change nothing
 * for a conforming decoder (ITU T.81 F.1.2.3).
 */
function padBeforeEnd(frame: Uint8Array): Uint8Array<ArrayBuffer> {
  let e = frame.length - 2;
  while (e > 2 && !(frame[e] === 0xff && frame[e + 1] === 0xd9)) e--;
  if (e <= 2) return new Uint8Array(frame);
  let f = e;
  while (f > 2 && frame[f - 1] === 0xff) f--; // fill bytes before the marker
  const out = new Uint8Array(f + 4);
  out.set(frame.subarray(0, f));
  out.set([0xff, 0x00, 0xff, 0xd9], f);
  return out;
}

/** Decode with an Emscripten codec class, copying the result out of the WebAssembly heap. */
function runWasm(Decoder: new () => WasmDecoder, frame: Uint8Array): { bytes: Uint8Array; bitsPerSample: number; components: number; width: number; height: number } {
  const d = new Decoder();
  try {
    d.getEncodedBuffer(frame.length).set(frame);
    d.decode();
    const info = d.getFrameInfo();
    return { bytes: d.getDecodedBuffer().slice(), bitsPerSample: info.bitsPerSample, components: info.componentCount, width: info.width, height: info.height };
  } finally {
    d.delete();
  }
}

/**
 * Decode frame `index` (encoded bytes `frame`) to little-endian samples of `bytes` bytes each (1, 2 or 4),
 * with `rows * columns` samples.
 */
async function decodeCodestream(frame: Uint8Array, syntax: TransferSyntax, fmt: PixelFormat, codecs: DicomCodecs, name: string, index: number): Promise<{ samples: Uint8Array; bytes: number }> {
  const where = `${name}: ${syntax.name} frame ${index + 1}`;
  if (syntax.encoding === 'rle') {
    const bytes = fmt.bitsAllocated / 8;
    return { samples: decodeRle(frame, fmt.rows * fmt.columns, bytes, where), bytes };
  }
  const h = codestreamHeader(frame);
  if (!h) fail('UNREADABLE_FILE', `${where}: no ${syntax.encoding === 'jpeg-2000' ? 'JPEG 2000 SIZ' : 'JPEG frame (SOF)'} header in the encoded frame; the file is corrupt`);
  if (h!.width !== fmt.columns || h!.height !== fmt.rows || h!.components !== 1) {
    fail('UNREADABLE_FILE', `${where}: the codestream is ${h!.width}x${h!.height} with ${h!.components} component(s) but the dataset says ${fmt.columns}x${fmt.rows} grayscale`);
  }
  if (syntax.encoding === 'jpeg-baseline' && h!.precision > 8) {
    fail('UNSUPPORTED', `${where}: ${h!.precision}-bit lossy JPEG is not supported (libjpeg-turbo-8bit decodes 8-bit JPEG only); convert first, e.g. "dcmdjpeg in.dcm out.dcm"`);
  }
  const need = (load: (() => Promise<unknown>) | undefined, pkg: string): Promise<unknown> =>
    load ? load() : fail('UNSUPPORTED', `${where}: no ${syntax.encoding} decoder was given (${pkg}); read DICOM with readDicom in Node or pass browserDicomCodecs(...) in a page`);
  let out: { bytes: Uint8Array; bitsPerSample: number; components: number; width: number; height: number };
  try {
    if (syntax.encoding === 'jpeg-lossless') {
      const { Decoder } = (await need(codecs.jpegLossless, 'jpeg-lossless-decoder-js')) as Awaited<ReturnType<NonNullable<DicomCodecs['jpegLossless']>>>;
      const bytesPer = h!.precision > 8 ? 2 : 1;
      const copy = padBeforeEnd(frame);
      const v = losslessDecoder(Decoder).decode(copy.buffer, 0, copy.length, bytesPer);
      out = { bytes: new Uint8Array(v.buffer, v.byteOffset, v.byteLength), bitsPerSample: h!.precision, components: 1, width: h!.width, height: h!.height };
    } else {
      const Cls =
        syntax.encoding === 'jpeg-ls' ? ((await need(codecs.jpegLS, '@cornerstonejs/codec-charls')) as { JpegLSDecoder: new () => WasmDecoder }).JpegLSDecoder
        : syntax.encoding === 'jpeg-2000' ? ((await need(codecs.jpeg2000, '@cornerstonejs/codec-openjpeg')) as { J2KDecoder: new () => WasmDecoder }).J2KDecoder
        : ((await need(codecs.jpegBaseline, '@cornerstonejs/codec-libjpeg-turbo-8bit')) as { JPEGDecoder: new () => WasmDecoder }).JPEGDecoder;
      out = runWasm(Cls, frame);
    }
  } catch (e) {
    if (e instanceof TweedieError) throw e;
    return fail('UNREADABLE_FILE', `${where} could not be decoded: ${message(e)}`);
  }
  const bytes = out.bitsPerSample > 8 ? 2 : 1;
  if (out.width !== fmt.columns || out.height !== fmt.rows || out.components !== 1 || out.bytes.length !== fmt.rows * fmt.columns * bytes) {
    fail('UNREADABLE_FILE', `${where}: the decoder returned ${out.width}x${out.height}x${out.components} (${out.bytes.length} bytes) for a ${fmt.columns}x${fmt.rows} grayscale frame`);
  }
  return { samples: out.bytes, bytes };
}

/**
 * Frame `index` of the object as rescaled intensities (raw * slope + intercept), row-major [rows, columns].
 * Native data keeps bits HighBit-BitsStored+1 .. HighBit of each BitsAllocated-bit word; codecs return the
 * BitsStored bits right-aligned. Signed values (PixelRepresentation 1) are two's complement in BitsStored bits.
 */
export async function decodeFrame(
  ds: DataSet, px: Element, syntax: TransferSyntax, fmt: PixelFormat, k: number, rescale: { slope: number; intercept: number },
  codecs: DicomCodecs, name: string, encoded?: Uint8Array[],
): Promise<Float32Array> {
  const n = fmt.rows * fmt.columns;
  let samples: Uint8Array, bytes: number, littleEndian = true, shift = 0;
  if (syntax.encoding === 'native') {
    bytes = fmt.bitsAllocated / 8;
    const start = px.dataOffset + k * n * bytes;
    samples = ds.byteArray.subarray(start, start + n * bytes);
    littleEndian = !syntax.bigEndian;
    shift = fmt.highBit + 1 - fmt.bitsStored;
  } else {
    ({ samples, bytes } = await decodeCodestream(encoded![k]!, syntax, fmt, codecs, name, k));
  }
  const view = new DataView(samples.buffer, samples.byteOffset, samples.byteLength);
  const bs = Math.min(fmt.bitsStored, 8 * bytes);
  const full = shift === 0 && bs === 8 * bytes;
  const span = 2 ** bs, half = 2 ** (bs - 1);
  const out = new Float32Array(n);
  const { slope, intercept } = rescale;
  const signed = fmt.pixelRepresentation === 1;
  if (full && (bytes === 1 || (bytes === 2 && littleEndian))) {
    // Fast path: whole little-endian words read through a typed array (copied when not 2-byte aligned).
    const src = bytes === 2 && samples.byteOffset % 2 ? samples.slice() : samples;
    const ints = bytes === 1 ? (signed ? new Int8Array(src.buffer, src.byteOffset, n) : src)
      : signed ? new Int16Array(src.buffer, src.byteOffset, n) : new Uint16Array(src.buffer, src.byteOffset, n);
    for (let i = 0; i < n; i++) out[i] = ints[i]! * slope + intercept;
  } else for (let i = 0; i < n; i++) {
    let raw = bytes === 1 ? samples[i]! : bytes === 2 ? view.getUint16(2 * i, littleEndian) : view.getUint32(4 * i, littleEndian);
    if (!full) raw = Math.floor(raw / 2 ** shift) % span; // keep bits [hb-bs+1 .. hb]
    if (signed && raw >= half) raw -= span; // two's complement in bs bits
    out[i] = raw * slope + intercept;
  }
  requireFinite(out, { name: fmt.frames > 1 ? `${name} frame ${k + 1}` : name, dims: [fmt.rows, fmt.columns], order: 'C' }, `check RescaleSlope (0028,1053) ${slope} and RescaleIntercept (0028,1052) ${intercept}`);
  return out;
}
