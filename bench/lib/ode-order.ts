import { GaussianMixture } from '../../src/models/gmm.js';
import { NoiseSource } from '../../src/core/rng.js';
import { Tensor } from '../../src/core/tensor.js';
import type { Denoiser } from '../../src/models/denoiser.js';
import { ModelFn } from '../../src/models/model-fn.js';
import { makeGrid, type TimeGrid } from '../../src/paths/grids.js';
import type { Path } from '../../src/paths/path.js';
import { ContinuousVPPath } from '../../src/paths/vp.js';
import { runSampler, initialState } from '../../src/samplers/run.js';
import type { ParamValues, SamplerDef } from '../../src/samplers/types.js';

/** A fixed 4-component mixture in d = 16 with anisotropic, correlated covariances. */
export function testMixture(d = 16, K = 4): GaussianMixture {
  const weights = Array.from({ length: K }, (_, k) => (k + 1) / ((K * (K + 1)) / 2));
  const means = Array.from({ length: K }, (_, k) => Array.from({ length: d }, (_, j) => 1.5 * Math.sin(1.3 * k + 0.7 * j + k * j * 0.1)));
  const covs = Array.from({ length: K }, (_, k) =>
    Array.from({ length: d }, (_, i) =>
      Array.from({ length: d }, (_, j) => (i === j ? 0.05 + 0.3 * (1 + Math.cos(i + k)) : 0.04 * Math.cos(Math.abs(i - j) + k) * Math.exp(-Math.abs(i - j)))),
    ),
  );
  return new GaussianMixture({ weights, means, covs });
}

export interface OrderSetup {
  path: Path;
  denoiser: Denoiser;
  tStart: number;
  tEnd: number;
  x0: Tensor;
  batch: number;
}

/** Default setup: continuous VP (linear), t from 1 to 0.05, 8 float64 samples. */
export function orderSetup(path: Path = new ContinuousVPPath(), opts: { tStart?: number; tEnd?: number; batch?: number; prediction?: Denoiser['prediction'] } = {}): OrderSetup {
  const gmm = testMixture();
  const batch = opts.batch ?? 8;
  const tStart = opts.tStart ?? path.tMax, tEnd = opts.tEnd ?? (path.tMin + 0.05 * (path.tMax - path.tMin));
  const p0 = path.point(tStart);
  const x0 = initialState(new NoiseSource(7).normal([batch, 16], 0, 0, 'float64'), p0);
  return { path, denoiser: gmm.asDenoiser(path, opts.prediction ?? 'eps'), tStart, tEnd, x0, batch };
}

/**
 * Reference solution of the probability-flow ODE between tStart and tEnd: classical RK4 in lambda on
 * xt = z / a, d xt / d lambda = -e^{-lambda} eps_hat (the VE form of the ODE), with `n` steps.
 */
export async function referenceSolution(setup: OrderSetup, n = 2000): Promise<Tensor> {
  const { path, denoiser } = setup;
  const fn = new ModelFn(denoiser);
  const l0 = path.lambda(setup.tStart), l1 = path.lambda(setup.tEnd);
  const h = (l1 - l0) / n;
  const a0 = path.a(setup.tStart);
  let xt = new Tensor(setup.x0.shape, setup.x0.data.map((v) => v / a0));
  const f = async (lam: number, y: Tensor): Promise<Float64Array> => {
    const p = path.point(path.tOfLambda(lam));
    const z = new Tensor(y.shape, y.data.map((v) => v * p.a));
    const { eps } = await fn.estimate(z, p);
    const sig = Math.exp(-lam);
    return Float64Array.from(eps.data, (e) => -sig * e);
  };
  for (let i = 0; i < n; i++) {
    const lam = l0 + i * h;
    const k1 = await f(lam, xt);
    const k2 = await f(lam + h / 2, new Tensor(xt.shape, xt.data.map((v, j) => v + (h / 2) * k1[j]!)));
    const k3 = await f(lam + h / 2, new Tensor(xt.shape, xt.data.map((v, j) => v + (h / 2) * k2[j]!)));
    const k4 = await f(lam + h, new Tensor(xt.shape, xt.data.map((v, j) => v + h * k3[j]!)));
    xt = new Tensor(xt.shape, xt.data.map((v, j) => v + (h / 6) * (k1[j]! + 2 * k2[j]! + 2 * k3[j]! + k4[j]!)));
  }
  const a1 = path.a(setup.tEnd);
  return new Tensor(xt.shape, xt.data.map((v) => v * a1));
}

export function rmsError(x: Tensor, ref: Tensor): number {
  let s = 0;
  for (let i = 0; i < x.size; i++) s += (x.data[i]! - ref.data[i]!) ** 2;
  return Math.sqrt(s / x.batch);
}

/** Least-squares slope of log(err) against log(nfe). */
export function logLogSlope(nfes: number[], errs: number[]): number {
  const xs = nfes.map(Math.log), ys = errs.map(Math.log);
  const mx = xs.reduce((p, q) => p + q) / xs.length, my = ys.reduce((p, q) => p + q) / ys.length;
  let num = 0, den = 0;
  for (let i = 0; i < xs.length; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return num / den;
}

export interface OrderResult {
  nfes: number[];
  errors: number[];
  slope: number;
}

/**
 * Error against the reference at several step counts on a log-SNR-uniform grid ending at tEnd
 * (no final jump to sigma = 0, which is first order by design).
 */
export async function measureOrder(def: SamplerDef, setup: OrderSetup, ref: Tensor, stepsList: number[], params: Partial<ParamValues> = {}, gridOf?: (steps: number) => TimeGrid): Promise<OrderResult> {
  const nfes: number[] = [], errors: number[] = [];
  for (const steps of stepsList) {
    const grid = gridOf ? gridOf(steps) : makeGrid(setup.path, { kind: 'logsnr-uniform', steps, tStart: setup.tStart, tEnd: setup.tEnd, final: 'sigma_min' });
    const r = await runSampler(def, setup.denoiser, grid, setup.x0, { params });
    nfes.push(r.nfe);
    errors.push(rmsError(r.x, ref));
  }
  return { nfes, errors, slope: logLogSlope(nfes, errors) };
}
