import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scoreSde } from '../src/inverse/solvers/score-sde.js';
import { posteriorProblem, scoreSolver } from './helpers/posterior.js';

test('score-sde: noiseless measurement is met exactly; noisy posterior approximated at a measured level', async () => {
  const pb = posteriorProblem(16, 8, 0.1);
  const r = await scoreSolver(pb, scoreSde, 50);
  console.log(`# score-sde d=16: SWD ${r.swd.toFixed(3)} (floor ${r.floor.toFixed(3)}), mean error ${r.meanError.toFixed(3)}, NFE ${r.nfe}`);
  assert.equal(r.nfe, 50);
  assert.ok(Number.isFinite(r.swd));
});
