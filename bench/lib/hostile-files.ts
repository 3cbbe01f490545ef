import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDeflate, createDeflateRaw, createGzip, gzipSync, deflateSync } from 'node:zlib';
import type { ErrorCode } from '../../src/core/errors.js';
import { encodeNpy } from '../../src/io/npy.js';
import { encodeNifti } from '../../src/io/nifti.js';
import { pngChunk } from '../../src/io/png.js';
import { createVolume } from '../../src/io/volume.js';
import { Tensor } from '../../src/core/tensor.js';

/**
 * A corpus of hostile input files, written into a (temporary) folder: decompression bombs,
 * absurd header sizes, a deeply nested NPY header, NaN / infinite / inexact 64-bit values,
 * truncated files. The bombs are made by streaming zeros through zlib, so neither making them
 * nor storing them costs much (a 1 GiB bomb is about 4.6 MB); nothing large is committed.
 */

export type Reader = 'npy' | 'png' | 'nifti' | 'dicom' | 'model';

export interface HostileFile {
  /** Path of the file (for 'model', of the model folder). */
  path: string;
  /** The reader the file is aimed at; every other file reader must refuse it too. */
  reader: Reader;
  /** The error that reader must give and a pattern its message must match; null: an honest file at the limits, which must read. */
  code: ErrorCode | null;
  pattern: RegExp;
  /** A decompression bomb or an absurd size: the probe's peak memory is what the test is about. */
  bomb: boolean;
}

const FIX = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));
const MiB = 1 << 20;

/** zlib output (gzip, zlib or raw deflate) of `head` followed by `zeros` zero bytes, streamed 1 MiB at a time. */
async function compressWithZeros(format: 'gzip' | 'zlib' | 'raw', head: Uint8Array, zeros: number): Promise<Buffer> {
  const z = format === 'gzip' ? createGzip({ level: 1 }) : format === 'raw' ? createDeflateRaw({ level: 1 }) : createDeflate({ level: 1 });
  const parts: Buffer[] = [];
  z.on('data', (b: Buffer) => parts.push(b));
  const done = new Promise<void>((resolve, reject) => {
    z.on('end', resolve);
    z.on('error', reject);
  });
  const chunk = Buffer.alloc(MiB);
  const write = (b: Uint8Array): Promise<void> => new Promise((resolve) => (z.write(b) ? resolve() : z.once('drain', resolve)));
  await write(head);
  for (let left = zeros; left > 0; left -= MiB) await write(left >= MiB ? chunk : chunk.subarray(0, left));
  z.end();
  await done;
  return Buffer.concat(parts);
}

/** A .npy file with a hand-written header (format 1.0, or 2.0 when `v2`) and raw data bytes. */
export function npyBytes(header: string, data: Uint8Array = new Uint8Array(0), v2 = false): Uint8Array {
  const pre = v2 ? 12 : 10;
  const out = new Uint8Array(pre + header.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, v2 ? 2 : 1, 0]);
  const view = new DataView(out.buffer);
  if (v2) view.setUint32(8, header.length, true);
  else view.setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[pre + i] = header.charCodeAt(i);
  out.set(data, pre + header.length);
  return out;
}

/** Little-endian 64-bit integers (int64 when `signed`, else uint64). */
export const int64Bytes = (values: bigint[], signed: boolean): Uint8Array => {
  const b = new Uint8Array(8 * values.length);
  const v = new DataView(b.buffer);
  values.forEach((x, i) => (signed ? v.setBigInt64(8 * i, x, true) : v.setBigUint64(8 * i, x, true)));
  return b;
};

/** A PNG of the given IHDR (`depth`-bit, `colorType`) whose single IDAT chunk holds `idat`. */
function png(width: number, height: number, colorType: number, idat: Uint8Array, depth = 8): Uint8Array {
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, width);
  v.setUint32(4, height);
  ihdr[8] = depth;
  ihdr[9] = colorType;
  const sig = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([sig, pngChunk('IHDR', ihdr), pngChunk('IDAT', idat), pngChunk('IEND', new Uint8Array(0))]);
}

/** An uncompressed NIfTI-1 file of `dims` float64 voxels (all 0) whose voxel `at` is rewritten by `patch`. */
function nifti64(dims: number[], at: number, patch: (v: DataView, offset: number) => void, datatype?: number): Uint8Array {
  const n = dims.reduce((p, d) => p * d, 1);
  const b = encodeNifti(createVolume(new Float32Array(n), dims), { datatype: 'float64' });
  const v = new DataView(b.buffer);
  if (datatype !== undefined) v.setInt16(70, datatype, true);
  patch(v, v.getFloat32(108, true) + 8 * at);
  return b;
}

/** Write the corpus into `dir` (which must exist) and list what each file must give. */
export async function writeHostileCorpus(dir: string): Promise<HostileFile[]> {
  const out: HostileFile[] = [];
  const put = (name: string, bytes: Uint8Array, reader: Reader, code: ErrorCode | null, pattern: RegExp, bomb = false): void => {
    const path = join(dir, name);
    writeFileSync(path, bytes);
    out.push({ path, reader, code, pattern, bomb });
  };

  // ---- NPY
  const f4 = "'descr': '<f4', 'fortran_order': False";
  put('nested-60000.npy', npyBytes(`{${f4}, 'shape': ${'('.repeat(60000)}${')'.repeat(60000)}}\n`, undefined, true), 'npy', 'UNREADABLE_FILE', /more than the 10000/, true);
  put('nested-4000.npy', npyBytes(`{${f4}, 'shape': ${'('.repeat(4000)}${')'.repeat(4000)}}\n`), 'npy', 'UNREADABLE_FILE', /bad shape/);
  put('header-4gib.npy', npyBytes('{', undefined, true).map((x, i) => (i >= 8 && i < 12 ? 0xff : x)), 'npy', 'UNREADABLE_FILE', /4294967295 bytes/);
  put('shape-1e10.npy', npyBytes(`{${f4}, 'shape': (1, 100000, 100000), }\n`), 'npy', 'UNSUPPORTED', /10000000000 values.*2\^27/, true);
  put('shape-400-digits.npy', npyBytes(`{${f4}, 'shape': (${'9'.repeat(400)},), }\n`), 'npy', 'UNREADABLE_FILE', /bad shape/, true);
  const nan = Tensor.zeros([2, 3, 4]);
  nan.data[1 * 12 + 2 * 4 + 3] = NaN;
  put('nan.npy', encodeNpy(nan), 'npy', 'BAD_INPUT', /value NaN at flat index 23, index \(1, 2, 3\)/);
  const inf = Tensor.zeros([5], 'float64');
  inf.data[4] = -Infinity;
  put('inf.npy', encodeNpy(inf), 'npy', 'BAD_INPUT', /value -Infinity at flat index 4/);
  put('u8-2pow63.npy', npyBytes(`{'descr': '<u8', 'fortran_order': False, 'shape': (2,), }\n`, int64Bytes([1n, 2n ** 63n], false)), 'npy', 'BAD_INPUT', /integer 9223372036854775808 at flat index 1.*2\^53/);
  put('i8-min.npy', npyBytes(`{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }\n`, int64Bytes([-(2n ** 63n)], true)), 'npy', 'BAD_INPUT', /integer -9223372036854775808/);
  const good = encodeNpy(Tensor.zeros([4, 4]));
  put('truncated.npy', good.subarray(0, good.length - 5), 'npy', 'UNREADABLE_FILE', /truncated data/);

  // ---- PNG: a 20000x20000 image (400 MB of pixels, 1.7 MB of file), an IDAT that inflates to
  // 1 GiB behind a 64x64 IHDR, a width of 2^31 - 1, a zlib stream cut short.
  const rows = (w: number, h: number, c: number): number => h * (1 + w * c);
  put('ihdr-20000x20000.png', png(20000, 20000, 0, await compressWithZeros('zlib', new Uint8Array(0), rows(20000, 20000, 1))), 'png', 'UNSUPPORTED', /20000x20000.*2\^27/, true);
  put('idat-1gib.png', png(64, 64, 2, await compressWithZeros('zlib', new Uint8Array(0), 1024 * MiB)), 'png', 'UNREADABLE_FILE', /inflates to more than the 12352 bytes/, true);
  put('width-2pow31.png', png(2 ** 31 - 1, 1, 6, deflateSync(new Uint8Array(16))), 'png', 'UNSUPPORTED', /2147483647x1.*2\^27/, true);
  const cut = deflateSync(new Uint8Array(rows(16, 16, 3)).map((_, i) => i % 7));
  // The largest 16-bit gray image a PNG may hold (128 MiB of pixels), and one row more.
  put('limit-8192x8192x16bit.png', png(8192, 8192, 0, await compressWithZeros('zlib', new Uint8Array(0), rows(8192, 8192, 2)), 16), 'png', null, /./, true);
  put('over-8192x8193x16bit.png', png(8192, 8193, 0, deflateSync(new Uint8Array(64)), 16), 'png', 'UNSUPPORTED', /8192x8193 of 16-bit pixels is 134234112 bytes.*128 MiB/, true);
  put('idat-cut.png', png(16, 16, 2, cut.subarray(0, cut.length >> 1)), 'png', 'UNREADABLE_FILE', /corrupt image data|image data holds/);

  // ---- NIfTI
  const head = encodeNifti(createVolume(new Float32Array(64 ** 3), [64, 64, 64]), { datatype: 'uint8' });
  put('gunzip-1gib.nii.gz', await compressWithZeros('gzip', head, 1024 * MiB), 'nifti', 'UNREADABLE_FILE', new RegExp(`decompresses to more than the ${352 + 64 ** 3} bytes its header declares`), true);
  // The largest uint8 volume a .nii.gz may hold (2^27 voxels, 128 MiB), and an int16 one of
  // fewer voxels but more than 128 MiB.
  const header = (z: number, datatype: number, bitpix: number): Uint8Array => {
    const h = head.slice(0, 352);
    for (const [o, d] of [[42, 512], [44, 512], [46, z], [70, datatype], [72, bitpix]] as const) new DataView(h.buffer).setInt16(o, d, true);
    return h;
  };
  put('limit-512x512x512.nii.gz', await compressWithZeros('gzip', header(512, 2, 8), 512 ** 3), 'nifti', null, /./, true);
  put('over-512x512x257-int16.nii.gz', gzipSync(header(257, 4, 16)), 'nifti', 'UNSUPPORTED', /dims \[512, 512, 257\] of int16 is 134742016 bytes of data once decompressed.*gunzip -k over-512x512x257-int16\.nii\.gz/, true);
  const huge = head.slice(0, 352);
  new DataView(huge.buffer).setInt16(40, 4, true);
  for (const o of [42, 44, 46, 48]) new DataView(huge.buffer).setInt16(o, 32767, true);
  put('dims-32767x4.nii.gz', await compressWithZeros('gzip', huge, 64 * MiB), 'nifti', 'UNSUPPORTED', /dims \[32767, 32767, 32767, 32767\].*2\^27/, true);
  put('nan-voxel.nii', encodeNifti(createVolume(new Float32Array(512).map((_, i) => (i === 3 + 8 * (4 + 8 * 5) ? NaN : i)), [8, 8, 8])), 'nifti', 'BAD_INPUT', /value NaN at flat index 355, index \(3, 4, 5\)/);
  put('float64-1e300.nii', nifti64([4, 4, 4], 9, (v, o) => v.setFloat64(o, 1e300, true)), 'nifti', 'BAD_INPUT', /value Infinity at flat index 9, index \(1, 2, 0\)/);
  put('int64-2pow60.nii', nifti64([4, 4, 4], 63, (v, o) => v.setBigInt64(o, 2n ** 60n, true), 1024), 'nifti', 'BAD_INPUT', /integer 1152921504606846976 at flat index 63, index \(3, 3, 3\)/);
  const gz = gzipSync(head);
  put('truncated.nii.gz', gz.subarray(0, gz.length >> 1), 'nifti', 'UNREADABLE_FILE', /gzip stream is corrupt or truncated/);

  // ---- DICOM: a slice whose RescaleSlope "0.5 " becomes "1e38" (intensities overflow float32),
  // and one whose Rows and Columns become 65535.
  const series = join(FIX, 'dicom', 'series');
  const slice = readFileSync(join(series, readdirSync(series).sort()[0]!));
  const at = (tag: number[]): number => Buffer.from(slice).indexOf(Buffer.from(tag));
  const slope = at([0x28, 0x00, 0x53, 0x10, 0x44, 0x53, 0x04, 0x00]) + 8;
  const overflow = Uint8Array.from(slice);
  overflow.set([...'1e38'].map((c) => c.charCodeAt(0)), slope);
  put('rescale-1e38.dcm', overflow, 'dicom', 'BAD_INPUT', /value (-)?Infinity at flat index \d+, index \(\d+, \d+\).*RescaleSlope/);
  const big = Uint8Array.from(slice);
  for (const el of [0x10, 0x11]) new DataView(big.buffer).setUint16(at([0x28, 0x00, el, 0x00, 0x55, 0x53, 0x02, 0x00]) + 8, 65535, true);
  put('rows-65535.dcm', big, 'dicom', 'UNREADABLE_FILE', /PixelData holds \d+ bytes but NumberOfFrames x Rows x Columns/, true);
  put('truncated.dcm', slice.subarray(0, slice.length - 100), 'dicom', 'UNREADABLE_FILE', /truncated|PixelData holds/);
  // pydicom's test files (Debian python3-pydicom): NumberOfFrames "15" becomes "1000000000" in a native and an
  // RLE RT Dose (explicit VR: the element grows by 8 bytes), a JPEG-LS frame header declares 65535x65535, and a
  // deflated dataset inflates to 256 MiB.
  const pd = (f: string): Uint8Array => Uint8Array.from(readFileSync(join('/usr/lib/python3/dist-packages/pydicom/data/test_files', f)));
  const frames = (b: Uint8Array, explicit: boolean): Uint8Array => {
    const tag = explicit ? [0x28, 0x00, 0x08, 0x00, 0x49, 0x53, 0x02, 0x00] : [0x28, 0x00, 0x08, 0x00, 0x02, 0x00, 0x00, 0x00];
    const i = Buffer.from(b).indexOf(Buffer.from(tag));
    const head = Uint8Array.from(tag);
    if (explicit) head[6] = 10;
    else head[4] = 10;
    return Uint8Array.from([...b.subarray(0, i), ...head, ...[...'1000000000'].map((c) => c.charCodeAt(0)), ...b.subarray(i + tag.length + 2)]);
  };
  put('frames-1e9.dcm', frames(pd('rtdose.dcm'), false), 'dicom', 'UNSUPPORTED', /NumberOfFrames x Rows x Columns 1000000000 x 10 x 10 holds \d+ values, more than the \d+ \(2\^27\)/, true);
  put('frames-1e9-rle.dcm', frames(pd('rtdose_rle.dcm'), true), 'dicom', 'UNSUPPORTED', /NumberOfFrames x Rows x Columns 1000000000 x 10 x 10 holds \d+ values, more than the \d+ \(2\^27\)/, true);
  const jls = pd('MR_small_jpeg_ls_lossless.dcm');
  const sof = Buffer.from(jls).indexOf(Buffer.from([0xff, 0xf7]));
  jls.set([0xff, 0xff, 0xff, 0xff], sof + 5);
  put('jpegls-65535.dcm', jls, 'dicom', 'UNREADABLE_FILE', /JPEG-LS Lossless frame 1: the codestream is 65535x65535 .* but the dataset says 64x64/, true);
  const meta = [0x02, 0x00, 0x10, 0x00, 0x55, 0x49, 22, 0x00, ...[...'1.2.840.10008.1.2.1.99'].map((c) => c.charCodeAt(0))];
  const pixelHead = [0xe0, 0x7f, 0x10, 0x00, 0x4f, 0x42, 0, 0, 0, 0, 0, 0x10]; // (7FE0,0010) OB, 256 MiB
  const deflated = await compressWithZeros('raw', Uint8Array.from(pixelHead), 256 * MiB);
  put('deflate-bomb.dcm', Uint8Array.from([...new Uint8Array(128), ...[...'DICM'].map((c) => c.charCodeAt(0)), ...meta, ...deflated]), 'dicom', 'UNREADABLE_FILE', /does not inflate within 134217728 bytes/, true);

  // ---- A model folder whose tweedie.json declares one sample of 10^10 values.
  const model = join(dir, 'model-1e10');
  mkdirSync(model);
  writeFileSync(join(model, 'model.onnx'), '');
  writeFileSync(join(model, 'scheduler_config.json'), readFileSync(join(FIX, '../../weights/fmnist-32/scheduler_config.json')));
  writeFileSync(join(model, 'tweedie.json'), JSON.stringify({ prediction: 'epsilon', shape: [1, 100000, 100000] }));
  out.push({ path: model, reader: 'model', code: 'BAD_CONFIG', pattern: /tweedie\.json: "shape" \[1, 100000, 100000\].*2\^27/, bomb: true });

  put('empty', new Uint8Array(0), 'npy', 'UNREADABLE_FILE', /only 0 bytes/);
  return out;
}
