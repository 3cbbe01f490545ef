import { fail } from '../core/errors.js';
import { parseNpy } from '../io/npy-codec.js';
import type { Volume } from '../io/volume.js';
import { onInputGrid } from '../volume/reconstruct-core.js';
import { modelToUnit } from '../volume/input-mapping.js';
import { imageVolume, parseNiftiAsync } from './open-volume.js';

/**
 * A server job's result file as the page's result volume, on the grid of the volume the page opened (browser-safe):
 * - a NIfTI as written; one holding only slices [A, B) of the input (`tweedie reconstruct --measurement` writes just
 *   those) is put back at A among the input's slices, 0 elsewhere, as the page's own k-space run returns it;
 * - a PNG input's restoration, the float .npy [1, 1, H, W] in the model's value range [lo, hi], as the grey levels
 *   0..255 the page read the PNG as: g = 255 (x - lo) / (hi - lo), x clipped to the range, the way back of the one
 *   PNG mapping (src/volume/input-mapping.ts) the page's own restore takes too.
 */
export async function serverResultVolume(result: { name: string; bytes: Uint8Array }, input: Volume, slices: [number, number], valueRange: [number, number]): Promise<Volume> {
  if (/\.npy$/i.test(result.name)) {
    const x = parseNpy(result.bytes, result.name), [, , H, W] = x.shape as number[];
    if (x.shape.length !== 4 || x.shape[0] !== 1 || x.shape[1] !== 1) fail('BAD_SHAPE', `${result.name}: the server returned [${x.shape.join(', ')}], not one grey image [1, 1, H, W]`);
    const gray = Float32Array.from(x.data as ArrayLike<number>, (v) => 255 * modelToUnit(Number(v), valueRange));
    return imageVolume(gray, W!, H!, input.source ?? result.name);
  }
  const vol = await parseNiftiAsync(result.bytes, result.name);
  const [X, Y, Z] = input.dims as number[], [A, B] = slices;
  if (vol.dims[0] !== X || vol.dims[1] !== Y) fail('BAD_SHAPE', `${result.name}: the server returned ${vol.dims.slice(0, 2).join(' x ')} slices for a ${X} x ${Y} input`);
  if (vol.dims[2] === Z) return vol;
  if (vol.dims[2] !== B - A) fail('BAD_SHAPE', `${result.name}: the server returned ${vol.dims[2]} slices for slices ${A}..${B - 1} of ${Z}`);
  const data = new Float32Array(X! * Y! * Z!);
  data.set(vol.data, A * X! * Y!);
  return onInputGrid(input, data, vol.source ?? result.name);
}
