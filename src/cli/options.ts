import { parseArgs, type ParseArgsConfig } from 'node:util';
import { fail } from '../core/errors.js';

/** One option of a command: its parse rule and its line in --help come from this one declaration. */
export interface OptionDef {
  type: 'string' | 'boolean';
  /** A one-letter alias (-n). */
  short?: string;
  /** The value's placeholder in --help, e.g. N or FILE.npy. */
  value?: string;
  /** Applied when the option is not given, and shown in --help. A default that depends on other options is told in `doc`. */
  default?: string;
  /** The option may be repeated (--param a=1 --param b=2). */
  multiple?: boolean;
  doc: string;
}

export type OptionTable = Record<string, OptionDef>;

type ValueOf<O extends OptionDef> = O extends { type: 'boolean' }
  ? boolean | undefined
  : O extends { multiple: true }
    ? string[] | undefined
    : O extends { default: string }
      ? string
      : string | undefined;

export interface Parsed<T extends OptionTable> {
  values: { [K in keyof T]: ValueOf<T[K]> };
  positionals: string[];
}

/** A command: its synopsis, description and option table, and what it does with the parsed options. */
export interface Command<T extends OptionTable = OptionTable> {
  name: string;
  /** One line for "tweedie --help". */
  summary: string;
  /** The synopsis after "tweedie NAME", e.g. "--model DIR --out FILE [options]". */
  usage: string;
  description: string;
  options: T;
  /** Positional arguments are accepted (bench NAME). */
  positionals?: boolean;
  run(args: Parsed<T>): Promise<void>;
}

/** Declare a command (keeps the option names as literal types for its run function). */
export function command<const T extends OptionTable>(c: Command<T>): Command<T> {
  return c;
}

const HELP: OptionDef = { type: 'boolean', short: 'h', doc: 'print this help' };

/** The options a command accepts: its table and --help. */
function allOptions(c: Command): OptionTable {
  return { ...c.options, help: HELP };
}

/** node:util parseArgs options generated from the table. */
export function parseConfig(c: Command): NonNullable<ParseArgsConfig['options']> {
  return Object.fromEntries(
    Object.entries(allOptions(c)).map(([name, o]) => [
      name,
      { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}), ...(o.default !== undefined ? { default: o.default } : {}) },
    ]),
  );
}

/** Parse a command's arguments strictly; unknown options and missing values are usage errors (exit 2). */
export function parseOptions<T extends OptionTable>(c: Command<T>, argv: string[]): Parsed<T> & { help: boolean } {
  try {
    const r = parseArgs({ args: argv, options: parseConfig(c as Command), allowPositionals: Boolean(c.positionals), strict: true });
    return { values: r.values as Parsed<T>['values'], positionals: r.positionals, help: r.values.help === true };
  } catch (e) {
    return fail('USAGE', `${parseErrorLine((e as Error).message)}; see "tweedie ${c.name} --help"`);
  }
}

/**
 * node:util's parse error as one line: a missing value, or one that starts with a dash (a negative
 * number, or the next option), says how to write it; other messages keep their first sentence.
 */
function parseErrorLine(message: string): string {
  const dashed = /^Option '(-\w|--[\w-]+)' argument is ambiguous/.exec(message);
  if (dashed) {
    const opt = dashed[1]!, long = opt.startsWith('--') ? opt : `-${opt}`;
    return `${opt} is missing its value (a value that starts with "-" is written ${long}=VALUE)`;
  }
  const missing = /^Option '(-\w|--[\w-]+)(?:, --[\w-]+)?(?: <value>)?' argument missing/.exec(message);
  if (missing) return `${missing[1]} is missing its value`;
  return message.replace(/\. To specify a positional.*$/s, '').split('\n')[0]!;
}

/** How an option is written: -n K for a one-letter name, -h, --help with an alias, else --name VALUE. */
function flag(name: string, o: OptionDef): string {
  const value = o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : '';
  if (name.length === 1) return `-${name}${value}`;
  return `${o.short ? `-${o.short}, ` : ''}--${name}${value}`;
}

/** Wrap text at `width` columns. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  return [...lines, line];
}

const WIDTH = 104;

/** The --help text: synopsis, description and one entry per option of the table. */
export function helpText(c: Command): string {
  const rows = Object.entries(allOptions(c)).map(([name, o]) => [flag(name, o), o.doc + (o.default !== undefined ? ` (default ${o.default})` : '')] as const);
  const col = Math.min(30, Math.max(...rows.map(([f]) => f.length))) + 4;
  const lines = [`tweedie ${c.name} ${c.usage}`.trimEnd(), '', ...c.description.split('\n\n').flatMap((p, i) => [...(i ? [''] : []), ...wrap(p, WIDTH)]), '', 'options:'];
  for (const [f, doc] of rows) {
    const text = wrap(doc, WIDTH - col);
    const first = `  ${f}`;
    if (first.length + 2 > col) lines.push(first, ...text.map((t) => ' '.repeat(col) + t));
    else lines.push(first.padEnd(col) + text[0], ...text.slice(1).map((t) => ' '.repeat(col) + t));
  }
  return lines.join('\n');
}
