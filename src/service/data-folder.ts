import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { commitOutputs } from '../cli/output.js';
import { fileError } from '../core/errors.js';
import { isSafeName } from './names.js';

/**
 * The service's files: DATA/jobs/ID/input/NAME (the uploads) and DATA/jobs/ID/results/NAME (what the
 * command wrote). In Redis mode the server and its workers share this folder (one machine, or a shared
 * mount at the same path).
 */
export class DataFolder {
  readonly root: string;
  readonly jobs: string;
  constructor(root: string) {
    this.root = resolve(root);
    this.jobs = join(this.root, 'jobs');
    try {
      mkdirSync(this.jobs, { recursive: true });
    } catch (e) {
      fileError('create the data folder', root, e);
    }
  }

  inputDir(id: string): string {
    return join(this.jobs, id, 'input');
  }

  resultDir(id: string): string {
    return join(this.jobs, id, 'results');
  }

  /**
   * Write a job's uploads, all or none (each atomically, in a folder renamed into place); the files a series lists
   * (`series`: folder -> names) go into that folder.
   */
  writeInputs(id: string, files: { name: string; bytes: Uint8Array }[], series: Record<string, string[]> = {}): void {
    const staging = join(this.jobs, `.${id}.incoming`);
    mkdirSync(staging, { recursive: true });
    const folderOf = new Map(Object.entries(series).flatMap(([folder, names]) => names.map((n) => [n, folder] as const)));
    try {
      for (const folder of Object.keys(series)) mkdirSync(join(staging, folder));
      commitOutputs(files.map((f) => ({ file: join(staging, folderOf.get(f.name) ?? '', f.name), bytes: f.bytes })));
      mkdirSync(join(this.jobs, id));
      renameSync(staging, this.inputDir(id));
    } catch (e) {
      rmSync(staging, { recursive: true, force: true });
      throw e;
    }
  }

  /** Start an attempt of a job: an empty results folder (a retried attempt drops what a dead one left). */
  freshResults(id: string): string {
    const dir = this.resultDir(id);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  /** The result file names of a job (temporary files of an unfinished write are not results). */
  results(id: string): string[] {
    const dir = this.resultDir(id);
    if (!existsSync(dir)) return [];
    return readdirSync(dir).filter((n) => isSafeName(n) && statSync(join(dir, n)).isFile()).sort();
  }

  /** The path of a result, or null when the job has no such file. */
  resultFile(id: string, name: string): string | null {
    return isSafeName(name) && this.results(id).includes(name) ? join(this.resultDir(id), name) : null;
  }

  remove(id: string): void {
    rmSync(join(this.jobs, id), { recursive: true, force: true });
  }
}
