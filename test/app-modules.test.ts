// The web app's browser-safe modules, in Node (which has DecompressionStream, fetch and FormData as a page does):
// .nii.gz opened with DecompressionStream against zlib's reader, and the server-mode client against a small
// server that speaks the issue-18 contract, and its job options against the real server's validator
// (test/web-server-mode.test.ts runs the app against `tweedie serve` itself).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import { gzipSync } from 'node:zlib';
import { imageVolume, parseNiftiAsync } from '../src/app/open-volume.js';
import { cancelOnServer, runOnServer, serverJobOptions, type JobStatus } from '../src/app/service-client.js';
import { checkedSpec, jobArgv } from '../src/service/job-spec.js';
import { packageRoot } from '../src/package-root.js';
import { encodeNifti, parseNifti } from '../src/io/nifti.js';
import { createVolume } from '../src/io/volume.js';
import { TweedieError } from '../src/core/errors.js';
import { serverResultVolume } from '../src/app/server-result.js';
import { encodeNpy } from '../src/io/npy-codec.js';
import { Tensor } from '../src/core/tensor.js';

const cleanup: (() => unknown)[] = [];
after(async () => {
  for (const f of cleanup.reverse()) await f();
});

test('parseNiftiAsync reads .nii and .nii.gz (DecompressionStream) exactly as parseNifti (zlib) does', async () => {
  const data = Float32Array.from({ length: 7 * 5 * 3 }, (_, i) => Math.sin(i) * 100);
  const bytes = encodeNifti(createVolume(data, [7, 5, 3], { voxelSize: [0.5, 0.7, 2] }));
  for (const input of [bytes, gzipSync(bytes)]) {
    const web = await parseNiftiAsync(input, 'v.nii.gz'), node = parseNifti(input, 'v.nii.gz');
    assert.deepEqual(web.data, node.data);
    assert.deepEqual(web.dims, [7, 5, 3]);
    assert.deepEqual(web.affine, node.affine);
  }
});

test('parseNiftiAsync stops a .nii.gz that inflates past its header (a decompression bomb) and names a corrupt stream', async () => {
  const head = encodeNifti(createVolume(new Float32Array(8), [2, 2, 2]));
  // The header declares 32 bytes of voxels; 8 MiB of zeros follow.
  const bomb = gzipSync(Buffer.concat([head, Buffer.alloc(8 << 20)]));
  await assert.rejects(parseNiftiAsync(bomb, 'bomb.nii.gz'), (e: Error) => e instanceof TweedieError && /^bomb\.nii\.gz: decompresses to more than the \d+ bytes its header declares/.test(e.message));
  const cut = gzipSync(head).subarray(0, 40);
  await assert.rejects(parseNiftiAsync(cut, 'cut.nii.gz'), (e: Error) => e instanceof TweedieError && /^cut\.nii\.gz: the gzip stream is corrupt or truncated \(.+\); re-export/.test(e.message));
});

test('imageVolume puts image row r at y = H - 1 - r (the model space orientation) with 1 mm voxels', () => {
  const v = imageVolume(Float32Array.from([1, 2, 3, 4, 5, 6]), 3, 2, 'img.png');
  assert.deepEqual(v.dims, [3, 2, 1]);
  assert.deepEqual(Array.from(v.data), [4, 5, 6, 1, 2, 3]);
  assert.equal(v.source, 'img.png');
  assert.throws(() => imageVolume(new Float32Array(5), 3, 2, 'bad.png'), /bad\.png: 5 values for a 3x2 image/);
});

/** A server with the issue-18 contract's routes, recording what it was sent; one job that runs two steps. */
async function contractServer(token: string) {
  const seen: { method: string; url: string; auth: string | undefined; body?: string }[] = [];
  const status: JobStatus = { state: 'done', progress: { done: 2, total: 2 }, metrics: { psnr: 30.5, ssim: 0.9, psnr_baseline: 20, ssim_baseline: 0.5, nfe: 2 }, results: ['metrics.json', 'out.nii.gz'] };
  const result = gzipSync(encodeNifti(createVolume(Float32Array.from([1, 2, 3, 4]), [2, 2, 1])));
  const body = (req: IncomingMessage) => new Promise<string>((ok) => {
    let s = '';
    req.setEncoding('latin1');
    req.on('data', (c: string) => (s += c));
    req.on('end', () => ok(s));
  });
  const server = createServer(async (req, res) => {
    const b = await body(req);
    seen.push({ method: req.method!, url: req.url!, auth: req.headers.authorization, ...(b ? { body: b } : {}) });
    if (req.headers.authorization !== `Bearer ${token}`) return res.writeHead(401).end('missing or wrong token');
    if (req.method === 'POST' && req.url === '/jobs') return res.writeHead(202, { 'content-type': 'application/json' }).end('{"id":"j1"}');
    if (req.url === '/jobs/j1/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('event: progress\ndata: {"state":"running","progress":{"done":1,"total":2}}\n\n');
      return res.end('data: {"state":"done","progress":{"done":2,"total":2}}\n\n');
    }
    if (req.method === 'GET' && req.url === '/jobs/j1') return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(status));
    if (req.url === '/jobs/j1/results/out.nii.gz') return res.writeHead(200).end(result);
    if (req.method === 'DELETE' && req.url === '/jobs/j1') return res.writeHead(200, { 'content-type': 'application/json' }).end('{"state":"cancelled"}');
    return res.writeHead(404).end('no such route');
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  cleanup.push(() => server.close());
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, seen, result };
}

test('server mode: the job is posted as multipart (options JSON, input file) with the bearer token, followed by SSE, its NIfTI fetched', async () => {
  const { url, seen, result } = await contractServer('s3cret');
  const statuses: string[] = [];
  let submitted = '';
  const job = await runOnServer({ url, token: 's3cret', onStatus: (s) => void statuses.push(`${s.state} ${s.progress?.done}/${s.progress?.total}`), onSubmitted: (id) => (submitted = id) },
    { task: 'reconstruct', modality: 'mri', accel: 4 }, [{ name: 'brain.nii.gz', bytes: Uint8Array.from([9, 8, 7]) }], (n) => /\.nii(\.gz)?$/.test(n));
  assert.equal(submitted, 'j1');
  assert.deepEqual(statuses, ['running 1/2', 'done 2/2']);
  assert.equal(job.status.state, 'done');
  assert.deepEqual(job.result?.name, 'out.nii.gz');
  assert.deepEqual(Buffer.from(job.result!.bytes), result);
  assert.deepEqual(seen.map((s) => `${s.method} ${s.url}`), ['POST /jobs', 'GET /jobs/j1/events', 'GET /jobs/j1', 'GET /jobs/j1/results/out.nii.gz']);
  assert.ok(seen.every((s) => s.auth === 'Bearer s3cret'));
  const post = seen[0]!.body!;
  assert.match(post, /name="options"\r\n\r\n\{"task":"reconstruct","modality":"mri","accel":4\}\r\n/);
  assert.match(post, /name="input"; filename="brain\.nii\.gz"\r\nContent-Type: application\/octet-stream\r\n\r\n\x09\x08\x07\r\n/);
  await cancelOnServer({ url, token: 's3cret' }, 'j1');
  assert.equal(seen.at(-1)!.method, 'DELETE');
});

test('server mode: a wrong token and an unreachable server are one sentence each', async () => {
  const { url } = await contractServer('right');
  const input = [{ name: 'a.nii', bytes: new Uint8Array(1) }];
  await assert.rejects(runOnServer({ url, token: 'wrong' }, {}, input, () => true), (e: Error) => e instanceof TweedieError && /^the server at http:\S+ refused the token; paste the token it was started with \(TWEEDIE_TOKEN\)$/.test(e.message));
  await assert.rejects(runOnServer({ url: 'http://127.0.0.1:1', token: 'x' }, {}, input, () => true), /the server at http:\/\/127\.0\.0\.1:1 cannot be reached \(.*\); check its address and that it is running/);
});

test('server mode sends the CLI\'s options: the server accepts them and runs exactly `tweedie reconstruct|restore` with them', () => {
  const common = { model: 'weights/brain-64', steps: 10, seed: 3, slices: [1, 4] as [number, number] };
  const argv = (req: Parameters<typeof serverJobOptions>[0]) => {
    const { task, ...options } = serverJobOptions(req, 'brain.nii.gz');
    return [task, ...jobArgv(checkedSpec({ task, ...options }, ['brain.nii.gz']), 'IN', 'OUT')];
  };
  const brain64 = `--model=${packageRoot}/weights/brain-64`;
  assert.deepEqual(argv({ ...common, task: 'mri', accel: 8, mask: 'random' }),
    ['reconstruct', '--out=OUT/recon.nii.gz', '--truth=IN/brain.nii.gz', '--modality=mri', '--accel=8', '--mask=random', brain64, '--steps=10', '--seed=3', '--slices=1:4', '--json']);
  assert.deepEqual(argv({ ...common, task: 'ct', views: 20 }),
    ['reconstruct', '--out=OUT/recon.nii.gz', '--truth=IN/brain.nii.gz', '--modality=ct', '--views=20', brain64, '--steps=10', '--seed=3', '--slices=1:4', '--json']);
  assert.deepEqual(argv({ ...common, task: 'restore', model: 'weights/brain-irsde', simulate: false }),
    ['restore', '--out=OUT/restored.nii.gz', '--input=IN/brain.nii.gz', `--model=${packageRoot}/weights/brain-irsde`, '--steps=10', '--seed=3', '--slices=1:4', '--json']);
  assert.throws(() => serverJobOptions({ ...common, task: 'restore', model: 'weights/brain-irsde', simulate: true }, 'brain.nii.gz'), /the server restores the file as it is .*set "simulate" to no, or run in this browser/);
  // A volume is restored on the page's slices, as in the browser; a PNG (one image) to a float .npy, with the page's
  // starting noise; a fastMRI file is `reconstruct --measurement`.
  const args = (req: Parameters<typeof serverJobOptions>[0], name: string) => {
    const { task, ...options } = serverJobOptions(req, name);
    return [task, ...jobArgv(checkedSpec({ task, ...options }, [name]), 'IN', 'OUT')];
  };
  assert.deepEqual(args({ ...common, task: 'restore', model: 'weights/brain-irsde', simulate: false, boundary: 'random' }, 'slice.png'),
    ['restore', '--out=OUT/restored.npy', '--input=IN/slice.png', `--model=${packageRoot}/weights/brain-irsde`, '--steps=10', '--seed=3', '--boundary=random', '--json']);
  assert.deepEqual(args({ ...common, task: 'kspace', accel: 4, mask: 'random' }, 'knee.h5'),
    ['reconstruct', '--out=OUT/recon.nii.gz', '--measurement=IN/knee.h5', '--accel=4', '--mask=random', brain64, '--steps=10', '--seed=3', '--slices=1:4', '--json']);
  assert.deepEqual(args({ ...common, task: 'kspace' }, 'knee.h5'),
    ['reconstruct', '--out=OUT/recon.nii.gz', '--measurement=IN/knee.h5', brain64, '--steps=10', '--seed=3', '--slices=1:4', '--json']);
  assert.throws(() => serverJobOptions({ ...common, task: 'mri' }, 'slice.png'), /the server reconstructs a NIfTI file or a DICOM series; a PNG is restored/);
});

test('a server result onto the page\'s grid: a PNG\'s restored .npy back to grey levels, a k-space job\'s slices back in place', async () => {
  // A 2 x 3 PNG as the page opened it; the restored x in the model range [-1, 3] (as tweedie restore reads a PNG,
  // x = lo + (hi - lo) g / 255) maps back to g, rows top to bottom, values outside the range clipped.
  const input = imageVolume(new Float32Array(6), 3, 2, 'a.png');
  const x = new Tensor([1, 1, 2, 3], Float32Array.from([-1, 3, 1, 5, -2, 0]));
  const png = await serverResultVolume({ name: 'restored.npy', bytes: encodeNpy(x) }, input, [0, 1], [-1, 3]);
  assert.deepEqual(png.dims, [3, 2, 1]);
  // imageVolume puts image row r at y = 1 - r: the first row [-1, 3, 1] -> [0, 255, 127.5] at y = 1.
  assert.deepEqual(Array.from(png.data), [255, 0, 63.75, 0, 255, 127.5]);
  // reconstruct --measurement writes slices [1, 2) only: they go back at z = 1 of a 3-slice input, 0 elsewhere.
  const like = createVolume(new Float32Array(2 * 2 * 3), [2, 2, 3], { voxelSize: [0.5, 0.5, 3] });
  const part = encodeNifti(createVolume(Float32Array.from([1, 2, 3, 4]), [2, 2, 1]));
  const placed = await serverResultVolume({ name: 'recon.nii', bytes: part }, like, [1, 2], [-1, 1]);
  assert.deepEqual(Array.from(placed.data), [0, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0]);
  assert.deepEqual(placed.affine, like.affine);
  await assert.rejects(serverResultVolume({ name: 'recon.nii', bytes: part }, like, [0, 2], [-1, 1]), /recon\.nii: the server returned 1 slices for slices 0\.\.1 of 3/);
});
