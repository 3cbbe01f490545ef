import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { fail } from '../core/errors.js';
import { parseCommand } from './args.js';
import { packageRoot } from '../package-root.js';

/** A benchmark module in bench/: it prints a table to stdout (or JSON with --json) and returns its figures. */
export interface BenchModule {
  description: string;
  run(opts: { json: boolean; log: (msg: string) => void }): Promise<Record<string, unknown>>;
}

const benchDir = join(packageRoot, 'dist', 'bench');

function available(): string[] {
  try {
    return readdirSync(benchDir).filter((f) => f.endsWith('.js')).map((f) => f.slice(0, -3)).sort();
  } catch {
    return [];
  }
}

export const benchHelp = `tweedie bench NAME [--json]

Run the benchmark bench/NAME.ts and print its figures (a table, or one JSON object with --json).
Progress goes to stderr. Run "tweedie bench --list" to see the names.`;

export async function benchCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommand('bench', argv, { json: { type: 'boolean' }, list: { type: 'boolean' } }, true);
  if (values.help) return void process.stdout.write(benchHelp + '\n');
  const names = available();
  if (values.list) return void process.stdout.write(names.join('\n') + '\n');
  const name = positionals[0];
  if (!name || positionals.length > 1) fail('USAGE', `bench needs one benchmark name: ${names.join(', ') || '(none built; run npm run build)'}`);
  if (!names.includes(name)) fail('USAGE', `unknown benchmark "${name}"; use one of ${names.join(', ')}`);
  const mod = (await import(pathToFileURL(join(benchDir, `${name}.js`)).href)) as BenchModule;
  const log = (msg: string) => process.stderr.write(msg + '\n');
  const result = await mod.run({ json: Boolean(values.json), log });
  if (values.json) process.stdout.write(JSON.stringify(result) + '\n');
}
