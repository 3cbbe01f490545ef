/**
 * The multistep and singlestep drivers of the DPM-Solver family (kernels in dpm-solver-core.ts).
 * Both spend exactly one model evaluation per grid step and never evaluate at the last grid point.
 */
import { copyInto, lincomb2 } from '../core/ops.js';
import { Stream } from '../core/rng.js';
import type { Tensor } from '../core/tensor.js';
import { estimateBuffers } from '../models/model-fn.js';
import {
  applyUpdate,
  lambdaOf,
  multistepOrder,
  multistepUpdate,
  sdeNoiseScale,
  singlestepOrders,
  singlestepUpdate,
  stepToClean,
  type DpmAlgorithm,
  type SolverType,
  type ThirdOrderForm,
} from './dpm-solver-core.js';
import type { SamplerContext } from './types.js';

export interface DriverConfig {
  alg: DpmAlgorithm;
  /** Highest order used (1..3). */
  order: number;
  solverType: SolverType;
  lowerOrderFinal: boolean;
  eulerAtFinal: boolean;
  /** D2 term of the third-order multistep step (see ThirdOrderForm). */
  third: ThirdOrderForm;
}

export interface SdeConfig {
  eta: number;
  sNoise: number;
}

/**
 * Multistep DPM-Solver(++) with diffusers' DPMSolverMultistepScheduler.step() order rules: the model
 * output of each grid point is kept for the next steps (at most `order` of them); with `sde`, the
 * SDE-DPM-Solver++ update plus fresh noise for step i from ctx.noise (step index i, Stream.noise).
 */
export async function runMultistep(ctx: SamplerContext, cfg: DriverConfig, sde: SdeConfig | null = null): Promise<Tensor> {
  const { fn, grid, z, noise, report } = ctx;
  const n = grid.length - 1;
  const lams = grid.map(lambdaOf);
  const finalZero = grid[n]!.s === 0;
  const eta = sde?.eta ?? 0;
  const hist: Tensor[] = []; // model outputs at grid[i], grid[i-1], ... (most recent first)
  // order + 1 estimate buffers: hist holds at most order of them, the next estimate goes into a free one.
  const pool = Array.from({ length: cfg.order + 1 }, () => estimateBuffers(z));
  const xi = sde ? z.zerosLike() : null;
  for (let i = 0; i < n; i++) {
    const from = grid[i]!, to = grid[i + 1]!;
    const est = await fn.estimate(z, from, false, pool.find((e) => !hist.includes(e.x0) && !hist.includes(e.eps))!);
    hist.unshift(cfg.alg === 'x0' ? est.x0 : est.eps);
    if (hist.length > cfg.order) hist.pop();
    if (to.s === 0) {
      stepToClean(z, to, est.x0);
    } else if (cfg.alg === 'eps' && from.a === 0) {
      // Noise-prediction form from a = 0 (lambda = -inf): its limit, the DDIM step.
      lincomb2(z, to.a, est.x0, to.s, est.eps);
    } else {
      const k = multistepOrder(i, n, cfg.order, cfg.lowerOrderFinal, cfg.eulerAtFinal, finalZero);
      const back = (j: number) => i - j;
      const pts = Array.from({ length: k }, (_, j) => grid[back(j)]!);
      const lk = Array.from({ length: k }, (_, j) => lams[back(j)]!);
      const u = multistepUpdate(cfg.alg, k, pts, lk, to, lams[i + 1]!, { solverType: cfg.solverType, eta, third: cfg.third });
      const cn = sde ? sdeNoiseScale(to, lams[i + 1]! - lams[i]!, eta) * sde.sNoise : 0;
      applyUpdate(z, u, z, hist, cn, xi && cn !== 0 ? noise.fillNormal(xi, i, Stream.noise) : null);
    }
    await report(i + 1, i + 1, z, est.x0);
  }
  return z;
}

/**
 * Singlestep DPM-Solver(++) on the grid points, as diffusers' DPMSolverSinglestepScheduler: a group of
 * order k spans k grid steps from its start point, the model outputs at the group's inner grid points
 * are its intermediate evaluations, and the state reported at an inner point is the lower-order update
 * from the group start. On a log-SNR-uniform grid the inner points are the r = 1/2 and r = 1/3, 2/3
 * points of dpm-solver's singlestep solvers. From a = 0 (lambda = -inf) the first step is a group of
 * its own (first order), then the order schedule restarts.
 */
export async function runSinglestep(ctx: SamplerContext, cfg: DriverConfig): Promise<Tensor> {
  const { fn, grid, z, report } = ctx;
  const n = grid.length - 1;
  const lams = grid.map(lambdaOf);
  const finalZero = grid[n]!.s === 0;
  const orders =
    grid[0]!.a === 0
      ? [1, ...singlestepOrders(n - 1, cfg.order, cfg.lowerOrderFinal, finalZero, cfg.eulerAtFinal)]
      : singlestepOrders(n, cfg.order, cfg.lowerOrderFinal, finalZero, cfg.eulerAtFinal);
  const z0 = z.zerosLike();
  const ms: Tensor[] = [];
  let start = 0;
  for (let i = 0; i < n; i++) {
    const k = orders[i]!;
    const to = grid[i + 1]!;
    const est = await fn.estimate(z, grid[i]!);
    if (k === 1) {
      start = i;
      copyInto(z0, z);
      ms.length = 0;
    }
    ms.push(cfg.alg === 'x0' ? est.x0 : est.eps);
    if (to.s === 0) {
      stepToClean(z, to, est.x0);
    } else if (cfg.alg === 'eps' && grid[start]!.a === 0) {
      lincomb2(z, to.a, est.x0, to.s, est.eps);
    } else {
      const u = singlestepUpdate(cfg.alg, k, grid.slice(start, start + k), lams.slice(start, start + k), to, lams[i + 1]!, cfg.solverType);
      applyUpdate(z, u, z0, ms);
    }
    await report(i + 1, i + 1, z, est.x0);
  }
  return z;
}
