import { availableParallelism } from 'node:os';
import { packageVersion } from './version.js';
import { parseCommand } from './args.js';

export const infoHelp = `tweedie info [--json]

Print the tweedie version, the runtime backends this machine can use and the thread count.`;

/** Which ONNX Runtime packages resolve here (they are optional until a model needs them). */
async function backends(): Promise<string[]> {
  const found = ['js (analytic models)'];
  for (const pkg of ['onnxruntime-node', 'onnxruntime-web']) {
    try {
      await import(pkg);
      found.push(pkg);
    } catch {
      /* not installed: not a backend here */
    }
  }
  return found;
}

export async function infoCommand(argv: string[]): Promise<void> {
  const { values } = parseCommand('info', argv, { json: { type: 'boolean' } });
  if (values.help) return void process.stdout.write(infoHelp + '\n');
  const info = { version: packageVersion(), node: process.version, backends: await backends(), threads: availableParallelism() };
  if (values.json) process.stdout.write(JSON.stringify(info) + '\n');
  else process.stdout.write(`tweedie ${info.version} (node ${info.node})\nbackends: ${info.backends.join(', ')}\nthreads: ${info.threads}\n`);
}
