import h5wasm, { type Dataset, type File as H5File } from 'h5wasm';
import { fail, TweedieError } from '../core/errors.js';
import { MAX_VALUES } from '../core/limits.js';
import { parseIsmrmrdHeader, type IsmrmrdHeader } from './ismrmrd-header.js';

/**
 * Raw multi-coil k-space in the fastMRI layout (HDF5, read with h5wasm; browser-safe: the bytes
 * are handed in, src/io/fastmri-file.ts reads them from disk in Node):
 *   kspace              complex [slices, coils, rows, cols] (or [slices, rows, cols], one coil);
 *                       h5py writes complex64 as a compound {r: float32, i: float32}, and
 *                       interleaved float [slices, coils, rows, cols, 2] is accepted too;
 *                       rows = readout (ISMRMRD x), cols = phase encoding (y, the sampled lines)
 *   ismrmrd_header      the ISMRMRD XML (matrix sizes and fields of view, src/io/ismrmrd-header.ts)
 *   reconstruction_rss  float [slices, rows', cols'], the RSS of the fully sampled coil images
 *                       centre-cropped to reconSpace (training and validation files)
 *   mask                [cols] (or [rows, cols]) of a prospectively undersampled file (test files)
 *   attributes          acquisition, max, norm, patient_id, ... (scalars kept, others skipped)
 * k-space is read one slice at a time; every declared size is checked against MAX_VALUES before
 * anything is allocated, and HDF5's own errors (a truncated or corrupt file) become one line.
 */

export interface FastmriFile {
  readonly name: string;
  readonly slices: number;
  readonly coils: number;
  readonly rows: number;
  readonly cols: number;
  /** e.g. "complex64 (compound r, i)". */
  readonly dtype: string;
  readonly datasets: readonly string[];
  readonly header: IsmrmrdHeader | null;
  readonly attrs: Readonly<Record<string, number | string>>;
  /** 1 = sampled: [cols] or [rows * cols] as stored, or null. */
  readonly mask: Float32Array | null;
  /** reconstruction_rss [slices, rssRows, rssCols], or null. */
  readonly rss: { data: Float32Array; rows: number; cols: number } | null;
  /** Slice z as split planes [coils, rows, cols]. */
  readSlice(z: number): { re: Float64Array; im: Float64Array };
  close(): void;
}

type H5Module = Awaited<typeof h5wasm.ready>;

let opened = 0;

/** One line from an h5wasm/HDF5 error: the innermost frame of the HDF5 error stack, else the message. */
function hdf5Reason(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  const frames = [...msg.matchAll(/#\d+: .*? in \w+\(\): ([^\n]*)/g)];
  const inner = frames.length > 0 ? frames[frames.length - 1]![1]! : msg.split('\n')[0]!;
  return inner.replace(/\s+/g, ' ').trim().slice(0, 300);
}

/** Runs an h5wasm call; its failure becomes "NAME: cannot read HDF5 (REASON)". */
function guarded<T>(name: string, what: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof TweedieError) throw e;
    return fail('UNREADABLE_FILE', `${name}: cannot read ${what} as HDF5 (${hdf5Reason(e)}); the file is truncated or corrupt, or not HDF5`);
  }
}

const H5T = { integer: 0, float: 1, string: 3, compound: 6, enum: 8 } as const;

function describeType(d: Dataset): string {
  const m = d.metadata;
  const shape = `[${(m.shape ?? []).join(', ')}]`;
  if (m.type === H5T.compound) return `compound {${(m.compound_type?.members ?? []).map((x) => x.name).join(', ')}} ${shape}`;
  const kind = m.type === H5T.float ? 'float' : m.type === H5T.integer ? (m.signed ? 'int' : 'uint') : m.type === H5T.string ? 'string' : `HDF5 class ${m.type}`;
  return `${kind}${m.type === H5T.string ? '' : 8 * m.size} ${shape}`;
}

interface KspaceLayout {
  slices: number;
  coils: number;
  rows: number;
  cols: number;
  /** Bytes per complex value, byte offsets of re and im, float width and byte order. */
  stride: number;
  reOff: number;
  imOff: number;
  width: 4 | 8;
  little: boolean;
  shape: number[];
  dtype: string;
}

function kspaceLayout(d: Dataset, name: string): KspaceLayout {
  const m = d.metadata, shape = m.shape ?? [];
  let width: number, reOff: number, imOff: number, dims: number[], dtype: string;
  if (m.type === H5T.compound) {
    const members = m.compound_type?.members ?? [];
    const re = members.find((x) => /^(r|re|real)$/i.test(x.name)), im = members.find((x) => /^(i|im|imag)$/i.test(x.name));
    if (members.length !== 2 || !re || !im || re.type !== H5T.float || im.type !== H5T.float || re.size !== im.size || re.littleEndian !== im.littleEndian) {
      fail('BAD_INPUT', `${name}: kspace is ${describeType(d)}; expected complex k-space (h5py's complex64: a compound {r, i} of two floats)`);
    }
    width = re.size;
    reOff = re.offset;
    imOff = im.offset;
    dims = shape;
    dtype = `complex${16 * width} (compound ${re.name}, ${im.name})`;
  } else if (m.type === H5T.float && shape.length >= 4 && shape[shape.length - 1] === 2) {
    width = m.size;
    reOff = 0;
    imOff = m.size;
    dims = shape.slice(0, -1);
    dtype = `float${8 * width} (re, im) interleaved`;
  } else {
    return fail('BAD_INPUT', `${name}: kspace is ${describeType(d)}; expected complex [slices, coils, rows, cols] (h5py complex64) or float [slices, coils, rows, cols, 2]`);
  }
  if (width !== 4 && width !== 8) fail('BAD_INPUT', `${name}: kspace has ${8 * width}-bit float parts; expected float32 or float64`);
  if (dims.length === 3) dims = [dims[0]!, 1, dims[1]!, dims[2]!];
  if (dims.length !== 4) fail('BAD_SHAPE', `${name}: kspace has shape [${shape.join(', ')}] (rank ${shape.length}); expected [slices, coils, rows, cols] (or [slices, rows, cols] for one coil)`);
  const [slices, coils, rows, cols] = dims as [number, number, number, number];
  if (!dims.every((v) => Number.isSafeInteger(v) && v >= 1)) fail('BAD_SHAPE', `${name}: kspace has an empty dimension, shape [${shape.join(', ')}]`);
  if (2 * coils * rows * cols > MAX_VALUES || rows * cols * slices > MAX_VALUES) {
    fail('BAD_SHAPE', `${name}: kspace [${shape.join(', ')}] is larger than tweedie reads (${MAX_VALUES} values per slice and per image stack); split the file`);
  }
  return { slices, coils, rows, cols, stride: m.type === H5T.compound ? m.size : 2 * width, reOff, imOff, width: width as 4 | 8, little: m.littleEndian, shape, dtype };
}

/** A small numeric dataset as float32 (mask, rss), its size checked first. */
function numericValues(d: Dataset, what: string, name: string): Float32Array {
  const m = d.metadata;
  if (m.type !== H5T.float && m.type !== H5T.integer && m.type !== H5T.enum) fail('BAD_INPUT', `${name}: ${what} is ${describeType(d)}; expected numbers`);
  if (m.total_size > MAX_VALUES) fail('BAD_SHAPE', `${name}: ${what} holds ${m.total_size} values, more than ${MAX_VALUES}`);
  const v = d.value as ArrayLike<number | bigint> | number | bigint | null;
  if (v === null || typeof v !== 'object') fail('BAD_INPUT', `${name}: ${what} is a scalar; expected an array`);
  return Float32Array.from(v as ArrayLike<number | bigint>, (x) => Number(x));
}

function scalarAttrs(f: H5File): Record<string, number | string> {
  const out: Record<string, number | string> = {};
  for (const [k, a] of Object.entries(f.attrs)) {
    const v = a.value as unknown;
    if (typeof v === 'number' || typeof v === 'string') out[k] = v;
    else if (typeof v === 'bigint') out[k] = Number(v);
  }
  return out;
}

function readHeader(f: H5File, keys: string[], name: string): IsmrmrdHeader | null {
  if (!keys.includes('ismrmrd_header')) return null;
  const d = f.get('ismrmrd_header') as Dataset;
  if (d.metadata.type !== H5T.string) fail('BAD_INPUT', `${name}: ismrmrd_header is ${describeType(d)}; expected the ISMRMRD XML string`);
  if (d.metadata.size * d.metadata.total_size > 1 << 24) fail('BAD_INPUT', `${name}: ismrmrd_header is larger than 16 MiB; not an ISMRMRD header`);
  const v = d.value as unknown;
  const xml = typeof v === 'string' ? v : Array.isArray(v) && typeof v[0] === 'string' ? v[0] : v instanceof Uint8Array ? new TextDecoder().decode(v) : '';
  return parseIsmrmrdHeader(xml, name);
}

function readRss(f: H5File, keys: string[], slices: number, name: string): FastmriFile['rss'] {
  if (!keys.includes('reconstruction_rss')) return null;
  const d = f.get('reconstruction_rss') as Dataset, s = d.metadata.shape ?? [];
  if (s.length !== 3 || s[0] !== slices) fail('BAD_SHAPE', `${name}: reconstruction_rss has shape [${s.join(', ')}]; expected [${slices}, rows, cols] (one image per kspace slice)`);
  return { data: numericValues(d, 'reconstruction_rss', name), rows: s[1]!, cols: s[2]! };
}

function readMask(f: H5File, keys: string[], rows: number, cols: number, name: string): Float32Array | null {
  if (!keys.includes('mask')) return null;
  const d = f.get('mask') as Dataset, s = d.metadata.shape ?? [];
  const ok = (s.length === 1 && s[0] === cols) || (s.length === 2 && s[0] === rows && s[1] === cols);
  if (!ok) fail('BAD_SHAPE', `${name}: mask has shape [${s.join(', ')}]; expected [${cols}] (the k-space columns) or [${rows}, ${cols}]`);
  return numericValues(d, 'mask', name);
}

/** Slice z of kspace: a hyperslab read into the wasm heap, decoded to float64 planes. */
function sliceReader(M: H5Module, d: Dataset, L: KspaceLayout, name: string): FastmriFile['readSlice'] {
  return (z) => {
    if (!Number.isInteger(z) || z < 0 || z >= L.slices) fail('USAGE', `${name}: slice ${z} is outside 0..${L.slices - 1}`);
    const n = L.coils * L.rows * L.cols, nbytes = n * L.stride;
    // The hyperslab [z, 0, ...] of extent [1, ...shape[1:]]: one slice in the dataset's own rank.
    const count = [1, ...L.shape.slice(1)].map(BigInt), offset = L.shape.map((_, i) => BigInt(i === 0 ? z : 0)), strides = count.map(() => 1n);
    const re = new Float64Array(n), im = new Float64Array(n);
    guarded(name, `kspace slice ${z}`, () => {
      const ptr = M._malloc(nbytes);
      if (!ptr) fail('UNREADABLE_FILE', `${name}: no memory for kspace slice ${z} (${nbytes} bytes)`);
      try {
        M.get_dataset_data(d.file_id, d.path, count, offset, strides, BigInt(ptr));
        const view = new DataView(M.HEAPU8.buffer, ptr, nbytes);
        const get = L.width === 4 ? (o: number) => view.getFloat32(o, L.little) : (o: number) => view.getFloat64(o, L.little);
        for (let k = 0, o = 0; k < n; k++, o += L.stride) {
          re[k] = get(o + L.reOff);
          im[k] = get(o + L.imOff);
        }
      } finally {
        M._free(ptr);
      }
    });
    return { re, im };
  };
}

/** Open a fastMRI file from its bytes (`name` for messages). */
export async function openFastmri(bytes: Uint8Array, name: string): Promise<FastmriFile> {
  const M = await h5wasm.ready;
  M.activate_throwing_error_handler();
  const path = `/tweedie-${++opened}.h5`;
  M.FS.writeFile(path, bytes);
  let f: H5File | undefined;
  try {
    f = guarded(name, 'the file', () => new h5wasm.File(path, 'r'));
    const file = f;
    return guarded(name, 'the file', () => {
      const keys = file.keys();
      if (!keys.includes('kspace')) {
        fail('BAD_INPUT', `${name} holds no "kspace" dataset (it has ${keys.length ? keys.map((k) => `"${k}"`).join(', ') : 'no datasets'}); give a fastMRI file with kspace [slices, coils, rows, cols]`);
      }
      const ks = file.get('kspace');
      if (!(ks instanceof h5wasm.Dataset)) fail('BAD_INPUT', `${name}: "kspace" is not a dataset`);
      const L = kspaceLayout(ks, name);
      const header = readHeader(file, keys, name);
      const rss = readRss(file, keys, L.slices, name), mask = readMask(file, keys, L.rows, L.cols, name);
      return {
        name, slices: L.slices, coils: L.coils, rows: L.rows, cols: L.cols, dtype: L.dtype, datasets: keys, header, attrs: scalarAttrs(file), mask, rss,
        readSlice: sliceReader(M, ks, L, name),
        close: () => {
          file.close();
          M.FS.unlink(path);
        },
      };
    });
  } catch (e) {
    if (f) guarded(name, 'the file', () => f!.close());
    M.FS.unlink(path);
    throw e;
  }
}
