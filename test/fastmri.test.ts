import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TweedieError } from '../src/core/errors.js';
import { fft2c, ifft2c } from '../src/core/fft.js';
import { NoiseSource } from '../src/core/rng.js';
import { Tensor } from '../src/core/tensor.js';
import { openFastmri, type FastmriFile } from '../src/io/fastmri.js';
import { readFastmriFile } from '../src/io/fastmri-file.js';
import { parseIsmrmrdHeader } from '../src/io/ismrmrd-header.js';
import { readNpy } from '../src/io/npy.js';
import { readNifti } from '../src/io/nifti.js';
import { psnr } from '../src/metrics/image.js';
import { acsCoilMaps, espiritCoilMaps } from '../src/inverse/operators/coil-maps.js';
import { coilMapsFromTensor, MultiCoilMRIOperator } from '../src/inverse/operators/mri-multicoil.js';
import { OnnxDenoiser } from '../src/models/onnx.js';
import { gridKspace, kspaceGrid, reconstructKspace } from '../src/volume/kspace-file.js';

/**
 * Raw multi-coil k-space in the fastMRI layout. Oracles: the files training/fastmri_file.py wrote
 * with h5py (test/fixtures/fastmri/*.h5) and what numpy wrote beside them (image.npy: the ground
 * truth images, rss.npy: the fully sampled RSS, maps.npy: the simulated coil maps, probe.npy: a few
 * kspace entries), and exact identities of the SENSE operator.
 */

const root = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
const FIX = join(root, 'test', 'fixtures', 'fastmri');
const FULL = join(FIX, 'ch2_8coil.h5'), PROSPECTIVE = join(FIX, 'ch2_os_4x.h5');
const side = (name: string, f: string) => readNpy(join(FIX, name, `${f}.npy`));
const info = (name: string) => JSON.parse(readFileSync(join(FIX, name, 'info.json'), 'utf8')) as { fov_mm: number; coils: number; z: number[] };
const MODEL = join(root, 'weights', 'brain-64');

function refuses(f: () => unknown, pattern: RegExp): Promise<void> {
  return assert.rejects(async () => f(), (e: unknown) => {
    assert.ok(e instanceof TweedieError, `expected a TweedieError, got ${String(e)}`);
    assert.ok(!e.message.includes('\n'), `one line: ${e.message}`);
    assert.match(e.message, pattern);
    return true;
  });
}

test('the reader returns what h5py wrote: shapes, dtype, header, attributes, kspace entries and reconstruction_rss exactly', async () => {
  const f = await readFastmriFile(FULL);
  try {
    assert.deepEqual([f.slices, f.coils, f.rows, f.cols], [2, 8, 64, 64]);
    assert.equal(f.dtype, 'complex64 (compound r, i)');
    const fov = info('ch2_8coil').fov_mm;
    assert.deepEqual(f.header?.encodedSpace, { matrixSize: { x: 64, y: 64, z: 1 }, fieldOfView_mm: { x: fov, y: fov, z: 3 } });
    assert.equal(f.attrs.acquisition, 'AXT1');
    const rss = side('ch2_8coil', 'rss');
    assert.deepEqual(Array.from(f.rss!.data), Array.from(rss.data));
    assert.equal(f.attrs.max, Math.max(...rss.data));
    const probe = side('ch2_8coil', 'probe');
    for (let k = 0; k < probe.shape[0]!; k++) {
      const [z, c, i, j, re, im] = Array.from(probe.data.subarray(6 * k, 6 * k + 6));
      const s = f.readSlice(z!), at = (c! * f.rows + i!) * f.cols + j!;
      assert.equal(s.re[at], re);
      assert.equal(s.im[at], im);
    }
  } finally {
    f.close();
  }
  const p = await readFastmriFile(PROSPECTIVE);
  try {
    assert.deepEqual([p.slices, p.coils, p.rows, p.cols, p.rss], [1, 4, 128, 64, null]);
    assert.deepEqual([p.header!.encodedSpace.matrixSize.x, p.header!.reconSpace.matrixSize.x, p.header!.encodedSpace.fieldOfView_mm.x], [128, 64, 2 * info('ch2_os_4x').fov_mm]);
    assert.equal(p.mask!.length, 64);
    assert.equal(p.attrs.acceleration, 4);
    const s = p.readSlice(0);
    for (let j = 0; j < 64; j++) {
      let any = false;
      for (let k = j; k < s.re.length; k += 64) any ||= s.re[k] !== 0 || s.im[k] !== 0;
      assert.equal(any, p.mask![j]! > 0, `column ${j}: nonzero exactly where the mask samples`);
    }
  } finally {
    p.close();
  }
});

test('the ISMRMRD header parser takes namespace prefixes, comments and attributes, and names what is missing', () => {
  const xml = `<?xml version="1.0"?><!-- <encodedSpace> in a comment --><ismrmrd:ismrmrdHeader xmlns:ismrmrd="x"><ismrmrd:encoding>
    <ismrmrd:encodedSpace><ismrmrd:matrixSize><ismrmrd:x>640</ismrmrd:x><ismrmrd:y>368</ismrmrd:y><ismrmrd:z>1</ismrmrd:z></ismrmrd:matrixSize>
    <ismrmrd:fieldOfView_mm><ismrmrd:x>440</ismrmrd:x><ismrmrd:y>221.76</ismrmrd:y><ismrmrd:z>7.5</ismrmrd:z></ismrmrd:fieldOfView_mm></ismrmrd:encodedSpace>
    <ismrmrd:reconSpace a="1"><ismrmrd:matrixSize><ismrmrd:x>320</ismrmrd:x><ismrmrd:y>320</ismrmrd:y><ismrmrd:z>1</ismrmrd:z></ismrmrd:matrixSize>
    <ismrmrd:fieldOfView_mm><ismrmrd:x>220</ismrmrd:x><ismrmrd:y>220</ismrmrd:y><ismrmrd:z>7.5</ismrmrd:z></ismrmrd:fieldOfView_mm></ismrmrd:reconSpace></ismrmrd:encoding></ismrmrd:ismrmrdHeader>`;
  const h = parseIsmrmrdHeader(xml, 'h.xml');
  assert.deepEqual(h.encodedSpace.matrixSize, { x: 640, y: 368, z: 1 });
  assert.deepEqual(h.encodedSpace.fieldOfView_mm, { x: 440, y: 221.76, z: 7.5 });
  assert.deepEqual(h.reconSpace.matrixSize, { x: 320, y: 320, z: 1 });
  assert.throws(() => parseIsmrmrdHeader(xml.replace('<ismrmrd:y>368</ismrmrd:y>', '<ismrmrd:y>3x</ismrmrd:y>'), 'h.xml'), /h\.xml: ISMRMRD <encodedSpace><matrixSize><y> is "3x"/);
  assert.throws(() => parseIsmrmrdHeader('<ismrmrdHeader/>', 'h.xml'), /no <encoding>/);
});

test('the SENSE operator with the fixture maps: <A x, y> = <x, A^H y>, and fully sampled A^H A = I (sum |S|^2 = 1)', () => {
  const maps = coilMapsFromTensor(side('ch2_8coil', 'maps'));
  const noise = new NoiseSource(3);
  for (const complex of [false, true]) {
    const mask = new Float64Array(64 * 64).map((_, i) => (i % 64) % 3 === 0 ? 1 : 0);
    const op = new MultiCoilMRIOperator([complex ? 2 : 1, 64, 64], { mask, maps, complex });
    const x = noise.normal([1, ...op.inShape], 0, 0, 'float64');
    const y = noise.normal([1, ...op.outShape], 1, 0, 'float64');
    const ax = op.forward(x), ahy = op.adjoint(y);
    let l = 0, r = 0;
    for (let i = 0; i < ax.size; i++) l += ax.data[i]! * y.data[i]!;
    for (let i = 0; i < x.size; i++) r += x.data[i]! * ahy.data[i]!;
    assert.ok(Math.abs(l - r) < 1e-9 * Math.abs(l), `adjoint identity (${complex ? 'complex' : 'real'}): ${l} vs ${r}`);
  }
  // float32 maps: sum |S|^2 = 1 to float32 rounding, so A^H A x = x to ~1e-6.
  const full = new MultiCoilMRIOperator([2, 64, 64], { mask: new Float64Array(4096).fill(1), maps, complex: true });
  const x = noise.normal([1, 2, 64, 64], 2, 0, 'float64');
  const back = full.adjoint(full.forward(x));
  for (let i = 0; i < x.size; i++) assert.ok(Math.abs(back.data[i]! - x.data[i]!) < 1e-5, `A^H A x = x at ${i}`);
});

test('fully sampled k-space combined with the true maps is the ground-truth image to float32 precision', async () => {
  const f = await readFastmriFile(FULL);
  const maps = coilMapsFromTensor(side('ch2_8coil', 'maps')), image = side('ch2_8coil', 'image');
  const op = new MultiCoilMRIOperator([2, 64, 64], { mask: new Float64Array(4096).fill(1), maps, complex: true });
  try {
    for (let z = 0; z < f.slices; z++) {
      const s = f.readSlice(z), y = new Tensor([1, 8, 64, 64, 2], new Float64Array(2 * s.re.length));
      for (let k = 0; k < s.re.length; k++) [y.data[2 * k], y.data[2 * k + 1]] = [s.re[k]!, s.im[k]!];
      const x = op.adjoint(y).data;
      let peak = 0, worst = 0, worstIm = 0;
      for (let i = 0; i < 4096; i++) {
        const truth = image.data[z * 4096 + i]!;
        peak = Math.max(peak, truth);
        worst = Math.max(worst, Math.abs(x[i]! - truth));
        worstIm = Math.max(worstIm, Math.abs(x[4096 + i]!));
      }
      assert.ok(worst < 2e-6 * peak && worstIm < 2e-6 * peak, `slice ${z}: max error ${worst} (imaginary ${worstIm}) for a peak of ${peak}`);
    }
  } finally {
    f.close();
  }
});

test('maps from the ACS lines reproduce the fully sampled image: PSNR against the RSS above 50 dB from 5 lines, 40 dB from 3', async () => {
  const f = await readFastmriFile(FULL);
  const rss = side('ch2_8coil', 'rss');
  try {
    for (const [lines, floor] of [[5, 50], [3, 40]] as const) {
      const s = f.readSlice(0), columns = new Uint8Array(64);
      columns.fill(1, 32 - Math.floor(lines / 2), 32 - Math.floor(lines / 2) + lines);
      const maps = acsCoilMaps(s.re, s.im, 8, 64, 64, columns, '--acs');
      const ir = s.re.slice(), ii = s.im.slice();
      ifft2c(ir, ii, [8, 64, 64]);
      const combined = new Float32Array(4096);
      for (let i = 0; i < 4096; i++) {
        let zr = 0, zi = 0;
        for (let c = 0; c < 8; c++) {
          const k = c * 4096 + i, ar = maps.re[k]!, ai = maps.im[k]!;
          zr += ar * ir[k]! + ai * ii[k]!;
          zi += ar * ii[k]! - ai * ir[k]!;
        }
        combined[i] = Math.hypot(zr, zi);
      }
      const ref = new Tensor([1, 1, 64, 64], rss.data.slice(0, 4096));
      const p = psnr(new Tensor([1, 1, 64, 64], combined), ref, Math.max(...ref.data))[0]!;
      assert.ok(p > floor, `${lines} ACS lines: ${p.toFixed(2)} dB`);
    }
    const s = f.readSlice(0), two = new Uint8Array(64).fill(1, 31, 33);
    assert.throws(() => acsCoilMaps(s.re, s.im, 8, 64, 64, two, '--acs F'), /at least 3 .* but the mask has 2 of 64; raise them with --acs F/);
    assert.throws(() => espiritCoilMaps(s.re, s.im, 8, 64, 64, two, '--acs F'), /raise them with --acs F/);
  } finally {
    f.close();
  }
});

test('ESPIRiT maps from 5 ACS lines lie closer to the true maps than the low-resolution ones (mean 1 - Re<S, S_true> over the head)', async (t) => {
  const f = await readFastmriFile(FULL);
  try {
    const s = f.readSlice(0), truth = side('ch2_8coil', 'maps').data, rss = side('ch2_8coil', 'rss').data;
    const columns = new Uint8Array(64).fill(1, 30, 35), peak = Math.max(...rss.subarray(0, 4096));
    const misfit = (m: { re: Float64Array; im: Float64Array }) => {
      let e = 0, count = 0;
      for (let i = 0; i < 4096; i++) {
        if (rss[i]! < 0.1 * peak) continue;
        let dot = 0;
        for (let c = 0; c < 8; c++) dot += m.re[c * 4096 + i]! * truth[2 * (c * 4096 + i)]! + m.im[c * 4096 + i]! * truth[2 * (c * 4096 + i) + 1]!;
        e += 1 - dot;
        count++;
      }
      return e / count;
    };
    const acs = misfit(acsCoilMaps(s.re, s.im, 8, 64, 64, columns, '--acs')), espirit = misfit(espiritCoilMaps(s.re, s.im, 8, 64, 64, columns, '--acs'));
    t.diagnostic(`1 - Re<S, S_true>: acs ${acs.toExponential(2)}, espirit ${espirit.toExponential(2)}`);
    assert.ok(espirit < 0.6 * acs && espirit < 3e-3, `espirit ${espirit} vs acs ${acs}`);
  } finally {
    f.close();
  }
});

test('readout oversampling is removed exactly: the cropped coil images, back in k-space', () => {
  // A fake 2x-oversampled file whose coil images are zero outside the central rows.
  const C = 2, rows = 16, cols = 8, h = 8, n = h * cols, noise = new NoiseSource(5);
  const imgRe = noise.normal([C * n], 0, 0, 'float64').data, imgIm = noise.normal([C * n], 1, 0, 'float64').data;
  const re = new Float64Array(C * rows * cols), im = new Float64Array(C * rows * cols);
  for (let c = 0; c < C; c++) for (let k = 0; k < n; k++) [re[c * rows * cols + 4 * cols + k], im[c * rows * cols + 4 * cols + k]] = [imgRe[c * n + k]!, imgIm[c * n + k]!];
  fft2c(re, im, [C, rows, cols]);
  const header = { matrixSize: { x: h, y: cols, z: 1 }, fieldOfView_mm: { x: 200, y: 200, z: 5 } };
  const file = {
    name: 'fake', slices: 1, coils: C, rows, cols, rss: null, mask: null, attrs: {}, datasets: ['kspace'], dtype: 'complex128',
    header: { encodedSpace: { ...header, matrixSize: { x: rows, y: cols, z: 1 } }, reconSpace: header },
    readSlice: () => ({ re: re.slice(), im: im.slice() }), close: () => undefined,
  } satisfies FastmriFile;
  const g = kspaceGrid(file);
  assert.deepEqual([g.rows, g.cols, g.rowStart, g.outRows, g.outCols], [8, 8, 4, 8, 8]);
  assert.deepEqual(g.voxel, [25, 25, 5]);
  const got = gridKspace(file, 0, g), wantRe = Float64Array.from(imgRe), wantIm = Float64Array.from(imgIm);
  fft2c(wantRe, wantIm, [C, h, cols]);
  for (let k = 0; k < C * n; k++) assert.ok(Math.abs(got.re[k]! - wantRe[k]!) < 1e-12 && Math.abs(got.im[k]! - wantIm[k]!) < 1e-12, `entry ${k}`);
});

test('dds with the brain prior beats zero-filled at 4x against the RSS, and the true maps beat the ESPIRiT maps, which beat the low-resolution ones (retrospective and prospective files)', async (t) => {
  const model = await OnnxDenoiser.load(MODEL, { threads: 1, backend: 'cpu' });
  const q = 0.48; // the 99.5th percentile of weights/brain-64/heldout.npy (the CLI reads it from the file)
  try {
    const f = await readFastmriFile(FULL);
    try {
      const acs = await reconstructKspace(f, model, { solver: 'dds', steps: 20, accel: 4, slices: [0, 1], modelPercentile: q, mapsMethod: 'acs' });
      const espirit = await reconstructKspace(f, model, { solver: 'dds', steps: 20, accel: 4, slices: [0, 1], modelPercentile: q });
      const truth = await reconstructKspace(f, model, { solver: 'dds', steps: 20, accel: 4, slices: [0, 1], modelPercentile: q, maps: side('ch2_8coil', 'maps') });
      t.diagnostic(`4x, 20 steps: zero-filled ${acs.psnr_zero_filled!.toFixed(2)} dB, dds with acs maps ${acs.psnr!.toFixed(2)} dB, espirit ${espirit.psnr!.toFixed(2)} dB, the true maps ${truth.psnr!.toFixed(2)} dB`);
      assert.ok(espirit.psnr! > acs.psnr! + 1, `espirit ${espirit.psnr} dB vs acs ${acs.psnr} dB`);
      assert.equal(acs.referenceSource, 'reconstruction_rss');
      assert.ok(acs.psnr! > acs.psnr_zero_filled! + 4, `ACS maps: dds ${acs.psnr} dB vs zero-filled ${acs.psnr_zero_filled} dB`);
      assert.ok(acs.ssim! > acs.ssim_zero_filled! + 0.2, `ACS maps: SSIM ${acs.ssim} vs ${acs.ssim_zero_filled}`);
      assert.ok(truth.psnr! > acs.psnr! + 2, `true maps ${truth.psnr} dB vs ACS maps ${acs.psnr} dB`);
    } finally {
      f.close();
    }
    const p = await readFastmriFile(PROSPECTIVE);
    try {
      const zf = await reconstructKspace(p, null, { solver: 'zero-filled', steps: 1 });
      const r = await reconstructKspace(p, model, { solver: 'dds', steps: 20, modelPercentile: q });
      assert.equal(r.psnr, null, 'a prospective file has no reference');
      assert.match(r.sampling, /the file's mask/);
      const rss = side('ch2_os_4x', 'rss'), ref = new Tensor([1, 1, 64, 64], rss.data), peak = Math.max(...rss.data);
      const pz = psnr(new Tensor([1, 1, 64, 64], zf.image), ref, peak)[0]!, pr = psnr(new Tensor([1, 1, 64, 64], r.image), ref, peak)[0]!;
      t.diagnostic(`prospective 4x: zero-filled ${pz.toFixed(2)} dB, dds ${pr.toFixed(2)} dB`);
      assert.ok(pr > pz + 4, `prospective 4x with readout oversampling: dds ${pr} dB vs zero-filled ${pz} dB against numpy's RSS`);
      await refuses(() => reconstructKspace(p, null, { solver: 'zero-filled', steps: 1, accel: 4 }), /already undersampled .*drop --accel/);
    } finally {
      p.close();
    }
  } finally {
    await model.release();
  }
});

test('bad files are refused in one line naming the file and what it holds', async () => {
  await refuses(() => readFastmriFile(join(FIX, 'bad', 'no_kspace.h5')), /no_kspace\.h5 holds no "kspace" dataset \(it has "ismrmrd_header", "reconstruction_rss"\)/);
  await refuses(() => readFastmriFile(join(FIX, 'bad', 'int16_kspace.h5')), /kspace is int16 \[1, 2, 8, 8\]; expected complex/);
  await refuses(() => readFastmriFile(join(FIX, 'bad', 'huge_kspace.h5')), /kspace \[1000000, 64, 640, 368\] is larger than tweedie reads/);
  const bytes = readFileSync(FULL);
  for (const cut of [10, 1000, bytes.length >> 1]) await refuses(() => openFastmri(bytes.subarray(0, cut), `cut${cut}.h5`), new RegExp(`cut${cut}\\.h5: cannot read .* as HDF5`));
  await refuses(() => openFastmri(new TextEncoder().encode('not hdf5 at all'), 'text.h5'), /text\.h5: cannot read the file as HDF5 \(file signature not found\)/);
  // The module still reads a good file after all of that.
  const f = await openFastmri(bytes, 'good.h5');
  assert.equal(f.slices, 2);
  f.close();
});

test('the command line: reconstruct --measurement FILE.h5 writes the image and the RSS, runs a prior with a layout on the file grid; too few ACS lines name --acs; a bad file is one line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tweedie-fastmri-'));
  const cli = (...args: string[]) => spawnSync(process.execPath, [join(root, 'bin', 'tweedie.js'), 'reconstruct', ...args], { encoding: 'utf8' });
  const ok = cli('--measurement', FULL, '--accel', '4', '--solver', 'zero-filled', '--out', join(dir, 'zf.nii.gz'), '--out-rss', join(dir, 'rss.nii.gz'), '--json');
  assert.equal(ok.status, 0, ok.stderr);
  const summary = JSON.parse(ok.stdout) as { psnr: number; grid: number[]; sampling: string };
  assert.deepEqual(summary.grid, [64, 64]);
  const rssVol = readNifti(join(dir, 'rss.nii.gz')), rss = side('ch2_8coil', 'rss');
  assert.deepEqual(rssVol.dims, [64, 64, 2]);
  // NIfTI i = column, j = row from the bottom: voxel (c, 63 - r, z) is rss[z, r, c].
  for (const [z, r, c] of [[0, 10, 20], [1, 40, 33]] as const) assert.equal(rssVol.data[c + 64 * (63 - r + 64 * z)], rss.data[(z * 64 + r) * 64 + c]);
  assert.ok(Math.abs(rssVol.voxelSize[0]! - info('ch2_8coil').fov_mm / 64) < 1e-4);
  // A prior with a layout (gaussian-field: default 32x32, "multiple" 8) runs on the file's 64x64 grid.
  const native = cli('--measurement', FULL, '--accel', '4', '--slices', '0:1', '--model', join(root, 'weights', 'gaussian-field'), '--steps', '10', '--out', join(dir, 'g.nii.gz'), '--json');
  assert.equal(native.status, 0, native.stderr);
  const g = JSON.parse(native.stdout) as { psnr: number; psnr_zero_filled: number; grid: number[] };
  assert.deepEqual(g.grid, [64, 64]);
  assert.ok(g.psnr > g.psnr_zero_filled + 2, `gaussian-field on the 64x64 grid: ${g.psnr} dB vs zero-filled ${g.psnr_zero_filled} dB`);
  const few = cli('--measurement', FULL, '--accel', '8', '--acs', '0.02', '--solver', 'zero-filled', '--out', join(dir, 'x.nii.gz'));
  assert.notEqual(few.status, 0);
  assert.equal(few.stderr.trim().split('\n').length, 1, few.stderr);
  assert.match(few.stderr, /ACS\) lines, but the mask has 1 of 64; raise them with --acs F/);
  const bad = cli('--measurement', join(FIX, 'bad', 'no_kspace.h5'), '--out', join(dir, 'y.nii.gz'));
  assert.notEqual(bad.status, 0);
  assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  assert.match(bad.stderr, /holds no "kspace" dataset/);
});
