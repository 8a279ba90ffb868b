/**
 * The `ref` backend: every kernel as plain, readable loops. This is the specification that every faster
 * backend is tested against, and the fallback for anything a faster backend does not implement
 * (including all float64 work, which exists for gradcheck). Accumulations run in JS doubles.
 */
import type {
  AdamArgs, BinaryOp, DataArray, FloatArray, Kernels, MatmulArgs, ReduceOp, Strided, UnaryOp,
} from '../kernels';
import { makeBackend, type Backend } from '../backend';

// ---------------------------------------------------------------------------------------------------
// Strided iteration

/**
 * Visit every index of `shape` in row-major order, calling `visit(i, offsets)` where i is the flat output
 * index and offsets[j] the element offset of operand j. Offsets are updated incrementally (an odometer).
 */
function forEachIndex(shape: readonly number[], operands: readonly Strided[], visit: (i: number, offs: number[]) => void): void {
  const nd = shape.length;
  let total = 1;
  for (const s of shape) total *= s;
  if (total === 0) return;
  const offs = operands.map((o) => o.offset);
  const idx = new Array<number>(nd).fill(0);
  for (let i = 0; i < total; i++) {
    visit(i, offs);
    // advance the odometer: bump the last dim, carry into earlier dims
    for (let d = nd - 1; d >= 0; d--) {
      idx[d]++;
      for (let j = 0; j < operands.length; j++) offs[j] += operands[j].strides[d];
      if (idx[d] < shape[d]) break;
      for (let j = 0; j < operands.length; j++) offs[j] -= operands[j].strides[d] * shape[d];
      idx[d] = 0;
    }
  }
}

function copyStrided(src: Strided, shape: readonly number[], out: DataArray): void {
  const x = src.data;
  forEachIndex(shape, [src], (i, o) => { out[i] = x[o[0]]; });
}

// ---------------------------------------------------------------------------------------------------
// Elementwise

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** GPT-2's gelu ("gelu_new"): 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
export function gelu(x: number): number {
  return 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)));
}

/** d gelu / dx = 0.5·(1 + t) + 0.5·x·(1 − t²)·√(2/π)·(1 + 3·0.044715·x²), t = tanh(…) as above. */
export function geluGrad(x: number): number {
  const t = Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x));
  return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x);
}

export function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x); // stable for very negative x
  return e / (1 + e);
}

export const unaryFns: Record<UnaryOp, (x: number) => number> = {
  neg: (x) => -x,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  tanh: Math.tanh,
  sigmoid,
  relu: (x) => (x > 0 ? x : x !== x ? x : 0), // NaN propagates
  gelu,
  abs: Math.abs,
  square: (x) => x * x,
  reciprocal: (x) => 1 / x,
  sign: (x) => (x > 0 ? 1 : x < 0 ? -1 : x), // keeps ±0 and NaN
  step: (x) => (x > 0 ? 1 : 0),
};

export const binaryFns: Record<BinaryOp, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: Math.pow,
  maximum: (a, b) => (a !== a || b !== b ? NaN : a > b ? a : b), // NaN propagates, as torch.maximum
  minimum: (a, b) => (a !== a || b !== b ? NaN : a < b ? a : b),
  eq: (a, b) => (a === b ? 1 : 0),
  ne: (a, b) => (a !== b ? 1 : 0),
  lt: (a, b) => (a < b ? 1 : 0),
  le: (a, b) => (a <= b ? 1 : 0),
  gt: (a, b) => (a > b ? 1 : 0),
  ge: (a, b) => (a >= b ? 1 : 0),
};

function unary(op: UnaryOp, x: FloatArray, out: FloatArray): void {
  const f = unaryFns[op];
  for (let i = 0; i < x.length; i++) out[i] = f(x[i]);
}

function binary(op: BinaryOp, a: Strided, b: Strided, shape: readonly number[], out: FloatArray): void {
  const f = binaryFns[op];
  const x = a.data, y = b.data;
  forEachIndex(shape, [a, b], (i, o) => { out[i] = f(x[o[0]], y[o[1]]); });
}

function where(cond: Strided, a: Strided, b: Strided, shape: readonly number[], out: FloatArray): void {
  const c = cond.data, x = a.data, y = b.data;
  forEachIndex(shape, [cond, a, b], (i, o) => { out[i] = c[o[0]] !== 0 ? x[o[1]] : y[o[2]]; });
}

// ---------------------------------------------------------------------------------------------------
// Reductions: x is [outer, dim, inner] -> out [outer, inner]

function reduce(op: ReduceOp, x: FloatArray, outer: number, dim: number, inner: number, out: FloatArray): void {
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * dim * inner + i;
      let acc = op === 'sum' ? 0 : op === 'max' ? -Infinity : Infinity;
      for (let d = 0; d < dim; d++) {
        const v = x[base + d * inner];
        if (op === 'sum') acc += v;
        else if (acc !== acc) break; // NaN already won
        else if (op === 'max' ? v > acc || v !== v : v < acc || v !== v) acc = v;
      }
      out[o * inner + i] = acc;
    }
  }
}

function argmax(x: FloatArray, outer: number, dim: number, inner: number, out: Int32Array): void {
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * dim * inner + i;
      let best = 0;
      let bestV = x[base];
      for (let d = 1; d < dim && bestV === bestV; d++) {
        const v = x[base + d * inner];
        if (v > bestV || v !== v) { best = d; bestV = v; } // NaN counts as the maximum, as in torch
      }
      out[o * inner + i] = best;
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Matmul: out[b] [M, N] = A[b] [M, K] · B[b] [K, N]

function matmul(p: MatmulArgs): void {
  const { batch, M, K, N, a, b, out } = p;
  for (let bi = 0; bi < batch; bi++) {
    const aBase = p.aOffsets[bi];
    const bBase = p.bOffsets[bi];
    const oBase = bi * M * N;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let acc = 0;
        for (let k = 0; k < K; k++) {
          acc += a[aBase + m * p.aRowStride + k * p.aColStride] * b[bBase + k * p.bRowStride + n * p.bColStride];
        }
        out[oBase + m * N + n] = acc;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Softmax family, over rows of a contiguous [rows, cols]

function softmax(x: FloatArray, rows: number, cols: number, out: FloatArray): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let max = -Infinity;
    for (let c = 0; c < cols; c++) if (x[o + c] > max || x[o + c] !== x[o + c]) max = x[o + c];
    let sum = 0;
    for (let c = 0; c < cols; c++) {
      const e = Math.exp(x[o + c] - max); // a row of all -inf gives (-inf) - (-inf) = NaN, as PyTorch
      out[o + c] = e;
      sum += e;
    }
    for (let c = 0; c < cols; c++) out[o + c] /= sum;
  }
}

function softmaxBackward(y: FloatArray, dy: FloatArray, rows: number, cols: number, dx: FloatArray): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let dot = 0; // Σ_j dy_j·y_j
    for (let c = 0; c < cols; c++) dot += dy[o + c] * y[o + c];
    for (let c = 0; c < cols; c++) dx[o + c] = y[o + c] * (dy[o + c] - dot);
  }
}

function logSoftmax(x: FloatArray, rows: number, cols: number, out: FloatArray): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    const lse = logSumExp(x, o, cols);
    for (let c = 0; c < cols; c++) out[o + c] = x[o + c] - lse;
  }
}

function logSoftmaxBackward(y: FloatArray, dy: FloatArray, rows: number, cols: number, dx: FloatArray): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let sum = 0;
    for (let c = 0; c < cols; c++) sum += dy[o + c];
    for (let c = 0; c < cols; c++) dx[o + c] = dy[o + c] - Math.exp(y[o + c]) * sum;
  }
}

function logSumExp(x: FloatArray, o: number, n: number): number {
  let max = -Infinity;
  for (let c = 0; c < n; c++) if (x[o + c] > max || x[o + c] !== x[o + c]) max = x[o + c];
  if (max === -Infinity) return -Infinity;
  let sum = 0;
  for (let c = 0; c < n; c++) sum += Math.exp(x[o + c] - max);
  return max + Math.log(sum);
}

// ---------------------------------------------------------------------------------------------------
// LayerNorm over the last axis: x [rows, C]

function layerNorm(
  x: FloatArray, gamma: FloatArray, beta: FloatArray, rows: number, C: number, eps: number,
  out: FloatArray, mean: FloatArray, rstd: FloatArray,
): void {
  for (let r = 0; r < rows; r++) {
    const o = r * C;
    let m = 0;
    for (let c = 0; c < C; c++) m += x[o + c];
    m /= C;
    let v = 0;
    for (let c = 0; c < C; c++) v += (x[o + c] - m) * (x[o + c] - m);
    v /= C; // biased variance, as torch.nn.LayerNorm
    const s = 1 / Math.sqrt(v + eps);
    for (let c = 0; c < C; c++) out[o + c] = (x[o + c] - m) * s * gamma[c] + beta[c];
    mean[r] = m;
    rstd[r] = s;
  }
}

function layerNormBackward(
  x: FloatArray, gamma: FloatArray, mean: FloatArray, rstd: FloatArray, dy: FloatArray, rows: number, C: number,
  dx: FloatArray | null, dgamma: FloatArray | null, dbeta: FloatArray | null,
): void {
  // forward: xhat = (x − mean)·rstd ; y = xhat·gamma + beta
  if (dgamma) dgamma.fill(0);
  if (dbeta) dbeta.fill(0);
  for (let r = 0; r < rows; r++) {
    const o = r * C;
    const m = mean[r], s = rstd[r];
    // dxhat = dy·gamma ; dx = rstd·(dxhat − mean(dxhat) − xhat·mean(dxhat·xhat))
    let sumD = 0, sumDX = 0;
    for (let c = 0; c < C; c++) {
      const xhat = (x[o + c] - m) * s;
      const d = dy[o + c] * gamma[c];
      sumD += d;
      sumDX += d * xhat;
      if (dgamma) dgamma[c] += dy[o + c] * xhat;
      if (dbeta) dbeta[c] += dy[o + c];
    }
    if (dx) {
      for (let c = 0; c < C; c++) {
        const xhat = (x[o + c] - m) * s;
        dx[o + c] = s * (dy[o + c] * gamma[c] - sumD / C - (xhat * sumDX) / C);
      }
    }
  }
}

function geluBackward(x: FloatArray, dy: FloatArray, dx: FloatArray): void {
  for (let i = 0; i < x.length; i++) dx[i] = dy[i] * geluGrad(x[i]);
}

// ---------------------------------------------------------------------------------------------------
// Attention per (batch·head): q, k, v [BH, T, D]; probs [BH, T, T]

function attention(
  q: FloatArray, k: FloatArray, v: FloatArray, BH: number, T: number, D: number, scale: number, causal: boolean,
  out: FloatArray, probs: FloatArray,
): void {
  for (let h = 0; h < BH; h++) {
    const hd = h * T * D, hp = h * T * T;
    for (let t = 0; t < T; t++) {
      // scores[s] = scale·q[t]·k[s], with future positions (s > t) masked out when causal
      const row = hp + t * T;
      let max = -Infinity;
      for (let s = 0; s < T; s++) {
        if (causal && s > t) { probs[row + s] = -Infinity; continue; }
        let dot = 0;
        for (let d = 0; d < D; d++) dot += q[hd + t * D + d] * k[hd + s * D + d];
        probs[row + s] = dot * scale;
        if (probs[row + s] > max) max = probs[row + s];
      }
      let sum = 0;
      for (let s = 0; s < T; s++) {
        const e = Math.exp(probs[row + s] - max);
        probs[row + s] = e;
        sum += e;
      }
      for (let s = 0; s < T; s++) probs[row + s] /= sum;
      // out[t] = Σ_s probs[t, s]·v[s]
      for (let d = 0; d < D; d++) {
        let acc = 0;
        for (let s = 0; s < T; s++) acc += probs[row + s] * v[hd + s * D + d];
        out[hd + t * D + d] = acc;
      }
    }
  }
}

function attentionBackward(
  q: FloatArray, k: FloatArray, v: FloatArray, probs: FloatArray, dout: FloatArray,
  BH: number, T: number, D: number, scale: number,
  dq: FloatArray | null, dk: FloatArray | null, dv: FloatArray | null,
): void {
  if (dq) dq.fill(0);
  if (dk) dk.fill(0);
  if (dv) dv.fill(0);
  const dscores = new Float64Array(T);
  for (let h = 0; h < BH; h++) {
    const hd = h * T * D, hp = h * T * T;
    for (let t = 0; t < T; t++) {
      const row = hp + t * T;
      // forward: out[t] = Σ_s p[t,s]·v[s]  =>  dv[s] += p[t,s]·dout[t] ; dp[t,s] = dout[t]·v[s]
      let dot = 0;
      for (let s = 0; s < T; s++) {
        const p = probs[row + s];
        let dp = 0;
        for (let d = 0; d < D; d++) {
          dp += dout[hd + t * D + d] * v[hd + s * D + d];
          if (dv) dv[hd + s * D + d] += p * dout[hd + t * D + d];
        }
        dscores[s] = dp;
        dot += dp * p;
      }
      // softmax backward: dscore[t,s] = p[t,s]·(dp[t,s] − Σ_s' dp·p), then scores = scale·q[t]·k[s]
      for (let s = 0; s < T; s++) {
        const ds = probs[row + s] * (dscores[s] - dot) * scale;
        if (ds === 0) continue;
        for (let d = 0; d < D; d++) {
          if (dq) dq[hd + t * D + d] += ds * k[hd + s * D + d];
          if (dk) dk[hd + s * D + d] += ds * q[hd + t * D + d];
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Cross-entropy: logits [N, V], targets [N]

function crossEntropy(
  logits: FloatArray, targets: Int32Array, N: number, V: number, ignoreIndex: number,
  loss: FloatArray, logsumexp: FloatArray,
): void {
  for (let n = 0; n < N; n++) {
    const lse = logSumExp(logits, n * V, V);
    logsumexp[n] = lse;
    loss[n] = targets[n] === ignoreIndex ? 0 : lse - logits[n * V + targets[n]];
  }
}

function crossEntropyBackward(
  logits: FloatArray, targets: Int32Array, logsumexp: FloatArray, dloss: FloatArray,
  N: number, V: number, ignoreIndex: number, dlogits: FloatArray,
): void {
  for (let n = 0; n < N; n++) {
    const o = n * V;
    if (targets[n] === ignoreIndex) { dlogits.fill(0, o, o + V); continue; }
    for (let v = 0; v < V; v++) dlogits[o + v] = Math.exp(logits[o + v] - logsumexp[n]) * dloss[n];
    dlogits[o + targets[n]] -= dloss[n];
  }
}

// ---------------------------------------------------------------------------------------------------
// Embedding: weight [V, C], ids [N] -> out [N, C]

function embedding(weight: FloatArray, ids: Int32Array, N: number, C: number, out: FloatArray): void {
  for (let n = 0; n < N; n++) {
    const src = ids[n] * C;
    for (let c = 0; c < C; c++) out[n * C + c] = weight[src + c];
  }
}

function embeddingBackward(dout: FloatArray, ids: Int32Array, N: number, C: number, dweight: FloatArray): void {
  for (let n = 0; n < N; n++) {
    const dst = ids[n] * C;
    for (let c = 0; c < C; c++) dweight[dst + c] += dout[n * C + c];
  }
}

// ---------------------------------------------------------------------------------------------------
// Adam / AdamW, exactly torch.optim.Adam(W) (non-amsgrad, non-fused)

function adam(p: AdamArgs): void {
  const { param, grad, m, v, lr, beta1, beta2, eps, weightDecay, decoupled, step } = p;
  const bc1 = 1 - Math.pow(beta1, step);
  const bc2 = 1 - Math.pow(beta2, step);
  const stepSize = lr / bc1;
  const bc2Sqrt = Math.sqrt(bc2);
  for (let i = 0; i < param.length; i++) {
    let g = grad[i];
    if (weightDecay !== 0) {
      if (decoupled) param[i] *= 1 - lr * weightDecay; // AdamW
      else g += weightDecay * param[i]; // Adam's L2 penalty
    }
    m[i] = beta1 * m[i] + (1 - beta1) * g;
    v[i] = beta2 * v[i] + (1 - beta2) * g * g;
    const denom = Math.sqrt(v[i]) / bc2Sqrt + eps;
    param[i] -= (stepSize * m[i]) / denom;
  }
}

export const refKernels: Kernels = {
  copyStrided, unary, binary, where, reduce, argmax, matmul,
  softmax, softmaxBackward, logSoftmax, logSoftmaxBackward,
  layerNorm, layerNormBackward, geluBackward,
  attention, attentionBackward, crossEntropy, crossEntropyBackward,
  embedding, embeddingBackward, adam,
};

export function createRefBackend(): Backend {
  return makeBackend('ref', refKernels, refKernels, () => ({ kind: 'plain TypeScript loops' }));
}
