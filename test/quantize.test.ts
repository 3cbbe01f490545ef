import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeModel, encodeModel, floatValues } from '../src/models/onnx-proto.js';
import { loadOrt } from '../src/models/onnx.js';
import { quantizePerChannel, roundHalfEven, uint8Params } from '../src/quantize/arith.js';
import { calibrationSteps } from '../src/quantize/calibration.js';
import { buildQdq, planQuantization } from '../src/quantize/graph.js';

// int8 quantization (tweedie quantize, PTQ4DM): the arithmetic against hand-computed values, the QDQ graph against
// the float one within the bound its scales allow, onnx's own checker on a quantized shipped model, and bad input.

const FIXTURES = 'test/fixtures/onnx';
const tmp = () => mkdtempSync(join(tmpdir(), 'tweedie-quantize-'));
const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/tweedie.js', ...args], { encoding: 'utf8', timeout: 300_000 });
/** Run a Python snippet with the system interpreter (onnx 1.12, the independent checker); its stdout. */
function python(code: string, ...args: string[]): string {
  const r = spawnSync('/usr/bin/python3', ['-c', code, ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

test('round half to even and per-channel symmetric scales, by hand', () => {
  assert.deepEqual([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4, -2.6].map(roundHalfEven), [0, 2, 2, -0, -2, -2, 2, -3]);
  // Channel 0 holds [1, -2]: scale 2/127, values 1 / (2/127) = 63.5 -> 64 (half to even), -127.
  // Channel 1 holds [0.5, 0.25]: scale 0.5/127, values 127, 0.25 / (0.5/127) = 63.5 -> 64.
  const q = quantizePerChannel(Float32Array.of(1, -2, 0.5, 0.25), [2, 2], 0);
  assert.deepEqual([...q.scales], [Math.fround(2 / 127), Math.fround(0.5 / 127)]);
  assert.deepEqual([...q.values], [64, -127, 127, 64]);
  // Along axis 1 of [[1, -2], [0.5, 0.25]] the channels are the columns [1, 0.5] and [-2, 0.25].
  const cols = quantizePerChannel(Float32Array.of(1, -2, 0.5, 0.25), [2, 2], 1);
  assert.deepEqual([...cols.scales], [Math.fround(1 / 127), Math.fround(2 / 127)]);
  assert.deepEqual([...cols.values], [127, -127, 64, 16]);
  // uint8 over [-1, 3]: scale 4/255, zero point round(1 / (4/255)) = round(63.75) = 64; a range without 0 is widened to hold it.
  assert.deepEqual(uint8Params(-1, 3), { scale: 4 / 255, zeroPoint: 64 });
  assert.deepEqual(uint8Params(0.5, 2), { scale: 2 / 255, zeroPoint: 0 });
});

test('NDTC draws trajectory steps as trunc(K z), z ~ N(0.4, 0.4^2), clamped; uniform spreads them from 0 to K-1', () => {
  const n = 20000, K = 100;
  const k = calibrationSteps('ndtc', n, K, 3);
  // P(k = 0) = P(z < 1/K) (trunc toward zero, then clamp) = Phi((0.01 - 0.4) / 0.4); P(k = K-1) = P(z >= 0.99) = 1 - Phi(1.475).
  const share = (f: (v: number) => boolean) => k.filter(f).length / n;
  const se = (p: number) => 4 * Math.sqrt((p * (1 - p)) / n);
  assert.ok(Math.abs(share((v) => v === 0) - 0.1648) < se(0.1648), `P(k = 0) ${share((v) => v === 0)}`);
  assert.ok(Math.abs(share((v) => v === K - 1) - 0.0701) < se(0.0701), `P(k = K-1) ${share((v) => v === K - 1)}`);
  // Inside the clamps, P(40 <= k < 60) = P(0.4 <= z < 0.6) = Phi(0.5) - Phi(0) = 0.1915.
  assert.ok(Math.abs(share((v) => v >= 40 && v < 60) - 0.1915) < se(0.1915));
  const u = calibrationSteps('uniform', 11, 10, 0);
  assert.deepEqual([...u], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9]);
});

test('the QDQ Conv equals the float Conv within the bound of its scales, and ONNX Runtime runs it as QLinearConv', async () => {
  const ort = await loadOrt();
  const file = join(FIXTURES, 'conv_identity.onnx');
  const model = decodeModel(readFileSync(file), file);
  const plan = planQuantization(model, file);
  assert.deepEqual(plan.activations, ['x', 'h']);
  const N = 4, size = N * 3 * 36;
  let s = 1;
  const x = Float32Array.from({ length: size }, () => ((s = (s * 16807) % 2147483647) / 2147483647) * 2 - 1);
  const feeds = { x: new ort.Tensor('float32', x, [N, 3, 6, 6]) };
  const float = await ort.InferenceSession.create(file);
  const y = (await float.run(feeds)).y!.data as Float32Array;
  const range = (a: Float32Array) => [Math.min(...a), Math.max(...a)] as const;
  const px = uint8Params(...range(x)), py = uint8Params(...range(y));
  const qdq = buildQdq(model, plan, new Map([['x', px], ['h', py]]));
  const dir = tmp(), qFile = join(dir, 'q.onnx'), optFile = join(dir, 'opt.onnx');
  writeFileSync(qFile, encodeModel(qdq));
  const quant = await ort.InferenceSession.create(qFile, { graphOptimizationLevel: 'extended', optimizedModelFilePath: optFile });
  const yq = (await quant.run(feeds)).y!.data as Float32Array;
  // |x^w^ - xw| <= |w| sx/2 + |x| sw/2 + sx sw/4 per tap, the int32 bias rounds by sx sw/2, the output by sy/2.
  const w = floatValues(model.graph.initializer.find((t) => t.name === 'w')!);
  const X = Math.max(...x.map(Math.abs));
  const bound = [0, 1, 2, 3].map((c) => {
    const wc = w.subarray(c * 27, (c + 1) * 27), sw = Math.max(...wc.map(Math.abs)) / 127;
    return wc.reduce((acc, v) => acc + Math.abs(v) * px.scale / 2 + X * sw / 2 + px.scale * sw / 4, 0) + px.scale * sw / 2 + py.scale / 2;
  });
  let worst = 0, maxErr = 0;
  y.forEach((v, i) => {
    const c = Math.floor(i / 36) % 4, err = Math.abs(yq[i]! - v);
    maxErr = Math.max(maxErr, err);
    worst = Math.max(worst, err / (bound[c]! * (1 + 1e-5)));
  });
  assert.ok(worst <= 1, `error exceeds the bound by ${worst}x`);
  assert.ok(maxErr > 0, 'the quantized graph should differ from the float one');
  const ops = python('import onnx, sys; print(" ".join(n.op_type for n in onnx.load(sys.argv[1]).graph.node))', optFile).trim().split(' ');
  assert.ok(ops.includes('QLinearConv') && !ops.includes('Conv'), `ONNX Runtime's optimised graph: ${ops.join(', ')}`);
});

test('an op with no int8 kernel is left in float with one warning naming it, and the rest still runs', async () => {
  const file = join(FIXTURES, 'conv_transpose.onnx');
  const model = decodeModel(readFileSync(file), file);
  const plan = planQuantization(model, file);
  assert.equal(plan.warnings.length, 1);
  assert.match(plan.warnings[0]!, /^ConvTranspose .*left in float: 1 node \(up\)/);
  assert.deepEqual(plan.targets.map((t) => t.layer), ['conv']);
  const ort = await loadOrt();
  const qdq = buildQdq(model, plan, new Map([['x', uint8Params(-1, 1)], ['h', uint8Params(-2, 2)]]));
  const out = await (await ort.InferenceSession.create(encodeModel(qdq))).run({ x: new ort.Tensor('float32', new Float32Array(108).fill(0.5), [1, 3, 6, 6]) });
  assert.deepEqual(out.y!.dims, [1, 2, 12, 12]);
});

test('tweedie quantize writes a QDQ fmnist-32 that onnx.checker accepts, with its card and per-layer report', () => {
  const out = join(tmp(), 'fmnist-32-int8');
  const r = cli('quantize', '--model', 'weights/fmnist-32', '--out', out, '--calibration', '32', '--steps', '4', '--threads', '1', '--json');
  assert.equal(r.status, 0, r.stderr);
  const summary = JSON.parse(r.stdout);
  assert.match(r.stderr, /per-layer relative error on 8 held-out inputs/);
  const facts = JSON.parse(python(`
import hashlib, json, sys, onnx
src, out = sys.argv[1], sys.argv[2]
m = onnx.load(out + '/model.onnx')
onnx.checker.check_model(m, full_check=True)
onnx.shape_inference.infer_shapes(m, check_type=True, strict_mode=True)
g = m.graph
init = {t.name: t for t in g.initializer}
prod = {o: n for n in g.node for o in n.output}
convs = [n for n in g.node if n.op_type == 'Conv']
int8_weights = all(prod[n.input[1]].op_type == 'DequantizeLinear' and init[prod[n.input[1]].input[0]].data_type == onnx.TensorProto.INT8 for n in convs)
print(json.dumps({
  'int8_weights': int8_weights,
  'output_float': prod[g.output[0].name].op_type != 'DequantizeLinear',
  'linear_ops': sum(n.op_type in ('Conv', 'Gemm', 'MatMul') for n in onnx.load(src + '/model.onnx').graph.node),
  'sha256': hashlib.sha256(open(src + '/model.onnx', 'rb').read()).hexdigest(),
}))`, 'weights/fmnist-32', out));
  assert.ok(facts.int8_weights, 'every Conv reads int8 weights through DequantizeLinear');
  assert.ok(facts.output_float, 'the network output stays float');
  const card = JSON.parse(readFileSync(join(out, 'tweedie.json'), 'utf8'));
  assert.equal(card.quantized.scheme, 'ndtc');
  assert.equal(card.quantized.calibration, 32);
  assert.equal(card.quantized.source.model, 'weights/fmnist-32');
  assert.equal(card.quantized.source.sha256, facts.sha256);
  assert.equal(card.gradient, undefined);
  const report = JSON.parse(readFileSync(join(out, 'quantize-report.json'), 'utf8'));
  assert.equal(report.layers.length, facts.linear_ops);
  assert.deepEqual([summary.out, summary.scheme, summary.calibration, summary.layers, summary.output_relative_error], [out, 'ndtc', 32, facts.linear_ops, report.output_relative_error]);
  assert.ok(report.layers.every((l: { relative_error: number }) => l.relative_error > 0 && l.relative_error < 0.5));
  assert.ok(readFileSync(join(out, 'MODEL_CARD.md'), 'utf8').includes(`npx tweedie quantize --model weights/fmnist-32 --out ${out} --calibration 32 --scheme ndtc --steps 4 --seed 0`));
});

test('bad input: too few calibration inputs, an existing or nested --out, a bad scheme: one line, nothing written', () => {
  const d = tmp();
  const refused = (pattern: RegExp, ...args: string[]) => {
    const r = cli('quantize', '--model', 'weights/fmnist-32', ...args);
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, pattern);
  };
  refused(/--calibration 31 is too few .* at least 32/, '--out', join(d, 'a'), '--calibration', '31');
  assert.ok(!existsSync(join(d, 'a')));
  mkdirSync(join(d, 'b'));
  refused(/--out .*b already exists; name a new folder/, '--out', join(d, 'b'));
  refused(/--out weights\/fmnist-32 already exists/, '--out', 'weights/fmnist-32');
  refused(/--out weights\/fmnist-32\/int8 lies inside --model weights\/fmnist-32/, '--out', 'weights/fmnist-32/int8');
  refused(/--scheme must be ndtc or uniform/, '--out', join(d, 'c'), '--scheme', 'normal');
  assert.ok(!existsSync('weights/fmnist-32/int8'));
});
