import type { Tensor } from '../../core/tensor.js';
import { LinearOperator, proxArgs, type OperatorSVD } from './operator.js';
import { pinvFromSVD, proxFromSVD } from './svd.js';

/**
 * An operator given by its SVD A = U diag(s) V^T: the pseudo-inverse V diag(1/s) U^T and the
 * data-consistency prox (`proxFromSVD`) follow from it once. Operators with a cheaper closed form
 * of A^+ override `pinv`.
 */
export abstract class SVDOperator extends LinearOperator {
  abstract readonly svd: OperatorSVD;

  pinv(y: Tensor): Tensor {
    return pinvFromSVD(this.svd, y);
  }

  proxDataConsistency(v: Tensor, y: Tensor, rho: number, noiseSigma?: number): Tensor {
    return proxFromSVD(this.svd, v, y, rho, proxArgs(this, rho, noiseSigma, `${this.name} prox`));
  }
}
