/**
 * Optimizers against PyTorch's update equations written out here in float64 (torch.optim.SGD, Adam,
 * AdamW and torch.nn.utils.clip_grad_norm_ as documented), over several steps with chosen gradients.
 */
import { Tensor, tensor, Generator, uniform, setBackend } from '@fpt-ts/tensor';
import { Parameter, Variable, F, SGD, Adam, AdamW, clipGradNorm, Linear, type Optimizer } from './index';

beforeAll(() => setBackend('ref'));

const f64 = (xs: number[]) => tensor(xs, { dtype: 'float64' });
const arr = (t: Tensor) => Array.from(t.contiguous().data);

/** Gradient sequence: step t gives grads[t] (including negatives, zeros and a large value). */
const P0 = [0.5, -1.2, 3.0, 0.0];
const GRADS = [
  [0.1, -0.3, 2.0, 0.0],
  [-0.2, 0.05, 1.5, 1e-3],
  [0.4, 0.4, -3.0, -2.0],
  [0.0, -1.0, 0.25, 0.5],
  [1.0, 0.2, -0.1, 10.0],
];

function expectArrayClose(actual: number[], expected: number[], tol: number): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((a, i) => {
    if (!(Math.abs(a - expected[i]) <= tol)) throw new Error(`element ${i}: got ${a}, expected ${expected[i]} (tol ${tol})`);
  });
}

/** Run an optimizer for GRADS.length steps from P0, setting .grad directly. */
function run(make: (p: Parameter) => Optimizer, dtype: 'float32' | 'float64' = 'float64'): number[][] {
  const p = new Parameter(tensor(P0, { dtype }));
  const opt = make(p);
  const trace: number[][] = [];
  for (const g of GRADS) {
    p.grad = tensor(g, { dtype });
    opt.step();
    trace.push(arr(p.data));
  }
  return trace;
}

// --- PyTorch's equations, elementwise in float64 ---------------------------------------------------

function refSGD(o: { lr: number; momentum?: number; dampening?: number; nesterov?: boolean; weightDecay?: number }): number[][] {
  const { lr, momentum = 0, dampening = 0, nesterov = false, weightDecay = 0 } = o;
  const p = [...P0];
  const buf: (number | null)[] = P0.map(() => null);
  const trace: number[][] = [];
  for (const grads of GRADS) {
    for (let i = 0; i < p.length; i++) {
      let d = grads[i] + weightDecay * p[i];
      if (momentum !== 0) {
        buf[i] = buf[i] === null ? d : momentum * buf[i]! + (1 - dampening) * d;
        d = nesterov ? d + momentum * buf[i]! : buf[i]!;
      }
      p[i] -= lr * d;
    }
    trace.push([...p]);
  }
  return trace;
}

function refAdam(o: { lr: number; betas?: [number, number]; eps?: number; weightDecay?: number; decoupled: boolean }): number[][] {
  const { lr, betas: [b1, b2] = [0.9, 0.999], eps = 1e-8, weightDecay = 0, decoupled } = o;
  const p = [...P0], m = P0.map(() => 0), v = P0.map(() => 0);
  const trace: number[][] = [];
  GRADS.forEach((grads, s) => {
    const t = s + 1;
    for (let i = 0; i < p.length; i++) {
      let g = grads[i];
      if (decoupled) p[i] = p[i] * (1 - lr * weightDecay);
      else g = g + weightDecay * p[i];
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      const mHat = m[i] / (1 - b1 ** t);
      const vHat = v[i] / (1 - b2 ** t);
      p[i] = p[i] - (lr * mHat) / (Math.sqrt(vHat) + eps);
    }
    trace.push([...p]);
  });
  return trace;
}

describe('SGD', () => {
  const configs = [
    { lr: 0.1 },
    { lr: 0.1, momentum: 0.9 },
    { lr: 0.05, momentum: 0.9, dampening: 0.3 },
    { lr: 0.05, momentum: 0.8, nesterov: true },
    { lr: 0.1, weightDecay: 0.01 },
    { lr: 0.02, momentum: 0.9, nesterov: true, weightDecay: 0.1 },
    { lr: 0.02, momentum: 0.5, dampening: 0.5, weightDecay: 0.2 },
  ];
  test.each(configs)('%p against the torch.optim.SGD equations, 5 steps', (cfg) => {
    const { lr, ...options } = cfg;
    const got = run((p) => new SGD([p], lr, options));
    const ref = refSGD(cfg);
    got.forEach((step, t) => expectArrayClose(step, ref[t], 1e-12));
    const got32 = run((p) => new SGD([p], lr, options), 'float32');
    got32.forEach((step, t) => expectArrayClose(step, ref[t], 1e-5));
  });
});

describe('Adam and AdamW', () => {
  const configs: { lr: number; betas?: [number, number]; eps?: number; weightDecay?: number }[] = [
    { lr: 1e-3 },
    { lr: 0.1 },
    { lr: 0.05, betas: [0.8, 0.99], eps: 1e-6 },
    { lr: 0.01, weightDecay: 0.1 },
    { lr: 0.3, betas: [0.5, 0.9], eps: 1e-3, weightDecay: 0.5 },
  ];
  test.each(configs)('Adam %p against the equations, 5 steps', (cfg) => {
    const { lr, ...options } = cfg;
    const ref = refAdam({ ...cfg, decoupled: false });
    run((p) => new Adam([p], lr, options)).forEach((step, t) => expectArrayClose(step, ref[t], 1e-12));
    run((p) => new Adam([p], lr, options), 'float32').forEach((step, t) => expectArrayClose(step, ref[t], 1e-6));
  });
  test.each(configs)('AdamW %p against the equations (decoupled decay), 5 steps', (cfg) => {
    const { lr, ...options } = cfg;
    const ref = refAdam({ ...cfg, weightDecay: cfg.weightDecay ?? 0.01, decoupled: true });
    run((p) => new AdamW([p], lr, options)).forEach((step, t) => expectArrayClose(step, ref[t], 1e-12));
    run((p) => new AdamW([p], lr, options), 'float32').forEach((step, t) => expectArrayClose(step, ref[t], 1e-6));
  });

  test('AdamW defaults to weight decay 0.01; Adam to 0 (torch defaults)', () => {
    expect(new AdamW([]).weightDecay).toBe(0.01);
    expect(new Adam([]).weightDecay).toBe(0);
    expect(new Adam([]).lr).toBe(1e-3);
    expect(new Adam([]).betas).toEqual([0.9, 0.999]);
    expect(new Adam([]).eps).toBe(1e-8);
  });

  test('Adam and AdamW differ exactly by where the decay goes', () => {
    const adam = run((p) => new Adam([p], 0.1, { weightDecay: 0.1 }));
    const adamw = run((p) => new AdamW([p], 0.1, { weightDecay: 0.1 }));
    expect(adam[4]).not.toEqual(adamw[4]);
  });

  test('first Adam step moves each element by lr·sign(g) (bias correction), zero gradient does not move', () => {
    const p = new Parameter(f64([1, 1, 1]));
    p.grad = f64([5, -0.001, 0]);
    new Adam([p], 0.1).step();
    expectArrayClose(arr(p.data), [0.9, 1.1, 1], 1e-6);
  });

  test('a parameter without a gradient on some steps keeps its own step count (torch keeps state.step per parameter)', () => {
    const a = new Parameter(f64([1])), b = new Parameter(f64([1]));
    const opt = new Adam([a, b], 0.1);
    a.grad = f64([1]);
    opt.step(); // b has no grad: skipped, its step stays 0
    b.grad = f64([1]);
    opt.step();
    // b has had exactly one update: a bias-corrected first step of exactly lr
    expectArrayClose(arr(b.data), [0.9], 1e-9);
    expect(opt.stateDict().paramSteps).toEqual([2, 1]);
  });
});

describe('training through autograd', () => {
  test('Adam on a quadratic with autograd gradients equals the equations with g = 2(p − c)', () => {
    const c = f64([1, -2, 0.5, 3]);
    const p = new Parameter(f64(P0));
    const opt = new Adam([p], 0.1);
    const b1 = 0.9, b2 = 0.999;
    const ref = [...P0], m = [0, 0, 0, 0], v = [0, 0, 0, 0];
    for (let t = 1; t <= 4; t++) {
      opt.zeroGrad();
      F.sum(F.square(F.sub(p, new Variable(c)))).backward();
      opt.step();
      for (let i = 0; i < 4; i++) {
        const g = 2 * (ref[i] - c.get(i));
        m[i] = b1 * m[i] + (1 - b1) * g;
        v[i] = b2 * v[i] + (1 - b2) * g * g;
        ref[i] -= (0.1 * m[i] / (1 - b1 ** t)) / (Math.sqrt(v[i] / (1 - b2 ** t)) + 1e-8);
      }
      expectArrayClose(arr(p.data), ref, 1e-12);
    }
  });
});

describe('only parameters that require grad are updated', () => {
  test.each([
    ['SGD', (ps: Parameter[]) => new SGD(ps, 0.1, { momentum: 0.9, weightDecay: 0.1 })],
    ['Adam', (ps: Parameter[]) => new Adam(ps, 0.1, { weightDecay: 0.1 })],
    ['AdamW', (ps: Parameter[]) => new AdamW(ps, 0.1)],
  ] as [string, (ps: Parameter[]) => Optimizer][])('%s: frozen parameters stay bitwise unchanged, even with a stale gradient', (_, make) => {
    const lin = new Linear(3, 2, { generator: new Generator(1) });
    const frozenBefore = arr(lin.weight.data);
    lin.weight.requiresGrad = false;
    const opt = make(lin.parameters());
    expect(opt.params).toEqual([lin.bias]);
    const x = new Variable(uniform([4, 3], -1, 1, { generator: new Generator(2) }));
    const biasBefore = arr(lin.bias!.data);
    F.sum(F.square(lin.forward(x))).backward();
    lin.weight.grad = tensor([[1, 1, 1], [1, 1, 1]]); // a stale gradient must not matter
    opt.step();
    expect(arr(lin.weight.data)).toEqual(frozenBefore);
    expect(arr(lin.bias!.data)).not.toEqual(biasBefore);
  });

  test('a parameter frozen after the optimizer was built is skipped too', () => {
    const p = new Parameter(f64([1, 2]));
    const opt = new Adam([p], 0.1);
    p.requiresGrad = false;
    p.grad = f64([1, 1]);
    opt.step();
    expect(arr(p.data)).toEqual([1, 2]);
  });

  test('parameters without a gradient are not touched (no weight decay either)', () => {
    const p = new Parameter(f64([1, 2]));
    new AdamW([p], 0.1, { weightDecay: 0.5 }).step();
    new SGD([p], 0.1, { weightDecay: 0.5 }).step();
    expect(arr(p.data)).toEqual([1, 2]);
  });
});

describe('clipGradNorm', () => {
  /** torch.nn.utils.clip_grad_norm_: total = ‖all grads‖₂; coef = max/(total + 1e-6), clamped to ≤ 1. */
  function refClip(grads: number[][], maxNorm: number): { norm: number; grads: number[][] } {
    const norm = Math.sqrt(grads.flat().reduce((s, g) => s + g * g, 0));
    const coef = Math.min(maxNorm / (norm + 1e-6), 1);
    return { norm, grads: grads.map((g) => g.map((x) => x * coef)) };
  }

  test('global norm over several parameters, scaled when above maxNorm', () => {
    const gs = [[3, -4], [12], [0, 1, -2]];
    const ps = gs.map((g) => Object.assign(new Parameter(f64(g.map(() => 0))), { grad: f64(g) }));
    const ref = refClip(gs, 5);
    const norm = clipGradNorm(ps, 5);
    expect(norm).toBeCloseTo(ref.norm, 12);
    expect(norm).toBeCloseTo(Math.sqrt(9 + 16 + 144 + 1 + 4), 12);
    ps.forEach((p, i) => expectArrayClose(arr(p.grad!), ref.grads[i], 1e-12));
    // the clipped global norm is maxNorm (up to the 1e-6 guard)
    expect(Math.sqrt(ps.flatMap((p) => arr(p.grad!)).reduce((s, g) => s + g * g, 0))).toBeCloseTo(5, 5);
  });

  test('below maxNorm the gradients are left exactly as they were', () => {
    const p = new Parameter(f64([0, 0]));
    const g = f64([0.3, 0.4]);
    p.grad = g;
    expect(clipGradNorm([p], 1)).toBeCloseTo(0.5, 12);
    expect(arr(p.grad!)).toEqual([0.3, 0.4]);
  });

  test('parameters without gradients are ignored; float32 grads stay float32', () => {
    const a = new Parameter(tensor([0, 0])), b = new Parameter(tensor([0]));
    a.grad = tensor([6, 8]);
    expect(clipGradNorm([a, b], 1)).toBeCloseTo(10, 5);
    expect(b.grad).toBeNull();
    expect(a.grad!.dtype).toBe('float32');
    expectArrayClose(arr(a.grad!), [0.6, 0.8], 1e-6);
  });

  test('clip then Adam, 4 steps, against the equations', () => {
    const p = new Parameter(f64(P0));
    const opt = new Adam([p], 0.05);
    const ref = [...P0], m = [0, 0, 0, 0], v = [0, 0, 0, 0];
    GRADS.slice(0, 4).forEach((g, s) => {
      p.grad = f64(g);
      clipGradNorm([p], 1);
      opt.step();
      const clipped = refClip([g], 1).grads[0];
      for (let i = 0; i < 4; i++) {
        m[i] = 0.9 * m[i] + 0.1 * clipped[i];
        v[i] = 0.999 * v[i] + 0.001 * clipped[i] ** 2;
        ref[i] -= (0.05 * m[i] / (1 - 0.9 ** (s + 1))) / (Math.sqrt(v[i] / (1 - 0.999 ** (s + 1))) + 1e-8);
      }
      expectArrayClose(arr(p.data), ref, 1e-12);
    });
  });
});

describe('optimizer parameters', () => {
  test('a parameter listed twice is refused (it would be stepped twice)', () => {
    const a = new Parameter(f64([1, 2]), { name: 'h.0.ln_1.weight' }), b = new Parameter(f64([3]));
    expect(() => new Adam([a, b, a])).toThrow('optimizer: parameter h.0.ln_1.weight (#0 and #2, shape [2]) is listed twice');
    expect(() => new SGD([b, b], 0.1)).toThrow('(#0 and #1, shape [1]) is listed twice');
  });
});

describe('optimizer state', () => {
  test.each([
    ['SGD', (ps: Parameter[]) => new SGD(ps, 0.05, { momentum: 0.9, nesterov: true })],
    ['Adam', (ps: Parameter[]) => new Adam(ps, 0.05)],
    ['AdamW', (ps: Parameter[]) => new AdamW(ps, 0.05, { weightDecay: 0.1 })],
  ] as [string, (ps: Parameter[]) => Optimizer][])('%s: stateDict/loadStateDict round trip continues identically', (_, make) => {
    const a = new Parameter(f64(P0)), b = new Parameter(f64([0.1, 0.2]));
    const opt = make([a, b]);
    const stepWith = (o: Optimizer, pa: Parameter, pb: Parameter, t: number) => {
      pa.grad = f64(GRADS[t]);
      pb.grad = f64([GRADS[t][0], -GRADS[t][1]]);
      o.step();
    };
    stepWith(opt, a, b, 0);
    stepWith(opt, a, b, 1);
    const state = opt.stateDict();
    const snapshot = [a.data.clone(), b.data.clone()];
    for (let t = 2; t < 5; t++) stepWith(opt, a, b, t);
    // a fresh optimizer over parameters restored from the snapshot, continuing from the saved state
    const a2 = new Parameter(snapshot[0].clone()), b2 = new Parameter(snapshot[1].clone());
    const opt2 = make([a2, b2]);
    opt2.loadStateDict(state);
    expect(opt2.stepCount).toBe(2);
    for (let t = 2; t < 5; t++) stepWith(opt2, a2, b2, t);
    expect(arr(a2.data)).toEqual(arr(a.data));
    expect(arr(b2.data)).toEqual(arr(b.data));
  });

  test('loadStateDict copies: the loaded state is not shared with the source', () => {
    const p = new Parameter(f64([1]));
    const opt = new Adam([p], 0.1);
    p.grad = f64([1]);
    opt.step();
    const state = opt.stateDict();
    const m = arr(state.buffers[0].m);
    opt.step();
    expect(arr(state.buffers[0].m)).toEqual(m);
  });

  test('state for a different number of parameters is rejected', () => {
    const opt = new Adam([new Parameter(f64([1])), new Parameter(f64([2]))]);
    expect(() => opt.loadStateDict({ step: 1, buffers: [{}] })).toThrow('optimizer state holds 1 parameters, this optimizer has 2');
  });

  test('a buffer of the wrong size is rejected', () => {
    const opt = new Adam([new Parameter(f64([1, 2, 3, 4]))]);
    expect(() => opt.loadStateDict({ step: 1, buffers: [{ m: f64([0, 0, 0]) }] })).toThrow("optimizer state 'm' of parameter 0 has 3 elements, expected 4");
  });

  test('a state without per-parameter steps falls back to the global step', () => {
    const p = new Parameter(f64([1]));
    const opt = new Adam([p], 0.1);
    opt.loadStateDict({ step: 3, buffers: [{}] });
    expect(opt.stateDict().paramSteps).toEqual([3]);
  });
});
