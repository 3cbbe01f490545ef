import type { NoiseSource } from '../../core/rng.js';
import { Tensor, shapeSize } from '../../core/tensor.js';
import { cropItems, overlayItems, padItems } from '../../models/layout.js';
import { LinearOperator, type Operator, type OperatorKind, type OperatorSVD } from './operator.js';
import { svdFromV } from './svd.js';

/**
 * A on the larger grid a layout model runs (layout.ts): A' = A C, C the centred crop from `shape` to A's input.
 * C has orthonormal rows (C C^T = I, C^T the zero pad), so A's closed forms carry over: (A C)^+ = C^T A^+; the
 * prox is A's on the crop and v itself on the border (no data there); the SVD is A's on the crop plus one
 * zero singular value per border pixel. The border is unobserved: a solver fills it from the prior, the caller
 * crops it away.
 */
export class PaddedOperator extends LinearOperator {
  readonly kind: OperatorKind;
  readonly name: string;
  readonly svd?: OperatorSVD;
  readonly pinv?: (y: Tensor) => Tensor;
  readonly proxDataConsistency?: (v: Tensor, y: Tensor, rho: number, noiseSigma?: number) => Tensor;

  constructor(readonly inner: Operator, shape: readonly number[]) {
    super(shape, inner.outShape, inner.noiseSigma, inner.complexOutput);
    this.kind = inner.kind;
    this.name = `${inner.name} padded to ${shape.slice(-2).join('x')}`;
    const small = inner.inShape, crop = (x: Tensor) => cropItems(x.reshape([x.batch, ...shape]), small);
    const innerPinv = inner.pinv?.bind(inner), innerProx = inner.proxDataConsistency?.bind(inner);
    if (innerPinv) this.pinv = (y) => padItems(innerPinv(y), shape, 0);
    if (innerProx) this.proxDataConsistency = (v, y, rho, sigma) => overlayItems(v.clone().reshape([v.batch, ...shape]), innerProx(crop(v), y, rho, sigma));
    if (inner.svd) this.svd = this.paddedSvd(inner.svd, shape, crop);
  }

  /** V'^T x = (V^T C x, x on the border), singular values (s, 0 ... 0). */
  private paddedSvd(svd: OperatorSVD, shape: readonly number[], crop: (x: Tensor) => Tensor): OperatorSVD {
    const n = svd.size, big = shapeSize(shape);
    const inside = padItems(Tensor.from([1, ...this.inner.inShape], new Float32Array(n).fill(1)), shape, 0).data;
    const border = [...inside.keys()].filter((i) => inside[i] === 0);
    const s = new Float64Array(big);
    s.set(svd.singularValues);
    const applyVt = (x: Tensor): Tensor => {
      const z = Tensor.zeros([x.batch, big], x.dtype), inner = svd.applyVt(crop(x));
      for (let b = 0; b < x.batch; b++) {
        z.data.set(inner.data.subarray(b * n, (b + 1) * n), b * big);
        border.forEach((p, k) => (z.data[b * big + n + k] = x.data[b * big + p]!));
      }
      return z;
    };
    const applyV = (z: Tensor): Tensor => {
      const head = Tensor.zeros([z.batch, n], z.dtype), x = Tensor.zeros([z.batch, ...shape], z.dtype);
      for (let b = 0; b < z.batch; b++) {
        head.data.set(z.data.subarray(b * big, b * big + n), b * n);
        border.forEach((p, k) => (x.data[b * big + p] = z.data[b * big + n + k]!));
      }
      return overlayItems(x, svd.applyV(head).reshape([z.batch, ...this.inner.inShape]));
    };
    return svdFromV(this, [big], s, applyV, applyVt);
  }

  protected forwardInto(x: Tensor, y: Tensor): void {
    y.data.set(this.inner.forward(cropItems(x, this.inner.inShape)).data);
  }

  protected adjointInto(y: Tensor, x: Tensor): void {
    overlayItems(x, this.inner.adjoint(y).reshape([y.batch, ...this.inner.inShape]));
  }

  override measure(x: Tensor, noise: NoiseSource, step = 0): Tensor {
    return this.inner.measure(cropItems(x.reshape([x.batch, ...this.inShape]), this.inner.inShape), noise, step);
  }
}
