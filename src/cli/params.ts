import { fail, TweedieError } from '../core/errors.js';
import { resolveParams, type ParamSpecs, type ParamValues } from '../samplers/method.js';

/** --param KEY=VALUE items: numbers and true/false are typed, anything else stays a string. */
function parseParams(list: string[]): Partial<ParamValues> {
  const out: Partial<ParamValues> = {};
  for (const item of list) {
    const eq = item.indexOf('=');
    if (eq <= 0) fail('USAGE', `--param "${item}" must look like KEY=VALUE`);
    const key = item.slice(0, eq), raw = item.slice(eq + 1);
    out[key] = raw === 'true' ? true : raw === 'false' ? false : raw !== '' && Number.isFinite(Number(raw)) ? Number(raw) : raw;
  }
  return out;
}

/** Parse --param items and check them against a sampler's or solver's options; a bad one is a usage error. */
export function checkedParams(def: { name: string; params: ParamSpecs }, list: string[] | undefined): Partial<ParamValues> {
  const params = parseParams(list ?? []);
  try {
    resolveParams(def, params);
  } catch (e) {
    if (e instanceof TweedieError) fail('USAGE', `--param: ${e.message}`);
    throw e;
  }
  return params;
}
