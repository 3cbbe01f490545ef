import { TweedieError } from '../core/errors.js';
import { benchCommand } from './bench.js';
import { boundaryCommand } from './boundary.js';
import { demoCommand } from './demo.js';
import { diagnoseCommand } from './diagnose.js';
import { infoCommand } from './info.js';
import { likelihoodCommand } from './likelihood.js';
import { helpText, parseOptions, type Command } from './options.js';
import { quantizeCommand } from './quantize.js';
import { reconstructCommand } from './reconstruct.js';
import { restoreCommand } from './restore.js';
import { sampleCommand } from './sample.js';
import { samplersCommand } from './samplers.js';
import { serveCommand } from './serve.js';
import { solveCommand } from './solve.js';
import { solversCommand } from './solvers.js';
import { stopOnSignals } from './signals.js';
import { workerCommand } from './worker.js';
import { packageVersion } from './version.js';

/** Every command, in the order "tweedie --help" lists them. */
export const COMMANDS: readonly Command[] = [
  demoCommand, infoCommand, sampleCommand, samplersCommand, solveCommand, reconstructCommand, restoreCommand, boundaryCommand, likelihoodCommand, quantizeCommand, solversCommand, diagnoseCommand, serveCommand, workerCommand, benchCommand,
];

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'tweedie: diffusion models in TypeScript',
    '',
    'usage: tweedie COMMAND [options]   (tweedie COMMAND --help for details)',
    '',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'exit status: 0 success, 1 runtime error, 2 usage error (one line on stderr names the option or file)',
  ].join('\n');
}

/**
 * Exit codes: 0 success, 1 runtime error (a file, a model or a run failed), 2 usage error (an option,
 * its value or a limit: --steps, -n, --threads, --seed). Messages are one line on stderr; results
 * (a summary, or one JSON object with --json) go to stdout, progress and warnings to stderr.
 */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return 0;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(packageVersion() + '\n');
    return 0;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) {
    process.stderr.write(`tweedie: unknown command "${name}"; run "tweedie --help" for the list\n`);
    return 2;
  }
  stopOnSignals(name);
  try {
    const args = parseOptions(cmd, rest);
    if (args.help) process.stdout.write(helpText(cmd) + '\n');
    else await cmd.run(args);
    return 0;
  } catch (e) {
    if (e instanceof TweedieError) {
      process.stderr.write(`tweedie ${name}: ${e.message.replace(/\s*\n\s*/g, ' ')}\n`);
      return e.code === 'USAGE' ? 2 : 1;
    }
    process.stderr.write(`tweedie ${name}: internal error: ${(e as Error).stack ?? String(e)}\n`);
    return 1;
  }
}
