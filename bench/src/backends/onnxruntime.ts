/**
 * onnxruntime-node (native, MLAS kernels) running one-op graphs written by onnx.ts. Its default intra-op
 * thread pool uses every core. A timed run is session.run() on tensors created once.
 */
import type * as ORT from 'onnxruntime-node';
import { onnxModel, type OnnxGraph } from '../onnx';
import type { BenchBackend, Prepared } from './types';

let ort: typeof ORT | null = null;

function session(graph: OnnxGraph, feeds: Record<string, { data: Float32Array; dims: number[] }>, output: string): Prepared {
  const o = ort!;
  let sess: ORT.InferenceSession | null = null;
  let last: Float32Array = new Float32Array(0);
  const tensors: Record<string, ORT.Tensor> = {};
  for (const [name, f] of Object.entries(feeds)) tensors[name] = new o.Tensor('float32', f.data, f.dims);
  return {
    async run() {
      if (sess === null) sess = await o.InferenceSession.create(onnxModel(graph), { executionProviders: ['cpu'], graphOptimizationLevel: 'all' });
      const result = await sess.run(tensors);
      last = result[output].data as Float32Array;
    },
    output: () => last,
    dispose: () => { void sess?.release(); },
  };
}

export const onnxruntimeBench: BenchBackend = {
  name: 'onnxruntime',
  async init() {
    try {
      ort = await import('onnxruntime-node');
      return true;
    } catch (e) {
      return `onnxruntime-node unavailable: ${(e as Error).message}`;
    }
  },
  describe() {
    return `onnxruntime-node ${ort!.env.versions?.node ?? ''} cpu EP, default intra-op threads`;
  },
  matmul(a, b, M, K, N) {
    return session({
      nodes: [{ op: 'MatMul', inputs: ['A', 'B'], outputs: ['Y'] }],
      inputs: [{ name: 'A', shape: [M, K] }, { name: 'B', shape: [K, N] }],
      outputs: [{ name: 'Y', shape: [M, N] }],
    }, { A: { data: a, dims: [M, K] }, B: { data: b, dims: [K, N] } }, 'Y');
  },
  softmax(x, rows, cols) {
    return session({
      nodes: [{ op: 'Softmax', inputs: ['X'], outputs: ['Y'], attrs: [{ name: 'axis', int: -1 }] }],
      inputs: [{ name: 'X', shape: [rows, cols] }],
      outputs: [{ name: 'Y', shape: [rows, cols] }],
    }, { X: { data: x, dims: [rows, cols] } }, 'Y');
  },
  layerNorm(x, gamma, beta, rows, C, eps) {
    return session({
      nodes: [{ op: 'LayerNormalization', inputs: ['X', 'G', 'B'], outputs: ['Y'], attrs: [{ name: 'axis', int: -1 }, { name: 'epsilon', float: eps }] }],
      inputs: [{ name: 'X', shape: [rows, C] }],
      outputs: [{ name: 'Y', shape: [rows, C] }],
      initializers: [{ name: 'G', shape: [C], data: gamma }, { name: 'B', shape: [C], data: beta }],
    }, { X: { data: x, dims: [rows, C] } }, 'Y');
  },
  attention(q, k, v, BH, T, D) {
    const mask = new Float32Array(T * T);
    for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) mask[i * T + j] = -1e9;
    const shape = [BH, T, D];
    return session({
      nodes: [
        { op: 'Transpose', inputs: ['K'], outputs: ['Kt'], attrs: [{ name: 'perm', ints: [0, 2, 1] }] },
        { op: 'MatMul', inputs: ['Q', 'Kt'], outputs: ['S'] },
        { op: 'Mul', inputs: ['S', 'scale'], outputs: ['Ss'] },
        { op: 'Add', inputs: ['Ss', 'mask'], outputs: ['Sm'] },
        { op: 'Softmax', inputs: ['Sm'], outputs: ['P'], attrs: [{ name: 'axis', int: -1 }] },
        { op: 'MatMul', inputs: ['P', 'V'], outputs: ['Y'] },
      ],
      inputs: [{ name: 'Q', shape }, { name: 'K', shape }, { name: 'V', shape }],
      outputs: [{ name: 'Y', shape }],
      initializers: [{ name: 'scale', shape: [1], data: new Float32Array([1 / Math.sqrt(D)]) }, { name: 'mask', shape: [T, T], data: mask }],
    }, { Q: { data: q, dims: shape }, K: { data: k, dims: shape }, V: { data: v, dims: shape } }, 'Y');
  },
};
