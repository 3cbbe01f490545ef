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
import { COMMANDS } from '../src/cli/main.js';
import { helpText, parseConfig, parseOptions } from '../src/cli/options.js';

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

test('bench quality refuses sampler options in one line naming TWEEDIE_BENCH_PARAMS, before any sampling', () => {
  const bench = (params: string, samplers: string) =>
    spawnSync(process.execPath, ['bin/tweedie.js', 'bench', 'quality'], { encoding: 'utf8', env: { ...process.env, TWEEDIE_BENCH_PARAMS: params, TWEEDIE_BENCH_SAMPLERS: samplers } });
  const cases: [string, string, RegExp][] = [
    ['tau=1.5', 'sa-solver,ddim', /TWEEDIE_BENCH_PARAMS: ddim has no option "tau"/],
    ['tau', 'sa-solver', /TWEEDIE_BENCH_PARAMS "tau" must look like KEY=VALUE/],
    ['tau=-1', 'sa-solver', /TWEEDIE_BENCH_PARAMS: .*tau = -1 is outside/],
  ];
  for (const [params, samplers, re] of cases) {
    const r = bench(params, samplers);
    assert.equal(r.status, 2, `${params} with ${samplers}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
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
  const png = join(tmp, 'demo', 'demo.png');
  const r = run('demo', '--steps', '10', '--out', png, '--json');
  assert.equal(r.status, 0, r.stderr);
  const f = JSON.parse(r.stdout);
  for (const k of ['psnr', 'ssim', 'psnr_baseline', 'ssim_baseline', 'seconds', 'nfe', 'steps']) assert.equal(typeof f[k], 'number', k);
  assert.equal(f.baseline, 'zero-filled');
  assert.equal(f.out, png);
  assert.equal(f.nfe, 10);
  assert.equal(f.steps, 10);
  assert.ok(f.psnr > f.psnr_baseline + 1, `reconstruction ${f.psnr} dB vs zero-filled ${f.psnr_baseline} dB`);
  assert.ok(f.ssim > f.ssim_baseline);
  assert.ok(readFileSync(png).length > 1000);
  const bad = run('demo', '--slice', '99', '--out', png);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--slice 99 is outside the held-out slab/);
});

test('every command: --help lists exactly the options it accepts (both come from its option table)', () => {
  for (const cmd of COMMANDS) {
    const h = run(cmd.name, '--help');
    assert.equal(h.status, 0, h.stderr);
    assert.equal(h.stdout, helpText(cmd) + '\n', `${cmd.name} prints its table's help`);
    assert.match(h.stdout, new RegExp(`^tweedie ${cmd.name}`));
    const mentioned = new Set([...h.stdout.matchAll(/(?<![\w-])(--?[a-z][a-z0-9-]*)/g)].map((m) => m[1]!));
    for (const name of Object.keys(parseConfig(cmd))) {
      const flag = name.length === 1 ? `-${name}` : `--${name}`;
      assert.ok(mentioned.has(flag), `tweedie ${cmd.name} accepts ${flag} but its --help does not mention it`);
    }
    for (const flag of mentioned) {
      assert.doesNotThrow(() => {
        try {
          parseOptions(cmd, [flag]);
        } catch (e) {
          if (/Unknown option/.test((e as Error).message)) throw e;
        }
      }, `tweedie ${cmd.name} --help mentions ${flag}, which it does not accept`);
    }
  }
});

test('one name per quantity: acceleration is --accel, the ground truth --truth, the output file --out', () => {
  const accepts = (name: string) => COMMANDS.filter((c) => name in c.options).map((c) => c.name).sort();
  assert.deepEqual(accepts('accel'), ['demo', 'reconstruct']);
  assert.deepEqual(accepts('truth'), ['reconstruct', 'restore', 'solve']);
  for (const old of ['acceleration', 'out-dir', 'simulate-from']) assert.deepEqual(accepts(old), [], old);
  for (const c of ['demo', 'sample', 'solve', 'restore', 'reconstruct']) assert.ok(accepts('out').includes(c), c);
});

test('results go to stdout (a summary line, or one JSON object), nothing else to stderr', () => {
  const out = join(tmp, 'summary.npy');
  const s = run('sample', '--model', 'gmm:examples/mixture-2d.json', '--steps', '3', '-n', '2', '--out', out);
  assert.equal(s.status, 0, s.stderr);
  assert.match(s.stdout, /^wrote \S*summary\.npy: 2 samples, 3 steps, NFE 3/);
  assert.equal(s.stderr, '');
  const v = run('solve', '--model', 'gmm:examples/patterns-8x8.json', '--operator', 'inpaint:box=4,noise=0.01', '--truth', 'examples/patterns-truth.npy', '--solver', 'ddnm', '--steps', '4', '--out', out);
  assert.equal(v.status, 0, v.stderr);
  assert.match(v.stdout, /^wrote \S*summary\.npy: 1 sample, ddnm on inpaint.*PSNR \d+\.\d\d dB/);
  assert.equal(v.stderr, '');
  const j = run('solve', '--operator', 'inpaint:box=4,noise=0.01', '--truth', 'examples/patterns-truth.npy', '--solver', 'zero-filled', '--out', out, '--json');
  assert.equal(j.status, 0, j.stderr);
  const f = JSON.parse(j.stdout);
  for (const k of ['solver', 'operator', 'steps', 'n', 'nfe', 'seconds', 'out', 'psnr']) assert.ok(k in f, k);
  assert.equal(f.steps, 0, 'a baseline without a prior takes no diffusion steps');
});

test('every command with --steps, --seed or --threads refuses values past its limit with exit 2 and one line naming the option', () => {
  const npy = join(tmp, 'limit.npy');
  const minimal: Record<string, string[]> = {
    sample: ['--model', 'gmm:examples/mixture-2d.json', '--out', npy],
    solve: ['--operator', 'inpaint:box=4', '--truth', 'examples/patterns-truth.npy', '--solver', 'zero-filled', '--out', npy],
    restore: ['--input', 'examples/fmnist-t10k-64.npy', '--out', npy],
    demo: ['--out', join(tmp, 'limit.png')],
    reconstruct: ['--truth', join(tmp, 'none.nii'), '--modality', 'mri', '--out', join(tmp, 'limit.nii')],
  };
  const probes: [string, string, RegExp][] = [
    ['steps', '20000', /--steps must be an integer >= 1 and <= 10000, got "20000"/],
    ['seed', '1e20', /--seed must be an integer >= 0 and <= 2\^53-1, got "1e20"/],
    ['threads', '100000', /--threads 100000 is more than the \d+ cores of this machine; use --threads \d+ or less \(or set TWEEDIE_THREADS_FORCE=1/],
  ];
  for (const [name, args] of Object.entries(minimal)) {
    const cmd = COMMANDS.find((c) => c.name === name)!;
    for (const [option, value, re] of probes) {
      assert.ok(option in cmd.options, `${name} takes --${option}`);
      const r = run(name, ...args, `--${option}`, value);
      assert.equal(r.status, 2, `${name} --${option} ${value}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, re, name);
    }
    const help = helpText(cmd);
    assert.match(help, /--steps N\s+\w[^\n]*1\.\.10000/, `${name} --help states the steps limit`);
    assert.match(help, /TWEEDIE_THREADS_FORCE=1/, `${name} --help says how to allow more threads`);
  }
  assert.match(run('--help').stdout, /exit status: 0 success, 1 runtime error, 2 usage error/);
});

test('option parse errors are one line without repeating the command name', () => {
  for (const args of [['--steps', '-3'], ['--steps', '--out', 'x.npy'], ['-n', '-1'], ['--bogus'], ['--json=1'], ['-n']]) {
    const r = run('sample', '--model', 'gmm:examples/mixture-2d.json', ...args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, JSON.stringify(r.stderr));
    assert.match(r.stderr, /^tweedie sample: (?!sample:)\S/);
    assert.match(r.stderr, /see "tweedie sample --help"/);
  }
});
