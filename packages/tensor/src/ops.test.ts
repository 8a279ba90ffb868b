/**
 * Forward values of every op against hand-computed values or small float64 reference implementations
 * written here independently of the kernels (index loops over `get`, no shared code with ops.ts).
 *
 * Runs on the `ref` backend; FPT_TEST_BACKEND=<name> runs the same suite on another registered backend.
 */
import {
  Tensor, tensor, zeros, ones, full, arange, uniform, randn, Generator, ops, setBackend, type NestedArray,
} from './index';

const BACKEND = process.env.FPT_TEST_BACKEND ?? 'ref';
beforeAll(() => setBackend(BACKEND));

// -------------------------------------------------------------------------------------------------
// Helpers: comparison and float64 references

function flat(x: Tensor | NestedArray | ArrayLike<number>): number[] {
  if (x instanceof Tensor) return Array.from(x.toTypedArray());
  if (typeof x === 'number') return [x];
  if (Array.isArray(x)) return (x as NestedArray[]).flatMap((v) => flat(v));
  return Array.from(x as ArrayLike<number>);
}

/** Elementwise |a − e| ≤ atol + rtol·|e|; NaN matches NaN, ±Infinity must match exactly. */
function expectClose(actual: Tensor, expected: Tensor | NestedArray | ArrayLike<number>, tol: { atol?: number; rtol?: number; shape?: readonly number[] } = {}): void {
  const { atol = 1e-6, rtol = 1e-5 } = tol;
  if (tol.shape) expect(actual.shape).toEqual(tol.shape);
  if (expected instanceof Tensor) expect(actual.shape).toEqual(expected.shape);
  const a = flat(actual), e = flat(expected);
  expect(a.length).toBe(e.length);
  const bad: string[] = [];
  for (let i = 0; i < a.length; i++) {
    const ok = Number.isNaN(e[i]) ? Number.isNaN(a[i])
      : !Number.isFinite(e[i]) ? a[i] === e[i]
        : Math.abs(a[i] - e[i]) <= atol + rtol * Math.abs(e[i]);
    if (!ok && bad.length < 5) bad.push(`[${i}] got ${a[i]}, expected ${e[i]}`);
  }
  expect(bad).toEqual([]);
}

const rand = (shape: number[], seed: number, lo = -2, hi = 2, dtype: 'float32' | 'float64' = 'float32') =>
  uniform(shape, lo, hi, { generator: new Generator(seed), dtype });

const numel = (shape: readonly number[]) => shape.reduce((p, s) => p * s, 1);

/** All multi-indices of a shape in row-major order. */
function indices(shape: readonly number[]): number[][] {
  const out: number[][] = [];
  const n = numel(shape);
  for (let i = 0; i < n; i++) {
    const idx: number[] = [];
    let r = i;
    for (let d = shape.length - 1; d >= 0; d--) { idx.unshift(r % shape[d]); r = Math.floor(r / shape[d]); }
    out.push(idx);
  }
  return out;
}

/** Element of `t` at an index of a (larger) broadcast shape: align trailing dims, size-1 dims read 0. */
function getB(t: Tensor, idx: number[]): number {
  const lead = idx.length - t.ndim;
  return t.get(...t.shape.map((s, d) => (s === 1 ? 0 : idx[d + lead])));
}

function refBroadcast(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1, y = b[b.length - n + i] ?? 1;
    out.push(x === 1 ? y : x);
  }
  return out;
}

function refBinary(a: Tensor, b: Tensor, f: (x: number, y: number) => number): Tensor {
  const shape = refBroadcast(a.shape, b.shape);
  return tensor(indices(shape).map((idx) => f(getB(a, idx), getB(b, idx))), shape, { dtype: 'float64' });
}

function refUnary(a: Tensor, f: (x: number) => number): Tensor {
  return tensor(indices(a.shape).map((idx) => f(a.get(...idx))), [...a.shape], { dtype: 'float64' });
}

/** Reduce `axes` with (acc, x) => acc; keepdim keeps size-1 dims. */
function refReduce(a: Tensor, axes: number[], keepdim: boolean, init: number, f: (acc: number, x: number) => number): Tensor {
  const ax = axes.map((x) => (x < 0 ? x + a.ndim : x));
  const outShape = a.shape.map((s, d) => (ax.includes(d) ? 1 : s));
  const acc = new Float64Array(numel(outShape)).fill(init);
  const strides = outShape.map((_, d) => numel(outShape.slice(d + 1)));
  for (const idx of indices(a.shape)) {
    let o = 0;
    idx.forEach((i, d) => { if (!ax.includes(d)) o += i * strides[d]; });
    acc[o] = f(acc[o], a.get(...idx));
  }
  const shape = keepdim ? outShape : a.shape.filter((_, d) => !ax.includes(d));
  return tensor(acc, shape, { dtype: 'float64' });
}

/** C = A·B over [..., M, K] x [..., K, N] with broadcast batch dims, in float64 loops. */
function refMatmul(a: Tensor, b: Tensor): Tensor {
  const M = a.shape[a.ndim - 2], K = a.shape[a.ndim - 1], N = b.shape[b.ndim - 1];
  const batch = refBroadcast(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const out: number[] = [];
  for (const bi of indices(batch)) {
    for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
      let acc = 0;
      for (let k = 0; k < K; k++) acc += getB(a, [...bi, m, k]) * getB(b, [...bi, k, n]);
      out.push(acc);
    }
  }
  return tensor(out, [...batch, M, N], { dtype: 'float64' });
}

/** Softmax over the last axis of rows, in float64. */
function refSoftmaxRows(rows: number[][]): number[][] {
  return rows.map((r) => {
    const m = Math.max(...r);
    const e = r.map((x) => Math.exp(x - m));
    const s = e.reduce((p, x) => p + x, 0);
    return e.map((x) => x / s);
  });
}

const gelu = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));

// -------------------------------------------------------------------------------------------------

describe('elementwise unary ops', () => {
  const x = tensor([-3, -1.5, -0.25, 0, 0.5, 1, 2.5, 20]);
  const cases: [string, (t: Tensor) => Tensor, (v: number) => number][] = [
    ['neg', ops.neg, (v) => -v],
    ['exp', ops.exp, Math.exp],
    ['tanh', ops.tanh, Math.tanh],
    ['sigmoid', ops.sigmoid, (v) => 1 / (1 + Math.exp(-v))],
    ['relu', ops.relu, (v) => Math.max(v, 0)],
    ['gelu', ops.gelu, gelu],
    ['abs', ops.abs, Math.abs],
    ['square', ops.square, (v) => v * v],
    ['sign', ops.sign, Math.sign],
  ];
  test.each(cases)('%s against Math', (_, op, f) => {
    expectClose(op(x), refUnary(x, f), { rtol: 2e-6 });
  });

  test('log, sqrt, reciprocal on positive inputs; edge values', () => {
    const p = tensor([1e-3, 0.5, 1, 4, 1e4]);
    expectClose(ops.log(p), refUnary(p, Math.log), { rtol: 2e-6 });
    expectClose(ops.sqrt(p), refUnary(p, Math.sqrt), { rtol: 2e-6 });
    expectClose(ops.reciprocal(p), refUnary(p, (v) => 1 / v), { rtol: 2e-6 });
    expectClose(ops.log(tensor([0, -1])), [-Infinity, NaN]);
    expectClose(ops.sqrt(tensor([-1])), [NaN]);
    expectClose(ops.reciprocal(tensor([0])), [Infinity]);
  });

  test('known values of GPT-2 gelu (tanh approximation, torch gelu(approximate="tanh"))', () => {
    expectClose(ops.gelu(tensor([1, -1, 0, 3])), [0.8411920, -0.1588080, 0, 2.9963627], { atol: 1e-6 });
  });

  test('sigmoid and tanh saturate without overflow', () => {
    expectClose(ops.sigmoid(tensor([-1000, 1000, 0])), [0, 1, 0.5]);
    expectClose(ops.tanh(tensor([-1000, 1000])), [-1, 1]);
    expectClose(ops.exp(tensor([1000, -1000])), [Infinity, 0]);
  });

  test('NaN propagates through every unary op', () => {
    const n = tensor([NaN]);
    for (const op of [ops.neg, ops.exp, ops.log, ops.sqrt, ops.tanh, ops.sigmoid, ops.relu, ops.gelu, ops.abs, ops.square, ops.sign]) {
      expect(Number.isNaN(op(n).item())).toBe(true);
    }
  });

  test('non-contiguous and int32 inputs give contiguous float outputs of the view shape', () => {
    const t = rand([3, 4], 1);
    const v = t.transpose().slice(0, 1, 4, 2); // [2, 3]
    const y = ops.exp(v);
    expect(y.shape).toEqual([2, 3]);
    expect(y.isContiguous()).toBe(true);
    expectClose(y, refUnary(v, Math.exp), { rtol: 2e-6 });
    const i = tensor([-2, 3], { dtype: 'int32' });
    expect(ops.relu(i).dtype).toBe('float32');
    expectClose(ops.relu(i), [0, 3]);
    expect(ops.exp(zeros([0, 3])).shape).toEqual([0, 3]);
  });

  test('float64 stays float64', () => {
    const d = tensor([0.1], { dtype: 'float64' });
    expect(ops.exp(d).dtype).toBe('float64');
    expect(ops.exp(d).item()).toBe(Math.exp(0.1));
  });
});

describe('elementwise binary ops and broadcasting', () => {
  const fns: [string, (a: Tensor | number, b: Tensor | number) => Tensor, (x: number, y: number) => number][] = [
    ['add', ops.add, (x, y) => x + y],
    ['sub', ops.sub, (x, y) => x - y],
    ['mul', ops.mul, (x, y) => x * y],
    ['div', ops.div, (x, y) => x / y],
    ['maximum', ops.maximum, Math.max],
    ['minimum', ops.minimum, Math.min],
  ];
  const shapePairs: [number[], number[]][] = [
    [[2, 3], [2, 3]], // same
    [[], [2, 3]], // 0-d
    [[2, 3], []],
    [[3], [2, 3]], // leading dims
    [[2, 1, 4], [3, 1]], // size-1 dims on both sides -> [2,3,4]
    [[1, 3, 1], [2, 1, 5]], // -> [2,3,5]
    [[4, 1], [1]], // [1] against anything
    [[1], [0]], // empty result
    [[0, 3], [1, 3]],
  ];
  test.each(fns)('%s over broadcast shape pairs', (_, op, f) => {
    shapePairs.forEach(([sa, sb], i) => {
      const a = rand(sa, 10 + i), b = rand(sb, 20 + i, 0.5, 2);
      const out = op(a, b);
      expect(out.shape).toEqual(refBroadcast(sa, sb));
      expectClose(out, refBinary(a, b, f), { rtol: 2e-6 });
    });
  });

  test('pow: integer, fractional and negative exponents; broadcasting exponent', () => {
    const a = tensor([[0.5, 1, 2], [3, 4, 9]]);
    expectClose(ops.pow(a, 2), refUnary(a, (v) => v * v));
    expectClose(ops.pow(a, 0.5), refUnary(a, Math.sqrt), { rtol: 2e-6 });
    expectClose(ops.pow(a, tensor([[-1], [3]])), [[2, 1, 0.5], [27, 64, 729]]);
    expectClose(ops.pow(2, tensor([0, 1, 10])), [1, 2, 1024]);
    expectClose(ops.pow(tensor([-8, 0, NaN]), tensor([1 / 3, 0, 0])), [NaN, 1, 1]); // as Math.pow / torch
  });

  test('number operands on either side', () => {
    const a = tensor([1, 2, 3]);
    expectClose(ops.sub(10, a), [9, 8, 7]);
    expectClose(ops.div(a, 2), [0.5, 1, 1.5]);
    expectClose(ops.add(a, -1), [0, 1, 2]);
    expect(ops.add(1, 2).shape).toEqual([]);
  });

  test('non-contiguous operands: transposed, stepped slice, expanded', () => {
    const base = rand([4, 6], 3);
    const a = base.transpose().slice(0, 0, 6, 2); // [3, 4], strides [2, 6]
    const b = rand([4], 4).unsqueeze(0).expand(3, 4); // stride 0 rows
    const c = rand([5, 3, 4], 5).slice(0, 1, 5, 3).select(0, 1); // [3, 4] with offset
    expectClose(ops.mul(a, b), refBinary(a, b, (x, y) => x * y));
    expectClose(ops.sub(a, c), refBinary(a, c, (x, y) => x - y));
    expectClose(ops.add(a.unsqueeze(0), c.unsqueeze(1)), refBinary(a.unsqueeze(0), c.unsqueeze(1), (x, y) => x + y), { shape: [3, 3, 4] });
  });

  test('dtypes: float64 wins, int32 computes as float32', () => {
    const f = tensor([1.5]), d = tensor([0.1], { dtype: 'float64' }), i = tensor([3], { dtype: 'int32' });
    expect(ops.add(f, d).dtype).toBe('float64');
    expect(ops.add(f, d).item()).toBe(1.5 + 0.1);
    expect(ops.add(i, f).dtype).toBe('float32');
    expect(ops.mul(i, i).dtype).toBe('float32');
    expect(ops.div(i, tensor([2], { dtype: 'int32' })).item()).toBe(1.5);
    expect(ops.add(d, 1).dtype).toBe('float64');
  });

  test('maximum/minimum propagate NaN from either side; ±inf behave', () => {
    expectClose(ops.maximum(tensor([NaN, 1, 2, -Infinity]), tensor([1, NaN, Infinity, 0])), [NaN, NaN, Infinity, 0]);
    expectClose(ops.minimum(tensor([NaN, 1, 2, -Infinity]), tensor([1, NaN, Infinity, 0])), [NaN, NaN, 2, -Infinity]);
  });

  test('arithmetic with inf and NaN follows IEEE', () => {
    expectClose(ops.add(tensor([Infinity, Infinity, NaN]), tensor([-Infinity, 1, 0])), [NaN, Infinity, NaN]);
    expectClose(ops.div(tensor([1, -1, 0]), tensor([0, 0, 0])), [Infinity, -Infinity, NaN]);
  });

  test('comparisons give 0/1 floats, broadcast, and treat NaN as unordered', () => {
    const a = tensor([[1, 2, 3]]), b = tensor([[2], [1]]);
    expectClose(ops.eq(a, b), [[0, 1, 0], [1, 0, 0]]);
    expectClose(ops.ne(a, b), [[1, 0, 1], [0, 1, 1]]);
    expectClose(ops.lt(a, b), [[1, 0, 0], [0, 0, 0]]);
    expectClose(ops.le(a, b), [[1, 1, 0], [1, 0, 0]]);
    expectClose(ops.gt(a, b), [[0, 0, 1], [0, 1, 1]]);
    expectClose(ops.ge(a, b), [[0, 1, 1], [1, 1, 1]]);
    expect(ops.eq(a, b).dtype).toBe('float32');
    const n = tensor([NaN]);
    expect([ops.eq(n, n), ops.lt(n, 1), ops.le(n, 1), ops.gt(n, 1), ops.ge(n, 1)].map((t) => t.item())).toEqual([0, 0, 0, 0, 0]);
    expect(ops.ne(n, n).item()).toBe(1);
    expectClose(ops.gt(tensor([-0]), tensor([0])), [0]);
    expectClose(ops.eq(tensor([-0]), 0), [1]);
  });
});

describe('where, maskedFill', () => {
  test('where broadcasts cond, a and b together; cond of any dtype', () => {
    const cond = tensor([[1], [0]], { dtype: 'int32' });
    const a = tensor([1, 2, 3]), b = tensor([[10, 20, 30], [40, 50, 60]]);
    expectClose(ops.where(cond, a, b), [[1, 2, 3], [40, 50, 60]]);
    expectClose(ops.where(tensor([0.5, 0, -1]), 7, -7), [7, -7, 7]);
    expectClose(ops.where(tensor([1, 0]), tensor([[1, 2], [3, 4]]).transpose(), 0), [[1, 0], [2, 0]]);
    expect(ops.where(tensor([1]), tensor([1], { dtype: 'float64' }), 0).dtype).toBe('float64');
  });

  test('where does not leak NaN or inf from the unselected branch', () => {
    expectClose(ops.where(tensor([1, 0]), tensor([1, NaN]), tensor([Infinity, 2])), [1, 2]);
  });

  test('where with NaN as the condition counts as true (non-zero)', () => {
    expectClose(ops.where(tensor([NaN]), 1, 2), [1]);
  });

  test('maskedFill: -inf masks, broadcast mask, input shape kept', () => {
    const x = arange(6).reshape(2, 3);
    const causal = tensor([[0, 1, 1]]);
    expectClose(ops.maskedFill(x, causal, -Infinity), [[0, -Infinity, -Infinity], [3, -Infinity, -Infinity]]);
    expectClose(ops.maskedFill(x.transpose(), tensor([[1], [0], [0]]), 9), [[9, 9], [1, 4], [2, 5]]);
  });
});

describe('reductions', () => {
  const x = rand([2, 3, 4], 7);
  const axesCases: number[][] = [[0], [1], [2], [-1], [0, 1], [0, 2], [1, 2], [0, 1, 2], [-1, 0]];
  test.each(axesCases.map((a) => [a]))('sum/mean/max/min over axes %p with and without keepdim', (axes) => {
    for (const keepdim of [false, true]) {
      const n = axes.reduce((p, a) => p * x.shape[a < 0 ? a + 3 : a], 1);
      expectClose(ops.sum(x, axes, keepdim), refReduce(x, axes, keepdim, 0, (a, v) => a + v), { rtol: 1e-5, atol: 1e-5 });
      expectClose(ops.mean(x, axes, keepdim), refReduce(x, axes, keepdim, 0, (a, v) => a + v / n), { atol: 1e-6 });
      expectClose(ops.max(x, axes, keepdim), refReduce(x, axes, keepdim, -Infinity, Math.max));
      expectClose(ops.min(x, axes, keepdim), refReduce(x, axes, keepdim, Infinity, Math.min));
    }
  });

  test('a single axis as a number, all axes by default, on a non-contiguous view', () => {
    const v = x.permute(2, 0, 1).slice(0, 1, 4, 2); // [2, 2, 3]
    expectClose(ops.sum(v, 0), refReduce(v, [0], false, 0, (a, b) => a + b), { atol: 1e-6 });
    expectClose(ops.sum(v, -1, true), refReduce(v, [2], true, 0, (a, b) => a + b), { atol: 1e-6 });
    const all = ops.sum(v);
    expect(all.shape).toEqual([]);
    expect(all.item()).toBeCloseTo(flat(v).reduce((p, q) => p + q, 0), 5);
    expect(ops.max(v).item()).toBe(Math.max(...flat(v)));
    expect(ops.mean(v, undefined, true).shape).toEqual([1, 1, 1]);
    // expanded (stride-0) input
    const e = tensor([1, 2, 3]).expand(4, 3);
    expectClose(ops.sum(e, 0), [4, 8, 12]);
  });

  test('exact sums of known values, 0-d input, size-1 dims', () => {
    const t = arange(1, 7).reshape(2, 3);
    expectClose(ops.sum(t, 1), [6, 15]);
    expectClose(ops.sum(t, 0, true), [[5, 7, 9]]);
    expectClose(ops.mean(t, 1), [2, 5]);
    expectClose(ops.max(t, 0), [4, 5, 6]);
    expect(ops.sum(tensor(3)).item()).toBe(3);
    expectClose(ops.sum(ones([1, 3, 1]), 0), [[1], [1], [1]]);
  });

  test('empty dims: sum gives 0, mean NaN, max throws', () => {
    const e = zeros([2, 0]);
    expectClose(ops.sum(e, 1), [0, 0]);
    expect(ops.sum(e, 0).shape).toEqual([0]);
    expectClose(ops.mean(e, 1), [NaN, NaN]);
    expect(() => ops.max(e, 1)).toThrow('max: cannot reduce an empty dimension (axis 1 of [2,0])');
    expect(ops.max(e, 0).shape).toEqual([0]);
  });

  test('NaN: sum and max propagate it; max ignores -inf', () => {
    const t = tensor([[1, NaN, 3], [-Infinity, -Infinity, -5], [-Infinity, -Infinity, -Infinity]]);
    expectClose(ops.sum(t, 1), [NaN, -Infinity, -Infinity]);
    expectClose(ops.max(t, 1), [NaN, -5, -Infinity]);
    expectClose(ops.min(t, 1), [NaN, -Infinity, -Infinity]);
    expectClose(ops.max(tensor([NaN, 5]), 0), [NaN]);
    expectClose(ops.max(tensor([5, NaN]), 0), [NaN]);
  });

  test('int32 inputs reduce to float', () => {
    const i = tensor([1, 2, 4], { dtype: 'int32' });
    expect(ops.sum(i).dtype).toBe('float32');
    expect(ops.sum(i).item()).toBe(7);
    expect(ops.mean(i).item()).toBeCloseTo(7 / 3, 6);
  });

  test('variance: unbiased by default, biased on request, any axes, keepdim', () => {
    const refVar = (t: Tensor, axes: number[], unbiased: boolean, keepdim: boolean) => {
      const n = axes.reduce((p, a) => p * t.shape[a], 1);
      const m = refReduce(t, axes, true, 0, (a, v) => a + v / n);
      const d2 = refBinary(t, m, (a, b) => (a - b) ** 2);
      return refReduce(d2, axes, keepdim, 0, (a, v) => a + v / (unbiased ? n - 1 : n));
    };
    for (const axes of [[0], [2], [0, 2], [0, 1, 2]]) {
      for (const unbiased of [true, false]) {
        for (const keepdim of [false, true]) {
          expectClose(ops.variance(x, axes, keepdim, unbiased), refVar(x, axes, unbiased, keepdim), { atol: 1e-6, rtol: 1e-5 });
        }
      }
    }
    expectClose(ops.variance(tensor([1, 2, 3, 4])), [5 / 3]);
    expectClose(ops.variance(tensor([1, 2, 3, 4]), 0, false, false), [1.25]);
    expectClose(ops.variance(tensor([[2, 4]]), 0), [NaN, NaN]); // one sample, unbiased: 0/0
    expectClose(ops.variance(full([5], 3)), [0]);
  });

  test('argmax: first index on ties, NaN wins, any axis, keepdim, non-contiguous', () => {
    const t = tensor([[1, 3, 3, 2], [NaN, 5, 7, 7], [-Infinity, -Infinity, -Infinity, -Infinity], [0, 1, NaN, 9]]);
    const am = ops.argmax(t, 1);
    expect(am.dtype).toBe('int32');
    expect(Array.from(am.data)).toEqual([1, 0, 0, 2]);
    expect(ops.argmax(t, -1, true).shape).toEqual([4, 1]);
    expect(Array.from(ops.argmax(t, 0).contiguous().data)).toEqual([1, 1, 3, 3]);
    const v = x.permute(2, 1, 0); // [4, 3, 2]
    const got = ops.argmax(v, 1);
    for (const [i, k] of indices([4, 2])) {
      const col = [0, 1, 2].map((j) => v.get(i, j, k));
      expect(got.get(i, k)).toBe(col.indexOf(Math.max(...col)));
    }
    expect(ops.argmax(tensor([4, 4, 4])).item()).toBe(0);
  });
});

describe('sumToShape (the backward of broadcasting)', () => {
  test('sums leading dims and size-1 dims', () => {
    const g = arange(24).reshape(2, 3, 4);
    expectClose(ops.sumToShape(g, [3, 4]), refReduce(g, [0], false, 0, (a, v) => a + v));
    expectClose(ops.sumToShape(g, [3, 1]), refReduce(refReduce(g, [0], false, 0, (a, v) => a + v), [1], true, 0, (a, v) => a + v));
    expectClose(ops.sumToShape(g, [1, 1, 4]), refReduce(g, [0, 1], true, 0, (a, v) => a + v));
    expect(ops.sumToShape(g, []).item()).toBe(276);
    expect(ops.sumToShape(g, [2, 3, 4])).toBe(g);
    expect(() => ops.sumToShape(g, [2, 4])).toThrow('sumToShape: [2,3,4] does not broadcast from [2,4]');
  });
});

describe('matmul', () => {
  test('2-d against a hand-computed product', () => {
    const a = tensor([[1, 2], [3, 4], [5, 6]]), b = tensor([[1, 0, -1], [2, 1, 0]]);
    expectClose(ops.matmul(a, b), [[5, 2, -1], [11, 4, -3], [17, 6, -5]]);
  });

  test('1-d operands are promoted and the added dim removed (torch semantics)', () => {
    const v = tensor([1, 2, 3]);
    const m = tensor([[1, 2], [3, 4], [5, 6]]);
    const dot = ops.matmul(v, v);
    expect(dot.shape).toEqual([]);
    expect(dot.item()).toBe(14);
    expectClose(ops.matmul(v, m), [22, 28], { shape: [2] });
    expectClose(ops.matmul(m.transpose(), v), [22, 28], { shape: [2] });
    const batch = rand([2, 3, 4], 1);
    expectClose(ops.matmul(v, batch), refMatmul(v.unsqueeze(0), batch).squeeze(1), { shape: [2, 4] });
    const w = tensor([1, -1, 2, 0.5]);
    expectClose(ops.matmul(batch, w), refMatmul(batch, w.unsqueeze(1)).squeeze(2), { shape: [2, 3] });
  });

  test('batched and broadcast batch dims', () => {
    const a = rand([2, 3, 4], 1), b = rand([2, 4, 5], 2);
    expectClose(ops.matmul(a, b), refMatmul(a, b), { shape: [2, 3, 5] });
    const c = rand([2, 1, 3, 4], 3), d = rand([5, 4, 6], 4);
    expectClose(ops.matmul(c, d), refMatmul(c, d), { shape: [2, 5, 3, 6] });
    const e = rand([3, 4], 5), f = rand([3, 2, 4, 2], 6);
    expectClose(ops.matmul(e, f), refMatmul(e, f), { shape: [3, 2, 3, 2] });
  });

  test('transA / transB read the transposed operand in place', () => {
    const a = rand([2, 4, 3], 1), b = rand([2, 5, 4], 2);
    const expected = refMatmul(a.transpose(), b.transpose());
    expectClose(ops.matmul(a, b, { transA: true, transB: true }), expected, { shape: [2, 3, 5] });
    expectClose(ops.matmul(a, b.transpose(), { transA: true }), expected);
    expectClose(ops.matmul(a.transpose(), b, { transB: true }), expected);
  });

  test('non-contiguous views: transposed, stepped, offset, stride-0 batch', () => {
    const big = rand([6, 8], 9);
    const a = big.slice(0, 1, 6, 2).slice(1, 0, 8, 2); // [3, 4], strides [16, 2], offset 8
    const b = big.transpose().slice(0, 2, 6); // [4, 6], strides [1, 8]
    expectClose(ops.matmul(a, b), refMatmul(a, b), { shape: [3, 6] });
    const ab = a.unsqueeze(0).expand(3, 3, 4); // batch stride 0
    const bb = rand([3, 6, 4], 10).transpose(); // [3, 4, 6]
    expectClose(ops.matmul(ab, bb), refMatmul(ab, bb), { shape: [3, 3, 6] });
    const perm = rand([4, 2, 3], 11).permute(1, 2, 0); // [2, 3, 4], no unit stride at all
    expectClose(ops.matmul(perm, bb.select(0, 1)), refMatmul(perm, bb.select(0, 1)));
  });

  test('K = 0 gives zeros; M = 0, N = 0 or batch = 0 give empty results', () => {
    expectClose(ops.matmul(zeros([3, 0]), zeros([0, 2])), [[0, 0], [0, 0], [0, 0]]);
    expect(ops.matmul(zeros([0, 4]), zeros([4, 2])).shape).toEqual([0, 2]);
    expect(ops.matmul(zeros([3, 4]), zeros([4, 0])).shape).toEqual([3, 0]);
    expect(ops.matmul(zeros([0, 3, 4]), zeros([4, 2])).shape).toEqual([0, 3, 2]);
    expect(ops.matmul(zeros([0]), zeros([0])).item()).toBe(0);
  });

  test('sizes 1, 3, 17, 65 in every combination of M, K, N', () => {
    const sizes = [1, 3, 17, 65];
    let seed = 100;
    for (const M of sizes) for (const K of sizes) for (const N of sizes) {
      const a = rand([M, K], seed++), b = rand([K, N], seed++);
      // flat float64 reference (faster than get() for the big ones)
      const A = flat(a), B = flat(b);
      const ref = new Float64Array(M * N);
      for (let m = 0; m < M; m++) for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) ref[m * N + n] += A[m * K + k] * B[k * N + n];
      expectClose(ops.matmul(a, b), ref, { atol: 1e-5 * Math.sqrt(K), rtol: 1e-5 });
    }
  });

  test('float64 operands give float64 products to double precision; mixed dtypes promote', () => {
    const a = rand([5, 7], 1, -1, 1, 'float64'), b = rand([7, 3], 2, -1, 1, 'float64');
    const c = ops.matmul(a, b);
    expect(c.dtype).toBe('float64');
    expectClose(c, refMatmul(a, b), { atol: 1e-14, rtol: 1e-13 });
    expect(ops.matmul(a, b.float()).dtype).toBe('float64');
  });
});

describe('softmax and logSoftmax', () => {
  test('against a float64 reference over the last axis; rows sum to 1', () => {
    const x = rand([4, 7], 3, -5, 5);
    const rows = x.toArray() as number[][];
    const ref = refSoftmaxRows(rows);
    const y = ops.softmax(x);
    expectClose(y, ref, { rtol: 1e-5, atol: 1e-7 });
    expectClose(ops.sum(y, -1), [1, 1, 1, 1], { atol: 1e-6 });
    expectClose(ops.logSoftmax(x), ref.map((r) => r.map(Math.log)), { atol: 1e-5 });
  });

  test('large logits (±1e4) are stable: shift invariance', () => {
    const base = [0, 1, -1, 0.5];
    const ref = refSoftmaxRows([base])[0];
    for (const shift of [1e4, -1e4]) {
      const x = tensor(base.map((v) => v + shift), { dtype: 'float64' });
      expectClose(ops.softmax(x), ref, { atol: 1e-12 });
      expectClose(ops.logSoftmax(x), ref.map(Math.log), { atol: 1e-9 });
    }
    expectClose(ops.softmax(tensor([1e4, 0])), [1, 0]);
    expectClose(ops.logSoftmax(tensor([1e4, 0])), [0, -1e4]);
  });

  test('-inf masks give exact zeros (softmax) and -inf (logSoftmax)', () => {
    const x = tensor([[0, -Infinity, 1], [-Infinity, 2, -Infinity]]);
    const e = Math.E;
    expectClose(ops.softmax(x), [[1 / (1 + e), 0, e / (1 + e)], [0, 1, 0]]);
    expectClose(ops.logSoftmax(x), [[-Math.log(1 + e), -Infinity, 1 - Math.log(1 + e)], [-Infinity, 0, -Infinity]]);
  });

  test('a row of all -inf gives NaN (as PyTorch), other rows unaffected', () => {
    const x = tensor([[-Infinity, -Infinity], [0, 0]]);
    expectClose(ops.softmax(x), [[NaN, NaN], [0.5, 0.5]]);
    expectClose(ops.logSoftmax(x), [[NaN, NaN], [-Math.LN2, -Math.LN2]]);
  });

  test('NaN in a row makes that row NaN; +inf gives NaN where x = inf', () => {
    const x = tensor([[1, NaN, 2], [3, 4, 5]]);
    const ref = refSoftmaxRows([[3, 4, 5]])[0];
    expectClose(ops.softmax(x), [[NaN, NaN, NaN], ref]);
    expectClose(ops.logSoftmax(x), [[NaN, NaN, NaN], ref.map(Math.log)], { atol: 1e-6 });
  });

  test('non-last axis and non-contiguous input', () => {
    const x = rand([3, 4, 5], 8, -3, 3);
    for (const axis of [0, 1, -3]) {
      const y = ops.softmax(x, axis);
      expect(y.shape).toEqual([3, 4, 5]);
      // reference: move the axis last, softmax rows, compare element by element
      const ax = axis < 0 ? axis + 3 : axis;
      for (const idx of indices([3, 4, 5])) {
        const row = [...Array(x.shape[ax]).keys()].map((j) => { const k = [...idx]; k[ax] = j; return x.get(...k); });
        const p = refSoftmaxRows([row])[0][idx[ax]];
        expect(Math.abs(y.get(...idx) - p)).toBeLessThan(1e-6);
        expect(Math.abs(ops.logSoftmax(x, axis).get(...idx) - Math.log(p))).toBeLessThan(1e-5);
      }
      expectClose(ops.sum(y, axis), ones(x.shape.filter((_, d) => d !== ax)), { atol: 1e-6 });
    }
    const v = x.permute(2, 0, 1).slice(1, 1); // [5, 2, 4]
    expectClose(ops.softmax(v, -1), refSoftmaxRows(flat(v.contiguous()).reduce<number[][]>((rs, val, i) => {
      if (i % 4 === 0) rs.push([]);
      rs[rs.length - 1].push(val);
      return rs;
    }, [])), { atol: 1e-6 });
  });

  test('0-d, size-1 and empty inputs', () => {
    expect(ops.softmax(tensor(3)).item()).toBe(1);
    expect(ops.softmax(tensor(3)).shape).toEqual([]);
    expectClose(ops.softmax(tensor([[5], [-5]])), [[1], [1]]);
    expectClose(ops.logSoftmax(tensor([[5]])), [[0]]);
    expect(ops.softmax(zeros([0, 3])).shape).toEqual([0, 3]);
  });

  test('softmaxBackward and logSoftmaxBackward kernels against their formulas, on a non-last axis', () => {
    const x = rand([3, 4], 2), dy = rand([3, 4], 3);
    for (const axis of [-1, 0]) {
      const y = ops.softmax(x, axis);
      const dot = ops.sum(ops.mul(dy, y), axis, true);
      expectClose(ops.softmaxBackward(y, dy, axis), ops.mul(y, ops.sub(dy, dot)), { atol: 1e-6 });
      const ly = ops.logSoftmax(x, axis);
      expectClose(ops.logSoftmaxBackward(ly, dy, axis), ops.sub(dy, ops.mul(ops.exp(ly), ops.sum(dy, axis, true))), { atol: 1e-6 });
    }
  });
});

describe('layerNorm', () => {
  function refLayerNorm(x: Tensor, g: Tensor, b: Tensor, eps: number): { out: number[][]; mean: number[]; rstd: number[] } {
    const C = x.shape[x.ndim - 1];
    const rows = (x.reshape(-1, C).toArray() as number[][]);
    const mean: number[] = [], rstd: number[] = [];
    const out = rows.map((r) => {
      const m = r.reduce((p, v) => p + v, 0) / C;
      const v = r.reduce((p, u) => p + (u - m) ** 2, 0) / C;
      const s = 1 / Math.sqrt(v + eps);
      mean.push(m);
      rstd.push(s);
      return r.map((u, c) => (u - m) * s * g.get(c) + b.get(c));
    });
    return { out, mean, rstd };
  }

  test('against a float64 reference, with saved mean and rstd; non-contiguous input', () => {
    const x = rand([2, 3, 6], 4, -3, 3), g = rand([6], 5), b = rand([6], 6);
    for (const input of [x, x.transpose(0, 1)]) {
      const r = ops.layerNorm(input, g, b, 1e-5);
      const ref = refLayerNorm(input, g, b, 1e-5);
      expect(r.out.shape).toEqual(input.shape);
      expectClose(r.out.reshape(-1, 6), ref.out, { atol: 1e-5 });
      expectClose(r.mean, ref.mean, { atol: 1e-6 });
      expectClose(r.rstd, ref.rstd, { rtol: 1e-5 });
    }
  });

  test('constant rows give beta (variance 0, rstd = 1/sqrt(eps)); eps is used', () => {
    const x = full([2, 4], 3);
    const r = ops.layerNorm(x, ones([4]), tensor([1, 2, 3, 4]), 1e-5);
    expectClose(r.out, [[1, 2, 3, 4], [1, 2, 3, 4]]);
    expectClose(r.rstd, [1 / Math.sqrt(1e-5), 1 / Math.sqrt(1e-5)], { rtol: 1e-5 });
    const y = tensor([[0, 2]]);
    // var = 1: (x - 1)/sqrt(1 + eps)
    expectClose(ops.layerNorm(y, ones([2]), zeros([2]), 0.5).out, [[-1 / Math.sqrt(1.5), 1 / Math.sqrt(1.5)]]);
  });

  test('layerNormBackward computes only what is asked for', () => {
    const x = rand([3, 4], 1), g = rand([4], 2), b = rand([4], 3), dy = rand([3, 4], 4);
    const saved = ops.layerNorm(x, g, b);
    const all = ops.layerNormBackward(x, g, saved, dy, { x: true, gamma: true, beta: true });
    expectClose(all.dbeta!, ops.sum(dy, 0), { atol: 1e-6 });
    const xhat = ops.div(ops.sub(saved.out, b), g);
    expectClose(all.dgamma!, ops.sum(ops.mul(dy, xhat), 0), { atol: 1e-5 });
    const onlyX = ops.layerNormBackward(x, g, saved, dy, { x: true, gamma: false, beta: false });
    expect(onlyX.dgamma).toBeNull();
    expect(onlyX.dbeta).toBeNull();
    expectClose(onlyX.dx!, all.dx!);
    const noX = ops.layerNormBackward(x, g, saved, dy, { x: false, gamma: true, beta: false });
    expect(noX.dx).toBeNull();
    expectClose(noX.dgamma!, all.dgamma!);
  });
});

describe('attention', () => {
  /** softmax(q·kᵀ·scale + mask)·v composed from separate ops (matmul, maskedFill, softmax). */
  function composed(q: Tensor, k: Tensor, v: Tensor, causal: boolean, scale: number): { out: Tensor; probs: Tensor } {
    const T = q.shape[q.ndim - 2];
    let scores = ops.mul(ops.matmul(q, k, { transB: true }), scale);
    if (causal) {
      const mask = tensor(indices([T, T]).map(([t, s]) => (s > t ? 1 : 0)), [T, T]);
      scores = ops.maskedFill(scores, mask, -Infinity);
    }
    const probs = ops.softmax(scores);
    return { out: ops.matmul(probs, v), probs };
  }

  test.each([[true], [false]])('causal=%p matches the composed reference, [B,H,T,D] = [2,3,5,4]', (causal) => {
    const q = rand([2, 3, 5, 4], 1), k = rand([2, 3, 5, 4], 2), v = rand([2, 3, 5, 4], 3);
    const r = ops.attention(q, k, v, { causal });
    const ref = composed(q, k, v, causal, 0.5);
    expect(r.out.shape).toEqual([2, 3, 5, 4]);
    expect(r.probs.shape).toEqual([2, 3, 5, 5]);
    expectClose(r.out, ref.out, { atol: 1e-5 });
    expectClose(r.probs, ref.probs, { atol: 1e-6 });
    if (causal) {
      for (const [b, h, t, s] of indices([2, 3, 5, 5])) if (s > t) expect(r.probs.get(b, h, t, s)).toBe(0);
      expectClose(r.out.select(2, 0), v.select(2, 0), { atol: 1e-6 }); // the first position sees only itself
    }
  });

  test('custom scale, non-contiguous q/k/v, T = 1, default is causal', () => {
    const base = rand([2, 6, 3], 4); // [B, T, 3·D] split into q, k, v with D = 1... use D = 1
    const q = base.narrow(2, 0, 1).unsqueeze(1), k = base.narrow(2, 1, 1).unsqueeze(1), v = base.narrow(2, 2, 1).unsqueeze(1);
    const r = ops.attention(q, k, v, { scale: 0.3, causal: false });
    expectClose(r.out, composed(q, k, v, false, 0.3).out, { atol: 1e-6 });
    const q1 = rand([1, 1, 1, 8], 5), k1 = rand([1, 1, 1, 8], 6), v1 = rand([1, 1, 1, 8], 7);
    expectClose(ops.attention(q1, k1, v1).out, v1, { atol: 1e-7 });
    const q3 = rand([1, 4, 2], 8), k3 = rand([1, 4, 2], 9), v3 = rand([1, 4, 2], 10);
    expectClose(ops.attention(q3, k3, v3).out, composed(q3, k3, v3, true, 1 / Math.SQRT2).out, { atol: 1e-6 });
  });

  test('large scores stay finite (stable softmax inside)', () => {
    const q = full([1, 1, 3, 2], 100), k = rand([1, 1, 3, 2], 1, -100, 100), v = rand([1, 1, 3, 2], 2);
    const r = ops.attention(q, k, v, { causal: false });
    expect(flat(r.out).every(Number.isFinite)).toBe(true);
    expectClose(r.out, composed(q, k, v, false, 1 / Math.SQRT2).out, { atol: 1e-5 });
  });
});

describe('crossEntropy', () => {
  const refCE = (row: number[], target: number) => {
    const m = Math.max(...row);
    return m + Math.log(row.reduce((p, v) => p + Math.exp(v - m), 0)) - row[target];
  };

  test('per-row loss against a float64 reference; ignored rows give 0; 3-d logits', () => {
    const logits = rand([2, 3, 5], 1, -4, 4);
    const targets = tensor([[0, 4, -100], [2, 1, 3]], { dtype: 'int32' });
    const r = ops.crossEntropy(logits, targets);
    expect(r.loss.shape).toEqual([2, 3]);
    const rows = logits.reshape(6, 5).toArray() as number[][];
    const t = flat(targets);
    expectClose(r.loss.reshape(6), rows.map((row, i) => (t[i] === -100 ? 0 : refCE(row, t[i]))), { atol: 1e-5 });
    expect(r.logsumexp.shape).toEqual([6]);
  });

  test('custom ignoreIndex, including a valid class id', () => {
    const logits = tensor([[1, 2, 3], [1, 2, 3]]);
    const targets = tensor([0, 2], { dtype: 'int32' });
    const r = ops.crossEntropy(logits, targets, 0);
    expectClose(r.loss, [0, refCE([1, 2, 3], 2)], { atol: 1e-6 });
    expectClose(ops.crossEntropy(logits, tensor([-1, 1], { dtype: 'int32' }), -1).loss, [0, refCE([1, 2, 3], 1)], { atol: 1e-6 });
  });

  test('stable for large logits, exact for uniform logits', () => {
    const r = ops.crossEntropy(tensor([[1e4, 0, -1e4], [0, 0, 0]]), tensor([1, 2], { dtype: 'int32' }));
    expectClose(r.loss, [1e4, Math.log(3)], { rtol: 1e-6 });
  });

  test('crossEntropyBackward = (softmax − onehot)·dloss, zero on ignored rows', () => {
    const logits = rand([3, 4], 2), targets = tensor([3, -100, 0], { dtype: 'int32' });
    const saved = ops.crossEntropy(logits, targets);
    const dloss = tensor([0.5, 2, -1]);
    const d = ops.crossEntropyBackward(logits, targets, saved, dloss);
    const p = refSoftmaxRows(logits.toArray() as number[][]);
    const expected = p.map((row, n) => row.map((v, c) => (n === 1 ? 0 : (v - (c === flat(targets)[n] ? 1 : 0)) * flat(dloss)[n])));
    expectClose(d, expected, { atol: 1e-6 });
  });

  test('non-contiguous logits', () => {
    const logits = rand([4, 3], 3).transpose(); // [3, 4]
    const targets = tensor([1, 0, 3], { dtype: 'int32' });
    const rows = logits.toArray() as number[][];
    expectClose(ops.crossEntropy(logits, targets).loss, rows.map((r, i) => refCE(r, flat(targets)[i])), { atol: 1e-5 });
  });
});

describe('embedding and oneHot', () => {
  test('gathers rows for ids of any shape, repeated ids, non-contiguous weight', () => {
    const w = arange(12).reshape(4, 3);
    const ids = tensor([[3, 0, 3], [1, 1, 2]], { dtype: 'int32' });
    const e = ops.embedding(w, ids);
    expect(e.shape).toEqual([2, 3, 3]);
    expectClose(e, [[[9, 10, 11], [0, 1, 2], [9, 10, 11]], [[3, 4, 5], [3, 4, 5], [6, 7, 8]]]);
    const wt = arange(12).reshape(3, 4).transpose(); // [4, 3], column-major
    expectClose(ops.embedding(wt, tensor([2], { dtype: 'int32' })), [[2, 6, 10]]);
    expectClose(ops.embedding(w, tensor([2, 0], { dtype: 'int32' }).slice(0, 0, 2, 1)), [[6, 7, 8], [0, 1, 2]]);
    expect(ops.embedding(w, zeros([0], 'int32')).shape).toEqual([0, 3]);
  });

  test('embeddingBackward scatter-adds, accumulating repeated ids', () => {
    const dout = tensor([[1, 1], [2, 2], [4, 4]]);
    const ids = tensor([2, 0, 2], { dtype: 'int32' });
    expectClose(ops.embeddingBackward(dout, ids, 4), [[2, 2], [0, 0], [5, 5], [0, 0]]);
  });

  test('oneHot: values, shape, non-contiguous ids', () => {
    const ids = tensor([[0, 2], [1, 0]], { dtype: 'int32' });
    const o = ops.oneHot(ids, 3);
    expect(o.shape).toEqual([2, 2, 3]);
    expect(o.dtype).toBe('float32');
    expectClose(o, [[[1, 0, 0], [0, 0, 1]], [[0, 1, 0], [1, 0, 0]]]);
    expectClose(ops.oneHot(ids.transpose(), 3), [[[1, 0, 0], [0, 1, 0]], [[0, 0, 1], [1, 0, 0]]]);
  });
});

describe('concat and stack', () => {
  test('concat along each axis, including negative axes and non-contiguous pieces', () => {
    const a = arange(6).reshape(2, 3), b = arange(6, 10).reshape(2, 2), c = arange(10, 16).reshape(3, 2).transpose(); // c: [2,3]
    expectClose(ops.concat([a, b], 1), [[0, 1, 2, 6, 7], [3, 4, 5, 8, 9]]);
    expectClose(ops.concat([a, b, c], -1), [[0, 1, 2, 6, 7, 10, 12, 14], [3, 4, 5, 8, 9, 11, 13, 15]]);
    expectClose(ops.concat([a, c], 0), [[0, 1, 2], [3, 4, 5], [10, 12, 14], [11, 13, 15]]);
    expectClose(ops.concat([a]), a);
    expect(ops.concat([a], 0).data).not.toBe(a.data);
  });

  test('concat with empty pieces and 3-d middle axis', () => {
    const a = arange(8).reshape(2, 2, 2), e = zeros([2, 0, 2]), b = arange(8, 12).reshape(2, 1, 2);
    const r = ops.concat([a, e, b], 1);
    expect(r.shape).toEqual([2, 3, 2]);
    expectClose(r, [[[0, 1], [2, 3], [8, 9]], [[4, 5], [6, 7], [10, 11]]]);
  });

  test('concat dtypes: int32 stays int32; mixed promotes', () => {
    const i = tensor([1, 2], { dtype: 'int32' });
    expect(ops.concat([i, i]).dtype).toBe('int32');
    expect(ops.concat([i, tensor([0.5])]).dtype).toBe('float32');
    expectClose(ops.concat([i, tensor([0.5])]), [1, 2, 0.5]);
    expect(ops.concat([tensor([1]), tensor([1], { dtype: 'float64' })]).dtype).toBe('float64');
  });

  test('stack along a new axis at every position', () => {
    const a = tensor([[1, 2], [3, 4]]), b = tensor([[5, 6], [7, 8]]);
    expectClose(ops.stack([a, b]), [[[1, 2], [3, 4]], [[5, 6], [7, 8]]]);
    expectClose(ops.stack([a, b], 1), [[[1, 2], [5, 6]], [[3, 4], [7, 8]]]);
    expectClose(ops.stack([a, b], -1), [[[1, 5], [2, 6]], [[3, 7], [4, 8]]]);
    expectClose(ops.stack([a.transpose(), b], 2), [[[1, 5], [3, 6]], [[2, 7], [4, 8]]]);
    expectClose(ops.stack([tensor(1), tensor(2)]), [1, 2]);
  });
});

describe('dropoutMask', () => {
  test('seeded: the same generator seed gives the same mask', () => {
    const a = ops.dropoutMask([100], 0.3, 'float32', new Generator(1));
    const b = ops.dropoutMask([100], 0.3, 'float32', new Generator(1));
    expect(flat(a)).toEqual(flat(b));
    expect(flat(ops.dropoutMask([100], 0.3, 'float32', new Generator(2)))).not.toEqual(flat(a));
  });

  test('values are 0 or 1/(1−p); drop rate ≈ p; mean of x·mask ≈ mean of x', () => {
    const p = 0.25;
    const mask = ops.dropoutMask([20000], p, 'float64', new Generator(3));
    const vals = flat(mask);
    expect(vals.every((v) => v === 0 || v === 1 / (1 - p))).toBe(true);
    const dropped = vals.filter((v) => v === 0).length / vals.length;
    expect(Math.abs(dropped - p)).toBeLessThan(0.015);
    const x = rand([20000], 4, 0, 2, 'float64');
    const mx = ops.mean(x).item(), mdrop = ops.mean(ops.mul(x, mask)).item();
    expect(Math.abs(mdrop - mx) / mx).toBeLessThan(0.03);
    expect(mask.dtype).toBe('float64');
  });

  test('p = 0 keeps everything', () => {
    expect(flat(ops.dropoutMask([50], 0, 'float32', new Generator(1))).every((v) => v === 1)).toBe(true);
  });

  test('Generator.bernoulli: two draws per mask whatever its size, independent bits, no repeats between masks', () => {
    const g = new Generator(5), twin = new Generator(5);
    const mask = ops.dropoutMask([1000, 1001], 0.1, 'float32', g);
    twin.random(); twin.random();
    expect(g.random()).toBe(twin.random()); // the stream moved by exactly two draws
    // rates: overall, per element parity, per row (no structure along the counter)
    const v = mask.data;
    let dropped = 0, even = 0;
    for (let i = 0; i < v.length; i++) if (v[i] === 0) { dropped++; if (i % 2 === 0) even++; }
    expect(Math.abs(dropped / v.length - 0.1)).toBeLessThan(0.002);
    expect(Math.abs(even / dropped - 0.5)).toBeLessThan(0.01);
    // neighbours are independent: P(both dropped) ≈ p²
    let both = 0;
    for (let i = 1; i < v.length; i++) if (v[i] === 0 && v[i - 1] === 0) both++;
    expect(Math.abs(both / (v.length - 1) - 0.01)).toBeLessThan(0.001);
    // the next mask is another one, not a shift of this one
    const next = ops.dropoutMask([1000, 1001], 0.1, 'float32', g).data;
    let same = 0;
    for (let i = 0; i < v.length; i++) if ((v[i] === 0) === (next[i] === 0)) same++;
    expect(Math.abs(same / v.length - 0.82)).toBeLessThan(0.003); // p² + (1 − p)² for independent masks
  });
});

describe('randn-based sanity: ops compose as the identities they should', () => {
  test('logSoftmax = log(softmax); layerNorm of a row has mean beta and var gamma²', () => {
    const x = randn([5, 9], { generator: new Generator(11) });
    expectClose(ops.logSoftmax(x), ops.log(ops.softmax(x)), { atol: 2e-6 });
    const g = full([9], 2), b = full([9], 0.5);
    const y = ops.layerNorm(x, g, b).out;
    expectClose(ops.mean(y, -1), full([5], 0.5), { atol: 1e-5 });
    expectClose(ops.variance(y, -1, false, false), full([5], 4), { rtol: 1e-3 });
  });
});
