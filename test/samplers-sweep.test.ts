import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SAMPLERS } from '../src/samplers/registry.js';
import { initialState, runSampler } from '../src/samplers/run.js';
import { GaussianMixture } from '../src/models/gmm.js';
import { NoiseSource } from '../src/core/rng.js';
import { TweedieError } from '../src/core/errors.js';
import { defaultGridSpec, makeGrid } from '../src/paths/grids.js';
import { pathByName, PATH_NAMES } from '../src/paths/registry.js';
import type { PredictionType } from '../src/models/prediction.js';

const prior = new GaussianMixture({
  weights: [0.6, 0.4],
  means: [[-1, 0.5], [1.5, -0.5]],
  covs: [[[0.2, 0.05], [0.05, 0.1]], [[0.1, 0], [0, 0.3]]],
});
const predictions: PredictionType[] = ['eps', 'x0', 'v', 'velocity'];
const stepCounts = [1, 2, 3, 5, 10, 50, 100, 999, 1000];

/**
 * No NaN or Inf anywhere: every sampler x path family x prediction type x step count. A sampler may
 * refuse a combination with a clear UNSUPPORTED error (listed in the output), never return non-finite values.
 */
for (const def of SAMPLERS) {
  test(`${def.name}: finite results on every path, prediction and step count`, async () => {
    const refused: string[] = [];
    for (const pathName of PATH_NAMES) {
      const path = pathByName(pathName);
      for (const prediction of predictions) {
        const denoiser = prior.asDenoiser(path, prediction);
        for (const steps of stepCounts) {
          if (steps > 100 && prediction !== 'eps' && prediction !== 'velocity') continue;
          const grid = makeGrid(path, defaultGridSpec(path, steps, 'sample'));
          const g = def.inverse ? [...grid].reverse() : grid;
          const noise = new NoiseSource(1).normal([2, 2], 0, 1);
          const xT = def.inverse ? noise : initialState(noise, g[0]!);
          try {
            const r = await runSampler(def, denoiser, g, xT, { noise: new NoiseSource(2) });
            assert.ok(r.x.data.every(Number.isFinite), `${def.name} on ${pathName}/${prediction} with ${steps} steps gave ${[...r.x.data]}`);
            assert.ok(r.nfe >= 1);
          } catch (e) {
            if (e instanceof TweedieError && e.code === 'UNSUPPORTED') refused.push(`${pathName}/${prediction}/${steps}`);
            else throw e;
          }
        }
      }
    }
    if (refused.length) console.log(`# ${def.name} refused (UNSUPPORTED): ${refused.length} combinations, e.g. ${refused.slice(0, 3).join(', ')}`);
    assert.ok(refused.length < PATH_NAMES.length * predictions.length * stepCounts.length, `${def.name} refuses everything`);
  });
}
