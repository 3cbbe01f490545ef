import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { TweedieError } from '../src/core/errors.js';
import { runJobs } from '../src/volume/worker-pool.js';
import { sumRunner, type SumContext, type SumJob } from './helpers/pool-worker.js';

const entry = new URL('./helpers/pool-worker.js', import.meta.url);
const context: SumContext = { scale: 2, offsets: Float64Array.from([0.5, -1]) };
const jobs: SumJob[] = Array.from({ length: 5 }, (_, id) => ({ id, values: Array.from({ length: id + 1 }, (_, i) => i + id) }));
/** sum_i offsets[id % 2] + 2 values[i], by hand. */
const expected = [0.5, -1 + 2 * (1 + 2), 0.5 + 2 * (2 + 3 + 4), -1 + 2 * (3 + 4 + 5 + 6), 0.5 + 2 * (4 + 5 + 6 + 7 + 8)];

test('runJobs: results by id and progress, on worker threads for workers > 1 and in-process for 1', async () => {
  for (const workers of [1, 3]) {
    const progress = new Map<number, number[]>();
    const onProgress = (id: number, p: number) => progress.set(id, [...(progress.get(id) ?? []), p]);
    const r = await runJobs(jobs, { entry, context, runner: sumRunner, workers, label: 'test', onProgress });
    assert.deepEqual([...r.keys()].sort(), [0, 1, 2, 3, 4]);
    for (const j of jobs) {
      assert.equal(r.get(j.id)!.sum, expected[j.id]);
      assert.deepEqual(progress.get(j.id), j.values.map((_, i) => i + 1));
    }
    const threads = new Set([...r.values()].map((x) => x.thread));
    if (workers === 1) assert.deepEqual([...threads], [0], 'in-process: the main thread');
    else assert.ok(!threads.has(0), `worker threads only: ${[...threads]}`);
  }
});

test('runJobs: the first error rejects the run and terminates every worker', async () => {
  const marker = join(mkdtempSync(join(tmpdir(), 'tweedie-pool-')), 'hang-alive');
  const failing: SumJob[] = [{ id: 0, values: [1], fault: 'hang' }, { id: 1, values: [1], fault: 'throw' }, { id: 2, values: [1] }];
  await assert.rejects(runJobs(failing, { entry, context: { ...context, marker }, runner: sumRunner, workers: 2, label: 'test' }), (e) => e instanceof TweedieError && e.code === 'BAD_INPUT' && /job 1 failed/.test(e.message));
  await sleep(1500);
  assert.ok(!existsSync(marker), 'the worker with the hanging job was terminated');
  await assert.rejects(runJobs(jobs, { entry, context: { ...context, failOnStart: true }, runner: sumRunner, workers: 2, label: 'test' }), (e) => e instanceof TweedieError && e.code === 'BAD_CONFIG');
  await assert.rejects(runJobs([{ id: 0, values: [1], fault: 'exit' }, ...jobs.slice(1)], { entry, context, runner: sumRunner, workers: 2, label: 'test' }), /test worker \d exited with code 3/);
  await assert.rejects(runJobs(failing.slice(1), { entry, context, runner: sumRunner, workers: 1, label: 'test' }), /job 1 failed/);
});
