import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pydicomOracle, runTool } from '../bench/lib/dicom-tools.js';
import { encodeNpy, readNpy } from '../src/io/npy.js';
import { Tensor } from '../src/core/tensor.js';

// Every command that reads images takes DICOM (and NIfTI, .png) through one reader: solve --truth, diagnose --data,
// likelihood --data, as restore and reconstruct do. Oracles: pydicom's decoding of its own test file and of a
// series it wrote, the pinv of inpainting (exactly the data outside the box, 0 inside), and the same command on
// pydicom's values written as .npy.

const ORACLE = fileURLToPath(new URL('../../test/helpers/dicom_oracle.py', import.meta.url));
const root = fileURLToPath(new URL('../../', import.meta.url));
const MR_SMALL = '/usr/lib/python3/dist-packages/pydicom/data/test_files/MR_small.dcm';
const GMM = `gmm:${join(root, 'examples', 'patterns-8x8.json')}`;
let tmp = '';
before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'tweedie-image-inputs-'));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

function cli(...args: string[]) {
  return spawnSync(process.execPath, [join(root, 'bin', 'tweedie.js'), ...args], { encoding: 'utf8' });
}

/** pydicom's rescaled decoding of DICOM files, [frames, rows, cols]. */
function pydicomDecode(name: string, files: string[]): Tensor {
  const out = join(tmp, `${name}.npy`);
  pydicomOracle(ORACLE, ['decode', out, ...files]);
  return readNpy(out);
}

/** Map values linearly from their [min, max] to [-1, 1] (the documented mapping of a volume into a model's range). */
function toModelRange(t: Tensor): Float64Array {
  let lo = Infinity, hi = -Infinity;
  for (const v of t.data) lo = Math.min(lo, Number(v)), hi = Math.max(hi, Number(v));
  return Float64Array.from(t.data, (v) => -1 + (2 * (Number(v) - lo)) / (hi - lo));
}

/** dcmdump's value of one attribute of a file. */
function attr(file: string, tag: string): string {
  const line = runTool('dcmdump', ['-Un', '+P', tag, file]).trim();
  return /\[(.*)\]/.exec(line)?.[1] ?? '';
}

test('solve --truth takes a DICOM file: pinv of inpainting keeps the data outside the box, as .npy and as a derived DICOM series', () => {
  const truth = pydicomDecode('mr-small', [MR_SMALL]);
  const [, rows, cols] = truth.shape as [number, number, number];
  let lo = Infinity, hi = -Infinity;
  for (const v of truth.data) lo = Math.min(lo, Number(v)), hi = Math.max(hi, Number(v));
  const common = ['solve', '--operator', 'inpaint:box=16', '--solver', 'pinv', '--truth', MR_SMALL];
  const npy = join(tmp, 'solve.npy');
  const r = cli(...common, '--out', npy, '--json');
  assert.equal(r.status, 0, r.stderr);
  const x = readNpy(npy), want = toModelRange(truth);
  assert.deepEqual(x.shape, [1, 1, rows, cols]);
  let inBox = 0;
  for (let i = 0; i < want.length; i++) {
    const v = Number(x.data[i]);
    if (Math.abs(v - want[i]!) <= 1e-6) continue;
    assert.equal(Math.abs(v), 0, `pixel ${i}: ${v} is neither the data ${want[i]} nor the pseudo-inverse's 0 in the box`);
    inBox++;
  }
  assert.ok(inBox > 0 && inBox <= 16 * 16, `${inBox} pixels changed`);

  const dcmOut = join(tmp, 'solve-dicom') + '/';
  const d = cli(...common, '--out', dcmOut);
  assert.equal(d.status, 0, d.stderr);
  const file = join(dcmOut, 'IMG00001.dcm');
  const back = pydicomDecode('solve-back', [file]);
  const slope = Number(attr(file, '0028,1053'));
  const mid = (lo + hi) / 2;
  let changed = 0;
  for (let i = 0; i < back.size; i++) {
    const v = Number(back.data[i]);
    if (Math.abs(v - Number(truth.data[i])) <= slope / 2 + 1e-6) continue;
    assert.ok(Math.abs(v - mid) <= slope / 2 + 1e-6, `pixel ${i}: ${v} is neither the data ${truth.data[i]} nor the box's ${mid}`);
    changed++;
  }
  assert.equal(changed, inBox);
  assert.match(attr(file, '0008,0008'), /^DERIVED/);
  assert.equal(attr(file, '0008,103e'), 'tweedie solve pinv');
  assert.equal(attr(file, '0010,0010'), attr(MR_SMALL, '0010,0010'));
});

test('diagnose --data and likelihood --data take a DICOM folder: the same figures as pydicom\'s values given as .npy', () => {
  const src = join(tmp, 'patches');
  mkdirSync(src);
  pydicomOracle(ORACLE, ['series', src, '6', '8']);
  const expected = join(tmp, 'patches-expected.npy');
  pydicomOracle(ORACLE, ['expected', expected, '6', '8']);
  const values = readNpy(expected);
  const asNpy = join(tmp, 'patches.npy');
  writeFileSync(asNpy, encodeNpy(new Tensor([6, 1, 8, 8], Float32Array.from(toModelRange(values)))));
  const strip = (s: string) => JSON.stringify({ ...JSON.parse(s), seconds: 0, seconds_per_item: 0 });
  for (const args of [
    ['diagnose', '--model', GMM, '--levels', '2', '--probes', '2', '--points', '2', '--lid-levels', '0', '--json'],
    ['likelihood', '--model', GMM, '--json'],
  ]) {
    const a = cli(...args, '--data', src), b = cli(...args, '--data', asNpy);
    assert.equal(a.status, 0, a.stderr);
    assert.equal(b.status, 0, b.stderr);
    assert.equal(strip(a.stdout), strip(b.stdout), args[0]);
  }
});

test('image inputs that do not fit get one line naming the input and the fix', () => {
  const three = join(tmp, 'three'), other = join(tmp, 'other'), two = join(tmp, 'two');
  for (const d of [three, other, two]) mkdirSync(d);
  pydicomOracle(ORACLE, ['series', three, '3', '8']);
  pydicomOracle(ORACLE, ['series', other, '2', '8']);
  // Two series in one folder: the 3 slices and the 2 of another series.
  for (const [dir, prefix] of [[three, 'A'], [other, 'B']] as const) for (const f of readdirSync(dir)) copyFileSync(join(dir, f), join(two, `${prefix}-${f}`));
  const notes = join(tmp, 'notes.txt');
  writeFileSync(notes, 'no image');
  const cases: [string[], RegExp][] = [
    [['solve', '--operator', 'inpaint:box=2', '--solver', 'pinv', '--truth', notes, '--out', join(tmp, 'n.npy')], /--truth .*notes\.txt: use a \.npy, \.png, \.nii or \.nii\.gz file, or DICOM/],
    [['solve', '--operator', 'inpaint:box=2', '--solver', 'pinv', '--truth', three, '--out', join(tmp, 'n.npy')], /--truth .*three holds 3 images; solve takes one/],
    [['solve', '--operator', 'inpaint:box=2', '--solver', 'pinv', '--truth', join(root, 'examples', 'patterns-truth.npy'), '--out', join(tmp, 'n.nii')], /--out .*n\.nii: NIfTI and DICOM output keep a NIfTI or DICOM --truth's geometry/],
    [['diagnose', '--model', GMM, '--data', two], /holds slices of 2 DICOM series.*--series UID\|NUMBER/],
    [['likelihood', '--model', GMM, '--data', notes], /--data .*notes\.txt: use a \.npy, \.png/],
  ];
  for (const [args, pattern] of cases) {
    const r = cli(...args);
    assert.notEqual(r.status, 0, args.join(' '));
    assert.match(r.stderr, pattern);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  // --series picks one series of the two.
  const uid = attr(join(three, readdirSync(three)[0]!), '0020,000e');
  const picked = cli('likelihood', '--model', GMM, '--data', two, '--series', uid, '--json');
  assert.equal(picked.status, 0, picked.stderr);
  assert.equal(JSON.parse(picked.stdout).n, 3);
});
