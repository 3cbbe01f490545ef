import { fail } from '../core/errors.js';
import { ddim, ddimInverse } from './ddim.js';
import { DPM_SAMPLERS } from './dpm-solver.js';
import { KARRAS_SAMPLERS } from './karras.js';
import { KDIFFUSION_DPMPP_SAMPLERS } from './kdiffusion-dpmpp.js';
import { SDE_SAMPLERS } from './sde.js';
import { RK45_SAMPLERS } from './rk45.js';
import { FLOW_SAMPLERS } from './flow.js';
import { UNIPC_SAMPLERS } from './unipc.js';
import { SA_SOLVER_SAMPLERS } from './sa-solver.js';
import { DEIS_SAMPLERS } from './deis.js';
import { PNDM_SAMPLERS } from './pndm.js';
import { LMS_SAMPLERS } from './lms.js';
import { EVODIFF_SAMPLERS } from './evodiff.js';
import { BDIA_SAMPLERS } from './bdia.js';
import { LML_SAMPLERS } from './lml.js';
import { GAUSSIAN_SKIP_SAMPLERS } from './gaussian-skip.js';
import { DMCMC_SAMPLERS } from './dmcmc.js';
import { MRS_SAMPLERS } from './mrs.js';
import { RESTORATION_SAMPLERS } from './restoration.js';
import type { SamplerDef } from './types.js';

/** Every sampler by the name `tweedie samplers` lists. */
export const SAMPLERS: readonly SamplerDef[] = [ddim, ddimInverse, ...KARRAS_SAMPLERS, ...KDIFFUSION_DPMPP_SAMPLERS, ...PNDM_SAMPLERS, ...LMS_SAMPLERS, ...DEIS_SAMPLERS, ...DPM_SAMPLERS, ...UNIPC_SAMPLERS, ...SA_SOLVER_SAMPLERS, ...EVODIFF_SAMPLERS, ...BDIA_SAMPLERS, ...GAUSSIAN_SKIP_SAMPLERS, ...DMCMC_SAMPLERS, ...LML_SAMPLERS, ...SDE_SAMPLERS, ...RK45_SAMPLERS, ...FLOW_SAMPLERS, ...MRS_SAMPLERS, ...RESTORATION_SAMPLERS];

export function samplerByName(name: string): SamplerDef {
  const s = SAMPLERS.find((d) => d.name === name);
  if (!s) return fail('USAGE', `unknown sampler "${name}"; run "tweedie samplers" for the list (${SAMPLERS.map((d) => d.name).join(', ')})`);
  return s;
}
