import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fail } from '../core/errors.js';
import { operatorSpecFiles } from '../inverse/operators/spec-file.js';
import type { Command, OptionDef } from '../cli/options.js';
import { reconstructCommand } from '../cli/reconstruct.js';
import { restoreCommand } from '../cli/restore.js';
import { sampleCommand } from '../cli/sample.js';
import { solveCommand } from '../cli/solve.js';
import { packageRoot } from '../package-root.js';
import { checkJobConditions } from './job-conditions.js';
import { isSafeName, safeName } from './names.js';
import { splitCount } from './volume-split.js';

/**
 * A job is a CLI command (its task) with the command's own options, given as JSON. Files are never server
 * paths: an input option names an uploaded file, --model a shipped model (weights/NAME) or gmm:UPLOADED.json,
 * an output option a result file name. The job runs exactly the command's argv, so everything the CLI checks,
 * the job checks too.
 */
export const TASKS = { sample: sampleCommand, solve: solveCommand, reconstruct: reconstructCommand, restore: restoreCommand } as const;
export type Task = keyof typeof TASKS;

/** Options that name input files: each must be one of the job's uploads. */
const INPUT_OPTIONS = new Set(['input', 'truth', 'measurement', 'mask-file', 'init', 'scheduler-config', 'coil-maps', 'cond-image']);
/**
 * Input options that may name a DICOM series: a list of uploaded files, put in one folder (seriesFolder) that the
 * command reads as a series.
 */
const SERIES_OPTIONS = new Set(['input', 'truth']);
/** The folder of the job's inputs that holds the series an option lists. */
export const seriesFolder = (option: string): string => `series-${option}`;
/** Options that name output files: a result file name. */
const OUTPUT_OPTIONS = new Set(['out', 'out-model', 'out-rss']);
/** CLI options that make no sense for a job (the job always reports its summary as JSON). */
const NOT_FOR_JOBS = new Set(['json', 'help']);
/** coil-maps values that are not files. */
const COIL_MAP_KINDS = new Set(['espirit', 'acs']);

/** Options of a job that are the service's, not the command's. */
const SERVICE_OPTIONS: Partial<Record<Task, Record<string, OptionDef>>> = {
  reconstruct: {
    split: { type: 'string', value: 'K', doc: 'Redis mode: cut the slices into K ranges run by different workers and put back in order (needs tv-z 0 and a NIfTI truth); the embedded queue runs the job whole, with the same result' },
  },
};

/** The result file a task writes when the job names no --out. */
export const DEFAULT_OUT: Record<Task, string> = { sample: 'samples.npy', solve: 'solution.npy', reconstruct: 'recon.nii.gz', restore: 'restored.png' };

export type OptionValue = string | number | boolean | (string | number)[];
export interface JobSpec {
  task: Task;
  /** The command's options, by their CLI names (no leading dashes). */
  options: Record<string, OptionValue>;
  /** The uploaded input file names. */
  inputs: string[];
}

/** The options a task accepts over HTTP: its command's table less --json and --help. */
export function jobOptions(task: Task): [string, OptionDef][] {
  return [...Object.entries((TASKS[task] as Command).options).filter(([k]) => !NOT_FOR_JOBS.has(k)), ...Object.entries(SERVICE_OPTIONS[task] ?? {})];
}

/** A non-negative decimal number written as a string. */
const NUMBER_TEXT = '^\\s*(\\d+\\.?\\d*|\\.\\d+)([eE][-+]?\\d+)?\\s*$';
/** The few JSON schema forms of VALUE_SCHEMAS. */
type ValueSchema = { oneOf: ValueSchema[] } | { type: 'integer' | 'number'; minimum: number } | { type: 'string'; pattern: string };
/**
 * Schemas narrower than "a string or a number" for options whose values have a form, with what to give instead:
 * published in the task's schema and enforced on submission (fitsSchema).
 */
const VALUE_SCHEMAS: Record<string, { schema: ValueSchema; give: string }> = {
  class: { schema: { oneOf: [{ type: 'integer', minimum: 0 }, { type: 'string', pattern: '^\\s*\\d+(\\s*,\\s*\\d+)*\\s*$' }] }, give: 'an integer class >= 0, or one per sample as a string like "0,3,3"' },
  'guidance-scale': { schema: { oneOf: [{ type: 'number', minimum: 0 }, { type: 'string', pattern: NUMBER_TEXT }] }, give: 'a number >= 0 (1: the conditional model, 0: the unconditional one, above 1: guided)' },
  'guidance-interval': { schema: { type: 'string', pattern: '^[^,]+,[^,]+$' }, give: 'a string "LO,HI" of two noise levels sigma, like "0.3,5"' },
};

function fitsSchema(schema: ValueSchema, v: unknown): boolean {
  if ('oneOf' in schema) return schema.oneOf.some((s) => fitsSchema(s, v));
  if (schema.type === 'string') return typeof v === 'string' && new RegExp(schema.pattern).test(v);
  return typeof v === 'number' && (schema.type === 'integer' ? Number.isSafeInteger(v) : Number.isFinite(v)) && v >= schema.minimum;
}

/** The JSON schema of a task's options (generated from the command's option table, as --help is). */
export function optionsSchema(task: Task): Record<string, unknown> {
  const scalar = { oneOf: [{ type: 'string' }, { type: 'number' }] };
  const properties: Record<string, unknown> = { task: { const: task } };
  for (const [k, o] of jobOptions(task)) {
    const doc = SERIES_OPTIONS.has(k) ? `${o.doc} (over HTTP: an uploaded file's name, or a list of uploaded DICOM files making one series)`
      : INPUT_OPTIONS.has(k) ? `${o.doc} (over HTTP: an uploaded file's name)`
      : k === 'out' ? `${o.doc} (over HTTP: a result file name, or NAME/ for a derived DICOM series whose files IMG00001.dcm, ... are the job's results)`
      : OUTPUT_OPTIONS.has(k) ? `${o.doc} (over HTTP: a result file name)` : o.doc;
    const list = { type: 'array', items: SERIES_OPTIONS.has(k) ? { type: 'string' } : scalar, ...(SERIES_OPTIONS.has(k) ? { minItems: 1 } : {}) };
    properties[k] = VALUE_SCHEMAS[k] ? { ...VALUE_SCHEMAS[k].schema, description: doc } : o.type === 'boolean' ? { type: 'boolean', description: doc } : o.multiple || SERIES_OPTIONS.has(k) ? { oneOf: [scalar, list], description: doc } : { ...scalar, description: doc };
  }
  return { type: 'object', required: ['task'], additionalProperties: false, properties };
}

/** Check a job's options JSON against its task's table (before anything is written); one line names a bad key. */
export function checkedSpec(raw: unknown, inputs: string[]): JobSpec {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('USAGE', 'field "options" must be a JSON object like {"task": "sample", "model": "gaussian-exact"}');
  const { task, ...options } = raw as Record<string, unknown>;
  if (typeof task !== 'string' || !(task in TASKS)) fail('USAGE', `options.task must be one of ${Object.keys(TASKS).join(', ')}, got ${JSON.stringify(task)}`);
  const table = new Map(jobOptions(task as Task));
  for (const name of inputs) safeName(name, 'input file');
  for (const [k, v] of Object.entries(options)) {
    const def = table.get(k);
    if (!def) fail('USAGE', `options.${k} is not an option of "tweedie ${task}"${NOT_FOR_JOBS.has(k) ? ' usable in a job' : ''}; see GET /openapi.json for the task's options`);
    const scalarOk = (x: unknown) => typeof x === 'string' || (typeof x === 'number' && Number.isFinite(x));
    const series = SERIES_OPTIONS.has(k) && Array.isArray(v);
    const ok = def.type === 'boolean' ? typeof v === 'boolean' : series ? v.length > 0 && v.every((x) => typeof x === 'string') : def.multiple && Array.isArray(v) ? v.every(scalarOk) : scalarOk(v);
    if (!ok) {
      const kinds = def.type === 'boolean' ? 'true or false' : def.multiple ? 'a string, a number or a list of them' : SERIES_OPTIONS.has(k) ? 'a file name or a list of file names (one DICOM series)' : 'a string or a number';
      fail('USAGE', `options.${k} must be ${kinds}`);
    }
    const form = VALUE_SCHEMAS[k];
    if (form && !fitsSchema(form.schema, v)) fail('USAGE', `options.${k} must be ${form.give}, got ${JSON.stringify(v)}`);
    for (const name of INPUT_OPTIONS.has(k) && !(k === 'coil-maps' && COIL_MAP_KINDS.has(String(v))) ? (series ? (v as string[]) : [String(v)]) : []) {
      if (!inputs.includes(name)) fail('USAGE', `options.${k} "${name}" is not an uploaded file; upload it in the field "input" (uploaded: ${inputs.join(', ') || 'none'})`);
    }
    if (series && inputs.includes(seriesFolder(k))) fail('USAGE', `input file "${seriesFolder(k)}" has the name of the folder that holds options.${k}'s series; rename the file`);
    if (k === 'out' && String(v).endsWith('/')) safeName(String(v).slice(0, -1), 'options.out (a DICOM series NAME/)');
    else if (OUTPUT_OPTIONS.has(k)) safeName(String(v), `options.${k}`);
  }
  if (typeof options.model === 'string') {
    const model = modelArg(options.model, inputs);
    if (!options.model.startsWith('gmm:')) checkJobConditions(options as Record<string, OptionValue>, model);
  }
  if (typeof options.operator === 'string') {
    let files: string[] = [];
    try {
      files = operatorSpecFiles(options.operator);
    } catch {
      // A malformed spec is the command's to report, when the job runs.
    }
    if (files.length > 0) fail('USAGE', `options.operator "${options.operator}" names files; a job's operator cannot read files (use mri:, ct:, inpaint:, sr: or blur:)`);
  }
  const spec = { task: task as Task, options: options as Record<string, OptionValue>, inputs };
  splitCount(spec);
  return spec;
}

/** --model over HTTP: a shipped model folder weights/NAME, or gmm:NAME of an uploaded mixture. */
function modelArg(model: string, inputs: string[], inputDir = ''): string {
  if (model.startsWith('gmm:')) {
    const file = model.slice(4);
    if (!inputs.includes(file)) fail('USAGE', `options.model "${model}": upload ${file} in the field "input" (uploaded: ${inputs.join(', ') || 'none'})`);
    return `gmm:${join(inputDir, file)}`;
  }
  const dir = join(packageRoot, 'weights', model);
  if (!isSafeName(model) || !existsSync(join(dir, 'tweedie.json'))) fail('USAGE', `options.model "${model}" is not a shipped model; use a folder name of weights/ (e.g. gaussian-exact) or gmm:UPLOADED.json`);
  return dir;
}

/** The uploads that go into a series folder, by folder (seriesFolder): the lists of the series options. */
export function seriesInputs(spec: JobSpec): Record<string, string[]> {
  return Object.fromEntries(Object.entries(spec.options).filter(([k, v]) => SERIES_OPTIONS.has(k) && Array.isArray(v)).map(([k, v]) => [seriesFolder(k), (v as string[]).map(String)]));
}

/**
 * The command line of a job: its inputs in `inputDir` (a listed series as its folder), its results in `resultDir`
 * (out NAME/: the derived DICOM series' files written in `resultDir` itself), with --json.
 */
export function jobArgv(spec: JobSpec, inputDir: string, resultDir: string): string[] {
  const argv: string[] = [];
  const options = { out: DEFAULT_OUT[spec.task], ...spec.options };
  for (const [k, v] of Object.entries(options)) {
    if (SERVICE_OPTIONS[spec.task]?.[k]) continue;
    if (SERIES_OPTIONS.has(k) && Array.isArray(v)) {
      argv.push(`--${k}=${join(inputDir, seriesFolder(k))}`);
      continue;
    }
    if (k === 'out' && String(v).endsWith('/')) {
      argv.push(`--out=${resultDir}/`);
      continue;
    }
    const text = (x: string | number) => {
      const s = String(x);
      if (k === 'model') return modelArg(s, spec.inputs, inputDir);
      if (INPUT_OPTIONS.has(k) && !(k === 'coil-maps' && COIL_MAP_KINDS.has(s))) return join(inputDir, s);
      return OUTPUT_OPTIONS.has(k) ? join(resultDir, s) : s;
    };
    if (typeof v === 'boolean') {
      if (v) argv.push(`--${k}`);
    } else for (const x of Array.isArray(v) ? v : [v]) argv.push(`--${k}=${text(x)}`);
  }
  return [...argv, '--json'];
}
