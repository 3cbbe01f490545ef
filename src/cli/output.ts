import { closeSync, existsSync, fsyncSync, linkSync, mkdirSync, openSync, realpathSync, renameSync, rmSync, statSync, writeSync, copyFileSync } from 'node:fs';
import { basename, dirname, extname, join, resolve, sep } from 'node:path';
import { fail, TweedieError } from '../core/errors.js';
import type { Tensor } from '../core/tensor.js';
import { imageGrid } from '../io/grid.js';
import { encodeNpy } from '../io/npy.js';
import { encodePng, tensorToPng } from '../io/png.js';

/**
 * What the commands write, and how: nothing the user had is lost. Outputs are checked before any work
 * (an output may not be an input or another output, and its folder must exist and take a new file), and
 * written all or none: each to a temporary file beside its target, then renamed into place, the previous
 * files kept until every rename succeeded. The writes are synchronous, so an interrupt (SIGINT, SIGTERM:
 * see main.ts) lands before or after them, never between.
 */

/** A file named on the command line, with the option that named it. */
export interface NamedFile {
  option: string;
  file: string | undefined;
}

/** A file's identity: device and inode when it exists, else its resolved path (its folder's real path). */
function identity(file: string): string {
  if (existsSync(file)) {
    const st = statSync(file);
    return `${st.dev}:${st.ino}`;
  }
  const dir = dirname(resolve(file));
  return join(existsSync(dir) ? realpathSync(dir) : dir, basename(file));
}

/** True when `file` is, or lies inside, the input `input` (a file or a folder such as a model folder). */
function clobbers(file: string, input: string): boolean {
  if (!existsSync(input) || !existsSync(file)) return identity(file) === identity(input);
  if (statSync(input).isDirectory()) return realpathSync(file).startsWith(realpathSync(input) + sep);
  return identity(file) === identity(input);
}

/** Create a file beside `file` that no one else uses, write `bytes` to it and flush it to disk. */
function writeTemp(file: string, bytes: Uint8Array): string {
  const temp = join(dirname(file), `.${basename(file)}.${process.pid}-${Math.random().toString(36).slice(2, 10)}.tmp`);
  let fd: number | null = null;
  try {
    fd = openSync(temp, 'wx');
    for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } catch (e) {
    if (fd !== null) closeSync(fd);
    rmSync(temp, { force: true });
    throw e;
  }
  closeSync(fd);
  return temp;
}

/**
 * Check the outputs of a command before any work: each is named, none is an input (or inside an input
 * folder) or another output, none is a folder, and each output's folder exists (or, with `createDirs`,
 * is created) and takes a new file.
 */
export function checkOutputs(outputs: NamedFile[], inputs: NamedFile[], options: { createDirs?: boolean } = {}): void {
  const named = outputs.filter((o): o is { option: string; file: string } => o.file !== undefined);
  for (const [i, o] of named.entries()) {
    for (const input of inputs) {
      if (input.file !== undefined && clobbers(o.file, input.file)) {
        fail('USAGE', `${o.option} ${o.file} would overwrite ${input.option} ${input.file}; write the result to another file`);
      }
    }
    for (const other of named.slice(0, i)) {
      if (identity(o.file) === identity(other.file)) fail('USAGE', `${o.option} and ${other.option} both name ${o.file}; give each output its own file`);
    }
    if (existsSync(o.file) && statSync(o.file).isDirectory()) fail('USAGE', `${o.option} ${o.file} is a folder; name a file in it`);
    const dir = dirname(resolve(o.file));
    if (!existsSync(dir)) {
      if (!options.createDirs) fail('USAGE', `${o.option} ${o.file}: the folder ${dirname(o.file)} does not exist; create it first`);
      try {
        mkdirSync(dir, { recursive: true });
      } catch (e) {
        fail('UNREADABLE_FILE', `${o.option} ${o.file}: cannot create the folder ${dirname(o.file)} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      }
    }
    try {
      rmSync(writeTemp(o.file, new Uint8Array(0)));
    } catch (e) {
      fail('UNREADABLE_FILE', `${o.option} ${o.file}: cannot write in ${dirname(o.file)} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); pick a writable folder`);
    }
  }
}

/** Keep the current content of `file` under a temporary name (a hard link, or a copy where links fail). */
function keep(file: string): string {
  const backup = join(dirname(file), `.${basename(file)}.${process.pid}-${Math.random().toString(36).slice(2, 10)}.bak`);
  try {
    linkSync(file, backup);
  } catch {
    copyFileSync(file, backup);
  }
  return backup;
}

/**
 * Write every output or none. All contents go to temporary files first; only then are they renamed into
 * place. A failure at any point removes the temporary files and puts back what the targets held before.
 */
export function commitOutputs(files: { file: string; bytes: Uint8Array }[]): void {
  const temps: string[] = [];
  const done: { file: string; backup: string | null }[] = [];
  try {
    for (const f of files) temps.push(writeTemp(f.file, f.bytes));
    files.forEach((f, i) => {
      const backup = existsSync(f.file) ? keep(f.file) : null;
      done.push({ file: f.file, backup });
      renameSync(temps[i]!, f.file);
    });
  } catch (e) {
    for (const { file, backup } of done.reverse()) {
      if (backup) renameSync(backup, file);
      else rmSync(file, { force: true });
    }
    for (const t of temps) rmSync(t, { force: true });
    const err = e as NodeJS.ErrnoException;
    if (e instanceof TweedieError) throw e;
    const which = files[done.length - 1]?.file ?? files[temps.length]?.file ?? files[0]?.file;
    return fail('UNREADABLE_FILE', `cannot write ${which}: ${err.code ?? err.message}; nothing was written and the previous files are unchanged`);
  }
  for (const { backup } of done) if (backup) rmSync(backup, { force: true });
}

/** Check an --out name for samples before any work: .npy, or .png for image-shaped items [C, H, W]. */
export function checkSamplesOut(out: string | undefined, command: string, itemShape?: readonly number[]): string {
  if (!out) return fail('USAGE', `${command} needs --out FILE.npy or FILE.png`);
  const ext = extname(out).toLowerCase();
  if (ext !== '.npy' && ext !== '.png') fail('USAGE', `--out ${out}: use a .npy or .png file name`);
  if (ext === '.png' && itemShape && itemShape.length !== 3) {
    fail('USAGE', `--out ${out}: a PNG grid needs image-shaped samples [C, H, W]; this model gives [${itemShape.join(', ')}]; write .npy instead`);
  }
  return out;
}

/** Samples [K, ...item] as NPY bytes, or as a PNG grid for image-shaped items. */
export function samplesBytes(out: string, x: Tensor, itemShape: readonly number[], valueRange: [number, number]): Uint8Array {
  if (extname(out).toLowerCase() === '.npy') return encodeNpy(x);
  checkSamplesOut(out, 'the command', itemShape);
  return encodePng(tensorToPng(imageGrid(x.reshape([x.batch, ...itemShape])), valueRange));
}

/**
 * Check a new output folder before any work: it must not exist yet (a folder the user has is never replaced or
 * merged into), must not lie inside an input, and its parent must exist and take a new entry.
 */
export function checkNewFolder(out: { option: string; file: string }, inputs: NamedFile[]): void {
  if (existsSync(out.file)) fail('USAGE', `${out.option} ${out.file} already exists; name a new folder (tweedie never writes into or over an existing one)`);
  const parent = dirname(resolve(out.file));
  if (!existsSync(parent)) fail('USAGE', `${out.option} ${out.file}: the folder ${dirname(out.file)} does not exist; create it first`);
  const target = join(realpathSync(parent), basename(out.file));
  for (const input of inputs) {
    if (input.file === undefined || !existsSync(input.file)) continue;
    const inside = realpathSync(input.file);
    if (target.startsWith(inside + sep)) fail('USAGE', `${out.option} ${out.file} lies inside ${input.option} ${input.file}; write the new folder elsewhere`);
  }
  try {
    rmSync(writeTemp(target, new Uint8Array(0)));
  } catch (e) {
    fail('UNREADABLE_FILE', `${out.option} ${out.file}: cannot write in ${dirname(out.file)} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); pick a writable folder`);
  }
}

/**
 * Write a new folder all or none: its files go into a temporary folder beside it, which is then renamed into
 * place (a rename that fails, e.g. because the folder appeared meanwhile, leaves nothing behind).
 */
export function commitFolder(dir: string, files: { name: string; bytes: Uint8Array }[]): void {
  const temp = join(dirname(resolve(dir)), `.${basename(dir)}.${process.pid}-${Math.random().toString(36).slice(2, 10)}.tmp`);
  try {
    mkdirSync(temp);
    for (const f of files) renameSync(writeTemp(join(temp, f.name), f.bytes), join(temp, f.name));
    if (existsSync(dir)) fail('USAGE', `${dir} appeared while tweedie worked; nothing was written`);
    renameSync(temp, dir);
  } catch (e) {
    rmSync(temp, { recursive: true, force: true });
    if (e instanceof TweedieError) throw e;
    const err = e as NodeJS.ErrnoException;
    fail('UNREADABLE_FILE', `cannot write ${dir}: ${err.code ?? err.message}; nothing was written`);
  }
}
