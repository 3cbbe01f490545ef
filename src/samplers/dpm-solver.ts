/**
 * The DPM-Solver family: DPM-Solver (noise prediction; Lu et al. 2022), DPM-Solver++ (data prediction;
 * Lu et al. 2022b) and SDE-DPM-Solver++ (diffusers' sde-dpmsolver++, k-diffusion's dpmpp_2m_sde /
 * dpmpp_3m_sde). Knobs use diffusers' names and defaults (DPMSolverMultistepScheduler,
 * DPMSolverSinglestepScheduler) so that a scheduler_config.json maps onto them:
 *
 *   algorithm_type dpmsolver       -> dpm-solver       (solver_order -> order; Singlestep scheduler -> method singlestep)
 *   algorithm_type dpmsolver++     -> dpm-solver++     (Multistep: variant 2M / 3M; Singlestep: 2S / 3S)
 *   algorithm_type sde-dpmsolver++ -> dpm-solver++-sde (order = solver_order, eta = 1, third_order 'diffusers')
 *   solver_type, lower_order_final, euler_at_final -> the params of the same names (pass the config's value:
 *     DPMSolverSinglestepScheduler's signature default is lower_order_final = False, its docstring says True);
 *   final_sigmas_type -> the grid's last point ('zero': s = 0, always reached by a first-order step).
 * diffusers' "fewer than 15 steps" rule counts the grid's steps here (diffusers counts its whole schedule,
 * also when img2img starts part-way).
 */
import { fail } from '../core/errors.js';
import { runAdaptive } from './dpm-solver-adaptive.js';
import type { SolverType, ThirdOrderForm } from './dpm-solver-core.js';
import { runMultistep, runSinglestep, type DriverConfig } from './dpm-solver-run.js';
import { ALL_PREDICTIONS } from './common.js';
import type { BooleanParam, ChoiceParam, ParamsOf } from './method.js';
import { defineSampler, type SamplerDef } from './types.js';

const solverTypeSpec: ChoiceParam<SolverType> = {
  type: 'choice',
  default: 'midpoint',
  values: ['midpoint', 'heun'],
  doc: "second-order formula (diffusers' solver_type): midpoint = dpm-solver's 'dpmsolver' (-0.5 phi_1 D1), heun = dpm-solver's 'taylor' (phi_2 D1); the singlestep order-3 step uses D1_1 only (midpoint) or D1 and D2 (heun)",
};
const lowerOrderFinalSpec: BooleanParam = {
  type: 'boolean',
  default: true,
  doc: 'diffusers lower_order_final: with fewer than 15 steps, the last step is first order and the one before at most second order (multistep); singlestep: the order list ends 2, 1 / 1 (get_order_list)',
};
const eulerAtFinalSpec: BooleanParam = {
  type: 'boolean',
  default: false,
  doc: 'diffusers euler_at_final: the last step is first order (DDIM) whatever the number of steps',
};

const thirdOrderSpec: ChoiceParam<'diffusers' | 'taylor'> = {
  type: 'choice',
  default: 'diffusers',
  values: ['diffusers', 'taylor'],
  doc: "D2 term of the third-order multistep step: 'diffusers' is diffusers' / dpm-solver's formula (its D2 = (D1_0 - D1_1)/(r0 + r1) ~ h^2 x''/2 gets the coefficient of h^2 x'', so the method is second order asymptotically); 'taylor' doubles that term, which makes the multistep third order",
};

const FINAL_NOTE =
  'The step into clean data (s = 0) is always first order, z = a x0_hat (diffusers forces it when final_sigmas_type is zero; k-diffusion sets x = denoised). ' +
  'From a = 0 (rectified flow at t = 1, lambda = -inf) the first step is the DDIM step (the limit of the formulas); finite differences against that point get weight h / h_prev = 0.';

/** The knobs every DPM-Solver variant shares. */
type DriverParams = ParamsOf<{ solver_type: typeof solverTypeSpec; lower_order_final: BooleanParam; euler_at_final: BooleanParam }>;

function driverConfig(alg: 'x0' | 'eps', order: number, params: DriverParams, third: ThirdOrderForm): DriverConfig {
  return {
    alg,
    order,
    solverType: params.solver_type,
    lowerOrderFinal: params.lower_order_final,
    eulerAtFinal: params.euler_at_final,
    third,
  };
}

const odeThird = (params: ParamsOf<{ third_order: typeof thirdOrderSpec }>): ThirdOrderForm => (params.third_order === 'taylor' ? 'taylor' : 'reference');

export const dpmSolver = defineSampler({
  name: 'dpm-solver',
  description: 'DPM-Solver (Lu et al. 2022): exponential integrator of the probability-flow ODE in log-SNR on the noise prediction; multistep, singlestep (DPM-Solver-fast) or adaptive (DPM-Solver-12/23)',
  order: 2,
  nfePerStep: 1,
  stochastic: false,
  predictions: ALL_PREDICTIONS,
  params: {
    order: { type: 'number', default: 2, min: 1, max: 3, integer: true, doc: 'solver order (diffusers solver_order); adaptive: 2 = DPM-Solver-12, 3 = DPM-Solver-23' },
    method: {
      type: 'choice',
      default: 'multistep',
      values: ['multistep', 'singlestep', 'adaptive'],
      doc: 'multistep: one model call per grid step, reusing earlier ones (diffusers DPMSolverMultistepScheduler, algorithm_type dpmsolver); singlestep: groups of `order` grid steps, the inner grid points being the intermediate evaluations (DPMSolverSinglestepScheduler; DPM-Solver-fast schedule); adaptive: DPM-Solver-12/23 with error control, landing on every grid point',
    },
    solver_type: solverTypeSpec,
    lower_order_final: lowerOrderFinalSpec,
    euler_at_final: eulerAtFinalSpec,
    third_order: thirdOrderSpec,
    rtol: { type: 'number', default: 0.05, min: 0, doc: 'adaptive: relative tolerance (dpm-solver, k-diffusion default 0.05)' },
    atol: { type: 'number', default: 0.0078, min: 0, doc: 'adaptive: absolute tolerance on the centered state (default 0.0078, about 1/128 of the [-1, 1] pixel range)' },
    h_init: { type: 'number', default: 0.05, min: 1e-6, doc: 'adaptive: first log-SNR step' },
    pcoeff: { type: 'number', default: 0, doc: "adaptive: k-diffusion PID controller's proportional coefficient" },
    icoeff: { type: 'number', default: 1, doc: "adaptive: k-diffusion PID controller's integral coefficient" },
    dcoeff: { type: 'number', default: 0, doc: "adaptive: k-diffusion PID controller's derivative coefficient" },
    accept_safety: { type: 'number', default: 0.81, min: 0, doc: 'adaptive: accept a step when the step-size factor is at least this' },
  },
  notes:
    'Order = params.order (default 2; method adaptive with order 1 is refused). nfePerStep is 1 for multistep and singlestep; method adaptive spends what its error controller decides (nfePerStep "adaptive"), at least 2 or 3 per attempted step, the NFE reported is the real count, and the batch shares one step size. ' +
    'lower_order_final follows diffusers (n < 15; dpm-solver\'s own sample() uses n < 10). ' +
    'Singlestep order 3 with lower_order_final is DPM-Solver-fast\'s schedule (3, ..., 3, then 2 1 / 1 / 2); its last group is first order when the number of steps is a multiple of 3 or one more, which makes the global error second order asymptotically: measure third order with step counts 2 mod 3. ' +
    'Multistep order 3 uses diffusers\' (and dpm-solver\'s) third-order formula by default, whose D2 term has half the weight of the Taylor integral (D2 ~ h^2 x\'\'/2 is multiplied by the coefficient of h^2 x\'\'): measured slope -2.2 over 10..160 NFE, -2.1 over 160..1280 (second order asymptotically); third_order taylor measures -3.0. ' +
    FINAL_NOTE,
  async run(ctx) {
    const p = ctx.params;
    const order = p.order;
    const method = p.method;
    if (method === 'adaptive') {
      if (order !== 2 && order !== 3) fail('BAD_INPUT', `sampler dpm-solver: method adaptive needs order 2 (DPM-Solver-12) or 3 (DPM-Solver-23), got order ${order}`);
      return runAdaptive(ctx, {
        order,
        solverType: p.solver_type,
        rtol: p.rtol,
        atol: p.atol,
        hInit: p.h_init,
        pcoeff: p.pcoeff,
        icoeff: p.icoeff,
        dcoeff: p.dcoeff,
        acceptSafety: p.accept_safety,
        caller: 'dpm-solver',
      });
    }
    const cfg = driverConfig('eps', order, p, odeThird(p));
    return method === 'singlestep' ? runSinglestep(ctx, cfg) : runMultistep(ctx, cfg);
  },
});

export const dpmSolverPP = defineSampler({
  name: 'dpm-solver++',
  description: 'DPM-Solver++ (Lu et al. 2022b): exponential integrator on the data prediction; 2M (default), 3M multistep or 2S, 3S singlestep, one model call per grid step',
  order: 2,
  nfePerStep: 1,
  stochastic: false,
  predictions: ALL_PREDICTIONS,
  params: {
    variant: {
      type: 'choice',
      default: '2M',
      values: ['2M', '3M', '2S', '3S'],
      doc: "2M / 3M: multistep of order 2 / 3 (diffusers DPMSolverMultistepScheduler, algorithm_type dpmsolver++, solver_order 2 / 3); 2S / 3S: singlestep (DPMSolverSinglestepScheduler, solver_order 2 / 3): a group of 2 / 3 grid steps whose inner grid points are the intermediate evaluations",
    },
    solver_type: solverTypeSpec,
    lower_order_final: lowerOrderFinalSpec,
    euler_at_final: eulerAtFinalSpec,
    third_order: thirdOrderSpec,
  },
  notes:
    'Order = 2 for 2M and 2S, 3 for 3S; 3M uses diffusers\' third-order formula by default, whose D2 term has half the weight of the Taylor integral, so its global error is second order asymptotically (measured slope -2.6 over 10..160 NFE, -2.1 over 160..1280); third_order taylor makes it third order (measured -3.0). ' +
    '2S / 3S follow diffusers\' singlestep scheduler (1 NFE per grid step); on a log-SNR-uniform grid a 2S group is the paper\'s DPM-Solver++(2S) step with r = 1/2. ' +
    'The singlestep order list is diffusers\' get_order_list; euler_at_final also applies to it. ' +
    FINAL_NOTE,
  async run(ctx) {
    const variant = ctx.params.variant;
    const cfg = driverConfig('x0', variant.startsWith('3') ? 3 : 2, ctx.params, odeThird(ctx.params));
    return variant.endsWith('S') ? runSinglestep(ctx, cfg) : runMultistep(ctx, cfg);
  },
});

export const dpmSolverPPSde = defineSampler({
  name: 'dpm-solver++-sde',
  description: 'SDE-DPM-Solver++ 2M / 3M (diffusers sde-dpmsolver++, k-diffusion dpmpp_2m_sde / dpmpp_3m_sde): multistep data-prediction solver of the reverse SDE, fresh noise each step',
  order: 1,
  nfePerStep: 1,
  stochastic: true,
  predictions: ALL_PREDICTIONS,
  params: {
    order: { type: 'number', default: 2, min: 1, max: 3, integer: true, doc: 'multistep order of the data term (diffusers solver_order): 2 = DPM++ 2M SDE, 3 = DPM++ 3M SDE, 1 = the first-order SDE step (the DDPM posterior when eta = 1)' },
    eta: { type: 'number', default: 1, min: 0, doc: "k-diffusion's eta: h_eta = (1 + eta) h in the data term and noise s_t sqrt(1 - e^{-2 eta h}); 1 is diffusers' sde-dpmsolver++, 0 the ODE (DPM-Solver++ 2M / 3M)" },
    s_noise: { type: 'number', default: 1, min: 0, doc: "k-diffusion's s_noise: extra scale on the injected noise only" },
    solver_type: solverTypeSpec,
    lower_order_final: lowerOrderFinalSpec,
    euler_at_final: eulerAtFinalSpec,
    third_order: {
      type: 'choice',
      default: 'k-diffusion',
      values: ['k-diffusion', 'diffusers', 'taylor'],
      doc: "D2 term of the third-order step: 'k-diffusion' is sample_dpmpp_3m_sde's -a_t phi_3(h_eta) D2 (the same half-weight D2 as the ODE 3M); 'diffusers' is diffusers' sde-dpmsolver++ third-order branch, whose coefficient (1 - e^{-2h} - 2h)/(2h)^2 - 0.5 equals -phi_3(2h) - 1 (it tends to -1, not 0, as h -> 0): choose it only to reproduce diffusers' trajectories; 'taylor' doubles k-diffusion's D2 term (third-order data term)",
    },
  },
  notes:
    'Weak order about 1 (the noise is exact for the linear part, the data term is the 2M / 3M multistep). With eta = 0 it is the ODE solver dpm-solver++ 2M / 3M. ' +
    'Noise comes from ctx.noise (step i draws Philox normals for step index i), not from a Brownian tree as in k-diffusion\'s default BrownianTreeNoiseSampler: with the same seed, results do not match k-diffusion or diffusers sample for sample, and changing the grid changes the noise. ' +
    'k-diffusion\'s dpmpp_3m_sde uses the heun form for its second (warm-up) step: set solver_type heun for that; its last step into sigma = 0 is x = denoised, as here. ' +
    'The finite differences of the multistep data term see the noise of the path: with eta > 0 the third-order step amplifies it where the log-SNR steps change fast (a time-uniform VP grid ends with lambda steps 0.4, 0.7, 2.9: SWD 1.1 at 20 steps against 0.05 on a log-SNR-uniform grid); prefer log-SNR-uniform or Karras grids, order 2, or euler_at_final there. ' +
    FINAL_NOTE,
  async run(ctx) {
    const p = ctx.params;
    const third: ThirdOrderForm = p.third_order === 'diffusers' ? 'diffusers-sde' : p.third_order === 'taylor' ? 'taylor' : 'reference';
    const cfg = driverConfig('x0', p.order, p, third);
    return runMultistep(ctx, cfg, { eta: p.eta, sNoise: p.s_noise });
  },
});

/**
 * DPM-Solver++ multistep from data towards noise (diffusers DPMSolverMultistepInverseScheduler): the exponential
 * integrator's updates do not assume a sign of the log-SNR step h, so the same 2M / 3M updates with h < 0 integrate
 * the probability-flow ODE upwards; the order rules are diffusers' (lower_order_final with fewer than 15 steps).
 */
export const dpmSolverPPInverse = defineSampler({
  name: 'dpm-solver++-inverse',
  description: 'DPM-Solver++ 2M / 3M inversion (diffusers DPMSolverMultistepInverseScheduler): the multistep data-prediction solver run from data towards noise',
  order: 2,
  nfePerStep: 1,
  stochastic: false,
  inverse: true,
  predictions: ALL_PREDICTIONS,
  params: {
    variant: { type: 'choice', default: '2M', values: ['2M', '3M'], doc: 'multistep order 2 or 3 (diffusers solver_order)' },
    solver_type: solverTypeSpec,
    lower_order_final: lowerOrderFinalSpec,
    euler_at_final: eulerAtFinalSpec,
    third_order: thirdOrderSpec,
  },
  notes: 'The grid runs from data (its first point must have s > 0: the multistep needs a finite log-SNR) to noise; 3M has the third-order caveat of dpm-solver++.',
  async run(ctx) {
    if (ctx.grid[0]!.s === 0) fail('UNSUPPORTED', 'dpm-solver++-inverse: the grid starts at clean data (s = 0, infinite log-SNR); start it at the first training timestep (diffusers starts at t = 0, sigma > 0)');
    return runMultistep(ctx, driverConfig('x0', ctx.params.variant === '3M' ? 3 : 2, ctx.params, odeThird(ctx.params)));
  },
});

/** Every sampler of the DPM-Solver family, for the registry. */
export const DPM_SAMPLERS: SamplerDef[] = [dpmSolver, dpmSolverPP, dpmSolverPPSde, dpmSolverPPInverse];
