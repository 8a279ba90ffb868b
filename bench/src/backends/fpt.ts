/**
 * fpt-ts's own backends, driven through the raw kernel interface (preallocated outputs), so the bench
 * times the kernels themselves: `ref` (the specification loops), `cpu` (WebAssembly SIMD, default thread
 * count) and `cpu:1t` (the same on one thread).
 */
import { cpuEngine, createCpuBackend, fmaPeak, getBackend, registerBackend, type Backend, type Kernels } from '@fpt-ts/tensor';
import type { BenchBackend, Prepared } from './types';

function ready(out: () => Float32Array, run: () => void): Prepared {
  return { run, output: out };
}

export function fptBackend(label: string, backendName: string, create?: () => Backend): BenchBackend {
  let b: Backend | null = null;
  const k = (): Kernels => b!.kernels;
  const bench: BenchBackend = {
    name: label,
    async init() {
      if (create) registerBackend(backendName, create);
      b = getBackend(backendName);
      const e = cpuEngine(b);
      if (e) e.pool.warm(); // start the workers now rather than inside a timed run
      return true;
    },
    describe() {
      return Object.entries(b!.info()).map(([key, v]) => `${key}=${v}`).join(' ');
    },
    matmul(a, bm, M, K, N) {
      const out = new Float32Array(M * N);
      const args = {
        batch: 1, M, K, N, a, aOffsets: new Int32Array([0]), aRowStride: K, aColStride: 1,
        b: bm, bOffsets: new Int32Array([0]), bRowStride: N, bColStride: 1, out,
      };
      return ready(() => out, () => k().matmul(args));
    },
    softmax(x, rows, cols) {
      const out = new Float32Array(rows * cols);
      return ready(() => out, () => k().softmax(x, rows, cols, out));
    },
    layerNorm(x, gamma, beta, rows, C, eps) {
      const out = new Float32Array(rows * C), mean = new Float32Array(rows), rstd = new Float32Array(rows);
      return ready(() => out, () => k().layerNorm(x, gamma, beta, rows, C, eps, out, mean, rstd));
    },
    attention(q, kk, v, BH, T, D) {
      const out = new Float32Array(BH * T * D), probs = new Float32Array(BH * T * T);
      return ready(() => out, () => k().attention(q, kk, v, BH, T, D, 1 / Math.sqrt(D), true, out, probs));
    },
    attentionBackward(q, kk, v, dout, BH, T, D) {
      const out = new Float32Array(BH * T * D), probs = new Float32Array(BH * T * T);
      const scale = 1 / Math.sqrt(D);
      k().attention(q, kk, v, BH, T, D, scale, true, out, probs);
      const n = BH * T * D;
      const grads = new Float32Array(3 * n);
      const dq = grads.subarray(0, n), dk = grads.subarray(n, 2 * n), dv = grads.subarray(2 * n);
      return ready(() => grads, () => k().attentionBackward(q, kk, v, probs, dout, BH, T, D, scale, dq, dk, dv));
    },
  };
  if (backendName.startsWith('cpu')) {
    // units of ~1.6 Mflop (64 calls of the 6×8 microkernel at depth 256) spread over the threads
    bench.fmaPeak = (flops: number) => {
      const e = cpuEngine(b!)!;
      const units = Math.max(2 * e.threads, Math.round(flops / 1.6e6));
      return fmaPeak(e, { units, reps: 64, kc: 256, parallel: e.threads > 1 });
    };
  }
  return bench;
}

export const refBench = fptBackend('ref', 'ref');
export const cpuBench = fptBackend('cpu', 'cpu');
export const cpu1Bench = fptBackend('cpu:1t', 'cpu-1t', () => createCpuBackend({ threads: 1 }));
