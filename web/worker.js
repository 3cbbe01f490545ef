// The app's Web Worker: loads a model with onnxruntime-web and runs one task (src/app/browser-tasks.ts) off the
// page's main thread, posting progress per step. The page stops a run by terminating this worker.
// A module worker has no import map: onnxruntime-web is imported by its path and handed to the denoiser.
import { fetchModelFolder, OnnxWebDenoiser } from '../dist/src/models/onnx-web.js';
import { runTask } from '../dist/src/app/browser-tasks.js';
import { parseNpy } from '../dist/src/io/npy-codec.js';
import { priorPercentile } from '../dist/src/volume/kspace-file.js';
import { checkedBoundaryNoise } from '../dist/src/restoration/boundary.js';

const ROOT = new URL('../', import.meta.url);
const ORT = new URL('node_modules/onnxruntime-web/dist/', ROOT).href;
const models = new Map();

async function fetchJsonOrNull(url) {
  const r = await fetch(url);
  return r.ok ? r.json() : null;
}

function loadModel(folder) {
  const url = new URL(folder, ROOT).href;
  if (!models.has(url)) {
    const p = (async () => {
      const mod = await import(`${ORT}ort.min.mjs`), ort = mod.default ?? mod;
      const model = await OnnxWebDenoiser.create(await fetchModelFolder(url), { ort, wasmPaths: ORT, warn: (m) => postMessage({ type: 'warning', message: m }) });
      const split = (await fetchJsonOrNull(`${url}/split.json`)) ?? (await fetchJsonOrNull(new URL('weights/brain-64/split.json', ROOT).href));
      return { model, split, threads: ort.env.wasm.numThreads };
    })();
    p.catch(() => models.delete(url));
    models.set(url, p);
  }
  return models.get(url);
}

/** The prior's 99.5th percentile from its heldout.npy, as `tweedie reconstruct --measurement` takes it (raw k-space only). */
async function percentileOf(folder) {
  const r = await fetch(new URL(`${folder}/heldout.npy`, ROOT));
  return priorPercentile(r.ok ? parseNpy(new Uint8Array(await r.arrayBuffer()), `${folder}/heldout.npy`) : null);
}

/** A restoration model's optimal boundary (tweedie.json "boundary"): its noise, fetched from the model folder. */
async function boundaryNoise(folder, entry) {
  const file = `${folder}/${entry.file}`, r = await fetch(new URL(file, ROOT));
  if (!r.ok) throw new Error(`${folder}/tweedie.json: "boundary" names ${entry.file}, which the server does not have (${r.status}); pick the starting noise "random"`);
  return checkedBoundaryNoise(parseNpy(new Uint8Array(await r.arrayBuffer()), file), entry, file);
}

onmessage = async ({ data: request }) => {
  try {
    const { model, split, threads: n } = await loadModel(request.model);
    const threads = model.backend !== 'wasm' ? '' : `, ${n} thread${n > 1 ? 's' : ''}`;
    postMessage({ type: 'started', backend: `${model.backend}${threads}` });
    const percentile = request.task === 'kspace' ? await percentileOf(request.model) : undefined;
    const r = await runTask({ ...request, modelName: request.model }, { model, split, percentile, boundaryNoise: (entry) => boundaryNoise(request.model, entry), onProgress: (done, total) => postMessage({ type: 'progress', done, total }) });
    postMessage({ type: 'result', result: { ...r, backend: model.backend } }, [r.volume.data.buffer]);
  } catch (e) {
    postMessage({ type: 'error', code: e?.code ?? null, message: String(e?.message ?? e) });
  }
};
