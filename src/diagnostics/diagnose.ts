import { fail } from '../core/errors.js';
import { firstNonFinite } from '../core/ops.js';
import { NoiseSource, Stream } from '../core/rng.js';
import { Tensor } from '../core/tensor.js';
import type { Denoiser } from '../models/denoiser.js';
import { x0JacobianAsymmetry } from '../models/derivatives.js';
import { gaussianFitDenoise, type GaussianFit } from '../models/gaussian-fit.js';
import { ModelFn } from '../models/model-fn.js';
import type { Path } from '../paths/path.js';
import { localIntrinsicDimension } from './intrinsic-dimension.js';

/**
 * Score-field diagnostics of a denoiser on a grid of noise levels, at data points noised to each level:
 * non-conservativity (Jacobian asymmetry and rotational part), the local intrinsic dimension at the smallest
 * levels, and the departure from the best Gaussian fit's closed-form denoiser.
 */

export interface DiagnoseOptions {
  /** The best Gaussian fit of the data (fitGaussian, or gaussianFitFromMoments for a known prior). */
  fit: GaussianFit;
  /** Noise levels, log-uniform in sigma = s/a over the path (default 10). */
  levels?: number;
  /** Probe pairs per point for the asymmetry (default 8). */
  probes?: number;
  /** LID at this many of the smallest levels (default 3; 0 skips it). */
  lidLevels?: number;
  /** Krylov dimension of the LID (default: the item size). */
  krylov?: number;
  /** JVP directions per model call in the LID (default 16). */
  block?: number;
  /** The Gaussian deviation above which the network counts as departed (default 0.1). */
  departure?: number;
  seed?: number;
  onProgress?: (stage: string, done: number, total: number) => void;
}

export interface LevelReport {
  t: number;
  sigma: number;
  asymmetry: number;
  asymmetryStderr: number;
  rotational: number;
  rotationalStderr: number;
  /**
   * ||eps_net - eps_G|| / ||eps_G|| pooled over the points: the relative difference of the network's score from
   * the Gaussian fit's (eps = (z - a x0) / s = -s score), D_G the fit's closed-form x0.
   */
  gaussianDeviation: number;
  /** Per point local intrinsic dimension, at the LID levels only. */
  lid?: {
    mean: number; perPoint: number[]; krylov: number;
    /** Mean over the points with half the Krylov space: equal to `mean` once the Krylov space is large enough. */
    meanAtHalf: number;
    singularValues: number[][];
  };
}

export interface DiagnoseReport {
  points: number;
  probes: number;
  dim: number;
  /** Eigenvalues of the fit above 1e-12 of the largest. */
  fitRank: number;
  departureThreshold: number;
  /** The largest sigma (scanning down from the noisiest level) whose deviation exceeds the threshold; null when none does. */
  departureSigma: number | null;
  levels: LevelReport[];
  nfe: number;
  seconds: number;
}

/** sigma = s/a log-uniform over the path (kept within [1e-3, 1e3]), highest noise first, with the times. */
export function noiseLevels(path: Path, count: number): { t: number; sigma: number }[] {
  if (!(Number.isInteger(count) && count >= 2)) fail('BAD_INPUT', `levels must be an integer >= 2, got ${count}`);
  const lo = Math.max(path.sigma(path.tMin), 1e-3), hi = Math.min(path.sigma(path.tMax), 1e3);
  if (!(hi > lo)) fail('UNSUPPORTED', `the path's noise range [${lo}, ${hi}] is empty`);
  return Array.from({ length: count }, (_, i) => {
    const sigma = Math.exp(Math.log(hi) + ((Math.log(lo) - Math.log(hi)) * i) / (count - 1));
    const t = Math.min(Math.max(path.tOfSigma(sigma), path.tMin), path.tMax);
    return { t, sigma: path.sigma(t) };
  });
}

/** Run the diagnostics at the items of `points` ([K, ...item], clean data). */
export async function diagnose(denoiser: Denoiser, points: Tensor, options: DiagnoseOptions): Promise<DiagnoseReport> {
  const start = Date.now();
  const K = points.batch, n = points.itemSize, fit = options.fit;
  if (fit.dim !== n) fail('BAD_SHAPE', `the Gaussian fit has ${fit.dim} values per item but the points have ${n}`);
  const bad = firstNonFinite(points.data);
  if (bad >= 0) fail('BAD_INPUT', `data value ${points.data[bad]} at element ${bad} is not finite; give finite data`);
  const probes = options.probes ?? 8, lidLevels = options.lidLevels ?? 3, departure = options.departure ?? 0.1;
  const grid = noiseLevels(denoiser.path, options.levels ?? 10);
  if (!(Number.isInteger(lidLevels) && lidLevels >= 0 && lidLevels <= grid.length)) fail('BAD_INPUT', `lidLevels must be an integer from 0 to the number of levels ${grid.length}, got ${lidLevels}`);
  const noise = new NoiseSource(options.seed ?? 0);
  const fn = new ModelFn(denoiser, { caller: 'diagnose' });
  const levels: LevelReport[] = [];
  let nfe = 0;
  for (const [li, { t, sigma }] of grid.entries()) {
    options.onProgress?.(`level ${li + 1}/${grid.length} (sigma ${sigma.toPrecision(3)})`, li, grid.length);
    const p = denoiser.path.point(t);
    const eps = noise.normal(points.shape, li, Stream.noise, points.dtype);
    const z = points.zerosLike();
    for (let i = 0; i < z.size; i++) z.data[i] = p.a * points.data[i]! + p.s * eps.data[i]!;
    const asym = await x0JacobianAsymmetry(denoiser, z, t, { probes, seed: (options.seed ?? 0) + li });
    // Compared as scores (eps = -s score): x0 estimates agree to O(s) at small noise whatever the model.
    const { eps: epsNet } = await fn.estimate(z, p);
    const gauss = gaussianFitDenoise(fit, z, p.a, p.s);
    let num = 0, den = 0;
    for (let i = 0; i < z.size; i++) {
      const epsGauss = (z.data[i]! - p.a * gauss.data[i]!) / p.s;
      num += (epsNet.data[i]! - epsGauss) ** 2;
      den += epsGauss ** 2;
    }
    const row: LevelReport = {
      t, sigma, asymmetry: asym.asymmetry, asymmetryStderr: asym.asymmetryStderr, rotational: asym.rotational, rotationalStderr: asym.rotationalStderr,
      gaussianDeviation: Math.sqrt(num / den),
    };
    nfe += K * (asym.nfe + 1);
    if (li >= grid.length - lidLevels) {
      const lid = await localIntrinsicDimension(denoiser, z, t, {
        ...(options.krylov !== undefined ? { krylov: options.krylov } : {}), ...(options.block !== undefined ? { block: options.block } : {}), seed: (options.seed ?? 0) + li,
        onProgress: (done, total) => options.onProgress?.(`level ${li + 1}/${grid.length} (sigma ${sigma.toPrecision(3)}): LID ${done}/${total}`, li, grid.length),
      });
      nfe += K * lid.nfe;
      row.lid = {
        mean: lid.dimension.reduce((s, d) => s + d, 0) / K, perPoint: lid.dimension, krylov: lid.krylov,
        meanAtHalf: lid.dimensionAtHalf.reduce((s, d) => s + d, 0) / K,
        singularValues: lid.singularValues.map((v) => [...v]),
      };
    }
    levels.push(row);
  }
  options.onProgress?.('done', grid.length, grid.length);
  const departed = levels.find((l) => l.gaussianDeviation > departure);
  return { points: K, probes, dim: n, fitRank: fit.values.filter((v) => v > 1e-12 * fit.values[0]!).length, departureThreshold: departure, departureSigma: departed?.sigma ?? null, levels, nfe, seconds: (Date.now() - start) / 1000 };
}

/** The report as a text table, one row per level, with the departure and cost below. */
export function formatReport(r: DiagnoseReport): string {
  const num = (v: number) => (Math.abs(v) >= 0.01 || v === 0 ? v.toFixed(3) : v.toExponential(1));
  const pm = (v: number, e: number) => `${num(v)} ± ${num(e)}`;
  const rows = r.levels.map((l) => [
    l.sigma.toExponential(2), l.t.toPrecision(4), pm(l.asymmetry, l.asymmetryStderr), pm(l.rotational, l.rotationalStderr), l.gaussianDeviation.toExponential(2),
    l.lid ? `${l.lid.mean.toFixed(1)} [${l.lid.perPoint.join(' ')}]${l.lid.krylov < r.dim ? ` (lower bound, Krylov ${l.lid.krylov}; ${l.lid.meanAtHalf.toFixed(1)} at ${Math.ceil(l.lid.krylov / 2)})` : ''}` : '',
  ]);
  const head = ['sigma', 't', 'asymmetry', 'rotational', 'gauss-dev', 'LID (per point)'];
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(width[i]!)).join('  ').trimEnd();
  const departed = r.departureSigma === null ? `never above ${r.departureThreshold}` : `first above ${r.departureThreshold} at sigma = ${r.departureSigma.toPrecision(3)} (scanning down from the noisiest level)`;
  return [
    line(head), ...rows.map(line), '',
    `Gaussian fit of rank ${r.fitRank} in ${r.dim} dimensions; the model departs from it: ${departed}`,
    `${r.points} points, ${r.probes} probe pairs per point and level; NFE ${r.nfe}, ${r.seconds.toFixed(1)} s`,
  ].join('\n');
}
