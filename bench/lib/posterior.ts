import { GaussianMixture } from '../../src/models/gmm.js';
import { NoiseSource, Stream } from '../../src/core/rng.js';
import { Tensor } from '../../src/core/tensor.js';
import { MatrixOperator } from '../../src/inverse/operators/matrix.js';
import { mixturePosterior } from '../../src/inverse/exact-posterior.js';
import { makeGrid } from '../../src/paths/grids.js';
import { ContinuousVPPath } from '../../src/paths/vp.js';
import type { Path } from '../../src/paths/path.js';
import type { Operator } from '../../src/inverse/operators/operator.js';
import { initialState } from '../../src/samplers/run.js';
import { runSolver } from '../../src/inverse/solvers/run.js';
import type { SolverDef } from '../../src/inverse/solvers/types.js';
import type { ParamValues } from '../../src/samplers/types.js';
import { slicedWasserstein, sampleMean } from '../../src/metrics/distribution.js';
import { testMixture } from './ode-order.js';

/**
 * An exact posterior problem: mixture prior in d dimensions, a random m x d Gaussian matrix
 * (entries N(0, 1/d)), noise sigma; y measured from one prior draw. The posterior is an exact mixture.
 */
export interface PosteriorProblem {
  d: number;
  prior: GaussianMixture;
  op: MatrixOperator;
  y: Tensor;
  sigma: number;
  posterior: GaussianMixture;
  exact: Tensor;
  /** SWD between two independent exact posterior sample sets: the finite-sample floor. */
  floor: number;
  exactMean: Float64Array;
}

export function posteriorProblem(d = 16, m = d / 2, sigma = 0.1, n = 2000, prior: GaussianMixture = testMixture(d, 4)): PosteriorProblem {
  const g = new NoiseSource(21).normal([1, m * d], 0, Stream.aux, 'float64').data;
  const A = Float64Array.from(g, (v) => v / Math.sqrt(d));
  const op = new MatrixOperator(A, m, d, [d], sigma, 'gaussian');
  const x = prior.sample(1, 5);
  const y = op.measure(x, new NoiseSource(22));
  const posterior = mixturePosterior(prior, A, m, y.data, sigma);
  const exact = posterior.sample(n, 31, 'float64');
  const floor = slicedWasserstein(exact.data, posterior.sample(n, 32, 'float64').data, d, { projections: 128, seed: 9 });
  return { d, prior, op, y, sigma, posterior, exact, floor, exactMean: posterior.moments().mean };
}

export interface PosteriorScore {
  swd: number;
  meanError: number;
  nfe: number;
  floor: number;
}

/** Run a solver for n posterior samples and compare them with exact posterior samples. */
export async function scoreSolver(pb: PosteriorProblem, def: SolverDef, steps: number, params: Partial<ParamValues> = {}, path: Path = new ContinuousVPPath(), n = 2000): Promise<PosteriorScore> {
  // On rectified flow a = 0 at t = 1 says nothing about x0: start just after it, with the velocity model.
  const flow = path.family === 'flow';
  const grid = makeGrid(path, { kind: 'logsnr-uniform', steps, tStart: flow ? 0.995 : path.tMax, tEnd: path.tMin, final: 'zero' });
  const xT = initialState(new NoiseSource(41).normal([n, pb.d], 0, Stream.init, 'float64'), grid[0]!);
  const r = await runSolver(def, pb.prior.asDenoiser(path, flow ? 'velocity' : 'eps'), grid, pb.op, pb.y, xT, { noise: new NoiseSource(42), params });
  const swd = slicedWasserstein(r.x.data, pb.exact.data, pb.d, { projections: 128, seed: 9 });
  const m = sampleMean(r.x.data, pb.d);
  let e = 0;
  for (let j = 0; j < pb.d; j++) e += (m[j]! - pb.exactMean[j]!) ** 2;
  return { swd, meanError: Math.sqrt(e), nfe: r.nfe, floor: pb.floor };
}

/** The d = 64 test mixture laid out as [1, 8, 8] images, for tests on image operators. */
export function imageMixture(): GaussianMixture {
  return new GaussianMixture({ ...testMixture(64, 4).toJson(), shape: [1, 8, 8] });
}

/** Per-sample measurement residual ||A x - y|| (one measurement y for all samples), averaged over the batch. */
export function measurementResidual(op: Operator, x: Tensor, y: Tensor): number {
  const ax = op.forward(x), m = y.size;
  let total = 0;
  for (let b = 0; b < x.batch; b++) {
    let s = 0;
    for (let k = 0; k < m; k++) s += (ax.data[b * m + k]! - y.data[k]!) ** 2;
    total += Math.sqrt(s);
  }
  return total / x.batch;
}
