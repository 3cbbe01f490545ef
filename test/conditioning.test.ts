import { describe, test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readNpy, writeNpy } from '../src/io/npy.js';
import assert from 'node:assert/strict';
import { Tensor } from '../src/core/tensor.js';
import { GaussianMixture, type MixtureJson } from '../src/models/gmm.js';
import { bindConditions, checkConditions, parseConditionSpecs, type ConditionSpecs } from '../src/models/conditioning.js';
import type { Conditioning, Denoiser } from '../src/models/denoiser.js';
import { classifierFreeGuidance } from '../src/models/guidance.js';
import { OnnxDenoiser } from '../src/models/onnx.js';
import { pathByName } from '../src/paths/registry.js';
import type { Path } from '../src/paths/path.js';
import { generate } from '../src/recipes/generate.js';
import { solve } from '../src/recipes/solve.js';
import { conditionedModel } from '../src/recipes/condition.js';
import { MatrixOperator } from '../src/inverse/operators/matrix.js';

// A class-conditional mixture in 2-D with full covariances: class 0 has two components, classes 1 and 2 one each.
const MIX: MixtureJson = {
  weights: [0.3, 0.2, 0.25, 0.25],
  classes: [0, 0, 1, 2],
  means: [[1, -0.5], [-0.8, 0.6], [0.2, 1.1], [-0.3, -1]],
  covs: [[[0.2, 0.05], [0.05, 0.1]], [[0.1, -0.03], [-0.03, 0.15]], [[0.08, 0], [0, 0.3]], [[0.25, 0.1], [0.1, 0.12]]],
};

/**
 * The oracle, written from the formulas with 2 x 2 inverses (independent of gmm.ts's eigenbasis code): for
 * z = a x0 + s eps and x0 ~ sum_{k in ks} w_k N(m_k, S_k), E[x0 | z] = sum_k r_k (m_k + a S_k q_k) and
 * grad log p(z) = -sum_k r_k q_k, with q_k = (a^2 S_k + s^2 I)^-1 (z - a m_k) and r_k the responsibilities.
 */
function oracle(z: readonly number[], a: number, s: number, ks: readonly number[]): { x0: number[]; score: number[] } {
  const parts = ks.map((k) => {
    const [[p, q], [, r]] = MIX.covs[k]! as [[number, number], [number, number]];
    const m = MIX.means[k]!;
    const A = a * a * p + s * s, B = a * a * q, D = a * a * r + s * s, det = A * D - B * B;
    const d0 = z[0]! - a * m[0]!, d1 = z[1]! - a * m[1]!;
    const q0 = (D * d0 - B * d1) / det, q1 = (A * d1 - B * d0) / det;
    const logN = Math.log(MIX.weights[k]!) - Math.log(2 * Math.PI) - 0.5 * Math.log(det) - 0.5 * (d0 * q0 + d1 * q1);
    return { logN, x0: [m[0]! + a * (p * q0 + q * q1), m[1]! + a * (q * q0 + r * q1)], score: [-q0, -q1] };
  });
  const top = Math.max(...parts.map((c) => c.logN));
  const w = parts.map((c) => Math.exp(c.logN - top)), tot = w.reduce((x, y) => x + y, 0);
  const sum = (f: (c: (typeof parts)[number]) => number[]) => [0, 1].map((i) => parts.reduce((acc, c, j) => acc + (w[j]! / tot) * f(c)[i]!, 0));
  return { x0: sum((c) => c.x0), score: sum((c) => c.score) };
}
const ofClass = (c: number) => MIX.classes!.flatMap((k, i) => (k === c ? [i] : []));
const ALL = [0, 1, 2, 3];

const near = (got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string) => {
  assert.equal(got.length, want.length, what);
  for (let i = 0; i < got.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) <= tol, `${what}[${i}]: ${got[i]} vs ${want[i]}`);
};

const points = Tensor.from([3, 2], [0.4, -0.2, -1.1, 0.9, 0.05, 1.6], 'float64');
const TIMES = [0.02, 0.2, 0.5, 0.8, 0.98];

for (const pathName of ['vp-linear', 'flow']) {
  test(`the bound class condition gives the exact conditional posterior mean, the null class the unconditional one (${pathName})`, async () => {
    const path = pathByName(pathName), den = new GaussianMixture(MIX).asDenoiser(path, 'x0');
    assert.deepEqual(den.conditions, { class: { kind: 'class', input: 'class', classes: 3, unconditional: 3 } });
    for (const t of TIMES) {
      const { a, s } = path.point(t);
      for (const c of [0, 1, 2, 3]) {
        const bound = conditionedModel(den, c < 3 ? { condition: { class: c } } : {}, 3)(0, 3);
        const got = await bound.predict(points, t);
        const want = [0, 1, 2].flatMap((i) => oracle([...points.data.subarray(2 * i, 2 * i + 2)], a, s, c < 3 ? ofClass(c) : ALL).x0);
        near(got.data, want, 1e-9, `class ${c} at t ${t}`);
      }
    }
  });

  test(`classifier-free guidance equals the tilted score (1-w) grad log p_t(x) + w grad log p_t(x|c) at every t (${pathName})`, async () => {
    const path = pathByName(pathName), den = new GaussianMixture(MIX).asDenoiser(path, 'eps');
    for (const w of [0, 0.5, 1, 3, 7.5]) {
      const guided = conditionedModel(den, { condition: { class: 0 }, guidance: { scale: w } }, 3)(0, 3);
      for (const t of TIMES) {
        const { a, s } = path.point(t);
        const got = await guided.predict(points, t);
        // eps = -s * score (Tweedie).
        const want = [0, 1, 2].flatMap((i) => {
          const z = [...points.data.subarray(2 * i, 2 * i + 2)];
          const u = oracle(z, a, s, ALL).score, c = oracle(z, a, s, ofClass(0)).score;
          return [0, 1].map((j) => -s * ((1 - w) * u[j]! + w * c[j]!));
        });
        near(got.data, want, 1e-8 * (1 + w), `w ${w} at t ${t}`);
      }
    }
  });
}

/** A denoiser that records the batch size of every call. */
function counting(inner: Denoiser): { den: Denoiser; batches: number[] } {
  const batches: number[] = [];
  const den: Denoiser = {
    prediction: inner.prediction, path: inner.path, itemShape: inner.itemShape, conditions: inner.conditions!,
    predict: (x: Tensor, t: number, c?: Conditioning) => (batches.push(x.batch), inner.predict(x, t, c)),
  };
  return { den, batches };
}

test('guided sampling: w = 1 equals conditional sampling, w = 0 the unconditional mixture; one model call of 2N items per step', async () => {
  const path = pathByName('vp-linear'), mix = new GaussianMixture(MIX);
  const run = (model: Denoiser, extra: object) => generate({ model, sampler: 'dpm-solver++', steps: 8, n: 5, seed: 3, ...extra });
  const cond = await run(mix.asDenoiser(path), { condition: { class: 2 } });
  const { den, batches } = counting(mix.asDenoiser(path));
  const w1 = await run(den, { condition: { class: 2 }, guidance: { scale: 1 } });
  near(w1.x.data, cond.x.data, 1e-5, 'w = 1');
  assert.equal(batches.length, w1.nfe, 'one call per model evaluation');
  assert.ok(batches.every((b) => b === 10), `every call holds the 2N = 10 items: ${batches.join(',')}`);
  // The unconditional prior as a plain mixture (no classes): independent of the class plumbing.
  const plain = await run(new GaussianMixture({ ...MIX, classes: undefined as unknown as number[] }).asDenoiser(path), {});
  const w0 = await run(mix.asDenoiser(path), { condition: { class: 2 }, guidance: { scale: 0 } });
  near(w0.x.data, plain.x.data, 1e-5, 'w = 0');
  // And the default of a CFG model given no class: the null class.
  near((await run(mix.asDenoiser(path), {})).x.data, plain.x.data, 1e-5, 'no class given');
});

test('guidance interval: guided where lo <= sigma <= hi (2N items), the conditional model alone elsewhere (N items)', async () => {
  const path = pathByName('vp-linear'), mix = new GaussianMixture(MIX);
  const { den, batches } = counting(mix.asDenoiser(path, 'eps'));
  const model = conditionedModel(den, { condition: { class: 1 }, guidance: { scale: 4, interval: [0.3, 2] } }, 3)(0, 3);
  const plainCond = conditionedModel(mix.asDenoiser(path, 'eps'), { condition: { class: 1 } }, 3)(0, 3);
  const guidedEverywhere = conditionedModel(mix.asDenoiser(path, 'eps'), { condition: { class: 1 }, guidance: { scale: 4 } }, 3)(0, 3);
  for (const sigma of [0.1, 0.5, 1, 1.9, 5]) {
    const t = path.tOfSigma(sigma);
    const got = await model.predict(points, t);
    const inside = sigma > 0.3 && sigma < 2;
    near(got.data, (await (inside ? guidedEverywhere : plainCond).predict(points, t)).data, 1e-9, `sigma ${sigma}`);
    assert.equal(batches.at(-1), inside ? 6 : 3, `items of the call at sigma ${sigma}`);
  }
});

test('one class per sample: each sample as if drawn alone with its class, whatever the batch size', async () => {
  const path = pathByName('flow'), mix = new GaussianMixture(MIX);
  const classes = [2, 0, 1, 0];
  const all = await generate({ model: mix.asDenoiser(path), sampler: 'ddim', steps: 6, n: 4, seed: 9, batch: 3, condition: { class: classes }, guidance: { scale: 2 } });
  for (let i = 0; i < 4; i++) {
    const one = await generate({ model: mix.asDenoiser(path), sampler: 'ddim', steps: 6, n: 1, seed: 9, firstSample: i, condition: { class: classes[i]! }, guidance: { scale: 2 } });
    near(all.x.data.subarray(2 * i, 2 * i + 2), one.x.data, 1e-6, `sample ${i}`);
  }
});

test('posterior solvers run a conditioned (and guided) model: the exact posterior of class c under a mask', async () => {
  const path = pathByName('vp-linear'), mix = new GaussianMixture(MIX);
  const op = new MatrixOperator([1, 0], 1, 2, [2], 0.05);
  const y = Tensor.from([1], [0.2]);
  // The posterior of class 1 (one Gaussian) given x_0 = 0.2 + noise: x_1 | x_0 is Gaussian with a known mean.
  const r = await solve({ model: mix.asDenoiser(path), operator: op, measurement: y, solver: 'dps', steps: 60, n: 400, seed: 1, condition: { class: 1 }, guidance: { scale: 1 } });
  const [[p, q], [, rr]] = MIX.covs[2]! as [[number, number], [number, number]];
  const m = MIX.means[2]!, k = p / (p + 0.05 * 0.05);
  const m0 = m[0]! + k * (0.2 - m[0]!), m1 = m[1]! + (q / (p + 0.05 * 0.05)) * (0.2 - m[0]!);
  let s0 = 0, s1 = 0;
  for (let i = 0; i < 400; i++) (s0 += r.x.data[2 * i]!), (s1 += r.x.data[2 * i + 1]!);
  // A loose check (DPS is approximate): the samples sit at class 1's posterior, far from the other classes' means.
  assert.ok(Math.abs(s0 / 400 - m0) < 0.1 && Math.abs(s1 / 400 - m1) < 0.25, `mean (${s0 / 400}, ${s1 / 400}) vs (${m0}, ${m1}), var ${rr}`);
});

test('an ONNX model with a declared class input: bound and guided through the recipe, equal to the exact mixture', async () => {
  const onnx = await OnnxDenoiser.load('test/fixtures/class-gaussian', { threads: 1 });
  assert.deepEqual(onnx.conditions, { class: { kind: 'class', input: 'class', classes: 3, unconditional: 3 } });
  const exact = GaussianMixture.fromJsonText(readFileSync('test/fixtures/class-gaussian/prior.json', 'utf8'));
  const run = (model: Denoiser) => generate({ model, sampler: 'dpm-solver++', steps: 10, n: 4, seed: 5, condition: { class: [0, 1, 2, 1] }, guidance: { scale: 3, interval: [0.1, 10] } });
  const a = await run(onnx), b = await run(exact.asDenoiser(onnx.path));
  near(a.x.data, b.x.data, 2e-3, 'ONNX against exact');
  assert.equal(onnx.calls, a.nfe, 'one session run per evaluation');
});

test('bad input: one line naming the option and the expected form, before any work', async () => {
  const path = pathByName('vp-linear'), mix = new GaussianMixture(MIX).asDenoiser(path);
  const calls: number[] = [];
  const spy: Denoiser = { ...counting(mix).den, predict: async (x) => (calls.push(1), x) };
  const refuses = async (o: object, re: RegExp) => {
    await assert.rejects(generate({ model: spy, n: 2, steps: 3, ...o }), (e: Error & { code?: string }) => re.test(e.message) && !!e.code && !e.message.includes('\n'));
  };
  await refuses({ condition: { class: 3 } }, /condition\.class 3 is outside the model's classes; give an integer 0\.\.2/);
  await refuses({ condition: { class: 1.5 } }, /integer 0\.\.2/);
  await refuses({ condition: { class: [0, 1, 2] } }, /3 values; .* one for all samples or one for each of the 2/);
  await refuses({ condition: { label: 1 } }, /condition\.label: the model has no conditioning input "label" \(it takes condition\.class \(an integer class 0\.\.2\)\)/);
  await refuses({ guidance: { scale: 2 } }, /guidance\.scale needs a condition to guide towards \(condition\.class\)/);
  await refuses({ condition: { class: 1 }, guidance: { scale: -1 } }, /guidance\.scale must be a number >= 0/);
  await refuses({ condition: { class: 1 }, guidance: { scale: 2, interval: [3, 1] } }, /guidance\.interval must be lo,hi with 0 <= lo < hi/);
  assert.equal(calls.length, 0, 'no model call before the refusals');
  // An unconditional model, and a conditional one without an unconditional branch.
  const plain = new GaussianMixture({ ...MIX, classes: undefined as unknown as number[] }).asDenoiser(path);
  await assert.rejects(generate({ model: plain, condition: { class: 1 } }), /has no conditioning input "class" \(it is unconditional/);
  const specs: ConditionSpecs = { image: { kind: 'image', input: 'img', shape: [1, 2, 2], valueRange: [0, 1], unconditional: null } };
  const noNull: Denoiser = { ...plain, conditions: specs, predict: plain.predict.bind(plain) };
  await assert.rejects(generate({ model: noNull, condition: { image: Tensor.zeros([1, 2, 2]) }, guidance: { scale: 2 } }), /guidance\.scale: the model has no unconditional branch \(conditioning image declares no "unconditional"/);
  await assert.rejects(generate({ model: noNull }), /the model needs condition\.image: an image \[1, 2, 2\] with values in \[0, 1\]/);
  assert.throws(() => checkConditions(specs, { image: Tensor.zeros([1, 3, 3]) }, 1, 'm'), /condition\.image has \[1, 3, 3\]; m expects an image \[1, 2, 2\]/);
  assert.throws(() => checkConditions(specs, { image: Tensor.zeros([1, 1, 4, 4]) }, 4, 'm'), /condition\.image has \[1, 1, 4, 4\]; m expects an image \[1, 2, 2\]/);
  assert.equal(checkConditions(specs, { image: Tensor.zeros([4, 1, 2, 2]) }, 4, 'm').image!.batch, 4);
  assert.throws(() => checkConditions(specs, { image: Tensor.from([1, 2, 2], [0, 0.5, 1, 2]) }, 1, 'm'), /condition\.image has the value 2, outside the model's range \[0, 1\]; scale the image/);
});

test('tweedie.json "conditioning": parsed, and refused in one line where malformed', () => {
  assert.deepEqual(parseConditionSpecs({ class: { kind: 'class', classes: 10, unconditional: 10 }, e: { kind: 'vector', size: 4, input: 'emb' } }, 'c'), {
    class: { kind: 'class', input: 'class', classes: 10, unconditional: 10 },
    e: { kind: 'vector', input: 'emb', size: 4, unconditional: null },
  });
  const bad: [unknown, RegExp][] = [
    [[], /"conditioning" must be an object/],
    [{ class: { kind: 'label' } }, /conditioning\.class\.kind must be class, image or vector/],
    [{ class: { kind: 'class', classes: 0 } }, /conditioning\.class\.classes must be a positive integer/],
    [{ class: { kind: 'class', classes: 10, unconditional: 3 } }, /unconditional 3 is one of the 10 real classes/],
    [{ im: { kind: 'image', shape: [32, 'x'] } }, /conditioning\.im\.shape must be the image's \[C, H, W\]/],
    [{ sample: { kind: 'vector', size: 2 } }, /"sample" is a reserved input role/],
  ];
  for (const [v, re] of bad) assert.throws(() => parseConditionSpecs(v, 'c'), re);
});

test('a bound model keeps its derivatives: the x0 VJP of the bound class equals that of the class alone', async () => {
  const path: Path = pathByName('vp-linear'), mix = new GaussianMixture(MIX);
  const bound = bindConditions(mix.asDenoiser(path), { class: Tensor.from([1], [0]) });
  const alone = mix.subMixture(ofClass(0)).asDenoiser(path);
  const v = Tensor.from([3, 2], [1, 0.5, -0.3, 2, 0.7, -1], 'float64');
  near((await bound.x0Vjp!(points, 0.4, v)).data, (await alone.x0Vjp!(points, 0.4, v)).data, 1e-12, 'vjp');
  // Guidance of the VJP: the same combination as the prediction, checked by differences of the guided x0.
  const guided = classifierFreeGuidance(mix.asDenoiser(path), { scale: 2.5, cond: { class: Tensor.from([1], [0]) }, uncond: { class: Tensor.from([1], [3]) } });
  const h = 1e-5, g = await guided.x0Vjp!(points, 0.4, v);
  const plus = await guided.predict(new Tensor(points.shape, points.data.map((x, i) => x + h * v.data[i]!)), 0.4);
  const minus = await guided.predict(new Tensor(points.shape, points.data.map((x, i) => x - h * v.data[i]!)), 0.4);
  // The exact mixture's x0 Jacobian is symmetric per branch, so J v (differences) equals J^T v.
  near(g.data, plus.data.map((p, i) => (p - minus.data[i]!) / (2 * h)), 1e-6, 'guided vjp');
});

describe('CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tweedie-cond-'));
  const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/tweedie.js', ...args], { encoding: 'utf8' });
  const FIX = 'test/fixtures/class-gaussian';
  const oneLine = (r: ReturnType<typeof cli>, re: RegExp) => {
    assert.notEqual(r.status, 0, r.stdout);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  };

  test('sample --class K --guidance-scale W --guidance-interval lo,hi on an ONNX model equals the exact mixture run by the API', async () => {
    const out = join(dir, 'guided.npy');
    const r = cli('sample', '--model', FIX, '--class', '2', '--guidance-scale', '3', '--guidance-interval', '0.1,10', '--sampler', 'dpm-solver++', '--steps', '10', '-n', '6', '--seed', '4', '--out', out, '--threads', '1');
    assert.equal(r.status, 0, r.stderr);
    const onnx = await OnnxDenoiser.load(FIX, { threads: 1 });
    const want = await generate({ model: GaussianMixture.fromJsonText(readFileSync(join(FIX, 'prior.json'), 'utf8')).asDenoiser(onnx.path), sampler: 'dpm-solver++', steps: 10, n: 6, seed: 4, condition: { class: 2 }, guidance: { scale: 3, interval: [0.1, 10] } });
    near(readNpy(out).data, want.x.data, 2e-3, 'CLI ONNX against API exact');
  });

  test('sample --cond-image FILE on an image-conditional ONNX model equals the formula, plain and guided', async () => {
    const IMG = 'test/fixtures/image-gaussian', c = Tensor.from([1, 1, 2, 2], [0.5, -0.3, 0.9, -1]);
    const file = join(dir, 'cond.npy');
    writeNpy(file, c);
    const onnx = await OnnxDenoiser.load(IMG, { threads: 1 });
    // x0 ~ N(c, 0.05 I): E[x0 | x_t] = c + a v / (a^2 v + s^2) (x_t - a c), written here from the formula.
    const oracle: Denoiser = {
      prediction: 'x0', path: onnx.path, itemShape: [1, 2, 2], conditions: onnx.conditions!,
      predict: async (x, t, cond) => {
        const { a, s } = onnx.path.point(t), cc = cond!.inputs!.lowres!.data, g = (a * 0.05) / (a * a * 0.05 + s * s);
        return new Tensor(x.shape, x.data.map((v, i) => cc[i]! + g * (v - a * cc[i]!)));
      },
    };
    for (const guidance of [[], ['--guidance-scale', '2.5']]) {
      const out = join(dir, `img${guidance.length}.npy`);
      const r = cli('sample', '--model', IMG, '--cond-image', file, ...guidance, '--sampler', 'ddim', '--steps', '12', '-n', '3', '--out', out, '--threads', '1');
      assert.equal(r.status, 0, r.stderr);
      const want = await generate({ model: oracle, sampler: 'ddim', steps: 12, n: 3, condition: { lowres: c }, ...(guidance.length ? { guidance: { scale: 2.5 } } : {}) });
      near(readNpy(out).data, want.x.data, 2e-3, `--cond-image ${guidance.join(' ')}`);
    }
    const big = join(dir, 'big.npy'), bright = join(dir, 'bright.npy');
    writeNpy(big, Tensor.zeros([1, 1, 3, 3]));
    writeNpy(bright, Tensor.from([1, 1, 2, 2], [0, 2, 0, 0]));
    oneLine(cli('sample', '--model', IMG, '--cond-image', big, '--out', join(dir, 'z.npy')), /--cond-image has \[1, 1, 3, 3\]; --model test\/fixtures\/image-gaussian expects an image \[1, 2, 2\] with values in \[-1, 1\]/);
    oneLine(cli('sample', '--model', IMG, '--cond-image', bright, '--out', join(dir, 'z.npy')), /--cond-image has the value 2, outside the model's range \[-1, 1\]; scale the image to that range/);
    oneLine(cli('sample', '--model', IMG, '--class', '1', '--out', join(dir, 'z.npy')), /--class: --model test\/fixtures\/image-gaussian takes no class condition \(its conditions: lowres \(image\)\)/);
  });

  test('bad options: one line each naming the option and the expected form', () => {
    const out = join(dir, 'x.npy');
    const gmm = join(dir, 'plain.json');
    writeFileSync(gmm, JSON.stringify({ ...MIX, classes: undefined }));
    oneLine(cli('sample', '--model', FIX, '--class', '7', '--out', out), /--class 7 is outside the model's classes; give an integer 0\.\.2/);
    oneLine(cli('sample', '--model', FIX, '--class', 'dog', '--out', out), /--class must be an integer class, or a comma-separated list/);
    oneLine(cli('sample', '--model', FIX, '--class', '0,1', '-n', '3', '--out', out), /--class has 2 values; .* one for all samples or one for each of the 3/);
    oneLine(cli('sample', '--model', FIX, '--cond-image', 'x.png', '--out', out), /--cond-image: --model test\/fixtures\/class-gaussian takes no image condition \(its conditions: class \(class\)\)/);
    oneLine(cli('sample', '--model', `gmm:${gmm}`, '--guidance-scale', '2', '--out', out), /--guidance-scale needs a condition to guide towards \(the model declares none\)/);
    oneLine(cli('sample', '--model', `gmm:${gmm}`, '--class', '1', '--out', out), /--class: --model gmm:.* takes no class condition \(its tweedie.json declares no "conditioning"\)/);
    oneLine(cli('sample', '--model', FIX, '--guidance-interval', '1,2', '--out', out), /--guidance-interval applies to classifier-free guidance; add --guidance-scale W/);
    oneLine(cli('sample', '--model', FIX, '--class', '1', '--guidance-scale', '2', '--guidance-interval', '5', '--out', out), /--guidance-interval must be LO,HI/);
    assert.ok(!existsSync(out), 'nothing written');
  });

  test('a declaration the ONNX model does not fit is refused at load', () => {
    const bad = (conditioning: object, re: RegExp) => {
      const m = join(dir, `m${Math.random().toString(36).slice(2)}`);
      cpSync(FIX, m, { recursive: true });
      const card = JSON.parse(readFileSync(join(m, 'tweedie.json'), 'utf8'));
      writeFileSync(join(m, 'tweedie.json'), JSON.stringify({ ...card, conditioning }));
      oneLine(cli('sample', '--model', m, '--out', join(dir, 'y.npy')), re);
    };
    bad({ label: { kind: 'class', classes: 3, unconditional: 3 } }, /conditioning input label -> "label" is not an input of the model \(sample, timestep, class\)/);
    bad({ class: { kind: 'class', classes: 3, unconditional: 3, input: 'timestep' } }, /conditioning\.class \(ONNX input "timestep"\) is a class label but the input has type float32; export the label as an int64 input/);
    bad({ class: { kind: 'vector', size: 4 } }, /conditioning\.class \(ONNX input "class"\) has shape \[batch\] but the declaration gives items \[N, 4\]/);
  });
});
