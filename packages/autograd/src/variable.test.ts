/**
 * The autograd engine: accumulation, backward twice, zeroGrad, noGrad, graph release, error messages,
 * and frozen parameters (no gradient, no weight-gradient kernel work, same gradients elsewhere).
 */
import {
  Tensor, tensor, zeros, ones, uniform, Generator, setBackend, withBackend, registerBackend, makeBackend, refKernels,
  type MatmulArgs,
} from '@fpt-ts/tensor';
import {
  Variable, Parameter, F, noGrad, isGradEnabled, gradientCounts, resetGradientCounts, Linear, LayerNorm, Module, Embedding,
} from './index';

beforeAll(() => setBackend('ref'));

const v = (x: number[] | number[][], requiresGrad = true) => new Variable(tensor(x), { requiresGrad });
const grad = (x: Variable) => x.grad!.toArray();

describe('accumulation', () => {
  test('a value used twice gets both contributions', () => {
    const x = v([1, 2, 3]);
    F.sum(F.add(F.mul(x, x), x)).backward(); // d/dx (x² + x) = 2x + 1
    expect(grad(x)).toEqual([3, 5, 7]);
  });

  test('a diamond: intermediate gradients are summed before flowing on', () => {
    const x = v([2]);
    const a = F.mul(x, 3); // a = 3x
    const y = F.add(F.mul(a, a), F.exp(F.mul(a, 0))); // a² + 1
    y.backward(ones([1]));
    expect(grad(x)).toEqual([2 * 6 * 3]); // 2a·3
  });

  test('backward twice (retainGraph) accumulates into .grad; zeroGrad resets it to null', () => {
    const x = v([1, -2]);
    const y = F.sum(F.square(x));
    y.backward(undefined, { retainGraph: true });
    expect(grad(x)).toEqual([2, -4]);
    y.backward();
    expect(grad(x)).toEqual([4, -8]);
    x.zeroGrad();
    expect(x.grad).toBeNull();
    F.sum(F.square(x)).backward();
    expect(grad(x)).toEqual([2, -4]);
  });

  test('two separate graphs accumulate into the same leaf', () => {
    const w = v([3]);
    F.sum(F.mul(w, 2)).backward();
    F.sum(F.mul(w, 5)).backward();
    expect(grad(w)).toEqual([7]);
  });

  test('Module.zeroGrad clears every parameter', () => {
    const lin = new Linear(2, 2, { generator: new Generator(1) });
    F.sum(lin.forward(v([[1, 2]], false))).backward();
    expect(lin.weight.grad).not.toBeNull();
    lin.zeroGrad();
    expect(lin.weight.grad).toBeNull();
    expect(lin.bias!.grad).toBeNull();
  });

  test('a broadcast gradient lands in .grad as a contiguous tensor of the leaf shape', () => {
    const x = v([[1, 2], [3, 4]]);
    F.sum(x).backward();
    expect(x.grad!.shape).toEqual([2, 2]);
    expect(x.grad!.isContiguous()).toBe(true);
    expect(Array.from(x.grad!.data)).toEqual([1, 1, 1, 1]);
  });

  test('gradients keep the leaf dtype (float32 stays float32, float64 stays float64)', () => {
    const a = v([1, 2]);
    const b = new Variable(tensor([1, 2], { dtype: 'float64' }), { requiresGrad: true });
    F.sum(F.mul(a, 2)).backward();
    F.sum(F.mul(b, 2)).backward();
    expect(a.grad!.dtype).toBe('float32');
    expect(b.grad!.dtype).toBe('float64');
  });

  test('a NaN or infinite loss still seeds dL/dL = 1', () => {
    const x = v([Infinity, 1]);
    F.sum(x).backward();
    expect(grad(x)).toEqual([1, 1]);
    const y = v([NaN]);
    F.sum(F.mul(y, 2)).backward();
    expect(grad(y)).toEqual([2]);
  });

  test('a deep chain (20000 ops) does not overflow the stack', () => {
    const x = v([1]);
    let y = x;
    for (let i = 0; i < 20000; i++) y = F.mul(y, 1);
    F.sum(y).backward();
    expect(grad(x)).toEqual([1]);
  });

  test('method forms match the functional ops', () => {
    const x = v([[1, 2], [3, 4]]);
    const y = x.mul(2).add(1).pow(2).transpose().reshape(4).sum();
    y.backward();
    expect(y.item()).toBe(9 + 25 + 49 + 81);
    expect(grad(x)).toEqual([[12, 20], [28, 36]]); // 2(2x+1)·2
  });
});

describe('recording, noGrad, release', () => {
  test('ops on constants record nothing; any input requiring grad makes the output require grad', () => {
    const c = v([1, 2], false);
    const y = F.mul(c, 3);
    expect(y.requiresGrad).toBe(false);
    expect(y.gradFn).toBeNull();
    const x = v([1, 2]);
    const z = F.mul(c, x);
    expect(z.requiresGrad).toBe(true);
    expect(z.gradFn!.op).toBe('mul');
    expect(z.isLeaf).toBe(false);
    expect(x.isLeaf).toBe(true);
    F.sum(z).backward();
    expect(c.grad).toBeNull(); // constants never get a gradient
  });

  test('noGrad records nothing, nests, and restores grad mode even after a throw', () => {
    const x = v([1, 2]);
    const y = noGrad(() => {
      expect(isGradEnabled()).toBe(false);
      const inner = noGrad(() => F.exp(x));
      expect(isGradEnabled()).toBe(false);
      return F.mul(inner, x);
    });
    expect(isGradEnabled()).toBe(true);
    expect(y.requiresGrad).toBe(false);
    expect(y.gradFn).toBeNull();
    expect(() => noGrad(() => { throw new Error('boom'); })).toThrow('boom');
    expect(isGradEnabled()).toBe(true);
    expect(() => y.backward()).toThrow('does not require grad');
  });

  test('the graph is released after backward (every node), kept with retainGraph', () => {
    const x = v([1, 2]);
    const a = F.exp(x);
    const b = F.mul(a, 2);
    const y = F.sum(b);
    y.backward(undefined, { retainGraph: true });
    expect(y.gradFn).not.toBeNull();
    expect(a.gradFn).not.toBeNull();
    y.backward();
    expect(y.gradFn).toBeNull();
    expect(b.gradFn).toBeNull();
    expect(a.gradFn).toBeNull();
    expect(y.isLeaf).toBe(false); // still known as an op output
  });

  test('detach cuts the graph', () => {
    const x = v([3]);
    const y = F.mul(F.mul(x, x).detach(), x);
    F.sum(y).backward();
    expect(grad(x)).toEqual([9]); // only the outer x: d/dx (c·x) = c = 9
  });

  test('intermediate variables do not receive .grad', () => {
    const x = v([1]);
    const a = F.mul(x, 2);
    F.sum(F.mul(a, 3)).backward();
    expect(a.grad).toBeNull();
    expect(grad(x)).toEqual([6]);
  });
});

describe('backward errors', () => {
  test('non-scalar output without a gradient', () => {
    const y = F.mul(v([[1, 2, 3], [4, 5, 6]]), 2);
    expect(() => y.backward()).toThrow('backward: a gradient is needed for non-scalar output of shape [2,3]');
  });

  test('a gradient of the wrong shape', () => {
    const y = F.mul(v([[1, 2, 3], [4, 5, 6]]), 2);
    expect(() => y.backward(ones([3]))).toThrow('backward: gradient [3] does not match output [2,3]');
  });

  test('backward twice without retainGraph', () => {
    const y = F.sum(F.exp(v([1, 2])));
    y.backward();
    expect(() => y.backward()).toThrow('backward: the graph through Variable([], requiresGrad) was already released; pass { retainGraph: true } to backward twice');
  });

  test('a second root through a released shared subgraph', () => {
    const h = F.exp(v([1, 2]));
    F.sum(h).backward();
    expect(() => F.mean(h).backward()).toThrow('backward: the graph through Variable([2], requiresGrad) was already released');
  });

  test('an output that requires no grad', () => {
    expect(() => v([1], false).backward()).toThrow('backward: Variable([1]) does not require grad (no parameter it depends on requires grad)');
  });

  test('a backward returning a gradient of the wrong shape is caught and named', async () => {
    const { record } = await import('./variable');
    const x = v([1, 2]);
    const bad = record('bad', tensor([0]), [x], () => [zeros([3])]);
    expect(() => F.sum(bad).backward()).toThrow('backward of bad: gradient [3] for input 0 of shape [2]');
  });

  test('linear: input/weight/bias shapes', () => {
    const x = v([[1, 2, 3]]);
    expect(() => F.linear(x, new Variable(zeros([4, 5])), null)).toThrow('linear: input [1,3] does not fit weight [4,5] (torch layout: [out, in])');
    expect(() => F.linear(x, new Variable(zeros([4, 5])), null, 'conv1d')).toThrow('linear: input [1,3] does not fit weight [4,5] (conv1d layout: [in, out])');
    expect(() => F.linear(x, new Variable(zeros([4, 3])), new Variable(zeros([3])))).toThrow('linear: bias [3] does not match 4 outputs');
  });
});

// -------------------------------------------------------------------------------------------------
// Frozen parameters

/** A backend that counts matmul calls and records which layerNorm gradients were asked for. */
const calls = { matmul: 0, lnBackward: [] as string[] };
registerBackend('counting', () => makeBackend('counting', {
  matmul(args: MatmulArgs) {
    calls.matmul++;
    refKernels.matmul(args);
  },
  layerNormBackward(x, gamma, mean, rstd, dy, rows, C, dx, dgamma, dbeta) {
    calls.lnBackward.push([dx && 'dx', dgamma && 'dgamma', dbeta && 'dbeta'].filter(Boolean).join(','));
    refKernels.layerNormBackward(x, gamma, mean, rstd, dy, rows, C, dx, dgamma, dbeta);
  },
}, refKernels));

/** The FPT shape in miniature: a trainable input layer, then a frozen layerNorm and a frozen head. */
class Net extends Module {
  input = new Linear(4, 6, { generator: new Generator(1) });
  ln = new LayerNorm(6);
  head = new Linear(6, 3, { generator: new Generator(2) });
  constructor(frozen: boolean) {
    super();
    // non-trivial layerNorm parameters, so a missing gradient path would show
    this.ln.weight.data = uniform([6], 0.5, 1.5, { generator: new Generator(3) });
    this.ln.bias.data = uniform([6], -0.5, 0.5, { generator: new Generator(4) });
    if (frozen) for (const p of [this.ln.weight, this.ln.bias, this.head.weight, this.head.bias!]) p.requiresGrad = false;
  }
  forward(x: Variable): Variable {
    return this.head.forward(F.gelu(this.ln.forward(this.input.forward(x))));
  }
}

function runNet(frozen: boolean): { net: Net; counts: Map<string, number>; matmuls: number; ln: string[] } {
  const net = new Net(frozen);
  const x = new Variable(uniform([5, 4], -1, 1, { generator: new Generator(5) }));
  const targets = tensor([0, 2, 1, 1, 0], { dtype: 'int32' });
  return withBackend('counting', () => {
    const loss = F.crossEntropy(net.forward(x), targets);
    resetGradientCounts();
    calls.matmul = 0;
    calls.lnBackward = [];
    loss.backward();
    return { net, counts: new Map(gradientCounts()), matmuls: calls.matmul, ln: calls.lnBackward };
  });
}

describe('frozen parameters', () => {
  const frozen = runNet(true);
  const trainable = runNet(false);

  test('frozen parameters keep .grad null; trainable ones get gradients', () => {
    for (const p of [frozen.net.ln.weight, frozen.net.ln.bias, frozen.net.head.weight, frozen.net.head.bias!]) expect(p.grad).toBeNull();
    expect(frozen.net.input.weight.grad).not.toBeNull();
    expect(frozen.net.input.bias!.grad).not.toBeNull();
    for (const p of trainable.net.parameters()) expect(p.grad).not.toBeNull();
  });

  test('the gradient still flows through the frozen layers: the input layer gets exactly the fully-trainable gradient', () => {
    const a = frozen.net.input, b = trainable.net.input;
    expect(Array.from(a.weight.grad!.data)).toEqual(Array.from(b.weight.grad!.data));
    expect(Array.from(a.bias!.grad!.data)).toEqual(Array.from(b.bias!.grad!.data));
    expect(Math.max(...Array.from(a.weight.grad!.data).map(Math.abs))).toBeGreaterThan(1e-4);
  });

  test('gradientCounts: the frozen weight-gradient slots were never computed', () => {
    // ops: linear (input layer), layerNorm, gelu, linear (head), crossEntropy; inputs: 0 = x, 1 = weight, 2 = bias
    expect(frozen.counts.get('layerNorm:1')).toBeUndefined();
    expect(frozen.counts.get('layerNorm:2')).toBeUndefined();
    expect(frozen.counts.get('layerNorm:0')).toBe(1);
    expect(frozen.counts.get('linear:1')).toBe(1); // the input layer only; the head's weight is skipped
    expect(frozen.counts.get('linear:2')).toBe(1);
    expect(frozen.counts.get('linear:0')).toBe(1); // the head's input gradient; x itself needs none
    expect(trainable.counts.get('layerNorm:1')).toBe(1);
    expect(trainable.counts.get('layerNorm:2')).toBe(1);
    expect(trainable.counts.get('linear:1')).toBe(2);
    expect(trainable.counts.get('linear:2')).toBe(2);
  });

  test('kernel calls: no weight-gradient GEMM for the frozen head, no dgamma/dbeta for the frozen layerNorm', () => {
    // backward GEMMs: head dx (+ head dW when trainable) + input-layer dW; the input x needs no dx
    expect(frozen.matmuls).toBe(2);
    expect(trainable.matmuls).toBe(3);
    expect(frozen.ln).toEqual(['dx']);
    expect(trainable.ln).toEqual(['dx,dgamma,dbeta']);
  });

  test('a network whose only Linear is frozen never computes linear:1 at all', () => {
    const emb = new Embedding(5, 4, { generator: new Generator(1) });
    const lin = new Linear(4, 2, { generator: new Generator(2) });
    lin.weight.requiresGrad = false;
    resetGradientCounts();
    F.sum(lin.forward(emb.forward(tensor([1, 3, 3], { dtype: 'int32' })))).backward();
    expect(gradientCounts().has('linear:1')).toBe(false);
    expect(gradientCounts().get('linear:0')).toBe(1);
    expect(gradientCounts().get('embedding:0')).toBe(1);
    expect(lin.weight.grad).toBeNull();
    expect(lin.bias!.grad).not.toBeNull();
  });

  test('a frozen attention input (k, v frozen) computes only dq', () => {
    const mk = (seed: number, rg: boolean) => new Variable(uniform([1, 1, 3, 2], -1, 1, { generator: new Generator(seed) }), { requiresGrad: rg });
    const q = mk(1, true), k = mk(2, false), vv = mk(3, false);
    resetGradientCounts();
    F.sum(F.attention(q, k, vv)).backward();
    expect([...gradientCounts().keys()].filter((key) => key.startsWith('attention'))).toEqual(['attention:0']);
    expect(q.grad).not.toBeNull();
  });
});

describe('Parameter', () => {
  test('requires grad by default; can be created frozen', () => {
    expect(new Parameter(zeros([1])).requiresGrad).toBe(true);
    expect(new Parameter(zeros([1]), { requiresGrad: false }).requiresGrad).toBe(false);
    expect(String(new Parameter(zeros([2, 3]), { name: 'w' }))).toBe("Variable 'w'([2,3], requiresGrad)");
  });

  test('a parameter shared by two modules gets both contributions', () => {
    const shared = new Parameter(tensor([[1, 0], [0, 1]]));
    const x = new Variable(tensor([[1, 2]]));
    const y = F.add(F.linear(x, shared, null), F.linear(x, shared, null, 'conv1d'));
    F.sum(y).backward();
    // torch layout dW = gᵀx = [[1,2],[1,2]]; conv1d dW = xᵀg = [[1,1],[2,2]]
    expect(shared.grad!.toArray()).toEqual([[2, 3], [3, 4]]);
  });
});

test('Tensor results of ops are plain tensors (no graph on the tensor side)', () => {
  const x = v([1]);
  expect(F.mul(x, 2).data).toBeInstanceOf(Tensor);
});
