import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tensor } from '../src/core/tensor.js';
import { createVolume } from '../src/io/volume.js';
import { MRIOperator } from '../src/inverse/operators/mri.js';
import { coupleStack, reconstructVolume, type ReconstructOptions } from '../src/volume/reconstruct.js';

// Per-step z coupling (--tv-z-mode step, DiffusionMBIR): slices in lockstep over the workers, checked on
// weights/gaussian-field (closed-form prior, any size) with a small synthetic stack.

const root = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
const FIELD = join(root, 'weights', 'gaussian-field');
const tmp = mkdtempSync(join(tmpdir(), 'tweedie-coupling-'));
const cli = (...args: string[]) => spawnSync(process.execPath, [join(root, 'bin', 'tweedie.js'), 'reconstruct', ...args], { encoding: 'utf8' });

const X = 16, Y = 24, Z = 5;
/** A stack that varies smoothly along z: coupling should keep it, and remove the slice-to-slice noise of sampling. */
function stack() {
  const d = new Float32Array(X * Y * Z);
  for (let k = 0; k < Z; k++) for (let j = 0; j < Y; j++) for (let i = 0; i < X; i++) d[i + X * (j + Y * k)] = 50 + 40 * Math.sin(i / 3 + k * 0.2) * Math.cos(j / 4);
  return createVolume(d, [X, Y, Z]);
}
// Batches of 2 slices: 5 slices make 3 jobs, so the z coupling must reach across batch (and worker) boundaries.
const common: ReconstructOptions = { modelDir: FIELD, modality: 'mri', solver: 'ddnm', steps: 6, batch: 2, seed: 3 };

/** sum |x_{k+1} - x_k| between slices k and k + 1 over the plane (the model-space stack is X x Y x Z). */
function zTv(data: ArrayLike<number>, from = 0, to = Z - 1): number {
  let t = 0;
  const n = X * Y;
  for (let k = from; k < to; k++) for (let i = 0; i < n; i++) t += Math.abs(data[(k + 1) * n + i]! - data[k * n + i]!);
  return t;
}

const same = (a: ArrayLike<number>, b: ArrayLike<number>) => a.length === b.length && Array.from(a).every((v, i) => Object.is(v, b[i]));

test('tv-z-mode step with weight 0 is the uncoupled run bit for bit (ddnm, dds, dps), on 1 or 2 workers', async () => {
  const vol = stack();
  for (const solver of ['ddnm', 'dds', 'dps']) {
    const o = { ...common, solver, tvZ: 0 };
    const plain = await reconstructVolume(vol, { ...o, workers: 1 });
    const one = await reconstructVolume(vol, { ...o, tvZMode: 'step', workers: 1 });
    const two = await reconstructVolume(vol, { ...o, tvZMode: 'step', workers: 2 });
    assert.equal(two.workers, 2);
    assert.ok(same(one.modelStack.data, plain.modelStack.data), `${solver}: step mode, 1 worker, differs from the uncoupled run`);
    assert.ok(same(two.modelStack.data, plain.modelStack.data), `${solver}: step mode, 2 workers, differs from the uncoupled run`);
    assert.equal(one.nfe, plain.nfe);
    assert.equal(one.model_calls, plain.model_calls);
  }
});

test('tv-z-mode step with weight > 0: the same on 1 and 2 workers, and the z-TV falls below the uncoupled run, across batch boundaries too', async () => {
  const vol = stack();
  const plain = await reconstructVolume(vol, { ...common, tvZ: 0, workers: 1 });
  const one = await reconstructVolume(vol, { ...common, tvZ: 0.05, tvZMode: 'step', workers: 1 });
  const two = await reconstructVolume(vol, { ...common, tvZ: 0.05, tvZMode: 'step', workers: 2 });
  assert.ok(same(one.modelStack.data, two.modelStack.data), 'step coupling depends on the worker count');
  assert.ok(zTv(one.modelStack.data) < 0.5 * zTv(plain.modelStack.data), `z-TV ${zTv(one.modelStack.data)} vs uncoupled ${zTv(plain.modelStack.data)}`);
  // Slices 1 and 2 sit in different batches (and on different workers with 2).
  assert.ok(zTv(two.modelStack.data, 1, 2) < 0.5 * zTv(plain.modelStack.data, 1, 2), `z-TV across the batch boundary ${zTv(two.modelStack.data, 1, 2)} vs ${zTv(plain.modelStack.data, 1, 2)}`);
  // Coupling after sampling differs from coupling in every step.
  const after = await reconstructVolume(vol, { ...common, tvZ: 0.05, tvZMode: 'after', workers: 1 });
  assert.ok(!same(after.modelStack.data, one.modelStack.data));
});

test('the z step alone: z-TV prox then data consistency, in closed form on two slices', () => {
  // Full-mask MRI on 2x2 slices: A^T A = I, so the data-consistency prox (rho = 1 / sigma^2) is the midpoint (A^T y + v) / 2;
  // the TV prox of a column (v1, v2): both move lambda towards each other, or meet at the mean when |v2 - v1| <= 2 lambda.
  const item = [1, 2, 2], n2 = 4, lambda = 0.1;
  const op = new MRIOperator(item, { mask: new Uint8Array(4).fill(1), noiseSigma: 0.01 });
  const u = [Float32Array.from([0.3, -0.2, 0.5, 0.1]), Float32Array.from([0.25, 0.4, -0.6, 0.1])];
  const ys = u.map((x) => op.forward(new Tensor([1, ...item], x)));
  const v = Float32Array.from([0, 1, 0.5, -0.3, 0.05, 0.4, 0.5, 0.6]);
  const prox = (a: number, b: number): [number, number] => {
    const d = b - a;
    if (Math.abs(d) <= 2 * lambda) return [(a + b) / 2, (a + b) / 2];
    return [a + Math.sign(d) * lambda, b - Math.sign(d) * lambda];
  };
  let ref = Array.from(v);
  for (let it = 0; it < 2; it++) {
    const next = ref.slice();
    for (let i = 0; i < n2; i++) {
      const [a, b] = prox(ref[i]!, ref[n2 + i]!);
      next[i] = (a + u[0]![i]!) / 2;
      next[n2 + i] = (b + u[1]![i]!) / 2;
    }
    ref = next;
    const s = v.slice();
    coupleStack(s, 2, n2, item, lambda, it + 1, () => op, (k) => ys[k]!);
    for (let i = 0; i < s.length; i++) assert.ok(Math.abs(s[i]! - ref[i]!) < 1e-5, `${it + 1} alternations, element ${i}: ${s[i]} vs ${ref[i]}`);
  }
});

test('tweedie reconstruct --tv-z-mode: a bad mode, a solver that cannot be split per step, --mask active, ddnm time travel: one line each', () => {
  const base = ['--truth', join(tmp, 'none.nii.gz'), '--modality', 'mri', '--model', FIELD, '--out', join(tmp, 'x.nii.gz')];
  const cases: [string[], RegExp][] = [
    [['--tv-z-mode', 'sideways'], /--tv-z-mode sideways: use after .* or step/],
    [['--tv-z-mode', 'step', '--solver', 'diffpir'], /--tv-z-mode step .*works with --solver ddnm, dds, dps only.*not diffpir/],
    [['--tv-z-mode', 'step', '--mask', 'active', '--solver', 'dds'], /--tv-z-mode step cannot run with --mask active/],
    [['--tv-z-mode', 'step', '--param', 'travel_repeat=2'], /ddnm time travel .* is not available/],
  ];
  for (const [args, re] of cases) {
    const r = cli(...base, ...args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^tweedie reconstruct: [^\\n]*${re.source}[^\\n]*\\n$`));
  }
});
