import { fail } from '../core/errors.js';

/**
 * The names a client may give: job ids the server made, and file names (uploads, results, models) that
 * stay one plain name inside their folder: no separators, no leading dot, no "..". The patterns are the
 * route schemas' too, so Fastify refuses a bad id or name before a handler runs.
 */
export const ID_PATTERN = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
export const NAME_PATTERN = '^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,127}$';

const NAME = new RegExp(NAME_PATTERN);

/** True for a file name that stays inside its folder. */
export function isSafeName(name: string): boolean {
  return NAME.test(name) && !name.includes('..');
}

/** `name` when it is a safe file name, else a usage error naming `what` and the rule. */
export function safeName(name: string, what: string): string {
  if (!isSafeName(name)) fail('USAGE', `${what} "${name}" must be a plain file name (letters, digits, _ . + -; no folders, no leading dot, no "..")`);
  return name;
}
