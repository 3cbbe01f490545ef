import { readFileSync } from 'node:fs';
import { fail, fileError } from '../core/errors.js';
import { parsePythonJson } from '../core/python-json.js';
import { parseSchedulerConfig, type SchedulerConfig } from './scheduler-config.js';

/**
 * Read and parse a diffusers scheduler_config.json file, in Python's JSON dialect (NaN, Infinity) as diffusers writes it
 * (Node only; the browser passes parsed JSON to parseSchedulerConfig).
 */
export function readSchedulerConfig(file: string, warn?: (msg: string) => void): SchedulerConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    return fileError('read scheduler config', file, e);
  }
  let json: unknown;
  try {
    json = parsePythonJson(text);
  } catch (e) {
    return fail('BAD_CONFIG', `${file} is not valid JSON: ${(e as Error).message}`);
  }
  return parseSchedulerConfig(json, file, warn);
}
