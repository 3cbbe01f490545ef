import { fail } from '../core/errors.js';
import { Tensor } from '../core/tensor.js';
import { sliceAxial, type Volume } from '../io/volume.js';
import { paddedShape } from '../models/layout.js';

/**
 * Model space <-> volume space: where an axial slice of a volume sits on a 2-D prior's input
 * grid, and the way back (src/volume/reconstruct.ts runs the reconstruction).
 *
 * Model space. For the brain-64 prior (weights/brain-64/split.json): the square
 * vol[x0:x0+side, y0:y0+side, z] (zero outside the volume) is area-averaged to 64x64 (exact
 * box filter with fractional overlaps), image rows run over y from high to low and columns
 * over x from low to high, and intensities map by x = clip(2 v / p - 1, -1, 1), p the 99.5th
 * percentile of all voxels. The training volume (split.json's volume_shape and the same p)
 * uses split.json's crop and p verbatim; any other volume gets the same rule computed on it
 * (p = its 99.5th percentile; crop = the bounding box of voxels > 0.1 p over all slices, made
 * square about its centre, at least 64 voxels). For ch2 the computed rule reproduces split.json.
 *
 * Back to the input grid. Area averaging side -> 64 (side > 64) is not invertible. The
 * reconstruction is therefore returned twice: `modelStack`, the exact model-space result on a
 * resampled grid (64 x 64 x slices) whose affine is the input affine composed with the
 * crop/resize map (model voxel (i, j, k) sits at input voxel
 * (x0 - 0.5 + (i + 0.5) s, y0 - 0.5 + (j + 0.5) s, A + k), s = side / 64, j = 63 - row), and
 * `volume`, on the input grid and in input intensity units: bilinear interpolation of the
 * model-space slices at every input voxel centre inside the crop square (edge pixels held
 * constant), v = (x + 1) p / 2, and 0 outside the crop square and on slices that were not
 * reconstructed. Values above p were clipped by the normalisation and cannot come back.
 */

export interface SliceMapping {
  /** Model input side (64 for brain-64). */
  size: number;
  x0: number;
  y0: number;
  side: number;
  /** Intensity scale: x = clip(2 v / p - 1, -1, 1). */
  p: number;
  /** 'split.json' when the prior's training record was used verbatim, else 'computed'. */
  source: 'split.json' | 'computed';
}

/** The prior's training record (split.json), as far as the slice mapping reads it. */
export interface SplitJson {
  volume_shape?: number[];
  crop?: { x0: number; y0: number; side: number };
  normalisation?: { percentile?: number; p: number };
  /** Slices never seen in training (the held-out slab). */
  heldout_z?: number[];
}

/** The 99.5th (or q-th) percentile with numpy's default linear interpolation. */
export function percentile(data: ArrayLike<number>, q: number): number {
  const s = Float32Array.from(data).sort();
  if (s.length === 0) return NaN;
  const pos = (q / 100) * (s.length - 1);
  const lo = Math.floor(pos), hi = Math.min(s.length - 1, lo + 1);
  return s[lo]! + (pos - lo) * (s[hi]! - s[lo]!);
}

/** A volume the intensity rule cannot scale (x = 2 v / p - 1 takes the background at 0 and p > 0), in one line with the fix. */
function notPositive(name: string, q: number, p: number): never {
  return fail('BAD_INPUT', `${name}: the ${q}th percentile of the intensities is ${p}; the prior's normalisation needs positive intensities with the background at 0 (an empty or negative-valued volume, e.g. CT in HU?): shift the volume so that its background is 0`);
}

/** The crop/resize/intensity map of `vol` onto a size x size model grid (see the file comment). */
export function sliceMapping(vol: Volume, size: number, split: SplitJson | null): SliceMapping {
  const [X, Y, Z] = vol.dims as [number, number, number];
  const name = vol.source ?? 'volume';
  if (X < size || Y < size) {
    fail('BAD_SHAPE', `${name}: in-plane size ${X}x${Y} is too small for the ${size}x${size} prior; its axial slices must be at least ${size}x${size} voxels (the model was trained on downsampled slices); give a volume of that in-plane size or more`);
  }
  const q = split?.normalisation?.percentile ?? 99.5;
  const p = percentile(vol.data, q);
  // The training volume itself (same grid and same intensity scale): split.json's record verbatim.
  // Another volume on the same grid (any 1 mm MNI image is 181x217x181) gets its own p and crop.
  if (split?.crop && split.normalisation && split.volume_shape?.join(',') === [X, Y, Z].join(',') && Math.abs(p - split.normalisation.p) <= 1e-6 * Math.abs(p)) {
    return { size, x0: split.crop.x0, y0: split.crop.y0, side: split.crop.side, p: split.normalisation.p, source: 'split.json' };
  }
  if (!(p > 0)) notPositive(name, q, p);
  let xlo = X, xhi = -1, ylo = Y, yhi = -1;
  const thr = 0.1 * p;
  for (let k = 0; k < Z; k++) {
    for (let j = 0; j < Y; j++) {
      const off = X * (j + Y * k);
      for (let i = 0; i < X; i++) {
        if (vol.data[off + i]! > thr) {
          if (i < xlo) xlo = i;
          if (i > xhi) xhi = i;
          if (j < ylo) ylo = j;
          if (j > yhi) yhi = j;
        }
      }
    }
  }
  if (xhi < 0) fail('BAD_INPUT', `${name}: no voxel exceeds 0.1 x p${q}; nothing to crop`);
  let side = Math.max(xhi - xlo + 1, yhi - ylo + 1);
  if (side < size) side = size;
  const x0 = Math.floor((xlo + xhi + 1 - side) / 2), y0 = Math.floor((ylo + yhi + 1 - side) / 2);
  return { size, x0, y0, side, p, source: 'computed' };
}

/** [n_out, n_in] exact area-averaging matrix (training/brain64.py area_matrix), row-major. */
export function areaMatrix(nIn: number, nOut: number): Float64Array {
  const s = nIn / nOut;
  const R = new Float64Array(nOut * nIn);
  for (let i = 0; i < nOut; i++) {
    const lo = i * s, hi = (i + 1) * s;
    for (let j = Math.floor(lo); j < Math.min(nIn, Math.ceil(hi)); j++) R[i * nIn + j] = (Math.min(hi, j + 1) - Math.max(lo, j)) / s;
  }
  return R;
}

/** Slice z of `vol` in model space: [size*size] row-major, normalised to [-1, 1]. */
export function sliceToModel(vol: Volume, m: SliceMapping, z: number, R: Float64Array = areaMatrix(m.side, m.size)): Float32Array {
  const [X, Y] = vol.dims as [number, number];
  const { side, size, x0, y0 } = m;
  // img[r][c] = vol[x0 + c, y0 + side - 1 - r, z] (zero outside); small = R img R^T.
  const tmp = new Float64Array(size * side); // tmp[a][c] = sum_r R[a][r] img[r][c]
  const base = X * Y * z;
  for (let r = 0; r < side; r++) {
    const y = y0 + side - 1 - r;
    if (y < 0 || y >= Y) continue;
    for (let a = 0; a < size; a++) {
      const w = R[a * side + r]!;
      if (w === 0) continue;
      const row = tmp.subarray(a * side, (a + 1) * side);
      for (let c = 0; c < side; c++) {
        const x = x0 + c;
        if (x >= 0 && x < X) row[c]! += w * vol.data[base + X * y + x]!;
      }
    }
  }
  const out = new Float32Array(size * size);
  for (let a = 0; a < size; a++) {
    for (let b = 0; b < size; b++) {
      let s = 0;
      for (let c = 0; c < side; c++) s += tmp[a * side + c]! * R[b * side + c]!;
      out[a * size + b] = Math.min(1, Math.max(-1, (2 * s) / m.p - 1));
    }
  }
  return out;
}

/**
 * Model-space slices (rows as in `sliceToModel`) back onto the input grid and intensity units:
 * bilinear at each voxel centre inside the crop square, 0 elsewhere. `slices[k]` is slice A + k.
 */
export function modelToVolume(slices: Float32Array, A: number, count: number, like: Volume, m: SliceMapping): Float32Array {
  const [X, Y, Z] = like.dims as [number, number, number];
  const out = new Float32Array(X * Y * Z);
  const { size, side, x0, y0, p } = m;
  const s = side / size, n2 = size * size;
  const coord = (t: number): [number, number, number] => {
    const u = Math.min(size - 1, Math.max(0, (t + 0.5) / s - 0.5));
    const i0 = Math.min(size - 2, Math.floor(u));
    return [i0, i0 + 1, u - i0];
  };
  const cols = Array.from({ length: X }, (_, x) => coord(x - x0));
  const rows = Array.from({ length: Y }, (_, y) => coord(y0 + side - 1 - y));
  for (let k = 0; k < count; k++) {
    const z = A + k, img = slices.subarray(k * n2, (k + 1) * n2);
    for (let y = 0; y < Y; y++) {
      if (y < y0 || y >= y0 + side) continue;
      const [a0, a1, fa] = rows[y]!;
      const off = X * (y + Y * z);
      for (let x = 0; x < X; x++) {
        if (x < x0 || x >= x0 + side) continue;
        const [b0, b1, fb] = cols[x]!;
        const v =
          (1 - fa) * ((1 - fb) * img[a0 * size + b0]! + fb * img[a0 * size + b1]!) +
          fa * ((1 - fb) * img[a1 * size + b0]! + fb * img[a1 * size + b1]!);
        out[off + x] = ((v + 1) * p) / 2;
      }
    }
  }
  return out;
}

/** The affine of the model-space stack (see the file comment): input affine times the crop/resize map. */
export function modelStackAffine(inputAffine: number[][], m: Pick<SliceMapping, 'x0' | 'y0' | 'side' | 'size'>, A: number): number[][] {
  const s = m.side / m.size;
  const M = [
    [s, 0, 0, m.x0 - 0.5 + 0.5 * s],
    [0, s, 0, m.y0 - 0.5 + 0.5 * s],
    [0, 0, 1, A],
    [0, 0, 0, 1],
  ];
  return inputAffine.map((row) => M[0]!.map((_, j) => row.reduce((acc, v, k) => acc + v * M[k]![j]!, 0)));
}

/** Model stack [count][row][col] of h x w slices -> NIfTI voxel order (i = col, j = h - 1 - row, k). */
export function stackToNiftiOrder(stack: ArrayLike<number>, h: number, w: number, count: number): Float32Array {
  const out = new Float32Array(count * h * w);
  for (let k = 0; k < count; k++) {
    for (let r = 0; r < h; r++) {
      const j = h - 1 - r;
      for (let c = 0; c < w; c++) out[c + w * (j + h * k)] = stack[(k * h + r) * w + c]!;
    }
  }
  return out;
}

/** Slices zs of `vol` in model space, [zs.length, 1, size, size] (as `sliceToModel`). */
export function modelSlices(vol: Volume, m: SliceMapping, zs: number[]): Tensor {
  const n2 = m.size * m.size, R = areaMatrix(m.side, m.size);
  const t = new Tensor([zs.length, 1, m.size, m.size]);
  zs.forEach((z, k) => t.data.set(sliceToModel(vol, m, z, R), k * n2));
  return t;
}

/**
 * Model space of a prior with a layout (tweedie.json "multiple"): each axial slice on its own in-plane grid, no crop
 * and no resampling: image rows over y from high to low and columns over x from low to high (as above), intensities
 * x = clip(2 v / p - 1, -1, 1) with p the 99.5th percentile of the volume (as above). The slices are padded to the
 * multiple with the model's background (layout.ts), whose value -1 is v = 0: the air around the head, so the border
 * adds nothing that is not in the volume.
 */
export interface NativeMapping {
  grid: 'input';
  /** The slice size H x W (Y x X of the volume) and the padded size the model runs. */
  size: [number, number];
  padded: [number, number];
  p: number;
}

/** The native mapping of `vol` for a model with `multiple`: p, and the padded grid. */
export function nativeMapping(vol: Volume, multiple: number): NativeMapping {
  const [X, Y] = vol.dims as [number, number];
  const p = percentile(vol.data, 99.5);
  if (!(p > 0)) notPositive(vol.source ?? 'volume', 99.5, p);
  const [, H, W] = paddedShape([1, Y, X], multiple);
  return { grid: 'input', size: [Y, X], padded: [H!, W!], p };
}

/**
 * Slices A..B-1 of `vol` as images [B - A, 1, Y, X] in input units (rows over y from high to low). A constant slice is
 * refused, naming the longest run of slices in A..B-1 that holds none.
 */
export function axialImages(vol: Volume, A: number, B: number): Tensor {
  const [X, Y] = vol.dims as [number, number];
  const t = new Tensor([B - A, 1, Y, X]);
  const constant: number[] = [];
  for (let z = A, k = 0; z < B; z++, k++) {
    const s = sliceAxial(vol, z).data;
    let lo = Infinity, hi = -Infinity;
    for (let r = 0; r < Y; r++) {
      for (let c = 0; c < X; c++) {
        const v = s[(Y - 1 - r) * X + c]!;
        t.data[(k * Y + r) * X + c] = v;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
    if (!(hi > lo)) constant.push(z);
  }
  if (constant.length > 0) {
    const edges = [A - 1, ...constant, B];
    const gaps = edges.slice(1).map((e, i) => [edges[i]! + 1, e] as const).filter(([a, b]) => b > a);
    const best = gaps.reduce<readonly [number, number] | null>((g, c) => (!g || c[1] - c[0] > g[1] - g[0] ? c : g), null);
    const z = constant[0]!, v = sliceAxial(vol, z).data[0];
    fail('BAD_INPUT', `${vol.source ?? 'volume'}: slice ${z} is constant (${v})${constant.length > 1 ? ` and so are ${constant.length - 1} more` : ''}; there is nothing to reconstruct there: ${best ? `pick --slices ${best[0]}:${best[1]}, the longest run without one` : 'pick other --slices'}`);
  }
  return t;
}

/** Images [count, 1, Y, X] (as `axialImages`) written into slices A.. of a zero volume shaped like `like`. */
export function imagesToVolume(images: Tensor, A: number, like: Volume): Float32Array {
  const [X, Y, Z] = like.dims as [number, number, number];
  const out = new Float32Array(X * Y * Z);
  out.set(stackToNiftiOrder(images.data, Y, X, images.batch), X * Y * A);
  return out;
}
