/**
 * Adaptive step size DPM-Solver (DPM-Solver-12 and DPM-Solver-23, Lu et al. 2022 Sec. 3 and appendix):
 * each attempted step computes a lower- and a higher-order singlestep solution sharing their model
 * evaluations, the error (x_high - x_low) / max(atol, rtol max(|x_low|, |x_prev|)) sets the next
 * log-SNR step through k-diffusion's PID controller (k_diffusion/sampling.py PIDStepSizeController,
 * DPMSolver.dpm_solver_adaptive; defaults rtol 0.05, atol 0.0078, h_init 0.05 as there and in
 * dpm_solver_pytorch.py). Intermediate points sit at lambda fractions 1/2 (order 2) or 1/3, 2/3 (order 3).
 *
 * Differences to those implementations, on purpose: the model output at the step start is reused when
 * a step is rejected (they re-evaluate it), so the NFE is the real count of model calls; the steps land
 * on every grid point (the grid points are the reporting points and the interval ends, like diffrax's
 * step_ts), with the step size carried over; the error norm is the root-mean-square per sample, maximum
 * over the batch (dpm_solver_pytorch's norm), computed on the centered variable z. The batch shares one
 * step size, so a sample's trajectory depends on the other samples of its batch.
 */
import { fail } from '../core/errors.js';
import { copyInto, lincomb2 } from '../core/ops.js';
import type { Tensor } from '../core/tensor.js';
import type { GridPoint } from '../paths/path.js';
import { applyUpdate, lambdaOf, singlestepUpdate, stepToClean, type SolverType } from './dpm-solver-core.js';
import type { SamplerContext } from './types.js';

export interface AdaptiveOptions {
  order: 2 | 3;
  solverType: SolverType;
  rtol: number;
  atol: number;
  hInit: number;
  pcoeff: number;
  icoeff: number;
  dcoeff: number;
  acceptSafety: number;
  /** Name used in error messages. */
  caller: string;
}

/** k-diffusion's PID step size controller (Söderlind-style, with the 1 + atan(x - 1) limiter). */
class PidController {
  h: number;
  private readonly b1: number;
  private readonly b2: number;
  private readonly b3: number;
  private errs: number[] = [];
  constructor(h: number, p: number, i: number, d: number, order: number, private readonly acceptSafety: number) {
    this.h = h;
    this.b1 = (p + i + d) / order;
    this.b2 = -(p + 2 * d) / order;
    this.b3 = d / order;
  }
  /** Update h from the error of the step just tried; true when that step is accepted. */
  propose(error: number): boolean {
    const inv = 1 / (error + 1e-8);
    if (this.errs.length === 0) this.errs = [inv, inv, inv];
    this.errs[0] = inv;
    const raw = this.errs[0]! ** this.b1 * this.errs[1]! ** this.b2 * this.errs[2]! ** this.b3;
    const factor = 1 + Math.atan(raw - 1);
    const accept = factor >= this.acceptSafety;
    if (accept) {
      this.errs[2] = this.errs[1]!;
      this.errs[1] = this.errs[0]!;
    }
    this.h *= factor;
    return accept;
  }
}

/** Max over the batch of the per-sample RMS of (hi - lo) / max(atol, rtol max(|lo|, |prev|)). */
function errorNorm(hi: Tensor, lo: Tensor, prev: Tensor, atol: number, rtol: number): number {
  const H = hi.data, L = lo.data, P = prev.data, m = hi.itemSize;
  let worst = 0;
  for (let b = 0; b < hi.batch; b++) {
    let acc = 0;
    for (let i = b * m; i < (b + 1) * m; i++) {
      const l = L[i]!;
      const delta = Math.max(atol, rtol * Math.max(Math.abs(l), Math.abs(P[i]!)));
      const e = (H[i]! - l) / delta;
      acc += e * e;
    }
    worst = Math.max(worst, Math.sqrt(acc / m));
  }
  return worst;
}

const MAX_ATTEMPTS = 100000;

/** DPM-Solver-12 / -23 with noise prediction (the dpm-solver and k-diffusion adaptive solvers). */
export async function runAdaptive(ctx: SamplerContext, opt: AdaptiveOptions): Promise<Tensor> {
  const { fn, path, grid, z, report } = ctx;
  const n = grid.length - 1;
  const k = opt.order;
  const r1 = k === 2 ? 0.5 : 1 / 3, r2 = 2 / 3;
  const pid = new PidController(opt.hInit, opt.pcoeff, opt.icoeff, opt.dcoeff, k, opt.acceptSafety);
  const lo = z.zerosLike(), hi = z.zerosLike(), u = z.zerosLike(), prev = z.clone();
  const at = (lam: number): GridPoint => path.point(path.tOfLambda(lam));
  let cur: GridPoint = grid[0]!;
  let lam = lambdaOf(cur);
  let attempts = 0;
  for (let i = 0; i < n; i++) {
    const end = grid[i + 1]!;
    if (end.s === 0) {
      // Into clean data: one first-order step, z = a x0_hat.
      const { x0 } = await fn.estimate(z, cur);
      stepToClean(z, end, x0);
      await report(i + 1, i + 1, z, x0);
      continue;
    }
    const lamEnd = lambdaOf(end);
    if (cur.a === 0) {
      // From a = 0 (lambda = -inf) no finite log-SNR step exists: one DDIM step to the next grid point.
      const { x0, eps } = await fn.estimate(z, cur);
      lincomb2(z, end.a, x0, end.s, eps);
      copyInto(prev, z);
      cur = end;
      lam = lamEnd;
      await report(i + 1, i + 1, z, x0);
      continue;
    }
    let lastX0: Tensor | null = null;
    let e0: Tensor | null = null; // model output at `cur`, reused across rejected attempts
    while (lam < lamEnd) {
      if (++attempts > MAX_ATTEMPTS) fail('UNSUPPORTED', `${opt.caller}: the adaptive solver made ${MAX_ATTEMPTS} attempts without reaching t = ${end.t}; loosen rtol/atol`);
      // Land on the grid point rather than leave a sliver of the interval.
      // Points off the grid come from path.tOfLambda; their own lambda enters the coefficients.
      const landing = lam + pid.h >= lamEnd - 1e-9 * Math.max(1, Math.abs(lamEnd));
      const target = landing ? end : at(lam + pid.h);
      const lamT = landing ? lamEnd : lambdaOf(target);
      const h = lamT - lam;
      if (!e0) {
        const est = await fn.estimate(z, cur);
        e0 = est.eps;
        lastX0 = est.x0;
      }
      const p1 = at(lam + r1 * h);
      const lamS1 = lambdaOf(p1);
      applyUpdate(u, singlestepUpdate('eps', 1, [cur], [lam], p1, lamS1, opt.solverType), z, [e0]);
      const e1 = (await fn.estimate(u, p1)).eps;
      if (k === 2) {
        applyUpdate(lo, singlestepUpdate('eps', 1, [cur], [lam], target, lamT, opt.solverType), z, [e0]);
        applyUpdate(hi, singlestepUpdate('eps', 2, [cur, p1], [lam, lamS1], target, lamT, opt.solverType), z, [e0, e1]);
      } else {
        const p2 = at(lam + r2 * h);
        const lamS2 = lambdaOf(p2);
        // dpm-solver's DPM-Solver-3 always builds its second intermediate state with the taylor (heun) form.
        applyUpdate(u, singlestepUpdate('eps', 2, [cur, p1], [lam, lamS1], p2, lamS2, 'heun'), z, [e0, e1]);
        const e2 = (await fn.estimate(u, p2)).eps;
        applyUpdate(lo, singlestepUpdate('eps', 2, [cur, p1], [lam, lamS1], target, lamT, opt.solverType), z, [e0, e1]);
        applyUpdate(hi, singlestepUpdate('eps', 3, [cur, p1, p2], [lam, lamS1, lamS2], target, lamT, opt.solverType), z, [e0, e1, e2]);
      }
      const err = errorNorm(hi, lo, prev, opt.atol, opt.rtol);
      if (!Number.isFinite(err)) fail('UNSUPPORTED', `${opt.caller}: non-finite error estimate at t = ${cur.t}; the model output is unusable for adaptive stepping`);
      if (pid.propose(err)) {
        copyInto(prev, lo);
        copyInto(z, hi);
        cur = target;
        lam = lamT;
        e0 = null;
      }
    }
    cur = end;
    lam = lamEnd;
    await report(i + 1, i + 1, z, lastX0);
  }
  return z;
}
