/**
 * Gradcheck (float64 central differences vs backward) for every differentiable op in functional.ts,
 * on broadcast inputs and on non-contiguous views (transposed, stepped slices, stride-0 expands)
 * created inside the checked function so the op under test really receives them.
 */
import { Tensor, tensor, uniform, Generator, setBackend, ops } from '@fpt-ts/tensor';
import { Variable, record, F, gradcheck, type GradcheckOptions } from './index';

beforeAll(() => setBackend('ref'));

let seed = 1;
/** float64 uniform in [lo, hi). */
const r = (shape: number[], lo = -1.5, hi = 1.5) => uniform(shape, lo, hi, { generator: new Generator(seed++), dtype: 'float64' });
/** float64 values with |x| in [0.2, 1.5] (away from the kinks of relu/abs/max at 0). */
const awayFromZero = (shape: number[]) => {
  const t = r(shape, 0.2, 1.5);
  const s = r(shape, -1, 1);
  for (let i = 0; i < t.data.length; i++) if (s.data[i] < 0) t.data[i] = -t.data[i];
  return t;
};
const ids = (xs: number[], shape?: number[]) => tensor(xs, shape ?? [xs.length], { dtype: 'int32' });

/**
 * Every check runs its analytic pass twice, on ref and on cpu (float64: the cpu backend's dispatch and its
 * own TypeScript kernels for elementwise ops, copies and reductions, which take float64 too). The float32
 * fast kernels are checked at the end of this file.
 */
function check(fn: (...xs: Variable[]) => Variable, inputs: Tensor[], options: GradcheckOptions = {}): void {
  for (const backend of ['ref', 'cpu']) {
    const res = gradcheck(fn, inputs, { backend, ...options });
    expect({ backend, failures: res.failures }).toEqual({ backend, failures: [] });
    expect(res.ok).toBe(true);
  }
}

describe('the gradcheck utility', () => {
  test('catches a wrong backward and reports the offending elements', () => {
    const wrongSquare = (x: Variable) => record('wrongSquare', ops.square(x.data), [x], (g) => [g]); // claims d/dx = 1, not 2x
    const res = gradcheck((x) => F.mul(wrongSquare(x), 3), [r([4], 1, 2)]);
    expect(res.ok).toBe(false);
    expect(res.failures.length).toBe(4);
    expect(res.failures[0]).toMatch(/^input 0 element 0: analytic .* vs numeric .*/);
    expect(res.maxAbsError).toBeGreaterThan(0.1);
  });

  test('wrt skips inputs; int inputs are skipped by default', () => {
    const res = gradcheck((x, y) => F.mul(x, y), [r([3]), r([3])], { wrt: [true, false] });
    expect(res.ok).toBe(true);
    const emb = gradcheck((w, i) => F.embedding(w, i.data), [r([4, 2]), ids([1, 3])]);
    expect(emb.ok).toBe(true);
  });
});

describe('elementwise arithmetic with broadcasting', () => {
  const shapes: [number[], number[]][] = [[[2, 3], [2, 3]], [[2, 3, 4], [3, 1]], [[4], [2, 1, 4]], [[], [3, 2]], [[1, 3], [2, 1]]];
  test.each(shapes)('add/sub/mul/div on %p and %p', (sa, sb) => {
    const a = r(sa), b = r(sb, 0.5, 2); // b away from 0 for div
    check((x, y) => F.add(x, y), [a, b]);
    check((x, y) => F.sub(x, y), [a, b]);
    check((x, y) => F.mul(x, y), [a, b]);
    check((x, y) => F.div(x, y), [a, b]);
  });

  test('number operands on either side', () => {
    check((x) => F.add(F.mul(2, x), F.sub(1, F.div(3, F.add(x, 4)))), [r([3, 2])]);
  });

  test('non-contiguous operands (transposed, stepped slice, expanded)', () => {
    check((x, y) => F.mul(F.transpose(x), F.slice(y, 1, 0, 6, 2)), [r([3, 2]), r([2, 6])]);
    check((x, y) => F.div(F.expand(x, [3, 4]), F.permute(y, [1, 0])), [r([4]), r([4, 3], 0.5, 2)]);
  });

  test('pow with respect to both base and exponent, broadcast', () => {
    check((a, b) => F.pow(a, b), [r([2, 3], 0.3, 2), r([3], -2, 2)]);
    check((a) => F.pow(a, 3), [r([5])]);
    check((a) => F.pow(a, -0.5), [r([5], 0.5, 2)]);
    check((b) => F.pow(2, b), [r([4])]);
  });

  test('pow at base 0: gradients are 0 where torch defines them so (no NaN)', () => {
    const a = new Variable(tensor([0, 0, 2], { dtype: 'float64' }), { requiresGrad: true });
    const b = new Variable(tensor([2, 0, 0], { dtype: 'float64' }), { requiresGrad: true });
    F.sum(F.pow(a, b)).backward();
    expect(Array.from(a.grad!.data)).toEqual([0, 0, 0]); // 2·0¹ = 0 ; b = 0 -> 0 ; b = 0 -> 0
    expect(Array.from(b.grad!.data)).toEqual([0, 0, Math.log(2)]); // a = 0, b ≥ 0 -> 0 ; 2⁰·ln 2
  });

  test('neg', () => check((x) => F.neg(F.transpose(x)), [r([2, 3])]));

  test('maximum / minimum, broadcast, and the even split on ties', () => {
    check((a, b) => F.maximum(a, b), [awayFromZero([2, 3]), awayFromZero([3])]);
    check((a, b) => F.minimum(a, b), [awayFromZero([2, 1]), awayFromZero([1, 4])]);
    // at a tie the central difference is exactly 1/2 per side: the even split matches it
    const t = tensor([1, 2, 3], { dtype: 'float64' });
    check((a, b) => F.maximum(a, b), [t, t.clone()]);
    check((a, b) => F.minimum(a, b), [t, tensor([1, 5, -1], { dtype: 'float64' })]);
  });
});

describe('elementwise functions', () => {
  const x = () => awayFromZero([3, 4]);
  test.each([
    ['exp', F.exp], ['tanh', F.tanh], ['sigmoid', F.sigmoid], ['relu', F.relu], ['gelu', F.gelu], ['abs', F.abs], ['square', F.square],
  ] as [string, (v: Variable) => Variable][])('%s (contiguous and transposed input)', (_, f) => {
    check(f, [x()]);
    check((v) => f(F.transpose(v)), [x()]);
  });
  test('log and sqrt on positive inputs, through a stepped slice', () => {
    check(F.log, [r([5], 0.2, 3)]);
    check(F.sqrt, [r([5], 0.2, 3)]);
    check((v) => F.log(F.slice(v, 0, 1, 7, 3)), [r([8], 0.2, 3)]);
    check((v) => F.sqrt(F.slice(v, 0, -4, undefined, 2)), [r([8], 0.2, 3)]);
  });
  test('gelu over a wide range (saturating tails)', () => {
    check(F.gelu, [tensor([-6, -3, -1.2, -0.3, 0.4, 1.1, 2.7, 5], { dtype: 'float64' })]);
  });
});

describe('where and maskedFill', () => {
  test('where: constant broadcast condition, both branches differentiable and broadcast', () => {
    const cond = tensor([[1], [0], [1]]);
    check((a, b) => F.where(cond, a, b), [r([3, 4]), r([4])]);
    check((a) => F.where(tensor([1, 0, 1]), a, 5), [r([2, 3])]);
  });
  test('maskedFill: no gradient to the filled positions', () => {
    const mask = tensor([[0, 1, 0], [1, 0, 0]]);
    check((a) => F.maskedFill(a, mask, -3), [r([2, 3])]);
    check((a) => F.maskedFill(F.transpose(a), tensor([[1, 0]]), 0), [r([2, 3])]);
    const v = new Variable(r([2, 3]), { requiresGrad: true });
    F.sum(F.maskedFill(v, mask, 9)).backward();
    expect(v.grad!.toArray()).toEqual([[1, 0, 1], [0, 1, 1]]);
  });
});

describe('reductions', () => {
  const axesCases: [number | number[] | undefined, boolean][] = [[undefined, false], [0, false], [1, true], [-1, false], [[0, 2], true], [[0, 2], false], [[1, 2], false]];
  test.each(axesCases)('sum / mean / max / variance over axes %p, keepdim %p', (axes, keepdim) => {
    check((v) => F.sum(v, axes, keepdim), [r([2, 3, 4])]);
    check((v) => F.mean(v, axes, keepdim), [r([2, 3, 4])]);
    check((v) => F.max(v, axes, keepdim), [r([2, 3, 4])]);
    check((v) => F.variance(v, axes, keepdim), [r([2, 3, 4])]);
    check((v) => F.variance(v, axes, keepdim, false), [r([2, 3, 4])]);
  });
  test('reductions of non-contiguous views', () => {
    check((v) => F.sum(F.permute(v, [2, 0, 1]), [0, 2]), [r([2, 3, 4])]);
    check((v) => F.mean(F.expand(v, [3, 2, 4]), 0), [r([2, 4])]);
    check((v) => F.max(F.transpose(v), -1, true), [r([3, 5])]);
  });
  test('max with ties shares the gradient evenly (as torch.amax)', () => {
    // two-way ties: the central difference is exactly 1/2 per tied element, as the even split
    check((v) => F.max(v, 1), [tensor([[1, 3, 3], [2, 5, 2]], { dtype: 'float64' })]);
    check((v) => F.max(v), [tensor([4, 1, 4, 0], { dtype: 'float64' })]);
    // three-way tie: 1/3 each (no finite difference reproduces a split of more than two)
    const x = new Variable(tensor([[2, 2, 2], [0, 1, -1]]), { requiresGrad: true });
    F.sum(F.max(x, 1)).backward();
    const g = x.grad!.toArray() as number[][];
    g[0].forEach((v) => expect(v).toBeCloseTo(1 / 3, 6));
    expect(g[1]).toEqual([0, 1, 0]);
  });
});

describe('views and layout', () => {
  test('reshape (view and copying), permute, transpose', () => {
    check((v) => F.reshape(v, [4, 6]), [r([2, 3, 4])]);
    check((v) => F.reshape(F.transpose(v), [-1]), [r([3, 4])]); // needs a copy
    check((v) => F.permute(v, [2, 0, 1]), [r([2, 3, 4])]);
    check((v) => F.permute(v, [-1, 0, 1]), [r([2, 3, 4])]);
    check((v) => F.transpose(v, 0, 2), [r([2, 3, 4])]);
  });
  test('slice with step and negative bounds, narrow, select', () => {
    check((v) => F.slice(v, 1, 1, 6, 2), [r([2, 7])]);
    check((v) => F.slice(v, -1, -5, -1, 3), [r([3, 7])]);
    check((v) => F.slice(v, 0, 2), [r([4, 2])]);
    check((v) => F.slice(v, 0, 3, 1), [r([4, 2])]); // empty slice: zero gradient
    check((v) => F.narrow(v, 1, 1, 2), [r([3, 4])]);
    check((v) => F.select(v, 0, -1), [r([3, 4])]);
    check((v) => F.select(F.transpose(v), 1, 2), [r([3, 4])]);
  });
  test('expand (new leading dims and size-1 dims), squeeze, unsqueeze', () => {
    check((v) => F.expand(v, [2, 3, 4]), [r([3, 1])]);
    check((v) => F.expand(v, [3, -1]), [r([5])]);
    check((v) => F.squeeze(v), [r([1, 3, 1])]);
    check((v) => F.squeeze(v, 2), [r([1, 3, 1])]);
    check((v) => F.unsqueeze(F.transpose(v), 1), [r([2, 3])]);
  });
  test('concat and stack, any axis, non-contiguous pieces', () => {
    check((a, b, c) => F.concat([a, b, c], 1), [r([2, 3]), r([2, 1]), r([2, 2])]);
    check((a, b) => F.concat([F.transpose(a), b], 0), [r([3, 2]), r([1, 3])]);
    check((a, b) => F.stack([a, b], 0), [r([2, 3]), r([2, 3])]);
    check((a, b) => F.stack([a, F.transpose(b)], -1), [r([2, 3]), r([3, 2])]);
    // only the inputs that require grad get one
    check((a, b) => F.concat([a, b], 0), [r([1, 2]), r([2, 2])], { wrt: [false, true] });
  });
});

describe('matmul and linear', () => {
  test('2-d, 1-d on either side and both, batched, broadcast batch', () => {
    check(F.matmul, [r([3, 4]), r([4, 2])]);
    check(F.matmul, [r([4]), r([4, 3])]);
    check(F.matmul, [r([3, 4]), r([4])]);
    check(F.matmul, [r([4]), r([4])]);
    check(F.matmul, [r([2, 3, 4]), r([2, 4, 5])]);
    check(F.matmul, [r([2, 1, 3, 4]), r([3, 4, 2])]);
    check(F.matmul, [r([3, 4]), r([2, 4, 2])]);
    check(F.matmul, [r([4]), r([2, 4, 3])]);
  });
  test('non-contiguous operands', () => {
    check((a, b) => F.matmul(F.transpose(a), F.slice(b, 1, 0, 6, 2)), [r([4, 3]), r([4, 6])]);
    check((a, b) => F.matmul(F.expand(a, [2, 3, 4]), F.permute(b, [0, 2, 1])), [r([3, 4]), r([2, 5, 4])]);
  });
  test.each([['torch'], ['conv1d']] as ['torch' | 'conv1d'][])('linear, %s layout, with and without bias, 1-d/2-d/3-d input', (layout) => {
    const w = layout === 'torch' ? [5, 4] : [4, 5];
    check((x, wt, b) => F.linear(x, wt, b, layout), [r([3, 4]), r(w), r([5])]);
    check((x, wt) => F.linear(x, wt, null, layout), [r([2, 3, 4]), r(w)]);
    check((x, wt, b) => F.linear(x, wt, b, layout), [r([4]), r(w), r([5])]);
    check((x, wt, b) => F.linear(F.transpose(x), wt, b, layout), [r([4, 3]), r(w), r([5])]);
    // frozen weight: the input still gets its gradient
    check((x, wt, b) => F.linear(x, wt, b, layout), [r([3, 4]), r(w), r([5])], { wrt: [true, false, false] });
  });
});

describe('fused ops', () => {
  test('softmax and logSoftmax over the last and non-last axes, non-contiguous input', () => {
    for (const axis of [-1, 0, 1]) {
      check((v) => F.softmax(v, axis), [r([3, 4, 2], -3, 3)]);
      check((v) => F.logSoftmax(v, axis), [r([3, 4, 2], -3, 3)]);
    }
    check((v) => F.softmax(F.transpose(v), -1), [r([4, 3])]);
    check((v) => F.logSoftmax(F.slice(v, 1, 0, 5, 2), -1), [r([2, 5])]);
  });
  test('softmax and logSoftmax with -inf masked positions (zero gradient there)', () => {
    const mask = tensor([[0, 1, 0, 0], [0, 0, 0, 1]]);
    check((v) => F.softmax(F.maskedFill(v, mask, -Infinity)), [r([2, 4])]);
    // logSoftmax is -inf at masked positions: fill them with 0 before weighting (inf·0 would be NaN)
    check((v) => F.maskedFill(F.logSoftmax(F.maskedFill(v, mask, -Infinity)), mask, 0), [r([2, 4])]);
    const x = new Variable(r([2, 4]), { requiresGrad: true });
    F.sum(F.mul(F.softmax(F.maskedFill(x, mask, -Infinity)), r([2, 4]))).backward();
    expect(x.grad!.get(0, 1)).toBe(0);
    expect(x.grad!.get(1, 3)).toBe(0);
  });
  test('layerNorm with respect to x, weight and bias; 3-d and non-contiguous x', () => {
    check((x, w, b) => F.layerNorm(x, w, b), [r([3, 5]), r([5]), r([5])]);
    check((x, w, b) => F.layerNorm(x, w, b, 1e-3), [r([2, 3, 4]), r([4]), r([4])]);
    check((x, w, b) => F.layerNorm(F.transpose(x), w, b), [r([4, 3]), r([4]), r([4])], { wrt: [true, false, false] });
  });
  test.each([[true], [false]])('attention, causal=%p, with respect to q, k and v', (causal) => {
    check((q, k, v) => F.attention(q, k, v, { causal }), [r([2, 2, 4, 3]), r([2, 2, 4, 3]), r([2, 2, 4, 3])]);
  });
  test('attention on non-contiguous q/k/v (split heads of one [B, T, 3·H·D] tensor), custom scale', () => {
    const split = (qkv: Variable, i: number) => F.permute(F.reshape(F.narrow(qkv, 2, i * 4, 4), [1, 3, 2, 2]), [0, 2, 1, 3]); // [B, H, T, D]
    check((qkv) => F.attention(split(qkv, 0), split(qkv, 1), split(qkv, 2)), [r([1, 3, 12])]);
    check((q, k, v) => F.attention(q, k, v, { causal: false, scale: 0.7 }), [r([1, 3, 2]), r([1, 3, 2]), r([1, 3, 2])]);
    check((q, k, v) => F.attention(q, k, v), [r([1, 3, 2]), r([1, 3, 2]), r([1, 3, 2])], { wrt: [false, true, false] });
  });
  test.each([['mean'], ['sum'], ['none']] as ['mean' | 'sum' | 'none'][])('crossEntropy, reduction %s, with ignored targets', (reduction) => {
    const targets = ids([2, -100, 0, 3, 1, -100], [2, 3]);
    check((l) => F.crossEntropy(l, targets, { reduction }), [r([2, 3, 4], -3, 3)]);
    check((l) => F.crossEntropy(l, ids([0, 1, 1]), { reduction, ignoreIndex: 1 }), [r([3, 4])]);
    check((l) => F.crossEntropy(F.transpose(l), ids([0, 3, 2]), { reduction }), [r([4, 3])]);
  });
  test('embedding with repeated ids (gradients accumulate per row)', () => {
    check((w) => F.embedding(w, ids([1, 3, 1, 1, 0], [5])), [r([4, 3])]);
    check((w) => F.embedding(w, ids([2, 2, 0, 1], [2, 2])), [r([3, 2])]);
  });
  test('dropout with a fixed generator (the same mask in every evaluation)', () => {
    check((v) => F.dropout(v, 0.4, true, new Generator(11)), [r([4, 5])]);
    check((v) => F.dropout(F.transpose(v), 0.5, true, new Generator(3)), [r([4, 5])]);
  });
});

describe('a composed network (every gradient path at once)', () => {
  test('an MLP block with residual, layerNorm, gelu and cross-entropy', () => {
    const targets = ids([1, 0, 2]);
    check((x, w1, b1, w2, g, be) => {
      const h = F.gelu(F.linear(x, w1, b1));
      const y = F.add(x, F.linear(h, w2, null, 'conv1d'));
      return F.crossEntropy(F.layerNorm(y, g, be), targets);
    }, [r([3, 3]), r([5, 3]), r([5]), r([5, 3]), r([3]), r([3])]);
  });
});

describe('the cpu backend in float32: its fast kernels\' gradients against float64 finite differences', () => {
  // The analytic pass runs in float32 on cpu (WebAssembly SIMD GEMM, softmax, layerNorm, gelu and
  // attention kernels, on both threads where the size calls for it); the numeric one in float64 on ref.
  // Odd sizes, so every kernel meets its edge tiles and remainders.
  const f32 = (fn: (...xs: Variable[]) => Variable, inputs: Tensor[], options: GradcheckOptions = {}): void => {
    const res = gradcheck(fn, inputs, { backend: 'cpu', analyticDType: 'float32', eps: 1e-5, rtol: 5e-3, atol: 5e-4, ...options });
    expect(res.failures).toEqual([]);
  };
  test('matmul and linear: transposed, sliced and broadcast operands, a frozen weight', () => {
    f32(F.matmul, [r([17, 65]), r([65, 3])]);
    f32((a, b) => F.matmul(F.transpose(a), F.slice(b, 1, 0, 34, 2)), [r([65, 3]), r([65, 68])]);
    f32((a, b) => F.matmul(a, F.expand(b, [2, 17, 3])), [r([2, 1, 17]), r([17, 3])]);
    f32((x, w, b) => F.linear(x, w, b, 'conv1d'), [r([2, 3, 65]), r([65, 17]), r([17])]);
    f32((x, w, b) => F.linear(x, w, b), [r([3, 65]), r([17, 65]), r([17])], { wrt: [true, false, false] });
  });
  test('softmax, layerNorm and gelu over rows of 1, 17, 65 and 768', () => {
    for (const C of [1, 17, 65]) {
      f32((v) => F.softmax(v, -1), [r([3, C], -3, 3)]);
      f32((x, w, b) => F.layerNorm(x, w, b), [r([3, C]), r([C]), r([C])]);
      f32((v) => F.gelu(v), [r([3, C], -3, 3)]);
    }
    f32((v) => F.softmax(F.transpose(v), -1), [r([768, 2], -3, 3)]);
    f32((x, w, b) => F.layerNorm(x, w, b), [r([2, 768]), r([768]), r([768])]);
  });
  test.each([[true], [false]])('attention, causal=%p, T = 17, on split heads of one qkv tensor', (causal) => {
    const split = (qkv: Variable, i: number) => F.permute(F.reshape(F.narrow(qkv, 2, i * 6, 6), [2, 17, 2, 3]), [0, 2, 1, 3]); // [B, H, T, D]
    f32((qkv) => F.attention(split(qkv, 0), split(qkv, 1), split(qkv, 2), { causal }), [r([2, 17, 18])]);
  });
  test('a composed block: layerNorm, attention, residual, MLP with gelu, cross-entropy', () => {
    const targets = ids([1, 0, 2, 3, 3]);
    f32((x, g, b, wq, w1, w2) => {
      const h = F.layerNorm(x, g, b);
      const qkv = F.matmul(h, wq); // [5, 3·4]
      const head = (i: number) => F.reshape(F.narrow(qkv, 1, 4 * i, 4), [1, 5, 4]);
      const y = F.add(x, F.reshape(F.attention(head(0), head(1), head(2)), [5, 4]));
      return F.crossEntropy(F.add(y, F.matmul(F.gelu(F.matmul(y, w1)), w2)), targets);
    }, [r([5, 4]), r([4]), r([4]), r([4, 12]), r([4, 17]), r([17, 4])]);
  });
});
