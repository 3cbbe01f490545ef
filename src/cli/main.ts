import { TweedieError } from '../core/errors.js';
import { infoCommand, infoHelp } from './info.js';
import { benchCommand, benchHelp } from './bench.js';
import { sampleCommand, sampleHelp } from './sample.js';
import { samplersCommand, samplersHelp } from './samplers.js';
import { demoCommand, demoHelp } from './demo.js';
import { reconstructCommand, reconstructHelp } from './reconstruct.js';
import { restoreCommand, restoreHelp } from './restore.js';
import { solveCommand, solveHelp, solversCommand, solversHelp } from './solve.js';
import { packageVersion } from './version.js';

type Command = { run: (argv: string[]) => Promise<void>; help: string; summary: string };

const commands: Record<string, Command> = {
  demo: { run: demoCommand, help: demoHelp, summary: 'the main job: MRI reconstruction of a held-out brain slice' },
  info: { run: infoCommand, help: infoHelp, summary: 'version, runtime backends and threads' },
  sample: { run: sampleCommand, help: sampleHelp, summary: 'draw samples with a training-free sampler' },
  samplers: { run: samplersCommand, help: samplersHelp, summary: 'list the samplers' },
  solve: { run: solveCommand, help: solveHelp, summary: 'solve an inverse problem with a diffusion prior' },
  reconstruct: { run: reconstructCommand, help: reconstructHelp, summary: 'reconstruct a NIfTI volume slice by slice with the 2-D prior' },
  restore: { run: restoreCommand, help: restoreHelp, summary: 'restore degraded images with a restoration diffusion model (IR-SDE, ResShift)' },
  solvers: { run: solversCommand, help: solversHelp, summary: 'list the posterior solvers and baselines' },
  bench: { run: benchCommand, help: benchHelp, summary: 'run a benchmark from bench/' },
};

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((k) => k.length));
  return [
    'tweedie: diffusion models in TypeScript',
    '',
    'usage: tweedie COMMAND [options]   (tweedie COMMAND --help for details)',
    '',
    ...Object.entries(commands).map(([k, c]) => `  ${k.padEnd(width)}  ${c.summary}`),
  ].join('\n');
}

/** Exit codes: 0 success, 1 runtime error, 2 usage error. Messages are one line on stderr. */
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
  const cmd = commands[name];
  if (!cmd) {
    process.stderr.write(`tweedie: unknown command "${name}"; run "tweedie --help" for the list\n`);
    return 2;
  }
  try {
    await cmd.run(rest);
    return 0;
  } catch (e) {
    if (e instanceof TweedieError) {
      process.stderr.write(`tweedie ${name}: ${e.message}\n`);
      return e.code === 'USAGE' ? 2 : 1;
    }
    process.stderr.write(`tweedie ${name}: internal error: ${(e as Error).stack ?? String(e)}\n`);
    return 1;
  }
}
