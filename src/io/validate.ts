import { fail } from '../core/errors.js';
import { MAX_VALUES } from '../core/limits.js';

/**
 * Read-time checks shared by the file readers (NPY, NIfTI, DICOM, PNG): a size limit applied
 * to the header before anything is allocated or inflated, and value checks (NaN, infinities,
 * 64-bit integers that a float cannot hold exactly) that name the file and the position.
 */

export { MAX_VALUES };

/**
 * The most bytes of data a compressed file (.nii.gz, PNG) may declare: 2^27 = 128 MiB, so that a
 * file of a few MB cannot make a reader inflate more and then convert it (a reader's peak memory
 * stays under 1 GiB). Uncompressed files are bounded by MAX_VALUES alone.
 */
export const MAX_INFLATED_BYTES = 2 ** 27;

/**
 * Bytes a compressed stream (.nii.gz, PNG image data) may inflate to beyond the size its header
 * declares, for padding some writers add; more is refused as corrupt or a decompression bomb.
 */
export const INFLATE_SLACK_BYTES = 1 << 20;

/** Values beyond 2^53 in magnitude are not all representable as a float64 (and so not exactly). */
const MAX_EXACT_INTEGER = 2n ** 53n;

/**
 * The number of values of `dims`, refused (with `fix`, the way out for the user) when a size is
 * not a non-negative integer or the product exceeds MAX_VALUES. `what` describes the shape.
 */
export function checkedSize(dims: readonly number[], name: string, what: string, fix: string): number {
  let n = 1;
  for (const d of dims) {
    if (!Number.isSafeInteger(d) || d < 0) fail('UNREADABLE_FILE', `${name}: ${what} has a size ${d} that is not a non-negative integer; the header is corrupt`);
    n *= d;
  }
  if (n > MAX_VALUES) {
    fail('UNSUPPORTED', `${name}: ${what} holds ${n} values, more than the ${MAX_VALUES} (2^27) one file may hold; ${fix}`);
  }
  return n;
}

/** Refuse a compressed file whose header declares more than MAX_INFLATED_BYTES of data, before inflating it. */
export function checkInflatedSize(bytes: number, name: string, what: string, fix: string): void {
  if (bytes > MAX_INFLATED_BYTES) {
    fail('UNSUPPORTED', `${name}: ${what} is ${bytes} bytes of data once decompressed, more than the ${MAX_INFLATED_BYTES} (128 MiB) a compressed file may hold; ${fix}`);
  }
}

/** Where flat index i lies in an array of `dims`: C order (last axis fastest, NumPy) or F order (first axis fastest, NIfTI). */
export function positionOf(i: number, dims: readonly number[], order: 'C' | 'F'): string {
  if (dims.length < 2) return `flat index ${i}`;
  const idx = new Array<number>(dims.length);
  let r = i;
  for (let k = 0; k < dims.length; k++) {
    const axis = order === 'F' ? k : dims.length - 1 - k;
    idx[axis] = r % dims[axis]!;
    r = Math.floor(r / dims[axis]!);
  }
  return `flat index ${i}, index (${idx.join(', ')})`;
}

/** Where values came from, for messages: the file, and the shape and memory order of its values. */
export interface ValueSource {
  name: string;
  dims: readonly number[];
  order: 'C' | 'F';
}

/** Refuse the first NaN or infinite value, naming the file, its position and `fix`, what the user can do. */
export function requireFinite(data: ArrayLike<number>, src: ValueSource, fix: string): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v - v !== 0) {
      fail('BAD_INPUT', `${src.name}: value ${v} at ${positionOf(i, src.dims, src.order)}; NaN and infinite values are refused at read time — ${fix}`);
    }
  }
}

/** A stored 64-bit integer as a number, refused when beyond 2^53 (where numbers stop being exact integers). */
export function exactInteger(v: bigint, i: number, src: ValueSource): number {
  if (v > MAX_EXACT_INTEGER || v < -MAX_EXACT_INTEGER) {
    fail(
      'BAD_INPUT',
      `${src.name}: integer ${v} at ${positionOf(i, src.dims, src.order)} is beyond 2^53 and cannot be represented exactly; ` +
        'store the data as float32/float64 (or rescale it) before reading it with tweedie',
    );
  }
  return Number(v);
}
