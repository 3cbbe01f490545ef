import { fail } from '../core/errors.js';
import { Tensor } from '../core/tensor.js';
import { requireVolume3D, type Volume } from '../io/volume.js';
import type { ItemLayout } from '../models/layout.js';
import { axialImages, imagesToVolume, modelSlices, modelToVolume, nativeMapping, sliceMapping, type SplitJson } from './model-space.js';
import { onInputGrid, sliceRangeOf } from './reconstruct-core.js';

/**
 * The one mapping of a user's image into a restoration model's space and back, shared by `tweedie restore` (and so the
 * server's restore jobs) and the app's in-browser restore (browser-safe):
 * - a volume (NIfTI, DICOM), slices A..B-1: the model-space path of `tweedie reconstruct` (src/volume/model-space.ts:
 *   crop, area averaging, x = clip(2 v / p - 1) with p the split.json percentile rule), restored, and put back on the
 *   input grid in its units; a model with a layout takes each slice on its own grid (the native mapping);
 * - a PNG: its grey levels g in [0, 1] (8-bit g / 255, 16-bit g / 65535) linearly onto the value range, on its own grid.
 * Why these two: a volume's intensities are in scanner units and its slices of any size (ch2's 181x217), so it needs
 * the scale and crop the brain models were trained with (their training data is that very mapping of ch2), which is
 * what `tweedie reconstruct` and the app already did; the old linear [min, max] map made the scale hang on one hot voxel
 * and took 64x64 slices only. A PNG's grey levels already are a fixed display scale: the one tweedie writes its PNGs
 * with and the fmnist models were trained on, so a PNG is read as it is and must have the model's size.
 */

/** The value-range side of a model: its item shape or layout, and value_range. */
export interface RestorationModel {
  itemShape: readonly number[];
  layout?: ItemLayout | undefined;
  valueRange: readonly [number, number];
}

/** A grey level u in [0, 1] (a PNG's g / 255) in model units. */
export const unitToModel = (u: number, [lo, hi]: readonly [number, number]): number => lo + u * (hi - lo);
/** Model units back to a grey level in [0, 1], clipped to the range first (the inverse of unitToModel). */
export const modelToUnit = (x: number, [lo, hi]: readonly [number, number]): number => (Math.min(hi, Math.max(lo, x)) - lo) / (hi - lo);

/** Refuse an image whose channels or size the model cannot restore as it is: one line naming the input and the fix. */
export function checkImageFits(model: RestorationModel, shape: readonly number[], what: string, modelName: string): void {
  const [c, h, w] = shape.slice(-3) as [number, number, number];
  const want = model.itemShape;
  if (c !== want[0]) fail('BAD_SHAPE', `${what} has ${c} channel${c === 1 ? '' : 's'} but ${modelName} restores ${want[0]}-channel images; convert the image (e.g. to grayscale)`);
  if (!model.layout && (h !== want[1] || w !== want[2])) {
    fail('BAD_SHAPE', `${what} is [${[c, h, w].join(', ')}] but ${modelName} restores [${want.join(', ')}] images; resize it to ${want[2]}x${want[1]} (a low-resolution one: tweedie restore --upscale K), or restore the volume it came from (NIfTI or DICOM: slices of any size are mapped onto the model's grid)`);
  }
}

/** Slices A..B-1 of an input in a restoration model's space, and the way back. */
export interface ModelSlices {
  /** [B - A, 1, h, w] in model units. */
  x: Tensor;
  slices: [number, number];
  /** 'model': the fixed-size model space (crop + area average); 'input': each slice on its own grid. */
  grid: 'model' | 'input';
  /** Restored slices (model units, shaped as x) on the input grid and in its units, clipped to the range; 0 elsewhere. */
  back(y: Tensor, source: string): Volume;
}

export interface VolumeSlices extends ModelSlices {
  /** Another volume on the same grid (a --truth), mapped exactly as the input (same crop and scale). */
  sameWay(other: Volume, what: string): Tensor;
}

export function volumeSlices(input: Volume, model: RestorationModel, split: SplitJson | null, slices: [number, number] | undefined, modelName: string): VolumeSlices {
  const vol = requireVolume3D(input);
  const [X, Y, Z] = vol.dims as [number, number, number];
  const name = vol.source ?? 'volume';
  const [A, B] = sliceRangeOf(slices, Z, name);
  const [lo, hi] = model.valueRange, count = B - A;
  const clip = (y: Tensor) => Float32Array.from(y.data, (v) => Math.min(hi, Math.max(lo, v)));
  const same = (other: Volume, what: string) => {
    if (other.dims.slice(0, 3).join(',') !== vol.dims.slice(0, 3).join(',')) fail('BAD_SHAPE', `${what} is ${other.dims.slice(0, 3).join('x')} but the input is ${X}x${Y}x${Z}; give the clean volume on the input's grid`);
    return requireVolume3D(other);
  };
  if (model.itemShape[0] !== 1) fail('BAD_SHAPE', `${name} is a grey volume but ${modelName} restores ${model.itemShape[0]}-channel images; pick a 1-channel model (brain-irsde, brain-resshift, brain-rddm)`);
  if (model.layout) {
    const { p } = nativeMapping(vol, model.layout.multiple);
    const toModel = (t: Tensor) => new Tensor(t.shape, t.data.map((v) => Math.min(hi, Math.max(lo, lo + ((hi - lo) * v) / p))));
    return {
      x: toModel(axialImages(vol, A, B)), slices: [A, B], grid: 'input',
      sameWay: (other, what) => toModel(axialImages(same(other, what), A, B)),
      back: (y, source) => onInputGrid(vol, imagesToVolume(new Tensor(y.shape, clip(y).map((v) => ((v - lo) / (hi - lo)) * p)), A, vol), source),
    };
  }
  const [, h, w] = model.itemShape as [number, number, number];
  if (h !== w || lo !== -1 || hi !== 1) fail('UNSUPPORTED', `${modelName} restores [${model.itemShape.join(', ')}] images in [${lo}, ${hi}]; a volume is mapped onto square slices in [-1, 1] (the brain models' space)`);
  const mapping = sliceMapping(vol, h, split);
  const zs = Array.from({ length: count }, (_, k) => A + k);
  return {
    x: modelSlices(vol, mapping, zs), slices: [A, B], grid: 'model',
    sameWay: (other, what) => modelSlices(same(other, what), mapping, zs),
    back: (y, source) => onInputGrid(vol, modelToVolume(clip(y), A, count, vol, mapping), source),
  };
}

/**
 * A PNG opened as a one-slice volume of grey levels 0..255 (src/app/open-volume.ts imageVolume, image row r at
 * y = H - 1 - r) in model units, as `tweedie restore` reads a PNG; `channels` is the PNG's (3 for a colour image).
 */
export function greyImageSlices(vol: Volume, channels: number, model: RestorationModel, modelName: string): ModelSlices {
  const [W, H] = vol.dims as [number, number];
  const name = vol.source ?? 'image';
  checkImageFits(model, [channels, H, W], name, modelName);
  const range = model.valueRange;
  const x = new Tensor([1, 1, H, W]);
  for (let r = 0; r < H; r++) for (let c = 0; c < W; c++) x.data[r * W + c] = unitToModel(vol.data[(H - 1 - r) * W + c]! / 255, range);
  return {
    x, slices: [0, 1], grid: 'input',
    back: (y, source) => onInputGrid(vol, imagesToVolume(new Tensor(y.shape, y.data.map((v) => 255 * modelToUnit(v, range))), 0, vol), source),
  };
}
