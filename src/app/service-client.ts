import { fail } from '../core/errors.js';
import type { TaskRequest } from './browser-tasks.js';

/**
 * The web app's "run on the server" mode: a client of the `tweedie serve` contract (issue 18): POST /jobs
 * (multipart: `options` JSON with `task` and the CLI's options, the file in `input`) answers 202 {"id"};
 * GET /jobs/:id/events streams server-sent events; GET /jobs/:id gives state, progress, metrics and result names;
 * GET /jobs/:id/results/:name the files; DELETE /jobs/:id cancels. Every request carries the bearer token.
 * The events are read with fetch (EventSource cannot send an Authorization header).
 */

export interface JobStatus {
  state: 'queued' | 'running' | 'done' | 'failed' | 'cancelled';
  progress?: { step?: number; steps?: number; done?: number; total?: number; slice?: number };
  metrics?: Record<string, unknown>;
  results?: string[];
  error?: string;
}

export interface ServiceJob {
  id: string;
  status: JobStatus;
  /** The first result that `pick` accepts (e.g. the NIfTI), fetched. */
  result: { name: string; bytes: Uint8Array } | null;
}

export interface ServiceOptions {
  /** The server's origin, e.g. http://127.0.0.1:8787 (the page's own when served by `tweedie serve`). */
  url: string;
  token: string;
  signal?: AbortSignal;
  onStatus?: (s: JobStatus) => void;
  /** Called with the job id once the server has accepted the job (Stop cancels it by id). */
  onSubmitted?: (id: string) => void;
}

/** What the app asks for: the worker's request (its task and the form's settings) with the model as the page fetches it (weights/NAME). */
export type AppRequest = Pick<TaskRequest, 'task' | 'slices' | 'steps' | 'seed' | 'accel' | 'mask' | 'views' | 'simulate' | 'boundary'> & { model: string };

/** A PNG input is restored to a float .npy (the PNG result would be 8-bit); every other input to a NIfTI. */
export const isPngName = (name: string | string[]): boolean => typeof name === 'string' && /\.png$/i.test(name);

/**
 * The job options of an app request: the CLI's option names (`tweedie reconstruct --truth FILE --modality ...`,
 * `tweedie reconstruct --measurement FILE.h5`, `tweedie restore --input FILE ...`), the uploaded file named by its
 * name (a DICOM series: the list of its files' names), the model by its folder in weights/, and a result the app reads
 * back: a NIfTI, or for a PNG input the restored image as .npy.
 */
export function serverJobOptions(req: AppRequest, inputName: string | string[]): Record<string, string | number | string[]> {
  const common = { model: req.model.replace(/^weights\//, ''), steps: req.steps, seed: req.seed };
  const slices = `${req.slices[0]}:${req.slices[1]}`;
  if (req.task === 'restore') {
    if (req.simulate) fail('USAGE', 'the server restores the file as it is (it does not simulate a degradation); set "simulate" to no, or run in this browser');
    const png = isPngName(inputName);
    return { task: 'restore', input: inputName, ...common, ...(png ? {} : { slices }), ...(req.boundary ? { boundary: req.boundary } : {}), out: png ? 'restored.npy' : 'restored.nii.gz' };
  }
  if (req.task === 'kspace') {
    // A fully sampled file is undersampled by the page's mask and acceleration; an undersampled one keeps its own sampling.
    return { task: 'reconstruct', measurement: inputName, ...(req.accel !== undefined ? { accel: req.accel, mask: req.mask ?? 'equispaced' } : {}), ...common, slices };
  }
  if (isPngName(inputName)) fail('USAGE', 'the server reconstructs a NIfTI file or a DICOM series; a PNG is restored (denoise, super-resolve, deblur) there, or reconstructed in this browser');
  const sampling: Record<string, string | number> = req.task === 'mri' ? { accel: req.accel ?? 4, mask: req.mask ?? 'equispaced' } : { views: req.views ?? 30 };
  return { task: 'reconstruct', truth: inputName, modality: req.task, ...sampling, ...common, slices };
}

const FINAL = new Set(['done', 'failed', 'cancelled']);

async function call(o: ServiceOptions, path: string, init: RequestInit = {}): Promise<Response> {
  const res = await fetch(new URL(path, o.url), { ...init, headers: { authorization: `Bearer ${o.token}` }, ...(o.signal ? { signal: o.signal } : {}) }).catch((e: Error) =>
    fail('UNREADABLE_FILE', `the server at ${o.url} cannot be reached (${e.message}); check its address and that it is running`),
  );
  if (res.status === 401) fail('USAGE', `the server at ${o.url} refused the token; paste the token it was started with (TWEEDIE_TOKEN)`);
  if (!res.ok) fail('BAD_INPUT', `the server answered ${res.status} to ${init.method ?? 'GET'} ${path}: ${(await res.text()).split('\n')[0]}`);
  return res;
}

/** Read server-sent events until the stream ends or a state is final; each `data:` line is a JSON status. */
async function follow(o: ServiceOptions, id: string): Promise<void> {
  const reader = (await call(o, `/jobs/${encodeURIComponent(id)}/events`)).body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    buffer += value;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const data = buffer.slice(0, end).split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('\n');
      buffer = buffer.slice(end + 2);
      if (!data) continue;
      const s = JSON.parse(data) as Partial<JobStatus>;
      if (s.state) o.onStatus?.(s as JobStatus);
      if (s.state && FINAL.has(s.state)) return void (await reader.cancel());
    }
  }
}

/** Submit a job with its input files, follow its events, and fetch its status and the first result `pick` accepts. */
export async function runOnServer(o: ServiceOptions, options: Record<string, unknown>, inputs: { name: string; bytes: Uint8Array }[], pick: (name: string) => boolean): Promise<ServiceJob> {
  const form = new FormData();
  form.append('options', JSON.stringify(options));
  for (const input of inputs) form.append('input', new Blob([input.bytes]), input.name);
  const { id } = (await (await call(o, '/jobs', { method: 'POST', body: form })).json()) as { id: string };
  o.onSubmitted?.(id);
  await follow(o, id);
  const status = (await (await call(o, `/jobs/${encodeURIComponent(id)}`)).json()) as JobStatus;
  const name = status.state === 'done' ? status.results?.find(pick) : undefined;
  const result = name ? { name, bytes: new Uint8Array(await (await call(o, `/jobs/${encodeURIComponent(id)}/results/${encodeURIComponent(name)}`)).arrayBuffer()) } : null;
  return { id, status, result };
}

/** Cancel a job (the Stop button in server mode). */
export async function cancelOnServer(o: Omit<ServiceOptions, 'signal'>, id: string): Promise<void> {
  await call(o, `/jobs/${encodeURIComponent(id)}`, { method: 'DELETE' });
}
