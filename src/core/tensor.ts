import { fail } from './errors.js';

/** Element storage: float32 for image data, float64 where tests need tight tolerances. */
export type Data = Float32Array | Float64Array;

/** A dense, row-major array: a shape plus a flat typed array. The first axis is the batch. */
export class Tensor {
  readonly shape: readonly number[];
  readonly data: Data;

  constructor(shape: readonly number[], data?: Data) {
    const size = shapeSize(shape);
    if (data && data.length !== size) {
      fail('BAD_SHAPE', `tensor data has ${data.length} elements but shape [${shape.join(', ')}] needs ${size}`);
    }
    this.shape = [...shape];
    this.data = data ?? new Float32Array(size);
  }

  static zeros(shape: readonly number[], dtype: 'float32' | 'float64' = 'float32'): Tensor {
    const n = shapeSize(shape);
    return new Tensor(shape, dtype === 'float64' ? new Float64Array(n) : new Float32Array(n));
  }

  static from(shape: readonly number[], values: ArrayLike<number>, dtype: 'float32' | 'float64' = 'float32'): Tensor {
    const data = dtype === 'float64' ? Float64Array.from(values) : Float32Array.from(values);
    return new Tensor(shape, data);
  }

  get size(): number {
    return this.data.length;
  }
  get dtype(): 'float32' | 'float64' {
    return this.data instanceof Float64Array ? 'float64' : 'float32';
  }
  /** Batch size (first axis). */
  get batch(): number {
    return this.shape[0] ?? 1;
  }
  /** Number of elements per batch item. */
  get itemSize(): number {
    return this.shape.length === 0 ? 1 : this.size / this.batch;
  }

  /** A zero tensor of the same shape and dtype. */
  zerosLike(): Tensor {
    return Tensor.zeros(this.shape, this.dtype);
  }
  clone(): Tensor {
    return new Tensor(this.shape, this.data.slice());
  }
  reshape(shape: readonly number[]): Tensor {
    if (shapeSize(shape) !== this.size) {
      fail('BAD_SHAPE', `cannot reshape [${this.shape.join(', ')}] to [${shape.join(', ')}]`);
    }
    return new Tensor(shape, this.data);
  }
  /** Batch items [start, end) as a view sharing memory. */
  sliceBatch(start: number, end: number): Tensor {
    const m = this.itemSize;
    return new Tensor([end - start, ...this.shape.slice(1)], this.data.subarray(start * m, end * m));
  }
  /** n copies of all of this tensor's values as a batch [n, ...itemShape], in `dtype` (default this one's). */
  tile(n: number, itemShape: readonly number[], dtype: 'float32' | 'float64' = this.dtype): Tensor {
    const out = Tensor.zeros([n, ...itemShape], dtype);
    if (out.itemSize !== this.size) fail('BAD_SHAPE', `cannot tile [${this.shape.join(', ')}] as items [${itemShape.join(', ')}]`);
    for (let i = 0; i < n; i++) out.data.set(this.data, i * this.size);
    return out;
  }
  toDtype(dtype: 'float32' | 'float64'): Tensor {
    if (dtype === this.dtype) return this;
    return new Tensor(this.shape, dtype === 'float64' ? Float64Array.from(this.data) : Float32Array.from(this.data));
  }
}

/** Split-complex tensor (separate real and imaginary planes), used for k-space data. */
export class ComplexTensor {
  readonly shape: readonly number[];
  readonly re: Float64Array | Float32Array;
  readonly im: Float64Array | Float32Array;
  constructor(shape: readonly number[], re?: Data, im?: Data) {
    const n = shapeSize(shape);
    this.shape = [...shape];
    this.re = re ?? new Float32Array(n);
    this.im = im ?? new Float32Array(n);
    if (this.re.length !== n || this.im.length !== n) {
      fail('BAD_SHAPE', `complex tensor planes must have ${n} elements for shape [${shape.join(', ')}]`);
    }
  }
  get size(): number {
    return this.re.length;
  }
  static fromReal(t: Tensor): ComplexTensor {
    return new ComplexTensor(t.shape, t.data.slice(), t.data instanceof Float64Array ? new Float64Array(t.size) : new Float32Array(t.size));
  }
}

export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) fail('BAD_SHAPE', `invalid dimension ${d} in shape [${shape.join(', ')}]`);
    n *= d;
  }
  return n;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function assertSameShape(a: Tensor, b: Tensor, what: string): void {
  if (!sameShape(a.shape, b.shape)) {
    fail('BAD_SHAPE', `${what}: shapes [${a.shape.join(', ')}] and [${b.shape.join(', ')}] differ`);
  }
}
