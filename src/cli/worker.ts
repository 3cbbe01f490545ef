import { fail } from '../core/errors.js';
import { intOption, numberOption } from './args.js';
import { command } from './options.js';

export const workerCommand = command({
  name: 'worker',
  summary: 'run the jobs "tweedie serve --redis" queues',
  usage: '--redis URL [--data DIR] [--concurrency K]',
  description:
    'Take jobs from the BullMQ queue of "tweedie serve --redis URL" and run them in this process (models stay loaded between jobs). ' +
    'Start any number of workers; they share the server\'s --data folder (the same path: one machine or a shared mount). A worker that dies mid-job leaves the job to another after --stalled-s.',
  options: {
    redis: { type: 'string', value: 'URL', doc: 'the Redis of the server (redis://host:port[/db])' },
    data: { type: 'string', value: 'DIR', default: 'tweedie-data', doc: 'the data folder of the server' },
    concurrency: { type: 'string', value: 'K', default: '1', doc: 'jobs at once in this process (CPU jobs: one per process, start more processes instead)' },
    'stalled-s': { type: 'string', value: 'S', default: '30', doc: 'seconds without a heartbeat before a running job is given to another worker' },
  },
  async run({ values }) {
    const log = (line: string) => process.stderr.write(`tweedie worker ${process.pid}: ${line}\n`);
    if (!values.redis) fail('USAGE', 'worker needs --redis URL (the Redis of "tweedie serve --redis URL")');
    // Loaded here: BullMQ is not needed by the other commands.
    const { startWorker } = await import('../service/worker.js');
    const w = await startWorker({
      redis: values.redis!, data: values.data, concurrency: intOption(values.concurrency, 'concurrency'), stalledS: numberOption(values['stalled-s'], 'stalled-s', 1), log,
    });
    log('ready');
    await w.closed;
  },
});
