/**
 * Just enough of the ONNX protobuf format to write small inference graphs by hand (MatMul, Softmax,
 * LayerNormalization, …) for onnxruntime-node, so the bench needs no Python or model files.
 *
 * Protobuf wire format: each field is a key (field number << 3 | wire type) followed by a varint
 * (type 0), a length-delimited payload (type 2: strings, bytes, sub-messages, packed repeats) or a
 * fixed 32-bit value (type 5: float). Field numbers are those of onnx.proto.
 */

type Bytes = number[];

function varint(n: number): Bytes {
  const out: Bytes = [];
  let v = BigInt(n);
  if (v < 0n) v += 1n << 64n; // negative int64 as two's complement
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) byte |= 0x80;
    out.push(byte);
  } while (v !== 0n);
  return out;
}

const key = (field: number, wire: number): Bytes => varint((field << 3) | wire);
const int = (field: number, v: number): Bytes => [...key(field, 0), ...varint(v)];
const bytes = (field: number, payload: Bytes | Uint8Array): Bytes => [...key(field, 2), ...varint(payload.length), ...payload];
const str = (field: number, s: string): Bytes => bytes(field, [...Buffer.from(s, 'utf8')]);
const float = (field: number, v: number): Bytes => [...key(field, 5), ...new Uint8Array(new Float32Array([v]).buffer)];

const FLOAT = 1; // TensorProto.DataType.FLOAT

export type Attr = { name: string; int?: number; float?: number; ints?: number[] };

export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs?: Attr[];
}

function attribute(a: Attr): Bytes {
  // AttributeProto: name 1, f 2, i 3, ints 8, type 20 (FLOAT 1, INT 2, INTS 7)
  if (a.float !== undefined) return [...str(1, a.name), ...float(2, a.float), ...int(20, 1)];
  if (a.int !== undefined) return [...str(1, a.name), ...int(3, a.int), ...int(20, 2)];
  return [...str(1, a.name), ...(a.ints ?? []).flatMap((v) => int(8, v)), ...int(20, 7)];
}

function node(n: OnnxNode, i: number): Bytes {
  // NodeProto: input 1, output 2, name 3, op_type 4, attribute 5
  return [
    ...n.inputs.flatMap((s) => str(1, s)), ...n.outputs.flatMap((s) => str(2, s)), ...str(3, `n${i}`), ...str(4, n.op),
    ...(n.attrs ?? []).flatMap((a) => bytes(5, attribute(a))),
  ];
}

function valueInfo(name: string, shape: number[]): Bytes {
  // ValueInfoProto{name 1, type 2: TypeProto{tensor_type 1: {elem_type 1, shape 2: {dim 1: {dim_value 1}}}}}
  const dims = shape.flatMap((d) => bytes(1, int(1, d)));
  return [...str(1, name), ...bytes(2, bytes(1, [...int(1, FLOAT), ...bytes(2, dims)]))];
}

function initializer(name: string, shape: number[], data: Float32Array): Bytes {
  // TensorProto: dims 1, data_type 2, name 8, raw_data 9
  return [...shape.flatMap((d) => int(1, d)), ...int(2, FLOAT), ...str(8, name), ...bytes(9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength))];
}

export interface OnnxGraph {
  nodes: OnnxNode[];
  inputs: { name: string; shape: number[] }[];
  outputs: { name: string; shape: number[] }[];
  initializers?: { name: string; shape: number[]; data: Float32Array }[];
  opset?: number;
}

/** Serialized ModelProto for a single-graph float32 model. */
export function onnxModel(g: OnnxGraph): Uint8Array {
  const graph = [
    ...g.nodes.flatMap((n, i) => bytes(1, node(n, i))),
    ...str(2, 'bench'),
    ...(g.initializers ?? []).flatMap((t) => bytes(5, initializer(t.name, t.shape, t.data))),
    ...g.inputs.flatMap((v) => bytes(11, valueInfo(v.name, v.shape))),
    ...g.outputs.flatMap((v) => bytes(12, valueInfo(v.name, v.shape))),
  ];
  // ModelProto: ir_version 1, producer_name 2, graph 7, opset_import 8: {domain 1, version 2}
  const model = [...int(1, 8), ...str(2, 'fpt-ts bench'), ...bytes(7, graph), ...bytes(8, [...str(1, ''), ...int(2, g.opset ?? 17)])];
  return Uint8Array.from(model);
}
