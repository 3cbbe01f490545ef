import { Tensor } from '../core/tensor.js';
import { fail } from '../core/errors.js';
import { checkedSize, exactInteger, requireFinite, type ValueSource } from './validate.js';

/**
 * NumPy .npy bytes (browser-safe; src/io/npy.ts reads and writes the files in Node): format versions 1.0, 2.0 and
 * 3.0 read, 1.0 written, C order only.
 * '<f4' reads as float32 and '<f8' as float64; the integer dtypes '|u1', '|i1', '<u2', '<i2',
 * '<u4', '<i4', '<i8', '<u8' are converted to float32 for convenience.
 */

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const bad = (name: string, what: string): never => fail('UNREADABLE_FILE', `${name}: not a readable .npy file: ${what}`);

type PyValue = string | number | boolean | PyValue[] | { [key: string]: PyValue };

/** numpy's own limit on the header it reads (np.load's max_header_size). */
const MAX_HEADER_BYTES = 10000;

/** An open container of the header literal: its closing bracket, its items, or its entries and a key waiting for its value. */
interface Open {
  close: string;
  items: PyValue[];
  dict: { [key: string]: PyValue } | null;
  key: string | null;
}

/**
 * A tiny parser for the Python literal of the header: dict, tuple/list, str, int, bool.
 * Iterative (an explicit stack of open containers), so deep nesting cannot overflow the call stack.
 */
function parseLiteral(src: string, name: string): PyValue {
  let p = 0;
  const ws = (): void => {
    while (p < src.length && /\s/.test(src[p]!)) p++;
  };
  const atom = /True|False|-?\d+L?/y;
  const scalar = (): PyValue => {
    const ch = src[p];
    if (ch === "'" || ch === '"') {
      const end = src.indexOf(ch, p + 1);
      if (end < 0) bad(name, 'unterminated string in header');
      const s = src.slice(p + 1, end);
      p = end + 1;
      return s;
    }
    atom.lastIndex = p;
    const m = atom.exec(src);
    if (!m) return bad(name, `unexpected ${JSON.stringify(src.slice(p, p + 20))} in header`);
    p += m[0].length;
    if (m[0] === 'True' || m[0] === 'False') return m[0] === 'True';
    return Number.parseInt(m[0], 10);
  };
  const stack: Open[] = [];
  let done: PyValue | undefined; // the value just completed, not yet placed in its container
  for (;;) {
    ws();
    const top = stack[stack.length - 1];
    if (done === undefined) {
      const ch = src[p];
      if (top && top.key === null && ch === top.close) {
        p++;
        stack.pop();
        done = top.dict ?? top.items;
      } else if (ch === '{' || ch === '(' || ch === '[') {
        p++;
        stack.push({ close: ch === '{' ? '}' : ch === '(' ? ')' : ']', items: [], dict: ch === '{' ? {} : null, key: null });
      } else {
        done = scalar();
      }
      continue;
    }
    if (!top) break;
    if (top.dict && top.key === null) {
      if (src[p++] !== ':' || typeof done !== 'string') bad(name, `malformed header dictionary near offset ${p}`);
      top.key = done as string;
      done = undefined;
      continue;
    }
    if (top.dict) {
      top.dict[top.key!] = done;
      top.key = null;
    } else {
      top.items.push(done);
    }
    done = undefined;
    ws();
    if (src[p] === ',') p++;
    else if (src[p] !== top.close) bad(name, `malformed header near offset ${p}: ${JSON.stringify(src.slice(p, p + 20))}`);
  }
  if (p !== src.length) bad(name, 'unexpected text after the header dictionary');
  return done;
}

/** A header value for messages, one level deep (a hostile header may nest thousands deep). */
function brief(v: PyValue | undefined): string {
  const one = (x: PyValue | undefined): string =>
    Array.isArray(x) ? '(...)' : typeof x === 'object' ? '{...}' : typeof x === 'string' ? `'${x.slice(0, 20)}'` : String(x);
  return Array.isArray(v) ? `(${v.slice(0, 8).map(one).join(', ')}${v.length > 8 ? ', ...' : ''})` : one(v);
}

/** A dtype's size and reader; 64-bit integers are read exactly and checked against 2^53 before becoming numbers. */
type DtypeInfo = { size: number; read: (view: DataView, offset: number) => number } | { size: number; read64: (view: DataView, offset: number) => bigint };

const DTYPES: Record<string, DtypeInfo> = {
  '|u1': { size: 1, read: (v, o) => v.getUint8(o) },
  '|i1': { size: 1, read: (v, o) => v.getInt8(o) },
  '<u2': { size: 2, read: (v, o) => v.getUint16(o, true) },
  '<i2': { size: 2, read: (v, o) => v.getInt16(o, true) },
  '<u4': { size: 4, read: (v, o) => v.getUint32(o, true) },
  '<i4': { size: 4, read: (v, o) => v.getInt32(o, true) },
  '<i8': { size: 8, read64: (v, o) => v.getBigInt64(o, true) },
  '<u8': { size: 8, read64: (v, o) => v.getBigUint64(o, true) },
  '<f4': { size: 4, read: (v, o) => v.getFloat32(o, true) },
  '<f8': { size: 8, read: (v, o) => v.getFloat64(o, true) },
};

/** Parse the bytes of a .npy file; `name` (a path) appears in every error message. */
export function parseNpy(bytes: Uint8Array, name = '<buffer>'): Tensor {
  return parseTypedNpy(bytes, name).tensor;
}

/** The same, with the file's numpy dtype (e.g. '|u1' for 8-bit data, which some readers treat apart). */
export function parseTypedNpy(bytes: Uint8Array, name = '<buffer>'): { tensor: Tensor; descr: string } {
  if (bytes.length < 10) bad(name, `only ${bytes.length} bytes, shorter than the 10-byte preamble`);
  for (let i = 0; i < MAGIC.length; i++) {
    if (bytes[i] !== MAGIC[i]) bad(name, 'missing the \\x93NUMPY magic string at the start');
  }
  const major = bytes[6]!, minor = bytes[7]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerStart: number, headerLen: number;
  if (major === 1) {
    headerStart = 10;
    headerLen = view.getUint16(8, true);
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) bad(name, `truncated preamble of format ${major}.${minor}`);
    headerStart = 12;
    headerLen = view.getUint32(8, true);
  } else {
    return bad(name, `unsupported format version ${major}.${minor} (versions 1.0, 2.0 and 3.0 are read)`);
  }
  if (headerLen > MAX_HEADER_BYTES) {
    bad(name, `the header declares ${headerLen} bytes, more than the ${MAX_HEADER_BYTES} numpy itself reads (np.load's max_header_size); the file is corrupt`);
  }
  const dataStart = headerStart + headerLen;
  if (dataStart > bytes.length) bad(name, `truncated header: it declares ${headerLen} bytes but the file ends after ${bytes.length - headerStart}`);
  const headerBytes = bytes.subarray(headerStart, dataStart);
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(headerBytes).trim();
  const dict = parseLiteral(header, name);
  if (typeof dict !== 'object' || Array.isArray(dict)) return bad(name, 'the header is not a dictionary');
  const { descr, fortran_order: fortran, shape } = dict;
  if (typeof descr !== 'string') {
    return bad(name, `dtype ${brief(descr)} is not supported (structured arrays cannot be read; save a plain float array)`);
  }
  if (typeof fortran !== 'boolean') bad(name, "the header lacks 'fortran_order'");
  if (fortran) bad(name, 'fortran_order is True; only C-order arrays are read (save np.ascontiguousarray(a))');
  if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
    return bad(name, `bad shape ${brief(shape)} in the header`);
  }
  const dims = shape as number[];
  if (descr[0] === '>') {
    bad(name, `big-endian dtype '${descr}' is not supported; save with a.astype('<${descr.slice(1)}')`);
  }
  const dt = DTYPES[descr];
  if (!dt) {
    return bad(name, `unsupported dtype '${descr}'; supported: ${Object.keys(DTYPES).map((k) => `'${k}'`).join(', ')}`);
  }
  const n = checkedSize(dims, name, `shape (${dims.join(', ')})`, 'split the array into smaller files (e.g. one per batch item)');
  const need = n * dt.size;
  const have = bytes.length - dataStart;
  if (have < need) bad(name, `truncated data: shape (${dims.join(', ')}) of '${descr}' needs ${need} bytes, the file holds ${have}`);
  if (have > need) bad(name, `${have - need} unexpected bytes after the data of shape (${dims.join(', ')}) '${descr}'`);
  const out = descr === '<f8' ? new Float64Array(n) : new Float32Array(n);
  if (littleEndianHost && (descr === '<f8' || descr === '<f4')) {
    // Fast path: copy the raw bytes into the (aligned) output array.
    new Uint8Array(out.buffer).set(bytes.subarray(dataStart, dataStart + need));
  } else if ('read64' in dt) {
    const src: ValueSource = { name, dims, order: 'C' };
    for (let i = 0; i < n; i++) out[i] = exactInteger(dt.read64(view, dataStart + i * dt.size), i, src);
  } else {
    for (let i = 0; i < n; i++) out[i] = dt.read(view, dataStart + i * dt.size);
  }
  if (descr === '<f8' || descr === '<f4') {
    requireFinite(out, { name, dims, order: 'C' }, 'replace them before saving, e.g. np.save(path, np.nan_to_num(a))');
  }
  return { tensor: new Tensor(dims, out), descr };
}

/** Encode a tensor as a format 1.0 .npy file ('<f4' for float32, '<f8' for float64). */
export function encodeNpy(t: Tensor): Uint8Array {
  const descr = t.dtype === 'float64' ? '<f8' : '<f4';
  const shape = t.shape.length === 1 ? `(${t.shape[0]},)` : `(${t.shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  // Pad with spaces and a final newline so the data starts at a multiple of 64 bytes.
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  header = header.padEnd(total - 10 - 1, ' ') + '\n';
  const hlen = header.length;
  if (hlen > 0xffff) fail('BAD_SHAPE', `encodeNpy: shape [${t.shape.join(', ')}] makes a header too long for format 1.0`);
  const out = new Uint8Array(10 + hlen + t.data.byteLength);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  out[8] = hlen & 0xff;
  out[9] = hlen >> 8;
  for (let i = 0; i < hlen; i++) out[10 + i] = header.charCodeAt(i);
  const view = new DataView(out.buffer);
  const d = t.data, off = 10 + hlen;
  if (littleEndianHost) out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), off);
  else if (d instanceof Float64Array) for (let i = 0; i < d.length; i++) view.setFloat64(off + 8 * i, d[i]!, true);
  else for (let i = 0; i < d.length; i++) view.setFloat32(off + 4 * i, d[i]!, true);
  return out;
}
