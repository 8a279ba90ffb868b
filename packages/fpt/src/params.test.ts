import { presetConfig, makeConfig, GPT2, parameterCount } from '@fpt-ts/gpt2';
import { gpt2ParameterShapes, countParameters, paperCount } from './params';
import { FPT } from './model';

describe('parameter accounting', () => {
  test('the shape table equals the model built from the same config', () => {
    const c = makeConfig({ vocab_size: 11, n_positions: 9, n_embd: 12, n_layer: 2, n_head: 3 });
    const model = new GPT2(c, { init: false });
    expect(gpt2ParameterShapes(c)).toEqual(model.namedParameters().map(([n, p]) => [n, [...p.shape]]));
  });

  test("the paper's §2.2 figure from its own assumptions: 106,752 trainable = 0.086% of GPT-2 small", () => {
    const c = presetConfig('gpt2');
    const p = paperCount(c, 64, 16, 10);
    expect(p.trainable).toBe(7680 + 13056 + 36864 + 49152);
    expect(p.trainable).toBe(106752);
    expect((100 * p.fraction).toFixed(3)).toBe('0.086');
    expect((100 * paperCount(presetConfig('gpt2-xl'), 64, 16, 10).fraction).toFixed(3)).toBe('0.029');
  });

  test('the released code on CIFAR-10 (48-dim tokens) trains in + out + all LN + wpe', () => {
    const c = presetConfig('gpt2');
    const r = countParameters(c, { inputKind: 'continuous', tokenDim: 48, outputDim: 10, tokens: 64 });
    const group = (g: string) => r.groups.find((x) => x.group === g)!;
    expect(group('input layer').trainable).toBe(37632);
    expect(group('output layer').trainable).toBe(7690);
    expect(group('layer norm').trainable).toBe(36864 + 1536);
    expect(group('positions').trainable).toBe(786432);
    expect(group('positions').used).toBe(64 * 768);
    expect(group('attention').trainable).toBe(0);
    expect(group('feedforward').trainable).toBe(0);
    expect(r.total).toBe(parameterCount(c) + 37632 + 7690);
    expect(r.total).toBe(124439808 + 37632 + 7690);
  });

  test('countParameters agrees with the trainable parameters of a real FPT', () => {
    const c = makeConfig({ vocab_size: 11, n_positions: 9, n_embd: 12, n_layer: 2, n_head: 3 });
    const fpt = new FPT(new GPT2(c, { init: false }), { inputKind: 'continuous', inputDim: 5, outputDim: 4, outputTokens: 1 });
    const r = countParameters(c, { inputKind: 'continuous', tokenDim: 5, outputDim: 4, tokens: 9 });
    expect(r.trainable).toBe(fpt.trainableParameters().reduce((n, p) => n + p.size, 0));
    expect(r.total).toBe(fpt.parameters().reduce((n, p) => n + p.size, 0));
  });
});
