/**
 * GPT-2, all of it in this file, on packages/autograd. Parameter names equal HuggingFace's keys
 * (`wte.weight`, `h.0.attn.c_attn.weight`, …) so checkpoints load by name.
 *
 * Shape letters: B batch, T sequence length, C channels (n_embd), nh heads, hs head size (C / nh),
 * V vocabulary. The block is pre-LN:
 *     x = x + attn(ln_1(x))
 *     x = x + mlp(ln_2(x))
 * and the model ends with ln_f. Linear layers use HF's Conv1D layout: weight [in, out], y = x·W + b.
 */
import { Tensor, ops, arange, randn, zeros, fmt, Generator, getDefaultGenerator } from '@fpt-ts/tensor';
import { Module, Linear, Embedding, LayerNorm, Dropout, Variable, F, skipInit } from '@fpt-ts/autograd';
import { type GPT2Config, innerDim } from './config';

/** Per-layer keys and values of the tokens seen so far, for incremental decoding. */
export interface LayerCache {
  k: Tensor | null; // (B, nh, S, hs)
  v: Tensor | null;
}
export type KVCache = LayerCache[];

export function emptyCache(config: GPT2Config): KVCache {
  return Array.from({ length: config.n_layer }, () => ({ k: null, v: null }));
}

export class CausalSelfAttention extends Module {
  c_attn: Linear; // C -> 3C, the q, k, v projections side by side
  c_proj: Linear; // C -> C
  attn_dropout: Dropout;
  resid_dropout: Dropout;
  readonly nHead: number;
  readonly scale: number;

  /** `generator` draws the initial weights; `dropoutGenerator` (default: the same) the dropout masks. */
  constructor(config: GPT2Config, generator: Generator, dropoutGenerator: Generator = generator) {
    super();
    const C = config.n_embd;
    this.c_attn = new Linear(C, 3 * C, { layout: 'conv1d', generator });
    this.c_proj = new Linear(C, C, { layout: 'conv1d', generator });
    this.attn_dropout = new Dropout(config.attn_pdrop, dropoutGenerator);
    this.resid_dropout = new Dropout(config.resid_pdrop, dropoutGenerator);
    this.nHead = config.n_head;
    this.scale = config.scale_attn_weights ? 1 / Math.sqrt(C / config.n_head) : 1;
  }

  forward(x: Variable, cache?: LayerCache): Variable {
    const [B, T, C] = x.shape;
    const nh = this.nHead, hs = C / nh;
    const qkv = this.c_attn.forward(x); // (B, T, 3C)
    const heads = (i: number) => qkv.narrow(2, i * C, C).reshape(B, T, nh, hs).transpose(1, 2); // (B, nh, T, hs)
    const q = heads(0);
    let k = heads(1), v = heads(2);

    let y: Variable; // (B, nh, T, hs)
    const dropProbs = this.training && this.attn_dropout.p > 0;
    if (cache === undefined && !dropProbs) {
      y = F.attention(q, k, v, { causal: true, scale: this.scale }); // fused: scores, mask, softmax, weighted sum
    } else {
      const past = cache?.k ? cache.k.shape[2] : 0;
      if (cache) {
        // append this step's keys and values to the cache (inference only: no graph through the cache)
        const kAll = cache.k ? ops.concat([cache.k, k.data.contiguous()], 2) : k.data.contiguous();
        const vAll = cache.v ? ops.concat([cache.v, v.data.contiguous()], 2) : v.data.contiguous();
        cache.k = kAll;
        cache.v = vAll;
        k = new Variable(kAll);
        v = new Variable(vAll);
      }
      y = this.attendWithDropout(q, k, v, past);
    }
    y = y.transpose(1, 2).reshape(B, T, C); // re-assemble the heads side by side: (B, T, C)
    return this.resid_dropout.forward(this.c_proj.forward(y));
  }

  /**
   * Attention from its parts, for the cases the fused op does not cover: dropout on the attention
   * probabilities (training, as HF), and queries that start `past` positions into the sequence (decoding
   * with a KV cache). Query t sits at position past + t and may attend to keys s ≤ past + t.
   */
  private attendWithDropout(q: Variable, k: Variable, v: Variable, past: number): Variable {
    const T = q.shape[2], S = k.shape[2];
    let att = F.mul(F.matmul(q, k.transpose(-2, -1)), this.scale); // (B, nh, T, S)
    if (T > 1 || past + T !== S) att = F.add(att, causalBias(T, S, past, att.dtype === 'float64' ? 'float64' : 'float32')); // −∞ on the future
    att = this.attn_dropout.forward(F.softmax(att, -1));
    return F.matmul(att, v); // (B, nh, T, hs)
  }
}

/**
 * The causal mask as an additive bias (T, S): 0 where query t, at position past + t, may attend to key
 * s ≤ past + t, and −∞ after. Adding it equals HF's masked fill (softmax then gives those keys weight 0,
 * and their gradient is 0 through the softmax), and an add's backward is the identity: no masked copy
 * of the scores' gradient.
 */
export function causalBias(T: number, S: number, past: number, dtype: 'float32' | 'float64' = 'float32'): Tensor {
  const bias = dtype === 'float64' ? new Float64Array(T * S) : new Float32Array(T * S);
  for (let t = 0; t < T; t++) bias.fill(-Infinity, t * S + Math.max(0, Math.min(S, past + t + 1)), (t + 1) * S);
  return new Tensor(bias, [T, S]);
}

export class MLP extends Module {
  c_fc: Linear; // C -> 4C
  c_proj: Linear; // 4C -> C
  dropout: Dropout;

  constructor(config: GPT2Config, generator: Generator, dropoutGenerator: Generator = generator) {
    super();
    this.c_fc = new Linear(config.n_embd, innerDim(config), { layout: 'conv1d', generator });
    this.c_proj = new Linear(innerDim(config), config.n_embd, { layout: 'conv1d', generator });
    this.dropout = new Dropout(config.resid_pdrop, dropoutGenerator);
  }

  forward(x: Variable): Variable {
    return this.dropout.forward(this.c_proj.forward(F.gelu(this.c_fc.forward(x))));
  }
}

export class Block extends Module {
  ln_1: LayerNorm;
  attn: CausalSelfAttention;
  ln_2: LayerNorm;
  mlp: MLP;

  constructor(config: GPT2Config, generator: Generator, dropoutGenerator: Generator = generator) {
    super();
    this.ln_1 = new LayerNorm(config.n_embd, config.layer_norm_epsilon);
    this.attn = new CausalSelfAttention(config, generator, dropoutGenerator);
    this.ln_2 = new LayerNorm(config.n_embd, config.layer_norm_epsilon);
    this.mlp = new MLP(config, generator, dropoutGenerator);
  }

  forward(x: Variable, cache?: LayerCache): Variable {
    x = F.add(x, this.attn.forward(this.ln_1.forward(x), cache));
    x = F.add(x, this.mlp.forward(this.ln_2.forward(x)));
    return x;
  }
}

export interface ForwardOptions {
  /** Token ids (int32) [B, T]. */
  inputIds?: Tensor;
  /** Input embeddings [B, T, C] replacing the token embedding (FPT); position embeddings are still added. */
  inputsEmbeds?: Variable;
  /** Return the hidden states before each block and after ln_f, as HF's output_hidden_states. */
  outputHiddenStates?: boolean;
  /** KV cache for incremental decoding (inference only); positions continue after the cached length. */
  cache?: KVCache;
}

export interface ForwardResult {
  lastHiddenState: Variable; // (B, T, C), after ln_f
  hiddenStates?: Variable[]; // n_layer + 1 entries
}

export class GPT2 extends Module {
  wte: Embedding; // (V, C) token embedding, tied to the LM head
  wpe: Embedding; // (n_positions, C) position embedding
  drop: Dropout;
  h: Block[];
  ln_f: LayerNorm;
  readonly config: GPT2Config;

  /**
   * Random init as HF GPT-2 (_init_weights), from a seeded generator, which also draws the dropout masks.
   * The modules are built without their own default init (skipInit): the HF pass below sets every weight.
   * `init: false` is for weights about to be overwritten (loading a checkpoint): they stay zeros and
   * building the model draws nothing from `generator`.
   */
  constructor(config: GPT2Config, options: { generator?: Generator; init?: boolean } = {}) {
    super();
    const g = options.generator ?? getDefaultGenerator();
    this.config = config;
    const C = config.n_embd;
    [this.wte, this.wpe, this.drop, this.h, this.ln_f] = skipInit(() => [
      new Embedding(config.vocab_size, C),
      new Embedding(config.n_positions, C),
      new Dropout(config.embd_pdrop, g),
      Array.from({ length: config.n_layer }, () => new Block(config, g)),
      new LayerNorm(C, config.layer_norm_epsilon),
    ] as const);
    if (options.init ?? true) this.initWeights(g);
  }

  /**
   * HF GPT-2 initialization: every Linear/Conv1D and Embedding weight N(0, initializer_range), biases
   * zero, LayerNorms weight 1 bias 0, and each residual projection (`c_proj.weight`) N(0, range/√(2·n_layer)).
   */
  private initWeights(g: Generator): void {
    const std = this.config.initializer_range;
    for (const [name, p] of this.namedParameters()) {
      if (/ln_\w+\.weight$/.test(name) || name.startsWith('ln_f.weight')) continue; // already ones
      if (name.endsWith('.bias')) p.data = zeros(p.shape);
      else {
        const s = name.endsWith('c_proj.weight') ? std / Math.sqrt(2 * this.config.n_layer) : std;
        p.data = randn(p.shape, { generator: g, std: s });
      }
    }
  }

  forward(options: ForwardOptions): ForwardResult {
    const { inputIds, inputsEmbeds, cache } = options;
    let tokens: Variable;
    if (inputsEmbeds !== undefined) {
      if (inputsEmbeds.ndim !== 3 || inputsEmbeds.shape[2] !== this.config.n_embd) {
        throw new Error(`GPT2: inputsEmbeds must be [B, T, ${this.config.n_embd}], got ${fmt(inputsEmbeds.shape)}`);
      }
      tokens = inputsEmbeds;
    } else if (inputIds !== undefined) {
      if (inputIds.ndim !== 2) throw new Error(`GPT2: inputIds must be [B, T], got ${fmt(inputIds.shape)}`);
      tokens = this.wte.forward(inputIds); // (B, T, C)
    } else {
      throw new Error('GPT2: give inputIds or inputsEmbeds');
    }
    const T = tokens.shape[1];
    const past = cache?.[0].k ? cache[0].k.shape[2] : 0;
    if (past + T > this.config.n_positions) {
      throw new Error(`GPT2: sequence of ${past + T} positions exceeds n_positions ${this.config.n_positions}`);
    }
    const pos = this.wpe.forward(arange(past, past + T, 1, 'int32')); // (T, C), broadcast over B
    let x = this.drop.forward(F.add(tokens, pos)); // (B, T, C)

    const hiddenStates: Variable[] = [];
    this.h.forEach((block, i) => {
      if (options.outputHiddenStates) hiddenStates.push(x);
      x = block.forward(x, cache?.[i]);
    });
    x = this.ln_f.forward(x);
    if (options.outputHiddenStates) hiddenStates.push(x);
    return { lastHiddenState: x, hiddenStates: options.outputHiddenStates ? hiddenStates : undefined };
  }

  /** LM head tied to the token embedding: logits = hidden · wteᵀ, (B, T, C) -> (B, T, V). */
  logits(hidden: Variable): Variable {
    return F.linear(hidden, this.wte.weight, null, 'torch');
  }
}
