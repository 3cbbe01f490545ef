// The playground: fetch a model folder, sample it with a chosen sampler, draw the image grid.
// window.playground.sample(...) is the same function without the form (the browser test drives it).
import * as tw from '../dist/src/browser.js';

const ROOT = new URL('../', import.meta.url);
const WASM_PATHS = new URL('node_modules/onnxruntime-web/dist/', ROOT).href;
const $ = (id) => document.getElementById(id);
const models = new Map();

/** One OnnxWebDenoiser per folder (a URL, or a path from the repository root): its session is created once and reused. */
function loadModel(folder) {
  const url = new URL(folder, ROOT).href;
  if (!models.has(url)) {
    const p = tw.fetchModelFolder(url).then((parts) => tw.OnnxWebDenoiser.create(parts, { wasmPaths: WASM_PATHS }));
    p.catch(() => models.delete(url));
    models.set(url, p);
  }
  return models.get(url);
}

/** How messages name the class and guidance fields. */
const FIELD_NAMES = { label: () => 'the class', scale: 'the guidance scale', interval: 'the guidance interval' };

/** A field's text, or undefined when it is blank (not given). */
const given = (text) => (text === undefined || String(text).trim() === '' ? undefined : String(text));

/**
 * `tweedie sample` through the same recipe: the path's default grid, Philox noise by seed; a class-conditional model
 * takes `cls` ("3", or one per sample "0,1,2"), `guidanceScale` and `guidanceInterval` ("LO,HI") as the form's text.
 */
export async function sample({ model, sampler, steps, n, seed = 0, cls, guidanceScale, guidanceInterval, signal, onProgress }) {
  const denoiser = await loadModel(model);
  const def = tw.samplerByName(sampler);
  if (def.inverse) tw.fail('USAGE', `${sampler} inverts data to noise; pick a sampler that generates`);
  const texts = { class: given(cls), scale: given(guidanceScale), interval: given(guidanceInterval) };
  const conditioning = tw.conditionOptionsFromText(texts, denoiser.conditions, model, FIELD_NAMES);
  const r = await tw.generate({ model: denoiser, sampler: def, steps, n, seed, signal, onProgress, ...conditioning });
  return { x: r.x, nfe: r.nfe, seconds: r.seconds, backend: denoiser.backend, valueRange: denoiser.spec.valueRange };
}

function draw(x, [lo, hi]) {
  const g = tw.imageGrid(x, { pad: 2, padValue: lo });
  const [c, h, w] = g.shape;
  const img = new ImageData(w, h), px = img.data, d = g.data, plane = h * w;
  for (let i = 0; i < plane; i++) {
    for (let k = 0; k < 3; k++) px[4 * i + k] = Math.round((255 * (d[(c === 3 ? k : 0) * plane + i] - lo)) / (hi - lo));
    px[4 * i + 3] = 255;
  }
  const canvas = $('canvas'), scale = Math.max(1, Math.floor(512 / w));
  canvas.width = w;
  canvas.height = h;
  canvas.style.width = `${w * scale}px`;
  canvas.getContext('2d').putImageData(img, 0, 0);
}

function status(text, error = false) {
  $('status').textContent = text;
  $('status').className = error ? 'error' : '';
}

let controller = null;

async function onSubmit(ev) {
  ev.preventDefault();
  controller = new AbortController();
  $('run').disabled = true;
  $('stop').disabled = false;
  const opts = {
    model: $('model').value.trim(), sampler: $('sampler').value, steps: Number($('steps').value), n: Number($('n').value), seed: Number($('seed').value),
    cls: $('class').value, guidanceScale: $('guidance-scale').value, guidanceInterval: $('guidance-interval').value,
  };
  try {
    status(`loading ${opts.model} ...`);
    const r = await sample({
      ...opts,
      signal: controller.signal,
      // Yield to the browser after each step so the progress line repaints.
      onProgress: (p) => (status(`${opts.sampler}: step ${p.done}/${p.total}, NFE ${p.nfe}`), new Promise((ok) => setTimeout(ok, 0))),
    });
    draw(r.x, r.valueRange);
    status(`done: ${opts.n} samples, ${opts.steps} steps, NFE ${r.nfe}, ${r.seconds.toFixed(2)} s (${(opts.n / r.seconds).toFixed(1)} images/s, ${r.backend})`);
  } catch (e) {
    if (controller.signal.aborted) status(`stopped: ${e.message}`);
    else status(`error: ${e.message}`, true);
  } finally {
    $('run').disabled = false;
    $('stop').disabled = true;
  }
}

/** Under the class fields: the classes of the model named, once it has loaded (a model that fails to load says so on Sample). */
function showClasses() {
  const folder = $('model').value.trim();
  loadModel(folder).then((d) => {
    if ($('model').value.trim() !== folder) return;
    const spec = Object.values(d.conditions ?? {}).find((c) => c.kind === 'class');
    $('classes').textContent = spec ? `classes 0..${spec.classes - 1}${spec.unconditional === null ? ' (no guidance: no null class)' : ''}` : `${folder} is unconditional: leave these blank`;
  }, () => ($('classes').textContent = ''));
}

for (const s of tw.SAMPLERS.filter((d) => !d.inverse)) $('sampler').add(new Option(s.name, s.name, false, s.name === 'dpm-solver++'));
$('form').addEventListener('submit', onSubmit);
$('model').addEventListener('change', showClasses);
showClasses();
$('stop').addEventListener('click', () => controller?.abort());
window.playground = { sample, ready: true };
status('ready');
