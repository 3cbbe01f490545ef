import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

const run = (...args: string[]) => spawnSync(process.execPath, ['bin/tweedie.js', ...args], { encoding: 'utf8' });

test('tweedie info prints version, backends and threads; --json is machine-readable', () => {
  const r = run('info', '--json');
  assert.equal(r.status, 0, r.stderr);
  const info = JSON.parse(r.stdout);
  assert.match(info.version, /^\d+\.\d+\.\d+/);
  assert.ok(Array.isArray(info.backends) && info.backends.length >= 1);
  assert.ok(info.threads >= 1);
  assert.match(run('info').stdout, /^tweedie \d/);
});

test('usage errors exit 2 with a one-line message naming the input; --help exits 0', () => {
  const bad = run('info', '--bogus');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /bogus/);
  assert.equal(bad.stderr.trim().split('\n').length, 1);
  assert.equal(bad.stdout, '');
  const unknown = run('frobnicate');
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /unknown command "frobnicate"/);
  for (const cmd of ['info', 'bench']) {
    const h = run(cmd, '--help');
    assert.equal(h.status, 0);
    assert.match(h.stdout, new RegExp(`tweedie ${cmd}`));
  }
  const nobench = run('bench', 'nope');
  assert.equal(nobench.status, 2);
  assert.match(nobench.stderr, /unknown benchmark "nope"/);
});

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseNpy, writeNpy } from '../src/io/npy.js';
import { Tensor } from '../src/core/tensor.js';

const tmp = mkdtempSync(join(tmpdir(), 'tweedie-cli-'));

test('tweedie sample: same seed gives the same samples whatever the batch size; --json reports NFE', () => {
  const a = join(tmp, 'a.npy'), b = join(tmp, 'b.npy');
  const common = ['sample', '--model', 'gmm:examples/mixture-2d.json', '--path', 've', '--sampler', 'ddim', '--param', 'eta=1', '--steps', '8', '--seed', '3', '-n', '5'];
  const r1 = run(...common, '--batch', '2', '--out', a, '--json');
  const r2 = run(...common, '--batch', '5', '--out', b);
  assert.equal(r1.status, 0, r1.stderr);
  assert.equal(r2.status, 0, r2.stderr);
  const s = JSON.parse(r1.stdout);
  assert.equal(s.nfe, 8 * 3, 'three batches of 8 steps');
  assert.ok(s.seconds >= 0);
  const xa = parseNpy(readFileSync(a)), xb = parseNpy(readFileSync(b));
  assert.deepEqual(xa.shape, [5, 2]);
  assert.deepEqual(xa.data, xb.data);
  const other = run(...common.map((v) => (v === '3' ? '4' : v)), '--out', b);
  assert.equal(other.status, 0);
  assert.notDeepEqual(parseNpy(readFileSync(b)).data, xa.data);
});

test('tweedie sample --init uses the given noise (scaled by the path)', () => {
  const init = join(tmp, 'init.npy'), out1 = join(tmp, 'i1.npy'), out2 = join(tmp, 'i2.npy');
  writeNpy(init, Tensor.from([3, 2], [0.1, -0.2, 1.5, 0.3, -1, 2]));
  const base = ['sample', '--model', 'gmm:examples/mixture-2d.json', '--path', 'vp', '--sampler', 'ddim', '--steps', '5', '-n', '3', '--init', init];
  assert.equal(run(...base, '--seed', '1', '--out', out1).status, 0);
  assert.equal(run(...base, '--seed', '2', '--out', out2).status, 0);
  // Deterministic DDIM from the same noise: the seed does not matter.
  assert.deepEqual(parseNpy(readFileSync(out1)).data, parseNpy(readFileSync(out2)).data);
  const bad = run('sample', '--model', 'gmm:examples/mixture-2d.json', '-n', '4', '--init', init, '--out', out1);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--init .*init.npy has shape \[3, 2\] but 4 samples/);
});

test('tweedie sample: bad input exits with a message naming it', () => {
  const out = join(tmp, 'x.npy');
  const cases: [string[], number, RegExp][] = [
    [['sample', '--model', 'gmm:examples/mixture-2d.json', '--sampler', 'nope', '--out', out], 2, /unknown sampler "nope"/],
    [['sample', '--model', 'gmm:examples/mixture-2d.json', '--out', join(tmp, 'x.txt')], 2, /use a .npy or .png/],
    [['sample', '--model', 'gmm:missing.json', '--out', out], 1, /missing.json does not exist/],
    [['sample', '--model', 'gmm:examples/mixture-2d.json', '--param', 'eta=-1', '--out', out], 2, /eta = -1 is outside/],
    [['sample', '--model', 'gmm:examples/mixture-2d.json', '--path', 'warp', '--out', out], 2, /unknown path "warp"/],
    [['sample', '--model', 'gmm:examples/mixture-2d.json', '--steps', '0', '--out', out], 2, /--steps must be an integer >= 1/],
    [['sample', '--model', 'gmm:examples/mixture-2d.json', '--out', join(tmp, 'x.png')], 2, /PNG grid needs image-shaped samples/],
  ];
  for (const [args, code, re] of cases) {
    const r = run(...args);
    assert.equal(r.status, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
  }
});

test('tweedie samplers lists every sampler with order and NFE per step', () => {
  const r = run('samplers', '--json');
  assert.equal(r.status, 0);
  const rows = JSON.parse(r.stdout) as { name: string; order: number; nfe_per_step: unknown; deterministic: boolean }[];
  for (const name of ['ddim', 'ddim-inverse']) assert.ok(rows.some((x) => x.name === name), name);
  for (const row of rows) assert.ok(row.order > 0 && row.nfe_per_step !== undefined);
});

test('tweedie demo: the shipped brain-64 prior beats zero-filling on a held-out slice; --json has the documented keys', () => {
  const outDir = join(tmp, 'demo');
  const r = run('demo', '--steps', '10', '--out-dir', outDir, '--json');
  assert.equal(r.status, 0, r.stderr);
  const f = JSON.parse(r.stdout);
  for (const k of ['psnr_zero_filled', 'psnr_recon', 'ssim_zero_filled', 'ssim_recon', 'seconds', 'nfe']) assert.equal(typeof f[k], 'number', k);
  assert.equal(f.nfe, 10);
  assert.ok(f.psnr_recon > f.psnr_zero_filled + 1, `reconstruction ${f.psnr_recon} dB vs zero-filled ${f.psnr_zero_filled} dB`);
  assert.ok(f.ssim_recon > f.ssim_zero_filled);
  assert.ok(readFileSync(join(outDir, 'demo.png')).length > 1000);
  const bad = run('demo', '--slice', '99', '--out-dir', outDir);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--slice 99 is outside the held-out slab/);
});
