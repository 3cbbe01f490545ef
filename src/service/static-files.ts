import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';
import { packageRoot } from '../package-root.js';

/**
 * The web app and only what it needs, at the same URLs as scripts/serve-web.mjs: the page (web/), the built
 * library (dist/), the shipped models (weights/) and the browser runtimes' files. No token: a page must load
 * before it can ask for one.
 */
const ALLOWED = [
  'web/', 'dist/', 'weights/', 'node_modules/onnxruntime-web/dist/', 'node_modules/onnxruntime-common/dist/',
  'node_modules/dcmjs/build/', 'node_modules/dicom-parser/dist/', 'node_modules/@cornerstonejs/codec-charls/dist/', 'node_modules/@cornerstonejs/codec-openjpeg/dist/',
  'node_modules/@cornerstonejs/codec-libjpeg-turbo-8bit/dist/', 'node_modules/jpeg-lossless-decoder-js/release/', 'node_modules/h5wasm/dist/esm/',
  'node_modules/fflate/esm/',
];

/** The URL prefixes served without a token. */
export const STATIC_PREFIXES = ALLOWED.map((p) => `/${p}`);

export async function registerStatic(app: FastifyInstance, root = packageRoot): Promise<void> {
  let first = true;
  for (const prefix of ALLOWED) {
    const dir = join(root, prefix);
    if (!existsSync(dir)) continue;
    await app.register(fastifyStatic, { root: dir, prefix: `/${prefix}`, decorateReply: first, dotfiles: 'deny', index: ['index.html'], redirect: true });
    first = false;
  }
  app.get('/', (_req, reply) => reply.redirect('/web/'));
}
