import { TweedieError } from '../src/core/errors.js';
import { Tensor } from '../src/core/tensor.js';
import { NoiseSource } from '../src/core/rng.js';
import { ModelFn } from '../src/models/model-fn.js';
import type { Denoiser } from '../src/models/denoiser.js';
import { defaultGridSpec, gridFromTimes, makeGrid, type GridSpec, type TimeGrid } from '../src/paths/grids.js';
import { parseSchedulerConfig } from '../src/paths/scheduler-config.js';
import type { Path } from '../src/paths/path.js';
import { ContinuousVPPath, DiscreteVPPath } from '../src/paths/vp.js';
import { SAMPLERS } from '../src/samplers/registry.js';
import { stepsFor } from './samplers.js';
import { configToSampling } from '../src/samplers/diffusers.js';
import { samplerByName } from '../src/samplers/registry.js';
import { runSampler } from '../src/samplers/run.js';
import type { ParamValues } from '../src/samplers/types.js';
import { referenceSolution, rmsError, testMixture } from './lib/ode-order.js';

export const description = "error at 10 and 20 NFE of DDIM, DPM-Solver++ 2M and UniPC on the discrete VP path (exact mixtures, d = 8 and 16): tweedie's default grid, diffusers' default schedule and candidate grids";

const NFES = [10, 20];
const DIMS = [8, 16];
const BATCH = 8;

/** The three solvers the issue compares, as tweedie samplers and as diffusers classes (diffusers' defaults otherwise). */
const SOLVERS: { name: string; sampler: string; params: Partial<ParamValues>; diffusers: string }[] = [
  { name: 'DDIM', sampler: 'ddim', params: { eta: 0 }, diffusers: 'DDIMScheduler' },
  { name: 'DPM-Solver++ 2M', sampler: 'dpm-solver++', params: { variant: '2M' }, diffusers: 'DPMSolverMultistepScheduler' },
  { name: 'UniPC (bh2, order 2)', sampler: 'unipc', params: { order: 2 }, diffusers: 'UniPCMultistepScheduler' },
];

/** Candidate grids on the discrete VP path (t = 999 .. 0, then the clean endpoint t = -1). */
function candidates(path: DiscreteVPPath, steps: number): { name: string; grid: TimeGrid }[] {
  // t_i = (T + 1) (1 - i / N)^p - 1, i = 0..N: uniform in time for p = 1, finer near the data for p > 1
  const power = (p: number) => ({ name: `time-power ${p} to clean (no call at t = 0)`, grid: gridFromTimes(path, Array.from({ length: steps + 1 }, (_, i) => (path.tMax + 1) * (1 - i / steps) ** p - 1)) });
  return [...[1.5, 2, 3].map(power), ...[
    { name: 'time-uniform, model call at t = 0, then clean', spec: { kind: 'time-uniform', steps, final: 'zero' } as GridSpec },
    { name: 'time-uniform to clean (no call at t = 0)', spec: { kind: 'time-uniform', steps, tEnd: path.tClean, final: 'sigma_min' } as GridSpec },
    { name: 'logsnr-uniform to t = 0, then clean', spec: { kind: 'logsnr-uniform', steps, final: 'zero' } as GridSpec },
    ...[3, 10, 30].map((tEnd) => ({ name: `logsnr-uniform to t = ${tEnd}, then clean`, spec: { kind: 'logsnr-uniform', steps, tEnd, final: 'zero' } as GridSpec })),
    { name: 'karras (rho 7) to t = 0, then clean', spec: { kind: 'karras', steps, final: 'zero' } as GridSpec },
    ...[3, 10].map((tEnd) => ({ name: `karras (rho 7) to t = ${tEnd}, then clean`, spec: { kind: 'karras', steps, tEnd, final: 'zero' } as GridSpec })),
  ].map((c) => ({ name: c.name, grid: makeGrid(path, c.spec) }))];
}

/**
 * The probability-flow ODE from xT at tMax to clean data: RK4 in log-SNR (bench/lib/ode-order.ts, 4000 steps)
 * down to tMin, then the exact denoiser's x0 there (the last stretch, sigma(tMin) = 0.01 -> 0 on the discrete
 * path, is far below the 10- and 20-NFE errors measured here).
 */
export async function cleanReference(path: Path, denoiser: Denoiser, xT: Tensor): Promise<Tensor> {
  const atMin = await referenceSolution({ path, denoiser, tStart: path.tMax, tEnd: path.tMin, x0: xT, batch: xT.batch }, 4000);
  return (await new ModelFn(denoiser).estimate(atMin, path.point(path.tMin))).x0;
}

interface Row { solver: string; grid: string; d: number; nfe: number; error: number }

/** diffusers' schedules for the same class: its default, and the options its docs recommend for few steps. */
const DIFFUSERS_VARIANTS: [string, Record<string, unknown>][] = [
  ["diffusers' default", {}],
  ['diffusers, trailing', { timestep_spacing: 'trailing' }],
  ['diffusers, use_karras_sigmas', { use_karras_sigmas: true }],
  ['diffusers, use_lu_lambdas', { use_lu_lambdas: true }],
];

export async function run(opts: { json: boolean; log: (m: string) => void }): Promise<Record<string, unknown>> {
  const path = new DiscreteVPPath({ numTrainTimesteps: 1000 });
  const rows: Row[] = [];
  for (const d of DIMS) {
    const denoiser = testMixture(d).asDenoiser(path, 'eps');
    const xT = new NoiseSource(7).normal([BATCH, d], 0, 0, 'float64');
    opts.log(`d = ${d}: reference solution (RK4, 4000 steps in log-SNR) ...`);
    const ref = await cleanReference(path, denoiser, xT);
    const err = async (sampler: string, params: Partial<ParamValues>, grid: TimeGrid) => {
      const r = await runSampler(samplerByName(sampler), denoiser, grid, xT, { params: params as ParamValues });
      return { error: rmsError(r.x, ref) / Math.sqrt(d), nfe: r.nfe };
    };
    for (const s of SOLVERS) {
      opts.log(`  ${s.name}`);
      for (const nfe of NFES) {
        // diffusers' default schedule for this class (its own timesteps, lower_order_final, final sigma), and its other schedules
        for (const [label, extra] of DIFFUSERS_VARIANTS) {
          if (s.sampler === 'ddim' && label !== "diffusers' default" && label !== 'diffusers, trailing') continue;
          if (label === 'diffusers, use_lu_lambdas' && s.sampler !== 'dpm-solver++') continue;
          const cfg = parseSchedulerConfig({ _class_name: s.diffusers, num_train_timesteps: 1000, beta_schedule: 'linear', beta_start: 0.0001, beta_end: 0.02, ...extra }, s.diffusers, () => {});
          const dz = configToSampling(cfg, nfe);
          const dr = await runSampler(dz.sampler, denoiser, dz.grid, xT, { params: dz.params });
          rows.push({ solver: s.name, grid: label, d, nfe: dr.nfe, error: rmsError(dr.x, ref) / Math.sqrt(d) });
        }
        rows.push({ solver: s.name, grid: "tweedie's default", d, ...(await err(s.sampler, s.params, makeGrid(path, defaultGridSpec(path, nfe, 'sample')))) });
        for (const c of candidates(path, nfe)) rows.push({ solver: s.name, grid: c.name, d, ...(await err(s.sampler, s.params, c.grid)) });
      }
    }
  }
  const every = await everySampler(opts.log);
  const ratio = (solver: string, d: number, nfe: number) => {
    const at = (grid: string) => rows.find((r) => r.solver === solver && r.d === d && r.nfe === nfe && r.grid === grid)!.error;
    return at("tweedie's default") / at("diffusers' default");
  };
  const bestDiffusers = (solver: string, d: number, nfe: number) =>
    Math.min(...rows.filter((r) => r.solver === solver && r.d === d && r.nfe === nfe && r.grid.startsWith('diffusers')).map((r) => r.error));
  const ours = (solver: string, d: number, nfe: number) => rows.find((r) => r.solver === solver && r.d === d && r.nfe === nfe && r.grid === "tweedie's default")!.error;
  const ratios = SOLVERS.flatMap((s) => DIMS.flatMap((d) => NFES.map((nfe) => ({ solver: s.name, d, nfe, ratio: ratio(s.name, d, nfe), ratio_to_best_diffusers: ours(s.name, d, nfe) / bestDiffusers(s.name, d, nfe) }))));
  if (!opts.json) {
    const grids = [...new Set(rows.map((r) => r.grid))];
    const lines = [`RMS error per coordinate against the PF-ODE solution from the same noise at t = 999 (${BATCH} samples, float64):`];
    for (const s of SOLVERS) {
      lines.push('', `${s.name}`, `  ${'grid'.padEnd(48)} ${DIMS.flatMap((d) => NFES.map((n) => `d=${d},${n}NFE`.padStart(12))).join('')}`);
      for (const g of grids) {
        const cells = DIMS.flatMap((d) => NFES.map((n) => rows.find((r) => r.solver === s.name && r.grid === g && r.d === d && r.nfe === n)));
        lines.push(`  ${g.padEnd(48)} ${cells.map((r) => (r ? r.error.toExponential(2) : '-').padStart(12)).join('')}`);
      }
    }
    lines.push('', "tweedie's default error / diffusers' default (target <= 1.0) and / the best diffusers schedule above:");
    for (const r of ratios) lines.push(`  ${r.solver.padEnd(22)} d = ${String(r.d).padEnd(3)} ${String(r.nfe).padStart(3)} NFE  ${r.ratio.toFixed(3)}   ${r.ratio_to_best_diffusers.toFixed(3)}`);
    lines.push('', `Every deterministic sampler, d = ${EVERY_D}, error with the steps for ${NFES.join(' and ')} NFE (NFE: what the sampler used) per grid (the default marked *):`);
    for (const pathName of Object.keys(every)) {
      lines.push('', `  ${pathName}`, `  ${'sampler'.padEnd(14)} ${'NFE'.padStart(7)} ${EVERY_GRIDS.flatMap((g) => NFES.map((n) => `${g.name},${n}`.padStart(16))).join('')}`);
      for (const r of every[pathName]!) {
        lines.push(`  ${r.sampler.padEnd(14)} ${r.nfes.join('/').padStart(7)} ${r.errors.flatMap((e, gi) => e.map((v) => `${r.best === gi ? '*' : ' '}${v.toExponential(2)}`.padStart(16))).join('')}`);
      }
    }
    process.stdout.write(lines.join('\n') + '\n');
  }
  return { rows, ratios, every };
}

const EVERY_D = 16;
const EVERY_GRIDS: { name: string; spec: (path: Path, steps: number) => GridSpec }[] = [
  { name: 'uniform+t0', spec: (_, steps) => ({ kind: 'time-uniform', steps, final: 'zero' }) },
  { name: 'uniform', spec: (path, steps) => ({ kind: 'time-uniform', steps, tEnd: path.tClean, final: 'sigma_min' }) },
  { name: 'power1.5', spec: (path, steps) => ({ kind: 'time-power', power: 1.5, steps, tEnd: path.tClean, final: 'sigma_min' }) },
  { name: 'power2', spec: (path, steps) => ({ kind: 'time-power', power: 2, steps, tEnd: path.tClean, final: 'sigma_min' }) },
  { name: 'logsnr', spec: (_, steps) => ({ kind: 'logsnr-uniform', steps, final: 'zero' }) },
];

/** Every deterministic fixed-step sampler on both VP paths: its error on each candidate grid; `best` = the default's index. */
async function everySampler(log: (m: string) => void) {
  const out: Record<string, { sampler: string; nfes: number[]; errors: number[][]; best: number }[]> = {};
  for (const path of [new DiscreteVPPath({ numTrainTimesteps: 1000 }), new ContinuousVPPath()]) {
    const denoiser = testMixture(EVERY_D).asDenoiser(path, 'eps');
    const xT = new NoiseSource(11).normal([BATCH, EVERY_D], 0, 0, 'float64');
    log(`every sampler, ${path.family}: reference ...`);
    const ref = await cleanReference(path, denoiser, xT);
    const rows: { sampler: string; nfes: number[]; errors: number[][]; best: number }[] = [];
    for (const def of SAMPLERS.filter((d) => !d.stochastic && !d.inverse && d.nfePerStep !== 'adaptive')) {
      const errors: number[][] = [];
      let nfes: number[] = [];
      try {
        for (const g of EVERY_GRIDS) {
          const e: number[] = [];
          nfes = [];
          for (const nfe of NFES) {
            const r = await runSampler(def, denoiser, makeGrid(path, g.spec(path, stepsFor(def, nfe))), xT);
            e.push(rmsError(r.x, ref) / Math.sqrt(EVERY_D));
            nfes.push(r.nfe);
          }
          errors.push(e);
        }
      } catch (e) {
        if (!(e instanceof TweedieError)) throw e;
        continue; // a sampler for another family (restoration)
      }
      const dflt = JSON.stringify(defaultGridSpec(path, 10, 'sample'));
      rows.push({ sampler: def.name, nfes, errors, best: EVERY_GRIDS.findIndex((g) => JSON.stringify(g.spec(path, 10)) === dflt) });
    }
    out[path.family] = rows;
  }
  return out;
}
