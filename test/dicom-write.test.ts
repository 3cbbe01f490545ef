import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pydicomOracle, runTool } from '../bench/lib/dicom-tools.js';
import { readDicom } from '../src/io/dicom-file.js';
import { encodeDerivedSeries } from '../src/io/dicom-write.js';
import { readNifti } from '../src/io/nifti.js';
import { readNpy } from '../src/io/npy.js';
import { createVolume, type Volume } from '../src/io/volume.js';

// A derived series written by tweedie, read back by independent tools: dcmtk (dcmdump), gdcm (gdcminfo) and
// dcm2niix, whose NIfTI must match the volume in shape, affine (1e-3 mm) and values (to the rescale's quantisation).

const ORACLE = fileURLToPath(new URL('../../test/helpers/dicom_oracle.py', import.meta.url));
const root = fileURLToPath(new URL('../../', import.meta.url));
let tmp = '';
before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'tweedie-dicom-write-'));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

function writeSeries(dir: string, files: Uint8Array[]): void {
  mkdirSync(dir, { recursive: true });
  files.forEach((b, k) => writeFileSync(join(dir, `IMG${String(k + 1).padStart(5, '0')}.dcm`), b));
}

/** dcmdump's value of one attribute of a file. */
function attr(file: string, tag: string): string {
  const line = runTool('dcmdump', ['-Un', '+P', tag, file]).trim();
  return /\[(.*)\]/.exec(line)?.[1] ?? '';
}

/** 4x4 affine inverse (rotation/scale block inverted by cofactors). */
function invert(a: number[][]): number[][] {
  const m = a.slice(0, 3).map((r) => r.slice(0, 3));
  const c = (r: number, s: number) => m[(r + 1) % 3]![(s + 1) % 3]! * m[(r + 2) % 3]![(s + 2) % 3]! - m[(r + 1) % 3]![(s + 2) % 3]! * m[(r + 2) % 3]![(s + 1) % 3]!;
  const det = m[0]![0]! * c(0, 0) + m[0]![1]! * c(0, 1) + m[0]![2]! * c(0, 2);
  const inv = [0, 1, 2].map((i) => [0, 1, 2].map((j) => c(j, i) / det));
  const t = [0, 1, 2].map((i) => -(inv[i]![0]! * a[0]![3]! + inv[i]![1]! * a[1]![3]! + inv[i]![2]! * a[2]![3]!));
  return [...inv.map((r, i) => [...r, t[i]!]), [0, 0, 0, 1]];
}
const apply = (a: number[][], v: number[]): number[] => [0, 1, 2].map((r) => a[r]![0]! * v[0]! + a[r]![1]! * v[1]! + a[r]![2]! * v[2]! + a[r]![3]!);

/**
 * Compare a NIfTI dcm2niix made with `vol`: same shape up to an axis permutation/flip, every voxel at the same
 * world position (1e-3 mm) holding the same value within `tol`.
 */
function assertSameAsNifti(vol: Volume, nii: Volume, tol: number, what: string): void {
  const [X, Y, Z] = vol.dims as [number, number, number];
  assert.equal(nii.data.length, X * Y * Z, `${what}: dcm2niix wrote dims [${nii.dims.join(', ')}] for [${vol.dims.join(', ')}]`);
  const toTheirs = invert(nii.affine);
  const [NX, NY] = nii.dims as [number, number];
  let worst = 0, worstMm = 0;
  for (let k = 0; k < Z; k++) {
    for (let j = 0; j < Y; j++) {
      for (let i = 0; i < X; i++) {
        const w = apply(vol.affine, [i, j, k]);
        const v = apply(toTheirs, w).map((x) => Math.round(x));
        worstMm = Math.max(worstMm, Math.hypot(...apply(nii.affine, v).map((x, r) => x - w[r]!)));
        const theirs = nii.data[v[0]! + NX * (v[1]! + NY * v[2]!)];
        assert.ok(theirs !== undefined, `${what}: voxel (${i}, ${j}, ${k}) maps outside dcm2niix's grid (${v.join(', ')})`);
        worst = Math.max(worst, Math.abs(theirs! - vol.data[i + X * (j + Y * k)]!));
      }
    }
  }
  assert.ok(worstMm < 1e-3, `${what}: voxel positions differ by ${worstMm} mm`);
  assert.ok(worst <= tol, `${what}: values differ by ${worst} (allowed ${tol})`);
}

function dcm2niix(dir: string, label: string): Volume {
  const out = join(tmp, `nii-${label}`);
  mkdirSync(out);
  runTool('dcm2niix', ['-z', 'n', '-f', 'out', '-o', out, dir]);
  const files = readdirSync(out).filter((f) => f.endsWith('.nii'));
  assert.deepEqual(files, ['out.nii'], `${label}: dcm2niix wrote ${files.join(', ')}`);
  return readNifti(join(out, 'out.nii'));
}

test('a derived series from a DICOM source keeps patient, study and geometry, and dcmtk, gdcm and dcm2niix read it as written', async () => {
  const src = join(tmp, 'source');
  mkdirSync(src);
  pydicomOracle(ORACLE, ['series', src, '6']);
  const input = await readDicom(src);
  // A non-integer result, as a reconstruction gives.
  const result: Volume = { ...input, data: input.data.map((v, i) => v * 0.37 + 3.3 + (i % 7) * 0.01) };
  const series = encodeDerivedSeries(result, { description: 'tweedie reconstruct dds 50 steps', source: input.dicom });
  assert.equal(series.files.length, 6);
  const out = join(tmp, 'derived');
  writeSeries(out, series.files);
  const first = join(out, 'IMG00001.dcm');
  runTool('dcmdump', ['-q', first]);
  assert.equal(attr(first, '0008,0008'), 'DERIVED\\SECONDARY');
  assert.equal(attr(first, '0008,103e'), 'tweedie reconstruct dds 50 steps');
  assert.equal(attr(first, '0010,0010'), 'Oracle^Colin');
  assert.equal(attr(first, '0010,0020'), 'CH2-27');
  assert.equal(attr(first, '0020,000d'), '2.25.11');
  assert.equal(attr(first, '0020,0052'), '2.25.12');
  assert.equal(attr(first, '0008,0016'), '1.2.840.10008.5.1.4.1.1.2');
  const seriesUid = attr(first, '0020,000e');
  assert.match(seriesUid, /^2\.25\.\d{1,39}$/);
  assert.notEqual(seriesUid, input.dicom.seriesInstanceUID);
  const sops = readdirSync(out).map((f) => attr(join(out, f), '0008,0018'));
  assert.equal(new Set(sops).size, 6, 'one SOP Instance UID per file');
  assert.match(runTool('dcmdump', ['+P', '0028,0100', first]), /US 16/);
  assert.match(runTool('gdcminfo', [first]), /MediaStorage is 1\.2\.840\.10008\.5\.1\.4\.1\.1\.2/);
  const tol = series.slope / 2 + 1e-3;
  assertSameAsNifti(result, dcm2niix(out, 'dicom-source'), tol, 'dcm2niix');
  const back = await readDicom(out);
  assertSameAsNifti(result, back, tol, 'read back by tweedie');
  assert.equal(back.dicom.identity.PatientName, 'Oracle^Colin');
});

test('a derived series from a NIfTI volume (ch2) gets a minimal identity and dcm2niix reproduces the volume', async () => {
  const ch2 = readNifti('/usr/share/mricron/templates/ch2.nii.gz');
  const [X, Y] = ch2.dims as [number, number];
  const k0 = 70, Z = 4;
  const data = ch2.data.slice(k0 * X * Y, (k0 + Z) * X * Y).map((v) => v / 3);
  const affine = ch2.affine.map((r) => [...r]);
  for (let r = 0; r < 3; r++) affine[r]![3]! += affine[r]![2]! * k0;
  const vol = createVolume(Float32Array.from(data), [X, Y, Z], { affine });
  const series = encodeDerivedSeries(vol, { description: 'tweedie restore mrs 10 steps' });
  const out = join(tmp, 'from-nifti');
  writeSeries(out, series.files);
  const first = join(out, 'IMG00001.dcm');
  assert.equal(attr(first, '0010,0010'), '');
  assert.equal(attr(first, '0008,0060'), 'OT');
  assert.match(attr(first, '0020,000d'), /^2\.25\.\d+$/);
  runTool('gdcminfo', [first]);
  assertSameAsNifti(vol, dcm2niix(out, 'nifti-source'), series.slope / 2 + 1e-3, 'dcm2niix');
});

test('an integer volume is stored exactly (slope 1), a constant one too', () => {
  const ints = createVolume(Float32Array.from({ length: 24 }, (_, i) => i * 100 - 1200), [2, 3, 4]);
  const s = encodeDerivedSeries(ints, { description: 'x' });
  assert.deepEqual([s.slope, s.intercept], [1, 0]);
  const flat = encodeDerivedSeries(createVolume(new Float32Array(8).fill(2.5), [2, 2, 2]), { description: 'x' });
  assert.deepEqual([flat.slope, flat.intercept], [1, 2.5]);
});

/** Run the CLI. */
function cli(...args: string[]) {
  return spawnSync(process.execPath, [join(root, 'bin', 'tweedie.js'), ...args], { encoding: 'utf8' });
}

test('tweedie reconstruct reads a DICOM folder and writes a DICOM series (= its NIfTI output within the quantisation); folders without DICOM or with two series get one line', async () => {
  const src = join(tmp, 'cli-source');
  mkdirSync(src);
  pydicomOracle(ORACLE, ['series', src, '4']);
  const common = ['--truth', src, '--modality', 'mri', '--solver', 'ddnm', '--steps', '4', '--slices', '1:3', '--workers', '1', '--tv-z', '0'];
  const dcmOut = join(tmp, 'cli-out') + '/';
  const r = cli('reconstruct', ...common, '--out', dcmOut);
  assert.equal(r.status, 0, r.stderr);
  const nii = join(tmp, 'cli-out.nii');
  const r2 = cli('reconstruct', ...common, '--out', nii);
  assert.equal(r2.status, 0, r2.stderr);
  const back = await readDicom(dcmOut);
  const ref = readNifti(nii);
  assert.deepEqual(back.dims, ref.dims);
  for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) assert.ok(Math.abs(back.affine[i]![j]! - ref.affine[i]![j]!) < 1e-4);
  const slope = Number(attr(join(dcmOut, 'IMG00001.dcm'), '0028,1053'));
  let worst = 0;
  for (let i = 0; i < ref.data.length; i++) worst = Math.max(worst, Math.abs(back.data[i]! - ref.data[i]!));
  assert.ok(worst <= slope / 2 + 1e-3, `DICOM vs NIfTI output: ${worst}`);
  assert.match(attr(join(dcmOut, 'IMG00001.dcm'), '0008,103e'), /^tweedie reconstruct ddnm 4 steps$/);
  assert.equal(attr(join(dcmOut, 'IMG00001.dcm'), '0010,0010'), 'Oracle^Colin');
  // Writing over the input, into a folder that holds files, and reading folders without one series.
  const again = cli('reconstruct', ...common, '--out', dcmOut);
  assert.equal(again.status, 2, again.stderr);
  assert.match(again.stderr, /already holds 4 file\(s\)/);
  const empty = join(tmp, 'empty');
  mkdirSync(empty);
  writeFileSync(join(empty, 'notes.txt'), 'no images');
  for (const [folder, pattern] of [[empty, /no DICOM image files in this folder/], [join(tmp, 'two')!, /holds slices of 2 DICOM series.*--series UID\|NUMBER/]] as [string, RegExp][]) {
    if (folder.endsWith('two')) {
      mkdirSync(folder);
      pydicomOracle(ORACLE, ['series', folder, '2']);
      pydicomOracle(ORACLE, ['series', folder, '3']);
    }
    const bad = cli('reconstruct', '--truth', folder, '--modality', 'mri', '--out', join(tmp, 'never.nii'));
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, pattern);
    assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  }
});

test('tweedie restore reads a DICOM series and writes one with its geometry (= its NIfTI output within the quantisation)', async () => {
  // Two 64x64 brain slices (the held-out set of weights/brain-64) as a DICOM series with an oblique geometry.
  const held = readNpy(join(root, 'weights', 'brain-64', 'heldout.npy'));
  const data = Float32Array.from(held.data.subarray(0, 2 * 64 * 64), (v) => Number(v) * 500 + 600);
  const c = Math.cos(0.3), s = Math.sin(0.3);
  const vol = createVolume(data, [64, 64, 2], { affine: [[3 * c, -3 * s, 0, -90], [3 * s, 3 * c, 0, -100], [0, 0, 4, 20], [0, 0, 0, 1]] });
  const input = join(tmp, 'restore-in');
  writeSeries(input, encodeDerivedSeries(vol, { description: 'brain slices' }).files);
  const common = ['restore', '--input', input, '--model', join(root, 'weights', 'brain-irsde'), '--steps', '2', '--threads', '1'];
  const outDir = join(tmp, 'restore-out') + '/';
  const r = cli(...common, '--out', outDir);
  assert.equal(r.status, 0, r.stderr);
  const nii = join(tmp, 'restore-out.nii');
  const r2 = cli(...common, '--out', nii);
  assert.equal(r2.status, 0, r2.stderr);
  const back = await readDicom(outDir);
  const ref = readNifti(nii);
  assert.deepEqual(back.dims, [64, 64, 2]);
  for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) assert.ok(Math.abs(back.affine[i]![j]! - vol.affine[i]![j]!) < 1e-4, `affine ${i},${j}`);
  const slope = Number(attr(join(outDir, 'IMG00001.dcm'), '0028,1053'));
  let worst = 0;
  for (let i = 0; i < ref.data.length; i++) worst = Math.max(worst, Math.abs(back.data[i]! - ref.data[i]!));
  assert.ok(worst <= slope / 2 + 1e-3, `DICOM vs NIfTI output: ${worst}`);
  assert.equal(attr(join(outDir, 'IMG00001.dcm'), '0008,103e'), 'tweedie restore mrs 2 steps');
});
