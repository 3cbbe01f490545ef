import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, linkSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor } from '../src/core/tensor.js';
import { writeNpy } from '../src/io/npy.js';
import { checkOutputs, commitOutputs } from '../src/cli/output.js';

// Nothing the user had is lost: outputs never overwrite inputs, are checked before the work, and are
// written all or none, also when the command is interrupted.

const CH2 = '/usr/share/mricron/templates/ch2.nii.gz';
const dir = () => mkdtempSync(join(tmpdir(), 'tweedie-out-'));
const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/tweedie.js', ...args], { encoding: 'utf8', timeout: 60_000 });

function refused(r: ReturnType<typeof cli>, pattern: RegExp): void {
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
  assert.match(r.stderr, pattern);
  assert.doesNotMatch(r.stderr, /internal error|\n\s+at /);
}

test('an output that is one of the inputs (by name, hard link or inside the model folder) is refused and the input kept', () => {
  const d = dir(), noise = join(d, 'n.npy');
  writeNpy(noise, new Tensor([2, 2]));
  const before = readFileSync(noise);
  refused(cli('sample', '--model', 'gmm:examples/mixture-2d.json', '-n', '2', '--init', noise, '--out', noise), /--out .*n\.npy would overwrite --init/);
  const link = join(d, 'link.npy');
  linkSync(noise, link);
  refused(cli('sample', '--model', 'gmm:examples/mixture-2d.json', '-n', '2', '--init', noise, '--out', link), /would overwrite --init/);
  refused(cli('restore', '--input', noise, '--out', noise), /would overwrite --input/);
  refused(cli('solve', '--model', 'gmm:examples/patterns-8x8.json', '--operator', 'inpaint:box=4', '--truth', 'examples/patterns-truth.npy', '--out', 'examples/patterns-truth.npy'), /would overwrite --truth/);
  refused(cli('sample', '--model', 'weights/brain-64', '--out', 'weights/brain-64/heldout.npy'), /would overwrite --model weights\/brain-64/);
  assert.deepEqual(readFileSync(noise), before);
});

test('reconstruct refuses --out equal to --truth or to --out-model before any work', () => {
  const d = dir(), vol = join(d, 'v.nii.gz');
  writeFileSync(vol, readFileSync(CH2));
  const t0 = performance.now();
  refused(cli('reconstruct', '--truth', vol, '--modality', 'mri', '--steps', '50', '--out', vol), /--out .*v\.nii\.gz would overwrite --truth/);
  refused(cli('reconstruct', '--truth', vol, '--modality', 'mri', '--out', join(d, 'a.nii.gz'), '--out-model', join(d, 'a.nii.gz')), /--out-model and --out both name/);
  assert.ok(performance.now() - t0 < 30_000, 'refused before reconstructing 181 slices');
  assert.deepEqual(readFileSync(vol), readFileSync(CH2));
});

test('a missing output folder or a PNG for non-image samples is a usage error before the work', () => {
  const t0 = performance.now();
  // 64 samples x 1000 steps of fmnist-32 would take minutes; the check comes first.
  refused(cli('sample', '--model', 'weights/fmnist-32', '--steps', '1000', '-n', '64', '--out', 'no/such/dir/x.png'), /--out no\/such\/dir\/x\.png: the folder no\/such\/dir does not exist/);
  refused(cli('sample', '--model', 'gmm:examples/mixture-2d.json', '--steps', '1000', '-n', '5000', '--out', join(dir(), 'x.png')), /a PNG grid needs image-shaped samples/);
  assert.ok(performance.now() - t0 < 30_000);
});

test('commitOutputs writes all outputs or none: a failing second output leaves the first file as it was', () => {
  const d = dir(), a = join(d, 'a.npy'), blocker = join(d, 'blocker');
  writeFileSync(a, 'previous');
  writeFileSync(blocker, 'a file where a folder should be');
  assert.throws(() => commitOutputs([{ file: a, bytes: new Uint8Array([1, 2, 3]) }, { file: join(blocker, 'b.npy'), bytes: new Uint8Array([4]) }]), /cannot write .*nothing was written/);
  assert.equal(readFileSync(a, 'utf8'), 'previous');
  assert.deepEqual(readdirSync(d).sort(), ['a.npy', 'blocker'], 'no temporary or backup file is left');
  commitOutputs([{ file: a, bytes: new Uint8Array([1, 2, 3]) }, { file: join(d, 'b.npy'), bytes: new Uint8Array([4]) }]);
  assert.deepEqual([...readFileSync(a)], [1, 2, 3]);
  assert.deepEqual(readdirSync(d).sort(), ['a.npy', 'b.npy', 'blocker']);
  assert.throws(() => checkOutputs([{ option: '--out', file: join(blocker, 'c.npy') }], []), /cannot write in|does not exist/);
});

/** Start a long command, interrupt it once it runs, and return its exit status and stderr. */
function interrupt(args: string[], signal: NodeJS.Signals, afterMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; pid: number }> {
  const child = spawn(process.execPath, ['bin/tweedie.js', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b) => (stderr += String(b)));
  setTimeout(() => child.kill(signal), afterMs);
  return new Promise((ok) => child.on('exit', (code, sig) => ok({ code, signal: sig, stderr, pid: child.pid! })));
}

test('SIGINT and SIGTERM during a run: one line, then the process ends by that signal (130 / 143 in a shell), the previous output intact, no temporary file, no worker left', async () => {
  const d = dir(), out = join(d, 'samples.npy');
  writeFileSync(out, 'previous');
  const a = await interrupt(['sample', '--model', 'weights/fmnist-32', '--steps', '1000', '-n', '64', '--out', out], 'SIGINT', 2500);
  assert.deepEqual([a.code, a.signal], [null, 'SIGINT'], a.stderr);
  assert.match(a.stderr, /tweedie sample: stopped by SIGINT/);
  const recon = join(d, 'recon.nii.gz');
  writeFileSync(recon, 'previous');
  const b = await interrupt(['reconstruct', '--truth', CH2, '--modality', 'mri', '--steps', '200', '--workers', '2', '--out', recon], 'SIGTERM', 4000);
  assert.deepEqual([b.code, b.signal], [null, 'SIGTERM'], b.stderr);
  assert.match(b.stderr, /tweedie reconstruct: stopped by SIGTERM/);
  assert.equal(readFileSync(out, 'utf8'), 'previous');
  assert.equal(readFileSync(recon, 'utf8'), 'previous');
  assert.deepEqual(readdirSync(d).sort(), ['recon.nii.gz', 'samples.npy'], 'no temporary file is left');
  assert.throws(() => process.kill(b.pid, 0), /ESRCH/, 'the process and its worker threads are gone');
  assert.ok(!existsSync(join(d, '.recon.nii.gz.tmp')));
});
