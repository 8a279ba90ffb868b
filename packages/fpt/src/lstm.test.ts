import { randn, Generator, Tensor } from '@fpt-ts/tensor';
import { gradcheck, Variable, F } from '@fpt-ts/autograd';
import { LayerNormLSTM, LayerNormLSTMLayer } from './lstm';
import { FPT } from './model';

function sigmoid(x: number): number { return 1 / (1 + Math.exp(-x)); }

/** One LayerNorm-LSTM step written out with plain numbers, for a single example. */
function referenceStep(layer: LayerNormLSTMLayer, x: number[], h: number[], c: number[]): { h: number[]; c: number[] } {
  const H = layer.hidden;
  const lin = (w: Tensor, b: Tensor, v: number[]) => {
    const [out, inp] = w.shape;
    return Array.from({ length: out }, (_, o) => {
      let s = b.get(o);
      for (let i = 0; i < inp; i++) s += w.get(o, i) * v[i];
      return s;
    });
  };
  const ln = (v: number[], g: Tensor, b: Tensor) => {
    const m = v.reduce((a, x) => a + x, 0) / v.length;
    const vr = v.reduce((a, x) => a + (x - m) ** 2, 0) / v.length;
    return v.map((x, i) => ((x - m) / Math.sqrt(vr + 1e-5)) * g.get(i) + b.get(i));
  };
  const a = ln(lin(layer.ih.weight.data, layer.ih.bias!.data, x), layer.ln_ih.weight.data, layer.ln_ih.bias.data);
  const r = ln(lin(layer.hh.weight.data, layer.hh.bias!.data, h), layer.ln_hh.weight.data, layer.ln_hh.bias.data);
  const g = a.map((v, i) => v + r[i]);
  const c2 = Array.from({ length: H }, (_, j) => sigmoid(g[H + j]) * c[j] + sigmoid(g[j]) * Math.tanh(g[3 * H + j]));
  const lc = ln(c2, layer.ln_c.weight.data, layer.ln_c.bias.data);
  const h2 = Array.from({ length: H }, (_, j) => sigmoid(g[2 * H + j]) * Math.tanh(lc[j]));
  return { h: h2, c: c2 };
}

describe('LayerNorm-LSTM baseline', () => {
  test('matches the cell equations step by step', () => {
    const layer = new LayerNormLSTMLayer(3, 4, new Generator(1));
    const x = randn([2, 5, 3], { generator: new Generator(2) });
    const out = layer.forward(new Variable(x)); // (2, 5, 4)
    expect(out.shape).toEqual([2, 5, 4]);
    for (let b = 0; b < 2; b++) {
      let h = [0, 0, 0, 0], c = [0, 0, 0, 0];
      for (let t = 0; t < 5; t++) {
        ({ h, c } = referenceStep(layer, [0, 1, 2].map((i) => x.get(b, t, i)), h, c));
        h.forEach((v, j) => expect(out.data.get(b, t, j)).toBeCloseTo(v, 5));
      }
    }
  });

  test('gradcheck through two stacked layers (float64)', () => {
    const lstm = new LayerNormLSTM(2, 3, 2, { generator: new Generator(3) });
    for (const p of lstm.parameters()) p.data = p.data.double();
    const r = gradcheck((x) => lstm.forward(x), [randn([2, 4, 2], { generator: new Generator(4) })]);
    expect(r.failures).toEqual([]);
  });

  test('as the FPT backbone: every parameter trains and gradients reach the input layer', () => {
    const model = new FPT(new LayerNormLSTM(8, 8, 3, { generator: new Generator(5) }), {
      inputKind: 'continuous', inputDim: 2, outputDim: 3, outputTokens: 1, generator: new Generator(6),
    });
    expect(model.parameters().every((p) => p.requiresGrad)).toBe(true);
    const x = randn([2, 6, 2], { generator: new Generator(7) });
    const loss = model.loss(model.forward(x), new Tensor(new Int32Array([0, 2]), [2]));
    loss.backward();
    expect(model.in_layer.weight.grad).not.toBeNull();
    expect(Number.isFinite(F.sum(new Variable(model.in_layer.weight.grad!)).item())).toBe(true);
  });
});
