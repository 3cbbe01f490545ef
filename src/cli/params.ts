import { fail, TweedieError } from '../core/errors.js';
import { resolveParams, type ParamSpecs, type ParamValues } from '../samplers/method.js';

/** --param KEY=VALUE items: numbers and true/false are typed, anything else stays a string. */
function parseParams(list: string[], source: string): Partial<ParamValues> {
  const out: Partial<ParamValues> = {};
  for (const item of list) {
    const eq = item.indexOf('=');
    if (eq <= 0) fail('USAGE', `${source} "${item}" must look like KEY=VALUE`);
    const key = item.slice(0, eq), raw = item.slice(eq + 1);
    out[key] = raw === 'true' ? true : raw === 'false' ? false : raw !== '' && Number.isFinite(Number(raw)) ? Number(raw) : raw;
  }
  return out;
}

/**
 * Parse --param items and check them against a sampler's or solver's options; a bad one is a usage error naming
 * `source`, where the items came from.
 */
export function checkedParams(def: { name: string; params: ParamSpecs }, list: string[] | undefined, source = '--param'): Partial<ParamValues> {
  const params = parseParams(list ?? [], source);
  try {
    resolveParams(def, params);
  } catch (e) {
    if (e instanceof TweedieError) fail('USAGE', `${source}: ${e.message}`);
    throw e;
  }
  return params;
}

export interface MethodRow {
  nfe_per_step: number | string;
  params: Record<string, { default: number | boolean | string; doc: string }>;
  description: string;
  notes?: string;
}

/** The fields `tweedie samplers` and `tweedie solvers` list alike for a sampler or solver. */
export function methodRow(def: { nfePerStep: number | string; params: ParamSpecs; description: string; notes?: string }): MethodRow {
  return {
    nfe_per_step: def.nfePerStep,
    params: Object.fromEntries(Object.entries(def.params).map(([k, p]) => [k, { default: p.default, doc: p.doc }])),
    description: def.description,
    ...(def.notes ? { notes: def.notes } : {}),
  };
}
