import { parseArgs, type ParseArgsConfig } from 'node:util';
import { fail } from '../core/errors.js';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/** Parse a command's arguments strictly; unknown options and missing values are usage errors (exit 2). */
export interface Parsed<K extends string> {
  values: Partial<Record<K | 'help', string | boolean>>;
  positionals: string[];
}

export function parseCommand<T extends OptionSpec>(command: string, argv: string[], options: T, allowPositionals = false): Parsed<Extract<keyof T, string>> {
  const all: OptionSpec = { help: { type: 'boolean', short: 'h' }, ...options };
  try {
    return parseArgs({ args: argv, options: all, allowPositionals, strict: true }) as Parsed<Extract<keyof T, string>>;
  } catch (e) {
    return fail('USAGE', `${command}: ${(e as Error).message.replace(/\. To specify a positional.*$/s, '')}; see "tweedie ${command} --help"`);
  }
}

/** A string option's value (options declared with type 'string'). */
export function str(v: string | boolean | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** A positive integer option, or a usage error naming it. */
export function intOption(value: string | undefined, name: string, dflt: number, min = 1): number {
  if (value === undefined) return dflt;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) fail('USAGE', `--${name} must be an integer >= ${min}, got "${value}"`);
  return n;
}

export function numberOption(value: string | undefined, name: string, dflt: number): number {
  if (value === undefined) return dflt;
  const n = Number(value);
  if (!Number.isFinite(n)) fail('USAGE', `--${name} must be a number, got "${value}"`);
  return n;
}
