/**
 * softmax and layernorm over rows of [R, C]: GPT-2 widths at B·T = 512 rows (C = 768, 3072) and the
 * attention-probability shape [B·H·T, T] = [6144, 64]. GFLOP/s use a nominal count per element (softmax
 * 5: max, subtract, exp, sum, divide; layerNorm 8: two sums, subtract, square, normalize, scale, shift),
 * for comparing backends on the same case only. Validation: every element against float64.
 */
import { errorRatio, randomArray, range, runCase, type Suite } from '../harness';

const SHAPES: [number, number][] = [[512, 768], [512, 3072], [6144, 64]];

export const softmaxSuite: Suite = async (ctx) => {
  for (const [R, C] of SHAPES) {
    const x = randomArray(R * C, 11).map((v) => 4 * v);
    const want = new Float64Array(R * C);
    for (let r = 0; r < R; r++) {
      let max = -Infinity, sum = 0;
      for (let c = 0; c < C; c++) max = Math.max(max, x[r * C + c]);
      for (let c = 0; c < C; c++) sum += want[r * C + c] = Math.exp(x[r * C + c] - max);
      for (let c = 0; c < C; c++) want[r * C + c] /= sum;
    }
    await runCase(ctx, {
      suite: 'softmax', shape: `${R}x${C}`, flops: 5 * R * C,
      prepare: (b) => b.softmax?.(x, R, C),
      validate: (out) => errorRatio(out, (i) => want[i], range(R * C), 1e-4, 1e-7),
    });
  }
};

export const layernormSuite: Suite = async (ctx) => {
  for (const [R, C] of SHAPES) {
    const x = randomArray(R * C, 21), gamma = randomArray(C, 22), beta = randomArray(C, 23);
    const eps = 1e-5;
    const want = new Float64Array(R * C);
    for (let r = 0; r < R; r++) {
      let m = 0, v = 0;
      for (let c = 0; c < C; c++) m += x[r * C + c];
      m /= C;
      for (let c = 0; c < C; c++) v += (x[r * C + c] - m) ** 2;
      const s = 1 / Math.sqrt(v / C + eps);
      for (let c = 0; c < C; c++) want[r * C + c] = (x[r * C + c] - m) * s * gamma[c] + beta[c];
    }
    await runCase(ctx, {
      suite: 'layernorm', shape: `${R}x${C}`, flops: 8 * R * C,
      prepare: (b) => b.layerNorm?.(x, gamma, beta, R, C, eps),
      validate: (out) => errorRatio(out, (i) => want[i], range(R * C), 1e-3, 1e-4),
    });
  }
};
