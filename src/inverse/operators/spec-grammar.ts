import { fail } from '../../core/errors.js';
import type { Operator } from './operator.js';
import { editDistance } from '../../core/edit-distance.js';

/**
 * The generic grammar of operator spec strings, as the CLI takes them: `kind` or
 * `kind:item,item,...` where an item is `key=value` or a bare word. Every kind accepts
 * `noise=SIGMA`. Each operator declares its own keys, words and meaning in an `OperatorDef`
 * (`doc` gives its line of the grammar); the registry lists them.
 */

/** A file named in a spec, not yet read: the file edge (spec-file.ts) replaces it by its contents. */
export interface FileRef {
  readonly file: string;
  /** npy: the array as stored; png: the first channel in [0, 1], [H, W]. */
  readonly format: 'npy' | 'png';
}

/** Array data in a config (what a file held), plain and structured-cloneable. */
export interface ArrayData {
  readonly shape: readonly number[];
  readonly data: Float32Array | Float64Array;
  /** The file it came from, which names the operator and its errors. */
  readonly file?: string;
}

export type DataSource = FileRef | ArrayData;

export function isFileRef(value: unknown): value is FileRef {
  return typeof value === 'object' && value !== null && typeof (value as FileRef).file === 'string' && 'format' in value && !('data' in value);
}

/** Throws BAD_CONFIG with the spec (or config) the message is about. */
export type Bad = (message: string) => never;

/** The `bad` of a spec text, or of a config built without one. */
export function badOf(spec: string | undefined, kind: string): Bad {
  return (message) => fail('BAD_CONFIG', spec === undefined ? `operator config ${kind}: ${message}` : `operator spec '${spec}': ${message}`);
}

/** The data of a source that the file edge has read (a FileRef left in a config cannot be built). */
export function loadedData(source: DataSource, bad: Bad): ArrayData {
  if (isFileRef(source)) return bad(`${source.file} has not been read; load the files of the config (loadOperatorFiles) before building it`);
  return source;
}

/** One operator kind: its spec grammar, its configuration and how it is built. */
export interface OperatorDef<C extends { kind: string; noise: number } = { kind: string; noise: number }> {
  readonly name: string;
  readonly aliases: readonly string[];
  /** Keys of `key=value` items. */
  readonly keys: readonly string[];
  /** Bare words it accepts (lowercased). */
  readonly words?: readonly string[];
  /** Any bare word is a value (a file name) kept as written. */
  readonly freeWords?: boolean;
  /** Works on images [C, H, W]; the shape is checked before the items when it is known. */
  readonly image?: boolean;
  /** Its line of the spec grammar. */
  readonly doc: string;
  /** The configuration the items describe (pure; files stay FileRefs). */
  parse(items: SpecItems): C;
  /** The operator for items of shape `inShape` (files read; `image` already checked). */
  build(config: C, inShape: readonly number[], bad: Bad): Operator;
}

/** The items of one spec, with the number helpers that phrase their errors. */
export class SpecItems {
  /** The noise= value (default 0), checked >= 0. */
  readonly noise: number;

  constructor(
    readonly kind: string,
    private readonly params: Map<string, string>,
    readonly words: readonly string[],
    readonly bad: Bad,
  ) {
    this.noise = this.num('noise', 0);
    if (this.noise < 0) bad(`noise=${this.noise} must be >= 0 (the standard deviation of the measurement noise)`);
  }

  has(key: string): boolean {
    return this.params.has(key);
  }

  get(key: string): string | undefined {
    return this.params.get(key);
  }

  num(key: string, fallback?: number): number {
    const v = this.params.get(key);
    if (v === undefined) {
      if (fallback === undefined) this.bad(`missing ${key}=...; add it, e.g. ${this.kind}:${key}=${exampleValue(key)}`);
      return fallback!;
    }
    const x = Number(v);
    if (v.trim() === '' || !Number.isFinite(x)) this.bad(`${key}=${v} is not a number; write e.g. ${key}=${exampleValue(key)}`);
    return x;
  }

  int(key: string, fallback?: number): number {
    const x = this.num(key, fallback);
    if (!Number.isInteger(x)) this.bad(`${key}=${this.params.get(key)} must be an integer, e.g. ${key}=${exampleValue(key)}`);
    return x;
  }
}

/** Finds the def of a spec's kind and splits its items (unknown kinds, keys and words fail with a suggestion). */
export function readSpec<D extends Pick<OperatorDef, 'name' | 'aliases' | 'keys' | 'words' | 'freeWords'>>(spec: string, defs: readonly D[]): { def: D; items: SpecItems } {
  const text = spec.trim();
  const colon = text.indexOf(':');
  const rawKind = (colon < 0 ? text : text.slice(0, colon)).trim().toLowerCase();
  const def = defs.find((d) => d.name === rawKind || d.aliases.includes(rawKind));
  const names = defs.map((d) => d.name);
  const bad = badOf(text, rawKind);
  if (!def) return bad(`unknown operator '${rawKind}'${suggest(rawKind, names)}; use one of ${names.join(', ')}`);
  const kind = def.name, words = def.words ?? [];
  const params = new Map<string, string>(), found: string[] = [];
  for (const raw of (colon < 0 ? '' : text.slice(colon + 1)).split(',')) {
    const item = raw.trim();
    if (item === '') continue;
    const eq = item.indexOf('=');
    if (eq < 0) {
      const word = item.toLowerCase();
      if (def.freeWords) found.push(item);
      else if (words.includes(word)) found.push(word);
      else {
        const all = [...words, ...def.keys.map((k) => `${k}=`)];
        bad(`unexpected '${item}' for ${kind}${suggest(word, [...words, ...def.keys])}; ${kind} takes ${all.join(', ')}`);
      }
      continue;
    }
    const key = item.slice(0, eq).trim().toLowerCase(), value = item.slice(eq + 1).trim();
    if (!def.keys.includes(key)) bad(`unknown key '${key}' for ${kind}${suggest(key, def.keys)}; ${kind} takes ${def.keys.join(', ')}`);
    if (params.has(key)) bad(`${key} is given twice; keep one`);
    if (value === '') bad(`${key}= has no value`);
    params.set(key, value);
  }
  return { def, items: new SpecItems(kind, params, found, bad) };
}

/** The image shape [C, H, W] of an operator that works on images. */
export function imageShape(kind: string, inShape: readonly number[], bad: Bad): [number, number, number] {
  if (inShape.length !== 3) bad(`${kind} works on images [C, H, W], but the input shape is [${inShape.join(', ')}]`);
  return inShape as [number, number, number];
}

/** " (did you mean X or Y?)" for the options within edit distance 2 of `word`, else "". */
export function suggest(word: string, options: readonly string[]): string {
  const close = options.filter((o) => editDistance(word, o) <= 2);
  return close.length > 0 ? ` (did you mean ${close.join(' or ')}?)` : '';
}

function exampleValue(key: string): string {
  const ex: Record<string, string> = {
    noise: '0.05', accel: '4', acs: '0.08', seed: '1', offset: '0', coils: '8', views: '60', angle: '120', det: '91',
    poisson: '1e4', scale: '0.01', factor: '4', sigma: '2', size: '13', length: '9', random: '0.7', x: '4', y: '4',
  };
  return ex[key] ?? '1';
}
