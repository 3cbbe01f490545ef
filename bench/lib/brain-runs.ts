import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fail } from '../../src/core/errors.js';
import { clampInPlace } from '../../src/core/ops.js';
import { NoiseSource } from '../../src/core/rng.js';
import type { Tensor } from '../../src/core/tensor.js';
import { parseOperatorSpec } from '../../src/inverse/operators/spec-file.js';
import { psnr, ssim } from '../../src/metrics/image.js';
import { cropItems } from '../../src/models/layout.js';
import type { OnnxDenoiser } from '../../src/models/onnx.js';
import type { ParamValues } from '../../src/samplers/types.js';
import { solve } from '../../src/recipes/solve.js';

/** The runs of the native brain benches (bench priors, the conditional MRI rows of bench inverse) on sets of slices. */

export interface Figures { psnr: number; ssim: number }

const mean = (a: Float64Array) => a.reduce((p, q) => p + q, 0) / a.length;

/** PSNR / SSIM (data range 2, the model's [-1, 1]) of x clipped to that range, as `tweedie reconstruct` writes it. */
export function figures(x: Tensor, truth: Tensor): Figures {
  const y = clampInPlace(x.toDtype('float32').clone(), -1, 1);
  return { psnr: mean(psnr(y, truth, 2)), ssim: mean(ssim(y, truth, { dataRange: 2 })) };
}

/** The held-out z of the priors' split.json (the same for all of them, or refused). */
export function heldoutZ(dirs: string[]): number[] {
  const zs = dirs.map((dir) => {
    const file = join(dir, 'split.json');
    if (!existsSync(file)) fail('UNREADABLE_FILE', `${file} is missing: the bench takes the held-out slices from it`);
    const z = (JSON.parse(readFileSync(file, 'utf8')) as { heldout_z?: unknown }).heldout_z;
    if (!Array.isArray(z) || z.length === 0 || !z.every(Number.isInteger)) fail('BAD_CONFIG', `${file}: "heldout_z" must list slice indices`);
    return z as number[];
  });
  if (zs.some((z) => z.join(',') !== zs[0]!.join(','))) fail('BAD_CONFIG', `the priors hold out different slices (${dirs.join(', ')}); compare priors of one split`);
  return zs[0]!;
}

/** `count` of the slices zs, spread evenly. */
export const spread = (zs: number[], count: number) => Array.from({ length: Math.min(count, zs.length) }, (_, k) => zs[Math.floor((k * zs.length) / Math.min(count, zs.length))]!);

/**
 * One posterior (or baseline) run over a batch of images, one measurement per image (noise seed 0), start seed 0.
 * `crop`: the figures on the centred crop of that item shape (images padded to a model's grid before measuring).
 */
export async function runOn(model: OnnxDenoiser | null, solver: string, spec: string, truth: Tensor, nfe: number, o: { params?: Partial<ParamValues>; crop?: readonly number[] } = {}) {
  const op = parseOperatorSpec(spec, truth.shape.slice(1));
  const y = op.measure(truth, new NoiseSource(0));
  const r = await solve({ model, operator: op, measurement: y, solver, steps: nfe, n: truth.batch, batch: truth.batch, seed: 0, ...(o.params ? { params: o.params } : {}) });
  const f = o.crop ? figures(cropItems(r.x, o.crop), cropItems(truth, o.crop)) : figures(r.x, truth);
  return { ...f, seconds_per_slice: r.seconds / truth.batch, nfe: model ? r.nfe : 0 };
}
