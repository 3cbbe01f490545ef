import { Tensor } from '../../core/tensor.js';
import type { OperatorSVD } from './operator.js';
import type { OperatorDef } from './spec-grammar.js';
import { fromSpectral, toSpectral } from './svd.js';
import { SVDOperator } from './svd-operator.js';

/** A = I: Gaussian denoising. V = U = I, s = 1. */
export class IdentityOperator extends SVDOperator {
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

  override pinv(y: Tensor): Tensor {
    return this.adjoint(y);
  }
}

export interface IdentityConfig {
  kind: 'identity';
  noise: number;
}

export const identityDef: OperatorDef<IdentityConfig> = {
  name: 'identity',
  aliases: ['denoise', 'denoising'],
  keys: ['noise'],
  doc: 'identity                                   denoising',
  parse: (items) => ({ kind: 'identity', noise: items.noise }),
  build: (config, inShape) => new IdentityOperator(inShape, config.noise),
};
