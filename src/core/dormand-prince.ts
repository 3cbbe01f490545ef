import { fail } from './errors.js';

/**
 * Adaptive Dormand-Prince RK5(4) with scipy's controller (scipy/integrate/_ivp/rk.py, solve_ivp method
 * 'RK45'), on a flat float64 state: one step size for the whole state, as scipy on a flattened batch.
 *
 * Error norm = RMS over all elements of err / (atol + rtol max(|y|, |y_new|)), err = h sum_k E_k K_k; accept
 * when < 1; factor = min(10, 0.9 err^-1/5), at least 0.2 on rejection and at most 1 right after one; first
 * step by scipy's select_initial_step (Hairer, Norsett & Wanner, II.4), one extra evaluation; FSAL, 6
 * evaluations per step tried.
 */

/** out = F(t, y); may be asynchronous (a model call). */
export type OdeRhs = (t: number, y: Float64Array, out: Float64Array) => Promise<void>;

export interface DormandPrinceOptions {
  rtol: number;
  atol: number;
  /** After each accepted step that does not end the interval: the time, the state (do not keep it) and the steps so far. */
  onStep?: (t: number, y: Float64Array, steps: number) => Promise<void>;
  /** Who integrates, and how to name time t, in the step-size error message. */
  caller?: string;
  where?: (t: number) => string;
}

export interface DormandPrinceResult {
  /** The state at t1. */
  y: Float64Array;
  /** Accepted steps, and evaluations of F (the first one at t0 included). */
  steps: number;
  evaluations: number;
}

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

/** Integrate y' = F(t, y) from t0 to t1 (either direction) starting at y0 (not modified). */
export async function dormandPrince(rhs: OdeRhs, t0: number, t1: number, y0: Float64Array, opts: DormandPrinceOptions): Promise<DormandPrinceResult> {
  const { rtol, atol } = opts;
  const n = y0.length;
  let y = Float64Array.from(y0);
  let f = new Float64Array(n);
  let evaluations = 0;
  const F = async (t: number, state: Float64Array, out: Float64Array) => {
    evaluations++;
    await rhs(t, state, out);
  };
  await F(t0, y, f);
  const K = Array.from({ length: 7 }, () => new Float64Array(n));
  let yNew = new Float64Array(n);
  const tmp = new Float64Array(n);
  const direction = t1 < t0 ? -1 : 1;

  let t = t0, steps = 0;
  if (t1 !== t0) {
    let hAbs = await initialStep(F, t0, y, f, t1, direction, rtol, atol, tmp);
    while (direction * (t - t1) < 0) {
      const minStep = 10 * Math.abs(nextAfter(t, direction) - t);
      if (hAbs < minStep) hAbs = minStep;
      let rejected = false;
      for (;;) {
        if (hAbs < minStep) {
          fail('UNSUPPORTED', `${opts.caller ?? 'RK45'}: the step size fell below ${minStep.toExponential(2)} at ${opts.where ? opts.where(t) : `t = ${t}`} (rtol ${rtol}, atol ${atol}); the tolerance is below what the model's precision allows, loosen rtol/atol`);
        }
        let tNew = t + direction * hAbs;
        if (direction * (tNew - t1) > 0) tNew = t1;
        const h = tNew - t;
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
          await F(t + C[s]! * h, tmp, K[s]!);
        }
        for (let i = 0; i < n; i++) {
          let acc = 0;
          for (let k = 0; k < 6; k++) acc += B[k]! * K[k]![i]!;
          yNew[i] = y[i]! + h * acc;
        }
        await F(tNew, yNew, K[6]!);
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
          t = tNew;
          [y, yNew] = [yNew, y];
          [f, K[6]] = [K[6]!, f];
          break;
        }
        hAbs *= Math.max(MIN_FACTOR, SAFETY * errNorm ** ERROR_EXPONENT);
        rejected = true;
      }
      steps++;
      if (direction * (t - t1) < 0 && opts.onStep) await opts.onStep(t, y, steps);
    }
  }
  return { y, steps, evaluations };
}

/** scipy select_initial_step (error estimator order 4): one extra evaluation at t0 + h0. */
async function initialStep(F: OdeRhs, t0: number, y0: Float64Array, f0: Float64Array, t1: number, direction: number, rtol: number, atol: number, tmp: Float64Array): Promise<number> {
  const n = y0.length;
  const interval = Math.abs(t1 - t0);
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
  await F(t0 + h0 * direction, y1, f1);
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
