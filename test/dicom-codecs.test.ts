import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pydicomOracle, runTool, syntaxOf } from '../bench/lib/dicom-tools.js';
import { TweedieError } from '../src/core/errors.js';
import { parseDicom, readDicom } from '../src/io/dicom-file.js';
import { parseNpy } from '../src/io/npy.js';

// Pixel data written by independent tools (pydicom's test files; dcmtk and gdcm re-encodings of a series pydicom
// wrote) against pydicom's own decoding of the uncompressed originals: lossless syntaxes must match exactly.

const PYDICOM_FILES = '/usr/lib/python3/dist-packages/pydicom/data/test_files';
const ORACLE = fileURLToPath(new URL('../../test/helpers/dicom_oracle.py', import.meta.url));
const N = 8;

let tmp = '';
before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'tweedie-dicom-codecs-'));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

const pd = (name: string): string => join(PYDICOM_FILES, name);
/** pydicom's decoding (rescaled, float64 [frames, rows, cols]) of uncompressed files. */
function pydicomDecode(files: string[]): { data: Float64Array; shape: readonly number[] } {
  const out = join(tmp, `decoded-${Math.random().toString(36).slice(2)}.npy`);
  pydicomOracle(ORACLE, ['decode', out, ...files]);
  const t = parseNpy(readFileSync(out));
  return { data: t.data as Float64Array, shape: t.shape };
}
function assertSame(got: Float32Array, want: Float64Array, what: string): void {
  assert.equal(got.length, want.length, `${what}: ${got.length} values, ${want.length} expected`);
  for (let i = 0; i < got.length; i++) if (got[i] !== Math.fround(want[i]!)) assert.fail(`${what}: value ${i} is ${got[i]}, pydicom decodes ${want[i]}`);
}
const tweedie = (code: string, ...patterns: RegExp[]) => (e: unknown): boolean => {
  assert.ok(e instanceof TweedieError, `expected a TweedieError, got ${String(e)}`);
  assert.equal(e.code, code, e.message);
  for (const p of patterns) assert.match(e.message, p);
  return true;
};

test("pydicom's test files in every syntax decode to pydicom's decoding of the uncompressed original", async () => {
  const mr = pydicomDecode([pd('MR_small.dcm')]);
  for (const f of ['MR_small.dcm', 'MR_small_RLE.dcm', 'MR_small_bigendian.dcm', 'MR_small_expb.dcm', 'MR_small_implicit.dcm', 'MR_small_jp2klossless.dcm', 'MR_small_jpeg_ls_lossless.dcm']) {
    const images = await parseDicom(readFileSync(pd(f)), f);
    assert.equal(images.length, 1, f);
    assert.equal(images[0]!.lossy, false, f);
    assertSame(images[0]!.pixels, mr.data, f);
  }
  for (const f of ['CT_small.dcm', 'image_dfl.dcm']) {
    const [im] = await parseDicom(readFileSync(pd(f)), f);
    assertSame(im!.pixels, pydicomDecode([pd(f)]).data, f);
  }
  // Multi-frame RT Dose (15 frames, 32-bit, DoseGridScaling) in three syntaxes, one of them RLE.
  const dose = pydicomDecode([pd('rtdose.dcm')]);
  assert.deepEqual(dose.shape, [15, 10, 10]);
  for (const f of ['rtdose.dcm', 'rtdose_rle.dcm', 'rtdose_expb.dcm']) {
    const frames = await parseDicom(readFileSync(pd(f)), f);
    assert.equal(frames.length, 15, f);
    const all = new Float32Array(1500);
    frames.forEach((im, k) => all.set(im.pixels, k * 100));
    assertSame(all, dose.data, f);
  }
  const vol = await readDicom(pd('rtdose.dcm'));
  assert.deepEqual(vol.dims, [10, 10, 15]);
});

test('lossy syntaxes decode with a one-line warning; 12-bit lossy JPEG is refused naming the file', async () => {
  for (const f of ['JPEG2000.dcm', '693_J2KI.dcm']) {
    const warnings: string[] = [];
    const vol = await readDicom(pd(f), { onWarning: (l) => warnings.push(l) });
    assert.equal(warnings.length, 1, f);
    assert.match(warnings[0]!, new RegExp(`^warning: .*${f.replace('.', '\\.')}: the pixel data were lossy-compressed \\(JPEG 2000, 1\\.2\\.840\\.10008\\.1\\.2\\.4\\.91\\)`));
    assert.ok(!warnings[0]!.includes('\n'));
    assertSame(vol.data, pydicomDecode([pd(f)]).data, f); // pydicom decodes JPEG 2000 through Pillow's OpenJPEG
  }
  await assert.rejects(() => readDicom(pd('JPGExtended.dcm')), tweedie('UNSUPPORTED', /JPGExtended\.dcm/, /12-bit lossy JPEG is not supported/, /dcmdjpeg/));
});

/** Re-encode every file of `src` into `dst` with `cmd args IN OUT`. */
function reencode(src: string, dst: string, cmd: string, args: string[]): void {
  mkdirSync(dst);
  for (const f of readdirSync(src)) runTool(cmd, [...args, join(src, f), join(dst, f)]);
}

test('a series pydicom wrote, re-encoded by dcmtk and gdcm into each lossless syntax, decodes exactly', async () => {
  const src = join(tmp, 'series');
  mkdirSync(src);
  pydicomOracle(ORACLE, ['series', src, String(N)]);
  const expectedFile = join(tmp, 'expected.npy');
  pydicomOracle(ORACLE, ['expected', expectedFile, String(N)]);
  const expected = parseNpy(readFileSync(expectedFile)).data as Float64Array;
  const original = await readDicom(src);
  assert.deepEqual(original.dims, [181, 217, N]);
  assertSame(original.data, expected, 'uncompressed original, ordered by position');
  // pydicom's own decoding of the files agrees with the values it was asked to store.
  const files = readdirSync(src).sort((a, b) => Number(a.split('-')[1]!.split('.')[0]) - Number(b.split('-')[1]!.split('.')[0])).map((f) => join(src, f));
  assertSame(original.data, pydicomDecode(files).data, "pydicom's decoding");
  const cases: [string, string, string[], string][] = [
    ['jpeg-lossless-sv1', 'dcmcjpeg', ['+e1'], '1.2.840.10008.1.2.4.70'],
    ['jpeg-lossless', 'dcmcjpeg', ['+el'], '1.2.840.10008.1.2.4.57'],
    ['jpeg-ls-dcmtk', 'dcmcjpls', ['+el'], '1.2.840.10008.1.2.4.80'],
    ['rle-dcmtk', 'dcmcrle', [], '1.2.840.10008.1.2.5'],
    ['big-endian', 'dcmconv', ['+tb'], '1.2.840.10008.1.2.2'],
    ['implicit', 'dcmconv', ['+ti'], '1.2.840.10008.1.2'],
    ['deflated-dcmtk', 'dcmconv', ['+td'], '1.2.840.10008.1.2.1.99'],
    ['jpeg-2000', 'gdcmconv', ['--j2k'], '1.2.840.10008.1.2.4.90'],
    ['jpeg-ls-gdcm', 'gdcmconv', ['--jpegls'], '1.2.840.10008.1.2.4.80'],
    ['rle-gdcm', 'gdcmconv', ['--rle'], '1.2.840.10008.1.2.5'],
  ];
  for (const [label, cmd, args, uid] of cases) {
    const dir = join(tmp, label);
    reencode(src, dir, cmd, args);
    assert.equal(syntaxOf(join(dir, readdirSync(dir)[0]!)), uid, `${label}: ${cmd} wrote another syntax`);
    const warnings: string[] = [];
    const vol = await readDicom(dir, { onWarning: (l) => warnings.push(l) });
    assert.deepEqual(vol.affine, original.affine, label);
    assertSame(vol.data, expected, label);
    assert.deepEqual(warnings, [], label);
  }
});

test('8-bit lossy: JPEG Baseline decodes like dcmtk decodes it, JPEG-LS near-lossless within NEAR, each with the warning', async () => {
  const dir = join(tmp, 'baseline');
  mkdirSync(dir);
  const eight = join(dir, 'raw.dcm');
  runTool('dcmconv', ['+te', pd('image_dfl.dcm'), eight]); // 8-bit 512x512
  runTool('dcmcjpeg', ['+eb', eight, join(dir, 'jpeg.dcm')]);
  runTool('dcmdjpeg', [join(dir, 'jpeg.dcm'), join(dir, 'decoded.dcm')]);
  assert.equal(syntaxOf(join(dir, 'jpeg.dcm')), '1.2.840.10008.1.2.4.50');
  const warnings: string[] = [];
  const ours = await readDicom(join(dir, 'jpeg.dcm'), { onWarning: (l) => warnings.push(l) });
  assert.match(warnings.join('\n'), /lossy-compressed \(JPEG Baseline \(Process 1\)/);
  const theirs = pydicomDecode([join(dir, 'decoded.dcm')]).data;
  const original = pydicomDecode([eight]).data;
  let worst = 0, loss = 0;
  for (let i = 0; i < theirs.length; i++) {
    worst = Math.max(worst, Math.abs(ours.data[i]! - theirs[i]!));
    loss = Math.max(loss, Math.abs(ours.data[i]! - original[i]!));
  }
  // libjpeg-turbo and dcmtk's IJG libjpeg may round the inverse DCT differently by one level.
  assert.ok(worst <= 1, `libjpeg-turbo vs dcmtk: ${worst}`);
  assert.ok(loss > 0, 'baseline JPEG is lossy');
  // JPEG-LS near-lossless (dcmtk, NEAR 2): every value within 2 of the original.
  runTool('dcmcjpls', ['+en', eight, join(dir, 'near.dcm')]);
  assert.equal(syntaxOf(join(dir, 'near.dcm')), '1.2.840.10008.1.2.4.81');
  const nearWarnings: string[] = [];
  const near = await readDicom(join(dir, 'near.dcm'), { onWarning: (l) => nearWarnings.push(l) });
  assert.equal(nearWarnings.length, 1);
  assert.match(nearWarnings[0]!, /JPEG-LS Near-Lossless/);
  let nearWorst = 0;
  for (let i = 0; i < original.length; i++) nearWorst = Math.max(nearWorst, Math.abs(near.data[i]! - original[i]!));
  assert.ok(nearWorst <= 2 && nearWorst > 0, `near-lossless error ${nearWorst}`);
});

test('an Enhanced MR multi-frame object: per-frame position and rescale, shuffled frames, also JPEG-LS and RLE encoded', async () => {
  const file = join(tmp, 'enhanced.dcm');
  pydicomOracle(ORACLE, ['enhanced', file, String(N)]);
  const wantFile = join(tmp, 'enhanced-expected.npy');
  pydicomOracle(ORACLE, ['enhanced-expected', wantFile, String(N)]);
  const want = parseNpy(readFileSync(wantFile)).data as Float64Array;
  const series = join(tmp, 'series-for-enhanced');
  mkdirSync(series);
  pydicomOracle(ORACLE, ['series', series, String(N)]);
  const reference = await readDicom(series);
  for (const [label, cmd, args] of [['raw', '', []], ['jpeg-ls', 'gdcmconv', ['--jpegls']], ['rle', 'dcmcrle', []]] as [string, string, string[]][]) {
    const f = cmd ? join(tmp, `enhanced-${label}.dcm`) : file;
    if (cmd) runTool(cmd, [...args, file, f]);
    const vol = await readDicom(f);
    assert.deepEqual(vol.dims, [181, 217, N], label);
    assert.deepEqual(vol.affine, reference.affine, `${label}: the frames' geometry is the series'`);
    assertSame(vol.data, want, label);
  }
  // One frame file per slice copied into a folder with the single-frame series: two series, named.
  const mixed = join(tmp, 'mixed');
  mkdirSync(mixed);
  copyFileSync(file, join(mixed, 'enhanced.dcm'));
  for (const f of readdirSync(series)) copyFileSync(join(series, f), join(mixed, f));
  await assert.rejects(() => readDicom(mixed), tweedie('BAD_INPUT', /holds slices of 2 DICOM series/, /oracle ch2 enhanced MR/, /oracle ch2 CT/, /--series/));
  assert.deepEqual((await readDicom(mixed, { series: '4' })).data, (await readDicom(file)).data);
});
