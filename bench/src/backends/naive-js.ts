/** The plain-JavaScript anchor: the loops one would write first, over Float32Array, no blocking. */
import type { BenchBackend } from './types';

export const naiveJsBench: BenchBackend = {
  name: 'naive-js',
  async init() { return true; },
  describe() { return 'i-k-j loops over Float32Array'; },
  matmul(a, b, M, K, N) {
    const out = new Float32Array(M * N);
    return {
      output: () => out,
      run() {
        out.fill(0);
        for (let i = 0; i < M; i++) {
          for (let k = 0; k < K; k++) {
            const x = a[i * K + k];
            for (let j = 0; j < N; j++) out[i * N + j] += x * b[k * N + j];
          }
        }
      },
    };
  },
  softmax(x, rows, cols) {
    const out = new Float32Array(rows * cols);
    return {
      output: () => out,
      run() {
        for (let r = 0; r < rows; r++) {
          const o = r * cols;
          let max = -Infinity;
          for (let c = 0; c < cols; c++) max = Math.max(max, x[o + c]);
          let sum = 0;
          for (let c = 0; c < cols; c++) sum += out[o + c] = Math.exp(x[o + c] - max);
          for (let c = 0; c < cols; c++) out[o + c] /= sum;
        }
      },
    };
  },
  layerNorm(x, gamma, beta, rows, C, eps) {
    const out = new Float32Array(rows * C);
    return {
      output: () => out,
      run() {
        for (let r = 0; r < rows; r++) {
          const o = r * C;
          let m = 0;
          for (let c = 0; c < C; c++) m += x[o + c];
          m /= C;
          let v = 0;
          for (let c = 0; c < C; c++) v += (x[o + c] - m) ** 2;
          const s = 1 / Math.sqrt(v / C + eps);
          for (let c = 0; c < C; c++) out[o + c] = (x[o + c] - m) * s * gamma[c] + beta[c];
        }
      },
    };
  },
};
