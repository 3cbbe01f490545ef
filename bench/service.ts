import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fail } from '../src/core/errors.js';
import { packageRoot } from '../src/package-root.js';
import { api, redisAvailable, redisServer, serve, stop, submit, tweedie, untilState, waitFor, type Proc } from './lib/service-procs.js';

export const description =
  'tweedie serve --redis with real worker processes: 200 small jobs at once on 2 workers (latency, jobs/s, overhead against the CLI one job after another), ' +
  'one volume split over 1, 2 and 4 workers (slices/s), and faults (a worker SIGKILLed, Redis restarted, the server restarted mid-run: jobs lost or duplicated)';

const CH2 = '/usr/share/mricron/templates/ch2.nii.gz';
const LOAD_JOBS = 200;
/** CLI runs timed for the comparison (each is a process start; the mean stands for all LOAD_JOBS). */
const CLI_RUNS = Number(process.env.TWEEDIE_BENCH_CLI_N ?? 20);
/** The split volume: bench volume's slab (64 slices x 20 steps), so the ratio measures the work, not each part's fixed cost. */
const SPLIT_SLICES: [number, number] = [40, 104], SPLIT_STEPS = 20;
const small = (seed: number) => ({ task: 'sample', model: 'gmm:mixture-2d.json', steps: 20, n: 4, seed });
const mixture = () => ({ name: 'mixture-2d.json', bytes: readFileSync(join(packageRoot, 'examples', 'mixture-2d.json')) });

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};
const r3 = (x: number) => Math.round(x * 1000) / 1000;

type Status = Record<string, any>;

/** Jobs' final states; counts of done, failed, lost (no record), duplicated (a job run to completion twice). */
async function outcome(url: string, ids: string[], workers: Proc[], ms: number): Promise<{ statuses: Status[]; done: number; lost: number; duplicated: number; retried: number }> {
  const statuses: Status[] = [];
  for (const id of ids) {
    const r = await api(url, `/jobs/${id}`);
    statuses.push(r.status === 404 ? { id, state: 'lost' } : await untilState(url, id, ['done', 'failed', 'cancelled'], ms));
  }
  const logs = workers.map((w) => w.log()).join('\n');
  const finishedTwice = ids.filter((id) => (logs.match(new RegExp(`job ${id} done`, 'g')) ?? []).length > 1).length;
  return {
    statuses, done: statuses.filter((s) => s.state === 'done' && s.results.length === 1).length, lost: statuses.filter((s) => s.state === 'lost').length,
    duplicated: finishedTwice, retried: statuses.filter((s) => s.attempts > 1).length,
  };
}

export async function run(opts: { json: boolean; log: (m: string) => void }): Promise<Record<string, unknown>> {
  if (!redisAvailable) fail('UNREADABLE_FILE', 'redis-server is not installed; apt-get install redis-server');
  const dir = mkdtempSync(join(tmpdir(), 'tweedie-bench-service-'));
  const data = join(dir, 'data');
  const procs: Proc[] = [];
  let redis = await redisServer(dir, true);
  const worker = (stalledS = 10) => {
    const w = tweedie(['worker', '--redis', redis.url, '--data', data, '--stalled-s', String(stalledS)]);
    procs.push(w);
    return w;
  };
  const startServer = async () => {
    const s = await serve(['--redis', redis.url, '--data', data, '--keep-jobs', '100000']);
    procs.push(s);
    return s;
  };
  const ready = (ws: Proc[]) => waitFor(() => ws.every((w) => /ready/.test(w.log())) || undefined, 60_000, () => 'workers did not start');
  try {
    // ---- load: LOAD_JOBS small jobs at once, 2 workers.
    let server = await startServer();
    let workers = [worker(), worker()];
    await ready(workers);
    opts.log(`load: ${LOAD_JOBS} sample jobs (gmm, 20 steps, 4 samples) at once on 2 workers ...`);
    const t0 = Date.now();
    const ids = await Promise.all(Array.from({ length: LOAD_JOBS }, async (_, i) => ((await (await submit(server.url, small(i), [mixture()])).json()) as { id: string }).id));
    const load = await outcome(server.url, ids, workers, 300_000);
    const wall = (Math.max(...load.statuses.map((s) => Date.parse(s.finished))) - t0) / 1000;
    const latency = load.statuses.map((s) => (Date.parse(s.finished) - Date.parse(s.created)) / 1000);
    opts.log(`  ${load.done}/${LOAD_JOBS} done in ${wall.toFixed(1)} s`);
    opts.log(`CLI: ${CLI_RUNS} of the same jobs one after another ...`);
    const cliSeconds: number[] = [];
    for (let i = 0; i < CLI_RUNS; i++) {
      const t = Date.now();
      const r = spawnSync(process.execPath, [join(packageRoot, 'bin', 'tweedie.js'), 'sample', '--model', `gmm:${join(packageRoot, 'examples', 'mixture-2d.json')}`, '--steps', '20', '-n', '4', '--seed', String(i), '--out', join(dir, 'cli.npy')]);
      if (r.status !== 0) fail('BAD_INPUT', `the CLI failed: ${String(r.stderr)}`);
      cliSeconds.push((Date.now() - t) / 1000);
    }
    const cliMean = cliSeconds.reduce((a, b) => a + b, 0) / CLI_RUNS;
    const loadRow = {
      jobs: LOAD_JOBS, workers: 2, done: load.done, lost: load.lost, duplicated: load.duplicated, retried: load.retried,
      seconds: r3(wall), jobs_per_s: r3(load.done / wall), p50_latency_s: r3(quantile(latency, 0.5)), p95_latency_s: r3(quantile(latency, 0.95)),
      cli_seconds_per_job: r3(cliMean), cli_runs_timed: CLI_RUNS, overhead_ratio: r3(wall / (cliMean * LOAD_JOBS)),
    };

    // ---- faults, each on 20 jobs of about a second.
    const faultJob = (seed: number) => ({ task: 'sample', model: 'gmm:mixture-2d.json', steps: 200, n: 1000, seed });
    const faults: Record<string, unknown>[] = [];
    const batch = async (url: string) => Promise.all(Array.from({ length: 20 }, async (_, i) => ((await (await submit(url, faultJob(i), [mixture()])).json()) as { id: string }).id));
    const faultRow = async (name: string, url: string, jobIds: string[], t: number) => {
      const o = await outcome(url, jobIds, procs, 600_000);
      const row = { fault: name, jobs: jobIds.length, done: o.done, lost: o.lost, duplicated: o.duplicated, retried: o.retried, seconds: r3((Date.now() - t) / 1000) };
      opts.log(`  ${JSON.stringify(row)}`);
      faults.push(row);
    };
    opts.log('fault: SIGKILL a worker mid-run (its jobs wait --stalled-s 10, then go to the other) ...');
    let t = Date.now();
    const attempts = (w: Proc) => (w.log().match(/ attempt /g) ?? []).length;
    const before = attempts(workers[0]!);
    let jobIds = await batch(server.url);
    await waitFor(() => attempts(workers[0]!) > before || undefined, 60_000, () => 'no job started');
    await stop(workers[0], 'SIGKILL');
    workers = [workers[1]!, worker()];
    await faultRow('worker SIGKILL', server.url, jobIds, t);

    opts.log('fault: restart Redis mid-run (appendonly yes) ...');
    t = Date.now();
    jobIds = await batch(server.url);
    await new Promise((r) => setTimeout(r, 2000));
    await stop(redis.proc);
    redis = await redisServer(dir, true, redis.port);
    await faultRow('redis restart', server.url, jobIds, t);

    opts.log('fault: restart the server mid-run ...');
    t = Date.now();
    jobIds = await batch(server.url);
    await new Promise((r) => setTimeout(r, 2000));
    await stop(server);
    server = await startServer();
    await faultRow('server restart', server.url, jobIds, t);
    await Promise.all(workers.map((w) => stop(w)));

    // ---- scaling: one volume split over 1, 2, 4 worker processes.
    const scaling: Record<string, unknown>[] = [];
    if (existsSync(CH2)) {
      const vol = { name: 'ch2.nii.gz', bytes: readFileSync(CH2) };
      for (const k of [1, 2, 4]) {
        const ws = Array.from({ length: k }, () => worker(120));
        await ready(ws);
        const count = SPLIT_SLICES[1] - SPLIT_SLICES[0];
        opts.log(`scaling: ${count} slices of ch2 (mri 4x, ddnm ${SPLIT_STEPS} steps) split over ${k} worker${k > 1 ? 's' : ''} ...`);
        const id = ((await (await submit(server.url, { task: 'reconstruct', truth: 'ch2.nii.gz', modality: 'mri', slices: SPLIT_SLICES.join(':'), steps: SPLIT_STEPS, 'tv-z': 0, workers: 1, split: k }, [vol])).json()) as { id: string }).id;
        const s = await untilState(server.url, id, ['done', 'failed'], 600_000);
        if (s.state !== 'done') fail('BAD_INPUT', `the split reconstruct failed: ${s.error}`);
        const seconds = (Date.parse(s.finished) - Date.parse(s.created)) / 1000;
        const row = { workers: k, slices: count, steps: SPLIT_STEPS, seconds: r3(seconds), slices_per_s: r3(count / seconds) };
        opts.log(`  ${JSON.stringify(row)}`);
        scaling.push(row);
        await Promise.all(ws.map((w) => stop(w)));
      }
    }
    const result = { cores: (await import('node:os')).availableParallelism(), load: loadRow, faults, scaling };
    if (!opts.json) {
      process.stdout.write(`load: ${JSON.stringify(loadRow)}\n`);
      for (const f of faults) process.stdout.write(`fault: ${JSON.stringify(f)}\n`);
      for (const s of scaling) process.stdout.write(`scaling: ${JSON.stringify(s)}\n`);
    }
    return result;
  } finally {
    await Promise.all(procs.map((p) => stop(p, 'SIGKILL')));
    await stop(redis.proc);
    rmSync(dir, { recursive: true, force: true });
  }
}
