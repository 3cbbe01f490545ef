import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor } from '../src/core/tensor.js';
import { TweedieError } from '../src/core/errors.js';
import { readNpy } from '../src/io/npy.js';
import { OnnxClassifier } from '../src/models/classifier-onnx.js';
import { packageRoot } from '../src/package-root.js';

const DIR = join(packageRoot, 'weights', 'fmnist-classifier');

const isError = (code: string, words: RegExp) => (e: unknown): boolean =>
  e instanceof TweedieError && e.code === code && words.test(e.message) && !e.message.includes('\n');

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

test('fmnist-classifier on onnxruntime-node meets the PyTorch module (training/fmnist_classifier.py) on 8 test images', async () => {
  const ref = JSON.parse(readFileSync(join(packageRoot, 'test', 'fixtures', 'fmnist-classifier', 'reference.json'), 'utf8')) as { count: number; logits: number[][]; features: number[][] };
  const x = readNpy(join(packageRoot, 'examples', 'fmnist-t10k-64.npy')).sliceBatch(0, ref.count);
  const clf = await OnnxClassifier.load(DIR, { threads: 1 });
  const { logits, features } = await clf.classify(x);
  assert.deepEqual(logits.shape, [ref.count, 10]);
  assert.deepEqual(features.shape, [ref.count, ref.features[0]!.length]);
  assert.equal(clf.classes.length, 10);
  // float32 kernels in a different order, and the fixture's 6 decimals: 1e-4.
  assert.ok(maxAbsDiff(logits.data, ref.logits.flat()) < 1e-4, 'logits');
  assert.ok(maxAbsDiff(features.data, ref.features.flat()) < 1e-4, 'features');
  // Batching does not change the results (one image per run against all in one).
  const one = await clf.classify(x, 1);
  assert.ok(maxAbsDiff(one.logits.data, logits.data) < 1e-5, 'logits, batch 1');
  assert.ok(maxAbsDiff(one.features.data, features.data) < 1e-5, 'features, batch 1');
  await clf.release();
});

test('OnnxClassifier refuses images of the wrong shape and a folder without classifier.json in one line', async () => {
  const clf = await OnnxClassifier.load(DIR, { threads: 1 });
  await assert.rejects(clf.classify(new Tensor([2, 1, 28, 28])), isError('BAD_SHAPE', /shape \[N, 1, 32, 32\] but got \[2, 1, 28, 28\]/));
  await clf.release();
  const dir = mkdtempSync(join(tmpdir(), 'tweedie-clf-'));
  try {
    await assert.rejects(OnnxClassifier.load(dir), isError('UNREADABLE_FILE', /classifier\.json/));
    writeFileSync(join(dir, 'classifier.json'), JSON.stringify({ inputs: { image: { shape: ['N', 1, 32, 32] } }, classes: ['a'] }));
    await assert.rejects(OnnxClassifier.load(dir), isError('BAD_CONFIG', /"classes" must list at least two/));
  } finally {
    rmSync(dir, { recursive: true });
  }
});
