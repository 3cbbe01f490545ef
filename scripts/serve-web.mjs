// Serves the repository root for the browser playground (web/index.html), with the MIME types browsers
// insist on for modules and WebAssembly. No dependencies.
//   node scripts/serve-web.mjs [--port N] [--host H]     (--port 0 picks a free port)
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.md': 'text/markdown; charset=utf-8',
};

function fileFor(urlPath) {
  let path;
  try {
    path = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  const file = resolve(join(ROOT, path));
  if (file !== ROOT && !file.startsWith(ROOT + sep)) return null;
  try {
    const st = statSync(file);
    if (st.isDirectory()) return fileFor(join(path, 'index.html'));
    return st.isFile() ? { file, size: st.size } : null;
  } catch {
    return null;
  }
}

const { values } = parseArgs({ options: { port: { type: 'string', default: '8080' }, host: { type: 'string', default: '127.0.0.1' } } });
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`--port must be an integer 0..65535 (0 picks a free port), got "${values.port}"`);
  process.exit(2);
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' }).end();
    return;
  }
  if (url.pathname === '/') {
    res.writeHead(302, { location: '/web/' }).end();
    return;
  }
  const found = fileFor(url.pathname);
  if (!found) {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end(`not found: ${url.pathname}\n`);
    return;
  }
  res.writeHead(200, {
    'content-type': TYPES[extname(found.file).toLowerCase()] ?? 'application/octet-stream',
    'content-length': found.size,
    'cache-control': 'no-cache',
  });
  if (req.method === 'HEAD') res.end();
  else createReadStream(found.file).pipe(res);
});

server.on('error', (e) => {
  console.error(`cannot serve on ${values.host}:${port}: ${e.message}; pick another --port`);
  process.exit(1);
});
server.listen(port, values.host, () => {
  const addr = server.address();
  console.log(`tweedie playground: http://${values.host}:${addr.port}/web/ (serving ${ROOT}; Ctrl-C stops)`);
  if (!existsSync(join(ROOT, 'dist', 'src', 'browser.js'))) console.error('warning: dist/src/browser.js is missing; run "npm run build" first');
});
