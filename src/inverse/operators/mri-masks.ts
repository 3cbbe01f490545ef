import { fail } from '../../core/errors.js';
import { roundHalfEven } from '../../core/numeric.js';
import { NoiseSource, Stream } from '../../core/rng.js';

/**
 * k-space sampling masks in the centered layout of `fft2c` (DC at index floor(n/2)).
 *
 * 1-D line masks follow fastMRI's fastmri/data/subsample.py: the mask picks columns (the last
 * image axis, W), a centre block of round(W * centerFraction) columns (Python rounding, half to
 * even) starting at (W - numLow + 1) // 2 is fully sampled, and
 * - equispaced (EquispacedMaskFractionFunc, the old EquispacedMaskFunc that made the public
 *   multicoil data): the other columns at round(offset + k * a), k = 0.. while < W - 1, with
 *   the adjusted spacing a = accel (numLow - W) / (numLow accel - W) and offset drawn in
 *   [0, round(a)), so the total is W / accel lines;
 * - random (RandomMaskFunc): each column with probability (W/accel - numLow) / (W - numLow).
 * The draws use tweedie's Philox generator, not numpy's Mersenne Twister: the masks have
 * fastMRI's distribution (and, for a given offset, its exact equispaced lines), not its bits.
 * The default centre fraction is 0.08 below 8x and 0.04 from 8x, as fastMRI's configs and deepinv.
 */

export function defaultCenterFraction(acceleration: number): number {
  return acceleration < 8 ? 0.08 : 0.04;
}


/** [start, end) of the fully sampled centre block of numLow lines among n. */
export function centerRange(n: number, numLow: number): [number, number] {
  const pad = Math.floor((n - numLow + 1) / 2);
  return [pad, pad + numLow];
}

export interface LineMaskOptions {
  /** Fraction of fully sampled centre columns (default 0.08 below 8x, 0.04 from 8x). */
  centerFraction?: number;
  seed?: number;
  /** Equispaced: first line (default: drawn from the seed in [0, round(adjusted accel))). */
  offset?: number;
}

export interface LineMask {
  /** 1 for a sampled column, length W. */
  readonly columns: Uint8Array;
  readonly numLowFrequencies: number;
  /** Equispaced only: the offset used and the adjusted spacing. */
  readonly offset?: number;
  readonly adjustedAcceleration?: number;
}

function lineSetup(numCols: number, accel: number, opts: LineMaskOptions, kind: string): { numLow: number; columns: Uint8Array } {
  if (!Number.isInteger(numCols) || numCols < 1) fail('BAD_SHAPE', `${kind} mask: ${numCols} columns; the image needs at least one column`);
  if (!(accel >= 1) || !Number.isFinite(accel)) fail('BAD_CONFIG', `mri accel=${accel}: the acceleration must be a number >= 1, e.g. accel=4`);
  const cf = opts.centerFraction ?? defaultCenterFraction(accel);
  if (!(cf >= 0 && cf <= 1)) fail('BAD_CONFIG', `mri acs=${cf}: the centre fraction must lie in [0, 1], e.g. acs=0.08`);
  const numLow = roundHalfEven(numCols * cf);
  if (numCols / accel < 1) {
    fail('BAD_CONFIG', `mri accel=${accel} cannot be met for ${numCols} k-space columns: it leaves less than one line; use accel <= ${numCols}`);
  }
  if (numCols / accel < numLow) {
    fail(
      'BAD_CONFIG',
      `mri accel=${accel} cannot be met for ${numCols} columns with acs=${cf}: the fully sampled centre alone has ${numLow} lines ` +
        `(acceleration ${(numCols / numLow).toFixed(2)}); lower acs or accel, or use a larger image`,
    );
  }
  const columns = new Uint8Array(numCols);
  const [a, b] = centerRange(numCols, numLow);
  columns.fill(1, a, b);
  return { numLow, columns };
}

/** fastMRI's equispaced line mask with the adjusted spacing (see the module comment). */
export function equispacedLineMask(numCols: number, accel: number, opts: LineMaskOptions = {}): LineMask {
  const { numLow, columns } = lineSetup(numCols, accel, opts, 'equispaced');
  const denom = numLow * accel - numCols;
  if (denom === 0) return { columns, numLowFrequencies: numLow }; // the centre alone meets the acceleration
  const adjusted = (accel * (numLow - numCols)) / denom;
  const span = roundHalfEven(adjusted);
  let offset = opts.offset;
  if (offset === undefined) {
    const u = new NoiseSource(opts.seed ?? 0).uniform(1, 0, 1, Stream.aux)[0]!;
    offset = Math.min(span - 1, Math.floor(u * span));
  } else if (!Number.isInteger(offset) || offset < 0 || offset >= span) {
    fail('BAD_CONFIG', `mri offset=${offset}: the equispaced offset must be an integer in [0, ${span}) for accel=${accel} on ${numCols} columns`);
  }
  // numpy.arange(offset, numCols - 1, adjusted): ceil((stop - start) / step) values.
  const count = Math.max(0, Math.ceil((numCols - 1 - offset) / adjusted));
  for (let k = 0; k < count; k++) columns[roundHalfEven(offset + k * adjusted)] = 1;
  return { columns, numLowFrequencies: numLow, offset, adjustedAcceleration: adjusted };
}

/** fastMRI's random line mask: Bernoulli columns plus the fully sampled centre. */
export function randomLineMask(numCols: number, accel: number, opts: LineMaskOptions = {}): LineMask {
  const { numLow, columns } = lineSetup(numCols, accel, opts, 'random');
  if (numCols > numLow) {
    const prob = (numCols / accel - numLow) / (numCols - numLow);
    const u = new NoiseSource(opts.seed ?? 0).uniform(numCols, 0, 0, Stream.aux);
    // (0, 1] uniforms: u - 2^-32 is numpy's [0, 1) convention for "u < prob".
    for (let j = 0; j < numCols; j++) if (u[j]! - 2 ** -32 < prob) columns[j] = 1;
  }
  return { columns, numLowFrequencies: numLow };
}

/** A column mask repeated over h rows: [h * w]. */
export function lineMask2D(columns: ArrayLike<number>, h: number): Uint8Array {
  const w = columns.length, out = new Uint8Array(h * w);
  for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) out[i * w + j] = columns[j]! > 0 ? 1 : 0;
  return out;
}

/** Total points / sampled points (Infinity for an empty mask). */
export function maskAcceleration(mask: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i]! > 0) n++;
  return mask.length / n;
}

// ---------------------------------------------------------------------------------------
// 2-D variable-density Poisson-disc masks

export interface PoissonMaskOptions {
  /** Fully sampled calibration block [rows, cols] at the centre (default [0, 0]). */
  calib?: readonly [number, number];
  seed?: number;
  /** Accept when |achieved - accel| <= tol * accel (default 0.1). */
  tol?: number;
  /** Bisection steps on the density slope (default 30). */
  maxAttempts?: number;
}

/**
 * Variable-density Poisson-disc mask [h * w] (centered layout): points are visited in a
 * seeded random order and kept when no kept point lies closer than
 * R(k) = 1 + slope * |k|, |k| the k-space radius normalised to 1 at the edges, so the centre
 * is fully sampled and the density falls like 1/(1 + slope |k|)^2 (the density law of
 * sigpy.mri.poisson). The slope is bisected until the acceleration (calibration block
 * included) is within `tol` of `accel`.
 */
export function poissonDiscMask(h: number, w: number, accel: number, opts: PoissonMaskOptions = {}): Uint8Array {
  if (!(accel >= 1) || !Number.isFinite(accel)) fail('BAD_CONFIG', `mri accel=${accel}: the acceleration must be a number >= 1, e.g. accel=6`);
  const [ch, cw] = opts.calib ?? [0, 0];
  if (!Number.isInteger(ch) || !Number.isInteger(cw) || ch < 0 || cw < 0 || ch > h || cw > w) {
    fail('BAD_CONFIG', `poisson mask calibration block ${ch}x${cw} must be non-negative integers within ${h}x${w}`);
  }
  const tol = opts.tol ?? 0.1, maxAttempts = opts.maxAttempts ?? 30;
  const total = h * w, target = total / accel;
  if (target < 1) fail('BAD_CONFIG', `mri accel=${accel} cannot be met for a ${h}x${w} k-space: it leaves less than one sample; use accel <= ${total}`);
  if (ch * cw > target * (1 + tol)) {
    fail('BAD_CONFIG', `mri accel=${accel} cannot be met for ${h}x${w} with a ${ch}x${cw} calibration block: the block alone gives acceleration ${(total / (ch * cw)).toFixed(2)}; lower acs or accel`);
  }
  const cy = Math.floor(h / 2), cx = Math.floor(w / 2);
  const radius = new Float64Array(total);
  for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) radius[i * w + j] = Math.hypot((i - cy) / Math.max(h / 2, 1), (j - cx) / Math.max(w / 2, 1));
  const u = new NoiseSource(opts.seed ?? 0).uniform(total, 0, 2, Stream.aux);
  const order = Array.from({ length: total }, (_, i) => i).sort((a, b) => u[a]! - u[b]! || a - b);
  const [r0, r1] = centerRange(h, ch), [c0, c1] = centerRange(w, cw);

  const sample = (slope: number): { mask: Uint8Array; count: number } => {
    const mask = new Uint8Array(total);
    for (const p of order) {
      const R = 1 + slope * radius[p]!, R2 = R * R, reach = Math.ceil(R) - 1;
      const pi = Math.floor(p / w), pj = p - pi * w;
      let free = true;
      for (let di = -reach; di <= reach && free; di++) {
        const i = pi + di;
        if (i < 0 || i >= h) continue;
        for (let dj = -reach; dj <= reach; dj++) {
          const j = pj + dj;
          if (j < 0 || j >= w || di * di + dj * dj >= R2) continue;
          if (mask[i * w + j]) {
            free = false;
            break;
          }
        }
      }
      if (free) mask[p] = 1;
    }
    for (let i = r0; i < r1; i++) for (let j = c0; j < c1; j++) mask[i * w + j] = 1;
    let count = 0;
    for (let i = 0; i < total; i++) count += mask[i]!;
    return { mask, count };
  };

  let best = sample(0), bestErr = Math.abs(total / best.count - accel);
  const consider = (r: { mask: Uint8Array; count: number }): boolean => {
    const err = Math.abs(total / r.count - accel);
    if (err < bestErr) {
      best = r;
      bestErr = err;
    }
    return err <= tol * accel;
  };
  if (consider(best)) return best.mask;
  let lo = 0, hi = 1, rHi = sample(hi);
  while (total / rHi.count < accel) {
    if (consider(rHi)) return rHi.mask;
    lo = hi;
    hi *= 2;
    if (hi > 1e6) fail('BAD_CONFIG', `mri accel=${accel} cannot be reached by a Poisson-disc mask on ${h}x${w}; lower accel or the calibration block`);
    rHi = sample(hi);
  }
  if (consider(rHi)) return rHi.mask;
  for (let it = 0; it < maxAttempts; it++) {
    const mid = 0.5 * (lo + hi), r = sample(mid);
    if (consider(r)) return r.mask;
    if (total / r.count < accel) lo = mid;
    else hi = mid;
  }
  return best.mask;
}
