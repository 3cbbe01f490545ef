import { readFileSync } from 'node:fs';
import { fail, fileError } from '../core/errors.js';
import { parseSchedulerConfig, type SchedulerConfig } from './scheduler-config.js';

/** Read and parse a diffusers scheduler_config.json file (Node only; the browser passes parsed JSON to parseSchedulerConfig). */
export function readSchedulerConfig(file: string, warn?: (msg: string) => void): SchedulerConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    return fileError('read scheduler config', file, e);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return fail('BAD_CONFIG', `${file} is not valid JSON: ${(e as Error).message}`);
  }
  return parseSchedulerConfig(json, file, warn);
}
