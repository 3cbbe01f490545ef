import { copyInto, lincomb } from '../core/ops.js';
import { Stream } from '../core/rng.js';
import type { Tensor } from '../core/tensor.js';
import { estimateBuffers } from '../models/model-fn.js';
import type { GridPoint, Path } from '../paths/path.js';
import { ALL_PREDICTIONS } from './common.js';
import { lagrangeExpIntegrals } from './lagrange.js';
import { refuseNoiseStart } from './kdiffusion-dpmpp.js';
import { defineSampler, type SamplerDef } from './types.js';

/**
 * SA-Solver (Xue et al., NeurIPS 2023, arXiv 2309.05019): stochastic Adams predictor-corrector for the SDE family
 * dx = [f x - (1 + tau^2) g^2 / 2 score] dt + tau g dw, in lambda = log(a / s), with the model output m (x0 in the
 * data-prediction form, eps in the noise-prediction form) replaced by its Lagrange interpolant in lambda through
 * the last outputs, integrated exactly (tau constant over a step, c = 1 + tau^2, h = lambda_t - lambda_s):
 *   data:  x_t = (s_t / s_s) e^{-tau^2 h} x_s + c a_t int_{-h}^0 e^{c u} m(lambda_t + u) du + s_t sqrt(1 - e^{-2 tau^2 h}) xi
 *   noise: x_t = (a_t / a_s) x_s - c s_t int_{-h}^0 e^{-u} m(lambda_t + u) du + tau s_t sqrt(e^{2h} - 1) xi.
 * The predictor (Adams-Bashforth) interpolates through the outputs at lambda_s and before; the corrector
 * (Adams-Moulton) redoes the same step from the same x_s with the same xi once the model has been called at the
 * predicted point, adding that output as a node. One model call per step, as diffusers' SASolverScheduler:
 *  - step i: predictor order min(predictor_order, i + 1, [steps - i]), corrector order min(corrector_order, i + 2,
 *    [steps - i + 1]) (brackets with lower_order_final); the corrector runs when the model is called at the
 *    predicted point, so never after the last step; the history keeps the outputs at the predicted (uncorrected)
 *    points, as diffusers does;
 *  - with order 2 in the data form, diffusers' O(h^3) modification (its UniPC-like choice): the coefficient of the
 *    divided difference (m_0 - m_1) / (lambda_0 - lambda_1) becomes c a_t h^2 / 2 in place of its exact value
 *    c a_t (c h - 1 + e^{-c h}) / c^2;
 *  - tau is evaluated at the step's starting time; a zero-length step (diffusers' Karras grids repeat sigma_min) is
 *    the identity; a step into clean data (s = 0) is the first-order limit a_t x0 (neither form has noise there).
 */

const lambdaOf = (p: GridPoint) => Math.log(p.a) - Math.log(p.s);

interface Node {
  m: Tensor;
  lam: number;
}

/**
 * The time on which diffusers' default tau band is read: the training timestep on a discrete path; on
 * continuous-time paths the time rescaled to 0..1000 over the path's interval.
 */
function bandClock(path: Path, t: number): number {
  return path.timeInput === 'discrete' ? t : (1000 * (t - path.tMin)) / (path.tMax - path.tMin);
}

/**
 * One stochastic Adams step from (from, x) to `to` with the outputs `nodes` (newest first): out = base x + sum_k
 * coef_k m_k + std xi. In w = W (lambda_t - lambda) / h the integrals above are int_0^W L_k(w) e^w dw with
 * W = -c h (data) or h (noise), times -a_t (data) or -c s_t (noise).
 */
function adamsStep(out: Tensor, x: Tensor, from: GridPoint, to: GridPoint, nodes: readonly Node[], tau: number, xi: Tensor, data: boolean): void {
  const lamS = lambdaOf(from), lamT = lambdaOf(to), h = lamT - lamS;
  if (h === 0) {
    copyInto(out, x);
    return;
  }
  const c = 1 + tau * tau;
  const W = data ? -c * h : h;
  const I = lagrangeExpIntegrals(nodes.map((n) => (W * (lamT - n.lam)) / h), W);
  const coeffs = I.map((v) => (data ? -to.a : -c * to.s) * v);
  if (data && nodes.length === 2) {
    const exact = (c * h + Math.expm1(-c * h)) / (c * c);
    const d = (c * to.a * (0.5 * h * h - exact)) / (nodes[0]!.lam - nodes[1]!.lam);
    coeffs[0]! += d;
    coeffs[1]! -= d;
  }
  const base = data ? (to.s / from.s) * Math.exp(-tau * tau * h) : to.a / from.a;
  const std = data ? to.s * Math.sqrt(-Math.expm1(-2 * tau * tau * h)) : tau * to.s * Math.sqrt(Math.expm1(2 * h));
  lincomb(out, [base, ...coeffs, std], [x, ...nodes.map((n) => n.m), xi]);
}

/** The state and noise a corrector redoes its step from. */
interface Pending {
  x: Tensor;
  xi: Tensor;
  from: GridPoint;
  tau: number;
  order: number;
}

export const saSolver = defineSampler({
  name: 'sa-solver',
  description: 'SA-Solver (Xue et al. 2023): stochastic Adams predictor-corrector (data or noise prediction, tau-controlled noise), 1 NFE per step (diffusers SASolverScheduler)',
  order: 1,
  nfePerStep: 1,
  stochastic: true,
  predictions: ALL_PREDICTIONS,
  params: {
    predictor_order: { type: 'number', default: 2, min: 1, max: 4, integer: true, doc: 'Adams-Bashforth predictor order (diffusers predictor_order)' },
    corrector_order: { type: 'number', default: 2, min: 1, max: 4, integer: true, doc: 'Adams-Moulton corrector order, nodes including the predicted point (diffusers corrector_order)' },
    algorithm_type: { type: 'choice', default: 'data_prediction', values: ['data_prediction', 'noise_prediction'], doc: 'integrate the x0 estimate (data_prediction) or the noise estimate (noise_prediction)' },
    tau: { type: 'number', default: 1, min: 0, doc: 'stochasticity tau where it applies (0: the probability-flow ODE; 1: the reverse SDE)' },
    tau_where: {
      type: 'choice',
      default: 'band',
      values: ['band', 'all'],
      doc: "band: tau on steps starting at 200 <= t <= 800 and 0 elsewhere (diffusers' default tau_func; t the training timestep, or the time rescaled to 0..1000 on continuous-time paths); all: tau on every step",
    },
    lower_order_final: { type: 'boolean', default: true, doc: 'predictor order at most steps - i and corrector order at most steps - i + 1 at step i (diffusers)' },
  },
  notes:
    'weak order 1 with tau > 0. With tau = 0 it solves the probability-flow ODE; in the data form predictor_order 1 with corrector_order 2 is then exactly UniPC order 1 with B(h) = h (unipc, order 1, bh1). ' +
    'Measured log-log slopes at tau = 0 (continuous VP, log-SNR grid, 10-80 NFE, lower_order_final false): orders 2 / 2: -2.39; 3 / 3: -3.97. ' +
    'The noise-prediction form with tau > 0 is unstable on large log-SNR steps (as diffusers\' formulas are): use data_prediction or many steps. Needs a finite log-SNR at the first grid point.',
  async run({ fn, path, grid, z, noise, params, report }) {
    refuseNoiseStart('sa-solver', grid);
    const P = params.predictor_order, C = params.corrector_order;
    const data = params.algorithm_type === 'data_prediction';
    const tauAt = (p: GridPoint) => (params.tau_where === 'all' || (bandClock(path, p.t) >= 200 && bandClock(path, p.t) <= 800) ? params.tau : 0);
    const steps = grid.length - 1;
    const keep = Math.max(P, C - 1);
    let hist: Node[] = [];
    let pending: Pending | null = null;
    // One buffer each: the corrector reads the previous step's state and noise before this step overwrites them.
    const xi = z.zerosLike(), prev = z.zerosLike();
    // keep + 1 estimate buffers: hist holds at most keep of them, the next estimate goes into a free one.
    const pool = Array.from({ length: keep + 1 }, () => estimateBuffers(z));
    for (let i = 0; i < steps; i++) {
      const from = grid[i]!, to = grid[i + 1]!;
      const est = await fn.estimate(z, from, false, pool.find((e) => !hist.some((n) => n.m === e.x0 || n.m === e.eps))!);
      const m = data ? est.x0 : est.eps;
      const node = { m, lam: lambdaOf(from) };
      if (pending) adamsStep(z, pending.x, pending.from, from, [node, ...hist].slice(0, pending.order), pending.tau, pending.xi, data);
      hist = [node, ...hist].slice(0, keep);
      if (to.s === 0) {
        // The first-order limit into clean data: a_t x0 (the noise form's x0 from the corrected state).
        if (data) lincomb(z, [to.a], [m]);
        else lincomb(z, [to.a / from.a, (-to.a * from.s) / from.a], [z, m]);
        await report(i + 1, i + 1, z, est.x0);
        continue;
      }
      const p = Math.min(P, i + 1, params.lower_order_final ? steps - i : P);
      const cOrder = Math.min(C, i + 2, params.lower_order_final ? steps - i + 1 : C);
      const tau = tauAt(from);
      // With tau = 0 the noise has weight 0 here and in the corrector that reuses it: no draw.
      if (tau > 0) noise.fillNormal(xi, i, Stream.noise);
      copyInto(prev, z);
      adamsStep(z, prev, from, to, hist.slice(0, p), tau, xi, data);
      pending = { x: prev, xi, from, tau, order: cOrder };
      await report(i + 1, i + 1, z, est.x0);
    }
    return z;
  },
});

export const SA_SOLVER_SAMPLERS: SamplerDef[] = [saSolver];
