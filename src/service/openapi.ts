import { packageVersion } from '../cli/version.js';

/** A route of the API as app.ts declares it: its Fastify schema is also its OpenAPI description. */
export interface ApiRoute {
  method: 'GET' | 'POST' | 'DELETE';
  url: string;
  summary: string;
  /** No bearer token (GET /health). */
  public?: boolean;
  schema: {
    params?: { properties: Record<string, unknown>; required?: string[] };
    querystring?: { properties: Record<string, unknown> };
    response?: Record<number, unknown>;
  };
  /** A request body other than JSON (POST /jobs: multipart form data). */
  body?: { contentType: string; schema: unknown };
  /** Responses that are not JSON, by status: content type and description. */
  raw?: Record<number, { contentType: string; description: string }>;
}

/** The OpenAPI 3 document of the routes, from the same schemas Fastify validates with. */
export function openApiDocument(routes: readonly ApiRoute[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const path = r.url.replace(/:(\w+)/g, '{$1}');
    const parameters = [
      ...Object.entries(r.schema.params?.properties ?? {}).map(([name, schema]) => ({ name, in: 'path', required: true, schema })),
      ...Object.entries(r.schema.querystring?.properties ?? {}).map(([name, schema]) => ({ name, in: 'query', required: false, schema })),
    ];
    const responses: Record<string, unknown> = {};
    for (const [status, schema] of Object.entries(r.schema.response ?? {})) responses[status] = { description: status, content: { 'application/json': { schema } } };
    for (const [status, raw] of Object.entries(r.raw ?? {})) responses[status] = { description: raw.description, content: { [raw.contentType]: {} } };
    if (!r.public) responses['401'] = { description: 'missing or wrong bearer token' };
    paths[path] = {
      ...paths[path],
      [r.method.toLowerCase()]: {
        summary: r.summary,
        ...(parameters.length ? { parameters } : {}),
        ...(r.body ? { requestBody: { required: true, content: { [r.body.contentType]: { schema: r.body.schema } } } } : {}),
        responses,
        ...(r.public ? { security: [] } : {}),
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'tweedie service', version: packageVersion(), description: 'Jobs of the tweedie CLI (sample, solve, reconstruct, restore) over HTTP; options are the CLI\'s, by name.' },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }],
    paths,
  };
}
