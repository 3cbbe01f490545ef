import { lincomb, lincomb3, scale } from '../core/ops.js';
import { ALL_PREDICTIONS } from './common.js';
import { defineSampler, type SamplerDef } from './types.js';
import { estimateBuffers } from '../models/model-fn.js';

/**
 * Flow-matching samplers: Euler and Heun on the probability-flow ODE in path time t,
 * dz/dt = v = a'(t) x0 + s'(t) eps (the velocity of the centered variable). On rectified flow
 * (a = 1 - t, s = t) v = eps - x0 is the flow-matching velocity and these are diffusers'
 * FlowMatchEulerDiscreteScheduler (x_{t'} = x_t + (t' - t) v) and FlowMatchHeunDiscreteScheduler;
 * on other paths they are Euler / Heun of the same ODE in t. Nothing divides by a, so a start at
 * a = 0 (t = 1 on rectified flow) is fine.
 *
 * The step into clean data (s = 0) is the x0 estimate z' = a' x0. On rectified flow that is exactly
 * the Euler step into t = 0 (x_t - t v = x0), which is what both diffusers schedulers do there
 * (FlowMatchHeun's last step is first order: its timesteps are [t0, t1, t1, ..., t_{N-1}, t_{N-1}] and it
 * never calls the model at sigma = 0); on paths whose clean time is -inf (VE) or where s' is singular
 * it is the only finite choice.
 */

export const flowEuler = defineSampler({
  name: 'flow-euler',
  description: 'Flow-matching Euler in path time t (diffusers FlowMatchEulerDiscreteScheduler): z_{t\'} = z_t + (t\' - t) v, v = a\'(t) x0 + s\'(t) eps',
  order: 1,
  nfePerStep: 1,
  stochastic: false,
  predictions: ALL_PREDICTIONS,
  params: {},
  notes: 'On rectified flow it coincides with euler and ddim (eta = 0). The step into s = 0 is the x0 estimate.',
  async run({ fn, path, grid, z, report }) {
    const est = estimateBuffers(z);
    for (let i = 0; i < grid.length - 1; i++) {
      const from = grid[i]!, to = grid[i + 1]!;
      const { x0, eps } = await fn.estimate(z, from, false, est);
      if (to.s === 0) {
        scale(z, to.a, x0);
      } else {
        const dt = to.t - from.t;
        lincomb3(z, 1, z, dt * path.da(from.t), x0, dt * path.ds(from.t), eps);
      }
      await report(i + 1, i + 1, z, x0);
    }
    return z;
  },
});

export const flowHeun = defineSampler({
  name: 'flow-heun',
  description: 'Flow-matching Heun in path time t (diffusers FlowMatchHeunDiscreteScheduler): trapezoid of the velocity at t and at the Euler prediction at t\'',
  order: 2,
  nfePerStep: 2,
  stochastic: false,
  predictions: ALL_PREDICTIONS,
  params: {},
  notes: '2 NFE per step except the final step into s = 0, which is Euler (the x0 estimate, 1 NFE) as in diffusers.',
  async run({ fn, path, grid, z, report }) {
    const z2 = z.zerosLike(), est1 = estimateBuffers(z), est2 = estimateBuffers(z);
    for (let i = 0; i < grid.length - 1; i++) {
      const from = grid[i]!, to = grid[i + 1]!;
      const e1 = await fn.estimate(z, from, false, est1);
      if (to.s === 0) {
        scale(z, to.a, e1.x0);
      } else {
        const dt = to.t - from.t;
        lincomb3(z2, 1, z, dt * path.da(from.t), e1.x0, dt * path.ds(from.t), e1.eps);
        const e2 = await fn.estimate(z2, to, false, est2);
        // z' = z + dt (v1 + v2)/2 = (z + z2)/2 + dt v2 / 2
        const h = dt / 2;
        lincomb(z, [0.5, 0.5, h * path.da(to.t), h * path.ds(to.t)], [z, z2, e2.x0, e2.eps]);
      }
      await report(i + 1, i + 1, z, e1.x0);
    }
    return z;
  },
});

export const FLOW_SAMPLERS: readonly SamplerDef[] = [flowEuler, flowHeun];
