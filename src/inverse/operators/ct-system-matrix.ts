import type { Data } from '../../core/tensor.js';

/**
 * A CT system matrix precomputed once per geometry: A in compressed sparse rows (one row per
 * (view, bin), columns = pixels) and A^T the same way (one row per pixel), so that both the
 * projection and the backprojection are gathers along contiguous rows. Only nonzero weights are
 * kept (float64, the on-the-fly projector's own values), columns ascending in each row.
 */
export interface CsrMatrix {
  rows: number;
  cols: number;
  /** Entries of row r are [rowStart[r], rowStart[r + 1]). */
  rowStart: Int32Array;
  col: Int32Array;
  value: Float64Array;
}

export interface CTSystemMatrix {
  forward: CsrMatrix;
  adjoint: CsrMatrix;
  bytes: number;
}

/**
 * The bytes the matrices of a geometry may take at most: each of `pixels` pixels touches at most
 * `perPixel` bins per view (3 for the footprint, 2 for linear interpolation), 12 bytes an entry
 * (float64 weight, int32 column) in each of A and A^T, plus the row starts.
 */
export function ctMatrixBytesBound(pixels: number, views: number, detectors: number, perPixel: number): number {
  return 2 * 12 * pixels * views * perPixel + 4 * (views * detectors + pixels + 2);
}

/** Bytes of a built matrix pair. */
function matrixBytes(m: CsrMatrix): number {
  return m.rowStart.byteLength + m.col.byteLength + m.value.byteLength;
}

/**
 * Builds A from `weightsAt(view, first, wts)`, which writes for every pixel k the first of its three
 * bins (first[k]) and their weights (wts[3k .. 3k+2], 0 outside the detector), and its transpose.
 */
export function buildCTSystemMatrix(
  pixels: number,
  views: number,
  detectors: number,
  weightsAt: (view: number, first: Int32Array, wts: Float64Array) => void,
): CTSystemMatrix {
  const rows = views * detectors, first = new Int32Array(pixels), wts = new Float64Array(3 * pixels);
  // Two passes over the views: count the entries of each row, then fill them in pixel order.
  const rowStart = new Int32Array(rows + 1);
  for (let a = 0; a < views; a++) {
    weightsAt(a, first, wts);
    for (let k = 0; k < pixels; k++) for (let j = 0; j < 3; j++) if (wts[3 * k + j] !== 0) rowStart[a * detectors + first[k]! + j + 1]!++;
  }
  for (let r = 0; r < rows; r++) rowStart[r + 1] = rowStart[r + 1]! + rowStart[r]!;
  const nnz = rowStart[rows]!, col = new Int32Array(nnz), value = new Float64Array(nnz), next = rowStart.slice(0, rows);
  for (let a = 0; a < views; a++) {
    weightsAt(a, first, wts);
    for (let k = 0; k < pixels; k++) {
      for (let j = 0; j < 3; j++) {
        const v = wts[3 * k + j]!;
        if (v === 0) continue;
        const e = next[a * detectors + first[k]! + j]!++;
        col[e] = k;
        value[e] = v;
      }
    }
  }
  const forward: CsrMatrix = { rows, cols: pixels, rowStart, col, value };
  const adjoint = transposeCsr(forward);
  return { forward, adjoint, bytes: matrixBytes(forward) + matrixBytes(adjoint) };
}

/** The transpose in CSR (a counting sort by column, so each row's columns stay ascending). */
export function transposeCsr(m: CsrMatrix): CsrMatrix {
  const nnz = m.rowStart[m.rows]!, rowStart = new Int32Array(m.cols + 1);
  for (let e = 0; e < nnz; e++) rowStart[m.col[e]! + 1]!++;
  for (let c = 0; c < m.cols; c++) rowStart[c + 1] = rowStart[c + 1]! + rowStart[c]!;
  const next = rowStart.slice(0, m.cols), col = new Int32Array(nnz), value = new Float64Array(nnz);
  for (let r = 0; r < m.rows; r++) {
    for (let e = m.rowStart[r]!; e < m.rowStart[r + 1]!; e++) {
      const t = next[m.col[e]!]!++;
      col[t] = r;
      value[t] = m.value[e]!;
    }
  }
  return { rows: m.cols, cols: m.rows, rowStart, col, value };
}

/**
 * dst = M src on `planes` planes laid end to end (src plane p at p * M.cols, dst plane p at
 * p * M.rows), summed in float64 in column order and rounded once into dst's type.
 */
export function applyCsr(m: CsrMatrix, src: Data, dst: Data, planes: number): void {
  const { rows, cols, rowStart, col, value } = m;
  for (let r = 0; r < rows; r++) {
    const lo = rowStart[r]!, hi = rowStart[r + 1]!;
    for (let p = 0, so = 0, dr = r; p < planes; p++, so += cols, dr += rows) {
      let s = 0;
      for (let e = lo; e < hi; e++) s += value[e]! * src[so + col[e]!]!;
      dst[dr] = s;
    }
  }
}

/**
 * A least-recently-used cache of system matrices by geometry key, holding at most `maxBytes` in all:
 * adding one evicts the oldest until it fits. A matrix larger than the whole budget is not kept.
 */
export class CTMatrixCache {
  private readonly entries = new Map<string, CTSystemMatrix>();
  private used = 0;
  constructor(readonly maxBytes: number) {}

  get bytes(): number {
    return this.used;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The cached matrix of `key`, or the one `build` makes (then cached if it fits the budget). */
  get(key: string, build: () => CTSystemMatrix): CTSystemMatrix {
    const hit = this.entries.get(key);
    if (hit) {
      this.entries.delete(key); // re-insert: Map order is the recency order
      this.entries.set(key, hit);
      return hit;
    }
    const m = build();
    if (m.bytes > this.maxBytes) return m;
    for (const [k, old] of this.entries) {
      if (this.used + m.bytes <= this.maxBytes) break;
      this.entries.delete(k);
      this.used -= old.bytes;
    }
    this.entries.set(key, m);
    this.used += m.bytes;
    return m;
  }
}
