import { Zip, ZipPassThrough } from 'fflate';
import { concatBytes } from './bytes.js';

/** One file of an archive. */
export interface ZipEntry {
  name: string;
  bytes: Uint8Array;
}

/**
 * Write a ZIP archive of `entries` chunk by chunk through `write`, one file at a time, so a server can stream a
 * large derived series with bounded memory (`write` may return a promise: backpressure between files). Files are
 * stored, not deflated: DICOM pixel data gain little, and deflating a large series in JavaScript would hold a
 * server's event loop for seconds. Browser-safe (fflate has no Node builtins).
 */
export async function writeZip(entries: Iterable<ZipEntry> | AsyncIterable<ZipEntry>, write: (chunk: Uint8Array) => void | Promise<void>): Promise<void> {
  const pending: Uint8Array[] = [];
  let failure: Error | null = null;
  const zip = new Zip((err, chunk) => {
    if (err) failure = err;
    else pending.push(chunk);
  });
  const flush = async () => {
    for (let c = pending.shift(); c; c = pending.shift()) await write(c);
    if (failure) throw failure;
  };
  for await (const e of entries) {
    const file = new ZipPassThrough(e.name);
    zip.add(file);
    file.push(e.bytes, true);
    await flush();
  }
  zip.end();
  await flush();
}

/** The whole archive in memory (the web page's download of a series it encoded itself). */
export async function zipBytes(entries: Iterable<ZipEntry>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  await writeZip(entries, (c) => void chunks.push(c));
  return concatBytes(chunks);
}
