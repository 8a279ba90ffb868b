/**
 * TensorFlow.js with its WebAssembly backend (XNNPACK kernels, SIMD; in Node it runs on one thread).
 * Inputs are uploaded once; a timed run is the op plus dataSync() (the result read back into JS, as
 * fpt's kernels deliver theirs). LayerNorm and attention are compositions of tfjs ops (tfjs has no
 * fused kernel for them).
 */
import * as path from 'path';
import type * as TF from '@tensorflow/tfjs-core';
import type { BenchBackend, Prepared } from './types';

let tf: typeof TF | null = null;

function prepared(build: () => TF.Tensor): Prepared {
  let last: Float32Array = new Float32Array(0);
  return {
    run() {
      const y = build();
      last = y.dataSync() as Float32Array;
      y.dispose();
    },
    output: () => last,
  };
}

export const tfjsWasmBench: BenchBackend = {
  name: 'tfjs-wasm',
  async init() {
    try {
      tf = await import('@tensorflow/tfjs-core');
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      const file = require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm');
      wasm.setWasmPaths(path.dirname(file) + path.sep);
      if (!(await tf.setBackend('wasm'))) return 'tfjs wasm backend failed to initialize';
      await tf.ready();
      return true;
    } catch (e) {
      return `tfjs-backend-wasm unavailable: ${(e as Error).message}`;
    }
  },
  describe() {
    const env = tf!.env();
    return `tfjs-core ${tf!.version_core} wasm simd=${env.getBool('WASM_HAS_SIMD_SUPPORT')} threads=${env.getBool('WASM_HAS_MULTITHREAD_SUPPORT') ? 'yes' : '1'}`;
  },
  matmul(a, b, M, K, N) {
    const A = tf!.tensor2d(a, [M, K]), B = tf!.tensor2d(b, [K, N]);
    return { ...prepared(() => tf!.matMul(A, B)), dispose: () => { A.dispose(); B.dispose(); } };
  },
  softmax(x, rows, cols) {
    const X = tf!.tensor2d(x, [rows, cols]);
    return { ...prepared(() => tf!.softmax(X)), dispose: () => X.dispose() };
  },
  layerNorm(x, gamma, beta, rows, C, eps) {
    const t = tf!;
    const X = t.tensor2d(x, [rows, C]), G = t.tensor1d(gamma), B = t.tensor1d(beta);
    return {
      ...prepared(() => t.tidy(() => {
        const { mean, variance } = t.moments(X, -1, true);
        return t.add(t.mul(t.mul(t.sub(X, mean), t.rsqrt(t.add(variance, eps))), G), B);
      })),
      dispose: () => { X.dispose(); G.dispose(); B.dispose(); },
    };
  },
  attention(q, k, v, BH, T, D) {
    const t = tf!;
    const Q = t.tensor3d(q, [BH, T, D]), K = t.tensor3d(k, [BH, T, D]), V = t.tensor3d(v, [BH, T, D]);
    const maskData = new Float32Array(T * T);
    for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) maskData[i * T + j] = -1e9;
    const mask = t.tensor2d(maskData, [T, T]);
    const scale = 1 / Math.sqrt(D);
    return {
      ...prepared(() => t.tidy(() => t.matMul(t.softmax(t.add(t.mul(t.matMul(Q, K, false, true), scale), mask)), V))),
      dispose: () => { Q.dispose(); K.dispose(); V.dispose(); mask.dispose(); },
    };
  },
};
