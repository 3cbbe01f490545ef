import { fail } from '../../src/core/errors.js';
import { clampInPlace } from '../../src/core/ops.js';
import { Tensor } from '../../src/core/tensor.js';
import { readNifti } from '../../src/io/nifti.js';
import { cropItems } from '../../src/models/layout.js';
import { axialImages, percentile } from '../../src/volume/model-space.js';
import { resampleImages, rotateImages } from './resample.js';

/**
 * The test sets of `tweedie bench priors`: the held-out slab of the native brain priors (in distribution) and sets
 * shifted from it the way another scanner's or another user's images differ. ALL human data here is ONE subject
 * (the Colin27 "ch2" template and its skull-stripped version): no set measures how a prior holds up on another
 * person's anatomy. Every set takes the same held-out slices (z of the priors' split.json heldout_z, never trained
 * on) and maps intensities as `tweedie reconstruct` does: x = clip(2 v / p - 1, -1, 1), p = the 99.5th percentile
 * of the set's volume. Geometric changes are applied in these units, with -1 (v = 0, air) outside the image.
 */

const TEMPLATES = '/usr/share/mricron/templates';
export const CH2 = `${TEMPLATES}/ch2.nii.gz`;
const CH2BET = `${TEMPLATES}/ch2bet.nii.gz`;

export interface SetDef {
  name: string;
  /** What differs from the held-out slab, for the table's notes and docs/priors.md. */
  shift: string;
  volume: string;
  /** The held-out slices [N, 1, 217, 181] (model units) to this set's images. */
  change?: (x: Tensor) => Tensor;
}

const AIR = -1;
/** Pixel size s mm from the 1 mm grid: H / s x W / s pixels over the same field of view. */
const pixelSize = (mm: number) => (x: Tensor) => resampleImages(x, Math.round(x.shape[2]! / mm), Math.round(x.shape[3]! / mm));

export const SETS: readonly SetDef[] = [
  { name: 'heldout', shift: 'none: the native 1 mm held-out slices, 217x181 (in distribution)', volume: CH2 },
  { name: 'pixel-1.4mm', shift: 'pixel size 1.4 mm (155x129, exact area averaging: the anti-aliasing); training augmented 0.8..1.5 mm', volume: CH2, change: pixelSize(1.4) },
  { name: 'pixel-0.8mm', shift: 'pixel size 0.8 mm (271x226, linear interpolation: smoother than a real 0.8 mm acquisition, no new detail); training augmented 0.8..1.5 mm', volume: CH2, change: pixelSize(0.8) },
  { name: 'rotated-20', shift: 'rotated 20 degrees about the slice centre (bilinear), beyond the +-15 degrees of the training augmentation', volume: CH2, change: (x) => rotateImages(x, 20, AIR) },
  { name: 'fov-176', shift: 'field of view 176x176 (square, centred): cuts the front and back of the head, so anatomy touches the image edge', volume: CH2, change: (x) => cropItems(x, [1, 176, 176]) },
  { name: 'ch2bet', shift: 'contrast: the skull-stripped ch2 (ch2bet.nii.gz: no scalp, skull or background tissue; its own p99.5)', volume: CH2BET },
];

export const SET_NAMES = SETS.map((s) => s.name);

/**
 * The slices z of `volume` (a 3-D NIfTI) as images [N, 1, Y, X] in model units [-1, 1] (rows over y from high to low,
 * as `tweedie reconstruct` reads them).
 */
export function heldoutImages(volume: string, zs: readonly number[]): Tensor {
  const vol = readNifti(volume);
  const p = percentile(vol.data, 99.5);
  if (!(p > 0)) fail('BAD_INPUT', `${volume}: the 99.5th percentile is ${p}; the normalisation needs positive intensities`);
  const [X, Y, Z] = vol.dims as [number, number, number];
  const bad = zs.find((z) => !Number.isInteger(z) || z < 0 || z >= Z);
  if (bad !== undefined) fail('BAD_INPUT', `${volume}: held-out slice ${bad} is outside 0..${Z - 1}`);
  const x = new Tensor([zs.length, 1, Y, X]);
  zs.forEach((z, k) => x.data.set(axialImages(vol, z, z + 1).data.map((v) => 2 * v / p - 1), k * X * Y));
  return clampInPlace(x, -1, 1);
}

/** The set's images for held-out slices zs: [N, 1, H, W] in model units. */
export function setImages(def: SetDef, zs: readonly number[]): Tensor {
  const x = heldoutImages(def.volume, zs);
  return def.change ? def.change(x) : x;
}
