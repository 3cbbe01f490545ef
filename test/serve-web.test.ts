import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// scripts/serve-web.mjs as an attacker meets it: a checkout with secrets beside the served folders.
const root = mkdtempSync(join(tmpdir(), 'tweedie-serve-'));
const put = (rel: string, text: string) => {
  mkdirSync(join(root, rel, '..'), { recursive: true });
  writeFileSync(join(root, rel), text);
};
put('web/index.html', '<!doctype html><title>playground</title>');
put('web/.env', 'TOKEN=web-secret');
put('dist/src/browser.js', 'export {};');
put('weights/m/model.onnx', 'onnx');
put('secret.txt', 'root-secret');
put('.git/config', '[core] secret');
put('node_modules/other/index.js', 'module-secret');
symlinkSync('/etc', join(root, 'web', 'etc'));
symlinkSync(join(root, 'secret.txt'), join(root, 'weights', 'link.txt'));

const servers: ChildProcess[] = [];
after(() => servers.forEach((s) => s.kill()));

function start(...args: string[]): Promise<{ port: number; stderr: () => string }> {
  const server = spawn(process.execPath, ['scripts/serve-web.mjs', '--root', root, '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  servers.push(server);
  let err = '';
  server.stderr!.on('data', (b) => (err += String(b)));
  return new Promise((ok, no) => {
    server.stdout!.on('data', (b) => {
      const m = /:(\d+)\/web\//.exec(String(b));
      if (m) ok({ port: Number(m[1]), stderr: () => err });
    });
    server.on('exit', (code) => no(new Error(`serve-web exited with ${code}: ${err}`)));
  });
}

function get(port: number, path: string, host = `127.0.0.1:${port}`): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((ok, no) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      let body = '';
      res.on('data', (b) => (body += String(b)));
      res.on('end', () => ok({ status: res.statusCode!, body, headers: res.headers }));
    });
    req.on('error', no);
    req.end();
  });
}

test('serves the page with cross-origin isolation, and nothing outside the allow-list', async () => {
  const { port } = await start();
  const page = await get(port, '/web/');
  assert.equal(page.status, 200);
  assert.match(page.body, /playground/);
  assert.equal(page.headers['cross-origin-opener-policy'], 'same-origin');
  assert.equal(page.headers['cross-origin-embedder-policy'], 'require-corp');
  assert.equal((await get(port, '/dist/src/browser.js')).status, 200);
  assert.equal((await get(port, '/weights/m/model.onnx')).status, 200);
  for (const path of ['/web/etc/passwd', '/weights/link.txt', '/.git/config', '/web/.env', '/secret.txt', '/node_modules/other/index.js', '/web/%2e%2e/secret.txt', '/web/..%2fsecret.txt', '/dist/../secret.txt']) {
    const r = await get(port, path);
    assert.equal(r.status, 404, `${path} must not be served (got ${r.status})`);
    assert.doesNotMatch(r.body, /root-secret|web-secret|module-secret|\[core\]|root:x:/, path);
  }
});

test('a request naming another host is refused (DNS rebinding)', async () => {
  const { port } = await start();
  assert.equal((await get(port, '/web/', `evil.example:${port}`)).status, 421);
  assert.equal((await get(port, '/web/', `localhost:${port}`)).status, 200);
  assert.equal((await get(port, '/web/', `127.0.0.1:${port + 1}`)).status, 421);
});

test('binding beyond loopback needs --expose, and then warns', async () => {
  const r = spawnSync(process.execPath, ['scripts/serve-web.mjs', '--root', root, '--port', '0', '--host', '0.0.0.0'], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--host 0\.0\.0\.0 .*add --expose/);
  assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  const { stderr } = await start('--host', '0.0.0.0', '--expose');
  await new Promise((ok) => setTimeout(ok, 200));
  assert.match(stderr(), /warning: serving on 0\.0\.0\.0, reachable from other machines/);
});
