import { TweedieError } from '../../src/core/errors.js';
import { readDicom } from '../../src/io/dicom-file.js';
import { readNifti } from '../../src/io/nifti.js';
import { readNpy } from '../../src/io/npy.js';
import { readPng } from '../../src/io/png.js';
import { readModelFolder } from '../../src/models/model-folder.js';

/**
 * Run in a child process by test/hostile-files.test.ts and bench/hostile.ts, so that each probe's peak memory is its own:
 * `node read-probe.js PATH READER,READER,...` reads PATH with each reader and prints one JSON line
 * with each outcome and the process' peak resident set size (KiB).
 */

const READERS: Record<string, (path: string) => unknown> = {
  npy: readNpy,
  png: readPng,
  nifti: readNifti,
  dicom: readDicom,
  model: (path) => readModelFolder(path, () => {}),
};

const [path, readers] = process.argv.slice(2) as [string, string];
async function probe(reader: string) {
  const t0 = performance.now();
  try {
    await READERS[reader]!(path);
    return { reader, ok: true, ms: performance.now() - t0 };
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    return { reader, ok: false, ms: performance.now() - t0, tweedie: e instanceof TweedieError, name: err.name, code: (e as { code?: string }).code, message: err.message };
  }
}
const results = [];
for (const reader of readers.split(',')) results.push(await probe(reader));
process.stdout.write(`${JSON.stringify({ results, maxRssKiB: process.resourceUsage().maxRSS })}\n`);
