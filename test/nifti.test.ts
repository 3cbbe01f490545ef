import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { TweedieError } from '../src/core/errors.js';
import { Tensor } from '../src/core/tensor.js';
import { INFLATE_SLACK_BYTES } from '../src/io/validate.js';
import { encodeNifti, parseNifti, parseNiftiHeader, readNifti, writeNifti } from '../src/io/nifti.js';
import {
  affineToQuatern,
  createVolume,
  describeVolume,
  qformAffine,
  requireVolume3D,
  selectVolume,
  setSlice,
  sliceAxial,
  type Volume,
} from '../src/io/volume.js';

/** assert.throws validator: a TweedieError with this code whose message matches every pattern. */
const tweedie = (code: string, ...patterns: RegExp[]) => (e: unknown): boolean => {
  assert.ok(e instanceof TweedieError, `expected a TweedieError, got ${String(e)}`);
  assert.equal(e.code, code, e.message);
  for (const p of patterns) assert.match(e.message, p);
  return true;
};

const TEMPLATES = '/usr/share/mricron/templates';
/** The path of a mricron-data template; fails (never skips) when the package is missing. */
function template(name: string): string {
  const path = join(TEMPLATES, name);
  if (!existsSync(path)) {
    assert.fail(`${path} is missing: these tests read the real T1 volumes of the Debian package mricron-data; install it with "apt-get install mricron-data"`);
  }
  return path;
}

const tmp = (): string => mkdtempSync(join(tmpdir(), 'tweedie-nifti-'));

// -------------------------------------------------------------------- the real volumes
//
// Expected values were read once from the header bytes with /usr/bin/python3 + numpy (no
// nibabel), independently of src/io/nifti.ts:
//
//   import gzip, struct, numpy as np
//   b = gzip.open('/usr/share/mricron/templates/ch2.nii.gz').read()
//   struct.unpack('<8h', b[40:56]); struct.unpack('<8f', b[76:108])        # dim, pixdim
//   struct.unpack('<hh', b[70:74]); struct.unpack('<f', b[108:112])        # datatype, bitpix; vox_offset
//   struct.unpack('<ff', b[112:120]); b[123]                                # scl_slope, scl_inter; xyzt_units
//   struct.unpack('<hh', b[252:256]); struct.unpack('<6f', b[256:280])      # qform_code, sform_code; quatern, qoffset
//   struct.unpack('<12f', b[280:328]); b[148:228].split(b'\0')[0]          # srow_x,y,z; descrip
//   a = np.frombuffer(b[352:], '<u1', count=181*217*181).astype(np.float64)  # ('<f4' for inia19)
//   a.sum(); a.max(); (a != 0).sum(); a.reshape(Z, Y, X)[k, j, i]
//
// All four are little-endian NIfTI-1 with vox_offset 352, scl_slope 1, scl_inter 0.

interface Expected {
  file: string;
  dims: number[];
  voxelSize: number[];
  datatype: number;
  qform_code: number;
  sform_code: number;
  xyzt_units: number;
  descrip: string;
  affine: number[][];
  sum: number;
  max: number;
  nonzero: number;
  /** [i, j, k, value] */
  voxels: [number, number, number, number][];
}

const REAL: Expected[] = [
  {
    file: 'ch2.nii.gz', dims: [181, 217, 181], voxelSize: [1, 1, 1], datatype: 2, qform_code: 0, sform_code: 4, xyzt_units: 0,
    descrip: 'spm - algebra',
    affine: [[1, 0, 0, -90], [0, 1, 0, -125], [0, 0, 1, -71], [0, 0, 0, 1]],
    sum: 317151210, max: 254, nonzero: 4151607, voxels: [[90, 108, 90, 33], [40, 50, 60, 86]],
  },
  {
    file: 'ch2bet.nii.gz', dims: [181, 217, 181], voxelSize: [1, 1, 1], datatype: 2, qform_code: 0, sform_code: 4, xyzt_units: 0,
    descrip: 'spm - algebra',
    affine: [[1, 0, 0, -90], [0, 1, 0, -125], [0, 0, 1, -71], [0, 0, 0, 1]],
    sum: 158526435, max: 133, nonzero: 1737193, voxels: [[90, 108, 90, 33], [40, 50, 60, 86]],
  },
  {
    file: 'ch2better.nii.gz', dims: [301, 370, 316], voxelSize: [0.5, 0.5, 0.5], datatype: 2, qform_code: 1, sform_code: 1, xyzt_units: 0,
    descrip: 'spm - algebra',
    affine: [[0.5, 0, 0, -75], [0, 0.5, 0, -107], [0, 0, 0.5, -69.5], [0, 0, 0, 1]],
    sum: 1222013263, max: 130, nonzero: 13023249, voxels: [[150, 185, 158, 62], [40, 50, 60, 0]],
  },
  {
    file: 'inia19-t1-brain.nii.gz', dims: [168, 206, 128], voxelSize: [0.5, 0.5, 0.5], datatype: 16, qform_code: 0, sform_code: 1, xyzt_units: 0,
    descrip: 'https://www.nitrc.org/projects/inia19/ PMID: 23230398 CC-BY',
    affine: [[0.5, 0, 0, -42], [0, 0.5, 0, -57.5], [0, 0, 0.5, -30], [0, 0, 0, 1]],
    sum: 75356682.64319038, max: 383.175537109375, nonzero: 874576, voxels: [[84, 103, 64, 88.77368927001953], [40, 50, 60, 103.24999237060547]],
  },
];

const at = (v: Volume, i: number, j: number, k: number): number => v.data[i + v.dims[0]! * (j + v.dims[1]! * k)]!;

for (const ex of REAL) {
  test(`${ex.file}: dims, voxel size, affine, header fields and intensities match the header bytes`, () => {
    const v = readNifti(template(ex.file));
    assert.deepEqual(v.dims, ex.dims);
    assert.deepEqual(v.voxelSize, ex.voxelSize);
    assert.deepEqual(v.affine, ex.affine);
    const h = v.header;
    assert.equal(h.version, 1);
    assert.equal(h.littleEndian, true);
    assert.equal(h.datatype, ex.datatype);
    assert.equal(h.qform_code, ex.qform_code);
    assert.equal(h.sform_code, ex.sform_code);
    assert.equal(h.xyzt_units, ex.xyzt_units);
    assert.equal(h.descrip, ex.descrip);
    assert.equal(h.vox_offset, 352);
    assert.equal(h.scl_slope, 1);
    assert.equal(v.data.length, ex.dims[0]! * ex.dims[1]! * ex.dims[2]!);
    let sum = 0, max = -Infinity, nonzero = 0;
    for (const x of v.data) {
      sum += x;
      if (x > max) max = x;
      if (x !== 0) nonzero++;
    }
    assert.ok(Math.abs(sum - ex.sum) <= 1e-9 * ex.sum, `sum ${sum} vs ${ex.sum}`);
    assert.equal(max, ex.max);
    assert.equal(nonzero, ex.nonzero);
    for (const [i, j, k, value] of ex.voxels) assert.equal(at(v, i, j, k), value, `voxel (${i}, ${j}, ${k})`);
    // When a qform is set it must agree with the sform for these files.
    if (h.qform_code > 0) assert.deepEqual(qformAffine(h), ex.affine);
    assert.match(describeVolume(v), new RegExp(`^${ex.dims.join('x')} `));
  });
}

test('ch2: float32 round trip through .nii is bit-exact and keeps the geometry fields', () => {
  const v = readNifti(template('ch2.nii.gz'));
  const dir = tmp();
  try {
    const path = join(dir, 'ch2-f32.nii');
    writeNifti(path, v);
    const bytes = readFileSync(path);
    assert.equal(bytes.length, 352 + 4 * v.data.length);
    const back = readNifti(path);
    assert.equal(back.header.datatype, 16);
    assert.equal(back.header.scl_slope, 1);
    assert.equal(back.header.scl_inter, 0);
    assert.ok(Buffer.from(back.data.buffer, back.data.byteOffset, back.data.byteLength).equals(Buffer.from(v.data.buffer, v.data.byteOffset, v.data.byteLength)));
    assert.deepEqual(back.dims, v.dims);
    assert.deepEqual(back.voxelSize, v.voxelSize);
    assert.deepEqual(back.affine, v.affine);
    for (const key of ['qform_code', 'sform_code', 'quatern_b', 'quatern_c', 'quatern_d', 'qoffset_x', 'qoffset_y', 'qoffset_z', 'xyzt_units', 'descrip', 'intent_code', 'intent_name', 'cal_min', 'cal_max'] as const) {
      assert.equal(back.header[key], v.header[key], key);
    }
    assert.deepEqual([back.header.srow_x, back.header.srow_y, back.header.srow_z], [v.header.srow_x, v.header.srow_y, v.header.srow_z]);
    assert.deepEqual(back.header.pixdim.slice(0, 4), v.header.pixdim.slice(0, 4));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('inia19 (float32) and ch2bet (uint8, original datatype): .nii.gz round trips are exact', () => {
  const dir = tmp();
  try {
    const inia = readNifti(template('inia19-t1-brain.nii.gz'));
    const p1 = join(dir, 'inia.nii.gz');
    writeNifti(p1, inia);
    const b1 = readFileSync(p1);
    assert.deepEqual([b1[0], b1[1]], [0x1f, 0x8b], 'gzip written for a .gz path');
    const back1 = readNifti(p1);
    assert.deepEqual(back1.data, inia.data);
    assert.deepEqual(back1.affine, inia.affine);
    assert.equal(back1.header.sform_code, 1);
    assert.equal(back1.header.qform_code, 0);

    const bet = readNifti(template('ch2bet.nii.gz'));
    const p2 = join(dir, 'bet.nii.gz');
    writeNifti(p2, bet, { datatype: 'original' });
    const raw = gunzipSync(readFileSync(p2));
    assert.equal(raw.length, 352 + bet.data.length, 'stored as uint8, one byte a voxel');
    const back2 = readNifti(p2);
    assert.equal(back2.header.datatype, 2);
    assert.deepEqual(back2.data, bet.data);
    assert.deepEqual(back2.affine, bet.affine);
    assert.equal(back2.header.sform_code, 4);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('scl_slope/scl_inter: an int16 volume with scaling round trips its stored integers and intensities', () => {
  const ch2 = readNifti(template('ch2.nii.gz'));
  const slope = 0.25, inter = -3;
  // An int16 volume whose stored values are ch2's voxels: intensity = 0.25 * raw - 3.
  const scaled = new Float32Array(ch2.data.length);
  for (let i = 0; i < scaled.length; i++) scaled[i] = ch2.data[i]! * slope + inter;
  const vol: Volume = { ...ch2, data: scaled, header: { ...ch2.header, scl_slope: slope, scl_inter: inter } };
  const dir = tmp();
  try {
    const path = join(dir, 'int16.nii');
    writeNifti(path, vol, { datatype: 'int16' });
    const bytes = readFileSync(path);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    // Header and stored integers, read at the NIfTI-1 offsets.
    assert.equal(view.getInt16(70, true), 4);
    assert.equal(view.getInt16(72, true), 16);
    assert.equal(view.getFloat32(112, true), slope);
    assert.equal(view.getFloat32(116, true), inter);
    assert.equal(bytes.length, 352 + 2 * ch2.data.length);
    for (let i = 0; i < ch2.data.length; i += 997) assert.equal(view.getInt16(352 + 2 * i, true), ch2.data[i], `stored value ${i}`);
    const back = readNifti(path);
    assert.deepEqual(back.data, scaled);
    assert.deepEqual(back.affine, ch2.affine);
    assert.equal(back.header.sform_code, 4);
    // Writing the read-back volume in its original datatype reproduces the file byte for byte.
    const again = encodeNifti(back, { datatype: 'original' });
    assert.ok(Buffer.from(again).equals(bytes));
    // Values that do not fit the kept scaling are refused with advice ...
    const big = { ...back, data: back.data.map((x) => x * 1000) };
    assert.throws(() => encodeNifti(big, { datatype: 'original' }), tweedie('BAD_INPUT', /does not fit int16/, /float32|rescale/));
    // ... and rescale chooses a slope that covers them.
    const rescaled = parseNifti(encodeNifti(big, { datatype: 'int16', rescale: true }));
    let worst = 0;
    for (let i = 0; i < big.data.length; i++) worst = Math.max(worst, Math.abs(rescaled.data[i]! - big.data[i]!));
    assert.ok(worst <= rescaled.header.scl_slope * 0.5 * 1.001, `worst ${worst}, slope ${rescaled.header.scl_slope}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writeNifti with like: a result lands on the input grid; an edited affine is written as sform and qform', () => {
  const ch2 = readNifti(template('ch2.nii.gz'));
  const result = createVolume(ch2.data.map((x) => x / 254), ch2.dims);
  const back = parseNifti(encodeNifti(result, { like: ch2 }));
  assert.deepEqual(back.affine, ch2.affine);
  assert.equal(back.header.sform_code, 4);
  assert.equal(back.header.descrip, 'spm - algebra');
  assert.throws(() => encodeNifti(createVolume(new Float32Array(8), [2, 2, 2]), { like: ch2 }), tweedie('BAD_SHAPE', /2x2x2/, /181x217x181/));

  // A rotated, anisotropic, left-handed affine (qfac = -1) set by hand.
  const c = Math.cos(0.3), s = Math.sin(0.3);
  const edited: number[][] = [
    [1.5 * c, -2 * s, 0, 10],
    [1.5 * s, 2 * c, 0, -20],
    [0, 0, -3, 30],
    [0, 0, 0, 1],
  ];
  const small = createVolume(Float32Array.from({ length: 24 }, (_, i) => i), [2, 3, 4]);
  small.affine = edited;
  const rt = parseNifti(encodeNifti(small, { version: 2 }));
  assert.equal(rt.header.version, 2);
  for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) assert.ok(Math.abs(rt.affine[i]![j]! - edited[i]![j]!) < 1e-12);
  const q = qformAffine(rt.header);
  for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) assert.ok(Math.abs(q[i]![j]! - edited[i]![j]!) < 1e-9, `qform [${i}][${j}]`);
  assert.equal(rt.header.pixdim[0], -1);
  assert.deepEqual(rt.voxelSize.map((x) => +x.toFixed(9)), [1.5, 2, 3]);
});

test('sliceAxial and setSlice: Tensor [1, Y, X] along the third axis', () => {
  const v = readNifti(template('ch2.nii.gz'));
  const s = sliceAxial(v, 90);
  assert.deepEqual(s.shape, [1, 217, 181]);
  assert.equal(s.data[108 * 181 + 90], 33); // voxel (90, 108, 90)
  assert.equal(s.data[50 * 181 + 40], at(v, 40, 50, 90));
  const doubled = new Tensor([1, 217, 181], s.data.map((x) => 2 * x));
  setSlice(v, 90, doubled);
  assert.equal(at(v, 90, 108, 90), 66);
  assert.equal(at(v, 90, 108, 89), sliceAxial(v, 89).data[108 * 181 + 90]);
  assert.throws(() => setSlice(v, 90, new Tensor([1, 181, 217])), tweedie('BAD_SHAPE', /\[1, 217, 181\]/));
  assert.throws(() => sliceAxial(v, 181), tweedie('BAD_INPUT', /slice 181 is out of range/));
});

// ------------------------------------------------------------ files built byte by byte
//
// A second, minimal header writer (spec offsets from nifti1.h / nifti2.h), so the reader is
// tested on bytes it did not write, in both byte orders and both versions.

interface Spec {
  version?: 1 | 2;
  le?: boolean;
  dims: number[];
  datatype: number;
  bitpix: number;
  pixdim?: number[];
  slope?: number;
  inter?: number;
  qform?: { code: number; b: number; c: number; d: number; x: number; y: number; z: number };
  sform?: { code: number; rows: number[][] };
  voxOffset?: number;
  magic?: string;
  extension?: { code: number; data: Uint8Array };
  payload: Uint8Array;
}

function buildNifti(s: Spec): Uint8Array {
  const v2 = s.version === 2, le = s.le ?? true;
  const hsize = v2 ? 540 : 348;
  const ext = s.extension ? Math.ceil((s.extension.data.length + 8) / 16) * 16 : 0;
  const off = s.voxOffset ?? hsize + 4 + ext;
  const out = new Uint8Array(Math.max(off, hsize + 4 + ext) + s.payload.length);
  const v = new DataView(out.buffer);
  const dim = [s.dims.length, ...s.dims, ...Array(7 - s.dims.length).fill(1)];
  const pixdim = s.pixdim ?? [1, 1, 1, 1, 1, 1, 1, 1];
  const str = (o: number, t: string): void => [...t].forEach((ch, i) => (out[o + i] = ch.charCodeAt(0)));
  if (!v2) {
    v.setInt32(0, 348, le);
    dim.forEach((d, i) => v.setInt16(40 + 2 * i, d, le));
    v.setInt16(70, s.datatype, le);
    v.setInt16(72, s.bitpix, le);
    pixdim.forEach((p, i) => v.setFloat32(76 + 4 * i, p, le));
    v.setFloat32(108, off, le);
    v.setFloat32(112, s.slope ?? 0, le);
    v.setFloat32(116, s.inter ?? 0, le);
    if (s.qform) {
      v.setInt16(252, s.qform.code, le);
      [s.qform.b, s.qform.c, s.qform.d, s.qform.x, s.qform.y, s.qform.z].forEach((x, i) => v.setFloat32(256 + 4 * i, x, le));
    }
    if (s.sform) {
      v.setInt16(254, s.sform.code, le);
      s.sform.rows.flat().forEach((x, i) => v.setFloat32(280 + 4 * i, x, le));
    }
    str(344, s.magic ?? 'n+1');
  } else {
    v.setInt32(0, 540, le);
    str(4, s.magic ?? 'n+2');
    out.set([0x0d, 0x0a, 0x1a, 0x0a], 8);
    v.setInt16(12, s.datatype, le);
    v.setInt16(14, s.bitpix, le);
    dim.forEach((d, i) => v.setBigInt64(16 + 8 * i, BigInt(d), le));
    pixdim.forEach((p, i) => v.setFloat64(104 + 8 * i, p, le));
    v.setBigInt64(168, BigInt(off), le);
    v.setFloat64(176, s.slope ?? 0, le);
    v.setFloat64(184, s.inter ?? 0, le);
    if (s.qform) {
      v.setInt32(344, s.qform.code, le);
      [s.qform.b, s.qform.c, s.qform.d, s.qform.x, s.qform.y, s.qform.z].forEach((x, i) => v.setFloat64(352 + 8 * i, x, le));
    }
    if (s.sform) {
      v.setInt32(348, s.sform.code, le);
      s.sform.rows.flat().forEach((x, i) => v.setFloat64(400 + 8 * i, x, le));
    }
  }
  if (s.extension) {
    out[hsize] = 1;
    v.setInt32(hsize + 4, ext, le);
    v.setInt32(hsize + 8, s.extension.code, le);
    out.set(s.extension.data, hsize + 12);
  }
  out.set(s.payload, off);
  return out;
}

const TYPE_CASES: { name: string; code: number; size: number; values: number[]; put: (v: DataView, o: number, x: number, le: boolean) => void }[] = [
  { name: 'uint8', code: 2, size: 1, values: [0, 1, 200, 255], put: (v, o, x) => v.setUint8(o, x) },
  { name: 'int8', code: 256, size: 1, values: [-128, -1, 0, 127], put: (v, o, x) => v.setInt8(o, x) },
  { name: 'int16', code: 4, size: 2, values: [-32768, -2, 7, 32767], put: (v, o, x, le) => v.setInt16(o, x, le) },
  { name: 'uint16', code: 512, size: 2, values: [0, 1, 40000, 65535], put: (v, o, x, le) => v.setUint16(o, x, le) },
  { name: 'int32', code: 8, size: 4, values: [-2147483648, -5, 123456, 2147483647], put: (v, o, x, le) => v.setInt32(o, x, le) },
  { name: 'uint32', code: 768, size: 4, values: [0, 3, 3000000000, 4294967295], put: (v, o, x, le) => v.setUint32(o, x, le) },
  { name: 'int64', code: 1024, size: 8, values: [-(2 ** 40), -1, 0, 2 ** 40], put: (v, o, x, le) => v.setBigInt64(o, BigInt(x), le) },
  { name: 'uint64', code: 1280, size: 8, values: [0, 1, 2 ** 33, 2 ** 52], put: (v, o, x, le) => v.setBigUint64(o, BigInt(x), le) },
  { name: 'float32', code: 16, size: 4, values: [-1.5, 0, 3.25, 1e30], put: (v, o, x, le) => v.setFloat32(o, x, le) },
  // -1e300 would overflow float32 to -Infinity, which is refused on reading (hostile-files.test.ts): -1e30 rounds to a finite float32.
  { name: 'float64', code: 64, size: 8, values: [-1.5, 1 / 3, 3.25, -1e30], put: (v, o, x, le) => v.setFloat64(o, x, le) },
];

function payload(t: (typeof TYPE_CASES)[number], values: number[], le: boolean): Uint8Array {
  const out = new Uint8Array(values.length * t.size);
  const v = new DataView(out.buffer);
  values.forEach((x, i) => t.put(v, i * t.size, x, le));
  return out;
}

test('every readable datatype, both byte orders, NIfTI-1 and NIfTI-2, with and without scaling', () => {
  for (const t of TYPE_CASES) {
    for (const version of [1, 2] as const) {
      for (const le of [true, false]) {
        for (const [slope, inter] of [[0, 0], [2, -1]] as const) {
          const bytes = buildNifti({ version, le, dims: [2, 2], datatype: t.code, bitpix: 8 * t.size, slope, inter, payload: payload(t, t.values, le) });
          const what = `${t.name} v${version} ${le ? 'LE' : 'BE'} slope ${slope}`;
          const v = parseNifti(bytes, what);
          assert.equal(v.header.version, version, what);
          assert.equal(v.header.littleEndian, le, what);
          assert.deepEqual(v.dims, [2, 2], what);
          const expected = t.values.map((x) => Math.fround(slope === 0 ? x : x * slope + inter));
          assert.deepEqual([...v.data], expected, what);
          // gzip is detected by its magic bytes, whatever the name.
          assert.deepEqual(parseNifti(gzipSync(bytes), 'x.nii').data, v.data, `${what} gz`);
        }
      }
    }
  }
});

test('bytes at any alignment, including a Node Buffer view at an odd offset, decode the same', () => {
  const t = TYPE_CASES[2]!; // int16
  const values = Array.from({ length: 60 }, (_, i) => (i * 977) % 65536 - 32768);
  const bytes = buildNifti({ dims: [3, 4, 5], datatype: t.code, bitpix: 16, slope: 0.5, inter: 1, payload: payload(t, values, true) });
  const want = values.map((x) => x * 0.5 + 1);
  for (const shift of [0, 1, 2, 3]) {
    const padded = Buffer.concat([Buffer.alloc(shift), Buffer.from(bytes)]).subarray(shift);
    assert.deepEqual([...parseNifti(padded, `shift ${shift}`).data], want, `shift ${shift}`);
  }
});

test('qform-only, sform and no-transform headers give nibabel get_best_affine results', () => {
  const data = payload(TYPE_CASES[0]!, Array(3 * 5 * 7).fill(1), true);
  // No transform: nibabel's shape_zoom_affine((3, 5, 7), (3, 2, 1)) docstring example.
  const base = parseNifti(buildNifti({ dims: [3, 5, 7], datatype: 2, bitpix: 8, pixdim: [1, 3, 2, 1, 1, 1, 1, 1], payload: data }));
  assert.deepEqual(base.affine, [[-3, 0, 0, 3], [0, 2, 0, -4], [0, 0, 1, -3], [0, 0, 0, 1]]);
  // qform: 90 degrees about z is the quaternion (a, b, c, d) = (cos 45, 0, 0, sin 45), and qfac = -1 flips the third axis.
  const h = Math.SQRT1_2;
  const q = parseNifti(buildNifti({
    dims: [3, 5, 7], datatype: 2, bitpix: 8, pixdim: [-1, 2, 3, 4, 1, 1, 1, 1],
    qform: { code: 1, b: 0, c: 0, d: h, x: 5, y: 6, z: 7 }, payload: data,
  }), 'qform.nii');
  const want = [[0, -3, 0, 5], [2, 0, 0, 6], [0, 0, -4, 7], [0, 0, 0, 1]];
  for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) assert.ok(Math.abs(q.affine[i]![j]! - want[i]![j]!) < 1e-6, `qform affine [${i}][${j}] = ${q.affine[i]![j]}`);
  // The decomposition recovers the same fields.
  const back = affineToQuatern(q.affine);
  assert.ok(Math.abs(back.d - h) < 1e-6 && Math.abs(back.b) < 1e-7 && Math.abs(back.c) < 1e-7);
  assert.equal(back.qfac, -1);
  // sform wins over qform when both are set.
  const rows = [[0, 0, 2, -1], [0, 3, 0, -2], [4, 0, 0, -3]];
  const sq = parseNifti(buildNifti({ dims: [3, 5, 7], datatype: 2, bitpix: 8, qform: { code: 1, b: 0, c: 0, d: h, x: 5, y: 6, z: 7 }, sform: { code: 2, rows }, payload: data }));
  assert.deepEqual(sq.affine, [...rows, [0, 0, 0, 1]]);
});

test('4-D volumes are reported; requireVolume3D names the dims and selectVolume picks one', () => {
  const values = Array.from({ length: 2 * 3 * 2 * 5 }, (_, i) => i);
  const v = parseNifti(buildNifti({ dims: [2, 3, 2, 5], datatype: 4, bitpix: 16, pixdim: [1, 1, 1, 1, 2.5, 1, 1, 1], payload: payload(TYPE_CASES[2]!, values, true) }), 'bold.nii');
  assert.deepEqual(v.dims, [2, 3, 2, 5]);
  assert.deepEqual(v.voxelSize, [1, 1, 1, 2.5]);
  assert.match(describeVolume(v), /4-D: 5 volumes/);
  assert.throws(() => requireVolume3D(v), tweedie('BAD_SHAPE', /bold\.nii/, /\[2, 3, 2, 5\]/, /5 volumes/, /selectVolume/));
  const third = selectVolume(v, 2);
  assert.deepEqual(third.dims, [2, 3, 2]);
  assert.deepEqual([...third.data], values.slice(24, 36));
  assert.equal(requireVolume3D(third), third);
  assert.deepEqual(sliceAxial(v, 1, 4).data, Float32Array.from(values.slice(4 * 12 + 6, 4 * 12 + 12)));
  assert.throws(() => selectVolume(v, 5), tweedie('BAD_INPUT', /0\.\.4/));
  // A 4-D file with one volume, and a 2-D image, are fine as 3-D.
  const one = parseNifti(buildNifti({ dims: [2, 3, 2, 1], datatype: 2, bitpix: 8, payload: new Uint8Array(12) }));
  assert.deepEqual(requireVolume3D(one).dims, [2, 3, 2]);
  const flat = parseNifti(buildNifti({ dims: [4, 3], datatype: 2, bitpix: 8, payload: new Uint8Array(12) }));
  assert.deepEqual(requireVolume3D(flat).dims, [4, 3, 1]);
  // The round trip keeps the fourth dimension and its pixdim.
  const rt = parseNifti(encodeNifti(v));
  assert.deepEqual(rt.dims, v.dims);
  assert.deepEqual(rt.voxelSize, v.voxelSize);
  assert.deepEqual(rt.data, v.data);
});

test('extensions and NIfTI-2 files survive a round trip', () => {
  const ext = { code: 6, data: new TextEncoder().encode('a comment extension, padded to 16') };
  const values = [1, 2, 3, 4, 5, 6];
  const bytes = buildNifti({ version: 2, le: false, dims: [3, 2], datatype: 64, bitpix: 64, extension: ext, payload: payload(TYPE_CASES[9]!, values, false) });
  const v = parseNifti(bytes, 'ext.nii');
  assert.equal(v.header.extensions.length, 1);
  assert.equal(v.header.extensions[0]!.code, 6);
  assert.equal(new TextDecoder().decode(v.header.extensions[0]!.data).replace(/\0+$/, ''), 'a comment extension, padded to 16');
  assert.equal(v.header.vox_offset, 544 + 48);
  const rt = parseNifti(encodeNifti(v));
  assert.equal(rt.header.version, 2);
  assert.equal(rt.header.littleEndian, true);
  assert.deepEqual(rt.header.extensions, v.header.extensions);
  assert.deepEqual([...rt.data], values);
  const v1 = parseNifti(encodeNifti(v, { version: 1 }));
  assert.equal(v1.header.version, 1);
  assert.equal(v1.header.vox_offset, 352 + 48);
  assert.deepEqual(v1.header.extensions, v.header.extensions);
});

// ------------------------------------------------------------------------- bad input

test('bad NIfTI input gives clear errors', () => {
  const good = buildNifti({ dims: [4, 4, 4], datatype: 4, bitpix: 16, payload: new Uint8Array(128) });
  const patch = (f: (v: DataView, b: Uint8Array) => void): Uint8Array => {
    const b = good.slice();
    f(new DataView(b.buffer), b);
    return b;
  };
  // Truncated header, truncated data.
  assert.throws(() => parseNifti(good.subarray(0, 200), 'cut.nii'), tweedie('UNREADABLE_FILE', /cut\.nii/, /truncated header/, /348/));
  assert.throws(() => parseNifti(good.subarray(0, 2), 'tiny.nii'), tweedie('UNREADABLE_FILE', /only 2 bytes/));
  assert.throws(() => parseNifti(good.subarray(0, good.length - 1), 'short.nii'), tweedie('UNREADABLE_FILE', /truncated data/, /\[4, 4, 4\]/, /128 bytes/, /127/));
  // Wrong magic; not a NIfTI at all.
  assert.throws(() => parseNifti(patch((_, b) => b.set([0x6e, 0x2b, 0x39], 344)), 'magic.nii'), tweedie('UNREADABLE_FILE', /wrong magic "n\+9"/, /'n\+1'/));
  assert.throws(() => parseNifti(new TextEncoder().encode('hello world, this is not an image'.repeat(20)), 'text.nii'), tweedie('UNREADABLE_FILE', /sizeof_hdr/, /348/, /540/));
  assert.throws(() => parseNifti(patch((_, b) => b.set([0x6e, 0x69, 0x31], 344)), 'pair.hdr'), tweedie('UNSUPPORTED', /\.hdr \+ \.img/));
  // gzip corruption and truncation.
  const gz = gzipSync(good);
  const flipped = gz.slice();
  flipped[Math.floor(gz.length / 2)]! ^= 0xff;
  assert.throws(() => parseNifti(flipped, 'flip.nii.gz'), tweedie('UNREADABLE_FILE', /flip\.nii\.gz/, /gzip stream is corrupt or truncated/));
  assert.throws(() => parseNifti(gz.subarray(0, gz.length - 10), 'cut.nii.gz'), tweedie('UNREADABLE_FILE', /gzip/));
  // Zero and negative dims; dim[0] out of range.
  assert.throws(() => parseNifti(patch((v) => v.setInt16(44, 0, true)), 'zero.nii'), tweedie('UNREADABLE_FILE', /\[4, 0, 4\]/, /positive/));
  assert.throws(() => parseNifti(patch((v) => v.setInt16(46, -4, true)), 'neg.nii'), tweedie('UNREADABLE_FILE', /\[4, 4, -4\]/, /positive/));
  assert.throws(() => parseNifti(patch((v) => v.setInt16(40, 9, true)), 'ndim.nii'), tweedie('UNREADABLE_FILE', /dim\[0\] = 9/));
  // Dims far larger than the file: refused before any allocation.
  assert.throws(() => parseNifti(patch((v) => [42, 44, 46].forEach((o) => v.setInt16(o, 32767, true))), 'huge.nii'), tweedie('UNREADABLE_FILE', /truncated data/));
  // Unsupported datatypes.
  assert.throws(() => parseNifti(patch((v) => v.setInt16(70, 32, true)), 'complex.nii'), tweedie('UNSUPPORTED', /datatype 32 \(complex64\)/, /float32/));
  assert.throws(() => parseNifti(patch((v) => v.setInt16(70, 128, true)), 'rgb.nii'), tweedie('UNSUPPORTED', /rgb24/));
  assert.throws(() => parseNifti(patch((v) => v.setInt16(70, 999, true)), 'odd.nii'), tweedie('UNSUPPORTED', /999 \(not a NIfTI datatype code\)/));
  // vox_offset inside the header.
  assert.throws(() => parseNifti(patch((v) => v.setFloat32(108, 100, true)), 'vo.nii'), tweedie('UNREADABLE_FILE', /vox_offset 100/));
  // Files that do not exist.
  assert.throws(() => readNifti('/nonexistent/x.nii.gz'), tweedie('UNREADABLE_FILE', /cannot read \/nonexistent\/x\.nii\.gz/));
  // Header-only parsing works on the same bytes.
  assert.equal(parseNiftiHeader(good).datatype, 4);
});

test('a .nii.gz inflates only as far as its header declares; NaN voxels are refused with their position', () => {
  const t = TYPE_CASES[2]!; // int16
  const values = Array.from({ length: 24 }, (_, i) => i - 12);
  const good = buildNifti({ dims: [2, 3, 4], datatype: t.code, bitpix: 16, payload: payload(t, values, true) });
  // Padding after the voxels (up to INFLATE_SLACK_BYTES) reads, as it does uncompressed.
  const padded = Buffer.concat([good, new Uint8Array(4096)]);
  assert.deepEqual([...parseNifti(gzipSync(padded), 'pad.nii.gz').data], values);
  assert.deepEqual([...parseNifti(padded, 'pad.nii').data], values);
  // More than that is refused before it is all inflated.
  const long = Buffer.concat([good, new Uint8Array(INFLATE_SLACK_BYTES + 1)]);
  assert.throws(() => parseNifti(gzipSync(long), 'long.nii.gz'), tweedie('UNREADABLE_FILE', /long\.nii\.gz: decompresses to more than the 400 bytes its header declares/));
  // A header too large for MAX_VALUES is refused before inflating anything.
  const huge = good.slice();
  new DataView(huge.buffer).setInt16(46, 32767, true);
  new DataView(huge.buffer).setInt16(44, 32767, true);
  assert.throws(() => parseNifti(gzipSync(huge), 'huge.nii.gz'), tweedie('UNSUPPORTED', /huge\.nii\.gz: dims \[2, 32767, 32767\] holds 2147352578 values/, /2\^27/, /fslroi/));
  // NaN in a float32 file (big-endian NIfTI-2, so the position is in NIfTI's i-fastest order).
  const f = TYPE_CASES[8]!;
  const withNan = values.map((x, i) => (i === 1 + 2 * (2 + 3 * 3) ? NaN : x));
  const nan = buildNifti({ version: 2, le: false, dims: [2, 3, 4], datatype: f.code, bitpix: 32, payload: payload(f, withNan, false) });
  assert.throws(() => parseNifti(nan, 'nan.nii'), tweedie('BAD_INPUT', /nan\.nii: value NaN at flat index 23, index \(1, 2, 3\)/, /fslmaths/));
});

test('writeNifti: bad volumes and impossible datatypes are refused', () => {
  const v = createVolume(new Float32Array(8), [2, 2, 2]);
  assert.throws(() => encodeNifti({ ...v, dims: [2, 2, 3] }), tweedie('BAD_SHAPE', /\[2, 2, 3\]/));
  assert.throws(() => encodeNifti(v, { datatype: 'complex64' as never }), tweedie('BAD_INPUT', /unknown datatype 'complex64'/));
  const nan = createVolume(Float32Array.from([NaN, 0, 0, 0, 0, 0, 0, 0]), [2, 2, 2]);
  assert.throws(() => encodeNifti(nan, { datatype: 'uint8' }), tweedie('BAD_INPUT', /value NaN .*does not fit uint8/));
  assert.throws(() => encodeNifti(nan, { datatype: 'uint8', rescale: true }), tweedie('BAD_INPUT', /NaN or infinite/));
  const dir = tmp();
  try {
    assert.throws(() => writeNifti(join(dir, 'no/such/dir.nii'), v), tweedie('UNREADABLE_FILE', /cannot write/));
    writeFileSync(join(dir, 'plain.nii'), encodeNifti(v));
    assert.deepEqual(readNifti(join(dir, 'plain.nii')).dims, [2, 2, 2]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("writeNifti with 'like' a 2-D image writes a one-slice volume on its grid (missing dims are 1), and refuses another grid", () => {
  const dir = mkdtempSync(join(tmpdir(), 'tweedie-2d-'));
  const image = createVolume(Float32Array.from({ length: 12 }, (_, i) => i), [4, 3], { affine: [[2, 0, 0, -5], [0, 2, 0, 7], [0, 0, 1, 0], [0, 0, 0, 1]] });
  const slice = createVolume(Float32Array.from({ length: 12 }, (_, i) => 2 * i), [4, 3, 1]);
  writeNifti(join(dir, 'out.nii'), slice, { like: image });
  const back = readNifti(join(dir, 'out.nii'));
  assert.deepEqual(back.dims, [4, 3, 1]);
  assert.deepEqual(back.affine[0], [2, 0, 0, -5]);
  assert.throws(() => writeNifti(join(dir, 'bad.nii'), createVolume(new Float32Array(24), [4, 3, 2]), { like: image }), /4x3x2 but 'like' .* is 4x3x1/);
});
