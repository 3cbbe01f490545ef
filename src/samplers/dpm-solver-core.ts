/**
 * Shared kernels of the DPM-Solver family on the centered variable z = a x0 + s eps.
 *
 * Everything is written with the path coefficients (a, s) of the grid points and the half log-SNR
 * lambda = log(a / s), so one code serves every path family. lambda = -inf where a = 0 (pure noise,
 * rectified flow at t = 1) and +inf where s = 0 (clean data); the drivers never build a high-order
 * update across an infinite step (the step from a = 0 and the step into s = 0 are first order), and
 * the ratios h / h_prev that weight the finite differences become 0 when h_prev = inf, which is the
 * limit of the formulas.
 *
 * Sources read (formulas re-derived and written here, no code copied):
 * - Lu et al. 2022, DPM-Solver (arXiv 2206.00927), Sec. 3: exact solution as an exponentially weighted
 *   integral in lambda, DPM-Solver-1/2/3 (singlestep, noise prediction), DPM-Solver-fast and adaptive steps;
 * - Lu et al. 2022b, DPM-Solver++ (arXiv 2211.01095), Sec. 4 and Algs. 1-2 (data prediction, 2S / 2M);
 * - huggingface/diffusers schedulers/scheduling_dpmsolver_multistep.py and scheduling_dpmsolver_singlestep.py
 *   (step(), *_order_update(), get_order_list());
 * - LuChengTHU/dpm-solver dpm_solver_pytorch.py (sample(), singlestep_dpm_solver_*_update, dpm_solver_adaptive);
 * - crowsonkb/k-diffusion k_diffusion/sampling.py (DPMSolver.dpm_solver_adaptive, sample_dpmpp_2m_sde, sample_dpmpp_3m_sde).
 */
import { lincomb, scale } from '../core/ops.js';
import type { Tensor } from '../core/tensor.js';
import type { GridPoint } from '../paths/path.js';

/** 'x0': DPM-Solver++ (integrates the data prediction); 'eps': DPM-Solver (integrates the noise prediction). */
export type DpmAlgorithm = 'x0' | 'eps';
/** diffusers' solver_type: 'midpoint' (dpm-solver's 'dpmsolver') or 'heun' (dpm-solver's 'taylor'). */
export type SolverType = 'midpoint' | 'heun';

/** Half log-SNR of a grid point: -inf at a = 0, +inf at s = 0. */
export function lambdaOf(p: GridPoint): number {
  return Math.log(p.a) - Math.log(p.s);
}

// phi functions with their small-h series and their h -> inf limits (never NaN for h in (0, inf]).

/** (e^{-h} - 1) / h + 1 = (h + expm1(-h)) / h; -> 1 as h -> inf. */
export function phi2x0(h: number): number {
  if (h < 1e-2) return h * (1 / 2 - h * (1 / 6 - h * (1 / 24 - h / 120)));
  return Math.expm1(-h) / h + 1;
}
/** phi2x0(h) / h - 1/2 = (e^{-h} - 1 + h) / h^2 - 1/2; -> -1/2 as h -> inf. */
export function phi3x0(h: number): number {
  if (h < 1e-2) return -h * (1 / 6 - h * (1 / 24 - h * (1 / 120 - h / 720)));
  return phi2x0(h) / h - 0.5;
}
/** (e^h - 1) / h - 1. */
export function phi2eps(h: number): number {
  if (h < 1e-2) return h * (1 / 2 + h * (1 / 6 + h * (1 / 24 + h / 120)));
  return Math.expm1(h) / h - 1;
}
/** phi2eps(h) / h - 1/2. */
export function phi3eps(h: number): number {
  if (h < 1e-2) return h * (1 / 6 + h * (1 / 24 + h * (1 / 120 + h / 720)));
  return phi2eps(h) / h - 0.5;
}

/** z_t = cz z + sum_k cm[k] m[k] (+ cn noise): the coefficients of one update. */
export interface Update {
  cz: number;
  cm: number[];
}

/** out = cz z + sum cm[k] m[k] + cn noise, one fused pass (out may alias z). Zero terms are skipped. */
export function applyUpdate(out: Tensor, u: Update, z: Tensor, ms: readonly Tensor[], cn = 0, noise: Tensor | null = null): Tensor {
  const coeffs: number[] = [u.cz], terms: Tensor[] = [z];
  u.cm.forEach((c, k) => {
    if (c !== 0) {
      coeffs.push(c);
      terms.push(ms[k]!);
    }
  });
  if (cn !== 0 && noise) {
    coeffs.push(cn);
    terms.push(noise);
  }
  return lincomb(out, coeffs, terms);
}

/** The step into clean data (s = 0, lambda = +inf) is first order: z = a_t x0_hat. */
export function stepToClean(z: Tensor, to: GridPoint, x0: Tensor): Tensor {
  return scale(z, to.a, x0);
}

/**
 * The D2 term of the third-order multistep update. 'reference': the formula shared by diffusers
 * (dpmsolver / dpmsolver++), dpm-solver's multistep_dpm_solver_third_update and k-diffusion's
 * sample_dpmpp_3m_sde, where D2 = (D1_0 - D1_1) / (r0 + r1) ~ h^2 x''/2 multiplies the coefficient of
 * h^2 x'' in the Taylor integral (-phi_3), so that term has half its weight and the method is second
 * order asymptotically. 'taylor': twice that weight, the third-order multistep exponential integrator.
 * 'diffusers-sde': diffusers' sde-dpmsolver++ third-order branch, whose coefficient
 * (1 - e^{-2h} - 2h)/(2h)^2 - 0.5 equals -phi_3(2h) - 1.
 */
export type ThirdOrderForm = 'reference' | 'taylor' | 'diffusers-sde';

export interface MultistepOptions {
  solverType: SolverType;
  /** SDE-DPM-Solver++ noise scale (k-diffusion eta; diffusers' sde-dpmsolver++ is eta = 1); 0 = the ODE. */
  eta?: number;
  third?: ThirdOrderForm;
}

/**
 * Multistep update of order k from pts[0] (current point, model m[0]) to `to`, with the previous
 * points pts[1], pts[2] and their model outputs m[1], m[2] (most recent first): diffusers'
 * dpm_solver_first_order_update / multistep_dpm_solver_{second,third}_order_update, in (a, s) form.
 * Needs pts[0].a > 0 for 'eps' and to.s > 0 (the callers handle those steps as first order).
 *
 * Data form (DPM-Solver++, Lu et al. 2022b Sec. 4; SDE variant with eta as in diffusers#3344 / k-diffusion):
 *   z_t = (s_t/s_s) e^{-eta h} z + a_t (1 - e^{-(1+eta) h}) D0 + a_t c1 D1 + a_t c2 D2 (+ s_t sqrt(1 - e^{-2 eta h}) xi).
 * Noise form (DPM-Solver, Lu et al. 2022 Sec. 3): z_t = (a_t/a_s) z - s_t (e^h - 1) D0 - s_t c1 D1 - s_t c2 D2.
 */
export function multistepUpdate(alg: DpmAlgorithm, k: number, pts: readonly GridPoint[], lams: readonly number[], to: GridPoint, lamTo: number, opt: MultistepOptions): Update {
  const s0 = pts[0]!;
  const h = lamTo - lams[0]!;
  const eta = opt.eta ?? 0;
  let cz: number, c0: number, A: number, B: number, mid: number;
  if (alg === 'x0') {
    const eh = eta > 0 ? eta * h : 0;
    const he = h + eh;
    cz = (to.s / s0.s) * Math.exp(-eh);
    c0 = -to.a * Math.expm1(-he);
    mid = 0.5 * c0;
    A = to.a * phi2x0(he);
    B = -to.a * phi3x0(he) - (eta > 0 && opt.third === 'diffusers-sde' ? to.a : 0);
  } else {
    cz = to.a / s0.a;
    c0 = -to.s * Math.expm1(h);
    mid = 0.5 * c0;
    A = -to.s * phi2eps(h);
    B = -to.s * phi3eps(h);
  }
  if (k === 1) return { cz, cm: [c0] };
  const h0 = lams[0]! - lams[1]!;
  const q0 = h / h0; // 1 / r0, 0 when the previous point is at lambda = -inf
  if (k === 2) {
    const cD1 = opt.solverType === 'midpoint' ? mid : A;
    return { cz, cm: [c0 + cD1 * q0, -cD1 * q0] };
  }
  // Third order (diffusers multistep_dpm_solver_third_order_update): D1 = D1_0 + r0/(r0+r1) (D1_0 - D1_1),
  // D2 = (D1_0 - D1_1)/(r0+r1), update + A D1 + B D2 = P D1_0 - Q D1_1.
  const h1 = lams[1]! - lams[2]!;
  const q1 = h / h1;
  const w = h0 / (h0 + h1), v = h / (h0 + h1);
  if (opt.third === 'taylor') B *= 2;
  const P = A * (1 + w) + B * v, Q = A * w + B * v;
  return { cz, cm: [c0 + P * q0, -P * q0 - Q * q1, Q * q1] };
}

/** Noise coefficient of the SDE-DPM-Solver++ step: s_t sqrt(1 - e^{-2 eta h}). */
export function sdeNoiseScale(to: GridPoint, h: number, eta: number): number {
  if (eta <= 0 || to.s === 0) return 0;
  return to.s * Math.sqrt(-Math.expm1(-2 * eta * h));
}

/**
 * Singlestep update of order k (1..3) from the group start pts[0] (state z0, model m[0]) to `to`, using
 * the model outputs m[1], m[2] at the intermediate points pts[1], pts[2] (diffusers'
 * singlestep_dpm_solver_{second,third}_order_update; with intermediate points at lambda fractions
 * r1 = 1/2 or (1/3, 2/3) this is dpm-solver's singlestep_dpm_solver_{second,third}_update).
 * Order 2: D1 = (m1 - m0) / r1; order 3 midpoint: only D1_1 = (m2 - m0) / r2 (DPM-Solver-3 of Lu et al. 2022);
 * order 3 heun: D1 = (r2 D1_0 - r1 D1_1)/(r2 - r1), D2 = 2 (D1_1 - D1_0)/(r2 - r1).
 */
export function singlestepUpdate(alg: DpmAlgorithm, k: number, pts: readonly GridPoint[], lams: readonly number[], to: GridPoint, lamTo: number, solverType: SolverType): Update {
  const p0 = pts[0]!;
  const h = lamTo - lams[0]!;
  let cz: number, c0: number, A: number, B: number;
  if (alg === 'x0') {
    cz = to.s / p0.s;
    c0 = -to.a * Math.expm1(-h);
    A = to.a * phi2x0(h);
    B = -to.a * phi3x0(h);
  } else {
    cz = to.a / p0.a;
    c0 = -to.s * Math.expm1(h);
    A = -to.s * phi2eps(h);
    B = -to.s * phi3eps(h);
  }
  if (k === 1) return { cz, cm: [c0] };
  const r1 = (lams[1]! - lams[0]!) / h;
  if (k === 2) {
    const cD1 = solverType === 'midpoint' ? 0.5 * c0 : A;
    return { cz, cm: [c0 - cD1 / r1, cD1 / r1] };
  }
  const r2 = (lams[2]! - lams[0]!) / h;
  if (solverType === 'midpoint') return { cz, cm: [c0 - A / r2, 0, A / r2] };
  const U = (A * r2 - 2 * B) / (r2 - r1), V = (2 * B - A * r1) / (r2 - r1);
  return { cz, cm: [c0 - U / r1 - V / r2, U / r1, V / r2] };
}

/**
 * Orders of the singlestep solver at each of `steps` grid steps (1 opens a group that starts at that
 * point): diffusers' DPMSolverSinglestepScheduler.get_order_list, including its rules that force
 * lower_order_final when steps % order != 0 or when the grid ends at sigma = 0, and `orders[-1] = 1`
 * when the grid ends at sigma = 0. With lower_order_final the order-3 list is DPM-Solver-fast's
 * schedule (groups 3, ..., 3 then 2, 1 / 1 / 2 so that NFE = steps; Lu et al. 2022 Sec. 3).
 */
export function singlestepOrders(steps: number, order: number, lowerOrderFinal: boolean, finalZero: boolean, eulerAtFinal = false): number[] {
  if (steps <= 0) return [];
  let lof = lowerOrderFinal;
  if (!lof && (steps % order !== 0 || finalZero)) lof = true;
  const rep = (pattern: number[], n: number): number[] => Array.from({ length: Math.max(0, n) }, () => pattern).flat();
  let orders: number[];
  if (order === 1) orders = rep([1], steps);
  else if (!lof) orders = rep(order === 2 ? [1, 2] : [1, 2, 3], steps / order);
  else if (order === 2) orders = steps % 2 === 0 ? [...rep([1, 2], steps / 2 - 1), 1, 1] : [...rep([1, 2], (steps - 1) / 2), 1];
  else if (steps % 3 === 0) orders = [...rep([1, 2, 3], steps / 3 - 1), 1, 2, 1];
  else if (steps % 3 === 1) orders = [...rep([1, 2, 3], (steps - 1) / 3), 1];
  else orders = [...rep([1, 2, 3], (steps - 2) / 3), 1, 2];
  if ((finalZero || eulerAtFinal) && orders.length) orders[orders.length - 1] = 1;
  return orders;
}

/**
 * Order of multistep step i of n (diffusers DPMSolverMultistepScheduler.step): first order at the
 * last step when euler_at_final, or lower_order_final with n < 15, or the grid ends at sigma = 0;
 * at most second order at the second-to-last step when lower_order_final with n < 15; and warm-up
 * with lower orders while fewer than `order` model outputs exist.
 */
export function multistepOrder(i: number, n: number, order: number, lowerOrderFinal: boolean, eulerAtFinal: boolean, finalZero: boolean): number {
  const lowerFinal = i === n - 1 && (eulerAtFinal || (lowerOrderFinal && n < 15) || finalZero);
  const lowerSecond = i === n - 2 && lowerOrderFinal && n < 15;
  const have = Math.min(i, order); // diffusers' lower_order_nums
  if (order === 1 || have < 1 || lowerFinal) return 1;
  if (order === 2 || have < 2 || lowerSecond) return 2;
  return 3;
}
