import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseNpy } from '../src/io/npy.js';
import { GaussianMixture } from '../src/models/gmm.js';
import { OnnxDenoiser } from '../src/models/onnx.js';
import { generate } from '../src/recipes/generate.js';
import { api, serve, stop, submit, untilState, type Proc } from '../bench/lib/service-procs.js';

// `tweedie serve` of a package whose weights/ holds the class-conditional ONNX fixture (the closed-form denoisers of a
// class-conditional Gaussian mixture, test/fixtures/onnx/make_class_gaussian.py) and the unconditional gaussian-exact.
const tmp = mkdtempSync(join(tmpdir(), 'tweedie-service-guidance-'));
const FIXTURE = 'test/fixtures/class-gaussian';
function packageWithFixture(): string {
  const root = join(tmp, 'package');
  mkdirSync(join(root, 'weights'), { recursive: true });
  for (const part of ['bin', 'dist', 'package.json']) cpSync(part, join(root, part), { recursive: true });
  symlinkSync(resolve('node_modules'), join(root, 'node_modules'));
  cpSync(FIXTURE, join(root, 'weights', 'class-gaussian'), { recursive: true });
  cpSync('weights/gaussian-exact', join(root, 'weights', 'gaussian-exact'), { recursive: true });
  return root;
}
const data = join(tmp, 'data');
let server: Proc & { url: string };
before(async () => {
  server = await serve(['--data', data], packageWithFixture());
});
after(() => stop(server));

test('a sample job with a class per sample and guidance: the exact class mixture\'s guided samples', async () => {
  const options = { task: 'sample', model: 'class-gaussian', sampler: 'dpm-solver++', steps: 10, n: 4, seed: 5, class: '0,1,2,1', 'guidance-scale': 3, 'guidance-interval': '0.1,10' };
  const r = await submit(server.url, options);
  assert.equal(r.status, 202);
  const { id } = (await r.json()) as { id: string };
  const done = await untilState(server.url, id, ['done', 'failed']);
  assert.equal(done.state, 'done', done.error);
  const got = parseNpy(new Uint8Array(await (await api(server.url, `/jobs/${id}/results/samples.npy`)).arrayBuffer()));
  // The oracle: the same recipe on the mixture the fixture was written from, on the fixture's own path.
  const path = (await OnnxDenoiser.load(FIXTURE, { threads: 1 })).path;
  const exact = GaussianMixture.fromJsonText(readFileSync(join(FIXTURE, 'prior.json'), 'utf8')).asDenoiser(path);
  const run = (guidance: object) => generate({ model: exact, sampler: 'dpm-solver++', steps: 10, n: 4, seed: 5, condition: { class: [0, 1, 2, 1] }, ...guidance });
  const guided = (await run({ guidance: { scale: 3, interval: [0.1, 10] } })).x.data, plain = (await run({})).x.data;
  const diff = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i]!)));
  assert.deepEqual(got.shape, [4, 1, 2, 2]);
  assert.ok(diff(got.data, guided) < 2e-3, `job vs exact guided samples: ${diff(got.data, guided)}`);
  assert.ok(diff(guided, plain) > 0.05, 'guidance changes the samples (the check could fail)');
});

test('class and guidance options are refused on submission in one line, nothing written: the schema\'s forms and the model\'s conditions', async () => {
  const doc = (await (await api(server.url, '/openapi.json')).json()) as any;
  const sample = doc.paths['/jobs'].post.requestBody.content['multipart/form-data'].schema.properties.options.oneOf.find((t: any) => t.properties.task.const === 'sample');
  assert.deepEqual(sample.properties.class.oneOf[0], { type: 'integer', minimum: 0 });
  assert.deepEqual(sample.properties['guidance-scale'].oneOf[0], { type: 'number', minimum: 0 });
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ class: 'a' }, /^options\.class must be an integer class >= 0, or one per sample as a string like "0,3,3", got "a"$/],
    [{ class: -1 }, /^options\.class must be an integer class >= 0/],
    [{ class: 1, 'guidance-scale': -2 }, /^options\.guidance-scale must be a number >= 0/],
    [{ class: 1, 'guidance-scale': 2, 'guidance-interval': '1' }, /^options\.guidance-interval must be a string "LO,HI"/],
    [{ class: 3 }, /^--class 3 is outside the model's classes; give an integer 0\.\.2$/],
    [{ class: '0,1', n: 3 }, /--class has 2 values; --model class-gaussian expects an integer class 0\.\.2, one for all samples or one for each of the 3/],
    [{ 'guidance-scale': 2 }, /^--guidance-scale needs a condition to guide towards \(--class\)$/],
    [{ class: 1, 'guidance-scale': 2, 'guidance-interval': '5,1' }, /^--guidance-interval must be lo,hi with 0 <= lo < hi/],
    [{ model: 'gaussian-exact', class: 1 }, /^--class: --model gaussian-exact takes no class condition \(its tweedie\.json declares no "conditioning"\); drop --class$/],
    [{ model: 'gaussian-exact', 'guidance-scale': 2 }, /^--guidance-scale needs a condition to guide towards \(the model declares none\)$/],
  ];
  const before = readdirSync(join(data, 'jobs')).length;
  for (const [o, message] of cases) {
    const r = await submit(server.url, { task: 'sample', model: 'class-gaussian', ...o });
    const body = (await r.json()) as { error: string };
    assert.equal(r.status, 400, `${JSON.stringify(o)}: ${body.error}`);
    assert.match(body.error, message);
    assert.equal(body.error.split('\n').length, 1);
  }
  assert.equal(readdirSync(join(data, 'jobs')).length, before, 'no job folder for a refused job');
});
