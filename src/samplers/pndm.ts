import { fail } from '../core/errors.js';
import { lincomb, lincomb2 } from '../core/ops.js';
import type { Tensor } from '../core/tensor.js';
import type { GridPoint, Path } from '../paths/path.js';
import { ALL_PREDICTIONS } from './common.js';
import { defineSampler, type SamplerContext, type SamplerDef } from './types.js';
import { estimateBuffers } from '../models/model-fn.js';

/**
 * PNDM / PLMS (Liu et al. 2022, arXiv 2202.09778), ported from diffusers' PNDMScheduler (scheduling_pndm.py).
 * Every update is the paper's transfer phi (eq. 9, diffusers _get_prev_sample), which equals a DDIM step with a
 * combined noise estimate e: z_t = (a_t / a_s) (z_s - s_s e) + s_t e. The combinations (eqs. 12-13):
 *  - pndm (skip_prk_steps = false): the first 3 steps are pseudo Runge-Kutta steps (step_prk, 4 NFE each, stages at
 *    the time midpoint, which on diffusers' integer timesteps is t - (N_train / steps) // 2), then pseudo linear
 *    multistep with (55, -59, 37, -9) / 24 on the noise estimates at the starts of the steps.
 *  - plms (skip_prk_steps = true, diffusers' step_plms): step 1 is Euler then redone as Heun with the average of the
 *    two estimates (2 NFE; steps + 1 NFE in all), then Adams-Bashforth of order 2, 3 and 4: (3, -1)/2,
 *    (23, -16, 5)/12, (55, -59, 37, -9)/24.
 * The combination uses fixed coefficients, as diffusers does: they assume steps uniform in sigma = s/a. For a
 * v-prediction model diffusers combines the raw v outputs and converts the combination to eps at the start point of
 * the transfer; this is matched (other prediction types combine the noise estimates).
 * With fewer than 4 steps pndm runs only Runge-Kutta steps, except that a step into clean data (where the last
 * stage would call the model at s = 0) uses the multistep formula. The transfer divides by a(t), so a grid that
 * starts at a = 0 is refused.
 */

/**
 * Coefficients of the transfer phi of PNDM (eq. 9, a DDIM step) from `from` to `to`: z_t = cz z + ce o, where o is a
 * (combined) noise estimate, or with `vSpace` a (combined) v output converted at the start point as diffusers'
 * _get_prev_sample does for v_prediction: eps = (s z + a v) / (a^2 + s^2).
 */
function transferCoeffs(from: GridPoint, to: GridPoint, vSpace: boolean): { cz: number; ce: number } {
  let cz = to.a / from.a, ce = to.s - (to.a * from.s) / from.a;
  if (vSpace) {
    const n = from.a * from.a + from.s * from.s;
    cz += (ce * from.s) / n;
    ce *= from.a / n;
  }
  return { cz, ce };
}

/** Adams-Bashforth weights for the estimates, newest first, as step_plms picks them by history length. */
const AB: readonly (readonly number[])[] = [[1], [3 / 2, -1 / 2], [23 / 12, -16 / 12, 5 / 12], [55 / 24, -59 / 24, 37 / 24, -9 / 24]];

/** z <- transfer(z, from, to, sum_k w_k ets[k]) with the weights for the history length (ets newest first). */
function plmsStep(z: Tensor, from: GridPoint, to: GridPoint, ets: Tensor[], vSpace: boolean): void {
  const w = AB[Math.min(ets.length, 4) - 1]!;
  const { cz, ce } = transferCoeffs(from, to, vSpace);
  lincomb(z, [cz, ...w.map((v) => ce * v)], [z, ...ets.slice(0, w.length)]);
}

/** The quantity PNDM combines: the noise estimate, or for v-prediction models the raw v = a eps - s x0 (diffusers). */
async function output(fn: SamplerContext['fn'], z: Tensor, p: GridPoint, vSpace: boolean): Promise<{ x0: Tensor; o: Tensor }> {
  const { x0, eps } = await fn.estimate(z, p);
  if (!vSpace) return { x0, o: eps };
  return { x0, o: lincomb2(eps.zerosLike(), p.a, eps, -p.s, x0) };
}

function refuseNoiseStart(name: string, grid: SamplerContext['grid']): void {
  const p = grid[0]!;
  if (!(p.a > 0)) {
    fail('UNSUPPORTED', `${name}: the grid starts where a(t) = 0 (pure noise, t = ${p.t}); the PNDM transfer divides by a(t) there, so start the grid before that point (e.g. t < 1 on rectified flow)`);
  }
}

/** The stage point between two grid points: diffusers' integer midpoint on discrete timesteps, else the time midpoint. */
function midpoint(path: Path, from: GridPoint, to: GridPoint): GridPoint {
  const discrete = path.timeInput === 'discrete' && Number.isInteger(from.t) && Number.isInteger(to.t) && to.t >= 0;
  return path.point(discrete ? from.t - Math.floor((from.t - to.t) / 2) : 0.5 * (from.t + to.t));
}

const NOTES =
  'order 4 needs steps uniform in sigma = s/a (measured 4.0 for pndm, about 3.7 for plms, whose Heun/AB2 warm-up is third order); on log-SNR-uniform or diffusers timestep grids the fixed multistep coefficients make both second order (measured 2.0)';

export const pndm = defineSampler({
  name: 'pndm',
  description: 'PNDM (Liu et al. 2022): 3 pseudo Runge-Kutta warm-up steps (4 NFE each), then pseudo linear multistep (55, -59, 37, -9)/24 (diffusers PNDMScheduler, skip_prk_steps = false)',
  order: 4,
  nfePerStep: '4 on the first 3 steps, then 1',
  stochastic: false,
  predictions: ALL_PREDICTIONS,
  params: {},
  notes: NOTES,
  async run({ fn, path, grid, z, report }) {
    refuseNoiseStart('pndm', grid);
    const vSpace = fn.denoiser.prediction === 'v';
    const steps = grid.length - 1;
    const stage = z.zerosLike();
    let ets: Tensor[] = [];
    for (let i = 0; i < steps; i++) {
      const from = grid[i]!, to = grid[i + 1]!;
      const { x0, o: e1 } = await output(fn, z, from, vSpace);
      if (i < 3 && to.s > 0) {
        // Pseudo Runge-Kutta (eq. 12): every stage is a transfer from z with the previous stage's estimate.
        const mid = midpoint(path, from, to);
        const half = transferCoeffs(from, mid, vSpace), full = transferCoeffs(from, to, vSpace);
        const e2 = (await output(fn, lincomb2(stage, half.cz, z, half.ce, e1), mid, vSpace)).o;
        const e3 = (await output(fn, lincomb2(stage, half.cz, z, half.ce, e2), mid, vSpace)).o;
        const e4 = (await output(fn, lincomb2(stage, full.cz, z, full.ce, e3), to, vSpace)).o;
        const { cz, ce } = full;
        lincomb(z, [cz, ce / 6, ce / 3, ce / 3, ce / 6], [z, e1, e2, e3, e4]);
        ets = [e1, ...ets];
      } else {
        ets = [e1, ...ets].slice(0, 4);
        plmsStep(z, from, to, ets, vSpace);
      }
      await report(i + 1, i + 1, z, x0);
    }
    return z;
  },
});

export const plms = defineSampler({
  name: 'plms',
  description: "PLMS (Liu et al. 2022): pseudo linear multistep with a Heun first step and Adams-Bashforth warm-up (diffusers PNDMScheduler, skip_prk_steps = true; Stable Diffusion's default)",
  order: 4,
  nfePerStep: '1 (+1 on the first step: steps + 1 NFE)',
  stochastic: false,
  predictions: ALL_PREDICTIONS,
  params: {},
  notes: NOTES,
  async run({ fn, grid, z, report }) {
    refuseNoiseStart('plms', grid);
    const vSpace = fn.denoiser.prediction === 'v';
    const steps = grid.length - 1;
    let ets: Tensor[] = [];
    for (let i = 0; i < steps; i++) {
      const from = grid[i]!, to = grid[i + 1]!;
      const { x0, o } = await output(fn, z, from, vSpace);
      ets = [o, ...ets].slice(0, 4);
      if (i === 0 && steps > 1) {
        // diffusers' counter 0 and 1: Euler to the next point, then redo the step with the mean estimate.
        const { cz, ce } = transferCoeffs(from, to, vSpace);
        const e1 = (await output(fn, lincomb2(z.zerosLike(), cz, z, ce, o), to, vSpace)).o;
        lincomb(z, [cz, ce / 2, ce / 2], [z, o, e1]);
      } else {
        plmsStep(z, from, to, ets, vSpace);
      }
      await report(i + 1, i + 1, z, x0);
    }
    return z;
  },
});

/**
 * One iPNDM step (Zhang & Chen 2022, arXiv 2204.13902, Alg. 2 and eq. 9; diffusers IPNDMScheduler.step, ported there
 * from v-diffusion): push the noise estimate at `from` onto `ets` (newest first; the caller keeps it across steps),
 * combine the history with the Adams-Bashforth weights of its length (up to 4), and take the transfer with that
 * combination e: z' = a' (z - s e) / max(a, 1e-8) + s' e. The clamp is diffusers': at a = 0 (pure noise) the first
 * estimate is eps = z exactly, so the step lands on s' z (the x0 estimate is read as 0 there). `combined` (z's shape) receives e.
 */
export function ipndmStep(z: Tensor, from: GridPoint, to: GridPoint, eps: Tensor, ets: Tensor[], combined: Tensor): void {
  ets.unshift(eps);
  if (ets.length > 4) ets.pop();
  const e = lincomb(combined, AB[ets.length - 1]!, ets).data, o = z.data;
  const a = Math.max(from.a, 1e-8);
  for (let i = 0; i < o.length; i++) o[i] = (to.a * (o[i]! - from.s * e[i]!)) / a + to.s * e[i]!;
}

export const ipndm = defineSampler({
  name: 'ipndm',
  description: 'iPNDM (Zhang & Chen 2022): PNDM transfer with Adams-Bashforth on the noise estimates from the first step (orders 1, 2, 3, then 4; 1 NFE per step), as diffusers IPNDMScheduler',
  order: 2,
  nfePerStep: 1,
  stochastic: false,
  predictions: ALL_PREDICTIONS,
  params: {},
  notes: "second order: the local O(h^2) error of its Euler first step stays in the result (measured -1.98 on the log-SNR grid and -2.32 on a sigma-uniform one at 80-640 NFE; faster before that: -3.3 at 10-160 NFE uniform in sigma). Starts at a = 0 as diffusers does (the first step lands on s' z).",
  async run({ fn, grid, z, report }) {
    const ets: Tensor[] = [], combined = z.zerosLike();
    // Five estimate buffers: ets holds at most four of them, the next estimate goes into the fifth.
    const pool = Array.from({ length: 5 }, () => estimateBuffers(z));
    for (let i = 0; i < grid.length - 1; i++) {
      const { x0, eps } = await fn.estimate(z, grid[i]!, false, pool.find((e) => !ets.includes(e.eps))!);
      ipndmStep(z, grid[i]!, grid[i + 1]!, eps, ets, combined);
      await report(i + 1, i + 1, z, x0);
    }
    return z;
  },
});

export const PNDM_SAMPLERS: SamplerDef[] = [pndm, plms, ipndm];
