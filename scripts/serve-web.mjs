// Serves the browser app (web/index.html, and the sampling playground web/playground.html) and only what they need: the built library (dist/),
// the page (web/), the shipped models (weights/) and onnxruntime-web's files. Plain node:http: a static
// allow-list of folders is a few lines, and a framework would add nothing here (the HTTP service
// of the project is a separate program).
//   node scripts/serve-web.mjs [--port N] [--host H] [--expose] [--root DIR]
//     --port 0 picks a free port; --host other than loopback needs --expose (the page has no auth);
//     --root serves another checkout (default: this one).
import { createReadStream, realpathSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { isIP } from 'node:net';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.npy': 'application/octet-stream',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.md': 'text/markdown; charset=utf-8',
};

/** The folders a request may reach, as URL prefixes of the root. */
const ALLOWED = [
  'dist/', 'web/', 'weights/', 'node_modules/onnxruntime-web/dist/', 'node_modules/onnxruntime-common/dist/',
  // The DICOM decoders a page loads (src/io/dicom-browser.ts).
  'node_modules/dicom-parser/dist/', 'node_modules/@cornerstonejs/codec-charls/dist/', 'node_modules/@cornerstonejs/codec-openjpeg/dist/',
  'node_modules/@cornerstonejs/codec-libjpeg-turbo-8bit/dist/', 'node_modules/jpeg-lossless-decoder-js/release/',
  // The DICOM writer's library (src/io/dicom-write.ts), for the app's DICOM download.
  'node_modules/dcmjs/build/',
  // The HDF5 library (src/io/fastmri.ts), for the app's fastMRI k-space files.
  'node_modules/h5wasm/dist/esm/',
  // The ZIP writer (src/io/zip.ts), for the app's download of a whole DICOM series.
  'node_modules/fflate/esm/',
];

// Cross-origin isolation lets WebAssembly use threads (SharedArrayBuffer); the rest keeps the page to itself.
const HEADERS = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
  'cross-origin-resource-policy': 'same-origin',
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-cache',
};

function usage(message) {
  console.error(`serve-web: ${message}`);
  process.exit(2);
}

let values;
try {
  ({ values } = parseArgs({
    options: { port: { type: 'string', default: '8080' }, host: { type: 'string', default: '127.0.0.1' }, expose: { type: 'boolean', default: false }, root: { type: 'string' } },
    strict: true,
  }));
} catch (e) {
  usage(`${e.message}; options: --port N, --host H, --expose, --root DIR`);
}
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) usage(`--port must be an integer 0..65535 (0 picks a free port), got "${values.port}"`);
const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);
const host = values.host;
const loopback = LOOPBACK.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);
if (!loopback && !values.expose) usage(`--host ${host} would serve the app beyond this machine; add --expose to mean it, or keep the default 127.0.0.1`);
let ROOT;
try {
  ROOT = realpathSync(resolve(values.root ?? fileURLToPath(new URL('..', import.meta.url))));
} catch {
  usage(`--root ${values.root}: no such folder`);
}
const roots = ALLOWED.map((p) => {
  try {
    return realpathSync(join(ROOT, p));
  } catch {
    return null;
  }
});

/** The real file behind a URL path, or null: inside an allowed folder after symlinks, no dot segments. */
function fileFor(urlPath) {
  let path;
  try {
    path = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  const parts = path.split('/').filter((p) => p !== '');
  if (parts.some((p) => p.startsWith('.') || p.includes('\\') || p.includes('\0'))) return null;
  const rel = parts.join('/');
  const k = ALLOWED.findIndex((prefix) => `${rel}/`.startsWith(prefix));
  if (k < 0 || !roots[k]) return null;
  let file;
  try {
    file = realpathSync(join(ROOT, rel));
  } catch {
    return null;
  }
  if (file !== roots[k] && !file.startsWith(roots[k] + sep)) return null;
  const st = statSync(file);
  if (st.isDirectory()) return path.endsWith('/') ? fileFor(`${urlPath}index.html`) : { redirect: `/${rel}/` };
  return st.isFile() ? { file, size: st.size } : null;
}

/** Host must name this server (DNS rebinding sends a foreign name to a loopback address). */
function hostAllowed(header, boundPort) {
  if (!header) return false;
  let name;
  try {
    const u = new URL(`http://${header}`);
    if (Number(u.port || 80) !== boundPort) return false;
    name = u.hostname.replace(/^\[|\]$/g, '');
  } catch {
    return false;
  }
  return loopback ? LOOPBACK.has(name) || name === host : name === host || (isIP(host) === 0 && name === host.toLowerCase());
}

const server = createServer((req, res) => {
  const send = (status, text, extra = {}) => res.writeHead(status, { ...HEADERS, 'content-type': 'text/plain; charset=utf-8', ...extra }).end(text ? `${text}\n` : '');
  if (!hostAllowed(req.headers.host, server.address().port)) return send(421, 'unknown host: use the address this server printed');
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, '', { allow: 'GET, HEAD' });
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (url.pathname === '/') return send(302, '', { location: '/web/' });
  const found = fileFor(url.pathname);
  if (!found) return send(404, `not found: ${url.pathname}`);
  if (found.redirect) return send(301, '', { location: found.redirect });
  res.writeHead(200, { ...HEADERS, 'content-type': TYPES[extname(found.file).toLowerCase()] ?? 'application/octet-stream', 'content-length': found.size });
  if (req.method === 'HEAD') res.end();
  else createReadStream(found.file).pipe(res);
});

server.on('error', (e) => {
  console.error(`serve-web: cannot serve on ${host}:${port}: ${e.message}; pick another --port`);
  process.exit(1);
});
server.listen(port, host, () => {
  const shown = host.includes(':') ? `[${host}]` : host;
  console.log(`tweedie app: http://${shown}:${server.address().port}/web/ (Ctrl-C stops)`);
  if (!loopback) console.error(`warning: serving on ${host}, reachable from other machines; the app has no authentication`);
  if (!roots[0]) console.error('warning: dist/ is missing; run "npm run build" first');
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.close(() => process.exit(0)));
