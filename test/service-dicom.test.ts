import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pydicomOracle, runTool } from '../bench/lib/dicom-tools.js';
import { api, serve, stop, submit, untilState, type Proc } from '../bench/lib/service-procs.js';
import { readNpy } from '../src/io/npy.js';

// DICOM over HTTP: a job's input is a series uploaded as several files (a list in options.input / options.truth), and
// out "NAME/" returns a derived DICOM series as the job's result files. Read back with pydicom and dcmdump, and equal
// to what `tweedie restore` / `tweedie reconstruct` write from the same series on the command line.
const ORACLE = fileURLToPath(new URL('../../test/helpers/dicom_oracle.py', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'tweedie-service-dicom-'));
let server: Proc & { url: string };
let restoreJob: { id: string; dir: string } | null = null;
before(async () => {
  server = await serve(['--data', join(tmp, 'data')]);
});
after(() => stop(server));

const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/tweedie.js', ...args], { encoding: 'utf8' });

/** dcmdump's value of one attribute of a file. */
function attr(file: string, tag: string): string {
  const line = runTool('dcmdump', ['-Un', '+P', tag, file]).trim();
  return /\[(.*)\]/.exec(line)?.[1] ?? '';
}

/** pydicom's rescaled decoding of the files of a folder, [frames, rows, cols], in file-name order. */
function decodeFolder(dir: string, name: string): Float64Array {
  const out = join(tmp, `${name}.npy`);
  pydicomOracle(ORACLE, ['decode', out, ...readdirSync(dir).sort().map((f) => join(dir, f))]);
  return Float64Array.from(readNpy(out).data, Number);
}

/** A series pydicom wrote (`series DIR N [SIZE [INTERCEPT]]`), as upload parts. */
function series(name: string, n: number, size?: number, intercept?: number): { dir: string; files: { name: string; bytes: Uint8Array }[] } {
  const dir = join(tmp, name);
  mkdirSync(dir);
  pydicomOracle(ORACLE, ['series', dir, String(n), ...(size ? [String(size)] : []), ...(intercept !== undefined ? [String(intercept)] : [])]);
  return { dir, files: readdirSync(dir).sort().map((f) => ({ name: f, bytes: readFileSync(join(dir, f)) })) };
}

/** Run a job to the end and fetch its results into a folder. */
async function runToFolder(options: Record<string, unknown>, files: { name: string; bytes: Uint8Array }[], name: string): Promise<{ dir: string; status: Record<string, any> }> {
  const r = await submit(server.url, options, files);
  assert.equal(r.status, 202, await r.clone().text());
  const { id } = (await r.json()) as { id: string };
  const status = await untilState(server.url, id, ['done', 'failed'], 300_000);
  assert.equal(status.state, 'done', status.error);
  const dir = join(tmp, name);
  mkdirSync(dir);
  for (const f of status.results as string[]) writeFileSync(join(dir, f), new Uint8Array(await (await api(server.url, `/jobs/${id}/results/${f}`)).arrayBuffer()));
  return { dir, status };
}

test('a restore job takes a DICOM series uploaded as several files and returns a derived series, file for file what the CLI writes', async () => {
  // Background at 0 (RescaleIntercept 500): restore maps a volume by the model-space rule, which needs positive intensities.
  const src = series('restore-in', 3, 64, 500);
  const common = { model: 'brain-irsde', steps: 2, threads: 1, seed: 5 };
  const { dir, status } = await runToFolder({ task: 'restore', ...common, input: src.files.map((f) => f.name), out: 'restored/' }, src.files, 'restore-http');
  assert.deepEqual(status.results, ['IMG00001.dcm', 'IMG00002.dcm', 'IMG00003.dcm']);
  assert.equal(status.metrics.out, 'restored/');
  const local = join(tmp, 'restore-cli') + '/';
  const r = cli('restore', '--input', src.dir, '--model', 'weights/brain-irsde', '--steps', '2', '--threads', '1', '--seed', '5', '--out', local);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(decodeFolder(dir, 'restore-http'), decodeFolder(local, 'restore-cli'));
  const first = join(dir, 'IMG00001.dcm'), input = join(src.dir, src.files[0]!.name);
  assert.equal(attr(first, '0008,103e'), 'tweedie restore mrs 2 steps');
  assert.equal(attr(first, '0010,0010'), 'Oracle^Colin');
  assert.equal(attr(first, '0020,000d'), attr(input, '0020,000d'), 'the study of the input');
  assert.notEqual(attr(first, '0020,000e'), attr(input, '0020,000e'), 'a new series');
  assert.match(attr(first, '0008,0008'), /^DERIVED/);
  restoreJob = { id: status.id, dir };
});

test('GET /jobs/:id/results.zip: the derived series in one archive that unzip reads, file for file the results', async () => {
  assert.ok(restoreJob, 'needs the restore job above');
  const r = await api(server.url, `/jobs/${restoreJob.id}/results.zip`);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'application/zip');
  assert.match(r.headers.get('content-disposition') ?? '', new RegExp(`filename="${restoreJob.id}\\.zip"`));
  const zip = join(tmp, 'restored.zip'), out = join(tmp, 'unzipped');
  writeFileSync(zip, new Uint8Array(await r.arrayBuffer()));
  const test = spawnSync('unzip', ['-t', zip], { encoding: 'utf8' });
  assert.equal(test.status, 0, test.stdout + test.stderr);
  assert.equal(spawnSync('unzip', ['-q', zip, '-d', out]).status, 0);
  assert.deepEqual(readdirSync(out).sort(), ['IMG00001.dcm', 'IMG00002.dcm', 'IMG00003.dcm']);
  for (const f of readdirSync(out)) assert.deepEqual(readFileSync(join(out, f)), readFileSync(join(restoreJob.dir, f)), f);
});

test('results.zip of an unknown job is 404 and of an unfinished one 409, each with one line', async () => {
  const unknown = await api(server.url, '/jobs/00000000-0000-4000-8000-000000000000/results.zip');
  assert.equal(unknown.status, 404);
  assert.match(((await unknown.json()) as { error: string }).error, /^no job /);
  const src = series('zip-running', 2, 64, 500);
  const r = await submit(server.url, { task: 'restore', model: 'brain-irsde', steps: 400, threads: 1, input: src.files.map((f) => f.name), out: 'slow/' }, src.files);
  const { id } = (await r.json()) as { id: string };
  const early = await api(server.url, `/jobs/${id}/results.zip`);
  assert.equal(early.status, 409);
  assert.match(((await early.json()) as { error: string }).error, /can be fetched once it has finished/);
  await api(server.url, `/jobs/${id}`, { method: 'DELETE' });
});

test('a reconstruct job takes a DICOM truth series and returns a derived series equal to the CLI\'s', async () => {
  const src = series('recon-in', 4);
  const opts = ['--modality', 'mri', '--solver', 'ddnm', '--steps', '3', '--slices', '1:3', '--workers', '1', '--tv-z', '0'];
  const { dir, status } = await runToFolder(
    { task: 'reconstruct', truth: src.files.map((f) => f.name), modality: 'mri', solver: 'ddnm', steps: 3, slices: '1:3', workers: 1, 'tv-z': 0, out: 'recon/' }, src.files, 'recon-http');
  assert.equal(status.results.length, 4);
  assert.equal(typeof status.metrics.psnr, 'number');
  const local = join(tmp, 'recon-cli') + '/';
  const r = cli('reconstruct', '--truth', src.dir, ...opts, '--out', local);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(decodeFolder(dir, 'recon-http'), decodeFolder(local, 'recon-cli'));
  assert.equal(attr(join(dir, 'IMG00001.dcm'), '0008,103e'), 'tweedie reconstruct ddnm 3 steps');
});

test('a series list naming a file not uploaded, a list where a file is expected, and an out folder with a path are refused in one line', async () => {
  const one = { name: 'a.dcm', bytes: new Uint8Array(8) };
  for (const [options, pattern] of [
    [{ task: 'restore', input: ['a.dcm', 'b.dcm'], out: 'r/' }, /options\.input "b\.dcm" is not an uploaded file/],
    [{ task: 'restore', input: [], out: 'r/' }, /options\.input/],
    [{ task: 'reconstruct', truth: 'a.dcm', modality: 'mri', 'mask-file': ['a.dcm'] }, /options\.mask-file/],
    [{ task: 'restore', input: ['a.dcm'], out: 'x/y/' }, /options\.out .*must be a plain file name/],
  ] as [Record<string, unknown>, RegExp][]) {
    const r = await submit(server.url, options, [one]);
    assert.equal(r.status, 400, JSON.stringify(options));
    const { error } = (await r.json()) as { error: string };
    assert.match(error, pattern);
    assert.equal(error.split('\n').length, 1);
  }
});

test('tweedie serve serves the app\'s HDF5 reader (h5wasm, for fastMRI files in the page) without a token', async () => {
  const r = await api(server.url, '/node_modules/h5wasm/dist/esm/hdf5_hl.js', {}, null);
  assert.equal(r.status, 200);
  assert.match(await r.text(), /from '\.\/hdf5_util\.js'/);
  assert.equal((await api(server.url, '/node_modules/h5wasm/package.json', {}, null)).status, 401, 'only the ESM build folder is served');
});
