import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { PassThrough } from 'node:stream';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import fastifyMultipart from '@fastify/multipart';
import { TweedieError } from '../core/errors.js';
import { writeZip } from '../io/zip.js';
import { packageVersion } from '../cli/version.js';
import { bearerCheck } from './auth.js';
import type { DataFolder } from './data-folder.js';
import { checkedSpec, optionsSchema, seriesInputs, TASKS, type Task } from './job-spec.js';
import { FINISHED, JOB_STATES, type JobQueue, type JobStatus } from './job-status.js';
import { ID_PATTERN, NAME_PATTERN, safeName } from './names.js';
import { openApiDocument, type ApiRoute } from './openapi.js';
import { prune, type Retention } from './retention.js';
import { registerStatic, STATIC_PREFIXES } from './static-files.js';

export interface AppOptions {
  queue: JobQueue;
  data: DataFolder;
  token: string;
  /** Bytes one POST /jobs may carry (all files and fields); larger requests get 413 before anything is written. */
  maxUpload: number;
  /** Input files one job may upload. */
  maxFiles: number;
  retention: Retention;
  /** Serve the web app (web/, dist/, ...) at / (default true). */
  web?: boolean;
}

// Every response keeps the page cross-origin isolated (threads for WebAssembly) and to itself.
const HEADERS = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
  'cross-origin-resource-policy': 'same-origin',
  'x-content-type-options': 'nosniff',
};

const TYPES: Record<string, string> = { '.npy': 'application/octet-stream', '.png': 'image/png', '.json': 'application/json', '.gz': 'application/gzip', '.nii': 'application/octet-stream', '.dcm': 'application/dicom' };

const error = { type: 'object', properties: { error: { type: 'string' } }, required: ['error'] } as const;
const nullable = (schema: Record<string, unknown>) => ({ oneOf: [schema, { type: 'null' }] });
const progress = {
  type: 'object',
  properties: Object.fromEntries(['done', 'total', 'step', 'steps', 'slices_done', 'eta_s'].map((k) => [k, { type: ['number', 'null'] }])),
};
const jobStatus = {
  type: 'object',
  required: ['id', 'task', 'state', 'progress', 'metrics', 'results', 'error', 'attempts', 'created', 'finished'],
  properties: {
    id: { type: 'string', pattern: ID_PATTERN },
    task: { type: 'string', enum: Object.keys(TASKS) },
    state: { type: 'string', enum: JOB_STATES },
    progress: nullable(progress),
    metrics: nullable({ type: 'object', additionalProperties: true }),
    results: { type: 'array', items: { type: 'string' } },
    error: { type: ['string', 'null'] },
    attempts: { type: 'integer' },
    created: { type: 'string' },
    finished: { type: ['string', 'null'] },
  },
};
const idParams = { type: 'object', properties: { id: { type: 'string', pattern: ID_PATTERN } }, required: ['id'] };
const resultParams = { type: 'object', properties: { id: { type: 'string', pattern: ID_PATTERN }, name: { type: 'string', pattern: NAME_PATTERN } }, required: ['id', 'name'] };

/** The routes with their schemas: Fastify validates requests with them, and GET /openapi.json describes them. */
export const ROUTES: readonly ApiRoute[] = [
  { method: 'GET', url: '/health', summary: 'liveness (no token)', public: true, schema: { response: { 200: { type: 'object', properties: { status: { type: 'string' }, queue: { type: 'string' }, version: { type: 'string' } } } } } },
  { method: 'GET', url: '/openapi.json', summary: 'this document', schema: { response: { 200: { type: 'object', additionalProperties: true } } } },
  {
    method: 'POST', url: '/jobs', summary: 'submit a job: the field "options" (JSON: task plus the CLI options by name) and the input file(s) in the field "input"',
    schema: { response: { 202: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] }, 400: error, 413: error } },
    body: {
      contentType: 'multipart/form-data',
      schema: {
        type: 'object', required: ['options'],
        properties: {
          options: { oneOf: (Object.keys(TASKS) as Task[]).map(optionsSchema), description: 'JSON text' },
          input: { type: 'array', items: { type: 'string', format: 'binary' } },
        },
      },
    },
  },
  { method: 'GET', url: '/jobs', summary: 'list the jobs', schema: { querystring: { properties: { state: { type: 'string', enum: JOB_STATES } } }, response: { 200: { type: 'object', properties: { jobs: { type: 'array', items: jobStatus } } } } } },
  { method: 'GET', url: '/jobs/:id', summary: 'a job\'s state, progress, metrics and result names', schema: { params: idParams, response: { 200: jobStatus, 404: error } } },
  {
    method: 'GET', url: '/jobs/:id/events', summary: 'server-sent events: "status" on every change, the last one when the job has finished',
    schema: { params: idParams, response: { 404: error } }, raw: { 200: { contentType: 'text/event-stream', description: 'event: status, data: the job status JSON' } },
  },
  {
    method: 'GET', url: '/jobs/:id/results/:name', summary: 'a result file', schema: { params: resultParams, response: { 404: error } },
    raw: { 200: { contentType: 'application/octet-stream', description: 'the file (NPY, PNG, NIfTI, ...)' } },
  },
  {
    method: 'GET', url: '/jobs/:id/results.zip', summary: 'all result files of a finished job as one ZIP archive (stored, not deflated; a derived DICOM series in one download)',
    schema: { params: idParams, response: { 404: error, 409: error } }, raw: { 200: { contentType: 'application/zip', description: 'the archive, ID.zip' } },
  },
  { method: 'DELETE', url: '/jobs/:id', summary: 'cancel a queued or running job', schema: { params: idParams, response: { 200: jobStatus, 404: error } } },
];

const route = (method: ApiRoute['method'], url: string) => ROUTES.find((r) => r.method === method && r.url === url)!;

/** Bearer token on every API route; /health and the web app's static files are public. */
function needsToken(url: string): boolean {
  const path = url.split('?')[0]!;
  return path !== '/health' && path !== '/' && !STATIC_PREFIXES.some((p) => `${path}/`.startsWith(p));
}

export async function buildApp(o: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, bodyLimit: 1 << 20, routerOptions: { maxParamLength: 200 } });
  const authorized = bearerCheck(o.token);
  app.addHook('onRequest', async (req, reply) => {
    if (needsToken(req.url) && !authorized(req.headers.authorization)) {
      return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'missing or wrong bearer token: send "Authorization: Bearer TOKEN" (the server\'s TWEEDIE_TOKEN)' });
    }
    const length = Number(req.headers['content-length'] ?? 0);
    if (req.method === 'POST' && length > o.maxUpload) return reply.code(413).send({ error: `the request is ${length} bytes; this server takes at most ${o.maxUpload} (--max-upload)` });
  });
  app.addHook('onSend', async (_req, reply) => {
    reply.headers(HEADERS);
  });
  app.setErrorHandler((e: FastifyError, _req, reply) => {
    if (e instanceof TweedieError) return reply.code(400).send({ error: e.message });
    if (e.validation) return reply.code(400).send({ error: `${e.validationContext ?? 'request'} ${e.validation[0]?.instancePath ?? ''} ${e.validation[0]?.message ?? e.message}`.replace(/\s+/g, ' ').trim() });
    if (e.statusCode === 413) return reply.code(413).send({ error: `the upload is larger than this server takes (${o.maxUpload} bytes in all, ${o.maxFiles} files; --max-upload)` });
    if (e.statusCode && e.statusCode < 500) return reply.code(e.statusCode).send({ error: e.message });
    process.stderr.write(`tweedie serve: internal error: ${e.stack ?? e.message}\n`);
    return reply.code(500).send({ error: 'internal error (logged by the server)' });
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: `no route ${req.method} ${req.url.split('?')[0]}` }));
  await app.register(fastifyMultipart, { limits: { fileSize: o.maxUpload, files: o.maxFiles, fields: 4, fieldSize: 1 << 20, parts: o.maxFiles + 4 } });

  const schemaOf = (method: ApiRoute['method'], url: string) => {
    const r = route(method, url).schema;
    return { ...(r.params ? { params: r.params } : {}), ...(r.querystring ? { querystring: { type: 'object', additionalProperties: false, ...r.querystring } } : {}), ...(r.response ? { response: r.response } : {}) };
  };
  const found = async (id: string, reply: FastifyReply): Promise<JobStatus | null> => {
    const s = await o.queue.get(id);
    if (!s) void reply.code(404).send({ error: `no job ${id} (it may have been removed by retention)` });
    return s;
  };

  app.get('/health', { schema: schemaOf('GET', '/health') }, async () => ({ status: 'ok', queue: o.queue.kind, version: packageVersion() }));
  const doc = openApiDocument(ROUTES);
  app.get('/openapi.json', { schema: schemaOf('GET', '/openapi.json') }, async () => doc);

  app.post('/jobs', { schema: schemaOf('POST', '/jobs') }, async (req: FastifyRequest, reply) => {
    if (!req.isMultipart()) return reply.code(400).send({ error: 'POST /jobs takes multipart/form-data: a field "options" (JSON) and the input file(s) in the field "input"' });
    let optionsText: string | undefined, total = 0;
    const files: { name: string; bytes: Uint8Array }[] = [];
    // Everything is read into memory (at most --max-upload bytes) and checked before one byte is written.
    for await (const part of req.parts()) {
      if (part.type === 'file') {
        if (part.fieldname !== 'input') return reply.code(400).send({ error: `unknown file field "${part.fieldname}"; send input files in the field "input"` });
        const name = safeName(part.filename, 'input file name');
        if (files.some((f) => f.name === name)) return reply.code(400).send({ error: `two input files are named "${name}"; give each its own name` });
        const bytes = await part.toBuffer();
        total += bytes.length;
        if (total > o.maxUpload) return reply.code(413).send({ error: `the upload is larger than this server takes (${o.maxUpload} bytes; --max-upload)` });
        files.push({ name, bytes });
      } else if (part.fieldname === 'options' && optionsText === undefined) optionsText = String(part.value);
      else return reply.code(400).send({ error: `unexpected field "${part.fieldname}"; POST /jobs takes one "options" field and "input" files` });
    }
    if (optionsText === undefined) return reply.code(400).send({ error: 'missing the field "options" (JSON: {"task": "sample", ...the CLI options})' });
    let raw: unknown;
    try {
      raw = JSON.parse(optionsText);
    } catch (e) {
      return reply.code(400).send({ error: `field "options" is not JSON (${(e as Error).message})` });
    }
    const spec = checkedSpec(raw, files.map((f) => f.name));
    const id = randomUUID();
    o.data.writeInputs(id, files, seriesInputs(spec));
    await o.queue.submit(id, spec);
    await prune(o.queue, o.data, o.retention);
    return reply.code(202).send({ id });
  });

  app.get('/jobs', { schema: schemaOf('GET', '/jobs') }, async (req) => {
    const { state } = req.query as { state?: string };
    const jobs = (await o.queue.list()).filter((j) => !state || j.state === state).sort((a, b) => a.created.localeCompare(b.created));
    return { jobs };
  });

  app.get('/jobs/:id', { schema: schemaOf('GET', '/jobs/:id') }, async (req, reply) => (await found((req.params as { id: string }).id, reply)) ?? reply);

  app.delete('/jobs/:id', { schema: schemaOf('DELETE', '/jobs/:id') }, async (req, reply) => {
    const { id } = req.params as { id: string };
    return (await o.queue.cancel(id)) ?? reply.code(404).send({ error: `no job ${id}` });
  });

  app.get('/jobs/:id/results/:name', { schema: schemaOf('GET', '/jobs/:id/results/:name') }, async (req, reply) => {
    const { id, name } = req.params as { id: string; name: string };
    const file = o.data.resultFile(id, name);
    if (!file || !(await o.queue.get(id))) return reply.code(404).send({ error: `job ${id} has no result "${name}"; GET /jobs/${id} lists its results` });
    return reply.type(TYPES[extname(name).toLowerCase()] ?? 'application/octet-stream').header('content-disposition', `attachment; filename="${name}"`).send(createReadStream(file));
  });

  app.get('/jobs/:id/results.zip', { schema: schemaOf('GET', '/jobs/:id/results.zip') }, async (req, reply) => {
    const { id } = req.params as { id: string };
    const job = await o.queue.get(id);
    if (!job) return reply.code(404).send({ error: `no job ${id}` });
    if (!FINISHED.has(job.state)) return reply.code(409).send({ error: `job ${id} is ${job.state}: its archive can be fetched once it has finished (GET /jobs/${id}/events)` });
    const names = o.data.results(id);
    if (names.length === 0) return reply.code(404).send({ error: `job ${id} (${job.state}) has no result files` });
    const out = new PassThrough();
    async function* files() {
      for (const name of names) yield { name, bytes: await readFile(o.data.resultFile(id, name)!) };
    }
    writeZip(files(), (c) => (out.write(c) ? undefined : once(out, 'drain').then(() => undefined))).then(() => out.end(), (e: Error) => out.destroy(e));
    return reply.type('application/zip').header('content-disposition', `attachment; filename="${id}.zip"`).send(out);
  });

  app.get('/jobs/:id/events', { schema: schemaOf('GET', '/jobs/:id/events') }, async (req, reply) => {
    const first = await found((req.params as { id: string }).id, reply);
    if (!first) return reply;
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { ...HEADERS, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
    let closed = false;
    const stop = () => {
      if (closed) return;
      closed = true;
      unwatch();
      clearInterval(ping);
      res.end();
    };
    const send = (s: JobStatus) => {
      if (closed) return;
      res.write(`event: status\ndata: ${JSON.stringify(s)}\n\n`);
      if (FINISHED.has(s.state)) stop();
    };
    const unwatch = o.queue.watch(first.id, send);
    const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
    req.raw.on('close', stop);
    // The state now (it may have changed between the lookup and the watch).
    send((await o.queue.get(first.id)) ?? first);
  });

  if (o.web !== false) await registerStatic(app);
  return app;
}
