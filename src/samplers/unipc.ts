import { lincomb } from '../core/ops.js';
import type { Tensor } from '../core/tensor.js';
import type { GridPoint } from '../paths/path.js';
import { ALL_PREDICTIONS } from './common.js';
import { defineSampler, type SamplerDef } from './types.js';

/**
 * UniPC (Zhao et al. 2023, arXiv 2302.04867): multistep predictor UniP-p plus the corrector UniC-p,
 * which reuses the model output at the predicted point (so 1 NFE per step) and raises the order to p + 1.
 * Ported from diffusers' scheduling_unipc_multistep.py (multistep_uni_p_bh_update, multistep_uni_c_bh_update,
 * step) and wl-zhao/UniPC uni_pc.py (multistep_uni_pc_bh_update, sample), on any affine path through (a, s):
 *  - step i uses order min(order, i + 1) (warm-up) and, with lower_order_final, min(order, steps - i)
 *    (diffusers and UniPC apply this at every step count, unlike DPM-Solver's < 15 rule);
 *  - the order-2 predictor and order-1 corrector use rho = 1/2, higher orders solve R rho = b (Alg. 2/3, B(h));
 *  - the corrector runs when the model is called at the predicted point, so never after the last step;
 *    disable_corrector = n skips it after steps 0..n-1 (diffusers' disable_corrector list [0, ..., n-1]).
 * Edge cases where diffusers' formulas are infinite: a step into clean data (s = 0) is first order (a_t x0),
 * history points at a = 0 (lambda = -inf) are dropped (the limit of the formulas), and a step that started at
 * a = 0 gets no corrector.
 */

const lambdaOf = (p: GridPoint) => Math.log(p.a) - Math.log(p.s);

/** h * phi_{k+1}(h) * k! for k = 1..n, phi_k(x) = sum_j x^j / (j + k)!: diffusers' h_phi_k * factorial_i. */
function hPhiFactorial(hh: number, n: number): number[] {
  const phi: number[] = [];
  if (Math.abs(hh) < 1) {
    for (let k = 0; k <= n + 1; k++) {
      let term = 1, sum = 0;
      for (let j = 1; j <= k; j++) term /= j;
      for (let j = 0; j < 40; j++) {
        sum += term;
        term *= hh / (j + k + 1);
        if (Math.abs(term) < 1e-18 * Math.abs(sum)) break;
      }
      phi.push(sum);
    }
  } else {
    phi.push(Math.exp(hh));
    let fact = 1;
    for (let k = 1; k <= n + 1; k++) {
      phi.push((phi[k - 1]! - 1 / fact) / hh);
      fact *= k;
    }
  }
  const out: number[] = [];
  let fact = 1;
  for (let k = 1; k <= n; k++) {
    fact *= k;
    out.push(hh * phi[k + 1]! * fact);
  }
  return out;
}

/** Solve the small dense system A x = b (Gaussian elimination with partial pivoting). */
export function solveSmall(A: number[][], b: number[]): number[] {
  const n = b.length;
  const M = A.map((row, i) => [...row.slice(0, n), b[i]!]);
  for (let c = 0; c < n; c++) {
    let piv = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r]![c]!) > Math.abs(M[piv]![c]!)) piv = r;
    [M[c], M[piv]] = [M[piv]!, M[c]!];
    for (let r = c + 1; r < n; r++) {
      const f = M[r]![c]! / M[c]![c]!;
      for (let k = c; k <= n; k++) M[r]![k]! -= f * M[c]![k]!;
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = M[r]![n]!;
    for (let k = r + 1; k < n; k++) s -= M[r]![k]! * x[k]!;
    x[r] = s / M[r]![r]!;
  }
  return x;
}

interface Hist {
  m: Tensor;
  lam: number;
}

/** What the corrector of a step needs: the step's base term, coefficient, history and order. */
interface Pending {
  base: Tensor;
  /** -a_t B(h) (data prediction) or -s_t B(h) (noise prediction). */
  scale: number;
  hh: number;
  bh: number;
  /** History used by the predictor, newest first (hist[0] = m0 at the step's start). */
  hist: Hist[];
  h: number;
  order: number;
}

export const unipc = defineSampler({
  name: 'unipc',
  description: 'UniPC (Zhao et al. 2023): multistep exponential-integrator predictor UniP-p with the free corrector UniC-p (order p + 1 at 1 NFE per step)',
  order: 3,
  nfePerStep: 1,
  stochastic: false,
  predictions: ALL_PREDICTIONS,
  params: {
    order: { type: 'number', default: 2, min: 1, max: 3, integer: true, doc: 'predictor order p (diffusers solver_order); with the corrector the method has order p + 1' },
    variant: { type: 'choice', default: 'bh2', values: ['bh1', 'bh2'], doc: 'B(h) = h (bh1, for unconditional sampling with < 10 steps) or e^h - 1 (bh2) (diffusers solver_type)' },
    predict_x0: { type: 'boolean', default: true, doc: 'data-prediction form (x0 model, UniPC with DPM-Solver++ base); false: noise-prediction form' },
    lower_order_final: { type: 'boolean', default: true, doc: 'order min(order, steps - i) at step i, at every step count (diffusers and UniPC)' },
    disable_corrector: { type: 'number', default: 0, min: 0, integer: true, doc: 'skip the corrector after the first n steps (diffusers disable_corrector = [0, ..., n-1]); n >= steps gives the bare predictor UniP' },
  },
  notes:
    'order p + 1 for predictor order p with lower_order_final = false; measured log-log slopes (continuous VP, log-SNR grid, 10-160 NFE / 80-640 NFE): ' +
    'p = 1: -1.84 (bh1), -1.86 (bh2); p = 2: -2.71 / -3.06 (bh1), -2.34 / -3.02 (bh2, pre-asymptotic at 10 NFE); p = 3: -4.00 / -3.61. ' +
    'With lower_order_final (the diffusers default) the last step is an uncorrected first-order step, so the global order is 2 (p = 2: -2.23, p = 3: -2.35 / -2.01)',
  async run({ fn, grid, z, params, report }) {
    const maxOrder = params.order;
    const bh1 = params.variant === 'bh1';
    const dataPred = params.predict_x0;
    const lowerFinal = params.lower_order_final;
    const noCorrector = params.disable_corrector;
    const steps = grid.length - 1;
    const base = z.zerosLike();
    let hist: Hist[] = [];
    let pending: Pending | null = null;

    for (let i = 0; i < steps; i++) {
      const from = grid[i]!, to = grid[i + 1]!;
      const est = await fn.estimate(z, from);
      const m = dataPred ? est.x0 : est.eps;

      // UniC: correct the point reached by the last predictor with the model output there (Alg. 3).
      if (pending && i - 1 >= noCorrector && Number.isFinite(pending.h)) corrector(z, pending, m);

      hist = [{ m, lam: lambdaOf(from) }, ...hist].slice(0, maxOrder);
      let order = lowerFinal ? Math.min(maxOrder, steps - i) : maxOrder;
      let usable = 0;
      while (usable < hist.length && Number.isFinite(hist[usable]!.lam)) usable++;
      const lamS = hist[0]!.lam, lamT = lambdaOf(to);
      const h = lamT - lamS;
      order = Math.max(1, Math.min(order, usable));
      if (to.s === 0 || h === 0) order = 1;

      const hh = dataPred ? -h : h;
      // Order-1 part (DDIM): data form s_t/s_s z + a_t (1 - e^{-h}) x0; noise form a_t/a_s z - s_t (e^h - 1) eps,
      // written without infinities at s_t = 0 and (for the first point) a_s = 0.
      if (dataPred) lincomb(base, [to.s / from.s, -to.a * Math.expm1(-h)], [z, m]);
      else if (from.a > 0) lincomb(base, [to.a / from.a, to.s - (to.a * from.s) / from.a], [z, m]);
      else lincomb(base, [to.a, to.s], [est.x0, est.eps]);

      const bh = bh1 ? hh : Math.expm1(hh);
      const scale = -(dataPred ? to.a : to.s) * bh;
      const used = hist.slice(0, order);
      if (order >= 2) {
        const rks = used.slice(1).map((e) => (e.lam - lamS) / h);
        let rhos: number[];
        if (order === 2) rhos = [0.5];
        else {
          const b = hPhiFactorial(hh, order - 1).map((v) => v / bh);
          rhos = solveSmall(rks.map((_, r) => rks.map((rk) => rk ** r)), b);
        }
        // x_t = base - coef B(h) sum_k rho_k D1_k, D1_k = (m_k - m0) / r_k.
        const coeffs = [1, 0], terms = [base, used[0]!.m];
        for (let k = 0; k < rks.length; k++) {
          const c = (scale * rhos[k]!) / rks[k]!;
          coeffs.push(c);
          terms.push(used[k + 1]!.m);
          coeffs[1]! -= c;
        }
        lincomb(z, coeffs, terms);
      } else {
        z.data.set(base.data);
      }
      pending = { base, scale, hh, bh, hist: used, h, order };
      await report(i + 1, i + 1, z, est.x0);
    }
    return z;
  },
});

/** UniC-p at the point the predictor reached: z = base + scale (sum_k rho_k D1_k + rho_p (m_t - m0)). */
function corrector(z: Tensor, p: Pending, mt: Tensor): void {
  const lamS = p.hist[0]!.lam;
  const rks = p.hist.slice(1).map((e) => (e.lam - lamS) / p.h);
  let rhos: number[];
  if (p.order === 1) rhos = [0.5];
  else {
    const all = [...rks, 1];
    const b = hPhiFactorial(p.hh, p.order).map((v) => v / p.bh);
    rhos = solveSmall(all.map((_, r) => all.map((rk) => rk ** r)), b);
  }
  const last = rhos[rhos.length - 1]!;
  const coeffs = [1, -p.scale * last, p.scale * last], terms = [p.base, p.hist[0]!.m, mt];
  for (let k = 0; k < rks.length; k++) {
    const c = (p.scale * rhos[k]!) / rks[k]!;
    coeffs.push(c);
    terms.push(p.hist[k + 1]!.m);
    coeffs[1]! -= c;
  }
  lincomb(z, coeffs, terms);
}

export const UNIPC_SAMPLERS: SamplerDef[] = [unipc];
