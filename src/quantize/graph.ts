import { fail } from '../core/errors.js';
import { DataType, floatValues, intAttribute, tensorOf, type OnnxModel, type OnnxNode, type OnnxTensor } from '../models/onnx-proto.js';
import { quantizePerChannel, roundHalfEven, type ActivationParams } from './arith.js';

/**
 * The QDQ rewrite of a float ONNX graph (the form ONNX Runtime fuses into its int8 kernels: DequantizeLinear ->
 * Conv -> QuantizeLinear becomes QLinearConv, likewise MatMul and Gemm). Every Conv, MatMul and Gemm gets int8
 * weights (per output channel, symmetric), an int32 bias at scale x_scale * w_scale, and uint8 activations on its
 * inputs and output, with scales from calibration; a tensor that is a graph output stays float.
 */

/** Weighted ops ONNX Runtime's CPU provider has no QDQ int8 kernel for: left in float, with one warning each. */
const FLOAT_ONLY = new Set(['ConvTranspose', 'Einsum', 'LSTM', 'GRU', 'RNN', 'Attention', 'MultiHeadAttention']);

/** One node to run in int8: which inputs are activations, which is the weight (and along which axis), which the bias. */
export interface Target {
  node: OnnxNode;
  /** A name for reports: the node's name, else its op and output. */
  layer: string;
  activations: string[];
  weight: { name: string; axis: number | null } | null;
  bias: string | null;
}

export interface QuantPlan {
  targets: Target[];
  /** Float tensors whose ranges calibration measures, in graph order. */
  activations: string[];
  /** One line per op type left in float. */
  warnings: string[];
}

const attr = (n: OnnxNode, name: string) => n.attribute?.find((a) => a.name === name);

/** The ops of `model` to quantize, the tensors to calibrate, and the ops left in float. */
export function planQuantization(model: OnnxModel, source: string): QuantPlan {
  const opset = model.opsetImport.find((o) => !o.domain || o.domain === 'ai.onnx')?.version ?? 0;
  if (opset < 13) fail('UNSUPPORTED', `${source} uses ONNX opset ${opset}; per-channel QuantizeLinear needs opset 13 or later: re-export the model with opset_version=13 or more`);
  const g = model.graph;
  const inits = new Map(g.initializer.map((t) => [t.name, t]));
  const isFloatInit = (name: string | undefined) => name !== undefined && inits.get(name)?.dataType === DataType.FLOAT;
  const graphOutputs = new Set(g.output.map((o) => o.name));
  const targets: Target[] = [];
  const leftFloat = new Map<string, string[]>();
  const keepFloat = (n: OnnxNode, why: string) => leftFloat.set(`${n.opType} (${why})`, [...(leftFloat.get(`${n.opType} (${why})`) ?? []), n.name || n.output[0]!]);
  for (const n of g.node) {
    if (n.domain && n.domain !== 'ai.onnx') continue;
    const layer = n.name || `${n.opType} -> ${n.output[0]}`;
    if (n.opType === 'Conv') {
      if (!isFloatInit(n.input[1])) keepFloat(n, 'its weight is computed in the graph, not a float32 initializer');
      else targets.push({ node: n, layer, activations: [n.input[0]!], weight: { name: n.input[1]!, axis: 0 }, bias: isFloatInit(n.input[2]) ? n.input[2]! : null });
    } else if (n.opType === 'Gemm') {
      const transB = Number(attr(n, 'transB')?.i ?? 0), bias = n.input[2];
      if (Number(attr(n, 'transA')?.i ?? 0) !== 0 || !isFloatInit(n.input[1])) keepFloat(n, 'int8 Gemm needs an untransposed A and a float32 initializer B');
      else targets.push({ node: n, layer, activations: [n.input[0]!], weight: { name: n.input[1]!, axis: transB ? 0 : 1 }, bias: isFloatInit(bias) && inits.get(bias!)!.dims.length === 1 ? bias! : null });
    } else if (n.opType === 'MatMul') {
      const [a, b] = n.input as [string, string];
      // A constant second operand gets one scale; a constant first operand stays float.
      targets.push({ node: n, layer, activations: [a, b].filter((x) => !inits.has(x)), weight: isFloatInit(b) ? { name: b, axis: null } : null, bias: null });
    } else if (FLOAT_ONLY.has(n.opType) && n.input.some(isFloatInit)) keepFloat(n, 'ONNX Runtime has no int8 kernel for it');
  }
  const warnings = [...leftFloat].map(([what, nodes]) => `${what} left in float: ${nodes.length} node${nodes.length > 1 ? 's' : ''} (${nodes.slice(0, 3).join(', ')}${nodes.length > 3 ? ', ...' : ''}); the other layers are int8`);
  const wanted = new Set(targets.flatMap((t) => [...t.activations, ...t.node.output.slice(0, 1).filter((o) => !graphOutputs.has(o))]));
  const order = [...g.input.map((i) => i.name), ...g.node.flatMap((n) => n.output)];
  return { targets, activations: order.filter((name) => wanted.has(name)), warnings };
}

/** A copy of `model` that also returns the float tensors `names` (a calibration copy). */
export function withOutputs(model: OnnxModel, names: readonly string[]): OnnxModel {
  const present = new Set(model.graph.output.map((o) => o.name));
  const extra = names.filter((n) => !present.has(n)).map((name) => ({ name, type: { tensorType: { elemType: DataType.FLOAT } } }));
  return { ...model, graph: { ...model.graph, output: [...model.graph.output, ...extra] } };
}

/** The name a quantized tensor's dequantized copy takes in the QDQ graph (what its consumers read). */
export const dequantized = (name: string) => `${name}.dq`;

/** The tensor of target `t`'s output as the next layer reads it: its dequantized copy, or itself where it stays float. */
export function layerOutput(plan: QuantPlan, t: Target): string {
  const out = t.node.output[0]!;
  return plan.activations.includes(out) ? dequantized(out) : out;
}

const node = (opType: string, input: string[], output: string, attribute: OnnxNode['attribute'] = []): OnnxNode => ({ opType, input, output: [output], name: `${output}.node`, attribute });

/**
 * The QDQ model: `params` holds the uint8 parameters of every tensor in plan.activations. Float weights and biases
 * that only the quantized ops read are replaced by their int8 / int32 forms; the network's outputs stay float.
 */
export function buildQdq(model: OnnxModel, plan: QuantPlan, params: ReadonlyMap<string, ActivationParams>): OnnxModel {
  const g = model.graph;
  const inits = new Map(g.initializer.map((t) => [t.name, t]));
  const added: OnnxTensor[] = [];
  const head: OnnxNode[] = [];
  const remap = new Map<OnnxNode, Map<number, string>>();
  const rewire = (n: OnnxNode, index: number, name: string) => remap.set(n, (remap.get(n) ?? new Map<number, string>()).set(index, name));
  const paramsOf = (name: string) => params.get(name) ?? fail('BAD_INPUT', `no calibration range for tensor ${name}`);

  for (const t of plan.targets) {
    if (!t.weight) continue;
    const w = inits.get(t.weight.name)!, dims = w.dims.map(Number);
    const perTensor = t.weight.axis === null;
    const q = quantizePerChannel(floatValues(w), perTensor ? [1, ...dims] : dims, perTensor ? 0 : t.weight.axis!);
    const base = `${t.weight.name}.${t.layer}`;
    added.push(tensorOf(`${base}.q8`, dims, q.values), tensorOf(`${base}.scale`, perTensor ? [] : [q.scales.length], q.scales), tensorOf(`${base}.zp`, perTensor ? [] : [q.scales.length], new Int8Array(q.scales.length)));
    head.push(node('DequantizeLinear', [`${base}.q8`, `${base}.scale`, `${base}.zp`], `${base}.dq`, perTensor ? [] : [intAttribute('axis', t.weight.axis!)]));
    rewire(t.node, t.node.input.indexOf(t.weight.name), `${base}.dq`);
    if (t.bias) {
      // The int32 bias has scale x_scale * w_scale[c] and zero point 0, so the int8 product adds it exactly.
      const sx = paramsOf(t.activations[0]!).scale;
      const scales = q.scales.map((s) => sx * s);
      const b = floatValues(inits.get(t.bias)!);
      const ints = Int32Array.from(b, (v, c) => roundHalfEven(v / scales[c]!));
      const bb = `${t.bias}.${t.layer}`;
      added.push(tensorOf(`${bb}.i32`, [b.length], ints), tensorOf(`${bb}.scale`, [b.length], scales), tensorOf(`${bb}.zp`, [b.length], new Int32Array(b.length)));
      head.push(node('DequantizeLinear', [`${bb}.i32`, `${bb}.scale`, `${bb}.zp`], `${bb}.dq`, [intAttribute('axis', 0)]));
      rewire(t.node, 2, `${bb}.dq`);
    }
  }

  const quantized = new Set(plan.activations);
  const qdq = (name: string): OnnxNode[] => {
    const p = paramsOf(name);
    added.push(tensorOf(`${name}.scale`, [], Float32Array.of(p.scale)), tensorOf(`${name}.zp`, [], Uint8Array.of(p.zeroPoint)));
    return [node('QuantizeLinear', [name, `${name}.scale`, `${name}.zp`], `${name}.q8`), node('DequantizeLinear', [`${name}.q8`, `${name}.scale`, `${name}.zp`], dequantized(name))];
  };
  const nodes = [...head, ...g.input.filter((i) => quantized.has(i.name)).flatMap((i) => qdq(i.name))];
  for (const n of g.node) {
    const own = remap.get(n);
    nodes.push({ ...n, input: n.input.map((x, i) => own?.get(i) ?? (quantized.has(x) ? dequantized(x) : x)) });
    for (const o of n.output) if (quantized.has(o)) nodes.push(...qdq(o));
  }
  const used = new Set(nodes.flatMap((n) => n.input));
  const kept = g.initializer.filter((t) => used.has(t.name));
  return {
    ...model,
    graph: { ...g, node: nodes, initializer: [...kept, ...added], input: g.input.filter((i) => !inits.has(i.name) || used.has(i.name)) },
  };
}
