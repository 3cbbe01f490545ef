import { fail } from '../core/errors.js';

/** An integer option >= min, or a usage error naming it; an absent option stays undefined. */
export function intOption(value: string, name: string, min?: number): number;
export function intOption(value: string | undefined, name: string, min?: number): number | undefined;
export function intOption(value: string | undefined, name: string, min = 1): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) fail('USAGE', `--${name} must be an integer >= ${min}, got "${value}"`);
  return n;
}

/** A finite number option, or a usage error naming it; an absent option stays undefined. */
export function numberOption(value: string, name: string): number;
export function numberOption(value: string | undefined, name: string): number | undefined;
export function numberOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) fail('USAGE', `--${name} must be a number, got "${value}"`);
  return n;
}
