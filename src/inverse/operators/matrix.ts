import { Tensor, shapeSize } from '../../core/tensor.js';
import { fail } from '../../core/errors.js';
import { checkBatch, type OperatorSVD } from './operator.js';
import { loadedData, type DataSource, type OperatorDef } from './spec-grammar.js';
import { checkSpectral, denseSVD, type DenseSVD } from './svd.js';
import { SVDOperator } from './svd-operator.js';

/**
 * A dense m x n matrix acting on flattened items: inShape any shape of n elements (default
 * [n]), outShape [m]. The SVD (computed on first use) comes from the Jacobi
 * eigendecomposition of the smaller of A^T A and A A^T (see `denseSVD` for its accuracy:
 * singular values below 1e-7 s_max count as zero); spectral coordinates are ordered by
 * descending singular value.
 */
export class MatrixOperator extends SVDOperator {
  readonly kind = 'matrix' as const;
  readonly name: string;
  readonly m: number;
  readonly n: number;
  /** Row-major m x n. */
  readonly matrix: Float64Array;
  private cached: { dense: DenseSVD; svd: OperatorSVD } | undefined;

  constructor(matrix: ArrayLike<number>, m: number, n: number, inShape: readonly number[] = [n], noiseSigma = 0, label = 'dense') {
    if (!Number.isInteger(m) || !Number.isInteger(n) || m < 1 || n < 1 || matrix.length !== m * n) {
      fail('BAD_SHAPE', `matrix operator: ${matrix.length} entries do not make an ${m} x ${n} matrix`);
    }
    if (shapeSize(inShape) !== n) fail('BAD_SHAPE', `matrix operator: the ${m} x ${n} matrix needs inputs of ${n} elements, got shape [${inShape.join(', ')}]`);
    super(inShape, [m], noiseSigma);
    this.m = m;
    this.n = n;
    this.matrix = Float64Array.from(matrix);
    for (const v of this.matrix) if (!Number.isFinite(v)) fail('BAD_INPUT', `matrix operator (${label}) contains NaN or Infinity; fix the matrix file`);
    this.name = `matrix(${label}, ${m}x${n})`;
  }

  /** From a 2-D tensor [m, n] (e.g. `readNpy`). */
  static fromTensor(t: Tensor, inShape?: readonly number[], noiseSigma = 0, label = 'dense'): MatrixOperator {
    if (t.shape.length !== 2) fail('BAD_SHAPE', `matrix ${label} has shape [${t.shape.join(', ')}]; expected a 2-D array [m, n]`);
    const [m, n] = t.shape as [number, number];
    return new MatrixOperator(t.data, m, n, inShape ?? [n], noiseSigma, label);
  }

  protected forwardInto(x: Tensor, y: Tensor, batch: number): void {
    const { m, n, matrix: A } = this, xd = x.data, yd = y.data;
    for (let b = 0; b < batch; b++) {
      for (let r = 0; r < m; r++) {
        let acc = 0;
        for (let c = 0; c < n; c++) acc += A[r * n + c]! * xd[b * n + c]!;
        yd[b * m + r] = acc;
      }
    }
  }

  protected adjointInto(y: Tensor, x: Tensor, batch: number): void {
    const { m, n, matrix: A } = this, xd = x.data, yd = y.data;
    const acc = new Float64Array(n);
    for (let b = 0; b < batch; b++) {
      acc.fill(0);
      for (let r = 0; r < m; r++) {
        const v = yd[b * m + r]!;
        for (let c = 0; c < n; c++) acc[c] = acc[c]! + A[r * n + c]! * v;
      }
      for (let c = 0; c < n; c++) xd[b * n + c] = acc[c]!;
    }
  }

  /** The dense SVD factors (U m x n, s, V n x n). */
  get denseSvd(): DenseSVD {
    return this.factors().dense;
  }

  get svd(): OperatorSVD {
    return this.factors().svd;
  }

  private factors(): { dense: DenseSVD; svd: OperatorSVD } {
    if (this.cached) return this.cached;
    const { m, n } = this, dense = denseSVD(this.matrix, m, n), { U, V, s, rank } = dense;
    const what = `${this.name} svd`;
    // out[b, r] = sum_c M[r, c] in[b, c] (transposed: M[c, r]), M row-major with `ld` columns.
    const apply = (src: Tensor, M: Float64Array, ld: number, rows: number, cols: number, transposed: boolean, limit: number, shapeOut: readonly number[]): Tensor => {
      const batch = src.batch, out = Tensor.zeros(shapeOut, src.dtype);
      for (let b = 0; b < batch; b++) {
        for (let r = 0; r < rows; r++) {
          let acc = 0;
          if (transposed) {
            if (r >= limit) continue;
            for (let c = 0; c < cols; c++) acc += M[c * ld + r]! * src.data[b * cols + c]!;
          } else {
            for (let c = 0; c < Math.min(cols, limit); c++) acc += M[r * ld + c]! * src.data[b * cols + c]!;
          }
          out.data[b * rows + r] = acc;
        }
      }
      return out;
    };
    const svd: OperatorSVD = {
      size: n,
      spectralShape: [n],
      singularValues: s,
      applyVt: (x) => apply(x, V, n, n, n, true, n, [checkBatch(x, this.inShape, what), n]),
      applyV: (z) => apply(z, V, n, n, n, false, n, [checkSpectral(z, n, what), ...this.inShape]),
      applyU: (z) => apply(z, U, n, m, n, false, rank, [checkSpectral(z, n, what), m]),
      applyUt: (y) => apply(y, U, n, n, m, true, rank, [checkBatch(y, this.outShape, what), n]),
    };
    this.cached = { dense, svd };
    return this.cached;
  }
}

// ---------------------------------------------------------------------------------------
// Spec: matrix:A.npy

export interface MatrixConfig {
  kind: 'matrix';
  noise: number;
  /** The [m, n] matrix. */
  matrix: DataSource;
}

export const matrixDef: OperatorDef<MatrixConfig> = {
  name: 'matrix',
  aliases: ['dense'],
  keys: ['file', 'noise'],
  freeWords: true,
  doc: 'matrix:A.npy                               dense matrix [m, n] on flattened inputs',
  parse: (items) => {
    const files = [...items.words, ...(items.has('file') ? [items.get('file')!] : [])];
    if (files.length !== 1) items.bad('give one matrix file: matrix:A.npy (an [m, n] array)');
    return { kind: 'matrix', noise: items.noise, matrix: { file: files[0]!, format: 'npy' } };
  },
  build: (config, inShape, bad) => {
    const { shape, data, file } = loadedData(config.matrix, bad);
    if (shape.length !== 2) bad(`${file ?? 'the matrix'} has shape [${shape.join(', ')}]; a matrix file holds a 2-D array [m, n]`);
    const [m, n] = shape as [number, number];
    const size = shapeSize(inShape);
    if (size !== n) bad(`the matrix is ${m} x ${n} but the input has ${size} elements (shape [${inShape.join(', ')}]); the matrix needs n = ${size} columns`);
    return new MatrixOperator(data, m, n, inShape, config.noise, file);
  },
};
