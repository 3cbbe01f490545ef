import { fail } from '../../core/errors.js';
import { scoreSde } from './score-sde.js';
import { DDRM_SOLVERS } from './ddrm.js';
import { DDNM_SOLVERS } from './ddnm.js';
import { DPS_SOLVERS } from './dps.js';
import { PIGDM_SOLVERS } from './pigdm.js';
import { REDDIFF_SOLVERS } from './reddiff.js';
import { BASELINE_SOLVERS } from './baselines.js';
import { DIFFPIR_SOLVERS } from './diffpir.js';
import { DDS_SOLVERS } from './dds.js';
import { SMC_SOLVERS } from './smc.js';
import { FLOWCHEF_SOLVERS } from './flowchef.js';
import { COND_DC_SOLVERS } from './cond-dc.js';
import type { SolverDef } from './types.js';

/** Every posterior solver and baseline by the name `tweedie solvers` lists. */
export const SOLVERS: readonly SolverDef[] = [scoreSde, ...DPS_SOLVERS, ...PIGDM_SOLVERS, ...DDRM_SOLVERS, ...DDNM_SOLVERS, ...DIFFPIR_SOLVERS, ...REDDIFF_SOLVERS, ...DDS_SOLVERS, ...SMC_SOLVERS, ...FLOWCHEF_SOLVERS, ...COND_DC_SOLVERS, ...BASELINE_SOLVERS];

export function solverByName(name: string): SolverDef {
  const s = SOLVERS.find((d) => d.name === name);
  if (!s) return fail('USAGE', `unknown solver "${name}"; run "tweedie solvers" for the list (${SOLVERS.map((d) => d.name).join(', ')})`);
  return s;
}
