import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

/** The package root (package.json, weights/, examples/, dist/), from dist/src: the repository or the installed package. */
export const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
