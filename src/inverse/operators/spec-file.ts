import { resolve } from 'node:path';
import { readNpy } from '../../io/npy.js';
import { pngToTensor, readPng } from '../../io/png.js';
import type { Operator } from './operator.js';
import { buildOperator, operatorConfigFromSpec, type OperatorConfig } from './registry.js';
import { isFileRef, type ArrayData, type FileRef } from './spec-grammar.js';

/** The Node edge of operator specs: reads the files a spec names. */

export interface SpecOptions {
  /** Directory that relative file paths in the spec are resolved against (default: cwd). */
  baseDir?: string;
}

/** The contents of a file reference: an .npy array as stored, a PNG's first channel in [0, 1] as [H, W]. */
export function readDataFile(ref: FileRef, options: SpecOptions = {}): ArrayData {
  const path = resolve(options.baseDir ?? process.cwd(), ref.file);
  if (ref.format === 'npy') {
    const t = readNpy(path);
    return { shape: [...t.shape], data: t.data, file: ref.file };
  }
  const img = readPng(path);
  return { shape: [img.height, img.width], data: pngToTensor(img).data.slice(0, img.height * img.width), file: ref.file };
}

/** A copy of the configuration with every file reference replaced by the file's contents. */
export function loadOperatorFiles<C extends OperatorConfig>(config: C, options: SpecOptions = {}): C {
  return Object.fromEntries(Object.entries(config).map(([k, v]) => [k, isFileRef(v) ? readDataFile(v, options) : v])) as C;
}

/** Parses an operator spec for items of shape `inShape` ([C, H, W], or [n] for matrix), reading its files. */
export function parseOperatorSpec(spec: string, inShape: readonly number[], options: SpecOptions = {}): Operator {
  return buildOperator(loadOperatorFiles(operatorConfigFromSpec(spec, inShape), options), inShape, spec);
}

/** The files an operator spec names (masks, matrices, coil maps), resolved against baseDir. */
export function operatorSpecFiles(spec: string, options: SpecOptions = {}): string[] {
  return Object.values(operatorConfigFromSpec(spec)).filter(isFileRef).map((ref) => resolve(options.baseDir ?? process.cwd(), ref.file));
}
