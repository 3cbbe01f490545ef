import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NoiseSource, Stream } from '../src/core/rng.js';
import { Tensor } from '../src/core/tensor.js';
import { TweedieError } from '../src/core/errors.js';
import { runSolver } from '../src/inverse/solvers/run.js';
import { flowchef } from '../src/inverse/solvers/flowchef.js';
import { solverByName } from '../src/inverse/solvers/registry.js';
import { makeGrid } from '../src/paths/grids.js';
import { ContinuousVPPath } from '../src/paths/vp.js';
import { FlowPath } from '../src/paths/ve.js';
import { initialState } from '../src/samplers/run.js';
import { measurementResidual, posteriorProblem } from '../bench/lib/posterior.js';

// FlowChef on the exact mixture: the update checked against the paper's formula computed here from the mixture's
// closed-form E[x0 | z_t], and the steer's effect on the exact posterior problem.
const flow = new FlowPath();
const pb = posteriorProblem(16, 8, 0.05, 400);
const gridOf = (steps: number) => makeGrid(flow, { kind: 'time-uniform', steps, tStart: 0.995, tEnd: flow.tMin, final: 'zero' });
const start = (n: number, grid: ReturnType<typeof gridOf>) => initialState(new NoiseSource(41).normal([n, pb.d], 0, Stream.init, 'float64'), grid[0]!);
const run = (steps: number, n: number, scale: number) => {
  const grid = gridOf(steps);
  return runSolver(flowchef, pb.prior.asDenoiser(flow, 'velocity'), grid, pb.op, pb.y, start(n, grid), { noise: new NoiseSource(42), params: { scale } });
};

test('flowchef is registered, deterministic, one model evaluation per step', async () => {
  assert.equal(solverByName('flowchef'), flowchef);
  const a = await run(6, 4, 100), b = await run(6, 4, 100);
  assert.deepEqual(a.x.data, b.x.data);
  assert.equal(a.nfe, 6, 'NFE counts steps (a batch is one evaluation per step)');
});

for (const scale of [40, 0]) test(`scale ${scale}: each step is the Euler step from x0_hat minus gamma A^T (A x0_hat - y), gamma = ${scale ? '2 scale / m' : '1 / ||A||^2'}, the last step unsteered (paper formula, by hand)`, async () => {
  const steps = 3, grid = gridOf(steps);
  const got = (await run(steps, 2, scale)).x.data;
  const z = Float64Array.from(start(2, grid).data);
  const d = pb.d, m = pb.y.itemSize;
  for (let b = 0; b < 2; b++) {
    let zb = z.slice(b * d, (b + 1) * d);
    for (let i = 0; i < steps; i++) {
      const t = grid[i]!.t, tn = grid[i + 1]!.t;
      // The exact velocity eps_hat - x0_hat (eps_hat = -t score, Tweedie), then the authors' loop literally.
      const st = pb.prior.stats(zb, 1 - t, t);
      const v = st.x0.map((x, j) => -t * st.score[j]! - x);
      const x0 = zb.map((zj, j) => zj - t * v[j]!);
      const next = zb.map((zj, j) => zj + (tn - t) * v[j]!);
      if (i < steps - 1) {
        const r = pb.op.forward(new Tensor([1, d], Float64Array.from(x0))).data.map((ax, k) => ax - pb.y.data[k]!);
        const g = pb.op.adjoint(new Tensor([1, m], Float64Array.from(r))).data;
        const gamma = scale ? (2 * scale) / m : 1 / pb.op.normEstimate() ** 2;
        for (let j = 0; j < d; j++) next[j] = next[j]! - gamma * g[j]!;
      }
      zb = next;
    }
    for (let j = 0; j < d; j++) assert.ok(Math.abs(got[b * d + j]! - zb[j]!) < 1e-9, `item ${b}, entry ${j}: ${got[b * d + j]} vs ${zb[j]}`);
  }
});

test('the steer pulls the samples to the measurement and toward the exact posterior mean (default step and scale 1)', async () => {
  const steps = 30, n = 400;
  const prior = pb.prior.sample(n, 7);
  const meanError = (x: Tensor) => {
    let e = 0;
    for (let j = 0; j < pb.d; j++) {
      let s = 0;
      for (let b = 0; b < n; b++) s += x.data[b * pb.d + j]!;
      e += (s / n - pb.exactMean[j]!) ** 2;
    }
    return Math.sqrt(e);
  };
  const rPrior = measurementResidual(pb.op, prior, pb.y), ePrior = meanError(prior);
  for (const scale of [0, 1]) {
    const x = (await run(steps, n, scale)).x;
    const r = measurementResidual(pb.op, x, pb.y), e = meanError(x);
    console.log(`# scale ${scale}: residual ||Ax - y|| ${r.toFixed(3)} (prior samples ${rPrior.toFixed(3)}); error of the sample mean to the exact posterior mean ${e.toFixed(3)} (prior ${ePrior.toFixed(3)})`);
    assert.ok(r < 0.25 * rPrior, `scale ${scale}: residual ${r} vs ${rPrior}`);
    // Like the other single-trajectory solvers (README, exact posteriors) it stays inside the prior's components while
    // the exact posterior puts its weight on another one: the mean moves less than the residual.
    assert.ok(e < 0.85 * ePrior, `scale ${scale}: mean error ${e} vs ${ePrior}`);
  }
});

test('a model on another path is refused in one line naming the path and the solvers to use', async () => {
  const vp = new ContinuousVPPath();
  const grid = makeGrid(vp, { kind: 'logsnr-uniform', steps: 4, tStart: vp.tMax, tEnd: vp.tMin, final: 'zero' });
  await assert.rejects(
    runSolver(flowchef, pb.prior.asDenoiser(vp, 'eps'), grid, pb.op, pb.y, initialState(new NoiseSource(1).normal([2, pb.d], 0, Stream.init, 'float64'), grid[0]!), { noise: new NoiseSource(2) }),
    (e: unknown) => e instanceof TweedieError && /solver flowchef steers rectified-flow models .*the model is on the .* path: use dps, pigdm, diffpir or dds/.test(e.message) && !e.message.includes('\n'),
  );
});
