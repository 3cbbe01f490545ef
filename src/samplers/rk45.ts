import { dormandPrince } from '../core/dormand-prince.js';
import { ALL_PREDICTIONS } from './common.js';
import { phiOf, TrigFlowRhs } from './trig-flow.js';
import { defineSampler, type SamplerDef } from './types.js';

/**
 * Adaptive Dormand-Prince RK5(4) on the probability-flow ODE, as score_sde's ODE sampler
 * (scipy.integrate.solve_ivp method 'RK45', rtol = atol = 1e-5) does.
 *
 * Variable: y = z / rho against phi = atan2(s, a), rho = sqrt(a^2 + s^2) (trig-flow.ts). phi is a bounded clock
 * that reaches a = 0 (phi = pi/2, rectified flow at t = 1) and y stays O(1) on every path; its Jacobian
 * is bounded (for Gaussian data of variance c it is sin cos (1 - c) / (c cos^2 + sin^2)), unlike z against t
 * near the data. On VP paths (rho = 1) y is score_sde's x itself.
 *
 * Grid: only grid[0] and the last point are used. If the last point is clean (s = 0), the ODE is
 * integrated to the point before it and the result is the x0 estimate there, a_clean x0_hat, taken from
 * the final stage evaluation (no extra NFE). The batch shares one step-size controller (scipy on the
 * flattened batch, as score_sde), so a sample depends on its batch only within the tolerance.
 *
 * Integrator: dormandPrince (core/dormand-prince.ts), scipy's controller and first step; ~6 NFE per step tried.
 */

export const rk45 = defineSampler({
  name: 'rk45',
  description: 'Adaptive Dormand-Prince RK45 on the probability-flow ODE (score_sde ODE sampler, scipy solve_ivp RK45 controller)',
  order: 5,
  nfePerStep: 'adaptive',
  stochastic: false,
  predictions: ALL_PREDICTIONS,
  params: {
    rtol: { type: 'number', default: 1e-5, min: 1e-14, doc: 'relative tolerance (score_sde: 1e-5)' },
    atol: { type: 'number', default: 1e-5, min: 1e-14, doc: 'absolute tolerance on y = z / sqrt(a^2 + s^2) (score_sde: 1e-5)' },
  },
  notes:
    'Uses only the first and last grid points; a clean last point gets the x0 estimate at the point before it. ' +
    'Integrates y = z / sqrt(a^2 + s^2) against phi = atan2(s, a), so it starts at a = 0 too. NFE is counted, ~6 per step tried plus 2 to start. ' +
    'onStep reports each accepted step with the last grid point passed.',
  async run({ fn, path, grid, z, params, report }) {
    const rtol = params.rtol, atol = params.atol;
    const last = grid[grid.length - 1]!;
    const clean = last.s === 0;
    const start = grid[0]!;
    const end = clean ? grid[grid.length - 2]! : last;
    const phi0 = phiOf(start), phi1 = phiOf(end);
    const rhs = new TrigFlowRhs(fn, path, z, [start, end]);
    const n = z.size;
    const rho0 = Math.hypot(start.a, start.s);
    const direction = phi1 < phi0 ? -1 : 1;
    const passed = (phi: number): number => {
      let k = 0;
      while (k + 1 < grid.length - (clean ? 1 : 0) && direction * (phiOf(grid[k + 1]!) - phi) <= 0) k++;
      return k;
    };
    const { y, steps } = await dormandPrince((phi, state, out) => rhs.eval(phi, state, out), phi0, phi1, Float64Array.from(z.data, (v) => v / rho0), {
      rtol, atol, caller: 'rk45',
      where: (phi) => `t = ${rhs.point(phi).t}`,
      onStep: async (phi, state, k) => {
        const p = rhs.point(phi), rho = Math.hypot(p.a, p.s);
        const zd = z.data;
        for (let i = 0; i < n; i++) zd[i] = rho * state[i]!;
        await report(k, passed(phi), z, rhs.lastX0, p);
      },
    });
    // Final state: at the end point, or its x0 estimate when the grid ends at clean data.
    const zd = z.data;
    if (clean) {
      const x0 = rhs.lastX0!.data;
      for (let i = 0; i < n; i++) zd[i] = last.a * x0[i]!;
    } else {
      const rho1 = Math.hypot(end.a, end.s);
      for (let i = 0; i < n; i++) zd[i] = rho1 * y[i]!;
    }
    await report(Math.max(1, steps), grid.length - 1, z, rhs.lastX0);
    return z;
  },
});

export const RK45_SAMPLERS: readonly SamplerDef[] = [rk45];
