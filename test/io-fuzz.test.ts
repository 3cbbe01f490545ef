import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync, gzipSync } from 'node:zlib';
import { TweedieError } from '../src/core/errors.js';
import { NoiseSource } from '../src/core/rng.js';
import { Tensor } from '../src/core/tensor.js';
import { encodeNpy, parseNpy } from '../src/io/npy.js';
import { crc32, decodePng, encodePng, type PngImage } from '../src/io/png.js';
import { encodeNifti, parseNifti } from '../src/io/nifti.js';
import type { DicomImage } from '../src/io/dicom.js';
import { parseDicom } from '../src/io/dicom-file.js';
import { volumeFromDicom } from '../src/io/dicom-volume.js';
import { createVolume } from '../src/io/volume.js';
import { openFastmri } from '../src/io/fastmri.js';

/**
 * Fuzzing the NIfTI, DICOM, NPY and PNG readers with a seeded generator: bit flips, truncations,
 * random header field values, random DICOM element lengths, VRs and tags, NPY header text and
 * data bytes, PNG IHDR fields and image data (with CRCs fixed so the decoder sees them). Every outcome
 * must be a successful parse or a TweedieError; anything else (RangeError, TypeError, an
 * allocation failure, a hang) fails the test with the case that caused it.
 */

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/', import.meta.url));
const FIX = join(FIXTURES, 'dicom');
// Longer or different runs: TWEEDIE_FUZZ_CASES=100000 TWEEDIE_FUZZ_SEED=7 node --test dist/test/io-fuzz.test.js
const CASES_PER_READER = Number(process.env.TWEEDIE_FUZZ_CASES ?? 3000);
const SEED = Number(process.env.TWEEDIE_FUZZ_SEED ?? 20240611);
const LONG_RUN = CASES_PER_READER > 3000;

/** Uniform draws in (0, 1] from the counter-based generator, a block at a time. */
class Draws {
  private buf: Float64Array = new Float64Array(0);
  private i = 0;
  private step = 0;
  constructor(private readonly ns: NoiseSource) {}
  next(): number {
    if (this.i >= this.buf.length) {
      this.buf = this.ns.uniform(4096, 0, this.step++);
      this.i = 0;
    }
    return this.buf[this.i++]!;
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.min(n - 1, Math.floor(this.next() * n));
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
}

function flipBits(d: Draws, b: Uint8Array, from: number, to: number): void {
  const count = 1 + d.int(4);
  for (let k = 0; k < count; k++) {
    const at = from + d.int(Math.max(1, to - from));
    if (at < b.length) b[at]! ^= 1 << d.int(8);
  }
}

const INTERESTING = [0, 1, -1, 2, 3, 7, 8, 16, 255, 256, 348, 352, 540, 544, 32767, -32768, 65535, 2 ** 31 - 1, -(2 ** 31), 2 ** 32, 2 ** 53, 1e38, -1e-38, NaN, Infinity, -Infinity, 0.5];
const randomValue = (d: Draws): number => {
  const r = d.next();
  if (r < 0.6) return d.pick(INTERESTING);
  if (r < 0.8) return d.int(2000001) - 1000000;
  return (d.next() - 0.5) * 10 ** d.int(40);
};

/** One mutated file: its bytes, the file it came from and how it was changed. */
interface Mutant {
  bytes: Uint8Array;
  src: string;
  how: string;
}

/**
 * Run CASES_PER_READER mutants of the corpus files (in turn) through `parse`, which returns the
 * outcome's name or throws. Anything but a TweedieError fails the test with the case;
 * TweedieErrors are counted by code and message (digits as N, the first `keyWidth` characters).
 * Reports the counts as diagnostics and checks the time taken, that over 100 mutants gave
 * `success` and that the errors are varied.
 */
async function fuzz<S extends { name: string }>(
  t: { diagnostic: (msg: string) => void },
  corpus: readonly S[],
  mutate: (src: S) => { bytes: Uint8Array; how: string },
  parse: (m: Mutant, i: number) => string | Promise<string>,
  { keyWidth, success }: { keyWidth: number; success: string },
): Promise<void> {
  const outcomes = new Map<string, number>();
  const start = performance.now();
  let slowest = 0;
  for (let i = 0; i < CASES_PER_READER; i++) {
    const src = corpus[i % corpus.length]!;
    const m = { ...mutate(src), src: src.name };
    const t0 = performance.now();
    let key: string;
    try {
      key = await parse(m, i);
    } catch (e) {
      if (!(e instanceof TweedieError)) {
        assert.fail(`case ${i} (${m.src}: ${m.how}) threw ${e instanceof Error ? e.stack : String(e)}`);
      }
      key = `${e.code}: ${e.message.replace(/^case \d+( rewritten)?: /, '').replace(/\d+/g, 'N').slice(0, keyWidth)}`;
    }
    outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
    slowest = Math.max(slowest, performance.now() - t0);
  }
  const total = performance.now() - start;
  t.diagnostic(`${total.toFixed(0)} ms in all, slowest case ${slowest.toFixed(1)} ms`);
  for (const [k, n] of [...outcomes].sort((a, b) => b[1] - a[1]).slice(0, 40)) t.diagnostic(`${String(n).padStart(6)}  ${k}`);
  assert.ok(LONG_RUN || total < 20000, `took ${total.toFixed(0)} ms`);
  assert.ok(slowest < 2000, `slowest case ${slowest.toFixed(0)} ms`);
  assert.ok((outcomes.get(success) ?? 0) > 100, `some mutants still give '${success}'`);
  assert.ok(outcomes.size > 10, `varied errors: ${[...outcomes.keys()].join(' | ')}`);
}

// --------------------------------------------------------------------------------- NIfTI

type Kind = 'u8' | 'i16' | 'i32' | 'i64' | 'f32' | 'f64';
/** Numeric header fields (offset, type) of NIfTI-1 and NIfTI-2. */
const FIELDS1: [number, Kind][] = [
  [0, 'i32'], [39, 'u8'], ...[40, 42, 44, 46, 48, 50, 52, 54].map((o): [number, Kind] => [o, 'i16']), [56, 'f32'], [68, 'i16'], [70, 'i16'], [72, 'i16'],
  ...[76, 80, 84, 88, 92, 96, 100, 104].map((o): [number, Kind] => [o, 'f32']), [108, 'f32'], [112, 'f32'], [116, 'f32'], [123, 'u8'],
  [252, 'i16'], [254, 'i16'], ...[256, 260, 264, 268, 272, 276].map((o): [number, Kind] => [o, 'f32']),
  ...Array.from({ length: 12 }, (_, i): [number, Kind] => [280 + 4 * i, 'f32']), [348, 'u8'], [352, 'i32'], [356, 'i32'],
];
const FIELDS2: [number, Kind][] = [
  [0, 'i32'], [12, 'i16'], [14, 'i16'], ...Array.from({ length: 8 }, (_, i): [number, Kind] => [16 + 8 * i, 'i64']),
  ...Array.from({ length: 8 }, (_, i): [number, Kind] => [104 + 8 * i, 'f64']), [168, 'i64'], [176, 'f64'], [184, 'f64'],
  [344, 'i32'], [348, 'i32'], ...Array.from({ length: 6 }, (_, i): [number, Kind] => [352 + 8 * i, 'f64']),
  ...Array.from({ length: 12 }, (_, i): [number, Kind] => [400 + 8 * i, 'f64']), [500, 'i32'], [540, 'u8'], [544, 'i32'], [548, 'i32'],
];

function setField(v: DataView, off: number, kind: Kind, x: number, le: boolean): void {
  if (off + 8 > v.byteLength && kind !== 'u8') return;
  const int = Number.isFinite(x) ? Math.trunc(x) : 0;
  switch (kind) {
    case 'u8': if (off < v.byteLength) v.setUint8(off, int & 0xff); break;
    case 'i16': v.setInt16(off, int, le); break;
    case 'i32': v.setInt32(off, int, le); break;
    case 'i64': v.setBigInt64(off, BigInt.asIntN(64, BigInt(Math.abs(int) < 2 ** 63 ? int : 0)), le); break;
    case 'f32': v.setFloat32(off, x, le); break;
    case 'f64': v.setFloat64(off, x, le); break;
  }
}

/** Byte-swap the numeric fields of a little-endian NIfTI-1 header (and its data of `size`-byte voxels). */
function toBigEndian1(le: Uint8Array, voxelSize: number): Uint8Array {
  const b = le.slice();
  const swap = (o: number, n: number): void => {
    for (let i = 0; i < n / 2; i++) [b[o + i], b[o + n - 1 - i]] = [b[o + n - 1 - i]!, b[o + i]!];
  };
  for (const [o, k] of FIELDS1) if (o < 348 && k !== 'u8') swap(o, k === 'i16' ? 2 : 4);
  for (const o of [32, 60, 64, 74, 120, 124, 128, 132, 136, 140, 144]) swap(o, o === 74 || o === 120 ? 2 : 4);
  for (let o = 352; o + voxelSize <= b.length; o += voxelSize) swap(o, voxelSize);
  return b;
}

function niftiCorpus(): { name: string; bytes: Uint8Array; version: 1 | 2 }[] {
  const ramp = (n: number, f: (i: number) => number): Float32Array => Float32Array.from({ length: n }, (_, i) => f(i));
  const a = createVolume(ramp(60, (i) => i * 0.5 - 7), [4, 5, 3], { affine: [[0, -2, 0, 5], [1.5, 0, 0, -3], [0, 0, 3, 1], [0, 0, 0, 1]] });
  a.header.scl_slope = 0.5;
  a.header.scl_inter = -7;
  const int16 = encodeNifti(a, { datatype: 'int16' });
  const b = createVolume(ramp(36, (i) => Math.sin(i)), [3, 3, 2, 2]);
  b.header.extensions = [{ code: 6, data: new TextEncoder().encode('fuzz me') }];
  const v2 = encodeNifti(b, { version: 2 });
  const c = createVolume(ramp(12, (i) => i * 20), [4, 3]);
  const u8 = encodeNifti(c, { datatype: 'uint8' });
  const f64 = encodeNifti(createVolume(ramp(8, (i) => 1 / (i + 1)), [2, 2, 2]), { datatype: 'float64' });
  return [
    { name: 'int16-scaled', bytes: int16, version: 1 },
    { name: 'int16-big-endian', bytes: toBigEndian1(int16, 2), version: 1 },
    { name: 'nifti2-4d-ext', bytes: v2, version: 2 },
    { name: 'uint8-2d', bytes: u8, version: 1 },
    { name: 'float64', bytes: f64, version: 1 },
    { name: 'int16.gz', bytes: gzipSync(int16), version: 1 },
  ];
}

function mutateNifti(d: Draws, src: { bytes: Uint8Array; version: 1 | 2; name: string }): { bytes: Uint8Array; how: string } {
  const b = src.bytes.slice();
  const v = new DataView(b.buffer);
  const gz = src.name.endsWith('.gz');
  const hsize = src.version === 1 ? 348 : 540;
  const op = d.int(6);
  if (gz || op === 0) {
    if (d.next() < 0.5) {
      flipBits(d, b, 0, gz ? b.length : hsize + 4);
      return { bytes: b, how: 'header bit flips' };
    }
    const n = d.int(b.length);
    return { bytes: b.subarray(0, n), how: `truncated to ${n}` };
  }
  if (op === 1) {
    flipBits(d, b, 0, b.length);
    return { bytes: b, how: 'bit flips' };
  }
  if (op === 2) {
    const n = d.int(b.length);
    return { bytes: b.subarray(0, n), how: `truncated to ${n}` };
  }
  const le = src.name !== 'int16-big-endian';
  const fields = src.version === 1 ? FIELDS1 : FIELDS2;
  const count = op === 3 ? 1 : 2 + d.int(3);
  const hows: string[] = [];
  for (let k = 0; k < count; k++) {
    const [off, kind] = d.pick(fields);
    const x = randomValue(d);
    setField(v, off, kind, x, le);
    hows.push(`${kind}@${off}=${x}`);
  }
  if (op === 5) {
    const n = hsize + d.int(b.length - hsize);
    return { bytes: b.subarray(0, n), how: `${hows.join(', ')}, truncated to ${n}` };
  }
  return { bytes: b, how: hows.join(', ') };
}

const SIZES: Record<number, number> = { 2: 1, 256: 1, 4: 2, 512: 2, 8: 4, 768: 4, 1024: 8, 1280: 8, 16: 4, 64: 8 };

test(`NIfTI reader: ${CASES_PER_READER} mutated files give a volume or a TweedieError, quickly`, async (t) => {
  const d = new Draws(new NoiseSource(SEED));
  const corpus = niftiCorpus();
  for (const c of corpus) parseNifti(c.bytes, c.name); // the originals parse
  await fuzz(t, corpus, (src) => mutateNifti(d, src), ({ bytes, src, how }, i) => {
    const vol = parseNifti(bytes, `case ${i}`);
    const n = vol.dims.reduce((p, x) => p * x, 1);
    assert.equal(vol.data.length, n, `case ${i} (${src}: ${how})`);
    const size = SIZES[vol.header.datatype]!;
    assert.ok(n * size <= (src.endsWith('.gz') ? 1e6 : bytes.length), `case ${i}: ${n} voxels of ${size} bytes from ${bytes.length} bytes`);
    // What was read can be written and read back to the same values.
    try {
      const again = parseNifti(encodeNifti(vol), `case ${i} rewritten`);
      assert.deepEqual(again.dims, vol.dims);
      assert.ok(Buffer.from(again.data.buffer).equals(Buffer.from(vol.data.buffer)), `case ${i}: data changed in a round trip`);
      if (vol.affine.flat().every(Number.isFinite)) assert.deepEqual(again.affine, vol.affine, `case ${i} (${src}: ${how}): affine changed in a round trip`);
    } catch (e) {
      if (!(e instanceof TweedieError)) throw e;
    }
    return 'parsed';
  }, { keyWidth: 60, success: 'parsed' });
});

// --------------------------------------------------------------------------------- DICOM

interface ElementPos {
  at: number;
  explicit: boolean;
  /** Offset and size (2 or 4) of the length field. */
  lengthAt: number;
  lengthSize: number;
  /** The VR ('' for implicit elements and items) and where the value starts. */
  vr: string;
  valueAt: number;
}

/** Element headers of a fixture file (meta, dataset, and the items inside its sequence). */
function elementPositions(b: Uint8Array, explicitDataset: boolean): ElementPos[] {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out: ElementPos[] = [];
  const long = new Set(['OB', 'OW', 'SQ', 'UN', 'UT', 'UC', 'UR', 'OD', 'OF', 'OL', 'OV', 'SV', 'UV']);
  let p = 132;
  while (p + 8 <= b.length) {
    const group = v.getUint16(p, true);
    const explicit = group === 0x0002 || explicitDataset;
    if (group === 0xfffe || !explicit) {
      out.push({ at: p, explicit: false, lengthAt: p + 4, lengthSize: 4, vr: '', valueAt: p + 8 });
      const len = v.getUint32(p + 4, true);
      p += 8 + (len === 0xffffffff || group === 0xfffe ? 0 : len);
      continue;
    }
    const vr = String.fromCharCode(b[p + 4]!, b[p + 5]!);
    if (long.has(vr)) {
      out.push({ at: p, explicit, lengthAt: p + 8, lengthSize: 4, vr, valueAt: p + 12 });
      const len = v.getUint32(p + 8, true);
      p += 12 + (len === 0xffffffff ? 0 : len);
    } else {
      out.push({ at: p, explicit, lengthAt: p + 6, lengthSize: 2, vr, valueAt: p + 8 });
      p += 8 + v.getUint16(p + 6, true);
    }
  }
  return out;
}

function mutateDicom(d: Draws, src: { bytes: Uint8Array; elements: ElementPos[] }): { bytes: Uint8Array; how: string } {
  let b = src.bytes.slice();
  const v = new DataView(b.buffer);
  const op = d.int(9);
  if (op >= 7) {
    // Random element values: unsigned shorts (Rows, BitsAllocated, HighBit, ...), number
    // strings (positions, spacings, rescale), or random bytes, keeping the length.
    const hows: string[] = [];
    for (let k = 0, count = 1 + d.int(3); k < count; k++) {
      const e = d.pick(src.elements);
      const len = e.lengthSize === 2 ? v.getUint16(e.lengthAt, true) : v.getUint32(e.lengthAt, true);
      if (len === 0xffffffff || e.valueAt + len > b.length || len > 4096) continue;
      if (e.vr === 'US' || (e.vr === '' && len === 2)) {
        const x = d.next() < 0.7 ? d.pick([0, 1, 2, 7, 8, 11, 12, 15, 16, 17, 31, 32, 33, 64, 0x7fff, 0xffff]) : d.int(0x10000);
        v.setUint16(e.valueAt, x, true);
        hows.push(`US@${e.valueAt}=${x}`);
      } else if (e.vr === 'DS' || e.vr === 'IS' || (e.vr === '' && d.next() < 0.5)) {
        const chars = '0123456789.-+eE\\ ';
        let t = '';
        for (let i = 0; i < len; i++) b[e.valueAt + i] = (t += chars[d.int(chars.length)]!).charCodeAt(i);
        hows.push(`text@${e.valueAt}=${JSON.stringify(t)}`);
      } else {
        for (let i = 0; i < len; i++) if (d.next() < 0.3) b[e.valueAt + i] = d.int(256);
        hows.push(`bytes@${e.valueAt}`);
      }
    }
    return { bytes: b, how: hows.join(', ') };
  }
  if (op === 0) {
    flipBits(d, b, 128, b.length);
    return { bytes: b, how: 'bit flips' };
  }
  if (op === 1) {
    const n = d.int(b.length);
    return { bytes: b.subarray(0, n), how: `truncated to ${n}` };
  }
  if (op <= 3) {
    // Random element lengths (one or several).
    const hows: string[] = [];
    for (let k = 0, count = op === 2 ? 1 : 2 + d.int(3); k < count; k++) {
      const e = d.pick(src.elements);
      const r = d.next();
      const max = e.lengthSize === 2 ? 0xffff : 0xffffffff;
      const old = e.lengthSize === 2 ? v.getUint16(e.lengthAt, true) : v.getUint32(e.lengthAt, true);
      const x =
        r < 0.2 ? d.pick([0, 1, 2, 3, 4, 5, 7, 8])
        : r < 0.4 ? Math.max(0, Math.min(max, old + d.int(9) - 4))
        : r < 0.55 ? max
        : r < 0.65 ? (e.lengthSize === 4 ? 0xfffffffe : 0xfffe)
        : r < 0.85 ? d.int(Math.min(max, 2 * b.length))
        : d.int(max + 1);
      if (e.lengthSize === 2) v.setUint16(e.lengthAt, x, true);
      else v.setUint32(e.lengthAt, x, true);
      hows.push(`length@${e.lengthAt}=${x}`);
    }
    return { bytes: b, how: hows.join(', ') };
  }
  if (op === 4) {
    // A random VR, or a VR from the long/short sets, on an explicit element.
    const e = d.pick(src.elements.filter((x) => x.explicit));
    if (!e) return { bytes: b, how: 'no explicit element' };
    const vr = d.next() < 0.5 ? d.pick(['SQ', 'UN', 'OB', 'OW', 'US', 'DS', 'UI', 'UT', 'AT', 'FD']) : String.fromCharCode(65 + d.int(26), 65 + d.int(26));
    b[e.at + 4] = vr.charCodeAt(0);
    b[e.at + 5] = vr.charCodeAt(1);
    return { bytes: b, how: `VR@${e.at}=${vr}` };
  }
  if (op === 5) {
    // Random tags: item and delimiter tags where elements belong, or wanted tags duplicated.
    const e = d.pick(src.elements);
    const tag = d.pick([[0xfffe, 0xe000], [0xfffe, 0xe00d], [0xfffe, 0xe0dd], [0x7fe0, 0x0010], [0x0028, 0x0010], [0x0002, 0x0010], [0x0020, 0x0032], [d.int(0x10000), d.int(0x10000)]]);
    v.setUint16(e.at, tag[0]!, true);
    v.setUint16(e.at + 2, tag[1]!, true);
    return { bytes: b, how: `tag@${e.at}=(${tag[0]!.toString(16)},${tag[1]!.toString(16)})` };
  }
  // Delete or insert a few bytes in the middle.
  const at = 132 + d.int(b.length - 132);
  const n = 1 + d.int(8);
  if (d.next() < 0.5) b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + n)]);
  else b = Uint8Array.from([...b.subarray(0, at), ...Array.from({ length: n }, () => d.int(256)), ...b.subarray(at)]);
  return { bytes: b, how: `splice@${at}±${n}` };
}

test(`DICOM reader: ${CASES_PER_READER} mutated files give an image or a TweedieError, quickly`, async (t) => {
  const d = new Draws(new NoiseSource(SEED + 1));
  // The fixture series, and pydicom's explicit VR little endian files with encapsulated pixel data (JPEG-LS,
  // JPEG 2000, RLE; a 15-frame RLE RT Dose), whose fragments the bit flips and length changes reach too.
  const pydicomFiles = '/usr/lib/python3/dist-packages/pydicom/data/test_files';
  const files = [
    ...readdirSync(join(FIX, 'series')).sort().map((f) => ({ path: join(FIX, 'series', f), explicit: true })),
    { path: join(FIX, 'implicit', 'slice-z90.dcm'), explicit: false },
    ...['MR_small_jpeg_ls_lossless.dcm', 'MR_small_jp2klossless.dcm', 'MR_small_RLE.dcm', 'rtdose_rle.dcm'].map((f) => ({ path: join(pydicomFiles, f), explicit: true })),
  ];
  const corpus = files.map((f) => {
    const bytes = new Uint8Array(readFileSync(f.path));
    return { bytes, elements: elementPositions(bytes, f.explicit), name: f.path };
  });
  const originals: DicomImage[] = (await Promise.all(corpus.slice(0, 4).map((c) => parseDicom(c.bytes, c.name)))).flat();
  assert.ok(corpus.every((c) => c.elements.length > 40), 'element positions found');
  await fuzz(t, corpus, (src) => mutateDicom(d, src), async ({ bytes }, i) => {
    const k = i % corpus.length;
    const images = await parseDicom(bytes, `case ${i}`);
    const image = images[0]!;
    for (const im of images) assert.equal(im.pixels.length, im.rows * im.columns);
    // Native pixels are in the file; a codestream holds at most the MAX_VALUES pixels checked before decoding.
    if (k < 5) assert.ok(image.pixels.length * (image.bitsAllocated / 8) <= bytes.length, `case ${i}: pixels larger than the file`);
    // Stack it with the other, intact slices of the series.
    const others = originals.filter((_, j) => j !== k);
    try {
      const vol = volumeFromDicom(k < 4 ? [image, ...others] : images, `case ${i}`);
      assert.equal(vol.data.length, vol.dims.reduce((p, x) => p * x, 1));
      return 'stacked';
    } catch (e) {
      if (!(e instanceof TweedieError)) throw e;
      return `stack ${e.code}`;
    }
  }, { keyWidth: 50, success: 'stacked' });
});

// --------------------------------------------------------------------------------- NPY

function npyCorpus(): { name: string; bytes: Uint8Array }[] {
  const ramp = (shape: number[], dtype: 'float32' | 'float64'): Tensor => {
    const t = Tensor.zeros(shape, dtype);
    for (let i = 0; i < t.size; i++) t.data[i] = i * 0.75 - 3;
    return t;
  };
  return [
    { name: 'f4-2x3x4', bytes: encodeNpy(ramp([2, 3, 4], 'float32')) },
    { name: 'f8-5', bytes: encodeNpy(ramp([5], 'float64')) },
    { name: 'f8-0d', bytes: encodeNpy(ramp([], 'float64')) },
    ...['numpy_u1_v2.npy', 'numpy_i8_v3.npy', 'numpy_f4_3d.npy'].map((f) => ({ name: f, bytes: new Uint8Array(readFileSync(join(FIXTURES, f))) })),
  ];
}

/** The mutations every format gets: bit flips anywhere, or a cut at a random length. */
function flipOrCut(d: Draws, b: Uint8Array, cut: boolean): { bytes: Uint8Array; how: string } {
  if (!cut) {
    flipBits(d, b, 0, b.length);
    return { bytes: b, how: 'bit flips' };
  }
  const n = d.int(b.length);
  return { bytes: b.subarray(0, n), how: `truncated to ${n}` };
}

const HEADER_CHARS = "(){}[],:'\" 0123456789-TrueFals<>|fiu";

function mutateNpy(d: Draws, src: { bytes: Uint8Array }): { bytes: Uint8Array; how: string } {
  const b = Uint8Array.from(src.bytes); // a copy with its own buffer (a Buffer's slice() is a view)
  const v = new DataView(b.buffer);
  const v2 = b[6]! >= 2;
  const headerEnd = (v2 ? 12 + v.getUint32(8, true) : 10 + v.getUint16(8, true));
  const op = d.int(5);
  if (op < 2) return flipOrCut(d, b, op === 1);
  if (op === 2) {
    // Header text: a few characters replaced by others that mean something to the parser.
    const hows: string[] = [];
    for (let k = 0, count = 1 + d.int(4); k < count; k++) {
      const at = (v2 ? 12 : 10) + d.int(headerEnd - (v2 ? 12 : 10));
      const c = HEADER_CHARS[d.int(HEADER_CHARS.length)]!;
      b[at] = c.charCodeAt(0);
      hows.push(`${at}=${c}`);
    }
    return { bytes: b, how: `header ${hows.join(' ')}` };
  }
  if (op === 3) {
    const x = Math.abs(Math.trunc(d.pick(INTERESTING.filter(Number.isFinite)))) % 2 ** 32;
    if (v2) v.setUint32(8, x, true);
    else v.setUint16(8, x & 0xffff, true);
    return { bytes: b, how: `header_len=${x}` };
  }
  // Random data bytes (may make NaN or infinite floats, or huge 64-bit integers).
  for (let k = 0, count = 1 + d.int(8); k < count; k++) if (headerEnd < b.length) b[headerEnd + d.int(b.length - headerEnd)] = d.pick([0xff, 0x7f, 0x80, 0xf0, d.int(256)]);
  return { bytes: b, how: 'data bytes' };
}

test(`NPY reader: ${CASES_PER_READER} mutated files give a tensor or a TweedieError, quickly`, async (t) => {
  const d = new Draws(new NoiseSource(SEED + 2));
  const corpus = npyCorpus();
  for (const c of corpus) parseNpy(c.bytes, c.name); // the originals parse
  await fuzz(t, corpus, (src) => mutateNpy(d, src), ({ bytes, src, how }, i) => {
    const x = parseNpy(bytes, `case ${i}`);
    assert.equal(x.size, x.shape.reduce((p, s) => p * s, 1), `case ${i} (${src}: ${how})`);
    assert.ok(x.size <= bytes.length, `case ${i} (${src}: ${how}): ${x.size} values from ${bytes.length} bytes`);
    assert.ok(x.data.every(Number.isFinite), `case ${i} (${src}: ${how}): a value is not finite`);
    return 'parsed';
  }, { keyWidth: 60, success: 'parsed' });
});

// --------------------------------------------------------------------------------- PNG

interface ChunkPos {
  at: number;
  length: number;
  type: string;
}

function chunksOf(b: Uint8Array): ChunkPos[] {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out: ChunkPos[] = [];
  for (let at = 8; at + 12 <= b.length; at += 12 + v.getUint32(at)) {
    out.push({ at, length: v.getUint32(at), type: String.fromCharCode(...b.subarray(at + 4, at + 8)) });
  }
  return out;
}

/** Recompute a chunk's CRC after its body changed, so the mutation reaches the decoder. */
function fixCrc(b: Uint8Array, c: ChunkPos): void {
  new DataView(b.buffer, b.byteOffset).setUint32(c.at + 8 + c.length, crc32(b, c.at + 4, c.at + 8 + c.length));
}

function pngCorpus(): { name: string; bytes: Uint8Array }[] {
  const pattern = (w: number, h: number, c: 1 | 2 | 3 | 4, data: Uint8Array | Uint16Array): PngImage => {
    for (let i = 0; i < data.length; i++) data[i] = (i * 37 + 11) % 251;
    return { width: w, height: h, channels: c, data };
  };
  return [
    ...['filters_rgb.png', 'gray16.png', 'palette2_trns.png'].map((f) => ({ name: f, bytes: new Uint8Array(readFileSync(join(FIXTURES, f))) })),
    { name: 'rgba-13x9', bytes: encodePng(pattern(13, 9, 4, new Uint8Array(13 * 9 * 4))) },
    { name: 'gray16-6x5', bytes: encodePng(pattern(6, 5, 1, new Uint16Array(30))) },
  ];
}

function mutatePng(d: Draws, src: { bytes: Uint8Array }): { bytes: Uint8Array; how: string } {
  const b = Uint8Array.from(src.bytes); // a copy with its own buffer (a Buffer's slice() is a view)
  const v = new DataView(b.buffer);
  const chunks = chunksOf(b);
  const ihdr = chunks[0]!, idat = chunks.find((c) => c.type === 'IDAT')!;
  const op = d.int(6);
  if (op < 2) return flipOrCut(d, b, op === 1);
  if (op === 2) {
    // IHDR fields: width, height, depth, color type, methods, interlace.
    const field = d.int(7);
    const x = field < 2 ? d.pick([0, 1, 2, 3, 5, 8, 9, 13, 255, 65535, 11586, 2 ** 31 - 1, 2 ** 32 - 1, d.int(2 ** 32)]) : d.pick([0, 1, 2, 3, 4, 6, 8, 16, 255]);
    if (field < 2) v.setUint32(ihdr.at + 8 + 4 * field, x);
    else b[ihdr.at + 8 + 6 + field] = x;
    fixCrc(b, ihdr);
    return { bytes: b, how: `IHDR field ${field}=${x}` };
  }
  if (op === 3) {
    for (let k = 0, count = 1 + d.int(6); k < count; k++) b[idat.at + 8 + d.int(idat.length)] = d.int(256);
    fixCrc(b, idat);
    return { bytes: b, how: 'IDAT bytes' };
  }
  if (op === 4) {
    const c = d.pick(chunks);
    const x = d.pick([0, 1, 12, 13, c.length - 1, c.length + 1, 2 ** 31 - 1, 2 ** 32 - 1, d.int(2 ** 32)]);
    v.setUint32(c.at, Math.max(0, x));
    return { bytes: b, how: `${c.type} length=${x}` };
  }
  // New image data: a valid zlib stream of fewer, more or far more bytes than IHDR declares.
  const size = d.pick([0, 1, 7, 64, 500, 5000, 2 ** 21]);
  const raw = new Uint8Array(size); // zeros (filter type 0) with a few random bytes
  for (let k = 0; k < 16 && size > 0; k++) raw[d.int(size)] = d.int(256);
  const body = deflateSync(raw);
  const start = idat.at, end = idat.at + 12 + idat.length;
  const chunk = new Uint8Array(12 + body.length);
  new DataView(chunk.buffer).setUint32(0, body.length);
  chunk.set(b.subarray(start + 4, start + 8), 4);
  chunk.set(body, 8);
  fixCrc(chunk, { at: 0, length: body.length, type: 'IDAT' });
  return { bytes: Buffer.concat([b.subarray(0, start), chunk, b.subarray(end)]), how: `IDAT of ${size} inflated bytes` };
}

test(`PNG reader: ${CASES_PER_READER} mutated files give an image or a TweedieError, quickly`, async (t) => {
  const d = new Draws(new NoiseSource(SEED + 3));
  const corpus = pngCorpus();
  for (const c of corpus) decodePng(c.bytes, c.name); // the originals decode
  await fuzz(t, corpus, (src) => mutatePng(d, src), ({ bytes, src, how }, i) => {
    const img = decodePng(bytes, `case ${i}`);
    assert.equal(img.data.length, img.width * img.height * img.channels, `case ${i} (${src}: ${how})`);
    return 'decoded';
  }, { keyWidth: 60, success: 'decoded' });
});

// --------------------------------------------------------------------------------- fastMRI HDF5

/** Bit flips where HDF5 keeps its metadata (the first and last 4 KiB: superblock, object headers, heaps), anywhere, or a truncation. */
function mutateHdf5(d: Draws, src: { bytes: Uint8Array }): { bytes: Uint8Array; how: string } {
  const b = Uint8Array.from(src.bytes), op = d.int(4);
  if (op === 0) flipBits(d, b, 0, 4096);
  else if (op === 1) flipBits(d, b, b.length - 4096, b.length);
  else return flipOrCut(d, b, op === 3);
  return { bytes: b, how: `bit flips in the ${op === 0 ? 'first' : 'last'} 4 KiB` };
}

test(`fastMRI HDF5 reader: ${Math.ceil(CASES_PER_READER / 10)} mutated files give k-space or a TweedieError, in bounded memory`, async (t) => {
  const d = new Draws(new NoiseSource(SEED + 4));
  const corpus = ['ch2_8coil.h5', 'ch2_os_4x.h5'].map((f) => ({ name: f, bytes: new Uint8Array(readFileSync(join(FIXTURES, 'fastmri', f))) }));
  const cases = Math.ceil(CASES_PER_READER / 10), outcomes = new Map<string, number>();
  const rss0 = process.memoryUsage().rss, start = performance.now();
  let peak = rss0;
  for (let i = 0; i < cases; i++) {
    const src = corpus[i % corpus.length]!, m = mutateHdf5(d, src);
    let key = 'read';
    try {
      const f = await openFastmri(m.bytes, `case ${i}`);
      try {
        for (let z = 0; z < f.slices; z++) {
          const s = f.readSlice(z);
          assert.equal(s.re.length, f.coils * f.rows * f.cols, `case ${i} (${src.name}: ${m.how})`);
        }
      } finally {
        f.close();
      }
    } catch (e) {
      if (!(e instanceof TweedieError)) assert.fail(`case ${i} (${src.name}: ${m.how}) threw ${e instanceof Error ? e.stack : String(e)}`);
      assert.ok(!e.message.includes('\n'), `case ${i}: one line: ${e.message}`);
      key = `${e.code}: ${e.message.replace(/^case \d+:? /, '').replace(/\d+/g, 'N').slice(0, 70)}`;
    }
    outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
    peak = Math.max(peak, process.memoryUsage().rss);
  }
  t.diagnostic(`${(performance.now() - start).toFixed(0)} ms, peak RSS growth ${((peak - rss0) / 2 ** 20).toFixed(0)} MiB`);
  for (const [k, n] of [...outcomes].sort((a, b) => b[1] - a[1]).slice(0, 20)) t.diagnostic(`${String(n).padStart(6)}  ${k}`);
  assert.ok(peak - rss0 < 2 ** 29, `memory grew by ${((peak - rss0) / 2 ** 20).toFixed(0)} MiB`);
  assert.ok((outcomes.get('read') ?? 0) > cases / 10, 'some mutants still read');
  assert.ok(outcomes.size > 3, `varied errors: ${[...outcomes.keys()].join(' | ')}`);
  // HDF5 is still sound afterwards: the original reads back exactly.
  const f = await openFastmri(corpus[0]!.bytes, 'original');
  const probe = parseNpy(readFileSync(join(FIXTURES, 'fastmri', 'ch2_8coil', 'probe.npy'))).data; // row 0: slice 0, coil 0, (32, 32), re, im
  const s = f.readSlice(0);
  assert.deepEqual([s.re[32 * 64 + 32], s.im[32 * 64 + 32]], [probe[4], probe[5]]);
  f.close();
});
