import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { fail } from '../core/errors.js';
import { niftiFileBytes, parseNiftiHeader, readNifti } from '../io/nifti.js';
import { DEFAULT_OUT, type JobSpec } from './job-spec.js';

/**
 * A reconstruct job split over workers: options.split = K cuts its slices into K contiguous ranges,
 * each a reconstruct job of its own (--slices A:B, the same seed: slice z's noise depends only on (seed, z)),
 * and the parts are put back in slice order. Only without the z coupling (tv-z 0), which joins neighbouring
 * slices across a cut; then the result is the unsplit job's.
 */
// Uncompressed: a part is read back once, by the job that puts the volume together.
export const PART_OUT = 'part.nii';
export const MAX_SPLIT = 64;

/** The split count of a spec (1: not split), checked against what a split needs. */
export function splitCount(spec: JobSpec): number {
  const v = spec.options.split;
  if (v === undefined) return 1;
  const k = Number(v);
  if (!Number.isInteger(k) || k < 1 || k > MAX_SPLIT) fail('USAGE', `options.split must be an integer 1..${MAX_SPLIT}, got ${JSON.stringify(v)}`);
  if (k === 1) return 1;
  if (spec.task !== 'reconstruct') fail('USAGE', 'options.split is for reconstruct jobs (a volume cut into slice ranges)');
  if (Number(spec.options['tv-z']) !== 0) fail('USAGE', 'options.split cuts the volume into independent slice ranges: give "tv-z": 0 (the z coupling would join slices across the cuts)');
  if (spec.options.truth === undefined || spec.options.measurement !== undefined) fail('USAGE', 'options.split needs a NIfTI "truth" volume (measurements are not split)');
  const out = String(spec.options.out ?? DEFAULT_OUT.reconstruct);
  if (!/\.nii(\.gz)?$/i.test(out) || spec.options['out-model'] !== undefined) fail('USAGE', 'options.split writes one NIfTI volume: give "out" as .nii or .nii.gz and no "out-model"');
  return k;
}

/** The slice ranges of a split job: its --slices (or the truth volume's slices) cut into `k` contiguous ranges. */
export async function splitRanges(spec: JobSpec, inputDir: string, k: number): Promise<[number, number][]> {
  const name = String(spec.options.truth);
  let z: number;
  try {
    z = parseNiftiHeader(await headBytes(join(inputDir, name), /\.gz$/i.test(name)), name).dim[3]!;
  } catch {
    return fail('USAGE', `options.split: "${spec.options.truth}" is not a readable NIfTI volume; a split job needs a NIfTI truth`);
  }
  const m = spec.options.slices !== undefined ? /^(\d+):(\d+)$/.exec(String(spec.options.slices)) : null;
  const [a, b] = m ? [Number(m[1]), Math.min(Number(m[2]), z)] : [0, z];
  const n = b - a;
  if (n < k) fail('USAGE', `options.split ${k} is more than the ${n} slices to reconstruct`);
  return Array.from({ length: k }, (_, i) => [a + Math.floor((i * n) / k), a + Math.floor(((i + 1) * n) / k)] as [number, number]);
}

/** The first bytes of a file (of its decompressed stream for .gz), enough for a NIfTI-1 or -2 header. */
async function headBytes(file: string, gz: boolean, want = 1024): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let have = 0;
  const source = createReadStream(file);
  const stream = gz ? source.pipe(createGunzip()) : source;
  try {
    for await (const c of stream as AsyncIterable<Buffer>) {
      chunks.push(c);
      have += c.length;
      if (have >= want) break;
    }
  } finally {
    source.destroy();
  }
  return Buffer.concat(chunks).subarray(0, want);
}

/** The job of one part: the same options on its slice range, writing PART_OUT. */
export function partSpec(spec: JobSpec, range: [number, number]): JobSpec {
  const { split: _split, ...options } = spec.options;
  return { ...spec, options: { ...options, slices: `${range[0]}:${range[1]}`, out: PART_OUT } };
}

/** The whole volume from its parts' files (each zero outside its range), slices in order. */
export function assembleParts(out: string, parts: { file: string; range: [number, number] }[]): Uint8Array {
  const vols = parts.map((p) => readNifti(p.file));
  const whole = vols[0]!;
  const [x, y] = whole.dims as [number, number];
  parts.forEach((p, i) => whole.data.set(vols[i]!.data.subarray(p.range[0] * x * y, p.range[1] * x * y), p.range[0] * x * y));
  return niftiFileBytes(out, whole);
}
