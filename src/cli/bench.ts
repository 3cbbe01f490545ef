import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { fail } from '../core/errors.js';
import { command } from './options.js';
import { jsonOption } from './shared-options.js';
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

export const benchCommand = command({
  name: 'bench',
  summary: 'run a benchmark from bench/',
  usage: 'NAME [--json] | --list',
  description: 'Run the benchmark bench/NAME.ts and print its figures (a table, or one JSON object with --json). Progress goes to stderr.',
  positionals: true,
  options: {
    list: { type: 'boolean', doc: 'print the benchmark names' },
    json: jsonOption("the benchmark's figures"),
  },
  async run({ values, positionals }) {
    const names = available();
    if (values.list) return void process.stdout.write(names.join('\n') + '\n');
    const name = positionals[0];
    if (!name || positionals.length > 1) fail('USAGE', `bench needs one benchmark name: ${names.join(', ') || '(none built; run npm run build)'}`);
    if (!names.includes(name)) fail('USAGE', `unknown benchmark "${name}"; use one of ${names.join(', ')}`);
    const mod = (await import(pathToFileURL(join(benchDir, `${name}.js`)).href)) as BenchModule;
    const log = (msg: string) => process.stderr.write(msg + '\n');
    const result = await mod.run({ json: Boolean(values.json), log });
    if (values.json) process.stdout.write(JSON.stringify(result) + '\n');
  },
});
