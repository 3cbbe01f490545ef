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
