import { fail } from '../core/errors.js';
import { Tensor } from '../core/tensor.js';
import type { Estimate, ModelFn } from '../models/model-fn.js';
import type { GridPoint, Path } from '../paths/path.js';
import { ALL_PREDICTIONS } from './common.js';
import { defineSampler, type SamplerDef } from './types.js';

/**
 * Adaptive Dormand-Prince RK5(4) on the probability-flow ODE, as score_sde's ODE sampler
 * (scipy.integrate.solve_ivp method 'RK45', rtol = atol = 1e-5) does.
 *
 * Variable: with rho = sqrt(a^2 + s^2) and phi = atan2(s, a) in [0, pi/2], y = z / rho = cos(phi) x0 +
 * sin(phi) eps obeys dy/dphi = cos(phi) eps - sin(phi) x0 = (a eps - s x0) / rho (the "TrigFlow" form of
 * the PF-ODE: substitute x~ = y / cos(phi), sigma = tan(phi) into dx~/dsigma = eps). phi is a bounded clock
 * that reaches a = 0 (phi = pi/2, rectified flow at t = 1) and y stays O(1) on every path; its Jacobian
 * is bounded (for Gaussian data of variance c it is sin cos (1 - c) / (c cos^2 + sin^2)), unlike z against t
 * near the data. On VP paths (rho = 1) y is score_sde's x itself.
 *
 * Grid: only grid[0] and the last point are used. If the last point is clean (s = 0), the ODE is
 * integrated to the point before it and the result is the x0 estimate there, a_clean x0_hat, taken from
 * the final stage evaluation (no extra NFE). The batch shares one step-size controller (scipy on the
 * flattened batch, as score_sde), so a sample depends on its batch only within the tolerance.
 *
 * Controller (scipy/integrate/_ivp/rk.py): error norm = RMS over all elements of
 * err / (atol + rtol max(|y|, |y_new|)), err = h sum_k E_k K_k; accept when < 1; factor =
 * min(10, 0.9 err^-1/5), at least 0.2 on rejection and at most 1 right after one; first step by
 * scipy's select_initial_step (Hairer, Norsett & Wanner, II.4), one extra NFE; FSAL, 6 NFE per step tried.
 */

const C = [0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1];
const A: readonly (readonly number[])[] = [
  [],
  [1 / 5],
  [3 / 40, 9 / 40],
  [44 / 45, -56 / 15, 32 / 9],
  [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
  [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
];
const B = [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84];
const E = [-71 / 57600, 0, 71 / 16695, -71 / 1920, 17253 / 339200, -22 / 525, 1 / 40];
const SAFETY = 0.9, MIN_FACTOR = 0.2, MAX_FACTOR = 10, ERROR_EXPONENT = -1 / 5;

/** RMS norm, scipy's `norm`. */
function rms(v: Float64Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  return Math.sqrt(s / v.length);
}

/** The PF-ODE right-hand side in (phi, y), with the model input kept in the state's dtype. */
class TrigFlowRhs {
  /** x0 estimate of the latest evaluation, and the point it was made at. */
  lastX0: Tensor | null = null;
  private readonly zIn: Tensor;
  constructor(
    private readonly fn: ModelFn,
    private readonly path: Path,
    template: Tensor,
    private readonly ends: readonly GridPoint[],
  ) {
    this.zIn = template.zerosLike();
  }

  point(phi: number): GridPoint {
    for (const p of this.ends) if (phiOf(p) === phi) return p;
    return this.path.point(this.path.tOfLambda(Math.log(Math.cos(phi)) - Math.log(Math.sin(phi))));
  }

  /** out = F(phi, y). */
  async eval(phi: number, y: Float64Array, out: Float64Array): Promise<void> {
    const p = this.point(phi);
    const rho = Math.hypot(p.a, p.s);
    const zd = this.zIn.data;
    for (let i = 0; i < zd.length; i++) zd[i] = rho * y[i]!;
    const est: Estimate = await this.fn.estimate(this.zIn, p);
    const ca = p.a / rho, cs = p.s / rho, x0 = est.x0.data, eps = est.eps.data;
    for (let i = 0; i < out.length; i++) out[i] = ca * eps[i]! - cs * x0[i]!;
    this.lastX0 = est.x0;
  }
}

const phiOf = (p: GridPoint): number => Math.atan2(p.s, p.a);

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
    let y = Float64Array.from(z.data, (v) => v / rho0);
    let f = new Float64Array(n);
    await rhs.eval(phi0, y, f);
    const K = Array.from({ length: 7 }, () => new Float64Array(n));
    let yNew = new Float64Array(n);
    const tmp = new Float64Array(n);
    const direction = phi1 < phi0 ? -1 : 1;
    const passed = (phi: number): number => {
      let k = 0;
      while (k + 1 < grid.length - (clean ? 1 : 0) && direction * (phiOf(grid[k + 1]!) - phi) <= 0) k++;
      return k;
    };

    let phi = phi0, steps = 0;
    if (phi1 !== phi0) {
      let hAbs = await initialStep(rhs, phi0, y, f, phi1, direction, rtol, atol, tmp);
      while (direction * (phi - phi1) < 0) {
        const minStep = 10 * Math.abs(nextAfter(phi, direction) - phi);
        if (hAbs < minStep) hAbs = minStep;
        let rejected = false;
        for (;;) {
          if (hAbs < minStep) {
            fail('UNSUPPORTED', `rk45: the step size fell below ${minStep.toExponential(2)} at t = ${rhs.point(phi).t} (rtol ${rtol}, atol ${atol}); the tolerance is below what the model's precision allows, loosen rtol/atol`);
          }
          let phiNew = phi + direction * hAbs;
          if (direction * (phiNew - phi1) > 0) phiNew = phi1;
          const h = phiNew - phi;
          hAbs = Math.abs(h);
          // Dormand-Prince stages (scipy rk_step), K[0] = f (FSAL).
          K[0]!.set(f);
          for (let s = 1; s < 6; s++) {
            const a = A[s]!;
            for (let i = 0; i < n; i++) {
              let acc = 0;
              for (let k = 0; k < s; k++) acc += a[k]! * K[k]![i]!;
              tmp[i] = y[i]! + h * acc;
            }
            await rhs.eval(phi + C[s]! * h, tmp, K[s]!);
          }
          for (let i = 0; i < n; i++) {
            let acc = 0;
            for (let k = 0; k < 6; k++) acc += B[k]! * K[k]![i]!;
            yNew[i] = y[i]! + h * acc;
          }
          await rhs.eval(phiNew, yNew, K[6]!);
          for (let i = 0; i < n; i++) {
            let err = 0;
            for (let k = 0; k < 7; k++) err += E[k]! * K[k]![i]!;
            tmp[i] = (h * err) / (atol + rtol * Math.max(Math.abs(y[i]!), Math.abs(yNew[i]!)));
          }
          const errNorm = rms(tmp);
          if (errNorm < 1) {
            let factor = errNorm === 0 ? MAX_FACTOR : Math.min(MAX_FACTOR, SAFETY * errNorm ** ERROR_EXPONENT);
            if (rejected) factor = Math.min(1, factor);
            hAbs *= factor;
            phi = phiNew;
            [y, yNew] = [yNew, y];
            [f, K[6]] = [K[6]!, f];
            break;
          }
          hAbs *= Math.max(MIN_FACTOR, SAFETY * errNorm ** ERROR_EXPONENT);
          rejected = true;
        }
        steps++;
        if (direction * (phi - phi1) < 0) {
          const p = rhs.point(phi), rho = Math.hypot(p.a, p.s);
          const zd = z.data;
          for (let i = 0; i < n; i++) zd[i] = rho * y[i]!;
          await report(steps, passed(phi), z, rhs.lastX0, p);
        }
      }
    }
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

/** scipy select_initial_step (error estimator order 4): one extra evaluation at phi0 + h0. */
async function initialStep(rhs: TrigFlowRhs, phi0: number, y0: Float64Array, f0: Float64Array, phi1: number, direction: number, rtol: number, atol: number, tmp: Float64Array): Promise<number> {
  const n = y0.length;
  const interval = Math.abs(phi1 - phi0);
  const sc = new Float64Array(n);
  for (let i = 0; i < n; i++) sc[i] = atol + Math.abs(y0[i]!) * rtol;
  for (let i = 0; i < n; i++) tmp[i] = y0[i]! / sc[i]!;
  const d0 = rms(tmp);
  for (let i = 0; i < n; i++) tmp[i] = f0[i]! / sc[i]!;
  const d1 = rms(tmp);
  let h0 = d0 < 1e-5 || d1 < 1e-5 ? 1e-6 : (0.01 * d0) / d1;
  h0 = Math.min(h0, interval);
  const y1 = new Float64Array(n), f1 = new Float64Array(n);
  for (let i = 0; i < n; i++) y1[i] = y0[i]! + h0 * direction * f0[i]!;
  await rhs.eval(phi0 + h0 * direction, y1, f1);
  for (let i = 0; i < n; i++) tmp[i] = (f1[i]! - f0[i]!) / sc[i]!;
  const d2 = rms(tmp) / h0;
  const h1 = d1 <= 1e-15 && d2 <= 1e-15 ? Math.max(1e-6, h0 * 1e-3) : (0.01 / Math.max(d1, d2)) ** (1 / 5);
  return Math.min(100 * h0, h1, interval);
}

/** The next double after x towards +inf (direction 1) or -inf (direction -1). */
function nextAfter(x: number, direction: number): number {
  if (x === 0) return direction * Number.MIN_VALUE;
  const buf = new DataView(new ArrayBuffer(8));
  buf.setFloat64(0, x);
  const bits = buf.getBigInt64(0);
  buf.setBigInt64(0, (x > 0) === (direction > 0) ? bits + 1n : bits - 1n);
  return buf.getFloat64(0);
}

export const RK45_SAMPLERS: readonly SamplerDef[] = [rk45];
