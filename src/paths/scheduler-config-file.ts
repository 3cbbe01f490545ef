import { readFileSync } from 'node:fs';
import { fail } from '../core/errors.js';
import { parseSchedulerConfig, type SchedulerConfig } from './scheduler-config.js';

/** Read and parse a diffusers scheduler_config.json file (Node only; the browser passes parsed JSON to parseSchedulerConfig). */
export function readSchedulerConfig(file: string, warn?: (msg: string) => void): SchedulerConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    // Node's message repeats the path ("ENOENT: no such file or directory, open 'FILE'"): keep its reason only.
    return fail('UNREADABLE_FILE', `cannot read scheduler config ${file}: ${(e as Error).message.replace(/, \w+ '.*'$/s, '')}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return fail('BAD_CONFIG', `${file} is not valid JSON: ${(e as Error).message}`);
  }
  return parseSchedulerConfig(json, file, warn);
}
