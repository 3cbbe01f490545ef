import { fail } from '../core/errors.js';
import { fft2c, ifft2c } from '../core/fft.js';
import { Tensor } from '../core/tensor.js';
import type { FastmriFile } from '../io/fastmri.js';
import { createVolume, type Volume } from '../io/volume.js';
import { psnr, ssim } from '../metrics/image.js';
import { acsBlock, acsCoilMaps, espiritCoilMaps } from '../inverse/operators/coil-maps.js';
import { equispacedLineMask, lineMask2D, randomLineMask } from '../inverse/operators/mri-masks.js';
import { coilMapsFromTensor, MultiCoilMRIOperator, type CoilMaps } from '../inverse/operators/mri-multicoil.js';
import { solverByName } from '../inverse/solvers/registry.js';
import type { Denoiser, GradientRoute } from '../models/denoiser.js';
import { sizeRule, takesItems } from '../models/layout.js';
import type { GradientChoice } from '../models/derivatives.js';
import { solve } from '../recipes/solve.js';
import type { ParamValues } from '../samplers/types.js';
import { percentile } from './model-space.js';

/**
 * Reconstruction of raw multi-coil k-space in the fastMRI layout (src/io/fastmri.ts), slice by
 * slice on the file's own image grid:
 * 1. readout oversampling is removed (coil images cropped to reconSpace's x rows, back to k-space),
 *    so the grid is [reconSpace x, encoded y] (kspace rows x columns otherwise);
 * 2. the sampled columns are the file's mask (prospective), the nonzero columns, or a fastMRI
 *    equispaced/random mask applied to a fully sampled file (retrospective);
 * 3. coil maps are estimated from the ACS lines (src/inverse/operators/coil-maps.ts: ESPIRiT by default, or
 *    the low-resolution coil images / RSS) or given;
 * 4. the SENSE model y_c = M fft2c(S_c x) (MultiCoilMRIOperator) is solved for a real image x in
 *    the prior's model space: x_file = s (x + 1) / 2, with s chosen so that the 99.5th percentile
 *    of the run's zero-filled images lands on the prior's own 99.5th percentile q (o.modelPercentile:
 *    0.48 on brain-64's held-out slab, which puts ch2's images back on their training scale):
 *    s = 2 p99.5 / (1 + q). The data become y' = (2 / s) y - A 1. The prior takes the grid as its
 *    item (a fixed size equal to the grid, or a tweedie.json "multiple" that divides it; others are refused,
 *    and the baselines zero-filled and tv take any size);
 * 5. the result is centre-cropped to reconSpace and compared, like fastMRI's evaluation, with the
 *    file's reconstruction_rss (or the RSS of the fully sampled file): PSNR over the volume and
 *    SSIM per slice, both with data range = the reference's maximum.
 */

export interface KspaceOptions {
  /** Slices [A, B) (default all). */
  slices?: [number, number];
  /** Retrospective undersampling of a fully sampled file: acceleration, mask kind, centre fraction. */
  accel?: number;
  mask?: 'equispaced' | 'random';
  acs?: number;
  /** How the maps are estimated from the ACS lines (default 'espirit'). */
  mapsMethod?: 'espirit' | 'acs';
  /** Coil maps [coils, H, W, 2] (every slice) or [slices, coils, H, W, 2] instead of ACS estimates. */
  maps?: Tensor;
  mapsName?: string;
  /** How the option that raises the ACS lines is spelled (for messages). */
  acsOption?: string;
  solver: string;
  steps: number;
  params?: Partial<ParamValues>;
  gradient?: GradientChoice;
  /** The prior's 99.5th percentile in model units (default 1), which the zero-filled 99.5th percentile is mapped to. */
  modelPercentile?: number;
  /** Measurement noise sd in model units (default 0.01). */
  noise?: number;
  seed?: number;
  onProgress?: (done: number, total: number) => void;
}

/** The image grid of a file: rows kept after the readout crop, columns, and the output crop. */
export interface KspaceGrid {
  rows: number;
  cols: number;
  /** First kspace-image row kept by the readout crop (0 without oversampling). */
  rowStart: number;
  outRows: number;
  outCols: number;
  /** Voxel size (mm) of the output: rows, columns, slice. */
  voxel: [number, number, number];
}

export function kspaceGrid(file: FastmriFile): KspaceGrid {
  const h = file.header, rss = file.rss;
  const recon = h ? h.reconSpace.matrixSize : rss ? { x: rss.rows, y: rss.cols } : { x: file.rows, y: file.cols };
  const rows = Math.min(recon.x, file.rows);
  const outRows = rows, outCols = Math.min(recon.y, file.cols);
  const fov = h?.reconSpace.fieldOfView_mm;
  const voxel: [number, number, number] = fov ? [fov.x / recon.x, fov.y / recon.y, h!.encodedSpace.fieldOfView_mm.z || 1] : [1, 1, 1];
  return { rows, cols: file.cols, rowStart: Math.floor((file.rows - rows) / 2), outRows, outCols, voxel };
}

/**
 * [count, outRows, outCols] images as a volume (i = columns, j = rows from the bottom, k = slices), as
 * `reconstruct --measurement` writes them and the page shows them.
 */
export function kspaceVolume(stack: Float32Array, count: number, g: KspaceGrid, descrip: string, source?: string): Volume {
  const h = g.outRows, w = g.outCols, out = new Float32Array(stack.length);
  for (let k = 0; k < count; k++) for (let r = 0; r < h; r++) for (let c = 0; c < w; c++) out[c + w * (h - 1 - r + h * k)] = stack[(k * h + r) * w + c]!;
  return createVolume(out, [w, h, count], { voxelSize: [g.voxel[1], g.voxel[0], g.voxel[2]], descrip, ...(source ? { source } : {}) });
}

/** The prior's 99.5th percentile in model units (o.modelPercentile), from its held-out images (else 1, the top of [-1, 1]). */
export function priorPercentile(heldout: Tensor | null): number {
  return heldout ? percentile(heldout.data, 99.5) : 1;
}

/**
 * Every slice of a file as acquired, for viewing before a run: the RSS of the zero-filled coil images on the output
 * grid, and whether the file is undersampled already (its mask or zero columns; else --accel undersamples it).
 */
export function acquiredImages(file: FastmriFile): { volume: Volume; undersampled: boolean } {
  const g = kspaceGrid(file), n = g.outRows * g.outCols, stack = new Float32Array(file.slices * n);
  let undersampled = false;
  for (let z = 0; z < file.slices; z++) {
    const ks = gridKspace(file, z, g);
    if (z === 0) undersampled = sampling(file, ks, g, { solver: 'zero-filled', steps: 1 }).prospective;
    stack.set(crop(rssImage(ks.re, ks.im, file.coils, g.rows, g.cols), g.rows, g.cols, g.outRows, g.outCols), z * n);
  }
  return { volume: kspaceVolume(stack, file.slices, g, 'RSS of the acquired k-space', file.name), undersampled };
}

/** Slice z's k-space on the grid: coil images cropped to the grid's rows and transformed back. */
export function gridKspace(file: FastmriFile, z: number, g: KspaceGrid): { re: Float64Array; im: Float64Array } {
  const s = file.readSlice(z);
  if (g.rows === file.rows) return s;
  const C = file.coils, w = file.cols, n = g.rows * w;
  ifft2c(s.re, s.im, [C, file.rows, w]);
  const re = new Float64Array(C * n), im = new Float64Array(C * n);
  for (let c = 0; c < C; c++) {
    const from = (c * file.rows + g.rowStart) * w;
    re.set(s.re.subarray(from, from + n), c * n);
    im.set(s.im.subarray(from, from + n), c * n);
  }
  fft2c(re, im, [C, g.rows, w]);
  return { re, im };
}

/** Columns with any nonzero entry over coils and rows. */
function acquiredColumns(re: Float64Array, im: Float64Array, coils: number, h: number, w: number): Uint8Array {
  const cols = new Uint8Array(w);
  for (let k = 0; k < coils * h * w; k++) if (re[k] !== 0 || im[k] !== 0) cols[k % w] = 1;
  return cols;
}

/** The sampled columns of a slice and how they were chosen. */
function sampling(file: FastmriFile, first: { re: Float64Array; im: Float64Array }, g: KspaceGrid, o: KspaceOptions): { columns: Uint8Array; label: string; prospective: boolean } {
  const w = g.cols;
  let columns: Uint8Array | null = null, label = '';
  if (file.mask) {
    const m = file.mask;
    columns = new Uint8Array(w);
    for (let k = 0; k < m.length; k++) if (m[k]! > 0) columns[k % w] = 1;
    label = `the file's mask`;
  } else {
    const found = acquiredColumns(first.re, first.im, file.coils, g.rows, w);
    if (found.some((v) => v === 0)) {
      columns = found;
      label = 'the acquired (nonzero) columns';
    }
  }
  if (columns) {
    if (o.accel !== undefined || o.mask !== undefined) fail('USAGE', `${file.name} is already undersampled (${label}: ${columns.reduce((a, b) => a + b, 0)} of ${w} columns); drop --accel and --mask`);
    return { columns, label, prospective: true };
  }
  if (o.accel === undefined) return { columns: new Uint8Array(w).fill(1), label: 'fully sampled', prospective: false };
  const opts = { seed: o.seed ?? 0, ...(o.acs !== undefined ? { centerFraction: o.acs } : {}) };
  const lines = o.mask === 'random' ? randomLineMask(w, o.accel, opts) : equispacedLineMask(w, o.accel, opts);
  return { columns: lines.columns, label: `${o.mask ?? 'equispaced'} ${o.accel}x (${lines.numLowFrequencies} centre lines)`, prospective: false };
}

/** Given maps for slice z (a tensor [coils, H, W, 2] or [slices, coils, H, W, 2]). */
function givenMaps(t: Tensor, z: number, file: FastmriFile, g: KspaceGrid, name: string): CoilMaps {
  const s = t.shape;
  let item = t;
  if (s.length === 5) {
    if (s[0] !== file.slices) fail('BAD_SHAPE', `--coil-maps ${name} holds ${s[0]} slices of maps but ${file.name} has ${file.slices}; give [coils, H, W, 2] or one per slice`);
    const size = s.slice(1).reduce((a, b) => a * b, 1);
    item = new Tensor(s.slice(1), t.data.slice(z * size, (z + 1) * size));
  }
  const maps = coilMapsFromTensor(item, `--coil-maps ${name}`);
  if (maps.coils !== file.coils || maps.h !== g.rows || maps.w !== g.cols) {
    fail('BAD_SHAPE', `--coil-maps ${name} are [${maps.coils}, ${maps.h}, ${maps.w}] but ${file.name} needs [${file.coils}, ${g.rows}, ${g.cols}] (coils, image grid)`);
  }
  return maps;
}

/** Planes [coils, h, w] times the column mask, interleaved as a measurement [1, coils, h, w, 2]. */
function maskedMeasurement(re: Float64Array, im: Float64Array, columns: Uint8Array, w: number): Tensor {
  const y = Tensor.zeros([1, re.length * 2], 'float64');
  for (let k = 0; k < re.length; k++) {
    if (!columns[k % w]) continue;
    y.data[2 * k] = re[k]!;
    y.data[2 * k + 1] = im[k]!;
  }
  return y;
}

/** |sum_c conj(S_c) ifft2c(M y_c)| on [h, w]: the SENSE-combined zero-filled image. */
function zeroFilledMagnitude(op: MultiCoilMRIOperator, y: Tensor, maps: CoilMaps, mask: Float64Array): Float32Array {
  const complexOp = new MultiCoilMRIOperator([2, maps.h, maps.w], { mask, maps, complex: true });
  const z = complexOp.adjoint(y.reshape([1, ...op.outShape])).data, n = maps.h * maps.w, out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.hypot(z[i]!, z[n + i]!);
  return out;
}

/** RSS of the fully sampled coil images on the grid. */
function rssImage(re: Float64Array, im: Float64Array, coils: number, h: number, w: number): Float32Array {
  const ir = re.slice(), ii = im.slice(), n = h * w, out = new Float32Array(n);
  ifft2c(ir, ii, [coils, h, w]);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let c = 0; c < coils; c++) s += ir[c * n + i]! ** 2 + ii[c * n + i]! ** 2;
    out[i] = Math.sqrt(s);
  }
  return out;
}

/** Centre crop [h, w] -> [oh, ow]. */
function crop(x: ArrayLike<number>, h: number, w: number, oh: number, ow: number): Float32Array {
  const r0 = Math.floor((h - oh) / 2), c0 = Math.floor((w - ow) / 2), out = new Float32Array(oh * ow);
  for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) out[i * ow + j] = x[(r0 + i) * w + c0 + j]!;
  return out;
}

export interface KspaceSliceFigures {
  z: number;
  psnr: number;
  ssim: number;
  psnr_zero_filled: number;
  ssim_zero_filled: number;
}

export interface KspaceResult {
  grid: KspaceGrid;
  slices: [number, number];
  /** [count, outRows, outCols] in the file's units. */
  image: Float32Array;
  zeroFilled: Float32Array;
  /** The fully sampled RSS [count, outRows, outCols] (file's reconstruction_rss, or computed), or null. */
  reference: Float32Array | null;
  referenceSource: string | null;
  sampling: string;
  acsLines: number;
  maps: string;
  operator: string;
  solver: string;
  steps: number;
  nfe: number;
  /** The model-space scale s (file units of x = 1). */
  scale: number;
  seconds: number;
  secondsPerSlice: number;
  gradient?: GradientRoute;
  psnr: number | null;
  ssim: number | null;
  psnr_zero_filled: number | null;
  ssim_zero_filled: number | null;
  per_slice: KspaceSliceFigures[];
}

/** Reconstruct slices of a fastMRI file (see the file comment); `model` may be null for a baseline solver. */
export async function reconstructKspace(file: FastmriFile, model: Denoiser | null, o: KspaceOptions): Promise<KspaceResult> {
  const t0 = performance.now();
  const solver = solverByName(o.solver);
  if (!model && !solver.needs.noPrior) fail('USAGE', `solver ${solver.name} needs a diffusion prior (--model)`);
  if (solver.needs.svd) fail('UNSUPPORTED', `solver ${solver.name} needs the operator's SVD, which the multi-coil MRI operator does not have; use dds, diffpir, dps or pigdm`);
  const g = kspaceGrid(file), { rows: h, cols: w } = g, C = file.coils, n = h * w;
  if (model && !takesItems(model, [1, h, w])) {
    const takes = model.layout ? `images whose ${sizeRule(model.layout)}` : `[${model.itemShape?.join(', ') ?? '?'}] images`;
    fail('UNSUPPORTED', `the prior takes ${takes}, but ${file.name}'s image grid is ${h}x${w} (after the readout crop); use a prior that takes it (--model), or --solver zero-filled or tv`);
  }
  const [A, B] = o.slices ?? [0, file.slices];
  if (!(Number.isInteger(A) && Number.isInteger(B) && 0 <= A && A < B && B <= file.slices)) fail('USAGE', `--slices ${A}:${B} is outside ${file.name}'s 0..${file.slices} (give A:B with 0 <= A < B <= ${file.slices})`);
  const count = B - A;

  // Every slice: k-space on the grid, mask, maps, operator, zero-filled image.
  type Prepared = { op: MultiCoilMRIOperator; y: Tensor; zf: Float32Array; full: Float32Array | null };
  const prepared: Prepared[] = [];
  let samp: ReturnType<typeof sampling> | undefined, acsLines = 0;
  for (let k = 0; k < count; k++) {
    const ks = gridKspace(file, A + k, g);
    samp ??= sampling(file, ks, g, o);
    const mask = Float64Array.from(lineMask2D(samp.columns, h));
    const [a, b] = acsBlock(samp.columns);
    acsLines = b - a;
    const estimate = o.mapsMethod === 'acs' ? acsCoilMaps : espiritCoilMaps;
    const maps = o.maps ? givenMaps(o.maps, A + k, file, g, o.mapsName ?? 'maps') : estimate(ks.re, ks.im, C, h, w, samp.columns, o.acsOption ?? '--acs');
    const op = new MultiCoilMRIOperator([1, h, w], { mask, maps, noiseSigma: o.noise ?? 0.01, label: samp.label });
    const y = maskedMeasurement(ks.re, ks.im, samp.columns, w);
    prepared.push({ op, y, zf: zeroFilledMagnitude(op, y, maps, mask), full: samp.prospective || file.rss ? null : rssImage(ks.re, ks.im, C, h, w) });
  }
  const zfAll = new Float32Array(count * n);
  prepared.forEach((p, k) => zfAll.set(p.zf, k * n));
  const scale = (2 * percentile(zfAll, 99.5)) / (1 + (o.modelPercentile ?? 1));
  if (!(scale > 0)) fail('BAD_INPUT', `${file.name}: the zero-filled images of slices ${A}..${B - 1} are all zero; the k-space holds no signal`);

  const image = new Float32Array(count * n);
  let nfe = 0, gradient: GradientRoute | undefined;
  for (let k = 0; k < count; k++) {
    const { op, y, zf } = prepared[k]!;
    if (solver.name === 'zero-filled') {
      image.set(zf, k * n);
      continue;
    }
    // Model space: x_file = s (x + 1) / 2, so y' = (2 / s) y - A 1.
    const ones = op.forward(new Tensor([1, 1, h, w], new Float64Array(n).fill(1)));
    const ym = Tensor.zeros([1, ...op.outShape], 'float64');
    for (let i = 0; i < ym.size; i++) ym.data[i] = (2 / scale) * y.data[i]! - ones.data[i]!;
    const r = await solve({
      model, operator: op, measurement: ym.reshape([1, ...op.outShape]), solver, steps: o.steps, params: o.params ?? {}, gradient: o.gradient ?? 'auto',
      n: 1, batch: 1, seed: o.seed ?? 0, firstSample: A + k,
      onProgress: (p) => o.onProgress?.(k * o.steps + p.step, count * o.steps),
    });
    nfe = r.nfe;
    if (r.gradient) gradient = r.gradient;
    for (let i = 0; i < n; i++) {
      const v = r.x.data[i]!;
      if (!Number.isFinite(v)) fail('NAN_IN_MODEL', `${solver.name} returned a non-finite value for slice ${A + k}; try more --steps or another --solver`);
      image[k * n + i] = (scale * (Math.min(1, Math.max(-1, v)) + 1)) / 2;
    }
  }
  o.onProgress?.(count * o.steps, count * o.steps);

  // Output crop and figures against the fully sampled RSS.
  const { outRows: oh, outCols: ow } = g, m = oh * ow;
  const cropStack = (x: Float32Array) => {
    const out = new Float32Array(count * m);
    for (let k = 0; k < count; k++) out.set(crop(x.subarray(k * n, (k + 1) * n), h, w, oh, ow), k * m);
    return out;
  };
  const outImage = cropStack(image), outZf = cropStack(zfAll);
  let reference: Float32Array | null = null, referenceSource: string | null = null;
  if (file.rss) {
    const r = file.rss;
    reference = new Float32Array(count * m);
    for (let k = 0; k < count; k++) reference.set(crop(r.data.subarray((A + k) * r.rows * r.cols, (A + k + 1) * r.rows * r.cols), r.rows, r.cols, oh, ow), k * m);
    referenceSource = 'reconstruction_rss';
    if (r.rows < oh || r.cols < ow) fail('BAD_SHAPE', `${file.name}: reconstruction_rss is ${r.rows}x${r.cols}, smaller than the ${oh}x${ow} recon space`);
  } else if (prepared.every((p) => p.full)) {
    reference = new Float32Array(count * m);
    prepared.forEach((p, k) => reference!.set(crop(p.full!, h, w, oh, ow), k * m));
    referenceSource = 'RSS of the fully sampled kspace';
  }
  const figures = reference ? compare(outImage, outZf, reference, count, oh, ow, A) : null;
  const seconds = (performance.now() - t0) / 1000;
  return {
    grid: g, slices: [A, B], image: outImage, zeroFilled: outZf, reference, referenceSource, sampling: samp!.label, acsLines,
    maps: o.maps ? `given (${o.mapsName ?? 'maps'})` : o.mapsMethod === 'acs' ? `acs (${acsLines} ACS lines: low-resolution coil images / RSS)` : `espirit (${acsLines} ACS lines)`,
    operator: prepared[0]!.op.name, solver: solver.name, steps: o.steps, nfe, scale, seconds, secondsPerSlice: seconds / count, ...(gradient ? { gradient } : {}),
    psnr: figures?.psnr ?? null, ssim: figures?.ssim ?? null, psnr_zero_filled: figures?.psnrZf ?? null, ssim_zero_filled: figures?.ssimZf ?? null, per_slice: figures?.per ?? [],
  };
}

/** fastMRI's evaluation: PSNR over the volume and mean SSIM per slice, data range = the reference's maximum. */
function compare(x: Float32Array, zf: Float32Array, ref: Float32Array, count: number, h: number, w: number, A: number) {
  let peak = 0;
  for (const v of ref) peak = Math.max(peak, v);
  const shape = [count, 1, h, w], refT = new Tensor(shape, ref);
  const volPsnr = (a: Float32Array) => {
    let se = 0;
    for (let i = 0; i < a.length; i++) se += (a[i]! - ref[i]!) ** 2;
    return 10 * Math.log10((peak * peak) / (se / a.length));
  };
  const px = psnr(new Tensor(shape, x), refT, peak), pz = psnr(new Tensor(shape, zf), refT, peak);
  const sx = ssim(new Tensor(shape, x), refT, { dataRange: peak }), sz = ssim(new Tensor(shape, zf), refT, { dataRange: peak });
  const mean = (a: Float64Array) => a.reduce((s, v) => s + v, 0) / a.length;
  const per = Array.from({ length: count }, (_, k) => ({ z: A + k, psnr: px[k]!, ssim: sx[k]!, psnr_zero_filled: pz[k]!, ssim_zero_filled: sz[k]! }));
  return { psnr: volPsnr(x), ssim: mean(sx), psnrZf: volPsnr(zf), ssimZf: mean(sz), per };
}
