/**
 * attention: causal scaled dot-product attention at GPT-2 width (H = 12 heads of D = 64) with B·T = 512,
 * for T = 64, 128, 256; forward (q·kᵀ, mask, softmax, ·v; flops 4·BH·T²·D) and, where a backend has it,
 * backward (dq, dk, dv; flops 8·BH·T²·D). Validation: every element against float64.
 */
import { errorRatio, randomArray, range, runCase, type Suite } from '../harness';

function reference(q: Float32Array, k: Float32Array, v: Float32Array, dout: Float32Array, BH: number, T: number, D: number) {
  const scale = 1 / Math.sqrt(D);
  const out = new Float64Array(BH * T * D), grads = new Float64Array(3 * BH * T * D);
  const n = BH * T * D;
  const p = new Float64Array(T), dp = new Float64Array(T);
  for (let h = 0; h < BH; h++) {
    const o = h * T * D;
    for (let t = 0; t < T; t++) {
      let max = -Infinity, sum = 0;
      for (let s = 0; s <= t; s++) {
        let dot = 0;
        for (let d = 0; d < D; d++) dot += q[o + t * D + d] * k[o + s * D + d];
        p[s] = dot * scale;
        max = Math.max(max, p[s]);
      }
      for (let s = 0; s <= t; s++) sum += p[s] = Math.exp(p[s] - max);
      for (let s = 0; s <= t; s++) p[s] /= sum;
      for (let d = 0; d < D; d++) {
        let acc = 0;
        for (let s = 0; s <= t; s++) acc += p[s] * v[o + s * D + d];
        out[o + t * D + d] = acc;
      }
      // backward of this row
      let dot = 0;
      for (let s = 0; s <= t; s++) {
        let x = 0;
        for (let d = 0; d < D; d++) {
          x += dout[o + t * D + d] * v[o + s * D + d];
          grads[2 * n + o + s * D + d] += p[s] * dout[o + t * D + d];
        }
        dp[s] = x;
        dot += x * p[s];
      }
      for (let s = 0; s <= t; s++) {
        const ds = p[s] * (dp[s] - dot) * scale;
        for (let d = 0; d < D; d++) {
          grads[o + t * D + d] += ds * k[o + s * D + d];
          grads[n + o + s * D + d] += ds * q[o + t * D + d];
        }
      }
    }
  }
  return { out, grads };
}

export const attentionSuite: Suite = async (ctx) => {
  const H = 12, D = 64;
  const Ts = ctx.options.quick ? [64, 256] : [64, 128, 256];
  for (const T of Ts) {
    const B = 512 / T, BH = B * H, n = BH * T * D;
    const q = randomArray(n, 31), k = randomArray(n, 32), v = randomArray(n, 33), dout = randomArray(n, 34);
    const want = reference(q, k, v, dout, BH, T, D);
    const shape = `${B}x${H}x${T}x${D}`;
    await runCase(ctx, {
      suite: 'attention', shape, flops: 4 * BH * T * T * D,
      prepare: (b) => b.attention?.(q, k, v, BH, T, D),
      validate: (out) => errorRatio(out, (i) => want.out[i], range(n), 1e-3, 1e-5),
    });
    await runCase(ctx, {
      suite: 'attention', shape: `${shape}:bwd`, flops: 8 * BH * T * T * D,
      prepare: (b) => b.attentionBackward?.(q, k, v, dout, BH, T, D),
      validate: (out) => errorRatio(out, (i) => want.grads[i], range(3 * n), 1e-3, 1e-5),
    });
  }
};
