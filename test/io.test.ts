import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { Tensor } from '../src/core/tensor.js';
import { TweedieError } from '../src/core/errors.js';
import { encodeNpy, parseNpy, readNpy, writeNpy } from '../src/io/npy.js';
import { crc32, decodePng, encodePng, pngToTensor, readPng, tensorToPng, writePng, type PngImage } from '../src/io/png.js';
import { imageGrid, sideBySide } from '../src/io/grid.js';
import { int64Bytes, npyBytes } from '../bench/lib/hostile-files.js';

// Compiled to dist/test/; the fixtures stay in test/fixtures/.
const FIXTURES = fileURLToPath(new URL('../../test/fixtures/', import.meta.url));
const fixture = (name: string): string => join(FIXTURES, name);

/** assert.throws validator: a TweedieError with this code whose message matches every pattern. */
const tweedie = (code: string, ...patterns: RegExp[]) => (e: unknown): boolean => {
  assert.ok(e instanceof TweedieError, `expected a TweedieError, got ${String(e)}`);
  assert.equal(e.code, code, e.message);
  for (const p of patterns) assert.match(e.message, p);
  return true;
};

const bytesOf = (t: Tensor): Uint8Array => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);

// ---------------------------------------------------------------------------------------- NPY

test('npy round trip is bit-exact for float32 and float64, shapes 0-d to 4-d', () => {
  // NaN and infinities are refused on reading (see the hostile-files test), so the values stay finite in float32 too.
  const special = [0, -0, 1.5, -2.25, Math.PI, 1e-310, 3e36, -3e36, 1e-45, 1 / 3];
  for (const dtype of ['float32', 'float64'] as const) {
    for (const shape of [[], [0], [7], [2, 3], [1, 0, 3], [2, 3, 4, 5]]) {
      const t = Tensor.zeros(shape, dtype);
      for (let i = 0; i < t.size; i++) t.data[i] = special[i % special.length]! * (1 + i / 7);
      const bytes = encodeNpy(t);
      const hlen = bytes[8]! | (bytes[9]! << 8);
      assert.equal((10 + hlen) % 64, 0, 'data starts on a 64-byte boundary');
      const back = parseNpy(bytes);
      assert.deepEqual(back.shape, shape);
      assert.equal(back.dtype, dtype);
      assert.deepEqual(bytesOf(back), bytesOf(t));
    }
  }
});

test('npy header text follows numpy', () => {
  const header = (t: Tensor): string => {
    const b = encodeNpy(t);
    return new TextDecoder('latin1').decode(b.subarray(10, 10 + (b[8]! | (b[9]! << 8)))).trimEnd();
  };
  assert.equal(header(Tensor.zeros([3])), "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }");
  assert.equal(header(Tensor.zeros([], 'float64')), "{'descr': '<f8', 'fortran_order': False, 'shape': (), }");
  assert.equal(header(Tensor.zeros([2, 3])), "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }");
});

test('npy files written by numpy read with their values and shapes', () => {
  // See test/fixtures/README.md for the commands that made these files.
  const f8 = readNpy(fixture('numpy_f8_2x3.npy')); // np.arange(6) / 4 - 0.5, shape (2, 3)
  assert.deepEqual(f8.shape, [2, 3]);
  assert.equal(f8.dtype, 'float64');
  assert.deepEqual([...f8.data], [-0.5, -0.25, 0, 0.25, 0.5, 0.75]);
  const f4 = readNpy(fixture('numpy_f4_3d.npy')); // np.arange(24, dtype='<f4').reshape(2, 3, 4)
  assert.deepEqual(f4.shape, [2, 3, 4]);
  assert.equal(f4.dtype, 'float32');
  assert.deepEqual([...f4.data], Array.from({ length: 24 }, (_, i) => i));
  const u1 = readNpy(fixture('numpy_u1_v2.npy')); // format 2.0, uint8 250..255, shape (2, 3)
  assert.deepEqual(u1.shape, [2, 3]);
  assert.equal(u1.dtype, 'float32');
  assert.deepEqual([...u1.data], [250, 251, 252, 253, 254, 255]);
  const i8 = readNpy(fixture('numpy_i8_v3.npy')); // format 3.0, int64 [-3, 0, 7, 2**40]
  assert.deepEqual(i8.shape, [4]);
  assert.deepEqual([...i8.data], [-3, 0, 7, 2 ** 40]);
  const scalar = readNpy(fixture('numpy_f8_0d.npy')); // np.float64(2.5)
  assert.deepEqual(scalar.shape, []);
  assert.deepEqual([...scalar.data], [2.5]);
});

test('npy write then read through a file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tweedie-npy-'));
  try {
    const t = Tensor.from([2, 2], [1, 2, 3, 4.5], 'float64');
    const path = join(dir, 'a.npy');
    writeNpy(path, t);
    const back = readNpy(path);
    assert.deepEqual(back.shape, [2, 2]);
    assert.deepEqual([...back.data], [1, 2, 3, 4.5]);
    assert.throws(() => readNpy(join(dir, 'missing.npy')), tweedie('UNREADABLE_FILE', /missing\.npy/));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('corrupt or unsupported npy files give a TweedieError naming the file and the problem', () => {
  const good = encodeNpy(Tensor.from([2, 3], [1, 2, 3, 4, 5, 6], 'float64'));
  const edit = (f: (b: Uint8Array) => void): Uint8Array => {
    const b = good.slice();
    f(b);
    return b;
  };
  const replaceInHeader = (from: string, to: string): Uint8Array => {
    const text = new TextDecoder('latin1').decode(good);
    const at = text.indexOf(from);
    return edit((b) => { for (let i = 0; i < to.length; i++) b[at + i] = to.charCodeAt(i); });
  };
  assert.throws(() => parseNpy(edit((b) => { b[1] = 0x58; }), 'x.npy'), tweedie('UNREADABLE_FILE', /x\.npy/, /magic/));
  assert.throws(() => parseNpy(good.subarray(0, 5), 'x.npy'), tweedie('UNREADABLE_FILE', /x\.npy/, /shorter/));
  assert.throws(() => parseNpy(good.subarray(0, 40), 'x.npy'), tweedie('UNREADABLE_FILE', /x\.npy/, /truncated header/));
  assert.throws(() => parseNpy(good.subarray(0, good.length - 3), 'x.npy'), tweedie('UNREADABLE_FILE', /truncated data/, /48 bytes/));
  assert.throws(() => parseNpy(replaceInHeader('<f8', '<c8'), 'x.npy'), tweedie('UNREADABLE_FILE', /unsupported dtype '<c8'/));
  assert.throws(() => parseNpy(replaceInHeader('(2, 3)', '(2, 4)'), 'x.npy'), tweedie('UNREADABLE_FILE', /truncated data/));
  assert.throws(() => parseNpy(replaceInHeader("'shape'", "'shxpe'"), 'x.npy'), tweedie('UNREADABLE_FILE', /shape/));
  assert.throws(() => parseNpy(replaceInHeader('False', 'Fxlse'), 'x.npy'), tweedie('UNREADABLE_FILE', /header/));
  assert.throws(() => parseNpy(edit((b) => { b[6] = 4; }), 'x.npy'), tweedie('UNREADABLE_FILE', /version 4\.0/));
  const extra = new Uint8Array(good.length + 8);
  extra.set(good);
  assert.throws(() => parseNpy(extra, 'x.npy'), tweedie('UNREADABLE_FILE', /8 unexpected bytes/));
  assert.throws(() => readNpy(fixture('numpy_f4_bigendian.npy')), tweedie('UNREADABLE_FILE', /numpy_f4_bigendian\.npy/, /big-endian/, /astype/));
  assert.throws(() => readNpy(fixture('numpy_f4_fortran.npy')), tweedie('UNREADABLE_FILE', /fortran_order/, /ascontiguousarray/));
  assert.throws(() => readNpy(fixture('filters_rgb.png')), tweedie('UNREADABLE_FILE', /filters_rgb\.png/, /magic/));
});

test('npy: honest files at the edges of the read-time checks still read', () => {
  // Integers up to 2^53 in magnitude are exact numbers; one more is refused with its position.
  const exact = parseNpy(npyBytes("{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", int64Bytes([-(2n ** 53n), 2n ** 53n], true)));
  assert.deepEqual([...exact.data], [-(2 ** 53), 2 ** 53]);
  assert.deepEqual([...parseNpy(npyBytes("{'descr': '<u8', 'fortran_order': False, 'shape': (1,), }", int64Bytes([2n ** 53n], false))).data], [2 ** 53]);
  assert.throws(
    () => parseNpy(npyBytes("{'descr': '<u8', 'fortran_order': False, 'shape': (1, 2), }", int64Bytes([0n, 2n ** 53n + 1n], false)), 'u.npy'),
    tweedie('BAD_INPUT', /u\.npy: integer 9007199254740993 at flat index 1, index \(0, 1\)/, /2\^53/),
  );
  // A header padded to numpy's 10000-byte limit reads; one byte more is refused.
  const dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }";
  assert.deepEqual([...parseNpy(npyBytes(dict.padEnd(10000 - 1) + '\n', new Uint8Array(4))).data], [0]);
  assert.throws(() => parseNpy(npyBytes(dict.padEnd(10000) + '\n', new Uint8Array(4)), 'h.npy'), tweedie('UNREADABLE_FILE', /h\.npy/, /10001 bytes/, /max_header_size/));
  // Nesting is parsed without recursion: a structured dtype is still named as such.
  const structured = "{'descr': [('a', '<f4'), ('b', [('c', '<i2')])], 'fortran_order': False, 'shape': (1,), }";
  assert.throws(() => parseNpy(npyBytes(structured, new Uint8Array(6)), 's.npy'), tweedie('UNREADABLE_FILE', /dtype \(\(\.\.\.\), \(\.\.\.\)\) is not supported \(structured arrays/));
});

// ---------------------------------------------------------------------------------------- PNG

function pattern(width: number, height: number, channels: 1 | 2 | 3 | 4, sixteen = false): PngImage {
  const n = width * height * channels;
  const data = sixteen ? new Uint16Array(n) : new Uint8Array(n);
  for (let i = 0; i < n; i++) data[i] = sixteen ? (i * 2654435761) % 65536 : (i * i + 7 * i) % 256;
  return { width, height, channels, data };
}

test('png round trip: gray, gray+alpha, RGB, RGBA, 8 and 16 bit', () => {
  for (const channels of [1, 2, 3, 4] as const) {
    for (const sixteen of [false, true]) {
      const img = pattern(13, 9, channels, sixteen);
      const back = decodePng(encodePng(img));
      assert.equal(back.width, 13);
      assert.equal(back.height, 9);
      assert.equal(back.channels, channels);
      assert.equal(back.data instanceof Uint16Array, sixteen);
      assert.deepEqual([...back.data], [...img.data]);
    }
  }
  const dir = mkdtempSync(join(tmpdir(), 'tweedie-png-'));
  try {
    const path = join(dir, 'gray.png');
    writePng(path, pattern(4, 3, 1));
    assert.deepEqual([...readPng(path).data], [...pattern(4, 3, 1).data]);
    assert.deepEqual([...readFileSync(path).subarray(1, 4)], [0x50, 0x4e, 0x47]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('png written by an independent encoder (python zlib + struct, filters 0-4) decodes to its pixels', () => {
  const rgb = readPng(fixture('filters_rgb.png')); // rows use filters 1, 2, 3, 4, 0, 4, 3, 2
  assert.deepEqual([rgb.width, rgb.height, rgb.channels], [7, 8, 3]);
  for (let y = 0; y < 8; y++) {
    for (let x = 0; x < 7; x++) {
      const o = (y * 7 + x) * 3;
      const want = [(40 * x + 13 * y) % 256, (17 * x * x + 200 * y) % 256, (((255 - 31 * x - 29 * y) % 256) + 256) % 256];
      assert.deepEqual([...rgb.data.subarray(o, o + 3)], want, `pixel (${x}, ${y})`);
    }
  }
  const g16 = readPng(fixture('gray16.png'));
  assert.deepEqual([g16.width, g16.height, g16.channels], [5, 4, 1]);
  assert.ok(g16.data instanceof Uint16Array);
  for (let y = 0; y < 4; y++) for (let x = 0; x < 5; x++) assert.equal(g16.data[y * 5 + x], (13107 * x + 4099 * y) % 65536);
  const pal = readPng(fixture('palette2_trns.png')); // 2-bit palette indices (x + y) % 4, with tRNS
  const PAL = [[255, 0, 0, 0], [0, 255, 0, 128], [0, 0, 255, 255], [10, 20, 30, 255]];
  assert.deepEqual([pal.width, pal.height, pal.channels], [5, 3, 4]);
  for (let y = 0; y < 3; y++) {
    for (let x = 0; x < 5; x++) {
      const o = (y * 5 + x) * 4;
      assert.deepEqual([...pal.data.subarray(o, o + 4)], PAL[(x + y) % 4], `palette pixel (${x}, ${y})`);
    }
  }
});

test('corrupt png files give a TweedieError', () => {
  const good = readFileSync(fixture('filters_rgb.png'));
  const flipped = Uint8Array.from(good);
  flipped[good.length - 20] ^= 0x10; // inside IDAT
  assert.throws(() => decodePng(flipped, 'f.png'), tweedie('UNREADABLE_FILE', /f\.png/, /CRC mismatch in chunk IDAT/));
  assert.throws(() => decodePng(good.subarray(0, 60), 'f.png'), tweedie('UNREADABLE_FILE', /f\.png/, /truncated/));
  assert.throws(() => decodePng(good.subarray(0, good.length - 12), 'f.png'), tweedie('UNREADABLE_FILE', /no IEND/));
  assert.throws(() => decodePng(good.subarray(0, 4), 'f.png'), tweedie('UNREADABLE_FILE', /signature/));
  assert.throws(() => readPng(fixture('numpy_f4_3d.npy')), tweedie('UNREADABLE_FILE', /numpy_f4_3d\.npy/, /signature/));
  // Interlaced: set the IHDR interlace byte and fix the CRC.
  const inter = Uint8Array.from(good);
  inter[28] = 1;
  new DataView(inter.buffer).setUint32(29, crc32(inter, 12, 29));
  assert.throws(() => decodePng(inter, 'i.png'), tweedie('UNSUPPORTED', /interlaced/));
  // A zlib stream cut short inside chunks whose CRCs are valid.
  const chunk = (type: string, body: Uint8Array): Uint8Array => {
    const out = new Uint8Array(12 + body.length);
    const v = new DataView(out.buffer);
    v.setUint32(0, body.length);
    for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
    out.set(body, 8);
    v.setUint32(8 + body.length, crc32(out, 4, 8 + body.length));
    return out;
  };
  const ihdr = Uint8Array.from([0, 0, 0, 16, 0, 0, 0, 16, 8, 2, 0, 0, 0]);
  const zdata = deflateSync(new Uint8Array(16 * (1 + 16 * 3)).map((_, i) => (i * 31) % 251));
  const short = Buffer.concat([good.subarray(0, 8), chunk('IHDR', ihdr), chunk('IDAT', zdata.subarray(0, zdata.length - 10)), chunk('IEND', new Uint8Array(0))]);
  assert.throws(() => decodePng(short, 'z.png'), tweedie('UNREADABLE_FILE', /z\.png/, /corrupt image data|image data holds/));
  const ok = Buffer.concat([good.subarray(0, 8), chunk('IHDR', ihdr), chunk('IDAT', zdata), chunk('IEND', new Uint8Array(0))]);
  assert.throws(() => decodePng(ok, 'z.png'), tweedie('UNREADABLE_FILE', /unknown filter type/)); // row filter bytes are junk
});

test('tensorToPng maps the range to 8 bits with clipping, pngToTensor back to [0, 1]', () => {
  const t = Tensor.from([1, 7], [-1, -0.5, 0, 0.5, 1, 2, NaN]);
  const img = tensorToPng(t, [-1, 1]);
  assert.deepEqual([img.width, img.height, img.channels], [7, 1, 1]);
  assert.deepEqual([...img.data], [0, 64, 128, 191, 255, 255, 0]);
  // Planar [C, H, W] becomes interleaved; [1, C, H, W] is accepted.
  const rgb = Tensor.from([1, 3, 1, 2], [0, 1, 0.5, 0.5, 1, 0]);
  const im = tensorToPng(rgb, [0, 1]);
  assert.deepEqual([...im.data], [0, 128, 255, 255, 128, 0]);
  const back = pngToTensor(im);
  assert.deepEqual(back.shape, [3, 1, 2]);
  assert.deepEqual([...back.data], [0, 1, 128 / 255, 128 / 255, 1, 0].map(Math.fround));
  const fx = pngToTensor(readPng(fixture('filters_rgb.png')));
  assert.deepEqual(fx.shape, [3, 8, 7]);
  assert.equal(fx.data[56 + 7 * 1 + 2], Math.fround(((17 * 4 + 200) % 256) / 255)); // G at (x 2, y 1)
  assert.equal(pngToTensor(readPng(fixture('gray16.png'))).data[1], Math.fround(13107 / 65535));
  assert.throws(() => tensorToPng(Tensor.zeros([5, 2, 2]), [0, 1]), tweedie('BAD_SHAPE', /channels/));
  assert.throws(() => tensorToPng(Tensor.zeros([2, 2]), [1, 1]), tweedie('BAD_INPUT'));
});

// --------------------------------------------------------------------------------------- grid

test('imageGrid tiles like make_grid', () => {
  const [n, c, h, w] = [5, 2, 2, 3];
  const batch = Tensor.zeros([n, c, h, w]);
  for (let i = 0; i < batch.size; i++) batch.data[i] = i; // value encodes (k, ch, y, x)
  const g = imageGrid(batch, { pad: 1, padValue: -1 });
  // cols = ceil(sqrt(5)) = 3, rows = 2: H' = 2 (2 + 1) + 1 = 7, W' = 3 (3 + 1) + 1 = 13.
  assert.deepEqual(g.shape, [2, 7, 13]);
  const at = (ch: number, y: number, x: number): number => g.data[(ch * 7 + y) * 13 + x]!;
  for (let k = 0; k < n; k++) {
    const y0 = 1 + Math.floor(k / 3) * 3, x0 = 1 + (k % 3) * 4;
    for (let ch = 0; ch < c; ch++) {
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) assert.equal(at(ch, y0 + y, x0 + x), ((k * c + ch) * h + y) * w + x);
    }
  }
  assert.equal(at(0, 0, 0), -1);
  assert.equal(at(1, 4, 4), -1); // padding column between images 3 and 4
  assert.equal(at(0, 5, 10), -1); // the empty sixth cell
  const tight = imageGrid(batch, { cols: 5, pad: 0 });
  assert.deepEqual(tight.shape, [2, 2, 15]);
  assert.equal(tight.data[2 * 15 + 3], ((1 * c + 1) * h + 0) * w + 0); // channel 1, row 0, image 1
  assert.deepEqual(imageGrid(Tensor.zeros([1, 3, 4, 4])).shape, [3, 8, 8]);
  assert.throws(() => imageGrid(Tensor.zeros([3, 4, 4])), tweedie('BAD_SHAPE'));
});

test('sideBySide places panels left to right, broadcasting gray and top-aligning', () => {
  const gray = Tensor.from([2, 2], [1, 2, 3, 4]);
  const rgb = Tensor.from([3, 1, 1], [7, 8, 9]);
  const out = sideBySide([gray, rgb], 1, -1);
  assert.deepEqual(out.shape, [3, 2, 4]);
  assert.deepEqual([...out.data], [1, 2, -1, 7, 3, 4, -1, -1, 1, 2, -1, 8, 3, 4, -1, -1, 1, 2, -1, 9, 3, 4, -1, -1]);
  assert.throws(() => sideBySide([Tensor.zeros([3, 2, 2]), Tensor.zeros([4, 2, 2])]), tweedie('BAD_SHAPE'));
});
