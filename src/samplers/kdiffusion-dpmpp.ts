import { BrownianTree } from '../core/brownian-tree.js';
import { fail } from '../core/errors.js';
import { lincomb2, scale } from '../core/ops.js';
import type { Tensor } from '../core/tensor.js';
import type { GridPoint } from '../paths/path.js';
import { ALL_PREDICTIONS } from './common.js';
import { ANCESTRAL_PARAMS, ancestralFraction, runAncestralMidpoint } from './karras.js';
import { defineSampler, type SamplerDef } from './types.js';
import { estimateBuffers } from '../models/model-fn.js';

/**
 * k-diffusion's single-step DPM-Solver++ samplers in sigma (crowsonkb/k-diffusion k_diffusion/sampling.py:
 * sample_dpmpp_2s_ancestral, sample_dpmpp_sde; Lu et al. 2022b, DPM-Solver++(2S) with r = 1/2). In the VE variable
 * x~ = z / a the data-prediction exponential integrator from sigma to sigma_d is x~' = (sigma_d / sigma) x~ +
 * (1 - sigma_d / sigma) D, D the x0 estimate(s); each ancestral half steps to sigma_down of its target and adds noise
 * sigma_up (get_ancestral_step), and the state is written back as z = a x~ at the target point.
 */

const sigmaOf = (p: GridPoint): number => p.s / p.a;

export function refuseNoiseStart(name: string, grid: readonly GridPoint[]): void {
  const p = grid[0]!;
  if (!(p.a > 0)) fail('UNSUPPORTED', `${name} works in sigma = s/a, which is infinite at the grid's first point (t = ${p.t}, a = 0); start the grid before that point (e.g. tStart = 0.999 on rectified flow)`);
}

/** z <- a_to ((sd / sg) z / a_from + (1 - sd / sg) x0 + up xi): one exponential-integrator half in x~ plus noise. */
function ancestralHalf(out: Tensor, z: Tensor, from: GridPoint, aTo: number, sd: number, x0: Tensor, up: number, xi: Tensor | null): void {
  const k = sd / sigmaOf(from);
  lincomb2(out, (aTo * k) / from.a, z, aTo * (1 - k), x0);
  if (xi && up > 0) lincomb2(out, 1, out, aTo * up, xi);
}

export const dpmpp2sAncestral = defineSampler({
  name: 'dpm++2s-ancestral',
  description: 'DPM-Solver++(2S) ancestral (k-diffusion sample_dpmpp_2s_ancestral): a two-stage data-prediction step to sigma_down (stage at its log-sigma midpoint), then noise sigma_up',
  order: 1,
  nfePerStep: 2,
  stochastic: true,
  predictions: ALL_PREDICTIONS,
  params: ANCESTRAL_PARAMS,
  notes: 'weak order 1; 2 NFE per step except the step into sigma = 0 (the x0 estimate, 1 NFE). With eta = 0 it is the deterministic DPM-Solver++(2S) with r = 1/2 in log sigma (second order). Needs a finite sigma at the start.',
  run: (ctx) => runAncestralMidpoint(ctx, 'dpm++2s-ancestral', 'dpm++'),
});

/**
 * DPM-Solver++ SDE (k-diffusion sample_dpmpp_sde, r = 1/2; diffusers DPMSolverSDEScheduler): stage 1 an ancestral
 * half to the log-sigma midpoint, stage 2 the full step with the midpoint's x0 estimate, each with noise from one
 * Brownian path over the grid's [sigma_min, sigma_max] (BrownianTree), the normalised increment between the step's
 * two sigmas. The noise of a seed is one Brownian path, so runs with different step counts see the same path.
 */
export const dpmppSde = defineSampler({
  name: 'dpm++sde',
  description: 'DPM-Solver++ SDE (k-diffusion sample_dpmpp_sde / diffusers DPMSolverSDEScheduler): two ancestral DPM-Solver++ stages per step on a seeded Brownian tree',
  order: 1,
  nfePerStep: 2,
  stochastic: true,
  predictions: ALL_PREDICTIONS,
  params: ANCESTRAL_PARAMS,
  notes: 'weak order 1; 2 NFE per step except the step into sigma = 0 (1 NFE). The noise is a Brownian path in sigma over the grid\'s positive sigmas, a function of the seed and sample index only (not torchsde\'s numbers: k-diffusion\'s samples are not reproduced draw for draw). With eta = 0 it is DPM-Solver++(2S) with r = 1/2.',
  async run({ fn, path, grid, z, noise, params, report }) {
    refuseNoiseStart('dpm++sde', grid);
    const sigmas = grid.map(sigmaOf).filter((s) => s > 0);
    const tree = params.eta > 0 && sigmas.length > 1 ? new BrownianTree(Math.min(...sigmas), Math.max(...sigmas), noise, z.batch, z.itemSize) : null;
    const z2 = z.zerosLike(), xi = z.zerosLike(), est1 = estimateBuffers(z), est2 = estimateBuffers(z);
    for (let i = 0; i < grid.length - 1; i++) {
      const from = grid[i]!, to = grid[i + 1]!;
      const e1 = await fn.estimate(z, from, false, est1);
      if (to.s === 0) {
        scale(z, to.a, e1.x0);
      } else {
        const sg = sigmaOf(from), st = sigmaOf(to);
        // diffusers' grid carries its stage point (from its float32 table); else the log-sigma midpoint on the path.
        const pm = from.mid ?? path.point(path.tOfSigma(Math.sqrt(sg * st)));
        const sm = sigmaOf(pm);
        const u1 = ancestralFraction(from, pm, params.eta);
        const up1 = params.s_noise * sm * u1;
        ancestralHalf(z2, z, from, pm.a, sm * Math.sqrt(1 - u1 * u1), e1.x0, up1, tree && up1 > 0 ? tree.increment(xi, sg, sm) : null);
        const e2 = await fn.estimate(z2, pm, false, est2);
        const u2 = ancestralFraction(from, to, params.eta);
        const up2 = params.s_noise * st * u2;
        ancestralHalf(z, z, from, to.a, st * Math.sqrt(1 - u2 * u2), e2.x0, up2, tree && up2 > 0 ? tree.increment(xi, sg, st) : null);
      }
      await report(i + 1, i + 1, z, e1.x0);
    }
    return z;
  },
});

export const KDIFFUSION_DPMPP_SAMPLERS: readonly SamplerDef[] = [dpmpp2sAncestral, dpmppSde];
