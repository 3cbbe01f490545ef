import { fail } from '../core/errors.js';
import type { Tensor } from '../core/tensor.js';
import type { Denoiser } from '../models/denoiser.js';
import type { TimeGrid } from '../paths/grids.js';
import type { GridPoint } from '../paths/path.js';
import { ALL_PREDICTIONS } from './common.js';
import { runSampler } from './run.js';
import type { NumberParam, ParamSpecs } from './method.js';
import { defineSampler, type SampleOptions, type SampleResult, type SamplerContext, type SamplerDef } from './types.js';

/**
 * BDIA-DDIM (Zhang, Lewis & Kleijn, "Exact diffusion inversion via bi-directional integration
 * approximation", ECCV 2024). With D(z_i -> t_j) = a_j x0(z_i) + s_j eps(z_i) one DDIM step from one
 * evaluation at z_i, sampling goes
 *
 *   z_{i-1} = gamma z_{i+1} - gamma D(z_i -> t_{i+1}) + D(z_i -> t_{i-1})
 *
 * (grid index i grows towards noise; the first step is plain DDIM), and the update is exactly
 * invertible given the pair (z_{i-1}, z_i):  z_{i+1} = (z_{i-1} - D(z_i -> t_{i-1}))/gamma + D(z_i -> t_{i+1}).
 *
 * Read from guoqiang-zhang-x/BDIA: image-editing/bdia_edict_functions.py (BDIA_stablediffusion:
 * forward and exact inverse, the pair returned as [z_N, z_{N-1}]) and
 * text-to-image/stablediffusionV2/ldm/models/diffusion/BDIAddim.py (p_sample_bdiaddim). In the code
 * gamma = 1 is the fully symmetric (leapfrog-like) scheme and gamma = 0 plain DDIM; one README version
 * writes the update with gamma and 1 - gamma swapped (the same at the README's gamma = 0.5).
 */

const gammaSpec = (min: number): NumberParam => ({
  type: 'number',
  default: 1,
  min,
  max: 1,
  doc: 'weight of the backward integration: 1 the symmetric scheme, 0 plain DDIM (README: 0.5 for 10 steps, 1 for 40+)',
});

/** out = a_j x0 + s_j eps: the DDIM step from the evaluated point to grid point j. */
function ddimTo(out: Tensor, p: GridPoint, x0: Tensor, eps: Tensor): Tensor {
  const o = out.data, x = x0.data, e = eps.data;
  for (let k = 0; k < o.length; k++) o[k] = p.a * x[k]! + p.s * e[k]!;
  return out;
}

/**
 * The BDIA loop from grid point `start` with the state z at grid[start] and, when `prev` is given, the
 * state at grid[start - 1] (the pair); without it the first step is plain DDIM.
 */
async function bdiaLoop({ fn, grid, report }: SamplerContext, z: Tensor, prev: Tensor | null, start: number, gamma: number, filter: boolean): Promise<Tensor> {
  let zPrev = prev;
  for (let i = start; i < grid.length - 1; i++) {
    const here = grid[i]!, next = grid[i + 1]!;
    if (next.s / next.a === here.s / here.a) {
      // A zero-length last step (diffusers' grids ending with sigma_min twice): the identity, 0 NFE.
      await report(i + 1, i + 1, z, null);
      continue;
    }
    const { x0, eps } = await fn.estimate(z, here);
    const x = x0.data, e = eps.data, zc = z.data;
    if (zPrev === null) {
      zPrev = z.clone();
      for (let k = 0; k < zc.length; k++) zc[k] = next.a * x[k]! + next.s * e[k]!;
    } else {
      // One rounding per element: the DDIM terms stay in double precision (matters for float32 exactness).
      const back = grid[i - 1]!, zp = zPrev.data;
      for (let k = 0; k < zc.length; k++) {
        const old = zp[k]!, cur = zc[k]!;
        const b = back.a * x[k]! + back.s * e[k]!;
        // The text-to-image code carries z_i + (z_{i+1} - D(z_i -> t_{i+1}))/2 as the previous state.
        zp[k] = filter ? cur + 0.5 * (old - b) : cur;
        zc[k] = gamma * (old - b) + (next.a * x[k]! + next.s * e[k]!);
      }
    }
    await report(i + 1, i + 1, z, x0);
  }
  return z;
}

const bdiaParams = {
  gamma: gammaSpec(0),
  state_filter: {
    type: 'boolean',
    default: false,
    doc: 'the text-to-image code variant (BDIAddim.py) that carries z_i + (z_{i+1} - DDIM(z_i -> t_{i+1}))/2 as the previous state; damps the leapfrog mode but is not exactly invertible',
  },
} as const satisfies ParamSpecs;

export const bdia = defineSampler({
  name: 'bdia',
  description: 'BDIA-DDIM (Zhang, Lewis & Kleijn, ECCV 2024): bi-directional DDIM integration, time-reversible; 1 NFE per step',
  order: 2,
  nfePerStep: 1,
  stochastic: false,
  predictions: ALL_PREDICTIONS,
  params: bdiaParams,
  notes:
    'gamma = 1 is a symmetric two-step (leapfrog-like) scheme: measured slope -2.2 (VP) / -2.05 (EDM), order 2, but its parasitic mode is not damped ' +
    '(large errors on coarse EDM grids from sigma = 80). gamma < 1 mixes in DDIM and is first order (slope -1.16 / -0.83 for gamma = 0.5); the ' +
    'state filter of the text-to-image code is first order too (-1.02 / -1.35). The first step is plain DDIM. Exactly invertible with bdia-inverse / ' +
    'bdiaInvert + bdiaRegenerate (state_filter = false only).',
  async run(ctx) {
    return bdiaLoop(ctx, ctx.z, null, 0, ctx.params.gamma, ctx.params.state_filter);
  },
});

/**
 * BDIA inversion (grid from data to noise): a DDIM-inversion first step, then the exact inverse
 * z_{i+1} = (z_{i-1} - D(z_i -> t_{i-1}))/gamma + D(z_i -> t_{i+1}). Returns the state at the noise end;
 * the second state of the pair (one grid point before) is the state reported at step `steps - 1`
 * (bdiaInvert collects both). Regenerate with bdiaRegenerate or runSampler(bdiaFromPair(xPrev), ...).
 */
export const bdiaInverse = defineSampler({
  name: 'bdia-inverse',
  description: 'BDIA-DDIM exact inversion from data to noise (the pair (z_N, z_N-1) regenerates the input exactly); 1 NFE per step',
  order: 2,
  nfePerStep: 1,
  stochastic: false,
  inverse: true,
  predictions: ALL_PREDICTIONS,
  params: { gamma: gammaSpec(0.01) },
  notes:
    'The exact inverse of bdia with the same gamma (state_filter = false), but only given BOTH final states: use bdiaInvert(), which returns {xT, xTm1}, and ' +
    'bdiaRegenerate(). Inverting then regenerating returns the input to rounding (rel. error ~1e-7 in float32, ~1e-15 in float64), unlike ddim-inverse whose ' +
    'round trip error only falls with the number of steps. In float32 the noisy states carry rounding of about 2^-24 |z|, which gamma = 1 does not damp: ' +
    'on EDM (sigma_max = 80) the round trip error is about 1e-6 of |x_T| (5e-5 of |x0|). gamma < 1 makes every inverse step amplify the ' +
    '(z_{i+1} - DDIM(z_i -> t_{i+1})) mode by 1/gamma (2^49 for gamma = 0.5 over 50 steps: float64 round trip 1e-6, float32 useless); refused beyond 1e12.',
  async run({ fn, grid, z, params, report }) {
    const gamma = params.gamma;
    if (!(gamma > 0)) fail('BAD_INPUT', `bdia-inverse: gamma must be > 0 to invert, got ${gamma}`);
    // Each inverse step multiplies the (z_{i+1} - D(z_i -> t_{i+1})) mode by 1/gamma.
    const growth = (grid.length - 2) * Math.log10(1 / gamma);
    if (growth > 12) {
      fail('BAD_INPUT', `bdia-inverse: gamma = ${gamma} over ${grid.length - 1} steps amplifies rounding by 1e${Math.round(growth)}, so the pair would not regenerate the input; use gamma = 1 (or closer to 1), or fewer steps`);
    }
    let zPrev: Tensor | null = null;
    for (let i = 0; i < grid.length - 1; i++) {
      const here = grid[i]!, next = grid[i + 1]!;
      if (zPrev === null) {
        // DDIM inversion step; at clean data (s = 0) the model is asked at the next point with input a_next x0 (as ddim-inverse).
        const input = here.s === 0 ? scaled(z, next.a / here.a) : z;
        const { x0, eps } = await fn.estimate(input, here.s === 0 ? next : here);
        zPrev = z.clone();
        ddimTo(z, next, x0, eps);
        await report(i + 1, i + 1, z, x0);
        continue;
      }
      const { x0, eps } = await fn.estimate(z, here);
      const back = grid[i - 1]!, zp = zPrev.data, zc = z.data, x = x0.data, e = eps.data;
      for (let k = 0; k < zc.length; k++) {
        const old = zp[k]!, cur = zc[k]!;
        const f = back.a * x[k]! + back.s * e[k]!;
        zp[k] = cur;
        zc[k] = (old - f) / gamma + (next.a * x[k]! + next.s * e[k]!);
      }
      await report(i + 1, i + 1, z, x0);
    }
    return z;
  },
});

function scaled(z: Tensor, c: number): Tensor {
  const out = z.zerosLike();
  for (let k = 0; k < out.data.length; k++) out.data[k] = c * z.data[k]!;
  return out;
}

/**
 * BDIA started from a pair: runSampler(bdiaFromPair(xPrev), denoiser, grid, xT) with xT the state at
 * grid[0] and xPrev the state at grid[1] (both uncentered, as bdiaInvert returns them). Step 1 is the
 * given pair (no NFE); the other steps cost 1 NFE each.
 */
export function bdiaFromPair(xPrev: Tensor): SamplerDef {
  return defineSampler({
    ...bdia,
    params: { gamma: bdiaParams.gamma },
    description: 'BDIA-DDIM regeneration from a pair of states (z_N, z_N-1)',
    async run(ctx) {
      const { fn, grid, z } = ctx;
      if (xPrev.size !== z.size) fail('BAD_SHAPE', `bdia: the second state [${xPrev.shape.join(', ')}] must match the first [${z.shape.join(', ')}]`);
      const second = fn.center(xPrev, grid[1]!.b).clone();
      if (second.dtype !== z.dtype) fail('BAD_INPUT', `bdia: the two states of the pair must have the same dtype (${z.dtype} and ${second.dtype})`);
      await ctx.report(1, 1, second, null);
      return bdiaLoop(ctx, second, z, 1, ctx.params.gamma, false);
    },
  });
}

/** The pair a BDIA inversion ends with: the state at the noise end and at the grid point before it. */
export interface BdiaPair {
  xT: Tensor;
  xTm1: Tensor;
}

/**
 * Invert clean data x0 along a sampling grid (noise first, data last; the same grid you regenerate
 * on). Returns the final pair and the run's NFE (one per step).
 */
export async function bdiaInvert(denoiser: Denoiser, grid: TimeGrid, x0: Tensor, options: SampleOptions = {}): Promise<BdiaPair & Omit<SampleResult, 'x'>> {
  const inv = [...grid].reverse();
  const steps = inv.length - 1;
  let xTm1: Tensor = x0.clone();
  const user = options.onStep;
  const r = await runSampler(bdiaInverse, denoiser, inv, x0, {
    ...options,
    async onStep(info) {
      if (info.step === steps - 1) xTm1 = info.x.clone();
      if (user) await user(info);
    },
  });
  return { xT: r.x, xTm1, nfe: r.nfe, steps: r.steps, seconds: r.seconds };
}

/** Regenerate from a BDIA pair along the sampling grid (the exact inverse of bdiaInvert with the same gamma). */
export async function bdiaRegenerate(denoiser: Denoiser, grid: TimeGrid, pair: BdiaPair, options: SampleOptions = {}): Promise<SampleResult> {
  if (grid.length < 3) {
    // One step: the pair already holds the data end.
    return { x: pair.xTm1.clone(), nfe: 0, steps: grid.length - 1, seconds: 0 };
  }
  return runSampler(bdiaFromPair(pair.xTm1), denoiser, grid, pair.xT, options);
}

export const BDIA_SAMPLERS: readonly SamplerDef[] = [bdia, bdiaInverse];
