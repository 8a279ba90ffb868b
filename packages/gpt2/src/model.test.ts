/**
 * The GPT-2 module: config presets and parameter counts, HF's random init, dropout semantics, and the
 * composed attention path (dropout / KV cache) against the fused one.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Tensor, Generator, fromArray, randn } from '@fpt-ts/tensor';
import { Variable, noGrad, F } from '@fpt-ts/autograd';
import {
  type GPT2Config, DEFAULT_CONFIG, PRESETS, presetConfig, makeConfig, readConfig, configJson, parameterCount, innerDim,
} from './config';
import { GPT2, causalBias, emptyCache } from './model';

const SMALL: Partial<GPT2Config> = { vocab_size: 300, n_positions: 48, n_embd: 64, n_layer: 4, n_head: 4 };

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gpt2-model-test-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function stats(t: Tensor): { mean: number; std: number; n: number } {
  const d = t.contiguous().data;
  let s = 0, s2 = 0;
  for (let i = 0; i < d.length; i++) s += d[i];
  const mean = s / d.length;
  for (let i = 0; i < d.length; i++) s2 += (d[i] - mean) ** 2;
  return { mean, std: Math.sqrt(s2 / d.length), n: d.length };
}

function maxAbsDiff(a: Tensor, b: Tensor): number {
  expect(a.shape).toEqual(b.shape);
  const x = a.contiguous().data, y = b.contiguous().data;
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  return m;
}

function ids(rows: number[][]): Tensor {
  return fromArray(rows.flat(), [rows.length, rows[0].length], 'int32');
}

function randomIds(g: Generator, B: number, T: number, V: number): Tensor {
  return fromArray(Array.from({ length: B * T }, () => g.randint(0, V)), [B, T], 'int32');
}

describe('config', () => {
  test('presets: gpt2 has 124,439,808 parameters, and the other sizes match HF', () => {
    expect(parameterCount(presetConfig('gpt2'))).toBe(124_439_808);
    expect(parameterCount(presetConfig('gpt2-medium'))).toBe(354_823_168);
    expect(parameterCount(presetConfig('gpt2-large'))).toBe(774_030_080);
    expect(parameterCount(presetConfig('gpt2-xl'))).toBe(1_557_611_200);
    expect(parameterCount(presetConfig('distilgpt2'))).toBe(81_912_576);
    expect(Object.keys(PRESETS).sort()).toEqual(['distilgpt2', 'gpt2', 'gpt2-large', 'gpt2-medium', 'gpt2-xl']);
    const c = presetConfig('gpt2');
    expect([c.n_layer, c.n_head, c.n_embd, c.vocab_size, c.n_positions, innerDim(c), c.layer_norm_epsilon]).toEqual([12, 12, 768, 50257, 1024, 3072, 1e-5]);
    expect(presetConfig('gpt2-xl').n_embd / presetConfig('gpt2-xl').n_head).toBe(64);
    expect(presetConfig('gpt2', { n_layer: 2 }).n_layer).toBe(2);
    expect(() => presetConfig('gpt3')).toThrow("unknown GPT-2 preset 'gpt3' (known: gpt2, gpt2-medium, gpt2-large, gpt2-xl, distilgpt2)");
  });

  test("the model's actual parameter count equals parameterCount", () => {
    for (const c of [makeConfig(SMALL), makeConfig({ ...SMALL, n_inner: 100, n_layer: 1 }), makeConfig({ vocab_size: 7, n_positions: 5, n_embd: 36, n_layer: 3, n_head: 4 })]) {
      const model = new GPT2(c, { generator: new Generator(0) });
      expect(model.parameters().reduce((n, p) => n + p.size, 0)).toBe(parameterCount(c));
    }
  });

  test('parameter names are the HF keys, in HF order', () => {
    const model = new GPT2(makeConfig({ ...SMALL, n_layer: 1 }), { generator: new Generator(0) });
    expect(model.namedParameters().map(([n]) => n)).toEqual([
      'wte.weight', 'wpe.weight',
      'h.0.ln_1.weight', 'h.0.ln_1.bias', 'h.0.attn.c_attn.weight', 'h.0.attn.c_attn.bias', 'h.0.attn.c_proj.weight', 'h.0.attn.c_proj.bias',
      'h.0.ln_2.weight', 'h.0.ln_2.bias', 'h.0.mlp.c_fc.weight', 'h.0.mlp.c_fc.bias', 'h.0.mlp.c_proj.weight', 'h.0.mlp.c_proj.bias',
      'ln_f.weight', 'ln_f.bias',
    ]);
    expect(new Map(model.namedParameters()).get('h.0.attn.c_attn.weight')!.shape).toEqual([64, 192]); // Conv1D: [in, out]
  });

  test('config.json round-trips, and HF-only fields are ignored', () => {
    const c = makeConfig({ ...SMALL, n_inner: 96, layer_norm_epsilon: 1e-6, resid_pdrop: 0.05, activation_function: 'gelu_pytorch_tanh' });
    const file = path.join(tmp, 'config.json');
    fs.writeFileSync(file, configJson(c));
    expect(readConfig(file)).toEqual(c);
    const json = JSON.parse(fs.readFileSync(file, 'utf8'));
    expect(json).toMatchObject({ model_type: 'gpt2', architectures: ['GPT2LMHeadModel'], n_inner: 96, tie_word_embeddings: true });
    // a config with only a few fields takes HF's defaults for the rest
    fs.writeFileSync(file, JSON.stringify({ model_type: 'gpt2', n_layer: 6, summary_type: 'cls_index', use_cache: true }));
    expect(readConfig(file)).toEqual({ ...DEFAULT_CONFIG, n_layer: 6 });
  });

  test('validation messages', () => {
    expect(() => makeConfig({ n_embd: 36, n_head: 5 })).toThrow('config: n_embd 36 is not divisible by n_head 5');
    expect(() => makeConfig({ activation_function: 'relu' })).toThrow("config: activation_function 'relu' is not supported (GPT-2 uses gelu_new)");
    expect(() => makeConfig({ n_head: 0 })).toThrow('config: n_head must be a positive integer, got 0');
    expect(() => makeConfig({ vocab_size: 2.5 })).toThrow('config: vocab_size must be a positive integer, got 2.5');
    expect(() => makeConfig({ scale_attn_by_inverse_layer_idx: true })).toThrow('not supported');
    expect(() => makeConfig({ embd_pdrop: -0.1 })).toThrow('embd_pdrop must be a probability in [0, 1)');
    expect(makeConfig({ n_embd: 36, n_head: 4 }).n_embd / 4).toBe(9); // head_dim need not be a power of 2
  });
});

describe('HF random init', () => {
  const config = makeConfig({ vocab_size: 500, n_positions: 64, n_embd: 64, n_layer: 4, n_head: 4 });
  let model: GPT2;
  beforeAll(() => {
    model = new GPT2(config, { generator: new Generator(1234) });
  });

  test('weights N(0, 0.02), c_proj N(0, 0.02/sqrt(2·n_layer)), zero biases, unit layer norms', () => {
    const projStd = 0.02 / Math.sqrt(2 * config.n_layer);
    for (const [name, p] of model.namedParameters()) {
      const d = p.data.contiguous().data;
      if (/(^|\.)ln_(1|2|f)\.weight$/.test(name)) expect(d.every((v) => v === 1)).toBe(true);
      else if (name.endsWith('.bias')) expect(d.every((v) => v === 0)).toBe(true);
      else {
        const want = name.endsWith('c_proj.weight') ? projStd : 0.02;
        const s = stats(p.data);
        expect(Math.abs(s.std / want - 1)).toBeLessThan(6 / Math.sqrt(2 * s.n)); // ~6 standard errors of a sample std
        expect(Math.abs(s.mean)).toBeLessThan(6 * want / Math.sqrt(s.n));
      }
    }
    // both residual projections are scaled, nothing else is
    const scaled = model.namedParameters().filter(([, p]) => p.ndim === 2 && stats(p.data).std < 0.012).map(([n]) => n);
    expect(scaled).toEqual(Array.from({ length: 4 }, (_, i) => [`h.${i}.attn.c_proj.weight`, `h.${i}.mlp.c_proj.weight`]).flat());
  });

  test('the same seed gives the same weights; another seed others', () => {
    const again = new GPT2(config, { generator: new Generator(1234) });
    const other = new GPT2(config, { generator: new Generator(1235) });
    const a = model.namedParameters(), b = new Map(again.namedParameters()), c = new Map(other.namedParameters());
    for (const [name, p] of a) {
      expect(maxAbsDiff(p.data, b.get(name)!.data)).toBe(0);
      if (!name.includes('ln_') && !name.endsWith('.bias')) expect(maxAbsDiff(p.data, c.get(name)!.data)).toBeGreaterThan(0);
    }
  });
});

describe('forward', () => {
  const config = makeConfig({ vocab_size: 50, n_positions: 24, n_embd: 36, n_layer: 2, n_head: 4, attn_pdrop: 0, resid_pdrop: 0, embd_pdrop: 0 });
  let model: GPT2;
  beforeAll(() => {
    model = new GPT2(config, { generator: new Generator(7) }).eval();
  });

  test('hidden states: n_layer + 1 of them, the first is token + position embedding, the last is last_hidden_state', () => {
    const x = ids([[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]]);
    const out = noGrad(() => model.forward({ inputIds: x, outputHiddenStates: true }));
    expect(out.hiddenStates).toHaveLength(config.n_layer + 1);
    expect(out.hiddenStates![config.n_layer]).toBe(out.lastHiddenState);
    const wte = model.wte.weight.data, wpe = model.wpe.weight.data;
    const h0 = out.hiddenStates![0].data;
    expect(h0.get(1, 3, 7)).toBeCloseTo(wte.get(9, 7) + wpe.get(3, 7), 6);
    expect(noGrad(() => model.forward({ inputIds: x })).hiddenStates).toBeUndefined();
    expect(noGrad(() => model.logits(out.lastHiddenState)).shape).toEqual([2, 5, 50]);
  });

  test('inputsEmbeds equal to the token embeddings give the same outputs as the ids', () => {
    const x = ids([[3, 1, 4, 1, 5, 9, 2, 6]]);
    const fromIds = noGrad(() => model.forward({ inputIds: x }).lastHiddenState.data);
    const embeds = new Variable(noGrad(() => model.wte.forward(x)).data);
    const fromEmbeds = noGrad(() => model.forward({ inputsEmbeds: embeds }).lastHiddenState.data);
    expect(maxAbsDiff(fromIds, fromEmbeds)).toBe(0);
  });

  test('causal: changing a later token does not change earlier positions', () => {
    const a = noGrad(() => model.forward({ inputIds: ids([[5, 6, 7, 8, 9]]) }).lastHiddenState.data);
    const b = noGrad(() => model.forward({ inputIds: ids([[5, 6, 7, 8, 42]]) }).lastHiddenState.data);
    expect(maxAbsDiff(a.narrow(1, 0, 4), b.narrow(1, 0, 4))).toBe(0);
    expect(maxAbsDiff(a.narrow(1, 4, 1), b.narrow(1, 4, 1))).toBeGreaterThan(0);
  });

  test('input errors', () => {
    expect(() => model.forward({})).toThrow('GPT2: give inputIds or inputsEmbeds');
    expect(() => model.forward({ inputIds: fromArray([1, 2], [2], 'int32') })).toThrow('GPT2: inputIds must be [B, T], got [2]');
    expect(() => model.forward({ inputsEmbeds: new Variable(randn([1, 3, 8])) })).toThrow('GPT2: inputsEmbeds must be [B, T, 36], got [1,3,8]');
    expect(() => model.forward({ inputIds: ids([Array.from({ length: 25 }, () => 1)]) })).toThrow('GPT2: sequence of 25 positions exceeds n_positions 24');
    expect(() => model.forward({ inputIds: ids([[1, 50]]) })).toThrow('out of range');
  });
});

describe('attention paths: the composed one (dropout, KV cache) equals the fused one', () => {
  const config = makeConfig({ vocab_size: 50, n_positions: 24, n_embd: 36, n_layer: 2, n_head: 4, attn_pdrop: 0, resid_pdrop: 0, embd_pdrop: 0 });
  let model: GPT2;
  let x: Tensor;
  beforeAll(() => {
    model = new GPT2(config, { generator: new Generator(8) }).eval();
    x = randomIds(new Generator(9), 2, 13, config.vocab_size);
  });

  test('attendWithDropout with p = 0 matches F.attention on the same q, k, v', () => {
    const attn = model.h[0].attn;
    const g = new Generator(10);
    const [q, k, v] = [0, 1, 2].map(() => new Variable(randn([2, 4, 13, 9], { generator: g })));
    const fused = F.attention(q, k, v, { causal: true, scale: attn.scale }).data;
    const composed = attn['attendWithDropout'](q, k, v, 0).data;
    expect(maxAbsDiff(fused, composed)).toBeLessThan(1e-6);
  });

  test('attendWithDropout with p = 0 has the fused attention\'s gradients (the additive causal bias passes them through)', () => {
    const attn = model.h[0].attn;
    const g = new Generator(11);
    const w = randn([2, 4, 13, 9], { generator: g });
    const grads = (f: (q: Variable, k: Variable, v: Variable) => Variable): Tensor[] => {
      const gg = new Generator(12);
      const qkv = [0, 1, 2].map(() => new Variable(randn([2, 4, 13, 9], { generator: gg }), { requiresGrad: true }));
      F.sum(F.mul(f(qkv[0], qkv[1], qkv[2]), new Variable(w))).backward();
      return qkv.map((p) => p.grad!);
    };
    const fused = grads((q, k, v) => F.attention(q, k, v, { causal: true, scale: attn.scale }));
    const composed = grads((q, k, v) => attn['attendWithDropout'](q, k, v, 0));
    fused.forEach((t, i) => expect(maxAbsDiff(composed[i], t)).toBeLessThan(1e-5));
  });

  test('causalBias: 0 up to position past + t, −∞ after', () => {
    expect(causalBias(3, 5, 2).toArray()).toEqual([
      [0, 0, 0, -Infinity, -Infinity],
      [0, 0, 0, 0, -Infinity],
      [0, 0, 0, 0, 0],
    ]);
    expect(causalBias(2, 2, 0, 'float64').dtype).toBe('float64');
  });

  test('a full forward through an empty KV cache (composed attention, past = 0) matches the fused forward', () => {
    const fused = noGrad(() => model.forward({ inputIds: x }).lastHiddenState.data);
    const composed = noGrad(() => model.forward({ inputIds: x, cache: emptyCache(config) }).lastHiddenState.data);
    expect(maxAbsDiff(fused, composed)).toBeLessThan(1e-6);
  });

  test('token-by-token decoding with the KV cache reproduces every position of the full forward', () => {
    const full = noGrad(() => model.forward({ inputIds: x }).lastHiddenState.data);
    const cache = emptyCache(config);
    const T = x.shape[1];
    // prompt of 5 tokens at once, then one at a time
    const steps = [x.narrow(1, 0, 5), ...Array.from({ length: T - 5 }, (_, i) => x.narrow(1, 5 + i, 1))];
    let t = 0;
    for (const step of steps) {
      const h = noGrad(() => model.forward({ inputIds: step.contiguous(), cache }).lastHiddenState.data);
      expect(maxAbsDiff(h, full.narrow(1, t, step.shape[1]))).toBeLessThan(1e-5);
      t += step.shape[1];
    }
    expect(cache[1].k!.shape).toEqual([2, 4, T, 9]);
    expect(() => model.forward({ inputIds: x, cache })).toThrow(`sequence of ${2 * T} positions exceeds n_positions 24`);
  });

  test('train mode with every dropout at 0 is the deterministic forward, gradients included', () => {
    const evalOut = noGrad(() => model.forward({ inputIds: x }).lastHiddenState.data);
    model.train();
    try {
      const out = model.forward({ inputIds: x }).lastHiddenState;
      expect(maxAbsDiff(out.data, evalOut)).toBe(0);
      F.sum(out).backward();
      expect(model.h[0].attn.c_attn.weight.grad).not.toBeNull();
    } finally {
      model.zeroGrad();
      model.eval();
    }
  });
});

describe('dropout', () => {
  const config = makeConfig({ vocab_size: 50, n_positions: 16, n_embd: 32, n_layer: 2, n_head: 4, attn_pdrop: 0.1, resid_pdrop: 0.1, embd_pdrop: 0.1 });
  const x = ids([[1, 2, 3, 4, 5, 6, 7, 8], [8, 7, 6, 5, 4, 3, 2, 1]]);
  const run = (m: GPT2) => noGrad(() => m.forward({ inputIds: x }).lastHiddenState.data);
  /** The same weights in a model whose dropouts are all 0. */
  function deterministic(m: GPT2): GPT2 {
    const d = new GPT2(makeConfig({ ...m.config, attn_pdrop: 0, resid_pdrop: 0, embd_pdrop: 0 }), { generator: new Generator(0) });
    d.loadStateDict(m.stateDict());
    return d.eval();
  }

  test('train mode with p > 0 differs from eval and is reproducible from the seed; eval is the deterministic forward', () => {
    const a = new GPT2(config, { generator: new Generator(21) });
    const b = new GPT2(config, { generator: new Generator(21) });
    const trainA = run(a.train()), trainB = run(b.train());
    expect(maxAbsDiff(trainA, trainB)).toBe(0); // same seed, same masks
    const trainA2 = run(a); // the stream moved on: new masks
    expect(maxAbsDiff(trainA, trainA2)).toBeGreaterThan(1e-3);

    const evalA = run(a.eval());
    expect(maxAbsDiff(trainA, evalA)).toBeGreaterThan(1e-3);
    expect(maxAbsDiff(evalA, run(a))).toBe(0); // eval is deterministic
    expect(maxAbsDiff(evalA, run(deterministic(a)))).toBe(0);
  });

  test('attention dropout alone (resid and embd at 0) changes the train-mode output', () => {
    const m = new GPT2(makeConfig({ ...config, resid_pdrop: 0, embd_pdrop: 0, attn_pdrop: 0.3 }), { generator: new Generator(22) });
    const evalOut = run(m.eval());
    const trainOut = run(m.train());
    expect(maxAbsDiff(trainOut, evalOut)).toBeGreaterThan(1e-3);
    expect(maxAbsDiff(evalOut, run(deterministic(m)))).toBe(0);
  });
});
