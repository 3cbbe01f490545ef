import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fail } from '../core/errors.js';
import type { SplitJson } from './model-space.js';

/** split.json of the prior: in the model folder, else the shipped weights/brain-64 record. */
export function readSplit(modelDir: string, fallback?: string): SplitJson | null {
  for (const f of [join(modelDir, 'split.json'), ...(fallback ? [fallback] : [])]) {
    if (existsSync(f)) {
      try {
        return JSON.parse(readFileSync(f, 'utf8')) as SplitJson;
      } catch (e) {
        fail('BAD_CONFIG', `${f}: not valid JSON (${(e as Error).message})`);
      }
    }
  }
  return null;
}
