import { closeSync, openSync, readFileSync, readSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { fail, fileError } from '../core/errors.js';
import { decodeDicom, decodeDicomObject, describeDicom, isDicomBytes, parseDicomDataset, type DicomImage, type DicomLibraries, type DicomObject } from './dicom.js';
import type { DicomCodecs } from './dicom-pixels.js';
import { TRANSFER_SYNTAXES } from './dicom-syntax.js';
import { selectSeries, volumeFromDicom, type DicomVolume } from './dicom-volume.js';
import { checkedSize } from './validate.js';

/**
 * The Node edge of the DICOM reader: files and folders from disk, dicom-parser and the codecs from
 * node_modules, node:zlib as the inflater. The decoding itself (dicom.ts, dicom-pixels.ts) is shared
 * with the browser.
 */

const require = createRequire(import.meta.url);

/** Load an Emscripten codec factory once, with its console output (OpenJPEG logs every header) silenced. */
function wasmCodec<T>(specifier: string): () => Promise<T> {
  let loaded: Promise<T> | undefined;
  return () => (loaded ??= (require(specifier) as (arg: object) => Promise<T>)({ print: () => {}, printErr: () => {} }));
}

let libraries: DicomLibraries | undefined;

/** dicom-parser, node:zlib and the codecs, loaded on first use. */
export function nodeDicomLibraries(): DicomLibraries {
  const codecs: DicomCodecs = {
    jpegLS: wasmCodec('@cornerstonejs/codec-charls/decodewasmjs'),
    jpeg2000: wasmCodec('@cornerstonejs/codec-openjpeg/decodewasmjs'),
    jpegBaseline: wasmCodec('@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs'),
    jpegLossless: async () => require('jpeg-lossless-decoder-js'),
  };
  return (libraries ??= {
    parser: require('dicom-parser'),
    inflate: (bytes, maxBytes) => new Uint8Array(inflateRawSync(bytes, { maxOutputLength: maxBytes })),
    codecs,
  });
}

/** Parse and decode one DICOM Part 10 file held in memory: one image per frame. */
export function parseDicom(bytes: Uint8Array, name = '<buffer>'): Promise<DicomImage[]> {
  return decodeDicom(bytes, name, nodeDicomLibraries());
}

function readBytes(path: string): Uint8Array {
  try {
    const b = readFileSync(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength); // a plain Uint8Array: slice() copies
  } catch (e) {
    return fileError('read', path, e);
  }
}

/** True for a folder, a .dcm file, or a file with the DICOM preamble (whatever its name). */
export function isDicomPath(path: string): boolean {
  let st;
  try {
    st = statSync(path);
  } catch {
    return /\.dcm$/i.test(path);
  }
  if (st.isDirectory() || /\.dcm$/i.test(path)) return true;
  if (!st.isFile() || st.size < 132) return false;
  const head = new Uint8Array(132);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, head, 0, 132, 0);
  } finally {
    closeSync(fd);
  }
  return isDicomBytes(head);
}

/** Bytes of parsed files a folder read keeps between its passes (beyond this, files are read twice). */
const KEEP_BYTES = 2 ** 28;

export interface ReadDicomOptions {
  /** The series to read from a folder of several: its SeriesInstanceUID or SeriesNumber. */
  series?: string;
  /** Where the one-line lossy-compression warning goes (default: stderr). */
  onWarning?: (line: string) => void;
}

function warnLossy(vol: DicomVolume, where: string, options: ReadDicomOptions): void {
  if (!vol.dicom.lossy) return;
  const name = TRANSFER_SYNTAXES.find((s) => s.uid === vol.dicom.lossy)?.name ?? vol.dicom.lossy;
  const line = `warning: ${where}: the pixel data were lossy-compressed (${name}, ${vol.dicom.lossy}); the values are not the acquired ones`;
  (options.onWarning ?? ((l: string) => process.stderr.write(`${l}\n`)))(line);
}

/**
 * Read one DICOM file, or a folder holding one series (or several, with `series` naming one): files without
 * the "DICM" marker and DICOMDIR index files are skipped; subfolders are not searched. Folders are read in
 * two passes (describe every file, then decode the chosen series), so that only the chosen series is decoded.
 */
export async function readDicom(pathOrFolder: string, options: ReadDicomOptions = {}): Promise<DicomVolume> {
  const libs = nodeDicomLibraries();
  let isDir: boolean;
  try {
    isDir = statSync(pathOrFolder).isDirectory();
  } catch (e) {
    return fileError('read', pathOrFolder, e);
  }
  if (!isDir) {
    const vol = volumeFromDicom(await decodeDicom(readBytes(pathOrFolder), pathOrFolder, libs), pathOrFolder, options.series);
    warnLossy(vol, pathOrFolder, options);
    return vol;
  }
  let entries: string[], subdirs: string[];
  try {
    const all = readdirSync(pathOrFolder, { withFileTypes: true });
    entries = all.filter((e) => e.isFile()).map((e) => e.name).sort();
    subdirs = all.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  } catch (e) {
    return fileError('list', pathOrFolder, e);
  }
  const described: { path: string; frames: DicomObject['frames']; object: DicomObject | undefined }[] = [];
  // The parsed objects are kept for the decoding pass while the files read stay under KEEP_BYTES; past that they
  // are dropped and read again, so that a large folder of other series does not hold memory.
  let kept = 0;
  const skipped: string[] = [];
  for (const entry of entries) {
    const path = join(pathOrFolder, entry);
    const bytes = readBytes(path);
    const src = isDicomBytes(bytes) ? parseDicomDataset(bytes, path, libs) : null;
    if (!src) {
      skipped.push(entry);
      continue;
    }
    const object = describeDicom(src);
    kept += bytes.length;
    described.push({ path, frames: object.frames, object });
    if (kept > KEEP_BYTES) for (const d of described) d.object = undefined;
  }
  const list = (names: string[]): string => `${names.slice(0, 5).join(', ')}${names.length > 5 ? ', ...' : ''}`;
  if (described.length === 0) {
    const why = [
      entries.length ? `${entries.length} file(s) without the DICOM "DICM" marker or DICOMDIR index files (${list(skipped)})` : 'no files',
      subdirs.length ? `subfolders ${list(subdirs)} (point at one of them)` : '',
    ].filter(Boolean);
    fail('UNREADABLE_FILE', `${pathOrFolder}: no DICOM image files in this folder: ${why.join('; ')}`);
  }
  // Choose the series before decoding, so a folder of mixed series is refused with the list of series.
  const frames = selectSeries(described.flatMap((d) => d.frames.map((f) => ({ ...f, path: d.path }))), pathOrFolder, options.series);
  const first = frames[0]!;
  checkedSize([frames.length, first.rows, first.columns], pathOrFolder, `${frames.length} images of ${first.columns}x${first.rows}`, 'read a smaller series (or fewer slices)');
  const images: DicomImage[] = [];
  const byPath = new Map(described.map((d) => [d.path, d.object]));
  for (const path of new Set(frames.map((f) => f.path))) {
    const object = byPath.get(path) ?? describeDicom(parseDicomDataset(readBytes(path), path, libs)!);
    images.push(...(await decodeDicomObject(object, libs.codecs)));
  }
  const vol = volumeFromDicom(images, pathOrFolder);
  if (skipped.length) vol.notes = [...(vol.notes ?? []), `skipped ${skipped.length} non-image file(s): ${list(skipped)}`];
  warnLossy(vol, pathOrFolder, options);
  return vol;
}
