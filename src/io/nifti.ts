import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { constants as zlibConstants, gunzipSync, gzipSync } from 'node:zlib';
import { fail, fileError } from '../core/errors.js';
import { INFLATE_SLACK_BYTES } from './validate.js';
import { encodeNifti, niftiDeclaredBytes, parseNiftiBytes, type NiftiWriteOptions } from './nifti-codec.js';
import type { Volume } from './volume.js';

export * from './nifti-codec.js';

/** NIfTI files in Node: src/io/nifti-codec.ts with zlib for .nii.gz and the file system. */

/** Compressed bytes within which a .nii.gz must hold its NIfTI header (the gzip header with a file name, then 540 bytes or fewer). */
const GZIP_HEADER_WINDOW = 1 << 14;

/**
 * gunzip with the output capped at `declared` + INFLATE_SLACK_BYTES, every zlib failure turned
 * into a TweedieError naming the file. With `partial`, a stream cut short gives what precedes the cut.
 */
function gunzip(bytes: Uint8Array, name: string, declared: number, partial = false): Uint8Array {
  try {
    return gunzipSync(bytes, { maxOutputLength: declared + INFLATE_SLACK_BYTES, ...(partial ? { finishFlush: zlibConstants.Z_SYNC_FLUSH } : {}) });
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      return fail('UNREADABLE_FILE', `${name}: decompresses to more than the ${declared} bytes its header declares (vox_offset + voxels x bitpix/8); the file is corrupt or a decompression bomb — re-export it`);
    }
    return fail('UNREADABLE_FILE', `${name}: the gzip stream is corrupt or truncated (${msg}); re-export or re-download the .nii.gz file`);
  }
}

/**
 * Inflate a .nii.gz without trusting it: first the header, from the first GZIP_HEADER_WINDOW
 * compressed bytes (which inflate to at most about 1032 times as many, deflate's limit), then
 * the whole stream capped at vox_offset + voxels x bytes per voxel.
 */
function gunzipNifti(input: Uint8Array, name: string): Uint8Array {
  const head = gunzip(input.subarray(0, GZIP_HEADER_WINDOW), name, 1032 * GZIP_HEADER_WINDOW, true);
  if (input.length > GZIP_HEADER_WINDOW && head.length < 540) {
    fail('UNREADABLE_FILE', `${name}: not a readable NIfTI file: its first ${GZIP_HEADER_WINDOW} compressed bytes hold no complete NIfTI header (${head.length} bytes); re-compress it with gzip`);
  }
  return gunzip(input, name, niftiDeclaredBytes(head, name, `decompress it first (gunzip -k ${basename(name)}) and read the .nii`));
}

/** Parse a .nii or .nii.gz file held in memory; `name` (a path) appears in every error message. */
export function parseNifti(input: Uint8Array, name = '<buffer>'): Volume {
  return parseNiftiBytes(input, name, gunzipNifti);
}

/** Read a .nii or .nii.gz file. */
export function readNifti(path: string): Volume {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    return fileError('read', path, e);
  }
  return parseNifti(bytes, path);
}

/** The bytes of a NIfTI file named `path`: gzip-compressed for a .gz name (or options.gzip). */
export function niftiFileBytes(path: string, vol: Volume, options: NiftiWriteOptions = {}): Uint8Array {
  const bytes = encodeNifti(vol, options);
  return options.gzip ?? /\.gz$/i.test(path) ? gzipSync(bytes, { level: 6 }) : bytes;
}

/**
 * Write `vol` to a .nii or .nii.gz file. With `like`, the header (geometry included) is the
 * one of `like`, so a result computed from an input lands on the input's grid.
 */
export function writeNifti(path: string, vol: Volume, options: NiftiWriteOptions = {}): void {
  const bytes = niftiFileBytes(path, vol, options);
  try {
    writeFileSync(path, bytes);
  } catch (e) {
    fileError('write', path, e);
  }
}
