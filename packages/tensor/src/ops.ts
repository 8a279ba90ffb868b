/**
 * Ops: validate inputs (errors name the op and the shapes), lay out operands, allocate the output and
 * call the active backend's kernel. No gradients here: packages/autograd writes each op's backward
 * with these same ops, so a faster kernel speeds both passes.
 */
import type { BinaryOp, FloatArray, ReduceOp, UnaryOp } from './kernels';
import { kernels } from './backend';
import { Generator, getDefaultGenerator } from './random';
import { broadcastShapes, fmt, normAxis, numel, shapesEqual, contiguousStrides, type Shape } from './shape';
import { Tensor, allocate, full, type DType, type FloatDType } from './tensor';

export type Operand = Tensor | number;

/** Result dtype of arithmetic: float64 if any input is float64, else float32 (ints compute as float32). */
function floatDType(...xs: Operand[]): FloatDType {
  return xs.some((x) => x instanceof Tensor && x.dtype === 'float64') ? 'float64' : 'float32';
}

function asTensor(x: Operand, dtype: DType): Tensor {
  return x instanceof Tensor ? x : full([], x, dtype);
}

/** A contiguous float tensor of the given dtype (converting int32 or the other float type). */
function floatContiguous(x: Tensor, dtype: FloatDType = x.dtype === 'float64' ? 'float64' : 'float32'): Tensor {
  return (x.dtype === dtype ? x : x.astype(dtype)).contiguous();
}

function requireFloat(op: string, x: Tensor, name = 'input'): void {
  if (!x.isFloat()) throw new Error(`${op}: ${name} must be a float tensor, got ${x.dtype} ${fmt(x.shape)}`);
}

// -------------------------------------------------------------------------------------------------
// Elementwise

export function unary(op: UnaryOp, x: Tensor): Tensor {
  const xc = floatContiguous(x);
  const out = allocate(xc.dtype, xc.size) as FloatArray;
  kernels().unary(op, xc.data as FloatArray, out);
  return new Tensor(out, x.shape);
}

export const neg = (x: Tensor) => unary('neg', x);
export const exp = (x: Tensor) => unary('exp', x);
export const log = (x: Tensor) => unary('log', x);
export const sqrt = (x: Tensor) => unary('sqrt', x);
export const tanh = (x: Tensor) => unary('tanh', x);
export const sigmoid = (x: Tensor) => unary('sigmoid', x);
export const relu = (x: Tensor) => unary('relu', x);
/** GPT-2's gelu: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
export const gelu = (x: Tensor) => unary('gelu', x);
export const abs = (x: Tensor) => unary('abs', x);
export const square = (x: Tensor) => unary('square', x);
export const reciprocal = (x: Tensor) => unary('reciprocal', x);
export const sign = (x: Tensor) => unary('sign', x);

/** op(a, b) with numpy/PyTorch broadcasting. */
export function binary(op: BinaryOp, a: Operand, b: Operand): Tensor {
  const dtype = floatDType(a, b);
  const ta = asTensor(a, dtype), tb = asTensor(b, dtype);
  const shape = broadcastShapes(op, ta.shape, tb.shape);
  const out = allocate(dtype, numel(shape)) as FloatArray;
  kernels().binary(op, ta.broadcastTo(shape).asStrided(), tb.broadcastTo(shape).asStrided(), shape, out);
  return new Tensor(out, shape);
}

export const add = (a: Operand, b: Operand) => binary('add', a, b);
export const sub = (a: Operand, b: Operand) => binary('sub', a, b);
export const mul = (a: Operand, b: Operand) => binary('mul', a, b);
export const div = (a: Operand, b: Operand) => binary('div', a, b);
export const pow = (a: Operand, b: Operand) => binary('pow', a, b);
export const maximum = (a: Operand, b: Operand) => binary('maximum', a, b);
export const minimum = (a: Operand, b: Operand) => binary('minimum', a, b);
/** Comparisons give 1 where true and 0 where false, as a float tensor. */
export const eq = (a: Operand, b: Operand) => binary('eq', a, b);
export const ne = (a: Operand, b: Operand) => binary('ne', a, b);
export const lt = (a: Operand, b: Operand) => binary('lt', a, b);
export const le = (a: Operand, b: Operand) => binary('le', a, b);
export const gt = (a: Operand, b: Operand) => binary('gt', a, b);
export const ge = (a: Operand, b: Operand) => binary('ge', a, b);

/** cond ? a : b elementwise, all three broadcast together (cond: any dtype, non-zero = true). */
export function where(cond: Tensor, a: Operand, b: Operand): Tensor {
  const dtype = floatDType(a, b);
  const ta = asTensor(a, dtype), tb = asTensor(b, dtype);
  const shape = broadcastShapes('where', cond.shape, ta.shape, tb.shape);
  const out = allocate(dtype, numel(shape)) as FloatArray;
  kernels().where(cond.broadcastTo(shape).asStrided(), ta.broadcastTo(shape).asStrided(), tb.broadcastTo(shape).asStrided(), shape, out);
  return new Tensor(out, shape);
}

/**
 * Write `src` (broadcast to dst's shape) into the elements `dst` views, in place. The one op that
 * mutates: for filling part of a buffer (a KV cache, a gradient of a slice).
 */
export function copyInto(dst: Tensor, src: Tensor): void {
  const b = src.broadcastTo(dst.shape);
  // read from a private copy when src views dst's storage (e.g. copyInto(x.transpose(), x))
  const s = b.data === dst.data ? b.clone().data : b.contiguous().data;
  if (dst.size === 0) return;
  // walk dst row by row (a row = its last dim); rows with unit stride are one block copy
  const nd = dst.ndim;
  const rowLen = nd === 0 ? 1 : dst.shape[nd - 1];
  const rowStride = nd === 0 ? 1 : dst.strides[nd - 1];
  const lead = dst.shape.slice(0, -1);
  const idx = new Array<number>(lead.length).fill(0);
  let off = dst.offset;
  for (let r = 0; r < s.length; r += rowLen) {
    if (rowStride === 1) dst.data.set(s.subarray(r, r + rowLen), off);
    else for (let j = 0; j < rowLen; j++) dst.data[off + j * rowStride] = s[r + j];
    for (let d = lead.length - 1; d >= 0; d--) {
      idx[d]++;
      off += dst.strides[d];
      if (idx[d] < lead[d]) break;
      off -= dst.strides[d] * lead[d];
      idx[d] = 0;
    }
  }
}

/** x with `value` wherever mask is non-zero (mask broadcasts to x's shape). */
export function maskedFill(x: Tensor, mask: Tensor, value: number): Tensor {
  const shape = broadcastShapes('maskedFill', x.shape, mask.shape);
  if (!shapesEqual(shape, x.shape)) throw new Error(`maskedFill: mask ${fmt(mask.shape)} does not broadcast to input ${fmt(x.shape)}`);
  return where(mask, value, x);
}

// -------------------------------------------------------------------------------------------------
// Reductions

export type Axes = number | readonly number[] | undefined;

function normAxes(op: string, axes: Axes, ndim: number): number[] {
  if (axes === undefined) return [...Array(ndim).keys()];
  const list = typeof axes === 'number' ? [axes] : [...axes];
  const norm = list.map((a) => normAxis(op, a, ndim));
  if (new Set(norm).size !== norm.length) throw new Error(`${op}: repeated axis in [${list.join(',')}]`);
  return norm.sort((a, b) => a - b);
}

/** Reduce one axis of a contiguous tensor, keeping it as size 1. */
function reduceAxis(op: ReduceOp, x: Tensor, axis: number): Tensor {
  const outer = numel(x.shape.slice(0, axis)), dim = x.shape[axis], inner = numel(x.shape.slice(axis + 1));
  const outShape = [...x.shape];
  outShape[axis] = 1;
  const out = allocate(x.dtype, outer * inner) as FloatArray;
  if (dim === 0 && op !== 'sum') throw new Error(`${op}: cannot reduce an empty dimension (axis ${axis} of ${fmt(x.shape)})`);
  kernels().reduce(op, x.data as FloatArray, outer, dim, inner, out);
  return new Tensor(out, outShape);
}

function reduceAxes(op: ReduceOp, x: Tensor, axes: Axes, keepdim: boolean): Tensor {
  const ax = normAxes(op, axes, x.ndim);
  let t = floatContiguous(x);
  for (const a of ax) t = reduceAxis(op, t, a);
  return keepdim ? t : t.reshape(x.shape.filter((_, d) => !ax.includes(d)));
}

export function sum(x: Tensor, axes?: Axes, keepdim = false): Tensor { return reduceAxes('sum', x, axes, keepdim); }
export function max(x: Tensor, axes?: Axes, keepdim = false): Tensor { return reduceAxes('max', x, axes, keepdim); }
export function min(x: Tensor, axes?: Axes, keepdim = false): Tensor { return reduceAxes('min', x, axes, keepdim); }

export function mean(x: Tensor, axes?: Axes, keepdim = false): Tensor {
  const ax = normAxes('mean', axes, x.ndim);
  const n = ax.reduce((p, a) => p * x.shape[a], 1);
  return div(sum(x, ax, keepdim), n);
}

/** Variance (unbiased by default, as torch.var). */
export function variance(x: Tensor, axes?: Axes, keepdim = false, unbiased = true): Tensor {
  const ax = normAxes('var', axes, x.ndim);
  const n = ax.reduce((p, a) => p * x.shape[a], 1);
  const centered = sub(x, mean(x, ax, true));
  return div(sum(square(centered), ax, keepdim), unbiased ? n - 1 : n);
}

/** Index of the first maximum along an axis (int32). */
export function argmax(x: Tensor, axis = -1, keepdim = false): Tensor {
  const a = normAxis('argmax', axis, x.ndim);
  if (x.shape[a] === 0) throw new Error(`argmax: cannot reduce an empty dimension (axis ${axis} of ${fmt(x.shape)})`);
  const xc = floatContiguous(x);
  const outer = numel(x.shape.slice(0, a)), inner = numel(x.shape.slice(a + 1));
  const out = new Int32Array(outer * inner);
  kernels().argmax(xc.data as FloatArray, outer, x.shape[a], inner, out);
  const shape = [...x.shape];
  shape[a] = 1;
  const t = new Tensor(out, shape);
  return keepdim ? t : t.squeeze(a);
}

/**
 * Sum `x` down to `shape` (undoing a broadcast): the backward of every broadcasting op.
 * Leading dims are summed away; dims where `shape` has 1 are summed with keepdim.
 */
export function sumToShape(x: Tensor, shape: Shape): Tensor {
  if (shapesEqual(x.shape, shape)) return x;
  const lead = x.ndim - shape.length;
  if (lead < 0) throw new Error(`sumToShape: cannot sum ${fmt(x.shape)} to the larger ${fmt(shape)}`);
  const axes: number[] = [];
  for (let d = 0; d < x.ndim; d++) {
    if (d < lead) axes.push(d);
    else if (shape[d - lead] === 1 && x.shape[d] !== 1) axes.push(d);
    else if (shape[d - lead] !== x.shape[d]) throw new Error(`sumToShape: ${fmt(x.shape)} does not broadcast from ${fmt(shape)}`);
  }
  return sum(x, axes, true).reshape(shape);
}

// -------------------------------------------------------------------------------------------------
// Matmul

export interface MatmulOptions {
  /** Use aᵀ (swap a's last two dims) without copying. */
  transA?: boolean;
  transB?: boolean;
}

/**
 * Matrix product with PyTorch semantics: 1-d operands are promoted (and the added dim removed), leading
 * batch dims broadcast. Operands may be any strided view; transposed ones are read in place.
 */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  requireFloat('matmul', a, 'a');
  requireFloat('matmul', b, 'b');
  if (a.ndim === 0 || b.ndim === 0) throw new Error(`matmul: both operands need at least 1 dim, got ${fmt(a.shape)} x ${fmt(b.shape)}`);
  const dtype = floatDType(a, b);
  let A = a.dtype === dtype ? a : a.astype(dtype);
  let B = b.dtype === dtype ? b : b.astype(dtype);
  const aVec = A.ndim === 1, bVec = B.ndim === 1;
  if (aVec) A = A.unsqueeze(0);
  if (bVec) B = B.unsqueeze(1);
  if (options.transA) A = A.transpose(-2, -1);
  if (options.transB) B = B.transpose(-2, -1);
  const M = A.shape[A.ndim - 2], K = A.shape[A.ndim - 1];
  const K2 = B.shape[B.ndim - 2], N = B.shape[B.ndim - 1];
  if (K !== K2) throw new Error(`matmul: inner dimensions differ: ${fmt(a.shape)}${options.transA ? 'ᵀ' : ''} x ${fmt(b.shape)}${options.transB ? 'ᵀ' : ''}`);
  const batchA = A.shape.slice(0, -2), batchB = B.shape.slice(0, -2);
  let batchShape: number[];
  try {
    batchShape = broadcastShapes('matmul', batchA, batchB);
  } catch {
    throw new Error(`matmul: batch dims ${fmt(batchA)} of ${fmt(a.shape)} and ${fmt(batchB)} of ${fmt(b.shape)} cannot be broadcast`);
  }
  const Ab = A.broadcastTo([...batchShape, M, K]);
  const Bb = B.broadcastTo([...batchShape, K, N]);
  const batch = numel(batchShape);
  const out = allocate(dtype, batch * M * N) as FloatArray;
  if (batch > 0 && M > 0 && N > 0) {
    kernels().matmul({
      batch, M, K, N,
      a: Ab.data as FloatArray, aOffsets: batchOffsets(Ab, batchShape), aRowStride: Ab.strides[Ab.ndim - 2], aColStride: Ab.strides[Ab.ndim - 1],
      b: Bb.data as FloatArray, bOffsets: batchOffsets(Bb, batchShape), bRowStride: Bb.strides[Bb.ndim - 2], bColStride: Bb.strides[Bb.ndim - 1],
      out,
    });
  }
  let shape = [...batchShape, M, N];
  if (aVec) shape = [...batchShape, N];
  if (bVec) shape = aVec ? [...batchShape] : [...batchShape, M];
  return new Tensor(out, shape);
}

/** Storage offset of each batch matrix of a (broadcast) [..., R, C] view. */
function batchOffsets(t: Tensor, batchShape: Shape): Int32Array {
  const n = numel(batchShape);
  const offs = new Int32Array(n);
  const bstr = t.strides.slice(0, batchShape.length);
  const cs = contiguousStrides(batchShape);
  for (let i = 0; i < n; i++) {
    let o = t.offset, r = i;
    for (let d = 0; d < batchShape.length; d++) {
      const idx = Math.floor(r / cs[d]);
      r -= idx * cs[d];
      o += idx * bstr[d];
    }
    offs[i] = o;
  }
  return offs;
}

// -------------------------------------------------------------------------------------------------
// Softmax family (over one axis; the kernels work on rows of the last axis)

type RowKernel = (x: FloatArray, rows: number, cols: number, out: FloatArray) => void;

/** Apply a row kernel along `axis` by moving that axis last (a copy only when it is not last). */
function alongAxis(op: string, x: Tensor, axis: number, run: RowKernel): Tensor {
  requireFloat(op, x);
  const ax = normAxis(op, axis, Math.max(x.ndim, 1));
  const last = x.ndim - 1;
  const moved = x.ndim === 0 ? x.reshape(1) : ax === last ? x : x.transpose(ax, last);
  const xc = floatContiguous(moved);
  const cols = xc.shape[xc.ndim - 1] ?? 1;
  const out = allocate(xc.dtype, xc.size) as FloatArray;
  run(xc.data as FloatArray, cols === 0 ? 0 : xc.size / cols, cols, out);
  const t = new Tensor(out, xc.shape);
  return x.ndim === 0 ? t.reshape([]) : ax === last ? t : t.transpose(ax, last);
}

/** Two-input row kernel (y, dy) along an axis, for the softmax backwards. */
function alongAxis2(op: string, y: Tensor, dy: Tensor, axis: number, run: (y: FloatArray, dy: FloatArray, rows: number, cols: number, out: FloatArray) => void): Tensor {
  if (!shapesEqual(y.shape, dy.shape)) throw new Error(`${op}: output ${fmt(y.shape)} and gradient ${fmt(dy.shape)} differ`);
  if (y.ndim === 0) return alongAxis2(op, y.reshape(1), dy.reshape(1), axis, run).reshape([]);
  const ax = normAxis(op, axis, y.ndim), last = y.ndim - 1;
  const move = (t: Tensor) => floatContiguous(ax === last ? t : t.transpose(ax, last), y.dtype === 'float64' ? 'float64' : 'float32');
  const yc = move(y), dyc = move(dy);
  const cols = yc.shape[yc.ndim - 1];
  const out = allocate(yc.dtype, yc.size) as FloatArray;
  run(yc.data as FloatArray, dyc.data as FloatArray, cols === 0 ? 0 : yc.size / cols, cols, out);
  const t = new Tensor(out, yc.shape);
  return ax === last ? t : t.transpose(ax, last);
}

export function softmax(x: Tensor, axis = -1): Tensor {
  return alongAxis('softmax', x, axis, (a, r, c, o) => kernels().softmax(a, r, c, o));
}
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  return alongAxis('logSoftmax', x, axis, (a, r, c, o) => kernels().logSoftmax(a, r, c, o));
}
/** Given y = softmax(x) and dL/dy, returns dL/dx. */
export function softmaxBackward(y: Tensor, dy: Tensor, axis = -1): Tensor {
  return alongAxis2('softmaxBackward', y, dy, axis, (a, b, r, c, o) => kernels().softmaxBackward(a, b, r, c, o));
}
/** Given y = logSoftmax(x) and dL/dy, returns dL/dx. */
export function logSoftmaxBackward(y: Tensor, dy: Tensor, axis = -1): Tensor {
  return alongAxis2('logSoftmaxBackward', y, dy, axis, (a, b, r, c, o) => kernels().logSoftmaxBackward(a, b, r, c, o));
}

// -------------------------------------------------------------------------------------------------
// LayerNorm, gelu backward

export interface LayerNormResult { out: Tensor; mean: Tensor; rstd: Tensor }

/** LayerNorm over the last axis: x [..., C], gamma [C], beta [C]. */
export function layerNorm(x: Tensor, gamma: Tensor, beta: Tensor, eps = 1e-5): LayerNormResult {
  requireFloat('layerNorm', x);
  const C = x.shape[x.ndim - 1];
  if (x.ndim === 0 || gamma.ndim !== 1 || beta.ndim !== 1 || gamma.shape[0] !== C || beta.shape[0] !== C) {
    throw new Error(`layerNorm: input ${fmt(x.shape)} needs weight and bias of shape [${C}], got ${fmt(gamma.shape)} and ${fmt(beta.shape)}`);
  }
  const dtype = floatDType(x, gamma, beta);
  const xc = floatContiguous(x, dtype);
  const rows = C === 0 ? 0 : xc.size / C;
  const out = allocate(dtype, xc.size) as FloatArray;
  const m = allocate(dtype, rows) as FloatArray, r = allocate(dtype, rows) as FloatArray;
  kernels().layerNorm(xc.data as FloatArray, floatContiguous(gamma, dtype).data as FloatArray, floatContiguous(beta, dtype).data as FloatArray, rows, C, eps, out, m, r);
  return { out: new Tensor(out, x.shape), mean: new Tensor(m, [rows]), rstd: new Tensor(r, [rows]) };
}

export interface LayerNormGrads { dx: Tensor | null; dgamma: Tensor | null; dbeta: Tensor | null }

/** Gradients of layerNorm; pass `need` to skip frozen ones (not computed at all). */
export function layerNormBackward(
  x: Tensor, gamma: Tensor, saved: LayerNormResult, dy: Tensor,
  need: { x: boolean; gamma: boolean; beta: boolean },
): LayerNormGrads {
  const C = x.shape[x.ndim - 1];
  const dtype = saved.out.dtype as FloatDType;
  const xc = floatContiguous(x, dtype), dyc = floatContiguous(dy, dtype);
  const rows = C === 0 ? 0 : xc.size / C;
  const dx = need.x ? (allocate(dtype, xc.size) as FloatArray) : null;
  const dg = need.gamma ? (allocate(dtype, C) as FloatArray) : null;
  const db = need.beta ? (allocate(dtype, C) as FloatArray) : null;
  kernels().layerNormBackward(
    xc.data as FloatArray, floatContiguous(gamma, dtype).data as FloatArray, saved.mean.data as FloatArray, saved.rstd.data as FloatArray,
    dyc.data as FloatArray, rows, C, dx, dg, db,
  );
  return {
    dx: dx && new Tensor(dx, x.shape),
    dgamma: dg && new Tensor(dg, [C]),
    dbeta: db && new Tensor(db, [C]),
  };
}

/** dL/dx of gelu given x and dL/dy. */
export function geluBackward(x: Tensor, dy: Tensor): Tensor {
  if (!shapesEqual(x.shape, dy.shape)) throw new Error(`geluBackward: input ${fmt(x.shape)} and gradient ${fmt(dy.shape)} differ`);
  const dtype = floatDType(x, dy);
  const xc = floatContiguous(x, dtype), dyc = floatContiguous(dy, dtype);
  const out = allocate(dtype, xc.size) as FloatArray;
  kernels().geluBackward(xc.data as FloatArray, dyc.data as FloatArray, out);
  return new Tensor(out, x.shape);
}

// -------------------------------------------------------------------------------------------------
// Attention

export interface AttentionResult { out: Tensor; probs: Tensor }

/**
 * Scaled dot-product attention: q, k, v [B, H, T, D] -> out [B, H, T, D] (probs [B, H, T, T] saved).
 * scale defaults to 1/sqrt(D); causal masks positions s > t.
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, options: { causal?: boolean; scale?: number } = {}): AttentionResult {
  for (const [n, t] of [['q', q], ['k', k], ['v', v]] as const) requireFloat('attention', t, n);
  if (q.ndim < 2 || !shapesEqual(q.shape, k.shape) || !shapesEqual(q.shape, v.shape)) {
    throw new Error(`attention: q, k, v must share one shape [..., T, D], got ${fmt(q.shape)}, ${fmt(k.shape)}, ${fmt(v.shape)}`);
  }
  const T = q.shape[q.ndim - 2], D = q.shape[q.ndim - 1];
  const BH = numel(q.shape.slice(0, -2));
  const dtype = floatDType(q, k, v);
  const scale = options.scale ?? 1 / Math.sqrt(D);
  const out = allocate(dtype, BH * T * D) as FloatArray;
  const probs = allocate(dtype, BH * T * T) as FloatArray;
  kernels().attention(
    floatContiguous(q, dtype).data as FloatArray, floatContiguous(k, dtype).data as FloatArray, floatContiguous(v, dtype).data as FloatArray,
    BH, T, D, scale, options.causal ?? true, out, probs,
  );
  return { out: new Tensor(out, q.shape), probs: new Tensor(probs, [...q.shape.slice(0, -1), T]) };
}

export interface AttentionGrads { dq: Tensor | null; dk: Tensor | null; dv: Tensor | null }

export function attentionBackward(
  q: Tensor, k: Tensor, v: Tensor, probs: Tensor, dout: Tensor,
  need: { q: boolean; k: boolean; v: boolean }, scale = 1 / Math.sqrt(q.shape[q.ndim - 1]),
): AttentionGrads {
  const T = q.shape[q.ndim - 2], D = q.shape[q.ndim - 1];
  const BH = numel(q.shape.slice(0, -2));
  const dtype = probs.dtype as FloatDType;
  const f = (t: Tensor) => floatContiguous(t, dtype).data as FloatArray;
  const mk = (yes: boolean) => (yes ? (allocate(dtype, BH * T * D) as FloatArray) : null);
  const dq = mk(need.q), dk = mk(need.k), dv = mk(need.v);
  kernels().attentionBackward(f(q), f(k), f(v), f(probs), f(dout), BH, T, D, scale, dq, dk, dv);
  const wrap = (a: FloatArray | null) => a && new Tensor(a, q.shape);
  return { dq: wrap(dq), dk: wrap(dk), dv: wrap(dv) };
}

// -------------------------------------------------------------------------------------------------
// Cross-entropy

/** targets must be int32 of shape logits[:-1] (or flat [N]), each in [0, V) or ignoreIndex. */
function checkTargets(op: string, targets: Tensor, logitsShape: Shape, N: number, V: number, ignoreIndex: number): Int32Array {
  if (targets.dtype !== 'int32') throw new Error(`${op}: targets must be int32, got ${targets.dtype}`);
  const lead = logitsShape.slice(0, -1);
  if (!shapesEqual(targets.shape, lead) && !(targets.ndim === 1 && targets.size === N)) {
    throw new Error(`${op}: targets ${fmt(targets.shape)} do not match logits ${fmt(logitsShape)} (expected ${fmt(lead)} or [${N}])`);
  }
  const t = targets.contiguous().data as Int32Array;
  for (let i = 0; i < N; i++) {
    if (t[i] !== ignoreIndex && (t[i] < 0 || t[i] >= V)) throw new Error(`${op}: target ${t[i]} at position ${i} out of range [0, ${V})`);
  }
  return t;
}

export interface CrossEntropyResult { loss: Tensor; logsumexp: Tensor }

/** Per-row cross-entropy of logits [..., V] against int32 targets [...]; ignored rows give 0. */
export function crossEntropy(logits: Tensor, targets: Tensor, ignoreIndex = -100): CrossEntropyResult {
  requireFloat('crossEntropy', logits, 'logits');
  const V = logits.shape[logits.ndim - 1];
  const N = V === 0 ? 0 : logits.size / V;
  const t = checkTargets('crossEntropy', targets, logits.shape, N, V, ignoreIndex);
  const lc = floatContiguous(logits);
  const loss = allocate(lc.dtype, N) as FloatArray, lse = allocate(lc.dtype, N) as FloatArray;
  kernels().crossEntropy(lc.data as FloatArray, t, N, V, ignoreIndex, loss, lse);
  return { loss: new Tensor(loss, logits.shape.slice(0, -1)), logsumexp: new Tensor(lse, [N]) };
}

export function crossEntropyBackward(logits: Tensor, targets: Tensor, saved: CrossEntropyResult, dloss: Tensor, ignoreIndex = -100): Tensor {
  const V = logits.shape[logits.ndim - 1];
  const N = V === 0 ? 0 : logits.size / V;
  const lc = floatContiguous(logits);
  const out = allocate(lc.dtype, lc.size) as FloatArray;
  kernels().crossEntropyBackward(
    lc.data as FloatArray, targets.contiguous().data as Int32Array, saved.logsumexp.data as FloatArray,
    floatContiguous(dloss, lc.dtype as FloatDType).data as FloatArray, N, V, ignoreIndex, out,
  );
  return new Tensor(out, logits.shape);
}

// -------------------------------------------------------------------------------------------------
// Embedding, one-hot, concat/stack, dropout mask

/** Rows of weight [V, C] at int32 ids [...] -> [..., C]. */
export function embedding(weight: Tensor, ids: Tensor): Tensor {
  requireFloat('embedding', weight, 'weight');
  if (weight.ndim !== 2) throw new Error(`embedding: weight must be [V, C], got ${fmt(weight.shape)}`);
  if (ids.dtype !== 'int32') throw new Error(`embedding: ids must be int32, got ${ids.dtype} ${fmt(ids.shape)}`);
  const [V, C] = weight.shape;
  const idc = ids.contiguous().data as Int32Array;
  for (let i = 0; i < idc.length; i++) {
    if (idc[i] < 0 || idc[i] >= V) throw new Error(`embedding: id ${idc[i]} at position ${i} out of range for a table of ${V} rows`);
  }
  const wc = floatContiguous(weight);
  const out = allocate(wc.dtype, idc.length * C) as FloatArray;
  kernels().embedding(wc.data as FloatArray, idc, idc.length, C, out);
  return new Tensor(out, [...ids.shape, C]);
}

/** Gradient of embedding: scatter-add dout [..., C] into a zero [V, C]. */
export function embeddingBackward(dout: Tensor, ids: Tensor, V: number): Tensor {
  const C = dout.shape[dout.ndim - 1];
  const dc = floatContiguous(dout);
  const dw = allocate(dc.dtype, V * C) as FloatArray;
  kernels().embeddingBackward(dc.data as FloatArray, ids.contiguous().data as Int32Array, ids.size, C, dw);
  return new Tensor(dw, [V, C]);
}

/** int32 ids [...] -> float one-hot [..., numClasses]. */
export function oneHot(ids: Tensor, numClasses: number): Tensor {
  if (ids.dtype !== 'int32') throw new Error(`oneHot: ids must be int32, got ${ids.dtype}`);
  const idc = ids.contiguous().data;
  const out = new Float32Array(idc.length * numClasses);
  for (let i = 0; i < idc.length; i++) {
    if (idc[i] < 0 || idc[i] >= numClasses) throw new Error(`oneHot: id ${idc[i]} at position ${i} out of range [0, ${numClasses})`);
    out[i * numClasses + idc[i]] = 1;
  }
  return new Tensor(out, [...ids.shape, numClasses]);
}

/** Join tensors along an existing axis; all other dims must match. */
export function concat(tensors: readonly Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) throw new Error('concat: no tensors given');
  const first = tensors[0];
  const ax = normAxis('concat', axis, first.ndim);
  const dtype = tensors.some((t) => t.dtype === 'float64') ? 'float64' : tensors.every((t) => t.dtype === 'int32') ? 'int32' : 'float32';
  for (const t of tensors) {
    if (t.ndim !== first.ndim || t.shape.some((s, d) => d !== ax && s !== first.shape[d])) {
      throw new Error(`concat: shapes ${tensors.map((x) => fmt(x.shape)).join(', ')} differ outside axis ${ax}`);
    }
  }
  const shape = [...first.shape];
  shape[ax] = tensors.reduce((p, t) => p + t.shape[ax], 0);
  const out = allocate(dtype, numel(shape));
  const outer = numel(shape.slice(0, ax)), inner = numel(shape.slice(ax + 1));
  let at = 0;
  for (const t of tensors) {
    const src = (t.dtype === dtype ? t : t.astype(dtype)).contiguous().data;
    const chunk = t.shape[ax] * inner;
    for (let o = 0; o < outer; o++) out.set(src.subarray(o * chunk, (o + 1) * chunk), o * shape[ax] * inner + at);
    at += chunk;
  }
  return new Tensor(out, shape);
}

/** Join same-shape tensors along a new axis. */
export function stack(tensors: readonly Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) throw new Error('stack: no tensors given');
  const s0 = tensors[0].shape;
  for (const t of tensors) if (!shapesEqual(t.shape, s0)) throw new Error(`stack: shapes ${tensors.map((x) => fmt(x.shape)).join(', ')} differ`);
  const ax = normAxis('stack', axis, s0.length + 1);
  return concat(tensors.map((t) => t.unsqueeze(ax)), ax);
}

/**
 * Inverted-dropout mask: each element is 0 with probability p, else 1/(1-p) (so E[x·mask] = x).
 * Drawn from a seeded generator.
 */
export function dropoutMask(shape: Shape, p: number, dtype: FloatDType = 'float32', generator: Generator = getDefaultGenerator()): Tensor {
  if (!(p >= 0 && p < 1)) throw new Error(`dropout: p must be in [0, 1), got ${p}`);
  const mask = allocate(dtype, numel(shape));
  const keep = 1 / (1 - p);
  generator.bernoulli(mask as Float32Array | Float64Array, p, 0, keep); // dropped with probability p, kept scaled by 1/(1 − p)
  return new Tensor(mask, shape);
}
