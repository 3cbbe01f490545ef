import { fail } from '../core/errors.js';
import { Tensor } from '../core/tensor.js';
import type { Operator } from '../inverse/operators/operator.js';

/**
 * Measured data for `tweedie reconstruct --measurement FILE.npy`, one item per slice, in the model
 * space of the prior (64x64 slices of intensities in [-1, 1] for brain-64):
 * - MRI k-space [Z, H, W, 2] ((re, im) last, the centered orthonormal FFT `fft2c`, as the operators
 *   and fastMRI store it), [Z, 1, H, W, 2], or [Z, 2, H, W] (re and im planes);
 * - CT sinograms [Z, views, detectors] or [Z, 1, views, detectors].
 * Returned as [Z, ...op.outShape].
 */
export function measurementForOperator(t: Tensor, op: Operator, name: string): Tensor {
  const out = op.outShape, s = t.shape, z = s[0] ?? 0;
  const bare = out.filter((d, i) => !(d === 1 && i === 0));
  const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);
  const item = s.slice(1);
  if (s.length >= 2 && z >= 1 && (same(item, out) || same(item, bare))) return t.reshape([z, ...out]);
  if (op.complexOutput && s.length === 4 && s[1] === 2 && same([...item.slice(1), 2], bare)) {
    // [Z, 2, H, W] planes -> (re, im) interleaved last.
    const n = item[1]! * item[2]!, r = Tensor.zeros([z, ...out], t.dtype);
    for (let k = 0; k < z; k++) {
      for (let i = 0; i < n; i++) {
        r.data[2 * (k * n + i)] = t.data[k * 2 * n + i]!;
        r.data[2 * (k * n + i) + 1] = t.data[k * 2 * n + n + i]!;
      }
    }
    return r;
  }
  const want = op.complexOutput
    ? `k-space [Z, ${bare.join(', ')}] ((re, im) last) or [Z, 2, ${bare.slice(0, -1).join(', ')}] (re and im planes)`
    : `sinograms [Z, ${bare.join(', ')}]`;
  return fail('BAD_SHAPE', `--measurement ${name} has shape [${s.join(', ')}], which does not fit ${op.name}; give ${want}, one item per slice`);
}

/** Columns of a k-space [1, H, W, 2] item with no nonzero entry (not acquired). */
export function emptyColumns(y: Tensor, k: number, h: number, w: number): number[] {
  const base = k * h * w * 2, empty: number[] = [];
  for (let j = 0; j < w; j++) {
    let any = false;
    for (let i = 0; i < h && !any; i++) any = y.data[base + 2 * (i * w + j)] !== 0 || y.data[base + 2 * (i * w + j) + 1] !== 0;
    if (!any) empty.push(j);
  }
  return empty;
}

/** The image grid [H, W] of MRI k-space given as [Z, H, W, 2], [Z, 1, H, W, 2] or [Z, 2, H, W]; null for another layout. */
export function kspaceGrid(t: Tensor): [number, number] | null {
  const s = t.shape;
  if (s.length === 4 && s[3] === 2) return [s[1]!, s[2]!];
  if (s.length === 5 && s[1] === 1 && s[4] === 2) return [s[2]!, s[3]!];
  if (s.length === 4 && s[1] === 2) return [s[2]!, s[3]!];
  return null;
}
