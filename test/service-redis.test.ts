import { test, after, afterEach, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { readNifti } from '../src/io/nifti.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { api, jobEvents, redisAvailable, redisServer, serve, stop, submit, tweedie, untilState, waitFor, type Proc } from '../bench/lib/service-procs.js';

// Redis mode with real parts: a redis-server on a free loopback port, `tweedie serve --redis` and
// `tweedie worker` processes sharing one data folder.
const tmp = mkdtempSync(join(tmpdir(), 'tweedie-service-redis-'));
const data = join(tmp, 'data');
const mixture = { name: 'mixture-2d.json', bytes: readFileSync('examples/mixture-2d.json') };
const procs: (Proc | undefined)[] = [];
let redis: Awaited<ReturnType<typeof redisServer>>;
// A missing redis-server or ch2 fails these tests, naming the package: a skip would hide the missing install.
before(async () => {
  assert.ok(redisAvailable, 'redis-server is not installed: apt-get install redis-server (.ci/run installs it)');
  redis = await redisServer(tmp);
});
// Each test brings its own server and workers.
afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => stop(p, 'SIGKILL')));
});
after(() => stop(redis?.proc));

// A short --stalled-s lets the SIGKILL test see its job retried soon; it must exceed a job's longest
// stretch without a step (reading a NIfTI volume blocks the event loop for seconds on a loaded machine).
const worker = (stalledS = '2') => {
  const w = tweedie(['worker', '--redis', redis.url, '--data', data, '--stalled-s', stalledS]);
  procs.push(w);
  return w;
};
const server = async () => {
  const s = await serve(['--redis', redis.url, '--data', data]);
  procs.push(s);
  return s;
};
const idOf = async (r: Response) => {
  assert.equal(r.status, 202, await r.clone().text());
  return ((await r.json()) as { id: string }).id;
};

test('jobs queued on Redis survive a server restart and run on two workers, each once, as the CLI runs them', async () => {
  let s = await server();
  const ids: string[] = [];
  for (let seed = 0; seed < 6; seed++) ids.push(await idOf(await submit(s.url, { task: 'sample', model: 'gmm:mixture-2d.json', steps: 20, n: 3, seed }, [mixture])));
  assert.equal(((await (await api(s.url, `/jobs/${ids[0]}`)).json()) as { state: string }).state, 'queued', 'no worker yet');
  await stop(s);
  s = await server();
  const w1 = worker(), w2 = worker();
  for (const id of ids) {
    const st = await untilState(s.url, id, ['done', 'failed'], 60_000);
    assert.equal(st.state, 'done', st.error);
    assert.equal(st.attempts, 1);
    assert.deepEqual(st.results, ['samples.npy']);
  }
  const listed = ((await (await api(s.url, '/jobs')).json()) as { jobs: { id: string }[] }).jobs.map((j) => j.id);
  assert.deepEqual([...listed].sort(), [...ids].sort(), 'none lost, none duplicated');
  const ran = (w: Proc) => ids.filter((id) => w.log().includes(`job ${id}`));
  assert.equal(ran(w1).length + ran(w2).length, ids.length, 'each job ran once');
  const ref = join(tmp, 'cli.npy');
  const c = spawnSync(process.execPath, ['bin/tweedie.js', 'sample', '--model', 'gmm:examples/mixture-2d.json', '--steps', '20', '-n', '3', '--seed', '5', '--out', ref]);
  assert.equal(c.status, 0, String(c.stderr));
  const got = new Uint8Array(await (await api(s.url, `/jobs/${ids[5]}/results/samples.npy`)).arrayBuffer());
  assert.deepEqual(got, new Uint8Array(readFileSync(ref)));
});

test('a worker killed (SIGKILL) mid-job: the job is retried on the other worker and completes with one result', async () => {
  const s = await server();
  const workers = [worker(), worker()];
  const id = await idOf(await submit(s.url, { task: 'sample', model: 'gmm:mixture-2d.json', steps: 1000, n: 6000, seed: 1 }, [mixture]));
  await untilState(s.url, id, ['running']);
  const victim = await waitFor(() => workers.find((w) => w.log().includes(`job ${id}`)), 10_000, () => 'no worker took the job');
  await waitFor(async () => ((((await (await api(s.url, `/jobs/${id}`)).json()) as any).progress?.done ?? 0) > 0 ? true : undefined), 20_000, () => 'no progress');
  await stop(victim, 'SIGKILL');
  const st = await untilState(s.url, id, ['done', 'failed'], 120_000);
  assert.equal(st.state, 'done', st.error);
  assert.ok(st.attempts >= 2, `attempts ${st.attempts}`);
  const other = workers.find((w) => w !== victim)!;
  assert.match(other.log(), new RegExp(`job ${id}`));
  assert.deepEqual(readdirSync(join(data, 'jobs', id, 'results')), ['samples.npy'], 'one result, no leftovers of the killed attempt');
});

test('cancel in Redis mode: a queued job never runs, a running one stops', async () => {
  const s = await server();
  worker();
  const a = await idOf(await submit(s.url, { task: 'sample', model: 'gmm:mixture-2d.json', steps: 1000, n: 20000 }, [mixture]));
  await untilState(s.url, a, ['running']);
  const b = await idOf(await submit(s.url, { task: 'sample', model: 'gmm:mixture-2d.json', steps: 1000, n: 20000 }, [mixture]));
  assert.equal(((await (await api(s.url, `/jobs/${b}`, { method: 'DELETE' })).json()) as { state: string }).state, 'cancelled');
  await api(s.url, `/jobs/${a}`, { method: 'DELETE' });
  const sa = await untilState(s.url, a, ['cancelled', 'done', 'failed'], 30_000);
  assert.equal(sa.state, 'cancelled');
  assert.deepEqual(sa.results, []);
  const sb = await untilState(s.url, b, ['cancelled', 'done', 'failed'], 30_000);
  assert.equal(sb.state, 'cancelled');
});

/** The running events' progress never goes back, and the stream ends with the finished job. */
function checkEvents(seen: Record<string, any>[], last: string): Record<string, any>[] {
  assert.equal(seen.at(-1)!.state, last, JSON.stringify(seen.at(-1)));
  const running = seen.filter((e) => e.state === 'running' && e.progress);
  const done = running.map((e) => e.progress.done);
  assert.deepEqual(done, [...done].sort((a, b) => a - b), 'progress never goes back');
  return running;
}

test('server-sent events in Redis mode: the progress a worker process reports reaches the server\'s stream, which ends with the job', async () => {
  const s = await server();
  worker();
  const id = await idOf(await submit(s.url, { task: 'sample', model: 'gmm:mixture-2d.json', steps: 1000, n: 1000 }, [mixture]));
  const running = checkEvents(await jobEvents(s.url, id), 'done');
  assert.ok(running.length >= 2, `${running.length} progress events while running`);
  assert.equal(running[0].progress.total, 1000 * 16, '16 batches of 64 x 1000 steps');
});

const ch2 = '/usr/share/mricron/templates/ch2.nii.gz';
test('a volume split into slice ranges over two workers is put back in order: the voxels of the unsplit CLI run', async () => {
  assert.ok(existsSync(ch2), `${ch2} is missing: apt-get install mricron-data (.ci/run installs it)`);
  const s = await server();
  const w1 = worker('60'), w2 = worker('60');
  const options = { task: 'reconstruct', truth: 'ch2.nii.gz', modality: 'mri', slices: '80:84', steps: 3, 'tv-z': 0, batch: 2, workers: 1, seed: 4, out: 'recon.nii.gz' };
  const id = await idOf(await submit(s.url, { ...options, split: 2 }, [{ name: 'ch2.nii.gz', bytes: readFileSync(ch2) }]));
  const events = jobEvents(s.url, id);
  const st = await untilState(s.url, id, ['done', 'failed'], 120_000);
  assert.equal(st.state, 'done', `${st.error}\n${w1.log()}\n${w2.log()}`);
  assert.deepEqual(st.results, ['recon.nii.gz']);
  assert.deepEqual(st.metrics.parts.map((p: { slices: number[] }) => p.slices), [[80, 82], [82, 84]]);
  assert.ok([w1, w2].every((w) => /job .* \(reconstruct\)/.test(w.log())), 'both workers ran a part');
  const running = checkEvents(await events, 'done');
  assert.ok(running.some((e) => e.progress.slices_done > 0), 'the parts\' summed progress reaches the stream');
  const got = join(tmp, 'split.nii.gz');
  writeFileSync(got, new Uint8Array(await (await api(s.url, `/jobs/${id}/results/recon.nii.gz`)).arrayBuffer()));
  const ref = join(tmp, 'whole.nii.gz');
  const c = spawnSync(process.execPath, ['bin/tweedie.js', 'reconstruct', '--truth', ch2, '--modality', 'mri', '--slices', '80:84', '--steps', '3', '--tv-z', '0', '--batch', '2', '--workers', '1', '--seed', '4', '--out', ref]);
  assert.equal(c.status, 0, String(c.stderr));
  const a = readNifti(got), b = readNifti(ref);
  assert.deepEqual(a.dims, b.dims);
  assert.deepEqual(a.affine, b.affine);
  const [x, y] = b.dims as [number, number];
  assert.ok(b.data.subarray(80 * x * y, 84 * x * y).some((v) => v !== 0), 'the reference has the slices');
  assert.deepEqual(a.data, b.data);
});
