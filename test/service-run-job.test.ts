import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataFolder } from '../src/service/data-folder.js';
import { checkedSpec } from '../src/service/job-spec.js';
import { runJob } from '../src/service/run-job.js';

// runJob in this process, as a worker runs it: the model a job loads serves the next jobs of the process.
test('jobs of one process share one loaded ONNX model per model and thread count; each attempt starts with empty results', async () => {
  const data = new DataFolder(mkdtempSync(join(tmpdir(), 'tweedie-run-job-')));
  const models = new Map<string, Promise<unknown>>();
  const hooks = { onProgress: () => {}, cancelled: () => false, models };
  const run = async (id: string, options: Record<string, unknown>) => {
    data.writeInputs(id, []);
    return runJob(id, checkedSpec({ task: 'sample', model: 'gaussian-exact', steps: 2, n: 2, ...options }, []), data, hooks);
  };
  const a = await run('a', { seed: 1 });
  assert.equal(models.size, 1);
  const first = [...models.values()][0];
  await run('b', { seed: 2 });
  assert.equal(models.size, 1);
  assert.equal([...models.values()][0], first, 'the same loaded model');
  await run('c', { seed: 2, threads: 1 });
  assert.equal(models.size, 2, 'another thread count is another session');
  assert.deepEqual(a.results, ['samples.npy']);
  // A second attempt of job a (a retry) replaces its results: one file, not two.
  await runJob('a', checkedSpec({ task: 'sample', model: 'gaussian-exact', steps: 2, n: 2, out: 'other.npy' }, []), data, hooks);
  assert.deepEqual(readdirSync(data.resultDir('a')), ['other.npy']);
});
