import { fail } from '../core/errors.js';
import { loadToken, TOKEN_ENV } from '../service/auth.js';
import { intOption, numberOption } from './args.js';
import { command } from './options.js';

export const serveCommand = command({
  name: 'serve',
  summary: 'run jobs (sample, solve, reconstruct, restore) over HTTP, and serve the web app',
  usage: '[--port N] [--host H] [--data DIR] [--redis URL] [options]',
  description:
    `An HTTP API for jobs of the CLI commands (POST /jobs with the command's options as JSON, GET /jobs/ID for progress and results, GET /openapi.json for the rest), with the web app at /. ` +
    `Every route but /health and the web app's files needs "Authorization: Bearer TOKEN" (${TOKEN_ENV} or --token-file). ` +
    'Without --redis the jobs run in this process, --concurrency at a time; with --redis they are queued on BullMQ and run by "tweedie worker" processes sharing --data.',
  options: {
    port: { type: 'string', value: 'N', default: '8700', doc: 'TCP port (0 picks a free one; the address is printed on stdout)' },
    host: { type: 'string', value: 'H', default: '127.0.0.1', doc: 'address to bind; anything but loopback serves other machines (use TLS in front)' },
    'token-file': { type: 'string', value: 'FILE', doc: `the API token (its first line) instead of the environment variable ${TOKEN_ENV}` },
    data: { type: 'string', value: 'DIR', default: 'tweedie-data', doc: 'the folder of job inputs and results (shared with the workers in Redis mode)' },
    redis: { type: 'string', value: 'URL', doc: 'queue the jobs on BullMQ at this Redis (redis://host:port[/db]) for "tweedie worker" processes' },
    concurrency: { type: 'string', value: 'K', default: '1', doc: 'without --redis: jobs run at once in this process' },
    'max-upload': { type: 'string', value: 'MB', default: '256', doc: 'largest POST /jobs request (all files), in MiB; larger ones get 413 before anything is written' },
    'max-files': { type: 'string', value: 'N', default: '64', doc: 'input files per job' },
    'keep-days': { type: 'string', value: 'D', default: '7', doc: 'finished jobs (records and files) older than D days are removed' },
    'keep-jobs': { type: 'string', value: 'N', default: '1000', doc: 'at most N finished jobs are kept (the oldest go first)' },
  },
  async run({ values }) {
    const port = intOption(values.port, 'port', 0, 65535);
    const token = loadToken(values['token-file']);
    if (values.redis !== undefined && values.concurrency !== '1') fail('USAGE', '--concurrency is for the embedded queue; with --redis give each "tweedie worker" its --concurrency');
    // Loaded here: Fastify and BullMQ are not needed by the other commands.
    const { startServer } = await import('../service/server.js');
    const server = await startServer({
      port, host: values.host, token, data: values.data, ...(values.redis !== undefined ? { redis: values.redis } : {}),
      concurrency: intOption(values.concurrency, 'concurrency'),
      maxUpload: Math.round(numberOption(values['max-upload'], 'max-upload', 0) * 2 ** 20), maxFiles: intOption(values['max-files'], 'max-files'),
      retention: { maxAgeS: numberOption(values['keep-days'], 'keep-days', 0) * 86400, maxJobs: intOption(values['keep-jobs'], 'keep-jobs', 0) },
    });
    process.stdout.write(`tweedie serve: ${server.url} (API at /jobs with a bearer token, web app at /web/, ${server.queue} queue, data in ${values.data}; Ctrl-C stops)\n`);
    if (!/^(127\.|::1$|localhost$)/.test(values.host)) process.stderr.write(`warning: serving on ${values.host}, reachable from other machines; put TLS in front of it\n`);
    await server.closed;
  },
});
