import { fail } from '../core/errors.js';
import type { Tensor } from '../core/tensor.js';
import type { Denoiser } from '../models/denoiser.js';
import { sizeRule, takesItems } from '../models/layout.js';
import type { TimeGrid } from '../paths/grids.js';
import { runMethod } from './harness.js';
import type { SampleOptions, SampleResult, SamplerDef } from './types.js';

function checkGrid(def: SamplerDef, grid: TimeGrid): void {
  if (grid.length < 2) fail('BAD_INPUT', `sampler ${def.name} needs a grid of at least 2 points (1 step), got ${grid.length}`);
  for (let i = 1; i < grid.length; i++) {
    const prev = grid[i - 1]!, cur = grid[i]!;
    const sp = prev.s / prev.a, sc = cur.s / cur.a;
    // A zero-length last step is allowed: diffusers' grids with final_sigmas_type 'sigma_min' repeat sigma_min; and a
    // zero-length first inversion step: DDIMInverseScheduler without set_alpha_to_one goes from alphas_cumprod[0] to
    // itself (the identity but for clip_sample).
    const last = i === grid.length - 1;
    const ok = def.inverse ? sc > sp || ((last || i === 1) && sc === sp) : sc < sp || (last && sc === sp);
    if (!ok) fail('BAD_INPUT', `sampler ${def.name}: grid point ${i} (t = ${cur.t}) does not move ${def.inverse ? 'towards noise' : 'towards data'} from point ${i - 1} (t = ${prev.t}); remove duplicated or reversed times`);
  }
}

/**
 * Run a sampler: xT is the state at grid[0] (uncentered; for generation use `initialState`).
 * Returns the state at the last grid point with the exact NFE count.
 */
export async function runSampler(def: SamplerDef, denoiser: Denoiser, grid: TimeGrid, xT: Tensor, options: SampleOptions = {}): Promise<SampleResult> {
  checkGrid(def, grid);
  if (denoiser.layout && !takesItems(denoiser, xT.shape.slice(1))) {
    fail('BAD_SHAPE', `initial state [${xT.shape.join(', ')}] does not fit the model: ${sizeRule(denoiser.layout)}`);
  } else if (!denoiser.layout && denoiser.itemShape && xT.itemSize !== denoiser.itemShape.reduce((p, q) => p * q, 1)) {
    fail('BAD_SHAPE', `initial state [${xT.shape.join(', ')}] does not fit the model's item shape [${denoiser.itemShape.join(', ')}]`);
  }
  const model = {
    ...(options.cond ? { cond: options.cond } : {}),
    thresholding: options.thresholding ?? null,
    clipSample: options.clipSample ?? null,
    keepModelEps: options.keepModelEps ?? false,
  };
  return runMethod(def, denoiser, grid, options, model, async ({ fn, params, noise, report }) => {
    const anchor = fn.anchor;
    if (anchor && anchor.size !== xT.size) fail('BAD_SHAPE', `anchor [${anchor.shape.join(', ')}] must match the state [${xT.shape.join(', ')}]`);
    const z = fn.center(xT, grid[0]!.b).clone();
    const zFinal = await def.run({ fn, path: denoiser.path, grid, z, noise, params, report });
    return fn.uncenter(zFinal, grid[grid.length - 1]!.b);
  });
}

/**
 * The starting state at grid point p from standard normal noise: x = sqrt(a^2 + s^2) noise, the
 * variance a(t)^2 + s(t)^2 of unit-variance data pushed to t (diffusers' init_noise_sigma). With an
 * anchor (restoration paths) the degraded image stands in for x0: x = (a + b) mu + s noise, the
 * prior sample of IR-SDE (mu + lambda noise) and ResShift (y0 + kappa sqrt(eta_T) noise).
 */
export function initialState(noise: Tensor, p: { a: number; b: number; s: number }, anchor?: Tensor | null): Tensor {
  const out = noise.zerosLike(), o = out.data, n = noise.data, m = anchor?.data;
  if (m) {
    for (let i = 0; i < o.length; i++) o[i] = p.s * n[i]! + (p.a + p.b) * m[i]!;
    return out;
  }
  const scale = Math.sqrt(p.a * p.a + p.s * p.s);
  for (let i = 0; i < o.length; i++) o[i] = scale * n[i]!;
  return out;
}
