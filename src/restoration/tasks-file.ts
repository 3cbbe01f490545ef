import { join } from 'node:path';
import { fail } from '../core/errors.js';
import { readJson } from '../models/model-folder.js';

/** One degradation a restoration model was trained for: an operator spec such as "sr:factor=4,noise=0.01". */
export interface RestorationTask {
  name: string;
  operator: string;
}

/** A restoration model folder's tasks.json: its degradations and the held-out clean images it was never trained on. */
export function readRestorationTasks(dir: string): { tasks: RestorationTask[]; heldout: string } {
  const file = join(dir, 'tasks.json');
  const spec = readJson(file);
  const tasks = spec.tasks;
  if (!Array.isArray(tasks) || tasks.length === 0 || !tasks.every((t) => typeof t?.name === 'string' && typeof t?.operator === 'string')) {
    fail('BAD_CONFIG', `${file}: "tasks" must be a non-empty list of {"name", "operator"} (an operator spec such as "sr:factor=4,noise=0.01")`);
  }
  if (typeof spec.heldout !== 'string') fail('BAD_CONFIG', `${file}: "heldout" must name the held-out clean images (.npy, relative to the package root)`);
  return { tasks: tasks.map((t) => ({ name: t.name, operator: t.operator })), heldout: spec.heldout };
}
