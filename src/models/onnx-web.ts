import { fail } from '../core/errors.js';
import { parsePythonJson } from '../core/python-json.js';
import { parseSchedulerConfig } from '../paths/scheduler-config.js';
import { parseModelCard } from './model-spec.js';
import { OrtDenoiser, type OrtModule, type OrtSession } from './ort-denoiser.js';

/** onnxruntime-web's module: the shared API plus its global settings. */
export interface OrtWebModule extends OrtModule {
  env: { wasm: { wasmPaths?: unknown; numThreads?: number } };
}

/** A model folder's contents, already fetched: the ONNX bytes and the parsed JSON files. */
export interface ModelParts {
  model: ArrayBuffer | Uint8Array;
  /** Parsed tweedie.json. */
  tweedie: unknown;
  /** Parsed scheduler_config.json. */
  scheduler: unknown;
  /** The folder's name or URL, for messages. */
  name: string;
  /**
   * The exported gradient graph tweedie.json "gradient" names: its bytes, or a function that fetches them (called
   * at the first VJP). Without it the model has no 'exported' gradient route.
   */
  gradientModel?: ArrayBuffer | Uint8Array | (() => Promise<ArrayBuffer | Uint8Array>);
}

export interface OnnxWebOptions {
  /** 'auto' (default) tries WebGPU where navigator.gpu exists and falls back to wasm with one warning. */
  backend?: 'auto' | 'wasm' | 'webgpu';
  /** Where onnxruntime-web loads its .wasm/.mjs files from (ort.env.wasm.wasmPaths), e.g. the served dist/ folder. */
  wasmPaths?: string;
  /** wasm threads; default 1 without cross-origin isolation (no SharedArrayBuffer), else the runtime's choice. */
  threads?: number;
  /** The runtime module; default: import('onnxruntime-web') (an import map entry in a page). */
  ort?: OrtWebModule;
  warn?: (msg: string) => void;
}

async function loadOrtWeb(): Promise<OrtWebModule> {
  try {
    const mod = (await import('onnxruntime-web')) as unknown as { default?: OrtWebModule } & OrtWebModule;
    return mod.default ?? mod;
  } catch (e) {
    return fail('UNSUPPORTED', `cannot load onnxruntime-web (${(e as Error).message}); map "onnxruntime-web" to node_modules/onnxruntime-web/dist/ort.min.mjs in the page's import map`);
  }
}

/**
 * WebAssembly threads when none are asked for: one without cross-origin isolation (no SharedArrayBuffer), else every
 * core up to 8. onnxruntime-web's own default is half the cores (at most 4), which is one thread on a 2-core machine;
 * tweedie's runs are in a Web Worker while the page's main thread idles, so the cores are the run's.
 */
export function defaultWasmThreads(): number {
  const g = globalThis as { crossOriginIsolated?: boolean; navigator?: { hardwareConcurrency?: number } };
  return g.crossOriginIsolated ? Math.max(1, Math.min(8, g.navigator?.hardwareConcurrency ?? 1)) : 1;
}

function configure(ort: OrtWebModule, opts: OnnxWebOptions): void {
  if (opts.wasmPaths !== undefined) ort.env.wasm.wasmPaths = opts.wasmPaths;
  ort.env.wasm.numThreads = opts.threads ?? defaultWasmThreads();
}

const firstLine = (e: unknown): string => String((e as Error)?.message ?? e).split('\n')[0]!;
/** Set once WebGPU has failed where wasm worked: later models in the page go straight to wasm, without a warning. */
let webgpuFailed = false;

async function createSession(ort: OrtWebModule, bytes: Uint8Array, file: string, opts: OnnxWebOptions): Promise<{ session: OrtSession; backend: string }> {
  // WebAssembly threads sleep rather than spin while they wait, as the Node sessions' (sessionOptions in onnx.ts).
  const tryCreate = (provider: string) => ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all', executionProviders: [provider], extra: { session: { intra_op: { allow_spinning: '0' } } } });
  const hasGpu = (globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu !== undefined;
  const backend = opts.backend ?? 'auto';
  if (backend === 'webgpu' && !hasGpu) fail('UNSUPPORTED', `this browser has no WebGPU (navigator.gpu) for ${file}; use backend 'wasm'`);
  let gpuError: string | null = null;
  if (backend === 'webgpu' || (backend === 'auto' && hasGpu && !webgpuFailed)) {
    try {
      return { session: await tryCreate('webgpu'), backend: 'webgpu' };
    } catch (e) {
      if (backend === 'webgpu') return fail('UNSUPPORTED', `WebGPU backend unavailable for ${file}: ${firstLine(e)}`);
      gpuError = firstLine(e);
    }
  }
  let session: OrtSession;
  try {
    session = await tryCreate('wasm');
  } catch (e) {
    return fail('UNREADABLE_FILE', `cannot load ONNX model ${file}: ${firstLine(e)}`);
  }
  // Warn only once wasm has worked, so a broken model file reads as that, not as a WebGPU problem.
  if (gpuError !== null) {
    webgpuFailed = true;
    (opts.warn ?? console.warn)(`tweedie: WebGPU backend unavailable (${gpuError}); using wasm`);
  }
  return { session, backend: 'wasm' };
}

/** onnxruntime-web refuses a second run while one is in flight ("Session already started"): queue the calls. */
function queued(session: OrtSession): OrtSession {
  let last: Promise<unknown> = Promise.resolve();
  return {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    inputMetadata: session.inputMetadata,
    run(feeds) {
      const result = last.then(() => session.run(feeds));
      last = result.catch(() => undefined);
      return result;
    },
    release: async () => session.release?.(),
  };
}

/** The browser ONNX denoiser: a fetched model folder run by onnxruntime-web (WebGPU when available, else wasm). No file system. */
export class OnnxWebDenoiser extends OrtDenoiser {
  static async create(parts: ModelParts, opts: OnnxWebOptions = {}): Promise<OnnxWebDenoiser> {
    const warn = opts.warn ?? ((m: string) => console.warn(`warning: ${m}`));
    const scheduler = parseSchedulerConfig(parts.scheduler, `${parts.name}/scheduler_config.json`, warn);
    const modelFile = `${parts.name}/model.onnx`;
    const spec = parseModelCard(parts.tweedie, scheduler, { dir: parts.name, modelFile, cardName: `${parts.name}/tweedie.json` }, warn);
    const bytes = parts.model instanceof Uint8Array ? parts.model : new Uint8Array(parts.model);
    if (bytes.length === 0) fail('UNREADABLE_FILE', `${modelFile} is empty; export the model again`);
    const ort = opts.ort ?? (await loadOrtWeb());
    configure(ort, opts);
    const { session, backend } = await createSession(ort, bytes, modelFile, opts);
    const grad = parts.gradientModel, gradFile = `${parts.name}/${spec.gradient?.file}`;
    const openGradient = spec.gradient && grad
      ? async () => {
        const raw = typeof grad === 'function' ? await grad() : grad;
        const gradBytes = raw instanceof Uint8Array ? raw : new Uint8Array(raw);
        if (gradBytes.length === 0) fail('UNREADABLE_FILE', `${gradFile} is empty; export it again with training/gradients.py`);
        return queued((await createSession(ort, gradBytes, gradFile, { ...opts, backend: backend as 'wasm' | 'webgpu' })).session);
      }
      : null;
    return new OnnxWebDenoiser(spec, ort, queued(session), backend, openGradient);
  }
}

async function fetchOk(url: string): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    return fail('UNREADABLE_FILE', `cannot fetch ${url}: ${(e as Error).message}`);
  }
  if (!res.ok) fail('UNREADABLE_FILE', `cannot fetch ${url}: HTTP ${res.status}; a model folder holds model.onnx, scheduler_config.json and tweedie.json`);
  return res;
}

async function fetchJson(url: string): Promise<unknown> {
  const text = await (await fetchOk(url)).text();
  try {
    return parsePythonJson(text);
  } catch (e) {
    return fail('BAD_CONFIG', `${url} is not valid JSON: ${(e as Error).message}`);
  }
}

/**
 * Fetch a model folder (model.onnx, scheduler_config.json, tweedie.json) from a URL. A gradient graph that
 * tweedie.json declares is fetched only when a VJP first needs it.
 */
export async function fetchModelFolder(url: string): Promise<ModelParts> {
  const base = url.replace(/\/+$/, '');
  const [scheduler, tweedie, model] = await Promise.all([
    fetchJson(`${base}/scheduler_config.json`),
    fetchJson(`${base}/tweedie.json`),
    fetchOk(`${base}/model.onnx`).then((r) => r.arrayBuffer()),
  ]);
  const file = (tweedie as { gradient?: { file?: unknown } } | null)?.gradient?.file;
  const gradientModel = typeof file === 'string' ? async () => (await fetchOk(`${base}/${file}`)).arrayBuffer() : undefined;
  return { model, tweedie, scheduler, name: base, ...(gradientModel ? { gradientModel } : {}) };
}
