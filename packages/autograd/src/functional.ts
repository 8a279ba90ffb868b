/**
 * Differentiable ops. Each op computes its forward with tensor ops and defines its backward right below,
 * returning a gradient only for the inputs that need one (`needs[i]`): that is what makes a frozen weight
 * free. Gradients of broadcasting ops are summed back to each input's shape (`sumToShape`).
 */
import { Tensor, ops, fmt, normAxis, zeros, Generator, getDefaultGenerator, type Axes, type Shape } from '@fpt-ts/tensor';
import { Variable, record, lift, type VarLike } from './variable';

const { sumToShape } = ops;

// -------------------------------------------------------------------------------------------------
// Elementwise arithmetic (broadcasting)

export function add(a: VarLike, b: VarLike): Variable {
  const A = lift(a), B = lift(b, A);
  return record('add', ops.add(A.data, B.data), [A, B], (g, [na, nb]) => [
    na ? sumToShape(g, A.shape) : null,
    nb ? sumToShape(g, B.shape) : null,
  ]);
}

export function sub(a: VarLike, b: VarLike): Variable {
  const A = lift(a), B = lift(b, A);
  return record('sub', ops.sub(A.data, B.data), [A, B], (g, [na, nb]) => [
    na ? sumToShape(g, A.shape) : null,
    nb ? sumToShape(ops.neg(g), B.shape) : null,
  ]);
}

export function mul(a: VarLike, b: VarLike): Variable {
  const A = lift(a), B = lift(b, A);
  return record('mul', ops.mul(A.data, B.data), [A, B], (g, [na, nb]) => [
    na ? sumToShape(ops.mul(g, B.data), A.shape) : null, // d(ab)/da = b
    nb ? sumToShape(ops.mul(g, A.data), B.shape) : null,
  ]);
}

export function div(a: VarLike, b: VarLike): Variable {
  const A = lift(a), B = lift(b, A);
  return record('div', ops.div(A.data, B.data), [A, B], (g, [na, nb]) => [
    na ? sumToShape(ops.div(g, B.data), A.shape) : null, // d(a/b)/da = 1/b
    nb ? sumToShape(ops.neg(ops.div(ops.mul(g, A.data), ops.square(B.data))), B.shape) : null, // d/db = −a/b²
  ]);
}

export function neg(a: VarLike): Variable {
  const A = lift(a);
  return record('neg', ops.neg(A.data), [A], (g) => [ops.neg(g)]);
}

/** a^b elementwise; b may be a number (the common case) or a variable. */
export function pow(a: VarLike, b: VarLike): Variable {
  const A = lift(a), B = lift(b, A);
  const out = ops.pow(A.data, B.data);
  // as torch: d/da is 0 where b = 0 (not 0·0^−1 = NaN at a = 0); d/db is 0 where a = 0 and b ≥ 0 (not 0·ln 0)
  return record('pow', out, [A, B], (g, [na, nb]) => [
    na ? sumToShape(ops.mul(g, ops.where(ops.eq(B.data, 0), 0, ops.mul(B.data, ops.pow(A.data, ops.sub(B.data, 1))))), A.shape) : null, // b·a^(b−1)
    nb ? sumToShape(ops.mul(g, ops.where(ops.mul(ops.eq(A.data, 0), ops.ge(B.data, 0)), 0, ops.mul(out, ops.log(A.data)))), B.shape) : null, // a^b·ln a
  ]);
}

export function maximum(a: VarLike, b: VarLike): Variable {
  return minmax('maximum', a, b);
}
export function minimum(a: VarLike, b: VarLike): Variable {
  return minmax('minimum', a, b);
}
function minmax(op: 'maximum' | 'minimum', a: VarLike, b: VarLike): Variable {
  const A = lift(a), B = lift(b, A);
  const out = ops.binary(op, A.data, B.data);
  // the gradient goes to the winner; ties split it evenly (as torch.maximum)
  return record(op, out, [A, B], (g, [na, nb]) => {
    const aWins = op === 'maximum' ? ops.gt(A.data, B.data) : ops.lt(A.data, B.data);
    const tie = ops.mul(ops.eq(A.data, B.data), 0.5);
    const wa = ops.add(aWins, tie);
    return [
      na ? sumToShape(ops.mul(g, wa), A.shape) : null,
      nb ? sumToShape(ops.mul(g, ops.sub(1, wa)), B.shape) : null,
    ];
  });
}

// -------------------------------------------------------------------------------------------------
// Elementwise functions: forward, then d/dx written with the saved input or output

export function exp(x: Variable): Variable {
  const y = ops.exp(x.data);
  return record('exp', y, [x], (g) => [ops.mul(g, y)]); // (eˣ)' = eˣ
}

export function log(x: Variable): Variable {
  return record('log', ops.log(x.data), [x], (g) => [ops.div(g, x.data)]); // 1/x
}

export function sqrt(x: Variable): Variable {
  const y = ops.sqrt(x.data);
  return record('sqrt', y, [x], (g) => [ops.div(g, ops.mul(y, 2))]); // 1/(2√x)
}

export function square(x: Variable): Variable {
  return record('square', ops.square(x.data), [x], (g) => [ops.mul(g, ops.mul(x.data, 2))]);
}

export function tanh(x: Variable): Variable {
  const y = ops.tanh(x.data);
  return record('tanh', y, [x], (g) => [ops.mul(g, ops.sub(1, ops.square(y)))]); // 1 − tanh²
}

export function sigmoid(x: Variable): Variable {
  const y = ops.sigmoid(x.data);
  return record('sigmoid', y, [x], (g) => [ops.mul(g, ops.mul(y, ops.sub(1, y)))]); // σ(1 − σ)
}

export function relu(x: Variable): Variable {
  return record('relu', ops.relu(x.data), [x], (g) => [ops.mul(g, ops.unary('step', x.data))]);
}

/** GPT-2's tanh-approximated gelu ("gelu_new"), fused: the backward is one kernel. */
export function gelu(x: Variable): Variable {
  return record('gelu', ops.gelu(x.data), [x], (g) => [ops.geluBackward(x.data, g)]);
}

export function abs(x: Variable): Variable {
  return record('abs', ops.abs(x.data), [x], (g) => [ops.mul(g, ops.sign(x.data))]);
}

/** cond ? a : b; cond is a constant mask (not differentiated). */
export function where(cond: Tensor, a: VarLike, b: VarLike): Variable {
  const A = lift(a), B = lift(b, A);
  const out = ops.where(cond, A.data, B.data);
  return record('where', out, [A, B], (g, [na, nb]) => [
    na ? sumToShape(ops.where(cond, g, 0), A.shape) : null,
    nb ? sumToShape(ops.where(cond, 0, g), B.shape) : null,
  ]);
}

/** x with `value` where mask is non-zero; no gradient flows to the filled positions. */
export function maskedFill(x: Variable, mask: Tensor, value: number): Variable {
  return record('maskedFill', ops.maskedFill(x.data, mask, value), [x], (g) => [ops.where(mask, 0, g)]);
}

// -------------------------------------------------------------------------------------------------
// Reductions

/** Put a reduced gradient back in the input's shape (re-inserting the reduced axes, then broadcasting). */
function expandReduced(g: Tensor, inShape: Shape, axes: Axes, keepdim: boolean): Tensor {
  const nd = inShape.length;
  const ax = axes === undefined ? [...Array(nd).keys()] : (typeof axes === 'number' ? [axes] : [...axes]).map((a) => normAxis('sum', a, nd));
  let gk = g;
  if (!keepdim) gk = g.reshape(inShape.map((s, d) => (ax.includes(d) ? 1 : s)));
  return gk.expand(inShape);
}

export function sum(x: Variable, axes?: Axes, keepdim = false): Variable {
  return record('sum', ops.sum(x.data, axes, keepdim), [x], (g) => [expandReduced(g, x.shape, axes, keepdim)]);
}

export function mean(x: Variable, axes?: Axes, keepdim = false): Variable {
  const out = ops.mean(x.data, axes, keepdim);
  const n = x.size / Math.max(out.size, 1);
  return record('mean', out, [x], (g) => [ops.div(expandReduced(g, x.shape, axes, keepdim), n)]);
}

/** Max over axes; the gradient is shared evenly among tied maxima. */
export function max(x: Variable, axes?: Axes, keepdim = false): Variable {
  const out = ops.max(x.data, axes, true);
  const result = keepdim ? out : ops.max(x.data, axes, false);
  return record('max', result, [x], (g) => {
    const isMax = ops.eq(x.data, out.broadcastTo(x.shape));
    const count = ops.sum(isMax, axes, true);
    return [ops.mul(expandReduced(g, x.shape, axes, keepdim), ops.div(isMax, count))];
  });
}

/** Variance (unbiased by default), composed from differentiable ops. */
export function variance(x: Variable, axes?: Axes, keepdim = false, unbiased = true): Variable {
  const n = x.size / Math.max(ops.sum(x.data, axes, true).size, 1);
  const centered = sub(x, mean(x, axes, true));
  return div(sum(square(centered), axes, keepdim), unbiased ? n - 1 : n);
}

// -------------------------------------------------------------------------------------------------
// Views and layout: gradients are the inverse view

export function reshape(x: Variable, shape: Shape): Variable {
  return record('reshape', x.data.reshape(shape), [x], (g) => [g.reshape(x.shape)]);
}

export function permute(x: Variable, axes: readonly number[]): Variable {
  const inverse = new Array<number>(axes.length);
  axes.forEach((a, i) => { inverse[normAxis('permute', a, x.ndim)] = i; });
  return record('permute', x.data.permute(axes), [x], (g) => [g.permute(inverse)]);
}

export function transpose(x: Variable, a = -2, b = -1): Variable {
  return record('transpose', x.data.transpose(a, b), [x], (g) => [g.transpose(a, b)]);
}

/** Scatter a gradient of a sub-range back into zeros of the full shape. */
function padBack(g: Tensor, inShape: Shape, axis: number, start: number, step: number): Tensor {
  const dx = zeros(inShape, g.dtype);
  if (g.size > 0) ops.copyInto(dx.slice(axis, start, start + (g.shape[axis] - 1) * step + 1, step), g);
  return dx;
}

export function slice(x: Variable, axis: number, start: number, end?: number, step = 1): Variable {
  const ax = normAxis('slice', axis, x.ndim);
  const n = x.shape[ax];
  const s = Math.min(Math.max(start < 0 ? start + n : start, 0), n);
  return record('slice', x.data.slice(ax, start, end, step), [x], (g) => [padBack(g, x.shape, ax, s, step)]);
}

export function narrow(x: Variable, axis: number, start: number, length: number): Variable {
  x.data.narrow(axis, start, length); // validates the range
  return slice(x, axis, start, start + length);
}

export function select(x: Variable, axis: number, index: number): Variable {
  x.data.select(axis, index); // validates the index (a select error, not a narrow one)
  const ax = normAxis('select', axis, x.ndim);
  const i = index < 0 ? index + x.shape[ax] : index;
  return squeeze(narrow(x, ax, i, 1), ax);
}

export function expand(x: Variable, shape: Shape): Variable {
  return record('expand', x.data.expand(shape), [x], (g) => [sumToShape(g, x.shape)]);
}

export function squeeze(x: Variable, axis?: number): Variable {
  return record('squeeze', x.data.squeeze(axis), [x], (g) => [g.reshape(x.shape)]);
}

export function unsqueeze(x: Variable, axis: number): Variable {
  return record('unsqueeze', x.data.unsqueeze(axis), [x], (g) => [g.reshape(x.shape)]);
}

export function concat(xs: readonly Variable[], axis = 0): Variable {
  const out = ops.concat(xs.map((x) => x.data), axis);
  const ax = normAxis('concat', axis, out.ndim);
  return record('concat', out, [...xs], (g, needs) => {
    let at = 0;
    return xs.map((x, i) => {
      const part = needs[i] ? g.narrow(ax, at, x.shape[ax]).contiguous() : null;
      at += x.shape[ax];
      return part;
    });
  });
}

export function stack(xs: readonly Variable[], axis = 0): Variable {
  const ax = normAxis('stack', axis, xs[0].ndim + 1);
  return concat(xs.map((x) => unsqueeze(x, ax)), ax);
}

// -------------------------------------------------------------------------------------------------
// Linear algebra

/** Batched matmul with broadcasting. forward: C = A·B ; backward: dA = dC·Bᵀ, dB = Aᵀ·dC. */
export function matmul(a: Variable, b: Variable): Variable {
  if (a.ndim < 2 || b.ndim < 2) {
    // promote 1-d operands as torch does, through differentiable reshapes
    const A = a.ndim === 1 ? unsqueeze(a, 0) : a, B = b.ndim === 1 ? unsqueeze(b, 1) : b;
    let out = matmul(A, B);
    if (a.ndim === 1) out = squeeze(out, -2);
    if (b.ndim === 1) out = squeeze(out, -1);
    return out;
  }
  const out = ops.matmul(a.data, b.data);
  return record('matmul', out, [a, b], (g, [na, nb]) => [
    na ? sumToShape(ops.matmul(g, b.data, { transB: true }), a.shape) : null,
    nb ? sumToShape(ops.matmul(a.data, g, { transA: true }), b.shape) : null,
  ]);
}

/**
 * A dense layer over the last axis, fused so that its weight gradient is one GEMM (or none when frozen).
 * layout 'torch': weight [out, in], y = x·Wᵀ + b (nn.Linear);
 * layout 'conv1d': weight [in, out], y = x·W + b (HuggingFace GPT-2's Conv1D).
 */
export function linear(x: Variable, weight: Variable, bias: Variable | null, layout: 'torch' | 'conv1d' = 'torch'): Variable {
  const torch = layout === 'torch';
  const [inDim, outDim] = torch ? [weight.shape[1], weight.shape[0]] : [weight.shape[0], weight.shape[1]];
  if (weight.ndim !== 2 || x.shape[x.ndim - 1] !== inDim) {
    throw new Error(`linear: input ${fmt(x.shape)} does not fit weight ${fmt(weight.shape)} (${layout} layout: ${torch ? '[out, in]' : '[in, out]'})`);
  }
  if (bias !== null && (bias.ndim !== 1 || bias.shape[0] !== outDim)) {
    throw new Error(`linear: bias ${fmt(bias.shape)} does not match ${outDim} outputs`);
  }
  const outShape = [...x.shape.slice(0, -1), outDim];
  const x2 = x.data.reshape(-1, inDim); // [N, in]
  let y = ops.matmul(x2, weight.data, { transB: torch }); // [N, out]
  if (bias !== null) y = ops.add(y, bias.data);
  const inputs = bias === null ? [x, weight] : [x, weight, bias];
  return record('linear', y.reshape(outShape), inputs, (g, needs) => {
    const g2 = g.reshape(-1, outDim); // [N, out]
    return [
      needs[0] ? ops.matmul(g2, weight.data, { transB: !torch }).reshape(x.shape) : null, // dx = g·W (torch) or g·Wᵀ
      needs[1] ? (torch ? ops.matmul(g2, x2, { transA: true }) : ops.matmul(x2, g2, { transA: true })) : null, // dW = gᵀ·x or xᵀ·g
      needs[2] ? ops.sum(g2, 0) : null,
    ];
  });
}

// -------------------------------------------------------------------------------------------------
// Normalization and attention, fused with hand-written backward kernels

export function softmax(x: Variable, axis = -1): Variable {
  const y = ops.softmax(x.data, axis);
  return record('softmax', y, [x], (g) => [ops.softmaxBackward(y, g, axis)]);
}

export function logSoftmax(x: Variable, axis = -1): Variable {
  const y = ops.logSoftmax(x.data, axis);
  return record('logSoftmax', y, [x], (g) => [ops.logSoftmaxBackward(y, g, axis)]);
}

/** LayerNorm over the last axis; frozen gamma/beta get no gradient kernel work. */
export function layerNorm(x: Variable, weight: Variable, bias: Variable, eps = 1e-5): Variable {
  const saved = ops.layerNorm(x.data, weight.data, bias.data, eps);
  return record('layerNorm', saved.out, [x, weight, bias], (g, [nx, nw, nb]) => {
    const r = ops.layerNormBackward(x.data, weight.data, saved, g, { x: nx, gamma: nw, beta: nb });
    return [r.dx, r.dgamma, r.dbeta];
  });
}

/**
 * Scaled dot-product attention as one op: q, k, v [B, H, T, D] -> [B, H, T, D];
 * softmax(q·kᵀ/√D + causal mask)·v, with the probabilities saved for the backward.
 */
export function attention(q: Variable, k: Variable, v: Variable, options: { causal?: boolean; scale?: number } = {}): Variable {
  const scale = options.scale ?? 1 / Math.sqrt(q.shape[q.ndim - 1]);
  const { out, probs } = ops.attention(q.data, k.data, v.data, { causal: options.causal ?? true, scale });
  return record('attention', out, [q, k, v], (g, [nq, nk, nv]) => {
    const r = ops.attentionBackward(q.data, k.data, v.data, probs, g, { q: nq, k: nk, v: nv }, scale);
    return [r.dq, r.dk, r.dv];
  });
}

/**
 * Mean cross-entropy of logits [..., V] against int32 targets [...], over the targets that are not
 * `ignoreIndex` (PyTorch's reduction='mean'); `reduction: 'sum'` or 'none' as in PyTorch.
 */
export function crossEntropy(
  logits: Variable, targets: Tensor, options: { ignoreIndex?: number; reduction?: 'mean' | 'sum' | 'none' } = {},
): Variable {
  const ignoreIndex = options.ignoreIndex ?? -100;
  const reduction = options.reduction ?? 'mean';
  const saved = ops.crossEntropy(logits.data, targets, ignoreIndex);
  const tc = targets.contiguous().data;
  let counted = 0;
  for (let i = 0; i < tc.length; i++) if (tc[i] !== ignoreIndex) counted++;
  const scale = reduction === 'mean' ? 1 / counted : 1; // mean over zero targets is NaN, as torch
  const out = reduction === 'none' ? saved.loss : ops.mul(ops.sum(saved.loss), scale);
  return record('crossEntropy', out, [logits], (g) => {
    const dloss = reduction === 'none' ? g : ops.mul(g, scale).expand(saved.loss.shape);
    return [ops.crossEntropyBackward(logits.data, targets, saved, dloss, ignoreIndex)];
  });
}

/** Rows of weight [V, C] at int32 ids [...] -> [..., C]; backward scatter-adds into the table. */
export function embedding(weight: Variable, ids: Tensor): Variable {
  return record('embedding', ops.embedding(weight.data, ids), [weight], (g) => [ops.embeddingBackward(g, ids, weight.shape[0])]);
}

/** Inverted dropout: identity when not training or p = 0. */
export function dropout(x: Variable, p: number, training: boolean, generator: Generator = getDefaultGenerator()): Variable {
  if (!training || p === 0) return x;
  const mask = ops.dropoutMask(x.shape, p, x.dtype === 'float64' ? 'float64' : 'float32', generator);
  return record('dropout', ops.mul(x.data, mask), [x], (g) => [ops.mul(g, mask)]);
}
