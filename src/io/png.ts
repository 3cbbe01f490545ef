import { readFileSync, writeFileSync } from 'node:fs';
import { deflateSync, inflateSync } from 'node:zlib';
import { Tensor } from '../core/tensor.js';
import { fail, fileError } from '../core/errors.js';
import { INFLATE_SLACK_BYTES, checkInflatedSize, checkedSize } from './validate.js';

/**
 * PNG without dependencies. Reads every non-interlaced PNG: gray (1, 2, 4, 8, 16 bit),
 * gray+alpha, RGB and RGBA (8, 16 bit) and palette (1, 2, 4, 8 bit; expanded to RGB, or
 * RGBA when it has a tRNS chunk); all five filter types; CRCs are checked. Writes 8- or
 * 16-bit gray, gray+alpha, RGB and RGBA. Ancillary chunks (gamma, text, ...) are ignored.
 * The image size from IHDR is checked (at most MAX_VALUES samples, MAX_INFLATED_BYTES of pixel
 * data) before anything is inflated, and inflating stops at the size IHDR declares, so a
 * decompression bomb fails early and cheaply.
 */
export interface PngImage {
  width: number;
  height: number;
  /** 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA. */
  channels: 1 | 2 | 3 | 4;
  /** Interleaved samples, row-major, length width*height*channels: Uint8Array for 8-bit, Uint16Array for 16-bit. */
  data: Uint8Array | Uint16Array;
}

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const bad = (name: string, what: string): never => fail('UNREADABLE_FILE', `${name}: not a readable PNG file: ${what}`);

const CHANNELS_OF_COLOR_TYPE: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const DEPTHS_OF_COLOR_TYPE: Record<number, number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Undo the per-row filters in place; `raw` holds height rows of (1 filter byte + stride bytes). */
function unfilter(raw: Uint8Array, height: number, stride: number, bpp: number, name: string): Uint8Array {
  const out = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const type = raw[y * (stride + 1)]!;
    const src = y * (stride + 1) + 1, row = y * stride, prev = row - stride;
    for (let x = 0; x < stride; x++) {
      const a = x >= bpp ? out[row + x - bpp]! : 0;
      const b = y > 0 ? out[prev + x]! : 0;
      const c = x >= bpp && y > 0 ? out[prev + x - bpp]! : 0;
      let pred: number;
      switch (type) {
        case 0: pred = 0; break;
        case 1: pred = a; break;
        case 2: pred = b; break;
        case 3: pred = (a + b) >> 1; break;
        case 4: pred = paeth(a, b, c); break;
        default: return bad(name, `unknown filter type ${type} on row ${y}`);
      }
      out[row + x] = (raw[src + x]! + pred) & 0xff;
    }
  }
  return out;
}

/** Decode PNG bytes; `name` (a path) appears in every error message. */
export function decodePng(bytes: Uint8Array, name = '<buffer>'): PngImage {
  for (let i = 0; i < 8; i++) if (bytes[i] !== SIGNATURE[i]) bad(name, 'missing the PNG signature');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 8;
  let width = 0, height = 0, depth = 0, colorType = -1;
  let palette: Uint8Array | null = null, alphas: Uint8Array | null = null;
  const idat: Uint8Array[] = [];
  let ended = false;
  while (!ended) {
    if (pos + 12 > bytes.length) bad(name, `truncated after ${pos} bytes (no IEND chunk)`);
    const len = view.getUint32(pos);
    const type = String.fromCharCode(bytes[pos + 4]!, bytes[pos + 5]!, bytes[pos + 6]!, bytes[pos + 7]!);
    if (pos + 12 + len > bytes.length) bad(name, `chunk ${type} at byte ${pos} is truncated (declares ${len} bytes)`);
    const body = bytes.subarray(pos + 8, pos + 8 + len);
    if (crc32(bytes, pos + 4, pos + 8 + len) !== view.getUint32(pos + 8 + len)) bad(name, `CRC mismatch in chunk ${type} at byte ${pos} (corrupt file)`);
    if (pos === 8 && type !== 'IHDR') bad(name, `first chunk is ${type}, not IHDR`);
    switch (type) {
      case 'IHDR': {
        if (len !== 13) bad(name, `IHDR has ${len} bytes instead of 13`);
        width = view.getUint32(pos + 8);
        height = view.getUint32(pos + 12);
        depth = body[8]!;
        colorType = body[9]!;
        if (width === 0 || height === 0) bad(name, `image size ${width}x${height} is empty`);
        if (!DEPTHS_OF_COLOR_TYPE[colorType]?.includes(depth)) bad(name, `invalid bit depth ${depth} for color type ${colorType}`);
        if (body[10] !== 0 || body[11] !== 0) bad(name, 'unknown compression or filter method');
        if (body[12] !== 0) fail('UNSUPPORTED', `${name}: interlaced (Adam7) PNG is not supported; re-save it without interlacing`);
        break;
      }
      case 'PLTE':
        if (len % 3 !== 0 || len === 0) bad(name, `PLTE length ${len} is not a positive multiple of 3`);
        palette = body;
        break;
      case 'tRNS':
        if (colorType === 3) alphas = body; // gray/RGB single-color transparency is ignored
        break;
      case 'IDAT':
        idat.push(body);
        break;
      case 'IEND':
        ended = true;
        break;
      default:
        if ((bytes[pos + 4]! & 0x20) === 0) bad(name, `unknown critical chunk ${type}`);
    }
    pos += 12 + len;
  }
  if (idat.length === 0) bad(name, 'no IDAT chunk');
  if (colorType === 3 && !palette) bad(name, 'palette image without a PLTE chunk');

  const rawChannels = CHANNELS_OF_COLOR_TYPE[colorType]!;
  const channels = colorType !== 3 ? rawChannels : alphas ? 4 : 3;
  checkedSize([height, width, channels], name, `image ${width}x${height} with ${channels} channel(s)`, 'downscale or crop it first');
  const bitsPerPixel = rawChannels * depth;
  const stride = Math.ceil((width * bitsPerPixel) / 8);
  const bpp = Math.max(1, bitsPerPixel >> 3);
  checkInflatedSize(height * stride, name, `image ${width}x${height} of ${bitsPerPixel}-bit pixels`, 'downscale or crop it first, or save it as .npy');
  const declared = height * (stride + 1);
  let raw: Uint8Array;
  try {
    raw = inflateSync(Buffer.concat(idat), { maxOutputLength: declared + INFLATE_SLACK_BYTES });
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      return bad(name, `the image data inflates to more than the ${declared} bytes IHDR's ${width}x${height} declares; the file is corrupt or a decompression bomb — re-save it`);
    }
    return bad(name, `corrupt image data (zlib: ${e instanceof Error ? e.message : String(e)})`);
  }
  if (raw.length < declared) bad(name, `image data holds ${raw.length} bytes, ${height}x${width} needs ${declared}`);
  const px = unfilter(raw, height, stride, bpp, name);

  if (depth === 16) {
    const data = new Uint16Array(width * height * rawChannels);
    for (let i = 0; i < data.length; i++) data[i] = (px[2 * i]! << 8) | px[2 * i + 1]!;
    return { width, height, channels: rawChannels as PngImage['channels'], data };
  }
  if (depth === 8 && colorType !== 3) return { width, height, channels: rawChannels as PngImage['channels'], data: px };

  // Sub-byte samples (1, 2, 4 bit, most significant first; rows start on a byte) or palette indices.
  const data = new Uint8Array(width * height * channels);
  const mask = (1 << depth) - 1, perByte = 8 / depth;
  const nColors = palette ? palette.length / 3 : 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = depth === 8 ? px[y * stride + x]! : (px[y * stride + Math.floor(x / perByte)]! >> (8 - depth * ((x % perByte) + 1))) & mask;
      const o = (y * width + x) * channels;
      if (colorType === 0) {
        data[o] = (v * 255) / mask; // exact for 1, 2, 4 bit: 255, 85, 17 per step
      } else {
        if (v >= nColors) bad(name, `palette index ${v} out of range (${nColors} colors)`);
        data[o] = palette![3 * v]!;
        data[o + 1] = palette![3 * v + 1]!;
        data[o + 2] = palette![3 * v + 2]!;
        if (alphas) data[o + 3] = v < alphas.length ? alphas[v]! : 255;
      }
    }
  }
  return { width, height, channels: channels as PngImage['channels'], data };
}

/** One PNG chunk: length, type, body and the CRC of type and body. */
export function pngChunk(type: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, body.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(body, 8);
  view.setUint32(8 + body.length, crc32(out, 4, 8 + body.length));
  return out;
}

/**
 * Encode an image (8-bit if data is a Uint8Array, 16-bit if a Uint16Array). Each row gets the
 * filter with the smallest sum of absolute (signed) residuals, the usual libpng heuristic.
 */
export function encodePng(img: PngImage): Uint8Array {
  const { width, height, channels, data } = img;
  if (![1, 2, 3, 4].includes(channels)) fail('BAD_INPUT', `encodePng: channels must be 1, 2, 3 or 4, got ${channels}`);
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) fail('BAD_INPUT', `encodePng: bad size ${width}x${height}`);
  if (data.length !== width * height * channels) {
    fail('BAD_SHAPE', `encodePng: ${data.length} samples, but ${width}x${height}x${channels} needs ${width * height * channels}`);
  }
  const depth = data instanceof Uint16Array ? 16 : 8;
  const bpp = (channels * depth) / 8, stride = width * bpp;
  let px: Uint8Array;
  if (depth === 16) {
    px = new Uint8Array(data.length * 2);
    for (let i = 0; i < data.length; i++) {
      px[2 * i] = data[i]! >> 8;
      px[2 * i + 1] = data[i]! & 0xff;
    }
  } else {
    px = data as Uint8Array;
  }
  const raw = new Uint8Array(height * (stride + 1));
  const cand = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const row = y * stride, prev = row - stride, dst = y * (stride + 1);
    let best = Infinity;
    for (let type = 0; type <= 4; type++) {
      let cost = 0;
      for (let x = 0; x < stride; x++) {
        const a = x >= bpp ? px[row + x - bpp]! : 0;
        const b = y > 0 ? px[prev + x]! : 0;
        const c = x >= bpp && y > 0 ? px[prev + x - bpp]! : 0;
        const pred = type === 0 ? 0 : type === 1 ? a : type === 2 ? b : type === 3 ? (a + b) >> 1 : paeth(a, b, c);
        const r = (px[row + x]! - pred) & 0xff;
        cand[x] = r;
        cost += r < 128 ? r : 256 - r;
      }
      if (cost < best) {
        best = cost;
        raw[dst] = type;
        raw.set(cand, dst + 1);
      }
    }
  }
  const ihdr = new Uint8Array(13);
  const hv = new DataView(ihdr.buffer);
  hv.setUint32(0, width);
  hv.setUint32(4, height);
  ihdr[8] = depth;
  ihdr[9] = [0, 0, 4, 2, 6][channels]!;
  const parts = [Uint8Array.from(SIGNATURE), pngChunk('IHDR', ihdr), pngChunk('IDAT', deflateSync(raw)), pngChunk('IEND', new Uint8Array(0))];
  return Buffer.concat(parts);
}


export function readPng(path: string): PngImage {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    return fileError('read', path, e);
  }
  return decodePng(bytes, path);
}

export function writePng(path: string, img: PngImage): void {
  const bytes = encodePng(img);
  try {
    writeFileSync(path, bytes);
  } catch (e) {
    fileError('write', path, e);
  }
}

/**
 * An 8-bit image from a tensor [H, W], [C, H, W] or [1, C, H, W] (C = 1..4), mapping
 * [lo, hi] linearly to [0, 255] with rounding and clipping (NaN becomes 0). The range is
 * required: diffusion models commonly work in [-1, 1], images in [0, 1].
 */
export function tensorToPng(t: Tensor, range: readonly [number, number]): PngImage {
  const s = t.shape;
  let c: number, h: number, w: number;
  if (s.length === 2) [c, h, w] = [1, s[0]!, s[1]!];
  else if (s.length === 3) [c, h, w] = [s[0]!, s[1]!, s[2]!];
  else if (s.length === 4 && s[0] === 1) [c, h, w] = [s[1]!, s[2]!, s[3]!];
  else return fail('BAD_SHAPE', `tensorToPng: expected [H, W], [C, H, W] or [1, C, H, W], got [${s.join(', ')}]`);
  if (c < 1 || c > 4) fail('BAD_SHAPE', `tensorToPng: ${c} channels; a PNG has 1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA)`);
  const [lo, hi] = range;
  if (!(hi > lo)) fail('BAD_INPUT', `tensorToPng: range [${lo}, ${hi}] must have hi > lo`);
  const k = 255 / (hi - lo);
  const data = new Uint8Array(c * h * w);
  const src = t.data, plane = h * w;
  for (let ch = 0; ch < c; ch++) {
    for (let i = 0; i < plane; i++) {
      const v = Math.round((src[ch * plane + i]! - lo) * k);
      data[i * c + ch] = v > 255 ? 255 : v >= 0 ? v : 0;
    }
  }
  return { width: w, height: h, channels: c as PngImage['channels'], data };
}

/** A float32 tensor [C, H, W] with values in [0, 1] (samples divided by 255, or 65535 for 16-bit). */
export function pngToTensor(img: PngImage): Tensor {
  const { width: w, height: h, channels: c, data } = img;
  const scale = 1 / (data instanceof Uint16Array ? 65535 : 255);
  const out = new Float32Array(c * h * w);
  const plane = h * w;
  for (let i = 0; i < plane; i++) for (let ch = 0; ch < c; ch++) out[ch * plane + i] = data[i * c + ch]! * scale;
  return new Tensor([c, h, w], out);
}
