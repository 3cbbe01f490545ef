import { availableParallelism } from 'node:os';
import { packageVersion } from './version.js';
import { command } from './options.js';
import { jsonOption } from './shared-options.js';

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

export const infoCommand = command({
  name: 'info',
  summary: 'version, runtime backends and threads',
  usage: '[--json]',
  description: 'Print the tweedie version, the runtime backends this machine can use and the thread count.',
  options: { json: jsonOption('{"version", "node", "backends", "threads"}') },
  async run({ values }) {
    const info = { version: packageVersion(), node: process.version, backends: await backends(), threads: availableParallelism() };
    if (values.json) process.stdout.write(JSON.stringify(info) + '\n');
    else process.stdout.write(`tweedie ${info.version} (node ${info.node})\nbackends: ${info.backends.join(', ')}\nthreads: ${info.threads}\n`);
  },
});
