// The app: open a NIfTI / DICOM / PNG image, view its slices, reconstruct (MRI, CT) or restore (denoise, super-resolve,
// deblur) it in a Web Worker (web/worker.js, onnxruntime-web) or on a tweedie server, compare, and download the result.
// Files are read here on the main thread; the model runs in the worker, so the page stays responsive.
// window.app exposes the state the browser test reads (the result, long tasks); the test drives the form itself.
import * as tw from '../dist/src/browser.js';

const $ = (id) => document.getElementById(id);
const ROOT = new URL('../', import.meta.url);
const MODELS = ['weights/brain-64', 'weights/brain-irsde', 'weights/brain-resshift', 'weights/brain-rddm'];
const DEFAULT_MODEL = { mri: 'weights/brain-64', ct: 'weights/brain-64', denoise: 'weights/brain-irsde', sr4: 'weights/brain-irsde', deblur: 'weights/brain-irsde' };
const RESTORE = new Set(['denoise', 'sr4', 'deblur']);
// Restoration takes `tweedie restore`'s 10 steps, the setting the shipped optimal boundaries were selected for.
const DEFAULT_STEPS = { mri: 20, ct: 20, denoise: 10, sr4: 10, deblur: 10 };

const state = { input: null, image: null, files: [], kspace: null, result: null, window: [0, 1], worker: null, cancel: null, job: null, controller: null, stopped: false };
const longTasks = [];
new PerformanceObserver((list) => longTasks.push(...list.getEntries().map((e) => e.duration))).observe({ type: 'longtask', buffered: true });

function status(text, error = false) {
  $('status').textContent = text;
  $('status').className = error ? 'error' : '';
}

/** One human sentence for a failure: the library's message names the input and the fix; codes stay out of sight. */
function failed(what, e) {
  clearResult();
  status(`${what}: ${String(e?.message ?? e).replace(/^Error: /, '')}`, true);
}

// ------------------------------------------------------------------------------------------------ opening files

async function readPng(file) {
  const bitmap = await createImageBitmap(file).catch(() => tw.fail('UNREADABLE_FILE', `${file.name} is not a readable PNG image; re-save it as PNG`));
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext('2d');
  ctx.drawImage(bitmap, 0, 0);
  const px = ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
  const gray = new Float32Array(bitmap.width * bitmap.height);
  let colour = false;
  for (let i = 0; i < gray.length; i++) {
    gray[i] = 0.299 * px[4 * i] + 0.587 * px[4 * i + 1] + 0.114 * px[4 * i + 2];
    colour ||= px[4 * i] !== px[4 * i + 1] || px[4 * i + 1] !== px[4 * i + 2];
  }
  // Restoration reads a PNG as `tweedie restore` does, which refuses a colour image for a grey model.
  state.image = { channels: colour ? 3 : 1 };
  return tw.imageVolume(gray, bitmap.width, bitmap.height, file.name);
}

async function readDicom(files) {
  const libs = tw.browserDicomLibraries({ jpegLosslessUrl: new URL('node_modules/jpeg-lossless-decoder-js/release/lossless.js', ROOT).href });
  const images = [];
  for (const f of files) images.push(...(await tw.decodeDicom(new Uint8Array(await f.arrayBuffer()), f.name, libs)));
  state.files = files;
  return tw.volumeFromDicom(images, files.length === 1 ? files[0].name : `${files.length} DICOM files`);
}

/**
 * A fastMRI .h5 file (raw multi-coil k-space), opened with h5wasm here (the import map names it) and kept open: the
 * view shows the RSS of its acquired k-space, and a run hands its slices to the worker.
 */
async function readKspace(file) {
  const [{ openFastmri }, { acquiredImages }] = await Promise.all([import('../dist/src/io/fastmri.js'), import('../dist/src/volume/kspace-file.js')]);
  const opened = await openFastmri(new Uint8Array(await file.arrayBuffer()), file.name);
  try {
    const { volume, undersampled } = acquiredImages(opened);
    state.kspace = { file: opened, undersampled };
    return volume;
  } catch (e) {
    opened.close();
    throw e;
  }
}

/** The files the user picked, as one 3-D volume; anything else is refused in a sentence that says what to pick. */
async function readFiles(files) {
  const names = files.map((f) => f.name.toLowerCase());
  if (files.length === 1 && /\.(h5|hdf5|hdf)$/.test(names[0])) return readKspace(files[0]);
  if (files.length === 1 && /\.nii(\.gz)?$/.test(names[0])) return tw.parseNiftiAsync(new Uint8Array(await files[0].arrayBuffer()), files[0].name);
  if (files.length === 1 && names[0].endsWith('.png')) return readPng(files[0]);
  const dicom = files.filter((f, i) => names[i].endsWith('.dcm') || !names[i].includes('.'));
  if (dicom.length > 0) return readDicom(dicom);
  return tw.fail('USAGE', `${files.map((f) => f.name).join(', ')} is not an image this app opens; choose a NIfTI (.nii, .nii.gz), DICOM (.dcm files or a folder), PNG or fastMRI k-space (.h5) file`);
}

async function open(files) {
  if (files.length === 0) return;
  clearResult();
  state.input = null;
  state.image = null;
  state.kspace?.file.close();
  state.kspace = null;
  $('run').disabled = true;
  status(`reading ${files.length === 1 ? files[0].name : `${files.length} files`} ...`);
  try {
    state.files = files;
    const vol = tw.requireVolume3D(await readFiles(files));
    state.input = vol;
    state.window = displayWindow(vol.data);
    const [X, Y, Z] = vol.dims;
    $('slice').max = String(Z - 1);
    $('slice').value = String(Math.floor(Z / 2));
    $('slice').disabled = false;
    const k = state.kspace;
    const kspace = k ? `; raw k-space of ${k.file.coils} coils, ${k.undersampled ? 'undersampled in the file (its own sampling is used)' : 'fully sampled (undersampled by the mask and acceleration you pick)'}` : '';
    $('info').textContent = `${vol.source}: ${X} x ${Y} x ${Z} voxels of ${vol.voxelSize.slice(0, 3).map((v) => +v.toFixed(3)).join(' x ')} mm${kspace}`;
    $('run').disabled = false;
    draw();
    status('ready: pick a task and press Run');
  } catch (e) {
    $('info').textContent = '';
    failed(`Could not open ${files.map((f) => f.name).join(', ')}`, e);
  }
}

// ------------------------------------------------------------------------------------------------ viewing

/** Grey window: the 0.5th to 99.5th percentile of (a sample of) the input's intensities. */
function displayWindow(data) {
  const step = Math.max(1, Math.floor(data.length / 200000));
  const s = Float32Array.from({ length: Math.ceil(data.length / step) }, (_, i) => data[i * step]).sort();
  const lo = s[Math.floor(0.005 * (s.length - 1))], hi = s[Math.floor(0.995 * (s.length - 1))];
  return hi > lo ? [lo, hi] : [lo, lo + 1];
}

/** Axial slice z of a volume as image rows (y from high to low, as the model space shows it). */
function drawSlice(canvas, vol, z, map) {
  const [X, Y] = vol.dims, img = new ImageData(X, Y), off = z * X * Y;
  for (let r = 0; r < Y; r++) {
    for (let x = 0; x < X; x++) {
      const g = Math.max(0, Math.min(255, Math.round(map(vol.data[off + (Y - 1 - r) * X + x], off + (Y - 1 - r) * X + x))));
      const p = 4 * (r * X + x);
      img.data[p] = img.data[p + 1] = img.data[p + 2] = g;
      img.data[p + 3] = 255;
    }
  }
  const scale = Math.max(1, Math.floor(320 / Math.max(X, Y)));
  canvas.width = X;
  canvas.height = Y;
  canvas.style.width = `${X * scale}px`;
  canvas.getContext('2d').putImageData(img, 0, 0);
}

function draw() {
  const vol = state.input;
  if (!vol) return;
  const z = Number($('slice').value), [lo, hi] = state.window, grey = (v) => (255 * (v - lo)) / (hi - lo);
  $('sliceText').textContent = `${z + 1} / ${vol.dims[2]}`;
  drawSlice($('inputView'), vol, z, grey);
  if (!state.result) return;
  drawSlice($('resultView'), state.result, z, grey);
  drawSlice($('diffView'), state.result, z, (v, i) => 127.5 + (127.5 * (v - vol.data[i])) / ((hi - lo) / 4));
}

function clearResult() {
  state.result = null;
  $('figures').textContent = '';
  for (const id of ['resultView', 'diffView']) Object.assign($(id), { width: 0, height: 0 });
  for (const id of ['saveNifti', 'saveDicom', 'saveSeries', 'savePng']) $(id).disabled = true;
}

function showResult(volume, r) {
  state.result = volume;
  const f = r.figures;
  $('figures').textContent = f
    ? `PSNR ${f.psnr.toFixed(2)} dB, SSIM ${f.ssim.toFixed(4)} (${f.baseline}: ${f.psnr_baseline.toFixed(2)} dB, ${f.ssim_baseline.toFixed(4)}), against ${f.grid}`
    : 'no reference: the input was restored as it is';
  for (const id of ['saveNifti', 'saveDicom', 'saveSeries', 'savePng']) $(id).disabled = false;
  draw();
}

// ------------------------------------------------------------------------------------------------ the task

async function modelCard() {
  const r = await fetch(new URL(`${$('model').value}/MODEL_CARD.md`, ROOT));
  $('card').textContent = r.ok ? await r.text() : `${$('model').value} has no model card`;
}

function onTask() {
  const task = $('task').value;
  for (const el of document.querySelectorAll('.mri')) el.classList.toggle('hidden', task !== 'mri');
  for (const el of document.querySelectorAll('.ct')) el.classList.toggle('hidden', task !== 'ct');
  for (const el of document.querySelectorAll('.restore')) el.classList.toggle('hidden', !RESTORE.has(task));
  $('model').value = DEFAULT_MODEL[task];
  $('steps').value = String(DEFAULT_STEPS[task]);
  void modelCard();
}

/** The degradation a restoration model was trained for, from its tasks.json. */
async function restoreOperator(model, task) {
  const r = await fetch(new URL(`${model}/tasks.json`, ROOT));
  const spec = r.ok ? (await r.json()).tasks?.find((t) => t.name === task)?.operator : undefined;
  if (!spec) tw.fail('USAGE', `${model} was not trained to ${task === 'sr4' ? 'super-resolve' : task}; pick a restoration model (brain-irsde, brain-resshift, brain-rddm)`);
  return spec;
}

async function request() {
  const task = $('task').value, z = Number($('slice').value), Z = state.input.dims[2];
  const common = { model: $('model').value, volume: state.input, steps: Number($('steps').value), seed: Number($('seed').value), slices: $('range').value === 'all' ? [0, Z] : [z, z + 1] };
  if (state.kspace) return kspaceRequest(task, common);
  if (task === 'mri') return { ...common, task, accel: Number($('accel').value), mask: $('mask').value };
  if (task === 'ct') return { ...common, task, views: Number($('views').value) };
  const simulate = $('simulate').value === 'yes', boundary = $('boundary').value;
  return { ...common, task: 'restore', simulate, ...(state.image ? { image: state.image } : {}), ...(simulate ? { operator: await restoreOperator(common.model, task) } : {}), ...(boundary ? { boundary } : {}) };
}

/** MRI reconstruction of raw k-space, as `tweedie reconstruct --measurement FILE.h5 [--accel R --mask KIND]` runs it. */
async function kspaceRequest(task, common) {
  if (task !== 'mri') tw.fail('USAGE', 'a fastMRI k-space file is reconstructed, not restored or measured again; pick the task "MRI reconstruction"');
  const { fastmriSlices } = await import('../dist/src/io/fastmri-slices.js');
  const { file, undersampled } = state.kspace, mask = $('mask').value;
  if (!undersampled && mask !== 'equispaced' && mask !== 'random') tw.fail('USAGE', `raw k-space takes the equispaced or random mask (fastMRI's line masks), not ${mask}`);
  return { ...common, task: 'kspace', kspace: fastmriSlices(file, common.slices), ...(undersampled ? {} : { accel: Number($('accel').value), mask }) };
}

/** The buffers a request hands to the worker rather than copies (the slices of a k-space file). */
const transfers = (req) => (req.kspace ? [...req.kspace.re, ...req.kspace.im].map((a) => a.buffer) : []);

function running(on) {
  $('run').disabled = on;
  $('stop').disabled = !on;
  $('progress').value = 0;
}

function progress(done, total, what) {
  $('progress').max = total;
  $('progress').value = done;
  status(`${what}: step ${done} / ${total}`);
}

/**
 * In this browser: the worker loads the model (kept for the next run) and runs the task; only the app's own files are
 * fetched. Stop terminates the worker; the next run starts a new one.
 */
function runInBrowser(req) {
  return new Promise((resolve, reject) => {
    state.worker ??= new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    const worker = state.worker;
    let backend = '', t0 = performance.now(), load = 0;
    worker.onmessage = ({ data: m }) => {
      if (m.type === 'started') (backend = m.backend), (load = (performance.now() - t0) / 1000), status(`running in this browser (${backend}) ...`);
      else if (m.type === 'progress') progress(m.done, m.total, `in this browser (${backend})`);
      else if (m.type === 'warning') console.warn(m.message);
      else if (m.type === 'result') resolve({ ...m.result, where: `in this browser (${backend}; model ready in ${load.toFixed(1)} s)` });
      else if (m.type === 'error') reject(new Error(m.message));
    };
    worker.onerror = (e) => {
      stopWorker();
      reject(new Error(`the worker failed: ${e.message}`));
    };
    state.cancel = () => reject(new Error('stopped'));
    worker.postMessage(req, transfers(req));
  }).finally(() => {
    state.cancel = null;
  });
}

function stopWorker() {
  state.worker?.terminate();
  state.worker = null;
}

/** The model's value range (tweedie.json "value_range"), from the app's own copy of the folder. */
async function valueRange(model) {
  const r = await fetch(new URL(`${model}/tweedie.json`, ROOT));
  if (!r.ok) tw.fail('UNREADABLE_FILE', `${model}/tweedie.json could not be fetched (${r.status}); reload the page`);
  return tw.valueRangeOf(await r.json(), `${model}/tweedie.json`);
}

/**
 * On a tweedie server (the service API of issue 18): the opened file (NIfTI, PNG, fastMRI .h5) or the DICOM series'
 * files are uploaded, the job followed, and its result (a NIfTI, or a PNG's restoration as .npy) read back onto the
 * input's grid (src/app/server-result.ts).
 */
async function runOnServer(req) {
  const files = state.files, one = files.length === 1 && /\.(nii(\.gz)?|png|h5|hdf5|hdf)$/i.test(files[0].name);
  if (!(one || state.input.dicom)) tw.fail('USAGE', 'the server mode sends a NIfTI, PNG or fastMRI (.h5) file or a DICOM series; open one (or run in this browser)');
  const url = $('server').value.trim() || location.origin;
  const inputName = one ? files[0].name : files.map((f) => f.name);
  const options = tw.serverJobOptions(req, inputName);
  const range = tw.isPngName(inputName) ? await valueRange(req.model) : [-1, 1];
  state.controller = new AbortController();
  const server = { url, token: $('token').value, signal: state.controller.signal };
  const job = await tw.runOnServer(
    { ...server, onSubmitted: (id) => (state.job = { id, server }), onStatus: (s) => progress(s.progress?.done ?? s.progress?.step ?? 0, s.progress?.total ?? s.progress?.steps ?? 1, `on ${url} (${s.state})`) },
    options, await Promise.all(files.map(async (f) => ({ name: f.name, bytes: new Uint8Array(await f.arrayBuffer()) }))), (name) => name === options.out || (!options.out && /\.nii(\.gz)?$/i.test(name)),
  );
  state.job = null;
  if (job.status.state !== 'done' || !job.result) tw.fail('BAD_INPUT', `the server's job ${job.status.state}${job.status.error ? `: ${job.status.error}` : ''}`);
  const m = job.status.metrics ?? {};
  const figures = typeof m.psnr !== 'number' || req.task === 'restore' ? null : req.task === 'kspace' ? tw.kspaceFigures(m) : tw.reconstructFigures(m);
  const { serverResultVolume } = await import('../dist/src/app/server-result.js');
  const volume = await serverResultVolume(job.result, state.input, req.slices, range);
  return { volume, figures, label: `job ${job.id}`, nfe: m.nfe ?? 0, seconds: m.seconds ?? 0, where: `on ${url}` };
}

async function onRun() {
  clearResult();
  running(true);
  try {
    const req = await request();
    status('loading the model ...');
    const r = $('where').value === 'server' ? await runOnServer(req) : await runInBrowser(req);
    showResult(r.volume, r);
    status(`done: ${r.label}, NFE ${r.nfe}, ${r.seconds.toFixed(1)} s ${r.where}`);
  } catch (e) {
    if (state.stopped) status('stopped: nothing was kept from the stopped run');
    else failed('Could not run', e);
  } finally {
    state.stopped = false;
    running(false);
  }
}

/** Stop: terminate the worker (its model calls end with it), or cancel the server's job. */
function onStop() {
  state.stopped = true;
  stopWorker();
  state.cancel?.();
  if (state.job) void tw.cancelOnServer(state.job.server, state.job.id).catch(() => {});
  state.controller?.abort();
}

// ------------------------------------------------------------------------------------------------ downloads

function download(bytes, name, type) {
  const a = Object.assign(document.createElement('a'), { href: URL.createObjectURL(new Blob([bytes], { type })), download: name });
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

const stem = () => (state.input.source ?? 'image').replace(/\.(nii(\.gz)?|dcm|png)$/i, '').replace(/[^\w.-]+/g, '_');

$('saveNifti').onclick = () => download(tw.encodeNifti(state.result), `${stem()}-tweedie.nii`, 'application/octet-stream');
/** The result as a derived DICOM series (the input's patient and study when it was DICOM). */
async function derivedSeries() {
  const { encodeDerivedSeries } = await import('../dist/src/io/dicom-write.js');
  return encodeDerivedSeries(state.result, { description: `tweedie ${$('task').value}`, ...(state.input.dicom ? { source: state.input.dicom } : {}) });
}
const dicomName = (z) => `${stem()}-tweedie-${String(z + 1).padStart(4, '0')}.dcm`;

$('saveDicom').onclick = async () => {
  try {
    const z = Number($('slice').value);
    download((await derivedSeries()).files[z], dicomName(z), 'application/dicom');
  } catch (e) {
    failed('Could not write DICOM', e);
  }
};
$('saveSeries').onclick = async () => {
  try {
    const [{ zipBytes }, series] = await Promise.all([import('../dist/src/io/zip.js'), derivedSeries()]);
    download(await zipBytes(series.files.map((bytes, z) => ({ name: dicomName(z), bytes }))), `${stem()}-tweedie-dicom.zip`, 'application/zip');
  } catch (e) {
    failed('Could not write the DICOM series', e);
  }
};
$('savePng').onclick = () => $('resultView').toBlob((b) => download(b, `${stem()}-tweedie-${Number($('slice').value) + 1}.png`, 'image/png'), 'image/png');

// ------------------------------------------------------------------------------------------------ wiring

for (const m of MODELS) $('model').add(new Option(m.replace('weights/', ''), m));
$('task').onchange = onTask;
$('model').onchange = () => void modelCard();
$('where').onchange = () => document.querySelectorAll('.server').forEach((el) => el.classList.toggle('hidden', $('where').value !== 'server'));
$('file').onchange = () => void open([...$('file').files]);
$('folder').onchange = () => void open([...$('folder').files]);
$('slice').oninput = draw;
$('run').onclick = () => void onRun();
$('stop').onclick = onStop;
onTask();
window.app = { ready: true, longTasks, result: () => state.result, input: () => state.input };
status(globalThis.crossOriginIsolated ? 'open an image to begin' : 'open an image to begin (this page is not cross-origin isolated: WebAssembly will use one thread)');
