import { Tensor } from '../core/tensor.js';
import type { Path } from '../paths/path.js';
import type { PredictionType } from './prediction.js';

/** Conditioning handed to a model: the anchor mu of restoration paths and any extra named inputs. */
export interface Conditioning {
  /** The anchor image mu (degraded input) for paths with b(t) != 0; batched like x. */
  anchor?: Tensor;
  /** Extra named model inputs (class labels, text embeddings, the degraded image, ...). */
  inputs?: Readonly<Record<string, Tensor>>;
}

/**
 * The Denoiser contract: an async, batched prediction at path time t, with its declared
 * prediction type and path. Runtimes (ONNX, analytic models) implement it; samplers consume it
 * only through ModelFn, which converts predictions.
 */
export interface Denoiser {
  readonly prediction: PredictionType;
  readonly path: Path;
  /** Shape of one item (without the batch axis), when the model fixes it. */
  readonly itemShape: readonly number[] | null;
  predict(x: Tensor, t: number, cond?: Conditioning): Promise<Tensor>;
  /**
   * Vector-Jacobian product of the x0 estimate: v^T d E[x0 | x_t] / d x_t, for solvers that need gradients
   * (DPS, PiGDM). Absent when the runtime cannot differentiate.
   */
  x0Vjp?(x: Tensor, t: number, v: Tensor, cond?: Conditioning): Promise<Tensor>;
}
