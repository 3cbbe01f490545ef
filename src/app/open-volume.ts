import { fail } from '../core/errors.js';
import { INFLATE_SLACK_BYTES } from '../io/validate.js';
import { isGzip, niftiDeclaredBytes, parseNiftiBytes } from '../io/nifti-codec.js';
import { createVolume, type Volume } from '../io/volume.js';

/**
 * Opening files in a page (browser-safe): a .nii.gz inflated with the platform's DecompressionStream, stopped at the
 * size its header declares (as src/io/nifti.ts does with zlib), and a grey image as a one-slice volume.
 */

/** Inflate gzip bytes, giving up once the output passes `limit(outputSoFar)` (null: not known yet). */
async function gunzipCapped(bytes: Uint8Array, name: string, limit: (head: Uint8Array) => number | null): Promise<Uint8Array> {
  const reader = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip')).getReader();
  const parts: Uint8Array[] = [];
  let size = 0, cap: number | null = null;
  for (;;) {
    const { done, value } = await reader.read().catch((e: Error) =>
      fail('UNREADABLE_FILE', `${name}: the gzip stream is corrupt or truncated (${e.message}); re-export or re-download the .nii.gz file`),
    );
    if (done) break;
    parts.push(value);
    size += value.length;
    if (cap === null) cap = limit(size >= 540 ? concat(parts, size) : new Uint8Array(0));
    if (cap !== null && size > cap + INFLATE_SLACK_BYTES) {
      await reader.cancel();
      return fail('UNREADABLE_FILE', `${name}: decompresses to more than the ${cap} bytes its header declares; the file is corrupt or a decompression bomb — re-export it`);
    }
  }
  return concat(parts, size);
}

function concat(parts: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) (out.set(p, at), (at += p.length));
  return out;
}

/** A .nii or .nii.gz held in memory, as src/io/nifti.ts's parseNifti reads it. */
export async function parseNiftiAsync(bytes: Uint8Array, name: string): Promise<Volume> {
  const plain = isGzip(bytes) ? await gunzipCapped(bytes, name, (head) => (head.length >= 540 ? niftiDeclaredBytes(head, name, 'decompress it first and open the .nii') : null)) : bytes;
  return parseNiftiBytes(plain, name, null);
}

/**
 * A grey image (rows top to bottom, `width` values each) as a one-slice volume with 1 mm voxels: image row r is
 * y = height - 1 - r, as the model space maps a slice to an image (src/volume/model-space.ts).
 */
export function imageVolume(gray: Float32Array, width: number, height: number, name: string): Volume {
  if (gray.length !== width * height) fail('BAD_SHAPE', `${name}: ${gray.length} values for a ${width}x${height} image`);
  const data = new Float32Array(width * height);
  for (let r = 0; r < height; r++) data.set(gray.subarray(r * width, (r + 1) * width), (height - 1 - r) * width);
  return createVolume(data, [width, height, 1], { descrip: name, source: name });
}
