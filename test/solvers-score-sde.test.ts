import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NoiseSource, Stream } from '../src/core/rng.js';
import { Tensor } from '../src/core/tensor.js';
import { MatrixOperator } from '../src/inverse/operators/matrix.js';
import { proxByConjugateGradient } from '../src/inverse/operators/operator.js';
import { parseOperatorSpec } from '../src/inverse/operators/spec-file.js';
import { runSolver } from '../src/inverse/solvers/run.js';
import { scoreSde } from '../src/inverse/solvers/score-sde.js';
import { makeGrid } from '../src/paths/grids.js';
import { ContinuousVPPath } from '../src/paths/vp.js';
import { initialState } from '../src/samplers/run.js';
import { imageMixture, measurementResidual, posteriorProblem, scoreSolver } from '../bench/lib/posterior.js';

test('score-sde: exact mixture posterior approximated at a measured level', async () => {
  const pb = posteriorProblem(16, 8, 0.1);
  const r = await scoreSolver(pb, scoreSde, 50);
  console.log(`# score-sde d=16: SWD ${r.swd.toFixed(3)} (floor ${r.floor.toFixed(3)}), mean error ${r.meanError.toFixed(3)}, NFE ${r.nfe}`);
  assert.equal(r.nfe, 50);
  // Measured SWD 1.267 (floor 0.034), mean error 4.24 (README posterior table).
  assert.ok(r.swd < 1.35 && r.meanError < 4.5, `score-sde d=16: SWD ${r.swd}, mean error ${r.meanError}`);
});

test('noiseless projection without a pseudo-inverse (CT): CG in measurement space equals the dense SVD projection', () => {
  const ct = parseOperatorSpec('ct:views=3', [1, 8, 8]);
  const n = 64, m = ct.outShape.reduce((p, q) => p * q, 1);
  // The dense matrix of the same operator, column by column; its pinv comes from the SVD.
  const dense = new Float64Array(m * n);
  for (let j = 0; j < n; j++) {
    const e = new Tensor([1, 1, 8, 8], new Float64Array(n));
    e.data[j] = 1;
    const col = ct.forward(e).data;
    for (let i = 0; i < m; i++) dense[i * n + j] = col[i]!;
  }
  const mat = new MatrixOperator(dense, m, n, [1, 8, 8]);
  const v = new NoiseSource(1).normal([2, 1, 8, 8], 0, 0, 'float64');
  const y = ct.forward(new NoiseSource(2).normal([2, 1, 8, 8], 0, 0, 'float64'));
  const got = proxByConjugateGradient(ct, v, y, 1, 0);
  const want = mat.proxDataConsistency!(v, y.reshape([2, m]), 1, 0);
  let err = 0, scale = 0;
  for (let i = 0; i < got.size; i++) {
    err = Math.max(err, Math.abs(got.data[i]! - want.data[i]!));
    scale = Math.max(scale, Math.abs(want.data[i]!));
  }
  assert.ok(err < 1e-6 * scale, `CG projection vs SVD projection: max error ${err} (scale ${scale})`);
});

test('score-sde on noiseless sparse-view CT (no pseudo-inverse) meets the measurement', async () => {
  const prior = imageMixture(), path = new ContinuousVPPath();
  const op = parseOperatorSpec('ct:views=4', [1, 8, 8]);
  const grid = makeGrid(path, { kind: 'logsnr-uniform', steps: 20, tStart: path.tMax, tEnd: path.tMin, final: 'zero' });
  const y = op.measure(prior.sample(1, 3, 'float64'), new NoiseSource(4));
  const xT = initialState(new NoiseSource(5).normal([4, 1, 8, 8], 0, Stream.init, 'float64'), grid[0]!);
  const r = await runSolver(scoreSde, prior.asDenoiser(path, 'eps'), grid, op, y, xT, { noise: new NoiseSource(6) });
  const fit = measurementResidual(op, r.x, y), scale = measurementResidual(op, Tensor.zeros([1, 1, 8, 8], 'float64'), y);
  assert.ok(fit < 1e-6 * scale, `relative residual ${fit / scale}`);
});
