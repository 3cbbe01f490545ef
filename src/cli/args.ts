import { fail, TweedieError } from '../core/errors.js';
import { MAX_STEPS } from '../core/limits.js';
import { checkThreads } from '../models/onnx.js';
import { GRADIENT_CHOICES, type GradientChoice } from '../models/derivatives.js';

const range = (min: number, max: number) => `>= ${min} and <= ${max === Number.MAX_SAFE_INTEGER ? '2^53-1' : max}`;

/**
 * An integer option in min..max (default 1..2^53-1), or a usage error naming it and the range;
 * an absent option stays undefined. Values past 2^53 are refused: they are not exact integers.
 */
export function intOption(value: string, name: string, min?: number, max?: number): number;
export function intOption(value: string | undefined, name: string, min?: number, max?: number): number | undefined;
export function intOption(value: string | undefined, name: string, min = 1, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (value === undefined) return undefined;
  const n = value.trim() === '' ? NaN : Number(value);
  if (!Number.isSafeInteger(n) || n < min || n > max) fail('USAGE', `--${name} must be an integer ${range(min, max)}, got "${value}"`);
  return n;
}

/** A finite number option >= min (if given), or a usage error naming it; an absent option stays undefined. */
export function numberOption(value: string, name: string, min?: number): number;
export function numberOption(value: string | undefined, name: string, min?: number): number | undefined;
export function numberOption(value: string | undefined, name: string, min = -Infinity): number | undefined {
  if (value === undefined) return undefined;
  const n = value.trim() === '' ? NaN : Number(value);
  if (!Number.isFinite(n)) fail('USAGE', `--${name} must be a number, got "${value}"`);
  if (n < min) fail('USAGE', `--${name} must be >= ${min}, got ${n}`);
  return n;
}

/** --steps: 1..MAX_STEPS (10,000), so that a huge grid is refused before it is built. */
export function stepsValue(value: string): number {
  return intOption(value, 'steps', 1, MAX_STEPS);
}

/** --seed: 0..2^53-1, the seeds Philox counters take exactly. */
export function seedValue(value: string): number {
  return intOption(value, 'seed', 0);
}

/** --threads (or another thread count): at most the machine's cores unless forced (see checkThreads). */
export function threadsValue(value: string | undefined, name = 'threads'): number | undefined {
  const n = intOption(value, name);
  return n === undefined ? undefined : checkThreads(n, `--${name}`);
}

/** Errors of `f` (a value given on the command line that turned out bad) as usage errors naming `option`. */
export function asUsage<T>(option: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof TweedieError && e.code !== 'USAGE') fail('USAGE', `${option}: ${e.message}`);
    throw e;
  }
}

/** --grad: one of the gradient routes or auto. */
export function gradValue(value: string): GradientChoice {
  if (!(GRADIENT_CHOICES as readonly string[]).includes(value)) fail('USAGE', `--grad must be one of ${GRADIENT_CHOICES.join(', ')}, got "${value}"`);
  return value as GradientChoice;
}
