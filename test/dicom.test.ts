import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TweedieError } from '../src/core/errors.js';
import { parseNpy } from '../src/io/npy.js';
import { parseDicom, readDicom } from '../src/io/dicom-file.js';
import { volumeFromDicom } from '../src/io/dicom-volume.js';
import { transferSyntax } from '../src/io/dicom-syntax.js';
import { encodeNifti, parseNifti, readNifti } from '../src/io/nifti.js';
import { qformAffine, sliceAxial } from '../src/io/volume.js';

// Compiled to dist/test/; the fixtures stay in test/fixtures/dicom/ (made by make-series.mjs there).
const FIX = fileURLToPath(new URL('../../test/fixtures/dicom/', import.meta.url));
const SERIES = join(FIX, 'series');
const IMPLICIT = join(FIX, 'implicit', 'slice-z90.dcm');

const tweedie = (code: string, ...patterns: RegExp[]) => (e: unknown): boolean => {
  assert.ok(e instanceof TweedieError, `expected a TweedieError, got ${String(e)}`);
  assert.equal(e.code, code, e.message);
  for (const p of patterns) assert.match(e.message, p);
  return true;
};

/** The fixture's source values (float64, [slice, row, column], ascending z) from make-series.mjs. */
const source = (): Float64Array => {
  const t = parseNpy(readFileSync(join(FIX, 'source-slices.npy')));
  assert.deepEqual(t.shape, [4, 32, 32]);
  return t.data as Float64Array;
};
/** What int16 storage with RescaleSlope 0.5 and RescaleIntercept -10 makes of a source value. */
const quantised = (v: number): number => Math.round((v + 10) / 0.5) * 0.5 - 10;

// The recipe's geometry (see make-series.mjs): columns along RAS +x every 5 mm, rows along
// +y every 6 mm, slices z = 60, 75, 90, 105 of ch2 (15 mm apart), first pixel at (-78, -110.5, -11).
const AFFINE = [[5, 0, 0, -78], [0, 6, 0, -110.5], [0, 0, 15, -11], [0, 0, 0, 1]];

function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tweedie-dicom-'));
  for (const f of readdirSync(SERIES)) copyFileSync(join(SERIES, f), join(dir, f));
  return dir;
}
function indexOf(bytes: Uint8Array, pattern: number[] | string, from = 0): number {
  const p = typeof pattern === 'string' ? [...pattern].map((c) => c.charCodeAt(0)) : pattern;
  outer: for (let i = from; i <= bytes.length - p.length; i++) {
    for (let j = 0; j < p.length; j++) if (bytes[i + j] !== p[j]) continue outer;
    return i;
  }
  return -1;
}
const PIXEL_TAG = [0xe0, 0x7f, 0x10, 0x00, 0x4f, 0x57]; // (7FE0,0010) OW

test('the fixture series: shuffled files are ordered by ImagePositionPatient; values and geometry', async () => {
  const v = await readDicom(SERIES);
  assert.deepEqual(v.dims, [32, 32, 4]);
  assert.deepEqual(v.voxelSize, [5, 6, 15]);
  assert.deepEqual(v.affine, AFFINE);
  assert.deepEqual(v.notes ?? [], []);
  assert.equal(v.header.sform_code, 1);
  assert.equal(v.header.qform_code, 1);
  assert.match(v.header.descrip, /CT series 7 ch2 T1 32x32 test fixture/);
  const src = source();
  let worst = 0;
  for (let i = 0; i < src.length; i++) {
    assert.equal(v.data[i], Math.fround(quantised(src[i]!)), `voxel ${i}`);
    worst = Math.max(worst, Math.abs(v.data[i]! - src[i]!));
  }
  assert.ok(worst <= 0.25, `int16 rounding with slope 0.5 is at most 0.25, got ${worst}`);
  assert.ok(worst > 0.2, 'the values are not trivially exact');
});

test('the fixture against the real ch2 volume: each DICOM voxel is the block mean around its world position', async () => {
  const path = '/usr/share/mricron/templates/ch2.nii.gz';
  if (!existsSync(path)) assert.fail(`${path} is missing: install the Debian package mricron-data ("apt-get install mricron-data")`);
  const ch2 = readNifti(path);
  const dcm = await readDicom(SERIES);
  const src = source();
  const [X, Y] = ch2.dims as [number, number];
  for (let k = 0; k < 4; k++) {
    for (let j = 0; j < 32; j += 3) {
      for (let i = 0; i < 32; i += 3) {
        // World position of DICOM voxel (i, j, k), then ch2 voxel coordinates (ch2's affine is a pure shift).
        const w = [0, 1, 2].map((r) => dcm.affine[r]![0]! * i + dcm.affine[r]![1]! * j + dcm.affine[r]![2]! * k + dcm.affine[r]![3]!);
        const c = [0, 1, 2].map((r) => w[r]! - ch2.affine[r]![3]!);
        // The 5 x 6 block centred there (x: c-2 .. c+2, y: c-2.5 .. c+2.5).
        let sum = 0;
        for (let y = c[1]! - 2.5; y <= c[1]! + 2.5; y++) for (let x = c[0]! - 2; x <= c[0]! + 2; x++) sum += ch2.data[x + X * (y + Y * c[2]!)]!;
        const mean = sum / 30;
        const p = (k * 32 + j) * 32 + i;
        assert.ok(Math.abs(mean - src[p]!) < 1e-9, `source ${p}: ${mean} vs ${src[p]}`);
        assert.ok(Math.abs(dcm.data[p]! - mean) <= 0.25 + 1e-6, `DICOM voxel (${i}, ${j}, ${k})`);
      }
    }
  }
});

test('implicit VR little endian single file: one-slice volume with SliceThickness as the third spacing', async () => {
  const v = await readDicom(IMPLICIT);
  assert.deepEqual(v.dims, [32, 32, 1]);
  assert.deepEqual(v.voxelSize, [5, 6, 1]);
  assert.deepEqual(v.affine, [[5, 0, 0, -78], [0, 6, 0, -110.5], [0, 0, 1, 19], [0, 0, 0, 1]]);
  assert.deepEqual(v.data, sliceAxial(await readDicom(SERIES), 2).data);
  const [im] = await parseDicom(readFileSync(IMPLICIT), 'slice');
  assert.equal(im.transferSyntax, '1.2.840.10008.1.2');
  assert.deepEqual([im.rows, im.columns, im.bitsAllocated, im.bitsStored, im.pixelRepresentation], [32, 32, 16, 16, 1]);
  assert.deepEqual(im.pixelSpacing, [6, 5]);
  assert.deepEqual(im.position, [78, 110.5, 19]);
  assert.deepEqual(im.orientation, [-1, 0, 0, 0, -1, 0]);
  assert.deepEqual([im.rescaleSlope, im.rescaleIntercept, im.instanceNumber, im.seriesNumber, im.modality], [0.5, -10, 2, 7, 'CT']);
  assert.equal(im.seriesInstanceUID, '2.25.281934561002839475610293847561029384756');
});

test('DICOM to NIfTI: the volume written and read back keeps data and affine', async () => {
  const v = await readDicom(SERIES);
  const back = parseNifti(encodeNifti(v), 'from-dicom.nii');
  assert.deepEqual(back.data, v.data);
  assert.deepEqual(back.affine, AFFINE);
  const q = qformAffine(back.header);
  for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) assert.ok(Math.abs(q[i]![j]! - AFFINE[i]![j]!) < 1e-5);
  assert.equal(back.header.xyzt_units & 7, 2, 'millimetres');
});

test('a folder of mixed series is refused with the list of series', async () => {
  const dir = scratch();
  try {
    const f = join(dir, 'IMG_0002.dcm');
    const b = readFileSync(f);
    const uid = '2.25.281934561002839475610293847561029384756';
    const at = indexOf(b, uid);
    assert.ok(at > 0);
    b[at + uid.length - 1] = 0x39; // ...4756 -> ...4759
    writeFileSync(f, b);
    await assert.rejects(
      () => readDicom(dir),
      tweedie('BAD_INPUT', /holds slices of 2 DICOM series/, /2\.25\.281934561002839475610293847561029384756 'ch2 T1 32x32 test fixture' \(series 7, 3 image\(s\)/, /\.\.\.4759|4759 'ch2/, /--series UID\|NUMBER/, /own folder/),
    );
    // --series picks one by UID; by number both match, which is refused with the list.
    const picked = await readDicom(dir, { series: '2.25.281934561002839475610293847561029384759' });
    assert.deepEqual(picked.dims, [32, 32, 1]);
    await assert.rejects(() => readDicom(dir, { series: '7' }), tweedie('BAD_INPUT', /2 series have SeriesInstanceUID or SeriesNumber 7/));
    await assert.rejects(() => readDicom(dir, { series: '8' }), tweedie('BAD_INPUT', /no series has SeriesInstanceUID or SeriesNumber 8; it holds 2/));
    // The same check applies when images are stacked directly.
    const images = (await Promise.all(readdirSync(dir).map((n) => parseDicom(readFileSync(join(dir, n)), n)))).flat();
    assert.throws(() => volumeFromDicom(images, 'my images'), tweedie('BAD_INPUT', /my images holds slices of 2 DICOM series/));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('DICOM without pixel data, truncated elements, compressed transfer syntaxes and non-DICOM files', async () => {
  const good = new Uint8Array(readFileSync(join(SERIES, 'IMG_0001.dcm'))); // a copy: Buffer.slice() would not copy
  const px = indexOf(good, PIXEL_TAG);
  assert.ok(px > 0);
  await assert.rejects(() => parseDicom(good.subarray(0, px), 'nopixels.dcm'), tweedie('UNREADABLE_FILE', /nopixels\.dcm/, /no PixelData \(7FE0,0010\)/));
  await assert.rejects(() => parseDicom(good.subarray(0, px + 12 + 1000), 'cut.dcm'), tweedie('UNREADABLE_FILE', /cut\.dcm: not a readable DICOM file: truncated DICOM element \(7FE0,0010\)/, /2048 bytes at byte \d+ but only 1000 remain/));
  const desc = indexOf(good, 'ch2 T1 32x32');
  await assert.rejects(() => parseDicom(good.subarray(0, desc + 5), 'cut2.dcm'), tweedie('UNREADABLE_FILE', /cut2\.dcm: not a readable DICOM file: truncated DICOM element \(0008,103E\)/));
  const seq = indexOf(good, [0xfe, 0xff, 0x00, 0xe0]); // the first item of ReferencedImageSequence
  await assert.rejects(() => parseDicom(good.subarray(0, seq + 30), 'cut3.dcm'), tweedie('UNREADABLE_FILE', /cut3\.dcm/, /truncated/));
  await assert.rejects(() => parseDicom(good.subarray(0, px + 3), 'cut4.dcm'), tweedie('UNREADABLE_FILE', /cut4\.dcm: not a readable DICOM file: truncated/));
  // An element length running past the end of the file.
  const lenPatched = good.slice();
  const rows = indexOf(lenPatched, [0x28, 0x00, 0x10, 0x00, 0x55, 0x53]); // (0028,0010) US
  lenPatched[rows + 6] = 0xff;
  lenPatched[rows + 7] = 0xff;
  await assert.rejects(() => parseDicom(lenPatched, 'len.dcm'), tweedie('UNREADABLE_FILE', /len\.dcm: not a readable DICOM file: truncated DICOM element \(0028,0010\)/, /65535 bytes/));
  // Compressed and big-endian transfer syntaxes, named in the error.
  const withSyntax = (uid: string): Uint8Array => {
    const b = good.slice();
    const at = indexOf(b, '1.2.840.10008.1.2.1\0');
    b.set([...uid].map((c) => c.charCodeAt(0)), at);
    return b;
  };
  await assert.rejects(() => parseDicom(withSyntax('1.2.840.10008.1.2.5\0'), 'rle.dcm'), tweedie('UNREADABLE_FILE', /rle\.dcm/, /RLE Lossless needs encapsulated/));
  assert.throws(() => transferSyntax('1.2.840.10008.1.2.4.201', 'htj2k.dcm'), tweedie('UNSUPPORTED', /htj2k\.dcm/, /1\.2\.840\.10008\.1\.2\.4\.201 \(HTJ2K Lossless\)/, /gdcmconv --raw/));
  await assert.rejects(() => parseDicom(withSyntax('1.2.840.10008.1.2.9\0'), 'odd.dcm'), tweedie('UNSUPPORTED', /1\.2\.840\.10008\.1\.2\.9 \(not a transfer syntax this reader knows\)/));
  // Not Part 10.
  await assert.rejects(() => parseDicom(good.subarray(128), 'raw.dcm'), tweedie('UNREADABLE_FILE', /no "DICM" marker at byte 128/));
  await assert.rejects(() => parseDicom(new Uint8Array(20), 'tiny.dcm'), tweedie('UNREADABLE_FILE', /only 20 bytes/));
  await assert.rejects(() => readDicom('/nonexistent/dicom'), tweedie('UNREADABLE_FILE', /cannot read \/nonexistent\/dicom/));
});

test('slice ordering: duplicate positions, missing slices, InstanceNumber fallback, extra files', async () => {
  const src = source();
  // Two files at one position: several volumes in one series.
  let dir = scratch();
  try {
    copyFileSync(join(dir, 'IMG_0001.dcm'), join(dir, 'IMG_0005.dcm'));
    await assert.rejects(() => readDicom(dir), tweedie('UNSUPPORTED', /IMG_0001\.dcm and IMG_0005\.dcm lie at the same slice position/, /split it/));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // A missing slice: the spacing is no longer uniform.
  dir = scratch();
  try {
    unlinkSync(join(dir, 'IMG_0004.dcm')); // z = 90
    await assert.rejects(() => readDicom(dir), tweedie('UNSUPPORTED', /slice spacing is not uniform \(gaps from 15 to 30 mm; 30 mm between IMG_0001\.dcm and IMG_0002\.dcm\)/, /missing/));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // Without ImagePositionPatient the slices follow InstanceNumber, which runs from the top down.
  dir = scratch();
  try {
    for (const f of readdirSync(dir)) {
      const b = readFileSync(join(dir, f));
      const at = indexOf(b, [0x20, 0x00, 0x32, 0x00, 0x44, 0x53]); // (0020,0032) DS
      b[at + 2] = 0x30; // -> (0020,0030), a retired tag the reader does not use
      writeFileSync(join(dir, f), b);
    }
    const v = await readDicom(dir);
    assert.deepEqual(v.dims, [32, 32, 4]);
    assert.ok(v.notes?.some((n) => /ordered by InstanceNumber/.test(n)), String(v.notes));
    for (let k = 0; k < 4; k++) {
      const want = src.subarray((3 - k) * 1024, (4 - k) * 1024);
      assert.deepEqual(sliceAxial(v, k).data, Float32Array.from(want, quantised), `slice ${k}`);
    }
    assert.deepEqual(v.voxelSize, [5, 6, 1]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // Non-DICOM files in the folder are skipped and noted; a signed pixel decodes below zero.
  dir = scratch();
  try {
    writeFileSync(join(dir, 'README.txt'), 'not an image');
    const f = join(dir, 'IMG_0003.dcm'); // z = 60, the first slice
    const b = readFileSync(f);
    const px = indexOf(b, PIXEL_TAG) + 12;
    b[px] = 0xff;
    b[px + 1] = 0xff; // int16 -1 -> -1 * 0.5 - 10
    writeFileSync(f, b);
    const v = await readDicom(dir);
    assert.equal(v.data[0], -10.5);
    assert.ok(v.notes?.some((n) => /skipped 1 non-image file\(s\): README\.txt/.test(n)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // An empty folder, and a folder holding only other folders.
  dir = mkdtempSync(join(tmpdir(), 'tweedie-dicom-'));
  try {
    await assert.rejects(() => readDicom(dir), tweedie('UNREADABLE_FILE', /no DICOM image files in this folder: no files/));
    mkdirSync(join(dir, 'series1'));
    await assert.rejects(() => readDicom(dir), tweedie('UNREADABLE_FILE', /subfolders series1 \(point at one of them\)/));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
