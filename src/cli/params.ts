import { fail } from '../core/errors.js';
import type { ParamValues } from '../samplers/types.js';

/** --param KEY=VALUE items: numbers and true/false are typed, anything else stays a string. */
export function parseParams(list: string[]): Partial<ParamValues> {
  const out: Partial<ParamValues> = {};
  for (const item of list) {
    const eq = item.indexOf('=');
    if (eq <= 0) fail('USAGE', `--param "${item}" must look like KEY=VALUE`);
    const key = item.slice(0, eq), raw = item.slice(eq + 1);
    out[key] = raw === 'true' ? true : raw === 'false' ? false : raw !== '' && Number.isFinite(Number(raw)) ? Number(raw) : raw;
  }
  return out;
}
