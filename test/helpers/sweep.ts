import assert from 'node:assert/strict';
import { GaussianMixture } from '../../src/models/gmm.js';
import type { PredictionType } from '../../src/models/prediction.js';
import { NoiseSource, Stream } from '../../src/core/rng.js';
import { TweedieError } from '../../src/core/errors.js';
import { defaultGridSpec, makeGrid } from '../../src/paths/grids.js';
import { pathByName, PATH_NAMES } from '../../src/paths/registry.js';
import { initialState, runSampler } from '../../src/samplers/run.js';
import type { ParamValues, SamplerDef } from '../../src/samplers/types.js';

/** No NaN / Inf on any path, prediction and small step count; refusals only where a = 0. */
export const sweepPrior = new GaussianMixture({
  weights: [0.6, 0.4],
  means: [[-1, 0.5], [1.5, -0.5]],
  covs: [[[0.2, 0.05], [0.05, 0.1]], [[0.1, 0], [0, 0.3]]],
});
const PREDICTIONS: PredictionType[] = ['eps', 'x0', 'v', 'velocity'];

export async function finiteSweep(def: SamplerDef, params: Partial<ParamValues>, refusesAZero: boolean): Promise<void> {
  for (const pathName of PATH_NAMES) {
    const path = pathByName(pathName);
    for (const prediction of PREDICTIONS) {
      const denoiser = sweepPrior.asDenoiser(path, prediction);
      for (const steps of [1, 2, 3, 5, 10]) {
        const grid = makeGrid(path, defaultGridSpec(path, steps, 'sample'));
        const xT = initialState(new NoiseSource(1).normal([2, 2], 0, Stream.init, 'float64'), grid[0]!);
        const what = `${def.name} ${JSON.stringify(params)} on ${pathName}/${prediction}/${steps} steps`;
        const aZero = grid[0]!.a === 0;
        try {
          const r = await runSampler(def, denoiser, grid, xT, { noise: new NoiseSource(2), params });
          assert.ok(r.x.data.every(Number.isFinite), `${what} gave ${[...r.x.data]}`);
          assert.ok(!(aZero && (refusesAZero || prediction === 'eps')), `${what} should have refused a = 0`);
        } catch (e) {
          if (!(e instanceof TweedieError && e.code === 'UNSUPPORTED')) throw e;
          assert.ok(aZero && (refusesAZero || prediction === 'eps'), `${what} refused: ${e.message}`);
          assert.match(e.message, refusesAZero ? new RegExp(`${def.name}.*start the grid`) : /a\(t\) = 0/);
        }
      }
    }
  }
}

