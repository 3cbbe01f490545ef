import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TweedieError } from '../src/core/errors.js';
import { NoiseSource } from '../src/core/rng.js';
import { Tensor } from '../src/core/tensor.js';
import { cropItems, modelGrid, overlayItems, paddedShape, padItems, takesItems } from '../src/models/layout.js';
import { parseModelCard } from '../src/models/model-spec.js';
import { OnnxDenoiser } from '../src/models/onnx.js';
import { OnnxWebDenoiser } from '../src/models/onnx-web.js';
import type { OrtDenoiser } from '../src/models/ort-denoiser.js';
import { parseSchedulerConfig } from '../src/paths/scheduler-config.js';

const FIELD = 'weights/gaussian-field';
const fieldPrior = JSON.parse(readFileSync(join(FIELD, 'prior.json'), 'utf8')) as { mean: number; var: number };

/** a(t), s(t) of the DDPM linear path at an integer timestep, from the betas (independent of tweedie's paths). */
export function ddpmPoint(t: number): { a: number; s: number } {
  let abar = 1;
  for (let i = 0; i <= t; i++) abar *= 1 - (1e-4 + ((0.02 - 1e-4) * i) / 999);
  return { a: Math.sqrt(abar), s: Math.sqrt(1 - abar) };
}

test('pad to the multiple and crop back: round trip, centred, background around, any leading dims', () => {
  assert.deepEqual(paddedShape([1, 37, 45], 8), [1, 40, 48]);
  assert.deepEqual(paddedShape([3, 5, 16], 8), [3, 8, 16]);
  const x = new NoiseSource(3).normal([2, 3, 5, 7], 0);
  const big = padItems(x, [3, 8, 12], -1);
  assert.deepEqual(big.shape, [2, 3, 8, 12]);
  // Centred: rows 1..5, columns 2..8 of each plane hold x; -1 elsewhere.
  let inside = 0;
  for (let b = 0; b < 2; b++) for (let c = 0; c < 3; c++) for (let i = 0; i < 8; i++) for (let j = 0; j < 12; j++) {
    const v = big.data[((b * 3 + c) * 8 + i) * 12 + j]!;
    if (i >= 1 && i < 6 && j >= 2 && j < 9) {
      assert.equal(v, x.data[((b * 3 + c) * 5 + i - 1) * 7 + j - 2]);
      inside++;
    } else assert.equal(v, -1);
  }
  assert.equal(inside, x.size);
  assert.deepEqual(Array.from(cropItems(big, [3, 5, 7]).data), Array.from(x.data));
  // overlay writes the centre back in place.
  const zeros = Tensor.zeros([2, 3, 8, 12]);
  assert.deepEqual(Array.from(cropItems(overlayItems(zeros, x), [3, 5, 7]).data), Array.from(x.data));
  assert.throws(() => padItems(x, [3, 4, 12], 0), (e: unknown) => e instanceof TweedieError && e.code === 'BAD_SHAPE');
  assert.throws(() => cropItems(x, [2, 5, 7]), (e: unknown) => e instanceof TweedieError && e.code === 'BAD_SHAPE');
});

test('which sizes a model takes: fixed, analytic and layout models', () => {
  const fixed = { itemShape: [1, 64, 64] };
  const field = { itemShape: [1, 32, 32], layout: { multiple: 8, background: -1 } };
  assert.ok(takesItems(fixed, [1, 64, 64]) && !takesItems(fixed, [1, 64, 72]));
  assert.ok(takesItems({ itemShape: null }, [5]));
  assert.ok(takesItems(field, [1, 40, 56]) && takesItems(field, [1, 8, 8]));
  assert.ok(!takesItems(field, [1, 37, 45]) && !takesItems(field, [3, 40, 56]) && !takesItems(field, [40, 56]));
  assert.deepEqual(modelGrid(field, [1, 37, 45]), [1, 40, 48]);
  assert.deepEqual(modelGrid(field, [1, 3, 5]), [1, 8, 8]);
  assert.equal(modelGrid(field, [2, 37, 45]), null);
  assert.equal(modelGrid(fixed, [1, 37, 45]), null);
});

const card = (extra: Record<string, unknown>) => ({ prediction: 'epsilon', shape: [1, 32, 32], ...extra });
const scheduler = parseSchedulerConfig(JSON.parse(readFileSync(join(FIELD, 'scheduler_config.json'), 'utf8')));
const source = { dir: 'm', modelFile: 'm/model.onnx', cardName: 'm/tweedie.json' };

test('tweedie.json "multiple": parsed, absent = fixed, bad values refused in one line', () => {
  assert.equal(parseModelCard(card({}), scheduler, source, () => {}).multiple, null);
  assert.equal(parseModelCard(card({ multiple: 8 }), scheduler, source, () => {}).multiple, 8);
  for (const bad of [0, -8, 2.5, '8', null, [8]]) {
    assert.throws(() => parseModelCard(card({ multiple: bad }), scheduler, source, () => {}),
      (e: unknown) => e instanceof TweedieError && e.code === 'BAD_CONFIG' && /m\/tweedie\.json: "multiple" must be a positive integer/.test(e.message) && !e.message.includes('\n'));
  }
  assert.throws(() => parseModelCard(card({ multiple: 7 }), scheduler, source, () => {}),
    (e: unknown) => e instanceof TweedieError && e.code === 'BAD_CONFIG' && /"multiple" 7 does not divide/.test(e.message));
});

test('a model that declares "multiple" but has a fixed-size ONNX input is refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tweedie-layout-'));
  cpSync('weights/gaussian-exact', dir, { recursive: true });
  const spec = JSON.parse(readFileSync(join(dir, 'tweedie.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(dir, 'tweedie.json'), JSON.stringify({ ...spec, multiple: 8 }));
  await assert.rejects(OnnxDenoiser.load(dir, { threads: 1 }), (e: unknown) => e instanceof TweedieError && e.code === 'BAD_CONFIG' && /declares "multiple" 8 but .* fixed H and W/.test(e.message));
});

/** Asserts that a gaussian-field runtime's x0 at 40x56 and 24x8 (t = 100, 500, 900) is the closed form to 2e-4. */
async function closedFormError(model: OrtDenoiser): Promise<void> {
  assert.deepEqual(model.layout, { multiple: 8, background: -1 });
  assert.deepEqual(model.itemShape, [1, 32, 32]);
  const { mean: m, var: v } = fieldPrior;
  for (const [h, w] of [[40, 56], [24, 8]] as const) {
    for (const t of [100, 500, 900]) {
      const x = new NoiseSource(h + t).normal([2, 1, h, w], 0);
      const eps = await model.predict(x, t);
      assert.deepEqual(eps.shape, [2, 1, h, w]);
      const { a, s } = ddpmPoint(t);
      let worst = 0;
      for (let i = 0; i < x.size; i++) {
        const x0 = (x.data[i]! - s * eps.data[i]!) / a;
        const exact = m + ((a * v) / (a * a * v + s * s)) * (x.data[i]! - a * m);
        worst = Math.max(worst, Math.abs(x0 - exact));
      }
      assert.ok(worst < 2e-4, `${h}x${w} t=${t}: max |x0 - exact| = ${worst}`);
    }
  }
}

test('gaussian-field ONNX: x0 at 40x56 and 24x8 is the closed form m + a v / (a^2 v + s^2) (x - a m); other sizes refused naming the rule', async () => {
  const model = await OnnxDenoiser.load(FIELD, { threads: 1 });
  await closedFormError(model);
  await assert.rejects(model.predict(Tensor.zeros([1, 1, 37, 45]), 10), (e: unknown) => e instanceof TweedieError && e.code === 'BAD_SHAPE' && /multiples of 8/.test(e.message));
  await assert.rejects(model.predict(Tensor.zeros([1, 1, 4, 8]), 10), (e: unknown) => e instanceof TweedieError && /at least 8/.test(e.message));
});

test('gaussian-field on onnxruntime-web (wasm, in Node): the same closed form at any allowed size', async () => {
  const json = (f: string) => JSON.parse(readFileSync(join(FIELD, f), 'utf8')) as unknown;
  const model = await OnnxWebDenoiser.create({ model: readFileSync(join(FIELD, 'model.onnx')), tweedie: json('tweedie.json'), scheduler: json('scheduler_config.json'), name: FIELD }, { backend: 'wasm', threads: 1 });
  await closedFormError(model);
});
