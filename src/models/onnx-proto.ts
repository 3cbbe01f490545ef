import protobuf from 'protobufjs';
import { fail } from '../core/errors.js';

/**
 * The part of onnx.proto (ONNX IR, github.com/onnx/onnx/blob/main/onnx/onnx.proto) that tweedie reads and
 * rewrites: models, graphs, nodes, attributes, tensors and value infos, with the spec's field numbers. Fields
 * left out here (training info, functions, sparse tensors, map/sequence types) are dropped on a rewrite;
 * decodeModel refuses a model that uses functions or sparse initializers, so nothing of a model is lost silently.
 */
const ONNX_SUBSET = `
syntax = "proto2";
package onnx;
message AttributeProto {
  optional string name = 1; optional string ref_attr_name = 21; optional string doc_string = 13; optional int32 type = 20;
  optional float f = 2; optional int64 i = 3; optional bytes s = 4; optional TensorProto t = 5; optional GraphProto g = 6;
  repeated float floats = 7; repeated int64 ints = 8; repeated bytes strings = 9; repeated TensorProto tensors = 10; repeated GraphProto graphs = 11;
  optional TypeProto tp = 14; repeated TypeProto type_protos = 15;
}
message ValueInfoProto { optional string name = 1; optional TypeProto type = 2; optional string doc_string = 3; }
message NodeProto {
  repeated string input = 1; repeated string output = 2; optional string name = 3; optional string op_type = 4;
  optional string domain = 7; repeated AttributeProto attribute = 5; optional string doc_string = 6;
}
message StringStringEntryProto { optional string key = 1; optional string value = 2; }
message OperatorSetIdProto { optional string domain = 1; optional int64 version = 2; }
message ModelProto {
  optional int64 ir_version = 1; repeated OperatorSetIdProto opset_import = 8; optional string producer_name = 2;
  optional string producer_version = 3; optional string domain = 4; optional int64 model_version = 5; optional string doc_string = 6;
  optional GraphProto graph = 7; repeated StringStringEntryProto metadata_props = 14;
  repeated bytes training_info = 20; repeated bytes functions = 25;
}
message TensorShapeProto {
  message Dimension { optional int64 dim_value = 1; optional string dim_param = 2; optional string denotation = 3; }
  repeated Dimension dim = 1;
}
message TypeProto {
  message Tensor { optional int32 elem_type = 1; optional TensorShapeProto shape = 2; }
  optional Tensor tensor_type = 1; optional string denotation = 6;
}
message TensorProto {
  repeated int64 dims = 1; optional int32 data_type = 2; repeated float float_data = 4 [packed = true];
  repeated int32 int32_data = 5 [packed = true]; repeated bytes string_data = 6; repeated int64 int64_data = 7 [packed = true];
  optional string name = 8; optional string doc_string = 12; optional bytes raw_data = 9;
  repeated StringStringEntryProto external_data = 13; optional int32 data_location = 14;
  repeated double double_data = 10 [packed = true]; repeated uint64 uint64_data = 11 [packed = true];
}
message GraphProto {
  repeated NodeProto node = 1; optional string name = 2; repeated TensorProto initializer = 5; repeated bytes sparse_initializer = 15;
  optional string doc_string = 10; repeated ValueInfoProto input = 11; repeated ValueInfoProto output = 12;
  repeated ValueInfoProto value_info = 13; repeated bytes quantization_annotation = 14;
}
`;

/** TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7 } as const;
/** AttributeProto.AttributeType values used here. */
export const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, INTS: 7 } as const;

export interface OnnxAttribute { name: string; type?: number; f?: number; i?: number; s?: Uint8Array; ints?: number[]; floats?: number[]; [k: string]: unknown }
export interface OnnxNode { input: string[]; output: string[]; name?: string; opType: string; domain?: string; attribute?: OnnxAttribute[]; [k: string]: unknown }
export interface OnnxTensor { name: string; dims: number[]; dataType: number; rawData?: Uint8Array; floatData?: number[]; int32Data?: number[]; int64Data?: number[]; externalData?: unknown[]; [k: string]: unknown }
export interface OnnxValueInfo { name: string; type?: { tensorType?: { elemType?: number; shape?: unknown } }; [k: string]: unknown }
export interface OnnxGraph { node: OnnxNode[]; name?: string; initializer: OnnxTensor[]; sparseInitializer?: unknown[]; input: OnnxValueInfo[]; output: OnnxValueInfo[]; valueInfo: OnnxValueInfo[]; [k: string]: unknown }
export interface OnnxModel { irVersion: number; opsetImport: { domain?: string; version: number }[]; graph: OnnxGraph; functions?: unknown[]; [k: string]: unknown }

let modelType: protobuf.Type | null = null;
const ModelProto = () => (modelType ??= protobuf.parse(ONNX_SUBSET, { keepCase: false }).root.lookupType('onnx.ModelProto'));

/** An ONNX model from its protobuf bytes (`source` names the file in errors), int64 fields as numbers. */
export function decodeModel(bytes: Uint8Array, source: string): OnnxModel {
  let m: OnnxModel;
  try {
    m = ModelProto().toObject(ModelProto().decode(bytes), { longs: Number, arrays: true }) as OnnxModel;
  } catch (e) {
    return fail('UNREADABLE_FILE', `${source} is not an ONNX model (${(e as Error).message}); give the model.onnx of a model folder`);
  }
  if (!m.graph) fail('UNREADABLE_FILE', `${source} has no graph; give the model.onnx of a model folder`);
  if (m.functions?.length) fail('UNSUPPORTED', `${source} defines ONNX functions, which tweedie cannot rewrite; export the model with the functions inlined`);
  if (m.graph.sparseInitializer?.length) fail('UNSUPPORTED', `${source} has sparse initializers, which tweedie cannot rewrite; export them dense`);
  if (m.graph.initializer.some((t) => t.externalData?.length)) fail('UNSUPPORTED', `${source} keeps its weights in external data files; export a single-file model (save_as_external_data=False)`);
  return m;
}

/** The protobuf bytes of `model`. */
export function encodeModel(model: OnnxModel): Uint8Array {
  return ModelProto().encode(ModelProto().fromObject(model)).finish();
}

/** A float32 initializer's values (raw_data or float_data). */
export function floatValues(t: OnnxTensor): Float32Array {
  if (t.dataType !== DataType.FLOAT) fail('UNSUPPORTED', `initializer ${t.name} has ONNX data type ${t.dataType}, not float32`);
  if (t.rawData?.length) return new Float32Array(t.rawData.buffer.slice(t.rawData.byteOffset, t.rawData.byteOffset + t.rawData.byteLength));
  return Float32Array.from(t.floatData ?? []);
}

/** An initializer of `dims` holding `data` as raw little-endian bytes. */
export function tensorOf(name: string, dims: readonly number[], data: Float32Array | Int8Array | Uint8Array | Int32Array): OnnxTensor {
  const dataType = data instanceof Float32Array ? DataType.FLOAT : data instanceof Int8Array ? DataType.INT8 : data instanceof Uint8Array ? DataType.UINT8 : DataType.INT32;
  return { name, dims: [...dims], dataType, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

/** An INT attribute. */
export const intAttribute = (name: string, i: number): OnnxAttribute => ({ name, type: AttributeType.INT, i });
