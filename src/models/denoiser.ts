import { Tensor } from '../core/tensor.js';
import type { Path } from '../paths/path.js';
import type { ConditionSpecs } from './conditioning.js';
import type { ItemLayout } from './layout.js';
import type { PredictionType } from './prediction.js';

/**
 * How a denoiser's derivatives are computed: 'exact' (analytic models), 'exported' (a gradient graph shipped
 * beside an ONNX model), 'differences' (the JVP by central differences, standing in for the VJP: exact only
 * where the Jacobian is symmetric, as it is for an exact MMSE denoiser).
 */
export type GradientRoute = 'exact' | 'exported' | 'differences';

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
  /** Shape of one item (without the batch axis), when the model fixes it; the default size of a model with a layout. */
  readonly itemShape: readonly number[] | null;
  /** Present when the model takes other sizes too (tweedie.json "multiple", layout.ts); absent: itemShape only. */
  readonly layout?: ItemLayout;
  /**
   * The named conditions the model takes (a class label, an image, a vector), when it is conditional; the recipe
   * layer checks the user's values against them and binds them (conditioning.ts bindConditions).
   */
  readonly conditions?: ConditionSpecs;
  predict(x: Tensor, t: number, cond?: Conditioning): Promise<Tensor>;
  /**
   * Vector-Jacobian product of the x0 estimate: v^T d E[x0 | x_t] / d x_t, for solvers that need gradients
   * (DPS, PiGDM). Absent when the runtime cannot differentiate.
   */
  x0Vjp?(x: Tensor, t: number, v: Tensor, cond?: Conditioning): Promise<Tensor>;
  /** Jacobian-vector product of the x0 estimate, d E[x0 | x_t] / d x_t v, when the runtime computes it exactly. */
  x0Jvp?(x: Tensor, t: number, v: Tensor, cond?: Conditioning): Promise<Tensor>;
  /** How x0Vjp is computed, when there is one. */
  readonly gradient?: GradientRoute;
}
