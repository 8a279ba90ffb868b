/**
 * Generation: cached and uncached decoding give the same tokens (greedy and sampled), on the HF fixture
 * and on a random model whose head size (9) is not a power of 2; greedy matches the reference's ids.
 */
import * as path from 'path';
import { Generator, fromArray } from '@fpt-ts/tensor';
import { noGrad } from '@fpt-ts/autograd';
import { loadGPT2 } from './checkpoint';
import { makeConfig } from './config';
import { GPT2 } from './model';
import { generate, sampleToken, type GenerateOptions } from './generate';
import { readSafetensors } from './safetensors';

const FIXTURES = process.env.FPT_FIXTURES_DIR ?? path.resolve(__dirname, '../../../../shared/fixtures');
const FIXTURE = path.join(FIXTURES, 'gpt2-tiny-a');

const run = (model: GPT2, prompt: number[], options: GenerateOptions) => [...generate(model, prompt, options)];

/** Both paths, asserting they agree, returning the tokens. */
function bothPaths(model: GPT2, prompt: number[], options: GenerateOptions): number[] {
  const cached = run(model, prompt, { ...options, useCache: true });
  const uncached = run(model, prompt, { ...options, useCache: false });
  expect(cached).toEqual(uncached);
  return cached;
}

describe('on the HF fixture', () => {
  let model: GPT2;
  let prompt: number[];
  let greedy: number[];
  beforeAll(() => {
    model = loadGPT2(FIXTURE);
    const ref = readSafetensors(path.join(FIXTURE, 'reference.safetensors'));
    const ids = ref.get('input_ids')!;
    prompt = [...ids.data.subarray(0, ids.shape[1])];
    greedy = [...ref.get('greedy_ids')!.data];
  });

  test("greedy, cached and uncached, reproduce the reference's greedy ids", () => {
    const tokens = bothPaths(model, prompt, { maxNewTokens: greedy.length - prompt.length });
    expect([...prompt, ...tokens]).toEqual(greedy);
  });

  test('greedy runs until the n_positions window is full', () => {
    const tokens = bothPaths(model, prompt, { maxNewTokens: 100 });
    expect(prompt.length + tokens.length).toBe(model.config.n_positions);
  });

  test('temperature + top-k with a seed: cached = uncached, reproducible, and the seed matters', () => {
    const options = { maxNewTokens: 16, temperature: 1.3, topK: 20, seed: 7 };
    const a = bothPaths(model, prompt, options);
    expect(run(model, prompt, options)).toEqual(a);
    const seeds = [1, 2, 3].map((seed) => bothPaths(model, prompt, { ...options, seed }));
    expect(seeds.some((s) => s.join() !== a.join())).toBe(true);
    const plain = bothPaths(model, prompt, { maxNewTokens: 16, temperature: 0.8, seed: 3 }); // no top-k
    expect(plain).toHaveLength(16);
  });

  test('generation leaves the model in the mode it found it', () => {
    model.train();
    run(model, prompt, { maxNewTokens: 2 });
    expect(model.training).toBe(true);
    model.eval();
  });
});

describe('on a random model with head_dim 9', () => {
  const config = makeConfig({ vocab_size: 61, n_positions: 40, n_embd: 36, n_head: 4, n_layer: 2, initializer_range: 0.2 });
  let model: GPT2;
  beforeAll(() => {
    model = new GPT2(config, { generator: new Generator(3) });
  });

  test('greedy: cached = uncached, and equal to argmax of a full forward at each step', () => {
    const prompt = [5, 17, 33];
    const tokens = bothPaths(model, prompt, { maxNewTokens: 12 });
    expect(model.training).toBe(true); // generate switched to eval and back
    model.eval();
    const seq = [...prompt];
    for (const t of tokens) {
      const logits = noGrad(() => model.logits(model.forward({ inputIds: fromArray(seq, [1, seq.length], 'int32') }).lastHiddenState).data);
      const last = (logits.contiguous().data as Float32Array).subarray((seq.length - 1) * config.vocab_size);
      expect(t).toBe(last.indexOf(Math.max(...last)));
      seq.push(t);
    }
    model.train();
  });

  test('sampling at several temperatures and k: cached = uncached', () => {
    for (const [temperature, topK, seed] of [[1, 0, 1], [0.7, 5, 2], [2, 1, 3], [1.5, 60, 4]]) {
      const tokens = bothPaths(model, [1], { maxNewTokens: 39, temperature, topK, seed });
      expect(tokens).toHaveLength(39); // fills the window
    }
  });

  test('stopToken ends generation after emitting it', () => {
    const all = bothPaths(model, [2, 3], { maxNewTokens: 30, temperature: 1, seed: 9 });
    const stop = all[5];
    const stopped = bothPaths(model, [2, 3], { maxNewTokens: 30, temperature: 1, seed: 9, stopToken: stop });
    expect(stopped).toEqual(all.slice(0, all.indexOf(stop) + 1));
  });

  test('bad arguments', () => {
    expect(() => run(model, [], { maxNewTokens: 1 })).toThrow('generate: the prompt is empty');
    expect(() => run(model, [61], { maxNewTokens: 1 })).toThrow("generate: prompt token 61 at position 0 is not in the model's vocabulary [0, 61)");
    expect(() => run(model, Array(41).fill(1), { maxNewTokens: 1 })).toThrow("generate: the prompt has 41 tokens, more than the model's n_positions 40");
    expect(() => run(model, [1], { maxNewTokens: -1 })).toThrow('maxNewTokens must be an integer >= 0');
    expect(() => run(model, [1], { maxNewTokens: 1, temperature: -1 })).toThrow('temperature must be a finite number >= 0');
    expect(() => run(model, [1], { maxNewTokens: 1, topK: 1.5 })).toThrow('topK must be an integer >= 0');
    expect(run(model, [1], { maxNewTokens: 0 })).toEqual([]);
  });
});

describe('sampleToken', () => {
  const logits = Float32Array.from([0.1, 2.0, -1.0, 1.9, 0.5]);

  test('temperature 0 is argmax; top-1 is argmax at any temperature', () => {
    const g = new Generator(0);
    expect(sampleToken(logits, 0, 0, g)).toBe(1);
    for (let i = 0; i < 20; i++) expect(sampleToken(logits, 5, 1, g)).toBe(1);
  });

  test('top-k samples only among the k most likely tokens', () => {
    const g = new Generator(1);
    const seen = new Set<number>();
    for (let i = 0; i < 300; i++) seen.add(sampleToken(logits, 10, 2, g));
    expect([...seen].sort()).toEqual([1, 3]);
  });

  test('frequencies follow softmax(logits / T)', () => {
    const g = new Generator(2);
    const T = 0.8, n = 20000;
    const counts = new Array(logits.length).fill(0);
    for (let i = 0; i < n; i++) counts[sampleToken(logits, T, 0, g)]++;
    const w = [...logits].map((l) => Math.exp(l / T));
    const z = w.reduce((a, b) => a + b, 0);
    w.forEach((wi, i) => {
      const p = wi / z;
      expect(Math.abs(counts[i] / n - p)).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / n) + 1e-3);
    });
  });
});
