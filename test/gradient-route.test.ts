import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NoiseSource } from '../src/core/rng.js';
import { Tensor } from '../src/core/tensor.js';
import { readNpy, writeNpy } from '../src/io/npy.js';
import { x0JvpByDifferences } from '../src/models/derivatives.js';
import { loadMixture } from '../src/models/gmm-file.js';
import { OnnxDenoiser, type OrtModule } from '../src/models/onnx.js';
import type { OrtTensor } from '../src/models/ort-denoiser.js';
import { PREDICTION_TYPES } from '../src/models/prediction.js';
import { fmnistTest } from '../bench/lib/fmnist.js';

// The exported gradient route (tweedie.json "gradient" -> model.grad.onnx) against oracles that share nothing
// with it: the exact Jacobian of a Gaussian prior, PyTorch autograd of the shipped networks, and, for every
// prediction type, the full Jacobian of a linear network assembled column by column from forward calls.

const root = process.cwd();

function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0, n = 0;
  for (let i = 0; i < b.length; i++) {
    d += (a[i]! - b[i]!) ** 2;
    n += b[i]! ** 2;
  }
  return Math.sqrt(d / n);
}

// gaussian-exact: x0 = m + a v/(a^2 v + s^2) (x - a m), so J = diag(a v/(a^2 v + s^2)), symmetric; the exported
// route computes J^T u as u/a - (s/a) J_eps^T u from a float32 graph, a difference of two terms of size |u/a| whose
// result shrinks with the noise: float32 rounding of |u/a| is the error floor, 2^-24 |u/a| / |J^T u| (relative).
// Measured: 6.8e-8, 4.7e-6, 7.5e-4 at t = 100, 500, 900, at most 1.4x that floor (asserted: 8x).
test('gaussian-exact: the exported VJP equals the exact Gaussian Jacobian product at float32 precision', async (t) => {
  const onnx = await OnnxDenoiser.load(join(root, 'weights/gaussian-exact'), { threads: 1 });
  assert.equal(onnx.gradient, 'exported');
  const exact = loadMixture(join(root, 'weights/gaussian-exact/prior.json')).asDenoiser(onnx.path, 'eps');
  const calls = onnx.calls;
  for (const time of [100, 500, 900]) {
    const x = new NoiseSource(3).normal([2, 1, 8, 8], 0), u = new NoiseSource(4).normal([2, 1, 8, 8], 0);
    const vjp = await onnx.x0Vjp!(x, time, u);
    const ref = await exact.x0Vjp!(x.toDtype('float64'), time, u.toDtype('float64'));
    const err = relError(vjp.data, ref.data);
    const norm = (d: ArrayLike<number>) => Math.sqrt(Array.from(d).reduce((q, w) => q + w * w, 0));
    const floor = (2 ** -24 * norm(u.data)) / onnx.path.point(time).a / norm(ref.data);
    t.diagnostic(`t = ${time}: relative error ${err.toExponential(2)}, float32 floor ${floor.toExponential(2)}`);
    assert.ok(err < 8 * floor, `t = ${time}: ${err} (floor ${floor})`);
  }
  assert.equal(onnx.calls - calls, 3, 'one gradient-graph run per VJP, counted in calls');
  await onnx.release();
});

// The autograd fixture holds J u and J^T u of the network output in float64 (test/fixtures/autograd/README.md): eps
// for brain-64, v for fmnist-32, as their tweedie.json says. x0 = (x - s eps)/a, or x0 = (a x - s v)/(a^2 + s^2), turns
// them into x0 products; outPart undoes that map by hand (not with tweedie's conversion, which is under test).
// Measured relative errors of the output parts at t = 100, 500, 900 (exported VJP; differences JVP), fmnist-32:
// 2.5e-7, 2.7e-7, 5.0e-7; 2.9e-4, 1.5e-4, 1.9e-4. brain-64: 2.0e-7, 1.7e-7, 1.6e-7; 2.7e-4, 4.5e-5, 4.2e-5. The networks are 2-43% asymmetric here
// (|J u - J^T u| / |J^T u|), so a JVP passed off as the VJP fails the first bound by far.
for (const [model, vjpBound, jvpBound] of [['fmnist-32', 1e-5, 2e-3], ['brain-64', 1e-5, 2e-3]] as const) {
  test(`${model}: the exported VJP and the differences JVP match PyTorch autograd`, async (t) => {
    const dir = join(root, 'test/fixtures/autograd', model);
    const x = readNpy(join(dir, 'x.npy')), times = readNpy(join(dir, 't.npy')), u = readNpy(join(dir, 'u.npy'));
    const refVjp = readNpy(join(dir, 'out_vjp.npy')), refJvp = readNpy(join(dir, 'out_jvp.npy'));
    const prediction = (JSON.parse(readFileSync(join(root, 'weights', model, 'tweedie.json'), 'utf8')) as { prediction: string }).prediction;
    assert.ok(prediction === 'epsilon' || prediction === 'v_prediction', `${model}: prediction ${prediction}`);
    const onnx = await OnnxDenoiser.load(join(root, 'weights', model), { threads: 1 });
    for (let k = 0; k < x.batch; k++) {
      const time = times.data[k]!, p = onnx.path.point(time);
      const xk = x.sliceBatch(k, k + 1).toDtype('float32'), uk = u.sliceBatch(k, k + 1).toDtype('float32');
      // The output part of an x0 product g = J_x0 w: J_eps w = (w/a - g) a/s; J_v w = (a w - (a^2 + s^2) g)/s.
      const outPart = (x0Product: Tensor) => Float64Array.from(x0Product.data, (g, i) => {
        const w = uk.data[i]!;
        return prediction === 'epsilon' ? ((w / p.a - g) * p.a) / p.s : (p.a * w - (p.a * p.a + p.s * p.s) * g) / p.s;
      });
      const vjpErr = relError(outPart(await onnx.x0Vjp!(xk, time, uk)), refVjp.sliceBatch(k, k + 1).data);
      const jvpErr = relError(outPart((await x0JvpByDifferences(onnx, xk, time, uk)).jvp), refJvp.sliceBatch(k, k + 1).data);
      const asymmetry = relError(refJvp.sliceBatch(k, k + 1).data, refVjp.sliceBatch(k, k + 1).data);
      t.diagnostic(`t = ${time}: exported VJP ${vjpErr.toExponential(1)}, differences JVP ${jvpErr.toExponential(1)} (|J u - J^T u| / |J^T u| = ${asymmetry.toFixed(3)})`);
      assert.ok(vjpErr < vjpBound, `exported VJP at t = ${time}: ${vjpErr}`);
      assert.ok(jvpErr < jvpBound, `differences JVP at t = ${time}: ${jvpErr}`);
      assert.ok(asymmetry > 100 * vjpBound, 'the fixture tells a VJP from a JVP');
    }
    await onnx.release();
  });
}

// A linear "network" pred = M x (M not symmetric) behind a fake runtime: its gradient graph returns M^T c. For each
// prediction type the exported x0 VJP must equal J^T u with J assembled column by column by central differences of
// forward calls (exact for a linear map up to rounding), which checks the affine x0 map of every type.
test('every prediction type: the exported VJP equals J^T u of the forward-only Jacobian', async (t) => {
  const n = 64, M = new NoiseSource(9).normal([n, n], 0, 0, 'float64').data;
  const apply = (x: Float32Array, transpose: boolean) => {
    const out = new Float32Array(x.length);
    for (let b = 0; b < x.length / n; b++) {
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let j = 0; j < n; j++) s += (transpose ? M[j * n + i]! : M[i * n + j]!) * x[b * n + j]!;
        out[b * n + i] = s / 8;
      }
    }
    return out;
  };
  const tensor = (data: Float32Array, dims: readonly number[]): OrtTensor => ({ type: 'float32', data, dims });
  const ort: OrtModule = {
    InferenceSession: {
      async create(file) {
        const grad = String(file).endsWith('model.grad.onnx');
        return {
          inputNames: grad ? ['sample', 'timestep', 'cotangent'] : ['sample', 'timestep'],
          outputNames: grad ? ['out', 'vjp'] : ['out'],
          async run(feeds): Promise<Record<string, OrtTensor>> {
            const x = feeds.sample!.data as Float32Array, dims = feeds.sample!.dims;
            return grad ? { out: tensor(apply(x, false), dims), vjp: tensor(apply(feeds.cotangent!.data as Float32Array, true), dims) } : { out: tensor(apply(x, false), dims) };
          },
        };
      },
    },
    Tensor: class {
      constructor(readonly type: string, readonly data: unknown, readonly dims: readonly number[]) {}
    },
  };
  const dir = mkdtempSync(join(tmpdir(), 'tweedie-linear-'));
  try {
    copyFileSync(join(root, 'weights/gaussian-exact/scheduler_config.json'), join(dir, 'scheduler_config.json'));
    writeFileSync(join(dir, 'model.onnx'), 'fake');
    writeFileSync(join(dir, 'model.grad.onnx'), 'fake');
    for (const type of PREDICTION_TYPES) {
      writeFileSync(join(dir, 'tweedie.json'), JSON.stringify({ prediction: type, output: 'out', shape: [1, 8, 8], gradient: { file: 'model.grad.onnx', cotangent: 'cotangent', output: 'out', vjp: 'vjp' } }));
      const d = await OnnxDenoiser.load(dir, { ort });
      const x = new NoiseSource(1).normal([1, 1, 8, 8], 0), u = new NoiseSource(2).normal([1, 1, 8, 8], 0);
      const cond = type === 'residual' ? { anchor: new NoiseSource(3).normal([1, 1, 8, 8], 0) } : undefined;
      const time = 300;
      // Column i of J is J e_i: all n columns in one batched call.
      const X = new Tensor([n, 1, 8, 8]), E = new Tensor([n, 1, 8, 8]);
      for (let i = 0; i < n; i++) {
        X.data.set(x.data, i * n);
        E.data[i * n + i] = 1;
      }
      const anchors = cond && { anchor: new Tensor([n, 1, 8, 8], Float32Array.from({ length: n * n }, (_, k) => cond.anchor.data[k % n]!)) };
      const { jvp: columns } = await x0JvpByDifferences(d, X, time, E, anchors ? { cond: anchors } : {});
      const ref = Float64Array.from({ length: n }, (_, i) => {
        let s = 0;
        for (let r = 0; r < n; r++) s += columns.data[i * n + r]! * u.data[r]!;
        return s;
      });
      const err = relError((await d.x0Vjp!(x, time, u, cond)).data, ref);
      t.diagnostic(`${type}: ${err.toExponential(1)}`);
      assert.ok(err < 1e-4, `${type}: ${err}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const tweedie = (...args: string[]) => spawnSync(process.execPath, [join(root, 'bin', 'tweedie.js'), ...args], { encoding: 'utf8' });

test('tweedie solve: DPS on fmnist-32 through the exported and the differences route beats the pseudo-inverse', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tweedie-dps-'));
  try {
    const truth = join(dir, 'x.npy');
    writeNpy(truth, fmnistTest(1).reshape([1, 32, 32]));
    const common = ['--operator', 'inpaint:box=12,noise=0.01', '--truth', truth, '--json', '--threads', '1'];
    const base = tweedie('solve', '--solver', 'pinv', ...common, '--out', join(dir, 'pinv.npy'));
    assert.equal(base.status, 0, base.stderr);
    const pinv = JSON.parse(base.stdout).psnr as number;
    for (const grad of ['exported', 'differences']) {
      const r = tweedie('solve', '--model', join(root, 'weights/fmnist-32'), '--solver', 'dps', '--grad', grad, '--steps', '10', '--param', 'zeta=1', ...common, '--out', join(dir, `${grad}.npy`));
      assert.equal(r.status, 0, r.stderr);
      const s = JSON.parse(r.stdout);
      assert.equal(s.gradient, grad);
      assert.ok(s.psnr > pinv + 2, `dps --grad ${grad}: ${s.psnr} dB vs pinv ${pinv} dB`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad input: a route the model lacks, a missing gradient graph and a wrong output name are one line each', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tweedie-grad-bad-'));
  try {
    const src = join(root, 'weights/fmnist-32');
    for (const f of ['model.onnx', 'scheduler_config.json', 'model.grad.onnx']) copyFileSync(join(src, f), join(dir, f));
    const card = JSON.parse(readFileSync(join(src, 'tweedie.json'), 'utf8')) as Record<string, unknown>;
    const truth = join(dir, 'x.npy');
    writeNpy(truth, fmnistTest(1).reshape([1, 32, 32]));
    const solve = (grad: string) => tweedie('solve', '--model', dir, '--solver', 'dps', '--grad', grad, '--steps', '2', '--operator', 'sr:factor=4', '--truth', truth, '--out', join(dir, 'o.npy'));
    const oneLine = (r: ReturnType<typeof tweedie>, status: number, re: RegExp) => {
      assert.equal(r.status, status, r.stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, re);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    };
    const { gradient, ...plain } = card;
    assert.ok(gradient, 'weights/fmnist-32 declares its gradient graph');
    writeFileSync(join(dir, 'tweedie.json'), JSON.stringify(plain));
    oneLine(solve('exported'), 2, /--grad: --model .* has no exported gradient.*use the gradient route 'differences'/);
    oneLine(solve('exact'), 2, /has no exact gradient.*use the gradient route 'differences'/);
    oneLine(solve('sideways'), 2, /--grad must be one of auto, exact, exported, differences/);
    writeFileSync(join(dir, 'tweedie.json'), JSON.stringify({ ...plain, gradient: { file: 'missing.grad.onnx' } }));
    oneLine(solve('auto'), 1, /"gradient" names missing\.grad\.onnx, which is not in .*training\/gradients\.py/);
    writeFileSync(join(dir, 'tweedie.json'), JSON.stringify({ ...plain, gradient: { file: 'model.grad.onnx', vjp: 'nope' } }));
    oneLine(solve('exported'), 1, /gradient graph model\.grad\.onnx has no output "nope" for the vjp \(its outputs are out, vjp\)/);
    writeFileSync(join(dir, 'tweedie.json'), JSON.stringify({ ...plain, gradient: { file: 'model.grad.onnx', cotangent: 'ct' } }));
    oneLine(solve('exported'), 1, /has no input "ct"/);
    writeFileSync(join(dir, 'tweedie.json'), JSON.stringify({ ...plain, gradient: { file: '../model.onnx' } }));
    oneLine(solve('auto'), 1, /gradient\.file must be an \.onnx file name inside the model folder/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
