import { Tensor } from '../../core/tensor.js';
import { LinearOperator, proxArgs, type OperatorSVD } from './operator.js';
import { fromSpectral, proxFromSVD, toSpectral } from './svd.js';

/** A = I: Gaussian denoising. V = U = I, s = 1. */
export class IdentityOperator extends LinearOperator {
  readonly kind = 'identity' as const;
  readonly name: string;
  readonly svd: OperatorSVD;

  constructor(shape: readonly number[], noiseSigma = 0) {
    super(shape, shape, noiseSigma);
    this.name = `identity(${shape.join('x')})`;
    const size = this.inSize;
    const what = `${this.name} svd`;
    const to = (t: Tensor): Tensor => toSpectral(t, shape, what);
    const from = (z: Tensor): Tensor => fromSpectral(z, shape, what);
    this.svd = {
      size,
      spectralShape: [...shape],
      singularValues: new Float64Array(size).fill(1),
      applyVt: to,
      applyV: from,
      applyU: from,
      applyUt: to,
    };
  }

  protected forwardInto(x: Tensor, y: Tensor): void {
    y.data.set(x.data);
  }
  protected adjointInto(y: Tensor, x: Tensor): void {
    x.data.set(y.data);
  }

  pinv(y: Tensor): Tensor {
    return this.adjoint(y);
  }

  proxDataConsistency(v: Tensor, y: Tensor, rho: number, noiseSigma?: number): Tensor {
    return proxFromSVD(this.svd, v, y, rho, proxArgs(this, rho, noiseSigma, `${this.name} prox`));
  }
}
