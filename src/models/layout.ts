import { fail } from '../core/errors.js';
import { Tensor } from '../core/tensor.js';

/**
 * The layout contract of fully convolutional models (tweedie.json "multiple"): the model takes items
 * [...lead, H, W] of any H and W that are multiples of `multiple` (at least `multiple`), with the leading
 * (channel) dimensions of its default shape. Fixed-size and analytic models have no layout.
 */
export interface ItemLayout {
  readonly multiple: number;
  /**
   * The value a border added to reach the multiple is filled with. Image priors are trained on images whose
   * background (air around the head, the black around a garment) is the low end of their value_range, so a
   * border of that value reads to the model as more background and adds no structure next to the image.
   */
  readonly background: number;
}

/** A model's size rule, for messages. */
export function sizeRule(layout: ItemLayout): string {
  return `H and W must be multiples of ${layout.multiple} (at least ${layout.multiple})`;
}

/** A model as far as its item shapes go: a Denoiser, or a model folder's spec before a session exists. */
export interface ShapedModel {
  readonly itemShape: readonly number[] | null;
  readonly layout?: ItemLayout;
}

const sameLead = (model: ShapedModel, shape: readonly number[]): boolean => {
  const want = model.itemShape;
  return !want || (want.length === shape.length && want.slice(0, -2).every((d, i) => d === shape[i]));
};

/** Whether the model runs items of `shape` as they are. */
export function takesItems(model: ShapedModel, shape: readonly number[]): boolean {
  const l = model.layout;
  if (!l) return !model.itemShape || model.itemShape.join(',') === shape.join(',');
  return shape.length >= 2 && sameLead(model, shape) && shape.slice(-2).every((d) => d >= l.multiple && d % l.multiple === 0);
}

/** `shape` with H and W rounded up to the multiple (at least the multiple). */
export function paddedShape(shape: readonly number[], multiple: number): number[] {
  return shape.map((d, i) => (i < shape.length - 2 ? d : Math.max(multiple, Math.ceil(d / multiple) * multiple)));
}

/**
 * The item shape the model runs for items of `shape`: the shape itself when the model takes it, the shape padded to
 * the multiple for a layout model, or null (a fixed-size model given another shape, or other channels).
 */
export function modelGrid(model: ShapedModel, shape: readonly number[]): number[] | null {
  if (takesItems(model, shape)) return [...shape];
  if (!model.layout || shape.length < 2 || !sameLead(model, shape)) return null;
  return paddedShape(shape, model.layout.multiple);
}

/** Where an item [.., h, w] sits inside [.., H, W]: centred (the extra row or column goes below / right). */
function offsets(small: readonly number[], big: readonly number[]): [number, number] {
  const n = small.length;
  return [Math.floor((big[n - 2]! - small[n - 2]!) / 2), Math.floor((big[n - 1]! - small[n - 1]!) / 2)];
}

/** Copy item planes between x [N, ...small] and y [N, ...big] (centred): `into` 'big' pads, 'small' crops. */
function copyPlanes(small: Tensor, big: Tensor, into: 'big' | 'small'): void {
  const s = small.shape.slice(1), b = big.shape.slice(1), n = s.length;
  const h = s[n - 2]!, w = s[n - 1]!, H = b[n - 2]!, W = b[n - 1]!;
  const [top, left] = offsets(s, b), planes = small.batch * (small.itemSize / (h * w));
  for (let p = 0; p < planes; p++) {
    for (let i = 0; i < h; i++) {
      const si = (p * h + i) * w, bi = (p * H + i + top) * W + left;
      if (into === 'big') big.data.set(small.data.subarray(si, si + w), bi);
      else small.data.set(big.data.subarray(bi, bi + w), si);
    }
  }
}

function checkPair(small: readonly number[], big: readonly number[], what: string): void {
  const n = small.length;
  if (n < 2 || big.length !== n || small.slice(0, -2).some((d, i) => d !== big[i]) || small[n - 2]! > big[n - 2]! || small[n - 1]! > big[n - 1]!) {
    fail('BAD_SHAPE', `${what}: items [${small.join(', ')}] do not fit inside [${big.join(', ')}]`);
  }
}

/** x [N, ...item] padded to [N, ...shape] with `value` around it (centred). */
export function padItems(x: Tensor, shape: readonly number[], value: number): Tensor {
  checkPair(x.shape.slice(1), shape, 'pad');
  const y = Tensor.zeros([x.batch, ...shape], x.dtype);
  if (value !== 0) y.data.fill(value);
  copyPlanes(x, y, 'big');
  return y;
}

/** The centred [N, ...shape] part of x [N, ...padded]: the inverse of padItems. */
export function cropItems(x: Tensor, shape: readonly number[]): Tensor {
  checkPair(shape, x.shape.slice(1), 'crop');
  const y = Tensor.zeros([x.batch, ...shape], x.dtype);
  copyPlanes(y, x, 'small');
  return y;
}

/** Write x [N, ...small] over the centred part of base [N, ...big] (in place) and return base. */
export function overlayItems(base: Tensor, x: Tensor): Tensor {
  checkPair(x.shape.slice(1), base.shape.slice(1), 'overlay');
  copyPlanes(x, base, 'big');
  return base;
}

/** modelGrid, or one line naming the size rule when the model cannot run items of `shape` (`what` names them). */
export function requireModelGrid(model: ShapedModel, shape: readonly number[], what: string): number[] {
  const grid = modelGrid(model, shape);
  if (grid) return grid;
  const given = `${what} [${shape.join(', ')}]`, own = model.itemShape ?? [];
  return fail('BAD_SHAPE', model.layout
    ? `${given} does not fit the model: it takes [${[...own.slice(0, -2), 'H', 'W'].join(', ')}] of any H and W, padded to the multiple (${sizeRule(model.layout)})`
    : `${given}: this model takes only [${own.join(', ')}]; other sizes need a model whose tweedie.json declares "multiple"`);
}
