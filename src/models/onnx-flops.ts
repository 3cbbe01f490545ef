import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fail } from '../core/errors.js';
import type { OrtModule, OrtTensor } from './ort-denoiser.js';
import { sessionOptions } from './onnx.js';

/**
 * FLOPs of one ONNX model run, counted on the graph ONNX Runtime executes after its fusions, from the shapes
 * its profiler records for every node. The graph is optimised at the 'extended' level: the 'all' level's NCHWc
 * layout pads channels to blocks of 8 or 16 (a 1-channel output convolution runs as 16 channels), work that
 * is the kernel's, not the model's. The count is the usual one: 2 FLOPs per multiply-add of
 * convolutions, matrix products and Gemm; elementwise ops, normalisations, activations and softmax are not
 * counted (a few per cent of a UNet's work). training/flops_fixture.py counts the same in PyTorch.
 */

type Shapes = Record<string, number[]>[];
export interface ProfileEvent {
  cat?: string;
  name?: string;
  /** Microseconds. */
  dur?: number;
  args?: { op_name?: string; input_type_shape?: Shapes; output_type_shape?: Shapes };
}

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const shapeOf = (shapes: Shapes | undefined, i: number): number[] | undefined => {
  const entry = shapes?.[i];
  return entry ? Object.values(entry)[0] : undefined;
};

/** A matrix product's inner dimension from the last two axes of A, B and the output, whatever the transposes: (MK)(KN)/(MN) = K^2. */
function innerDim(a: number[], b: number[], out: number[]): number {
  const last2 = (s: number[]) => numel(s.slice(-2));
  return Math.round(Math.sqrt((last2(a) * last2(b)) / last2(out)));
}

/** FLOPs of one executed node, 0 for ops outside the count; fails for a counted op whose shapes the profile lacks. */
function nodeFlops(e: ProfileEvent): number {
  const op = e.args?.op_name ?? '';
  const ins = e.args?.input_type_shape, out = shapeOf(e.args?.output_type_shape, 0);
  const x = shapeOf(ins, 0), w = shapeOf(ins, 1);
  const missing = () => fail('UNSUPPORTED', `cannot count the FLOPs of node ${e.name} (${op}): the profile does not record its input and output shapes`);
  if (op === 'Conv' || op === 'FusedConv' || op === 'NhwcFusedConv') {
    // W is [C_out, C_in / groups, kh, kw]: each output element costs C_in / groups * kh * kw multiply-adds.
    if (!out || !w || w.length < 3) return missing();
    return 2 * numel(out) * (numel(w) / w[0]!);
  }
  if (op === 'MatMul' || op === 'FusedMatMul') {
    if (!out || !x || !w) return missing();
    return 2 * numel(out) * innerDim(x, w, out);
  }
  if (op === 'Gemm') {
    if (!out || !x) return missing();
    // A pre-packed constant B is left out of the profile; then K is A's second axis (transA = 0, as torch exports).
    return 2 * numel(out) * (w && w.length === 2 ? innerDim(x, w, out) : x[1]!);
  }
  return 0;
}

/** Total FLOPs of the node events of one profiled run (ONNX Runtime's profile JSON). */
export function flopsOfProfile(events: ProfileEvent[]): number {
  let total = 0;
  for (const e of events) if (e.cat === 'Node' && e.name?.endsWith('_kernel_time')) total += nodeFlops(e);
  return total;
}

/**
 * The node events of `runs` profiled runs of `file` on `feeds` (one thread, graph optimisation `level`): the
 * profile goes to a temporary folder, is read back and removed.
 */
export async function profiledRuns(ort: OrtModule, file: string, feeds: Record<string, OrtTensor>, level: 'extended' | 'all', runs = 1): Promise<ProfileEvent[]> {
  const dir = mkdtempSync(join(tmpdir(), 'tweedie-profile-'));
  try {
    const session = await ort.InferenceSession.create(file, {
      ...sessionOptions({ threads: 1 }), graphOptimizationLevel: level, executionProviders: ['cpu'], enableProfiling: true, profileFilePrefix: join(dir, 'run'),
    });
    for (let i = 0; i < runs; i++) await session.run(feeds);
    session.endProfiling?.();
    await session.release?.();
    const [name] = readdirSync(dir).filter((f) => f.endsWith('.json'));
    if (!name) return fail('UNSUPPORTED', `ONNX Runtime wrote no profile for ${file}`);
    return (JSON.parse(readFileSync(join(dir, name), 'utf8')) as ProfileEvent[]).filter((e) => e.cat === 'Node' && e.name?.endsWith('_kernel_time'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** FLOPs of one run of `file` on `feeds` (per call, the whole batch). */
export async function countOnnxFlops(ort: OrtModule, file: string, feeds: Record<string, OrtTensor>): Promise<number> {
  return flopsOfProfile(await profiledRuns(ort, file, feeds, 'extended'));
}
