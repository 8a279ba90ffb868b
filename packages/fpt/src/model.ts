/**
 * The Frozen Pretrained Transformer (Lu, Grover, Abbeel, Mordatch 2021), as the reference code builds it:
 *
 *   x --(patches)--> in_layer --> GPT-2 (called with inputs_embeds; position embeddings still added)
 *     --> last hidden state --> last k positions --> out_layer
 *
 * The input layer replaces the token embedding: a Linear with orthogonal init (gain 1.41, zero bias,
 * followed by Dropout 0.1) for continuous inputs, or an Embedding with N(0, 1) init for token tasks.
 * The output layer is a Linear with PyTorch's default init, applied to the last `outputTokens` positions.
 * Which parameters train is decided by the freeze table below, by name.
 */
import { Tensor, fmt, Generator, getDefaultGenerator, zeros } from '@fpt-ts/tensor';
import { Module, Linear, Embedding, Dropout, Variable, Parameter, F, orthogonal } from '@fpt-ts/autograd';
import { GPT2 } from '@fpt-ts/gpt2';
import { LayerNormLSTM } from './lstm';

export interface FreezeFlags {
  /** Freeze the transformer at all; false = "Full" fine-tuning of every GPT-2 weight. */
  freeze_trans: boolean;
  freeze_in: boolean;
  freeze_pos: boolean;
  freeze_ln: boolean;
  freeze_attn: boolean;
  freeze_ff: boolean;
  freeze_out: boolean;
}

/** The paper's FPT: transformer frozen except layer norms and position embeddings. */
export const FPT_DEFAULT_FREEZE: FreezeFlags = {
  freeze_trans: true, freeze_in: false, freeze_pos: false, freeze_ln: false, freeze_attn: true, freeze_ff: true, freeze_out: false,
};

/**
 * The reference code's freeze table: the first rule whose pattern the lower-cased GPT-2 parameter name
 * contains decides whether it trains (only when freeze_trans; otherwise everything trains).
 */
export const FREEZE_TABLE: readonly { contains: readonly string[]; trains: (f: FreezeFlags) => boolean; group: string }[] = [
  { contains: ['ln', 'norm'], trains: (f) => !f.freeze_ln, group: 'layer norm' },
  { contains: ['wpe', 'position_embeddings', 'pos_drop'], trains: (f) => !f.freeze_pos, group: 'positions' },
  { contains: ['mlp'], trains: (f) => !f.freeze_ff, group: 'feedforward' },
  { contains: ['attn'], trains: (f) => !f.freeze_attn, group: 'attention' },
  { contains: [''], trains: () => false, group: 'token embedding' }, // anything else: wte
];

/** The freeze-table row for a GPT-2 parameter name. */
export function freezeRule(name: string) {
  const lower = name.toLowerCase();
  return FREEZE_TABLE.find((r) => r.contains.some((c) => lower.includes(c)))!;
}

export interface FPTOptions {
  inputKind: 'continuous' | 'tokens';
  /** Token dimension (continuous) or vocabulary size (tokens). */
  inputDim: number;
  /** Classes per output position. */
  outputDim: number;
  /** How many final positions the output layer reads (1 = last token; k for the bit tasks). */
  outputTokens: number;
  freeze?: Partial<FreezeFlags>;
  /** Orthogonal init gain of the input Linear (reference: 1.41). */
  orthGain?: number;
  /** Dropout after the input Linear (reference: 0.1). */
  inDropout?: number;
  generator?: Generator;
}

export class FPT extends Module {
  in_layer: Linear | Embedding;
  in_dropout: Dropout;
  /** GPT-2 (FPT, Full, random-init frozen) or the LayerNorm-LSTM baseline. */
  transformer: GPT2 | LayerNormLSTM;
  out_layer: Linear;
  readonly options: Required<Omit<FPTOptions, 'freeze' | 'generator'>> & { freeze: FreezeFlags };

  constructor(transformer: GPT2 | LayerNormLSTM, options: FPTOptions) {
    super();
    const g = options.generator ?? getDefaultGenerator();
    const C = transformer instanceof GPT2 ? transformer.config.n_embd : transformer.layers[0].hidden;
    this.options = {
      inputKind: options.inputKind,
      inputDim: options.inputDim,
      outputDim: options.outputDim,
      outputTokens: options.outputTokens,
      orthGain: options.orthGain ?? 1.41,
      inDropout: options.inDropout ?? 0.1,
      freeze: { ...FPT_DEFAULT_FREEZE, ...options.freeze },
    };
    if (options.inputKind === 'continuous') {
      const lin = new Linear(options.inputDim, C, { generator: g }); // torch layout [C, d_in]
      lin.weight.data = orthogonal(C, options.inputDim, this.options.orthGain, g);
      lin.bias!.data = zeros([C]);
      this.in_layer = lin;
    } else {
      this.in_layer = new Embedding(options.inputDim, C, { generator: g });
    }
    // the reference puts Dropout(0.1) after the input Linear, none after the Embedding
    this.in_dropout = new Dropout(options.inputKind === 'continuous' ? this.options.inDropout : 0, g);
    this.transformer = transformer;
    this.out_layer = new Linear(C, options.outputDim, { generator: g });
    this.applyFreeze();
  }

  /** Set requiresGrad on every parameter from the freeze flags. */
  applyFreeze(): void {
    const f = this.options.freeze;
    const gpt = this.transformer instanceof GPT2;
    for (const [name, p] of this.transformer.namedParameters()) {
      p.requiresGrad = f.freeze_trans && gpt ? freezeRule(name).trains(f) : true; // the LSTM baseline trains fully
    }
    for (const p of this.in_layer.parameters()) p.requiresGrad = !f.freeze_in;
    for (const p of this.out_layer.parameters()) p.requiresGrad = !f.freeze_out;
  }

  /**
   * x: continuous [B, T, inputDim] (float) or token ids [B, T] (int32)
   * -> logits [B, outputTokens, outputDim].
   */
  forward(x: Tensor): Variable {
    let embeds: Variable;
    if (this.in_layer instanceof Embedding) {
      if (x.dtype !== 'int32' || x.ndim !== 2) throw new Error(`FPT: token inputs must be int32 [B, T], got ${x.dtype} ${fmt(x.shape)}`);
      embeds = this.in_layer.forward(x); // (B, T, C)
    } else {
      if (!x.isFloat() || x.ndim !== 3 || x.shape[2] !== this.options.inputDim) {
        throw new Error(`FPT: continuous inputs must be float [B, T, ${this.options.inputDim}], got ${x.dtype} ${fmt(x.shape)}`);
      }
      embeds = this.in_dropout.forward(this.in_layer.forward(new Variable(x))); // (B, T, C)
    }
    const h = this.transformer instanceof GPT2
      ? this.transformer.forward({ inputsEmbeds: embeds }).lastHiddenState // (B, T, C)
      : this.transformer.forward(embeds);
    const T = h.shape[1], k = this.options.outputTokens;
    if (k > T) throw new Error(`FPT: output reads the last ${k} positions of a ${T}-token input`);
    return this.out_layer.forward(h.narrow(1, T - k, k)); // (B, k, outputDim)
  }

  /**
   * Mean cross-entropy of logits [B, k, outputDim] against int32 labels [B] or [B, L]. The k·outputDim
   * outputs of a sample are read as L consecutive groups of classes (Bit Memory: 20 positions x 100 =
   * 1000 bits x 2 classes, as the reference's reshape), so classes = k·outputDim / L.
   */
  loss(logits: Variable, y: Tensor): Variable {
    return F.crossEntropy(this.labelLogits(logits, y), y.reshape(-1));
  }

  /** logits regrouped to [B·L, classes] to line up with the labels y [B, L]. */
  labelLogits(logits: Variable, y: Tensor): Variable {
    const B = logits.shape[0];
    const perSample = (logits.size / B);
    const labels = y.size / B;
    if (y.shape[0] !== B || !Number.isInteger(labels) || perSample % labels !== 0) {
      throw new Error(`FPT: labels ${fmt(y.shape)} do not fit logits ${fmt(logits.shape)}`);
    }
    return logits.reshape(B * labels, perSample / labels);
  }

  /** The named parameters of each group with their trainable state (for `fpt params`). */
  parameterGroups(): { group: string; name: string; p: Parameter }[] {
    const out: { group: string; name: string; p: Parameter }[] = [];
    for (const [name, p] of this.in_layer.namedParameters('in_layer.')) out.push({ group: 'input layer', name, p });
    const gpt = this.transformer instanceof GPT2;
    for (const [name, p] of this.transformer.namedParameters()) out.push({ group: gpt ? freezeRule(name).group : 'lstm', name: `transformer.${name}`, p });
    for (const [name, p] of this.out_layer.namedParameters('out_layer.')) out.push({ group: 'output layer', name, p });
    return out;
  }
}
