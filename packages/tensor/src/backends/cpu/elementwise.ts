/**
 * Memory-bound kernels as tight TypeScript loops: strided copy, broadcasting binary ops, where, unary
 * ops, reductions and Adam. These move a few bytes per flop, so WebAssembly would gain nothing over
 * a monomorphic JS loop once the copies in and out of its memory are paid; what makes them fast is
 * avoiding ref's per-element odometer and closure call.
 *
 * Every loop computes exactly what ref computes, in the same order and in JS doubles rounded once on
 * store, so results are bitwise identical to ref.
 *
 * Broadcasting: dims are first collapsed (size-1 dims dropped, neighbours merged when every operand is
 * contiguous across them), so contiguous operands become one flat loop and a row-broadcast bias [C]
 * over [N, C] becomes N rows of a (1, 1) / (1, 0) stride pattern.
 */
import type { AdamArgs, BinaryOp, DataArray, FloatArray, ReduceOp, Strided, UnaryOp } from '../../kernels';
import { binaryFns, unaryFns } from '../ref';

// -------------------------------------------------------------------------------------------------
// Strided iteration by rows

interface Collapsed {
  shape: number[]; // collapsed dims, at least one
  strides: number[][]; // per operand, per collapsed dim
}

/** Merge dims that every operand walks contiguously; drop size-1 dims. */
export function collapse(shape: readonly number[], operands: readonly (readonly number[])[]): Collapsed {
  const dims: number[] = [];
  for (let d = 0; d < shape.length; d++) if (shape[d] !== 1) dims.push(d);
  const outShape: number[] = [];
  const outStrides: number[][] = operands.map(() => []);
  for (const d of dims) {
    const last = outShape.length - 1;
    // dim d merges into the previous kept dim p when stride[p] == stride[d]·shape[d] for all operands
    if (last >= 0 && operands.every((s, j) => outStrides[j][last] === s[d] * shape[d])) {
      outShape[last] *= shape[d];
      operands.forEach((s, j) => { outStrides[j][last] = s[d]; });
    } else {
      outShape.push(shape[d]);
      operands.forEach((s, j) => outStrides[j].push(s[d]));
    }
  }
  if (outShape.length === 0) {
    outShape.push(1);
    operands.forEach((_, j) => outStrides[j].push(0));
  }
  return { shape: outShape, strides: outStrides };
}

/**
 * Call row(outStart, offsets, n, innerStrides) for every innermost row of `shape`, in row-major order;
 * offsets[j] is operand j's offset at the row start.
 */
export function forEachRow(
  shape: readonly number[], operands: readonly Strided[],
  row: (outStart: number, offs: number[], n: number, inner: number[]) => void,
): void {
  let total = 1;
  for (const s of shape) total *= s;
  if (total === 0) return;
  const c = collapse(shape, operands.map((o) => o.strides));
  const nd = c.shape.length;
  const n = c.shape[nd - 1];
  const inner = c.strides.map((s) => s[nd - 1]);
  const offs = operands.map((o) => o.offset);
  const idx = new Array<number>(nd).fill(0);
  for (let start = 0; start < total; start += n) {
    row(start, offs, n, inner);
    for (let d = nd - 2; d >= 0; d--) {
      idx[d]++;
      for (let j = 0; j < offs.length; j++) offs[j] += c.strides[j][d];
      if (idx[d] < c.shape[d]) break;
      for (let j = 0; j < offs.length; j++) offs[j] -= c.strides[j][d] * c.shape[d];
      idx[d] = 0;
    }
  }
}

export function copyStrided(src: Strided, shape: readonly number[], out: DataArray): void {
  const x = src.data;
  forEachRow(shape, [src], (o, offs, n, inner) => {
    const s = inner[0];
    let xo = offs[0];
    if (s === 1) {
      if (n >= 64 && x.constructor === out.constructor) (out as Float32Array).set((x as Float32Array).subarray(xo, xo + n), o);
      else for (let i = 0; i < n; i++) out[o + i] = x[xo + i];
    } else {
      for (let i = 0; i < n; i++, xo += s) out[o + i] = x[xo];
    }
  });
}

// -------------------------------------------------------------------------------------------------
// Binary ops and where

/** out[o + i] = op(x[xo + i·xs], y[yo + i·ys]) for i < n: explicit loops for the arithmetic ops. */
function binaryRow(op: BinaryOp, x: FloatArray, xo: number, xs: number, y: FloatArray, yo: number, ys: number, out: FloatArray, o: number, n: number): void {
  const end = o + n;
  switch (op) {
    case 'add': for (; o < end; o++, xo += xs, yo += ys) out[o] = x[xo] + y[yo]; return;
    case 'sub': for (; o < end; o++, xo += xs, yo += ys) out[o] = x[xo] - y[yo]; return;
    case 'mul': for (; o < end; o++, xo += xs, yo += ys) out[o] = x[xo] * y[yo]; return;
    case 'div': for (; o < end; o++, xo += xs, yo += ys) out[o] = x[xo] / y[yo]; return;
    default: {
      const f = binaryFns[op];
      for (; o < end; o++, xo += xs, yo += ys) out[o] = f(x[xo], y[yo]);
    }
  }
}

export function binary(op: BinaryOp, a: Strided, b: Strided, shape: readonly number[], out: FloatArray): void {
  const x = a.data as FloatArray, y = b.data as FloatArray;
  forEachRow(shape, [a, b], (o, offs, n, inner) => binaryRow(op, x, offs[0], inner[0], y, offs[1], inner[1], out, o, n));
}

export function where(cond: Strided, a: Strided, b: Strided, shape: readonly number[], out: FloatArray): void {
  const c = cond.data, x = a.data, y = b.data;
  forEachRow(shape, [cond, a, b], (o, offs, n, inner) => {
    let co = offs[0], xo = offs[1], yo = offs[2];
    const cs = inner[0], xs = inner[1], ys = inner[2];
    for (let i = 0; i < n; i++, co += cs, xo += xs, yo += ys) out[o + i] = c[co] !== 0 ? x[xo] : y[yo];
  });
}

// -------------------------------------------------------------------------------------------------
// Unary ops (gelu has a SIMD kernel, see nn.ts)

export function unary(op: UnaryOp, x: FloatArray, out: FloatArray): void {
  const n = x.length;
  switch (op) {
    case 'neg': for (let i = 0; i < n; i++) out[i] = -x[i]; return;
    case 'exp': for (let i = 0; i < n; i++) out[i] = Math.exp(x[i]); return;
    case 'log': for (let i = 0; i < n; i++) out[i] = Math.log(x[i]); return;
    case 'sqrt': for (let i = 0; i < n; i++) out[i] = Math.sqrt(x[i]); return;
    case 'tanh': for (let i = 0; i < n; i++) out[i] = Math.tanh(x[i]); return;
    case 'abs': for (let i = 0; i < n; i++) out[i] = Math.abs(x[i]); return;
    case 'square': for (let i = 0; i < n; i++) out[i] = x[i] * x[i]; return;
    case 'reciprocal': for (let i = 0; i < n; i++) out[i] = 1 / x[i]; return;
    default: {
      const f = unaryFns[op];
      for (let i = 0; i < n; i++) out[i] = f(x[i]);
    }
  }
}

// -------------------------------------------------------------------------------------------------
// Reductions: x contiguous [outer, dim, inner] -> out [outer, inner]

export function reduce(op: ReduceOp, x: FloatArray, outer: number, dim: number, inner: number, out: FloatArray): void {
  if (inner === 1) {
    for (let o = 0; o < outer; o++) {
      const base = o * dim;
      if (op === 'sum') {
        let acc = 0;
        for (let d = 0; d < dim; d++) acc += x[base + d];
        out[o] = acc;
      } else {
        out[o] = extreme(op, x, base, dim, 1);
      }
    }
    return;
  }
  // several outputs per outer index: sweep the rows of the [dim, inner] slab in order, so each output
  // still sums its elements in d order (as ref) while memory is read contiguously
  const acc = new Float64Array(inner);
  for (let o = 0; o < outer; o++) {
    const base = o * dim * inner;
    if (op === 'sum') {
      acc.fill(0);
      for (let d = 0; d < dim; d++) {
        const row = base + d * inner;
        for (let i = 0; i < inner; i++) acc[i] += x[row + i];
      }
    } else {
      const isMax = op === 'max';
      acc.fill(isMax ? -Infinity : Infinity);
      for (let d = 0; d < dim; d++) {
        const row = base + d * inner;
        for (let i = 0; i < inner; i++) {
          const a = acc[i], v = x[row + i];
          if (a !== a) continue; // NaN already won
          if (isMax ? v > a || v !== v : v < a || v !== v) acc[i] = v;
        }
      }
    }
    for (let i = 0; i < inner; i++) out[o * inner + i] = acc[i];
  }
}

function extreme(op: 'max' | 'min', x: FloatArray, base: number, dim: number, step: number): number {
  let acc = op === 'max' ? -Infinity : Infinity;
  for (let d = 0; d < dim; d++) {
    const v = x[base + d * step];
    if (acc !== acc) break;
    if (op === 'max' ? v > acc || v !== v : v < acc || v !== v) acc = v;
  }
  return acc;
}

// -------------------------------------------------------------------------------------------------
// Adam / AdamW (same arithmetic as ref, branches hoisted out of the loop)

export function adam(p: AdamArgs): void {
  const { param, grad, m, v, lr, beta1, beta2, eps, weightDecay, decoupled, step } = p;
  const bc1 = 1 - Math.pow(beta1, step);
  const bc2 = 1 - Math.pow(beta2, step);
  const stepSize = lr / bc1;
  const bc2Sqrt = Math.sqrt(bc2);
  const n = param.length;
  const b1c = 1 - beta1, b2c = 1 - beta2;
  if (weightDecay !== 0 && decoupled) {
    const keep = 1 - lr * weightDecay;
    for (let i = 0; i < n; i++) param[i] *= keep;
  }
  const l2 = weightDecay !== 0 && !decoupled ? weightDecay : 0;
  for (let i = 0; i < n; i++) {
    const g = l2 !== 0 ? grad[i] + l2 * param[i] : grad[i];
    m[i] = beta1 * m[i] + b1c * g;
    v[i] = beta2 * v[i] + b2c * g * g;
    param[i] -= (stepSize * m[i]) / (Math.sqrt(v[i]) / bc2Sqrt + eps);
  }
}
