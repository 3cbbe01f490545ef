import { fail } from '../../core/errors.js';
import { Tensor } from '../../core/tensor.js';
import { bindConditions } from '../../models/conditioning.js';
import type { Denoiser } from '../../models/denoiser.js';
import type { Operator } from '../operators/operator.js';

/** The name of the model's image condition built from the zero-filled measurement (tweedie.json "from": "zero-filled"), or a one-line refusal. */
export function zeroFilledConditionOf(model: Denoiser, solver: string, modelName: string): string {
  const entries = Object.entries(model.conditions ?? {});
  const hits = entries.filter(([, s]) => s.kind === 'image' && s.from === 'zero-filled');
  const fix = 'a model trained on the zero-filled image of its undersampled k-space (training/brain_cond_mri.py), or an unconditional prior with diffpir or dds';
  if (hits.length !== 1 || entries.length !== 1) {
    const has = entries.length ? `its conditions: ${entries.map(([k, s]) => `${k} (${s.kind}${s.kind === 'image' && s.from ? `, from ${s.from}` : ''})`).join(', ')}` : 'it is unconditional';
    fail('UNSUPPORTED', `solver ${solver} needs a model whose one condition is the zero-filled image ("conditioning": {NAME: {"kind": "image", "from": "zero-filled"}}); ${modelName} does not (${has}): use ${fix}`);
  }
  return hits[0]![0];
}

/**
 * The model with its zero-filled condition bound, item by item, to A^H y of the measurement y [B, ...]: the real part
 * for real images (`MRIOperator.zeroFilled`, which for a real image loses nothing: A^T y = F^H D F x with D > 0 on
 * every measured line or its mirror). Refuses an operator other than single-coil Cartesian MRI.
 */
export function withZeroFilledCondition(model: Denoiser, op: Operator, y: Tensor, solver: string, modelName: string): Denoiser {
  if (op.kind !== 'mri') fail('UNSUPPORTED', `solver ${solver} enforces the measured lines of single-coil Cartesian k-space; ${op.name} is not an mri operator: use diffpir or dds`);
  const name = zeroFilledConditionOf(model, solver, modelName);
  const spec = model.conditions![name]!;
  const shape = spec.kind === 'image' ? spec.shape : [];
  const fits = model.layout ? shape[0] === op.inShape[0] : shape.join() === op.inShape.join();
  if (!fits) fail('BAD_SHAPE', `solver ${solver}: ${modelName}'s condition ${name} is [${shape.join(', ')}] but the images of ${op.name} are [${op.inShape.join(', ')}]; measure images of the model's shape`);
  const zf = op.adjoint(y);
  return bindConditions(model, { [name]: new Tensor([y.batch, ...op.inShape], Float32Array.from(zf.data)) });
}
