import assert from 'node:assert/strict';
import { slicedWasserstein } from '../../src/metrics/distribution.js';
import { NoiseSource, Stream } from '../../src/core/rng.js';
import type { Tensor } from '../../src/core/tensor.js';
import { makeGrid, type GridSpec, type TimeGrid } from '../../src/paths/grids.js';
import { pathByName } from '../../src/paths/registry.js';
import { initialState, runSampler } from '../../src/samplers/run.js';
import type { ParamValues, SamplerDef } from '../../src/samplers/types.js';
import type { PredictionType } from '../../src/models/prediction.js';
import { testMixture } from '../../bench/lib/ode-order.js';

/** Distribution tests: sliced Wasserstein distance of 4,000 samples to 4,000 exact mixture samples. */
export const N = 4000, D = 16;
let exactCache: { exact: Tensor; floor: number } | null = null;
/** Exact samples and the finite-sample floor: the SWD between two independent exact sample sets. */
export function exactAndFloor(): { exact: Tensor; floor: number } {
  if (!exactCache) {
    const gmm = testMixture();
    const exact = gmm.sample(N, 11, 'float32');
    const floor = slicedWasserstein(exact.data, gmm.sample(N, 12, 'float32').data, D, { projections: 128, seed: 5 });
    exactCache = { exact, floor };
  }
  return exactCache;
}

/** `spec` gives a grid spec for makeGrid, or the grid itself (e.g. diffusers' grid of a scheduler config). */
export async function swdAt(def: SamplerDef, pathName: string, spec: (steps: number) => GridSpec | TimeGrid, stepsList: number[], params: Partial<ParamValues> = {}, prediction: PredictionType = 'eps') {
  const { exact, floor } = exactAndFloor();
  const path = pathByName(pathName);
  const denoiser = testMixture().asDenoiser(path, prediction);
  const out: { nfe: number; swd: number }[] = [];
  for (const steps of stepsList) {
    const given = spec(steps);
    const grid = Array.isArray(given) ? given : makeGrid(path, given as GridSpec);
    const xT = initialState(new NoiseSource(3).normal([N, D], 0, Stream.init, 'float32'), grid[0]!);
    const r = await runSampler(def, denoiser, grid, xT, { noise: new NoiseSource(4), params });
    out.push({ nfe: r.nfe, swd: slicedWasserstein(r.x.data, exact.data, D, { projections: 128, seed: 5 }) });
  }
  console.log(`# ${def.name} ${pathName} ${JSON.stringify(params)}: floor ${floor.toFixed(4)}; ${out.map((o) => `NFE ${o.nfe}: ${o.swd.toFixed(4)}`).join(', ')}`);
  return { out, floor };
}

/** Stated level: at the largest NFE the SWD is within 2.25x the finite-sample floor (~0.039 here). */
export const LEVEL = 2.25;

export function assertDecreasingToLevel(name: string, out: { nfe: number; swd: number }[], floor: number): void {
  for (let i = 1; i < out.length; i++) assert.ok(out[i]!.swd < out[i - 1]!.swd, `${name}: SWD does not decrease with NFE: ${JSON.stringify(out)}`);
  assert.ok(out[out.length - 1]!.swd < LEVEL * floor, `${name}: SWD ${out[out.length - 1]!.swd} at NFE ${out[out.length - 1]!.nfe} is above ${LEVEL} x floor ${floor}`);
}
