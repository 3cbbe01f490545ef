import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { countOnnxFlops, flopsOfProfile } from '../src/models/onnx-flops.js';
import { loadOrt } from '../src/models/onnx.js';
import { packageRoot } from '../src/package-root.js';

// The oracle is PyTorch: training/flops_fixture.py counts the same convention with forward hooks on the recipe's
// own modules (test/fixtures/flops/flops.json); here the count comes from ONNX Runtime's profile of the exported graph.
const expected = JSON.parse(readFileSync(join(packageRoot, 'test', 'fixtures', 'flops', 'flops.json'), 'utf8')) as Record<string, { shape: number[]; flops: number }>;

for (const name of ['fmnist-32', 'brain-64']) {
  test(`FLOPs of ${name} counted from ONNX Runtime's executed graph equal PyTorch's count, per image at batch 3`, async () => {
    const ort = await loadOrt();
    const { shape, flops } = expected[name]!;
    const batch = 3;
    const feeds = {
      sample: new ort.Tensor('float32', new Float32Array(batch * shape.reduce((a, b) => a * b, 1)), [batch, ...shape]),
      timestep: new ort.Tensor('float32', new Float32Array(batch).fill(500), [batch]),
    };
    const counted = await countOnnxFlops(ort, join(packageRoot, 'weights', name, 'model.onnx'), feeds);
    assert.equal(counted, batch * flops);
  });
}

test('a matrix product counts 2 M K N whatever its transposes; a counted op without shapes is refused by name', () => {
  const node = (op: string, ins: number[][], out: number[]) => ({
    cat: 'Node', name: `n_${op}_kernel_time`, args: { op_name: op, input_type_shape: ins.map((s) => ({ float: s })), output_type_shape: [{ float: out }] },
  });
  // A [2, 5, 7] x B^T with B stored [2, 3, 7] -> [2, 5, 3]: 2 * 2*5*3 * 7.
  assert.equal(flopsOfProfile([node('FusedMatMul', [[2, 5, 7], [2, 3, 7]], [2, 5, 3])]), 2 * 30 * 7);
  // B broadcast over the batch.
  assert.equal(flopsOfProfile([node('MatMul', [[4, 5, 7], [7, 3]], [4, 5, 3])]), 2 * 60 * 7);
  // Grouped convolution: W [8, 2, 3, 3] (groups 2, 4 input channels), output [1, 8, 6, 6].
  assert.equal(flopsOfProfile([node('Conv', [[1, 4, 6, 6], [8, 2, 3, 3], [8]], [1, 8, 6, 6])]), 2 * 288 * 18);
  // Gemm with a pre-packed weight: K from A.
  assert.equal(flopsOfProfile([node('Gemm', [[16, 64], [32]], [16, 32])]), 2 * 16 * 32 * 64);
  // Not counted: elementwise ops; fences and session events are skipped.
  assert.equal(flopsOfProfile([node('Add', [[3, 3], [3, 3]], [3, 3]), { cat: 'Session', name: 'model_run' }]), 0);
  assert.throws(() => flopsOfProfile([{ cat: 'Node', name: 'c_kernel_time', args: { op_name: 'Conv' } }]), /cannot count the FLOPs of node c_kernel_time \(Conv\)/);
});
