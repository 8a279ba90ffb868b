/**
 * Tensor layout and creation: views share storage and never copy (checked by writing through them),
 * reshape copies only when the strides force it, creation helpers and seeded random streams.
 */
import {
  Tensor, tensor, fromArray, zeros, ones, full, zerosLike, onesLike, arange, randn, uniform, randint,
  Generator, manualSeed, getDefaultGenerator, setBackend, ops,
} from './index';

beforeAll(() => setBackend('ref'));

/** A [2,3,4] tensor holding 0..23. */
const iota = (...shape: number[]) => arange(shape.reduce((p, s) => p * s, 1)).reshape(shape);

/** Reference: the element at a full index computed from shape/strides/offset by hand. */
function at(t: Tensor, ...idx: number[]): number {
  let o = t.offset;
  idx.forEach((i, d) => { o += i * t.strides[d]; });
  return t.data[o];
}

describe('construction and metadata', () => {
  test('contiguous strides, size, ndim, dim with negative axes', () => {
    const t = zeros([2, 3, 4]);
    expect(t.strides).toEqual([12, 4, 1]);
    expect(t.size).toBe(24);
    expect(t.ndim).toBe(3);
    expect(t.dim(-1)).toBe(4);
    expect(t.dim(0)).toBe(2);
    expect(t.isContiguous()).toBe(true);
    expect(t.dtype).toBe('float32');
  });

  test('shape and strides are frozen copies', () => {
    const shape = [2, 2];
    const t = new Tensor(new Float32Array(4), shape);
    shape[0] = 99;
    expect(t.shape).toEqual([2, 2]);
    expect(Object.isFrozen(t.shape)).toBe(true);
    expect(Object.isFrozen(t.strides)).toBe(true);
  });

  test('dtype follows the storage', () => {
    expect(new Tensor(new Float64Array(1), [1]).dtype).toBe('float64');
    expect(new Tensor(new Int32Array(1), [1]).dtype).toBe('int32');
  });

  test('0-d tensors: item, toArray, reshape', () => {
    const s = tensor(3.5);
    expect(s.shape).toEqual([]);
    expect(s.size).toBe(1);
    expect(s.item()).toBe(3.5);
    expect(s.toArray()).toBe(3.5);
    expect(s.reshape(1, 1).toArray()).toEqual([[3.5]]);
    expect(s.reshape(1, 1).data).toBe(s.data);
    expect(tensor([7]).reshape([]).item()).toBe(7);
  });

  test('get with negative indices and item on a one-element view', () => {
    const t = iota(2, 3);
    expect(t.get(1, -1)).toBe(5);
    expect(t.get(-2, 0)).toBe(0);
    expect(t.slice(1, 2, 3).slice(0, 1).item()).toBe(5);
  });
});

describe('creation', () => {
  test('zeros/ones/full/zerosLike/onesLike', () => {
    expect(zeros([2, 2]).toArray()).toEqual([[0, 0], [0, 0]]);
    expect(ones([3]).toArray()).toEqual([1, 1, 1]);
    expect(full([2], -2.5).toArray()).toEqual([-2.5, -2.5]);
    expect(full([2], 7, 'int32').dtype).toBe('int32');
    expect(full([], 4).item()).toBe(4);
    const d = full([2, 1], 3, 'float64');
    expect(zerosLike(d).dtype).toBe('float64');
    expect(zerosLike(d).shape).toEqual([2, 1]);
    expect(onesLike(d).toArray()).toEqual([[1], [1]]);
    expect(full([2], NaN).toArray()).toEqual([NaN, NaN]);
  });

  test('empty shapes', () => {
    const e = zeros([0, 3]);
    expect(e.size).toBe(0);
    expect(e.strides).toEqual([3, 1]);
    expect(e.toArray()).toEqual([]);
    expect(zeros([2, 0]).toArray()).toEqual([[], []]);
    expect(tensor([]).shape).toEqual([0]);
    expect(tensor([[], []]).shape).toEqual([2, 0]);
  });

  test('arange like torch.arange', () => {
    expect(arange(5).toArray()).toEqual([0, 1, 2, 3, 4]);
    expect(arange(2, 5).toArray()).toEqual([2, 3, 4]);
    expect(arange(0, 1, 0.25).toArray()).toEqual([0, 0.25, 0.5, 0.75]);
    expect(arange(5, 0, -2).toArray()).toEqual([5, 3, 1]);
    expect(arange(3, 3).shape).toEqual([0]);
    expect(arange(4, 2).shape).toEqual([0]);
    expect(arange(0, 10, 3, 'int32').dtype).toBe('int32');
    expect(Array.from(arange(0, 10, 3, 'int32').data)).toEqual([0, 3, 6, 9]);
  });

  test('fromArray copies its input', () => {
    const src = [1, 2, 3, 4, 5, 6];
    const t = fromArray(src, [2, 3]);
    src[0] = 100;
    expect(t.toArray()).toEqual([[1, 2, 3], [4, 5, 6]]);
    const f64 = new Float64Array([1, 2]);
    const u = fromArray(f64, [2], 'float64');
    f64[0] = 9;
    expect(u.get(0)).toBe(1);
  });

  test('tensor() from nested arrays, flat arrays with a shape, typed arrays', () => {
    const t = tensor([[[1, 2], [3, 4]], [[5, 6], [7, 8]]]);
    expect(t.shape).toEqual([2, 2, 2]);
    expect(Array.from(t.data)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(tensor([1, 2, 3, 4], [2, 2]).toArray()).toEqual([[1, 2], [3, 4]]);
    expect(tensor([1, 2], [2], { dtype: 'int32' }).dtype).toBe('int32');
    expect(tensor([1.5], { dtype: 'float64' }).dtype).toBe('float64');
    expect(tensor(new Float64Array([1, 2])).dtype).toBe('float64');
    expect(tensor(new Int32Array([1, 2])).dtype).toBe('int32');
    expect(tensor(new Float32Array([1, 2, 3])).shape).toEqual([3]);
  });

  test('float32 storage rounds values; float64 keeps them', () => {
    expect(tensor([0.1]).get(0)).toBe(Math.fround(0.1));
    expect(tensor([0.1], { dtype: 'float64' }).get(0)).toBe(0.1);
  });

  test('astype: int conversion truncates toward zero; same dtype is identity', () => {
    const t = tensor([1.7, -1.7, 2.5, -0.2]);
    expect(Array.from(t.int().data)).toEqual([1, -1, 2, 0]);
    expect(t.astype('float32')).toBe(t);
    expect(t.double().dtype).toBe('float64');
    expect(t.transpose(0, 0).double().toArray()).toEqual(Array.from(t.data));
    const v = iota(2, 3).transpose().int();
    expect(v.toArray()).toEqual([[0, 3], [1, 4], [2, 5]]);
  });
});

describe('views share storage', () => {
  test('reshape of a contiguous tensor is a view (writes show through)', () => {
    const t = iota(2, 3, 4);
    const r = t.reshape(6, 4);
    expect(r.data).toBe(t.data);
    expect(r.strides).toEqual([4, 1]);
    r.data[5] = -1;
    expect(t.get(0, 1, 1)).toBe(-1);
    expect(t.reshape(-1).shape).toEqual([24]);
    expect(t.reshape([4, -1]).shape).toEqual([4, 6]);
    expect(t.flatten().shape).toEqual([24]);
    expect(t.view(2, 12).data).toBe(t.data);
  });

  test('reshape merges only the dims a view allows, else copies', () => {
    const t = iota(2, 3, 4);
    const p = t.permute(1, 0, 2); // [3, 2, 4], strides [4, 12, 1]
    // splitting the last dim keeps a view
    const split = p.reshape(3, 2, 2, 2);
    expect(split.data).toBe(t.data);
    expect(split.strides).toEqual([4, 12, 2, 1]);
    // merging dims 0 and 1 (not adjacent in memory) needs a copy
    const merged = p.reshape(6, 4);
    expect(merged.data).not.toBe(t.data);
    expect(merged.isContiguous()).toBe(true);
    expect(merged.toArray()).toEqual((p.contiguous().toArray() as number[][][]).flat());
    expect(() => p.view(6, 4)).toThrow('view: shape [6,4] is incompatible with the strides of a [3,2,4] view; use reshape() or contiguous()');
    // merging dims 1 and 2 of the permuted view is not possible either ([2,4] has strides [12,1])
    expect(p.reshape(3, 8).data).not.toBe(t.data);
  });

  test('reshape of a transposed matrix: [3,2] -> [6] copies, [3,2] -> [3,2,1] is a view', () => {
    const t = iota(2, 3).transpose();
    expect(t.reshape(6).toArray()).toEqual([0, 3, 1, 4, 2, 5]);
    expect(t.reshape(3, 2, 1).data).toBe(t.data);
    expect(t.reshape(1, 3, 2).data).toBe(t.data);
    expect(t.reshape(1, 3, 2).toArray()).toEqual([t.toArray()]);
  });

  test('reshape of an expanded tensor copies; of a size-1 broadcast dim stays a view', () => {
    const e = tensor([1, 2, 3]).expand(2, 3);
    const r = e.reshape(6);
    expect(r.toArray()).toEqual([1, 2, 3, 1, 2, 3]);
    expect(r.data).not.toBe(e.data);
    expect(e.reshape(2, 3, 1).data).toBe(e.data);
  });

  test('reshape through size-1 dims with unusual strides stays a view with the right strides', () => {
    const col = iota(3, 4).slice(1, 0, 1); // [3, 1], strides [4, 1]
    const flatCol = col.reshape(3);
    expect(flatCol.data).toBe(col.data);
    expect(flatCol.strides).toEqual([4]);
    expect(flatCol.toArray()).toEqual([0, 4, 8]);
    const t = iota(1, 3).transpose(); // [3, 1], strides [1, 3]
    expect(t.reshape(3).strides).toEqual([1]);
    expect(t.reshape(1, 3).toArray()).toEqual([[0, 1, 2]]);
    const mid = iota(2, 3, 4).slice(1, 1, 2); // [2, 1, 4], offset 4
    expect(mid.reshape(2, 4).data).toBe(mid.data);
    expect(mid.reshape(2, 4).toArray()).toEqual([[4, 5, 6, 7], [16, 17, 18, 19]]);
    expect(mid.reshape(8).data).not.toBe(mid.data); // rows 12 apart: not one stride
    expect(mid.reshape(8).toArray()).toEqual([4, 5, 6, 7, 16, 17, 18, 19]);
  });

  test('reshape of empty tensors', () => {
    const e = zeros([0, 4]);
    expect(e.reshape(2, 0, 8).shape).toEqual([2, 0, 8]);
    expect(e.reshape(-1, 2).shape).toEqual([0, 2]);
  });

  test('permute and transpose are views with permuted strides', () => {
    const t = iota(2, 3, 4);
    const p = t.permute(2, 0, 1);
    expect(p.shape).toEqual([4, 2, 3]);
    expect(p.strides).toEqual([1, 12, 4]);
    expect(p.data).toBe(t.data);
    expect(p.isContiguous()).toBe(false);
    for (let i = 0; i < 4; i++) for (let j = 0; j < 2; j++) for (let k = 0; k < 3; k++) expect(p.get(i, j, k)).toBe(t.get(j, k, i));
    expect(t.permute([0, -1, 1]).shape).toEqual([2, 4, 3]);
    const tr = t.transpose();
    expect(tr.shape).toEqual([2, 4, 3]);
    expect(t.transpose(0, 2).shape).toEqual([4, 3, 2]);
    expect(tr.transpose().isContiguous()).toBe(true);
  });

  test('slice: bounds, negative bounds, clamping, steps', () => {
    const v = arange(10);
    expect(v.slice(0, 2, 5).toArray()).toEqual([2, 3, 4]);
    expect(v.slice(0, -3).toArray()).toEqual([7, 8, 9]);
    expect(v.slice(0, 1, -1, 3).toArray()).toEqual([1, 4, 7]);
    expect(v.slice(0, 0, 10, 4).toArray()).toEqual([0, 4, 8]);
    expect(v.slice(0, -100, 100).toArray()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(v.slice(0, 5, 2).shape).toEqual([0]);
    expect(v.slice(0, 10).shape).toEqual([0]);
    expect(v.slice(0, 3, 3).toArray()).toEqual([]);
    const s = v.slice(0, 1, 8, 2);
    expect(s.strides).toEqual([2]);
    expect(s.offset).toBe(1);
    expect(s.data).toBe(v.data);
  });

  test('slice along an inner axis of a 3-d tensor, then slicing the slice', () => {
    const t = iota(2, 3, 4);
    const s = t.slice(2, 1, 4, 2); // [2, 3, 2]: columns 1, 3
    expect(s.shape).toEqual([2, 3, 2]);
    expect(s.toArray()).toEqual([[[1, 3], [5, 7], [9, 11]], [[13, 15], [17, 19], [21, 23]]]);
    const ss = s.slice(1, -2).slice(0, 1);
    expect(ss.toArray()).toEqual([[[17, 19], [21, 23]]]);
    expect(at(ss, 0, 1, 1)).toBe(23);
  });

  test('narrow and select', () => {
    const t = iota(3, 4);
    expect(t.narrow(1, 1, 2).toArray()).toEqual([[1, 2], [5, 6], [9, 10]]);
    expect(t.narrow(0, 3, 0).shape).toEqual([0, 4]);
    expect(t.narrow(1, -2, 2).toArray()).toEqual([[2, 3], [6, 7], [10, 11]]); // negative start counts from the end, as torch.narrow
    expect(t.select(0, 1).toArray()).toEqual([4, 5, 6, 7]);
    expect(t.select(1, -1).toArray()).toEqual([3, 7, 11]);
    expect(t.select(1, 2).data).toBe(t.data);
    expect(t.select(0, 2).select(0, 3).shape).toEqual([]);
    expect(t.select(0, 2).select(0, 3).item()).toBe(11);
  });

  test('expand / broadcastTo use stride 0 and share storage', () => {
    const col = tensor([[1], [2]]);
    const e = col.expand(3, 2, 4);
    expect(e.shape).toEqual([3, 2, 4]);
    expect(e.strides).toEqual([0, 1, 0]);
    expect(e.data).toBe(col.data);
    expect(e.toArray()).toEqual([[[1, 1, 1, 1], [2, 2, 2, 2]], [[1, 1, 1, 1], [2, 2, 2, 2]], [[1, 1, 1, 1], [2, 2, 2, 2]]]);
    expect(col.expand(-1, 3).shape).toEqual([2, 3]);
    expect(col.expand(2, 0).shape).toEqual([2, 0]);
    expect(col.broadcastTo([2, 1])).toBe(col);
    col.data[1] = 9;
    expect(e.get(2, 1, 3)).toBe(9);
  });

  test('squeeze and unsqueeze', () => {
    const t = zeros([1, 3, 1, 2]);
    expect(t.squeeze().shape).toEqual([3, 2]);
    expect(t.squeeze(0).shape).toEqual([3, 1, 2]);
    expect(t.squeeze(-2).shape).toEqual([1, 3, 2]);
    expect(t.squeeze(1)).toBe(t); // not size 1: unchanged
    expect(t.squeeze().data).toBe(t.data);
    const u = iota(2, 3);
    expect(u.unsqueeze(0).shape).toEqual([1, 2, 3]);
    expect(u.unsqueeze(1).shape).toEqual([2, 1, 3]);
    expect(u.unsqueeze(2).shape).toEqual([2, 3, 1]);
    expect(u.unsqueeze(-1).shape).toEqual([2, 3, 1]);
    expect(u.unsqueeze(-3).shape).toEqual([1, 2, 3]);
    expect(u.unsqueeze(1).isContiguous()).toBe(true);
    expect(u.unsqueeze(1).toArray()).toEqual([[[0, 1, 2]], [[3, 4, 5]]]);
    expect(u.transpose().unsqueeze(1).toArray()).toEqual([[[0, 3]], [[1, 4]], [[2, 5]]]);
    expect(tensor(5).unsqueeze(0).toArray()).toEqual([5]);
  });

  test('contiguous returns itself when contiguous, a copy otherwise', () => {
    const t = iota(2, 3);
    expect(t.contiguous()).toBe(t);
    const tr = t.transpose();
    const c = tr.contiguous();
    expect(c.data).not.toBe(t.data);
    expect(c.toArray()).toEqual([[0, 3], [1, 4], [2, 5]]);
    expect(c.strides).toEqual([2, 1]);
    // a view with an offset or a shorter extent is not contiguous even if its strides are
    expect(t.slice(0, 1).isContiguous()).toBe(false);
    expect(t.slice(0, 0, 1).isContiguous()).toBe(false);
    expect(t.slice(0, 1).contiguous().toArray()).toEqual([[3, 4, 5]]);
  });

  test('clone is independent of its source in both directions', () => {
    const t = iota(2, 2);
    const c = t.clone();
    expect(c.data).not.toBe(t.data);
    c.data[0] = 100;
    expect(t.get(0, 0)).toBe(0);
    t.data[1] = 50;
    expect(c.get(0, 1)).toBe(1);
    const ct = t.transpose().clone();
    expect(ct.toArray()).toEqual([[0, 2], [50, 3]]);
    expect(zeros([0, 2]).clone().shape).toEqual([0, 2]);
  });

  test('toTypedArray gives contiguous data of the view', () => {
    const t = iota(2, 3).transpose();
    expect(Array.from(t.toTypedArray())).toEqual([0, 3, 1, 4, 2, 5]);
  });

  test('a chain of views matches element-by-element indexing of the original', () => {
    const t = iota(4, 5, 6);
    // permute -> [6,4,5]; slice step 2 -> [3,4,5] (a = 1 + 2i); slice -> [3,4,3] (c = 2 + l);
    // unsqueeze + expand -> [3,2,4,3]; select(1, 1) -> [3,4,3]: v[i, j, l] = t[j, 2 + l, 1 + 2i]
    const v = t.permute(2, 0, 1).slice(0, 1, 6, 2).slice(2, -3).unsqueeze(1).expand(3, 2, 4, 3).select(1, 1);
    expect(v.shape).toEqual([3, 4, 3]);
    expect(v.data).toBe(t.data);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 4; j++) for (let l = 0; l < 3; l++) {
      expect(v.get(i, j, l)).toBe(t.get(j, 2 + l, 1 + 2 * i));
      expect(at(v, i, j, l)).toBe(t.get(j, 2 + l, 1 + 2 * i));
    }
    expect(v.contiguous().toArray()).toEqual(v.toArray());
  });
});

describe('seeded random streams', () => {
  test('same seed, same numbers; different seeds differ', () => {
    const a = randn([50], { generator: new Generator(42) });
    const b = randn([50], { generator: new Generator(42) });
    const c = randn([50], { generator: new Generator(43) });
    expect(Array.from(a.data)).toEqual(Array.from(b.data));
    expect(Array.from(a.data)).not.toEqual(Array.from(c.data));
    expect(new Generator('x').random()).toBe(new Generator('x').random());
  });

  test('state()/setState() resume a stream exactly, and a state can be restored twice', () => {
    const g = new Generator(7);
    uniform([13], 0, 1, { generator: g });
    const saved = JSON.parse(JSON.stringify(g.state()));
    const first = Array.from(randn([20], { generator: g }).data);
    g.setState(saved);
    expect(Array.from(randn([20], { generator: g }).data)).toEqual(first);
    const h = new Generator(999);
    h.setState(saved);
    expect(Array.from(randn([20], { generator: h }).data)).toEqual(first);
    g.setState(saved);
    expect(Array.from(randn([20], { generator: g }).data)).toEqual(first);
  });

  test('manualSeed resets the default generator', () => {
    manualSeed(3);
    const a = Array.from(randn([5]).data);
    manualSeed(3);
    expect(Array.from(randn([5]).data)).toEqual(a);
    expect(getDefaultGenerator()).toBeInstanceOf(Generator);
  });

  test('uniform in [lo, hi), with the right mean', () => {
    const u = uniform([4000], -2, 3, { generator: new Generator(1), dtype: 'float64' });
    const xs = Array.from(u.data);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(-2);
    expect(Math.max(...xs)).toBeLessThan(3);
    expect(Math.abs(xs.reduce((p, x) => p + x, 0) / xs.length - 0.5)).toBeLessThan(0.1);
    expect(u.dtype).toBe('float64');
  });

  test('randn moments, mean/std options', () => {
    const n = randn([20000], { generator: new Generator(2), dtype: 'float64', mean: 3, std: 2 });
    const xs = Array.from(n.data);
    const m = xs.reduce((p, x) => p + x, 0) / xs.length;
    const v = xs.reduce((p, x) => p + (x - m) ** 2, 0) / xs.length;
    expect(Math.abs(m - 3)).toBeLessThan(0.05);
    expect(Math.abs(Math.sqrt(v) - 2)).toBeLessThan(0.05);
  });

  test('randint covers [lo, hi) and is int32; empty range throws', () => {
    const r = randint([2000], -2, 3, { generator: new Generator(5) });
    expect(r.dtype).toBe('int32');
    const seen = new Set(Array.from(r.data));
    expect([...seen].sort()).toEqual([-1, -2, 0, 1, 2].sort());
    expect(() => randint([1], 3, 3)).toThrow('randint: empty range [3, 3)');
  });

  test('permutation is a permutation; fork is deterministic and independent', () => {
    const p = new Generator(1).permutation(50);
    expect([...p].sort((a, b) => a - b)).toEqual([...Array(50).keys()]);
    const g1 = new Generator(9), g2 = new Generator(9);
    const f1 = g1.fork(), f2 = g2.fork();
    expect(f1.random()).toBe(f2.random());
    expect(g1.random()).toBe(g2.random());
    expect(f1.random()).not.toBe(g1.random());
  });
});

describe('copyInto', () => {
  test('writes through a strided view, broadcasting the source', () => {
    const dst = zeros([3, 4]);
    ops.copyInto(dst.slice(1, 1, 4, 2), tensor([[1, 2], [3, 4], [5, 6]]));
    expect(dst.toArray()).toEqual([[0, 1, 0, 2], [0, 3, 0, 4], [0, 5, 0, 6]]);
    ops.copyInto(dst.select(0, 0), tensor(7));
    expect((dst.toArray() as number[][])[0]).toEqual([7, 7, 7, 7]);
    ops.copyInto(dst.transpose().select(0, 3), tensor([-1, -2, -3]));
    expect(dst.toArray()).toEqual([[7, 7, 7, -1], [0, 3, 0, -2], [0, 5, 0, -3]]);
    ops.copyInto(zeros([0, 2]), tensor([1, 2])); // empty: nothing to do
  });

  test('source overlapping the destination (a transpose of itself)', () => {
    const t = iota(3, 3);
    ops.copyInto(t.transpose(), t);
    expect(t.toArray()).toEqual([[0, 3, 6], [1, 4, 7], [2, 5, 8]]);
  });

  test('dtype conversion on write (float into int32 storage truncates)', () => {
    const d = zeros([2], 'int32');
    ops.copyInto(d, tensor([1.9, -2.9]));
    expect(Array.from(d.data)).toEqual([1, -2]);
  });
});
