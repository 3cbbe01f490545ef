import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fail } from '../core/errors.js';
import { gradientFile, readModelFolder } from './model-folder.js';
import { OrtDenoiser, type OrtModule, type OrtSession } from './ort-denoiser.js';

export type { OrtModule } from './ort-denoiser.js';

export interface OnnxOptions {
  /** Intra-op threads (default: the runtime's choice, all cores). */
  threads?: number;
  /** Let idle intra-op threads spin (default: TWEEDIE_ORT_SPIN=1, else no). */
  spin?: boolean;
  /** 'auto' tries CUDA, then falls back to CPU with one stderr line. */
  backend?: 'auto' | 'cpu' | 'cuda';
  /** The runtime module; default: onnxruntime-node. */
  ort?: OrtModule;
  warn?: (msg: string) => void;
}

/** Set to 1 to allow more threads than cores (where os.availableParallelism() undercounts, e.g. a CPU quota). */
export const THREADS_FORCE_ENV = 'TWEEDIE_THREADS_FORCE';

/** Set to 1 to let ONNX Runtime's intra-op threads spin while they wait (off by default: see sessionOptions). */
export const SPIN_ENV = 'TWEEDIE_ORT_SPIN';

/**
 * A thread count named `name`: an integer >= 1 and at most the cores os.availableParallelism() reports,
 * unless TWEEDIE_THREADS_FORCE=1. ONNX Runtime starts every thread up front and its threads spin while
 * waiting, so more threads than cores only contend (1000 of them never finish a run).
 */
export function checkThreads(threads: number, name: string): number {
  if (!Number.isSafeInteger(threads) || threads < 1) fail('USAGE', `${name} must be an integer >= 1, got ${threads}`);
  const cores = availableParallelism();
  if (threads > cores && process.env[THREADS_FORCE_ENV] !== '1') {
    fail('USAGE', `${name} ${threads} is more than the ${cores} cores of this machine; use ${name} ${cores} or less (or set ${THREADS_FORCE_ENV}=1 to allow more)`);
  }
  return threads;
}

export async function loadOrt(): Promise<OrtModule> {
  try {
    const mod = (await import('onnxruntime-node')) as unknown as { default?: OrtModule } & OrtModule;
    return mod.default ?? mod;
  } catch (e) {
    return fail('UNSUPPORTED', `onnxruntime-node is not installed (${(e as Error).message}); run "npm install" in the tweedie folder`);
  }
}

/**
 * The CPU session options: all graph optimisations, sequential execution with one inter-op thread (the
 * UNets are chains: a second inter-op pool only adds threads), and intra-op threads that sleep rather than
 * spin while they wait unless `spin` (or TWEEDIE_ORT_SPIN=1). Spinning threads win a little on an idle
 * machine and lose badly when anything else runs: a spinning thread burns the core another thread (of this
 * session, another worker or another program) needs (`tweedie bench speed` measures both).
 */
export function sessionOptions(opts: Pick<OnnxOptions, 'threads' | 'spin'>): Record<string, unknown> {
  const spin = opts.spin ?? process.env[SPIN_ENV] === '1';
  return {
    graphOptimizationLevel: 'all', executionMode: 'sequential', interOpNumThreads: 1,
    ...(opts.threads ? { intraOpNumThreads: checkThreads(opts.threads, 'threads') } : {}),
    extra: { session: { intra_op: { allow_spinning: spin ? '1' : '0' }, inter_op: { allow_spinning: '0' } } },
  };
}

/** An ONNX Runtime session of `file` on the backend `opts` asks for (CUDA, else CPU), its failures as one line. */
export async function createSession(ort: OrtModule, file: string, opts: OnnxOptions): Promise<{ session: OrtSession; backend: string }> {
  const base = sessionOptions(opts);
  const warn = opts.warn ?? ((m: string) => process.stderr.write(m + '\n'));
  const tryCreate = async (providers: string[]) => ort.InferenceSession.create(file, { ...base, executionProviders: providers });
  // 'auto' tries CUDA only where an NVIDIA GPU is present, so CPU machines stay quiet.
  const wantCuda = opts.backend === 'cuda' || ((opts.backend ?? 'auto') === 'auto' && existsSync('/proc/driver/nvidia'));
  const cudaListed = ort.listSupportedBackends?.().some((b) => b.name === 'cuda') ?? false;
  if (wantCuda && cudaListed) {
    try {
      return { session: await tryCreate(['cuda']), backend: 'cuda' };
    } catch (e) {
      if (opts.backend === 'cuda') return fail('UNSUPPORTED', `CUDA backend unavailable for ${file}: ${(e as Error).message}`);
      warn(`tweedie: CUDA backend unavailable (${(e as Error).message.split('\n')[0]}); using CPU`);
    }
  } else if (opts.backend === 'cuda') {
    return fail('UNSUPPORTED', `this onnxruntime build has no CUDA backend; use --backend cpu`);
  }
  try {
    return { session: await tryCreate(['cpu']), backend: 'cpu' };
  } catch (e) {
    return fail('UNREADABLE_FILE', `cannot load ONNX model ${file}: ${(e as Error).message.split('\n')[0]}`);
  }
}

/**
 * The Node.js ONNX denoiser: a model folder on disk run by onnxruntime-node (CUDA when asked and present, else CPU).
 * A declared gradient graph is opened on the same backend at the first VJP.
 */
export class OnnxDenoiser extends OrtDenoiser {
  static async load(dir: string, opts: OnnxOptions = {}): Promise<OnnxDenoiser> {
    const spec = readModelFolder(dir, opts.warn);
    const ort = opts.ort ?? (await loadOrt());
    const { session, backend } = await createSession(ort, spec.modelFile, opts);
    const openGradient = spec.gradient ? async () => (await createSession(ort, gradientFile(spec), { ...opts, backend: backend as 'cpu' | 'cuda' })).session : null;
    return new OnnxDenoiser(spec, ort, session, backend, openGradient);
  }
}
