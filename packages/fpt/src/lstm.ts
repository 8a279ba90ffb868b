/**
 * The LSTM baseline of the paper: a 3-layer LayerNorm-LSTM (after exe1023/LSTM_LN, as the reference code),
 * unidirectional, no position embedding, with the same input and output layers as FPT, fully trained.
 *
 * One cell step, for input x_t (B, in) and state (h, c) (B, H):
 *     gates = LN_ih(x_t·W_ih + b_ih) + LN_hh(h·W_hh + b_hh)        (B, 4H) = [i | f | o | g]
 *     i, f, o = σ(gates[i]), σ(gates[f]), σ(gates[o]);  g = tanh(gates[g])
 *     c' = f ⊙ c + i ⊙ g
 *     h' = o ⊙ tanh(LN_c(c'))
 */
import { zeros, Generator, getDefaultGenerator } from '@fpt-ts/tensor';
import { Module, Linear, LayerNorm, Variable, F } from '@fpt-ts/autograd';

export class LayerNormLSTMLayer extends Module {
  ih: Linear; // in -> 4H
  hh: Linear; // H -> 4H
  ln_ih: LayerNorm;
  ln_hh: LayerNorm;
  ln_c: LayerNorm;

  constructor(inputSize: number, readonly hidden: number, generator: Generator) {
    super();
    this.ih = new Linear(inputSize, 4 * hidden, { generator });
    this.hh = new Linear(hidden, 4 * hidden, { generator });
    this.ln_ih = new LayerNorm(4 * hidden);
    this.ln_hh = new LayerNorm(4 * hidden);
    this.ln_c = new LayerNorm(hidden);
  }

  /** x (B, T, in) -> hidden states (B, T, H). */
  forward(x: Variable): Variable {
    const [B, T] = x.shape;
    const H = this.hidden;
    const xGates = this.ln_ih.forward(this.ih.forward(x)); // (B, T, 4H): the input part of every step at once
    let h = new Variable(zeros([B, H]));
    let c = new Variable(zeros([B, H]));
    const outputs: Variable[] = [];
    for (let t = 0; t < T; t++) {
      const gates = F.add(xGates.select(1, t), this.ln_hh.forward(this.hh.forward(h))); // (B, 4H)
      const i = F.sigmoid(gates.narrow(1, 0, H));
      const f = F.sigmoid(gates.narrow(1, H, H));
      const o = F.sigmoid(gates.narrow(1, 2 * H, H));
      const g = F.tanh(gates.narrow(1, 3 * H, H));
      c = F.add(F.mul(f, c), F.mul(i, g));
      h = F.mul(o, F.tanh(this.ln_c.forward(c)));
      outputs.push(h);
    }
    return F.stack(outputs, 1); // (B, T, H)
  }
}

export class LayerNormLSTM extends Module {
  layers: LayerNormLSTMLayer[];

  constructor(inputSize: number, hidden: number, numLayers: number, options: { generator?: Generator } = {}) {
    super();
    const g = options.generator ?? getDefaultGenerator();
    this.layers = Array.from({ length: numLayers }, (_, l) => new LayerNormLSTMLayer(l === 0 ? inputSize : hidden, hidden, g));
  }

  forward(x: Variable): Variable {
    for (const layer of this.layers) x = layer.forward(x);
    return x;
  }
}

