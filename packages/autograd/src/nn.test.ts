/**
 * nn modules: dotted parameter names (nested modules and module arrays), train/eval, state dicts,
 * default initializations, orthogonal init.
 */
import { Tensor, tensor, zeros, ones, Generator, uniform, setBackend } from '@fpt-ts/tensor';
import { Module, Linear, Embedding, LayerNorm, Dropout, Parameter, Variable, F, orthogonal, noGrad } from './index';

beforeAll(() => setBackend('ref'));

const arr = (t: Tensor) => Array.from(t.contiguous().data);

// A GPT-2-shaped toy: wte, wpe, h.N.{ln_1, attn.{c_attn, c_proj}, ln_2, mlp.{c_fc, c_proj}}, ln_f
class Attn extends Module {
  c_attn: Linear;
  c_proj: Linear;
  dropout: Dropout;
  constructor(C: number, g: Generator) {
    super();
    this.c_attn = new Linear(C, 3 * C, { layout: 'conv1d', generator: g });
    this.c_proj = new Linear(C, C, { layout: 'conv1d', generator: g });
    this.dropout = new Dropout(0.5, g);
  }
}
class Mlp extends Module {
  c_fc: Linear;
  c_proj: Linear;
  constructor(C: number, g: Generator) {
    super();
    this.c_fc = new Linear(C, 4 * C, { layout: 'conv1d', generator: g });
    this.c_proj = new Linear(4 * C, C, { layout: 'conv1d', generator: g });
  }
}
class Block extends Module {
  ln_1: LayerNorm;
  attn: Attn;
  ln_2: LayerNorm;
  mlp: Mlp;
  constructor(C: number, g: Generator) {
    super();
    this.ln_1 = new LayerNorm(C);
    this.attn = new Attn(C, g);
    this.ln_2 = new LayerNorm(C);
    this.mlp = new Mlp(C, g);
  }
}
class Toy extends Module {
  wte: Embedding;
  wpe: Embedding;
  h: Block[];
  ln_f: LayerNorm;
  config = { C: 4 }; // a plain field: not a module, not a parameter
  constructor(seed: number) {
    super();
    const g = new Generator(seed);
    this.wte = new Embedding(7, 4, { generator: g });
    this.wpe = new Embedding(5, 4, { generator: g });
    this.h = [new Block(4, g), new Block(4, g)];
    this.ln_f = new LayerNorm(4);
  }
  forward(ids: Tensor): Variable {
    let x = F.add(this.wte.forward(ids), this.wpe.forward(tensor([0, 1, 2], { dtype: 'int32' })));
    for (const b of this.h) {
      const a = b.attn.c_proj.forward(b.attn.dropout.forward(F.narrow(b.attn.c_attn.forward(b.ln_1.forward(x)), -1, 0, 4)));
      x = F.add(x, a);
      x = F.add(x, b.mlp.c_proj.forward(F.gelu(b.mlp.c_fc.forward(b.ln_2.forward(x)))));
    }
    return F.linear(this.ln_f.forward(x), this.wte.weight, null); // tied output head
  }
}

const blockNames = (i: number) => [
  `h.${i}.ln_1.weight`, `h.${i}.ln_1.bias`,
  `h.${i}.attn.c_attn.weight`, `h.${i}.attn.c_attn.bias`, `h.${i}.attn.c_proj.weight`, `h.${i}.attn.c_proj.bias`,
  `h.${i}.ln_2.weight`, `h.${i}.ln_2.bias`,
  `h.${i}.mlp.c_fc.weight`, `h.${i}.mlp.c_fc.bias`, `h.${i}.mlp.c_proj.weight`, `h.${i}.mlp.c_proj.bias`,
];

describe('Module', () => {
  test('namedParameters: dotted names through nested modules and module arrays, in field order', () => {
    const m = new Toy(1);
    const names = m.namedParameters().map(([n]) => n);
    expect(names).toEqual(['wte.weight', 'wpe.weight', ...blockNames(0), ...blockNames(1), 'ln_f.weight', 'ln_f.bias']);
    const byName = new Map(m.namedParameters());
    expect(byName.get('h.1.attn.c_attn.weight')).toBe(m.h[1].attn.c_attn.weight);
    expect(byName.get('h.0.attn.c_attn.weight')!.shape).toEqual([4, 12]); // Conv1D layout [in, out]
    expect(m.namedParameters('transformer.')[0][0]).toBe('transformer.wte.weight');
    expect(m.parameters().length).toBe(names.length);
  });

  test('a parameter shared by two modules is listed once (under its first name)', () => {
    class Tied extends Module {
      a = new Linear(2, 2, { generator: new Generator(1) });
      b = new Linear(2, 2, { generator: new Generator(2) });
      constructor() {
        super();
        this.b.weight = this.a.weight;
      }
    }
    expect(new Tied().namedParameters().map(([n]) => n)).toEqual(['a.weight', 'a.bias', 'b.bias']);
  });

  test('trainableParameters leaves out frozen ones; Linear without bias has no bias parameter', () => {
    const m = new Toy(1);
    m.wte.weight.requiresGrad = false;
    for (const p of m.h[0].parameters()) p.requiresGrad = false;
    expect(m.trainableParameters().length).toBe(m.parameters().length - 1 - 12);
    const nb = new Linear(3, 2, { bias: false });
    expect(nb.bias).toBeNull();
    expect(nb.namedParameters().map(([n]) => n)).toEqual(['weight']);
    expect(arr(nb.forward(new Variable(zeros([1, 3]))).data)).toEqual([0, 0]);
  });

  test('train/eval propagate to every nested module, including module arrays', () => {
    const m = new Toy(1);
    expect(m.training).toBe(true);
    m.eval();
    const all = (mod: Module): Module[] => [mod, ...mod.namedChildren().flatMap(([, c]) => all(c))];
    expect(all(m).length).toBeGreaterThan(10);
    expect(all(m).every((x) => !x.training)).toBe(true);
    expect(m.h[1].attn.dropout.training).toBe(false);
    m.train();
    expect(all(m).every((x) => x.training)).toBe(true);
    expect(m.eval()).toBe(m);
  });

  test('dropout is the identity in eval mode and at p = 0, random (and scaled) in training', () => {
    const d = new Dropout(0.5, new Generator(1));
    const x = new Variable(ones([200]), { requiresGrad: true });
    const yTrain = d.forward(x);
    const vals = new Set(arr(yTrain.data));
    expect([...vals].sort()).toEqual([0, 2]);
    d.eval();
    expect(d.forward(x)).toBe(x);
    expect(new Dropout(0).forward(x)).toBe(x);
    // a whole model in eval is deterministic
    const m = new Toy(3).eval();
    const ids = tensor([1, 2, 3], { dtype: 'int32' });
    expect(arr(m.forward(ids).data)).toEqual(arr(m.forward(ids).data));
  });

  test('stateDict/loadStateDict round trip: same outputs, copies not shared', () => {
    const a = new Toy(1).eval(), b = new Toy(2).eval();
    const ids = tensor([3, 0, 6], { dtype: 'int32' });
    expect(arr(a.forward(ids).data)).not.toEqual(arr(b.forward(ids).data));
    const state = a.stateDict();
    expect([...state.keys()]).toEqual(a.namedParameters().map(([n]) => n));
    b.loadStateDict(state);
    expect(arr(b.forward(ids).data)).toEqual(arr(a.forward(ids).data));
    // loaded tensors are copies: changing the source afterwards does not reach b
    state.get('ln_f.bias')!.data[0] = 100;
    expect(b.ln_f.bias.data.get(0)).toBe(0);
    // non-contiguous and float64 sources are accepted (converted to the parameter dtype)
    const lin = new Linear(2, 3);
    lin.loadStateDict(new Map([['weight', tensor([[1, 2, 3], [4, 5, 6]], { dtype: 'float64' }).transpose()], ['bias', tensor([7, 8, 9])]]));
    expect(lin.weight.data.dtype).toBe('float32');
    expect(lin.weight.data.toArray()).toEqual([[1, 4], [2, 5], [3, 6]]);
  });

  test('loadStateDict errors: missing, unexpected, shape mismatch, wrong dtype, all in one message, nothing loaded', () => {
    const lin = new Linear(2, 3, { generator: new Generator(1) });
    const before = arr(lin.bias!.data);
    const bad = new Map<string, Tensor>([
      ['bias', zeros([3])],
      ['weight', zeros([2, 3])],
      ['extra', zeros([1])],
    ]);
    expect(() => lin.loadStateDict(bad, { source: 'model.safetensors' })).toThrow(
      'loadStateDict (model.safetensors): 2 problem(s):\n  weight: expected shape [3,2], got [2,3]\n  unexpected extra',
    );
    expect(arr(lin.bias!.data)).toEqual(before); // the valid bias was not loaded either
    expect(() => lin.loadStateDict(new Map([['bias', zeros([3])]]))).toThrow('loadStateDict: 1 problem(s):\n  missing weight [3,2]');
    expect(() => lin.loadStateDict(new Map([['weight', zeros([3, 2], 'int32')], ['bias', zeros([3])]]))).toThrow('weight: expected a float tensor, got int32');
  });

  test('non-strict loading allows missing and unexpected names but not wrong shapes', () => {
    const lin = new Linear(2, 3, { generator: new Generator(1) });
    lin.loadStateDict(new Map([['bias', ones([3])], ['other', zeros([1])]]), { strict: false });
    expect(arr(lin.bias!.data)).toEqual([1, 1, 1]);
    expect(() => lin.loadStateDict(new Map([['bias', ones([4])]]), { strict: false })).toThrow('bias: expected shape [3], got [4]');
  });

  test('a full forward/backward through the toy model reaches every parameter, including the tied embedding twice', () => {
    const m = new Toy(5);
    m.eval();
    const loss = F.crossEntropy(m.forward(tensor([1, 2, 3], { dtype: 'int32' })), tensor([2, 3, 4], { dtype: 'int32' }));
    loss.backward();
    for (const [name, p] of m.namedParameters()) {
      if (p.grad === null) throw new Error(`${name} got no gradient`);
      expect(p.grad.shape).toEqual(p.shape);
    }
  });
});

describe('initialization', () => {
  test.each([[16, 8], [3, 100]])('Linear(%p, %p) default init: U(−1/√in, 1/√in) for weight and bias, both layouts', (inF, outF) => {
    const bound = 1 / Math.sqrt(inF);
    for (const layout of ['torch', 'conv1d'] as const) {
      const lin = new Linear(inF, outF, { layout, generator: new Generator(1) });
      expect(lin.weight.shape).toEqual(layout === 'torch' ? [outF, inF] : [inF, outF]);
      expect(lin.bias!.shape).toEqual([outF]);
      const w = arr(lin.weight.data), b = arr(lin.bias!.data);
      expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(bound);
      expect(Math.max(...b.map(Math.abs))).toBeLessThanOrEqual(bound);
      // spread over the whole interval (the extreme of 128+ draws is near the bound)
      expect(Math.max(...w)).toBeGreaterThan(0.9 * bound);
      expect(Math.min(...w)).toBeLessThan(-0.9 * bound);
    }
  });

  test('Linear init is seeded by its generator', () => {
    const a = new Linear(4, 4, { generator: new Generator(7) }), b = new Linear(4, 4, { generator: new Generator(7) });
    expect(arr(a.weight.data)).toEqual(arr(b.weight.data));
    expect(arr(a.weight.data)).not.toEqual(arr(new Linear(4, 4, { generator: new Generator(8) }).weight.data));
  });

  test('Embedding is N(0, 1); LayerNorm is ones and zeros', () => {
    const e = arr(new Embedding(100, 50, { generator: new Generator(1) }).weight.data);
    const m = e.reduce((p, x) => p + x, 0) / e.length;
    const sd = Math.sqrt(e.reduce((p, x) => p + (x - m) ** 2, 0) / e.length);
    expect(Math.abs(m)).toBeLessThan(0.05);
    expect(Math.abs(sd - 1)).toBeLessThan(0.05);
    const ln = new LayerNorm(3, 1e-6);
    expect(arr(ln.weight.data)).toEqual([1, 1, 1]);
    expect(arr(ln.bias.data)).toEqual([0, 0, 0]);
    expect(ln.eps).toBe(1e-6);
  });

  /** Gram matrix of the columns (MᵀM) or rows (MMᵀ), in float64. */
  function gram(t: Tensor, of: 'cols' | 'rows'): number[][] {
    const [R, C] = t.shape;
    const n = of === 'cols' ? C : R, len = of === 'cols' ? R : C;
    const at = (vec: number, i: number) => (of === 'cols' ? t.get(i, vec) : t.get(vec, i));
    return [...Array(n).keys()].map((a) => [...Array(n).keys()].map((b) => {
      let s = 0;
      for (let i = 0; i < len; i++) s += at(a, i) * at(b, i);
      return s;
    }));
  }

  test.each([[8, 3, 1], [3, 8, 1], [5, 5, 1], [10, 4, 2.5], [4, 10, 0.5], [6, 1, 1], [1, 6, 1]])(
    'orthogonal(%p, %p, gain %p): orthonormal columns (tall) or rows (wide), times gain',
    (rows, cols, gain) => {
      const q = orthogonal(rows, cols, gain, new Generator(3));
      expect(q.shape).toEqual([rows, cols]);
      const g = gram(q, rows >= cols ? 'cols' : 'rows');
      g.forEach((row, i) => row.forEach((x, j) => expect(Math.abs(x - (i === j ? gain * gain : 0))).toBeLessThan(1e-5)));
    },
  );

  test('orthogonal is seeded and not trivially the identity', () => {
    const a = orthogonal(4, 4, 1, new Generator(1)), b = orthogonal(4, 4, 1, new Generator(1));
    expect(arr(a)).toEqual(arr(b));
    expect(arr(a)).not.toEqual(arr(orthogonal(4, 4, 1, new Generator(2))));
    expect(Math.abs(a.get(0, 1))).toBeGreaterThan(0);
  });
});

test('Parameter data can be swapped under noGrad without recording', () => {
  const p = new Parameter(uniform([2], 0, 1, { generator: new Generator(1) }));
  const y = noGrad(() => F.mul(p, 2));
  expect(y.requiresGrad).toBe(false);
});
