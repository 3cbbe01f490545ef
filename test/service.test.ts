import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor } from '../src/core/tensor.js';
import { encodeNpy, parseNpy } from '../src/io/npy.js';
import { api, jobEvents, serve, stop, submit, TOKEN, untilState, waitFor, type Proc } from '../bench/lib/service-procs.js';

// `tweedie serve` in its embedded mode, as a client meets it: a real process on a loopback port.
const tmp = mkdtempSync(join(tmpdir(), 'tweedie-service-'));
const data = join(tmp, 'data');
const mixture = { name: 'mixture-2d.json', bytes: readFileSync('examples/mixture-2d.json') };
let server: Proc & { url: string };
before(async () => {
  server = await serve(['--data', data, '--max-upload', '1', '--keep-jobs', '50']);
});
after(() => stop(server));

const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/tweedie.js', ...args], { encoding: 'utf8' });
const jobDirs = () => readdirSync(join(data, 'jobs'));

test('health needs no token; every API route refuses a missing or wrong token with 401; static files need none', async () => {
  const health = await api(server.url, '/health', {}, null);
  assert.equal(health.status, 200);
  assert.equal(((await health.json()) as { status: string }).status, 'ok');
  for (const [method, path] of [['GET', '/jobs'], ['GET', '/openapi.json'], ['POST', '/jobs'], ['GET', '/jobs/00000000-0000-4000-8000-000000000000'], ['GET', '/jobs/00000000-0000-4000-8000-000000000000/results.zip'], ['DELETE', '/jobs/00000000-0000-4000-8000-000000000000']] as const) {
    for (const token of [null, 'wrong-token-0123456789abcdef', `${TOKEN}x`, TOKEN.slice(0, -1)]) {
      const r = await api(server.url, path, { method }, token);
      assert.equal(r.status, 401, `${method} ${path} with token ${token}`);
    }
  }
  const page = await api(server.url, '/web/', {}, null);
  assert.equal(page.status, 200);
  assert.equal(page.headers.get('cross-origin-opener-policy'), 'same-origin');
  assert.equal(page.headers.get('cross-origin-embedder-policy'), 'require-corp');
  assert.equal((await api(server.url, '/web/../package.json', {}, null)).status, 401, 'a path outside the web folders is an API path: no token, no answer');
});

test('GET /openapi.json describes the routes and each task\'s options from the command tables', async () => {
  const doc = (await (await api(server.url, '/openapi.json')).json()) as any;
  assert.match(doc.openapi, /^3\./);
  for (const p of ['/health', '/jobs', '/jobs/{id}', '/jobs/{id}/events', '/jobs/{id}/results/{name}', '/jobs/{id}/results.zip']) assert.ok(doc.paths[p], p);
  assert.ok(doc.paths['/jobs/{id}'].delete);
  const tasks = doc.paths['/jobs'].post.requestBody.content['multipart/form-data'].schema.properties.options.oneOf;
  const sample = tasks.find((t: any) => t.properties.task.const === 'sample');
  assert.ok(sample.properties.steps && sample.properties.seed && sample.properties.sampler);
  assert.equal(sample.properties.json, undefined);
  assert.equal(sample.additionalProperties, false);
});

test('an upload over --max-upload gets 413 before anything is written (declared length, and chunked)', async () => {
  const before = jobDirs();
  const big = { name: 'big.npy', bytes: new Uint8Array(3 << 20) };
  const r = await submit(server.url, { task: 'sample', model: 'gaussian-exact' }, [big]);
  assert.equal(r.status, 413);
  // Chunked: no content-length, so the multipart limit stops it.
  const boundary = 'xyzBOUNDARY';
  const status = await new Promise<number>((resolve, reject) => {
    const req = request(new URL('/jobs', server.url), { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': `multipart/form-data; boundary=${boundary}`, 'transfer-encoding': 'chunked' } }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.on('error', (e) => ((e as NodeJS.ErrnoException).code === 'EPIPE' || (e as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(e)));
    req.write(`--${boundary}\r\ncontent-disposition: form-data; name="options"\r\n\r\n{"task":"sample","model":"gaussian-exact"}\r\n`);
    req.write(`--${boundary}\r\ncontent-disposition: form-data; name="input"; filename="big.npy"\r\ncontent-type: application/octet-stream\r\n\r\n`);
    for (let i = 0; i < 3; i++) req.write(new Uint8Array(1 << 20));
    req.end(`\r\n--${boundary}--\r\n`);
  });
  assert.equal(status, 413);
  assert.deepEqual(jobDirs(), before, 'no job folder, no staging folder');
});

test('traversal in ids, result names, file names and options is refused', async () => {
  for (const path of ['/jobs/..%2F..%2Fetc%2Fpasswd', '/jobs/../../etc/passwd', '/jobs/00000000-0000-4000-8000-000000000000/results/..%2Finput', '/jobs/00000000-0000-4000-8000-000000000000/results/.hidden']) {
    const r = await api(server.url, path);
    assert.ok(r.status === 400 || r.status === 404, `${path}: ${r.status}`);
    assert.doesNotMatch(await r.text(), /root:|"task"/);
  }
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ task: 'sample', model: 'gmm:../../examples/mixture-2d.json' }, /upload/],
    [{ task: 'sample', model: '../examples' }, /not a shipped model/],
    [{ task: 'sample', model: 'gmm:mixture-2d.json', out: '../x.npy' }, /plain file name/],
    [{ task: 'sample', model: 'gmm:mixture-2d.json', init: '/etc/passwd' }, /not an uploaded file/],
    [{ task: 'sample', model: 'gmm:mixture-2d.json', 'cond-image': '/etc/passwd' }, /options\.cond-image "\/etc\/passwd" is not an uploaded file/],
    [{ task: 'sample', model: 'gmm:mixture-2d.json', bogus: 1 }, /options\.bogus is not an option of "tweedie sample"/],
    [{ task: 'sample', model: 'gmm:mixture-2d.json', json: true }, /options\.json/],
    [{ task: 'frobnicate' }, /options\.task must be one of/],
    [{ task: 'solve', model: 'gaussian-exact', operator: 'matrix:/etc/A.npy' }, /names files/],
  ];
  for (const [options, message] of cases) {
    const r = await submit(server.url, options, [mixture]);
    assert.equal(r.status, 400, JSON.stringify(options));
    const body = (await r.json()) as { error: string };
    assert.match(body.error, message);
    assert.equal(body.error.split('\n').length, 1);
  }
  const dot = await submit(server.url, { task: 'sample', model: 'gmm:.m.json' }, [{ name: '.m.json', bytes: mixture.bytes }]);
  assert.equal(dot.status, 400);
});

test('a sample job and a solve job give the bytes the CLI writes for the same options and seed', async () => {
  const sample = await submit(server.url, { task: 'sample', model: 'gmm:mixture-2d.json', path: 've', sampler: 'ddim', param: ['eta=1'], steps: 8, seed: 3, n: 5 }, [mixture]);
  assert.equal(sample.status, 202);
  const { id } = (await sample.json()) as { id: string };
  const done = await untilState(server.url, id, ['done', 'failed']);
  assert.equal(done.state, 'done', done.error);
  assert.deepEqual(done.results, ['samples.npy']);
  assert.equal(done.metrics.nfe, 8);
  assert.equal(done.metrics.out, 'samples.npy', 'no server path in the metrics');
  const got = new Uint8Array(await (await api(server.url, `/jobs/${id}/results/samples.npy`)).arrayBuffer());
  const ref = join(tmp, 'cli-sample.npy');
  const c = cli('sample', '--model', 'gmm:examples/mixture-2d.json', '--path', 've', '--sampler', 'ddim', '--param', 'eta=1', '--steps', '8', '--seed', '3', '-n', '5', '--out', ref);
  assert.equal(c.status, 0, c.stderr);
  assert.deepEqual(got, new Uint8Array(readFileSync(ref)));
  assert.deepEqual(parseNpy(got).shape, [5, 2]);

  // solve with a shipped ONNX model and an uploaded truth image.
  const truth = new Tensor([1, 8, 8], Float32Array.from({ length: 64 }, (_, i) => Math.sin(i / 5) * 0.8));
  const truthFile = join(tmp, 'truth.npy');
  const truthBytes = encodeNpy(truth);
  writeFileSync(truthFile, truthBytes);
  const opts = { task: 'solve', model: 'gaussian-exact', operator: 'inpaint:box=4', truth: 'truth.npy', solver: 'ddnm', steps: 10, seed: 2, n: 2, out: 'x.npy' };
  const s = await submit(server.url, opts, [{ name: 'truth.npy', bytes: truthBytes }]);
  assert.equal(s.status, 202);
  const sid = ((await s.json()) as { id: string }).id;
  const sdone = await untilState(server.url, sid, ['done', 'failed']);
  assert.equal(sdone.state, 'done', sdone.error);
  const sref = join(tmp, 'cli-solve.npy');
  const sc = cli('solve', '--model', 'weights/gaussian-exact', '--operator', 'inpaint:box=4', '--truth', truthFile, '--solver', 'ddnm', '--steps', '10', '--seed', '2', '-n', '2', '--out', sref, '--json');
  assert.equal(sc.status, 0, sc.stderr);
  const sgot = new Uint8Array(await (await api(server.url, `/jobs/${sid}/results/x.npy`)).arrayBuffer());
  assert.deepEqual(sgot, new Uint8Array(readFileSync(sref)));
  assert.equal(sdone.metrics.psnr, JSON.parse(sc.stdout).psnr);
  assert.doesNotMatch(JSON.stringify(sdone), new RegExp(data), 'no server path in the status');
});

test('a job that fails on its options reports the command\'s one line, not a stack', async () => {
  const r = await submit(server.url, { task: 'sample', model: 'gmm:mixture-2d.json', steps: 0 }, [mixture]);
  const { id } = (await r.json()) as { id: string };
  const s = await untilState(server.url, id, ['done', 'failed']);
  assert.equal(s.state, 'failed');
  assert.match(s.error, /--steps must be an integer >= 1/);
  assert.doesNotMatch(s.error, /\n|at .*\.js/);
});

const long = { task: 'sample', model: 'gmm:mixture-2d.json', steps: 1000, n: 4000 };

test('server-sent events report running with progress, then done; the stream ends with the job', async () => {
  const r = await submit(server.url, { ...long, n: 1000 }, [mixture]);
  const { id } = (await r.json()) as { id: string };
  const seen = await jobEvents(server.url, id);
  assert.ok(seen.length >= 3, `${seen.length} events`);
  assert.equal(seen.at(-1)!.state, 'done');
  const running = seen.filter((s) => s.state === 'running' && s.progress);
  assert.ok(running.length >= 2, 'progress while running');
  const dones = running.map((s) => s.progress.done);
  assert.deepEqual(dones, [...dones].sort((a, b) => a - b), 'progress never goes back');
  assert.equal(running[0].progress.total, 1000 * 16, '16 batches of 64 x 1000 steps');
});

test('DELETE cancels a running job (it stops, no results) and a queued one', async () => {
  const a = ((await (await submit(server.url, long, [mixture])).json()) as { id: string }).id;
  const b = ((await (await submit(server.url, long, [mixture])).json()) as { id: string }).id;
  await untilState(server.url, a, ['running']);
  assert.equal(((await (await api(server.url, `/jobs/${b}`)).json()) as { state: string }).state, 'queued', 'one job at a time');
  const cb = await api(server.url, `/jobs/${b}`, { method: 'DELETE' });
  assert.equal(((await cb.json()) as { state: string }).state, 'cancelled');
  const started = Date.now();
  await api(server.url, `/jobs/${a}`, { method: 'DELETE' });
  const s = await untilState(server.url, a, ['cancelled', 'done', 'failed'], 20_000);
  assert.equal(s.state, 'cancelled');
  assert.ok(Date.now() - started < 5000, 'stopped at a step, not at the end');
  assert.deepEqual(s.results, []);
  assert.deepEqual(readdirSync(join(data, 'jobs', a, 'results')), []);
  assert.equal((await api(server.url, '/jobs/00000000-0000-4000-8000-000000000000', { method: 'DELETE' })).status, 404);
});

test('retention keeps at most --keep-jobs finished jobs, removing their files', async () => {
  const keep = await serve(['--data', join(tmp, 'keep'), '--keep-jobs', '2']);
  try {
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const { id } = (await (await submit(keep.url, { task: 'sample', model: 'gmm:mixture-2d.json', steps: 2, n: 2, seed: i }, [mixture])).json()) as { id: string };
      ids.push(id);
      await untilState(keep.url, id, ['done']);
    }
    await submit(keep.url, { task: 'sample', model: 'gmm:mixture-2d.json', steps: 2, n: 2 }, [mixture]);
    await waitFor(async () => ((await (await api(keep.url, `/jobs/${ids[0]}`)).status) === 404 ? true : undefined), 5000, () => 'first job still listed');
    assert.equal((await api(keep.url, `/jobs/${ids[1]}`)).status, 404);
    assert.equal((await api(keep.url, `/jobs/${ids[3]}`)).status, 200);
    assert.ok(!existsSync(join(tmp, 'keep', 'jobs', ids[0]!)));
    assert.ok(existsSync(join(tmp, 'keep', 'jobs', ids[3]!, 'results', 'samples.npy')));
  } finally {
    await stop(keep);
  }
});

test('serve refuses to start without a token, and binds loopback by default', () => {
  const r = spawnSync(process.execPath, ['bin/tweedie.js', 'serve', '--port', '0', '--data', join(tmp, 'none')], { encoding: 'utf8', env: { ...process.env, TWEEDIE_TOKEN: '' } });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /TWEEDIE_TOKEN or give --token-file/);
  assert.match(server.url, /^http:\/\/127\.0\.0\.1:/);
});
