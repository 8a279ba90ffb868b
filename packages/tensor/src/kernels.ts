/**
 * The kernel interface: every compute kernel the engine needs, by name, with the raw-array signature
 * each backend implements. Ops (ops.ts) validate shapes and dtypes, lay out their operands, then call
 * `kernels().<name>(...)`. Gradients (packages/autograd) are written with ops, so a faster kernel here
 * speeds training too.
 *
 * Conventions for every kernel:
 * - Arrays are flat typed arrays. "contiguous [R, C]" means row-major with no gaps, starting at index 0.
 * - Outputs are preallocated by the caller and fully overwritten (never read), unless a kernel says so.
 * - Float kernels receive Float32Array or Float64Array (float64 exists for gradcheck); a backend that only
 *   implements float32 hands float64 work to the `ref` kernel (see backend.ts: `delegateFloat64`).
 * - Shape letters: B batch, T time/sequence, C channels, H heads, D head size, V vocabulary,
 *   M/K/N the matmul dimensions (A is [M, K], B is [K, N], out is [M, N]).
 */

export type FloatArray = Float32Array | Float64Array;
export type DataArray = Float32Array | Float64Array | Int32Array;

/** A strided view of an operand laid over the output's shape (broadcast dims have stride 0). */
export interface Strided {
  data: DataArray;
  offset: number;
  strides: readonly number[]; // one per output dimension
}

export type UnaryOp =
  | 'neg' | 'exp' | 'log' | 'sqrt' | 'tanh' | 'sigmoid' | 'relu' | 'gelu' | 'abs' | 'square' | 'reciprocal'
  | 'sign' | 'step'; // step: 1 where x > 0 else 0 (relu's derivative)

export type BinaryOp =
  | 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum'
  | 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge'; // comparisons write 1 or 0

export type ReduceOp = 'sum' | 'max' | 'min';

/** C[b] = A[b] · B[b] for every batch index b; operands addressed by offset and strides (any layout). */
export interface MatmulArgs {
  batch: number;
  M: number;
  K: number;
  N: number;
  a: FloatArray;
  aOffsets: Int32Array; // [batch]: where A[b] starts (broadcast batches repeat an offset)
  aRowStride: number; // step between rows m of A[b]
  aColStride: number; // step between columns k of A[b]   (a transposed A has aRowStride 1)
  b: FloatArray;
  bOffsets: Int32Array; // [batch]
  bRowStride: number; // step between rows k of B[b]
  bColStride: number; // step between columns n of B[b]
  out: FloatArray; // contiguous [batch, M, N]
}

export interface AdamArgs {
  param: Float32Array | Float64Array; // updated in place
  grad: Float32Array | Float64Array;
  m: Float32Array | Float64Array; // first moment, updated in place
  v: Float32Array | Float64Array; // second moment, updated in place
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  decoupled: boolean; // AdamW (decoupled decay) vs Adam (L2 added to the gradient)
  step: number; // 1-based step count after this update, for bias correction
}

export interface Kernels {
  /** out[i] = x[offset + Σ idx_d·strides[d]] over `shape` in row-major order (makes a view contiguous). */
  copyStrided(src: Strided, shape: readonly number[], out: DataArray): void;

  /** out[i] = op(x[i]) for contiguous x of length n. */
  unary(op: UnaryOp, x: FloatArray, out: FloatArray): void;

  /** out = op(a, b) over `shape` (contiguous), operands strided/broadcast. */
  binary(op: BinaryOp, a: Strided, b: Strided, shape: readonly number[], out: FloatArray): void;

  /** out = cond != 0 ? a : b over `shape`, all three strided/broadcast. */
  where(cond: Strided, a: Strided, b: Strided, shape: readonly number[], out: FloatArray): void;

  /** x contiguous [outer, dim, inner] -> out [outer, inner], reducing the middle axis. */
  reduce(op: ReduceOp, x: FloatArray, outer: number, dim: number, inner: number, out: FloatArray): void;

  /** x contiguous [outer, dim, inner] -> index of the first maximum along dim, out [outer, inner]. */
  argmax(x: FloatArray, outer: number, dim: number, inner: number, out: Int32Array): void;

  /** Batched matrix product, see MatmulArgs. */
  matmul(args: MatmulArgs): void;

  /** Row softmax: x, out contiguous [rows, cols]; numerically stable; a row of all -inf gives NaN (as PyTorch). */
  softmax(x: FloatArray, rows: number, cols: number, out: FloatArray): void;
  /** dx = y ⊙ (dy − Σ_j dy_j·y_j) per row, with y = softmax(x). */
  softmaxBackward(y: FloatArray, dy: FloatArray, rows: number, cols: number, dx: FloatArray): void;
  /** Row log-softmax: out = x − logsumexp(x). */
  logSoftmax(x: FloatArray, rows: number, cols: number, out: FloatArray): void;
  /** dx = dy − softmax(x)·Σ_j dy_j, given y = logSoftmax(x). */
  logSoftmaxBackward(y: FloatArray, dy: FloatArray, rows: number, cols: number, dx: FloatArray): void;

  /**
   * LayerNorm over the last axis: x [rows, C] -> out [rows, C]; also writes mean [rows] and
   * rstd [rows] = 1/sqrt(var + eps) (biased variance) for the backward.
   */
  layerNorm(
    x: FloatArray, gamma: FloatArray, beta: FloatArray, rows: number, C: number, eps: number,
    out: FloatArray, mean: FloatArray, rstd: FloatArray,
  ): void;
  /** Gradients of layerNorm; dgamma/dbeta are null when those parameters are frozen (not computed). */
  layerNormBackward(
    x: FloatArray, gamma: FloatArray, mean: FloatArray, rstd: FloatArray, dy: FloatArray, rows: number, C: number,
    dx: FloatArray | null, dgamma: FloatArray | null, dbeta: FloatArray | null,
  ): void;

  /** dx = dy · gelu'(x) for GPT-2's tanh-approximated gelu. */
  geluBackward(x: FloatArray, dy: FloatArray, dx: FloatArray): void;

  /**
   * Scaled dot-product attention per (batch·head): q, k, v, out contiguous [BH, T, D];
   * probs [BH, T, T] receives softmax(q·kᵀ·scale + causal mask) for the backward.
   */
  attention(
    q: FloatArray, k: FloatArray, v: FloatArray, BH: number, T: number, D: number, scale: number, causal: boolean,
    out: FloatArray, probs: FloatArray,
  ): void;
  /** Gradients of attention given the saved probs; any of dq/dk/dv may be null (not needed). */
  attentionBackward(
    q: FloatArray, k: FloatArray, v: FloatArray, probs: FloatArray, dout: FloatArray,
    BH: number, T: number, D: number, scale: number,
    dq: FloatArray | null, dk: FloatArray | null, dv: FloatArray | null,
  ): void;

  /**
   * Cross-entropy per row: logits [N, V], targets [N] (rows whose target == ignoreIndex give loss 0).
   * Writes loss [N] and logsumexp [N] (saved for the backward).
   */
  crossEntropy(
    logits: FloatArray, targets: Int32Array, N: number, V: number, ignoreIndex: number,
    loss: FloatArray, logsumexp: FloatArray,
  ): void;
  /** dlogits[n] = (softmax(logits[n]) − onehot(target[n])) · dloss[n]; zero for ignored rows. */
  crossEntropyBackward(
    logits: FloatArray, targets: Int32Array, logsumexp: FloatArray, dloss: FloatArray,
    N: number, V: number, ignoreIndex: number, dlogits: FloatArray,
  ): void;

  /** out[n] = weight[ids[n]] : weight [V, C], ids [N] -> out [N, C]. Ids already validated. */
  embedding(weight: FloatArray, ids: Int32Array, N: number, C: number, out: FloatArray): void;
  /** dweight[ids[n]] += dout[n] (dweight is accumulated into, not overwritten). */
  embeddingBackward(dout: FloatArray, ids: Int32Array, N: number, C: number, dweight: FloatArray): void;

  /** One Adam/AdamW update in place (PyTorch semantics). */
  adam(args: AdamArgs): void;
}

export type KernelName = keyof Kernels;
