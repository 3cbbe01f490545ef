import { fail } from '../core/errors.js';
import { ddim, ddimInverse } from './ddim.js';
import type { SamplerDef } from './types.js';

/** Every sampler by the name `tweedie samplers` lists. */
export const SAMPLERS: readonly SamplerDef[] = [ddim, ddimInverse];

export function samplerByName(name: string): SamplerDef {
  const s = SAMPLERS.find((d) => d.name === name);
  if (!s) return fail('USAGE', `unknown sampler "${name}"; run "tweedie samplers" for the list (${SAMPLERS.map((d) => d.name).join(', ')})`);
  return s;
}
