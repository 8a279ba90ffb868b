/**
 * GPT-2 configuration, with HuggingFace's field names so a `config.json` reads as it is.
 */
import * as fs from 'fs';

export interface GPT2Config {
  vocab_size: number;
  n_positions: number;
  n_embd: number;
  n_layer: number;
  n_head: number;
  /** MLP hidden size; null means 4·n_embd. */
  n_inner: number | null;
  activation_function: string;
  resid_pdrop: number;
  embd_pdrop: number;
  attn_pdrop: number;
  layer_norm_epsilon: number;
  initializer_range: number;
  scale_attn_weights: boolean;
  scale_attn_by_inverse_layer_idx: boolean;
  reorder_and_upcast_attn: boolean;
  bos_token_id?: number;
  eos_token_id?: number;
}

/** HF GPT2Config defaults (= the `gpt2` checkpoint). */
export const DEFAULT_CONFIG: GPT2Config = {
  vocab_size: 50257,
  n_positions: 1024,
  n_embd: 768,
  n_layer: 12,
  n_head: 12,
  n_inner: null,
  activation_function: 'gelu_new',
  resid_pdrop: 0.1,
  embd_pdrop: 0.1,
  attn_pdrop: 0.1,
  layer_norm_epsilon: 1e-5,
  initializer_range: 0.02,
  scale_attn_weights: true,
  scale_attn_by_inverse_layer_idx: false,
  reorder_and_upcast_attn: false,
  bos_token_id: 50256,
  eos_token_id: 50256,
};

export const PRESETS: Record<string, Partial<GPT2Config>> = {
  gpt2: {},
  'gpt2-medium': { n_embd: 1024, n_layer: 24, n_head: 16 },
  'gpt2-large': { n_embd: 1280, n_layer: 36, n_head: 20 },
  'gpt2-xl': { n_embd: 1600, n_layer: 48, n_head: 25 },
  distilgpt2: { n_layer: 6 },
};

const SUPPORTED_ACTIVATIONS = ['gelu_new', 'gelu_pytorch_tanh'];

/** A full config from a preset name, with overrides. */
export function presetConfig(name: string, overrides: Partial<GPT2Config> = {}): GPT2Config {
  const preset = PRESETS[name];
  if (preset === undefined) throw new Error(`unknown GPT-2 preset '${name}' (known: ${Object.keys(PRESETS).join(', ')})`);
  return makeConfig({ ...preset, ...overrides });
}

/** Fill defaults and validate. */
export function makeConfig(partial: Partial<GPT2Config>, source = 'config'): GPT2Config {
  const c: GPT2Config = { ...DEFAULT_CONFIG, ...partial };
  const positive = ['vocab_size', 'n_positions', 'n_embd', 'n_layer', 'n_head'] as const;
  for (const k of positive) {
    if (!Number.isInteger(c[k]) || c[k] <= 0) throw new Error(`${source}: ${k} must be a positive integer, got ${JSON.stringify(c[k])}`);
  }
  if (c.n_inner !== null && (!Number.isInteger(c.n_inner) || c.n_inner <= 0)) {
    throw new Error(`${source}: n_inner must be a positive integer or null (= 4·n_embd), got ${JSON.stringify(c.n_inner)}`);
  }
  if (c.n_embd % c.n_head !== 0) throw new Error(`${source}: n_embd ${c.n_embd} is not divisible by n_head ${c.n_head}`);
  for (const k of ['resid_pdrop', 'embd_pdrop', 'attn_pdrop'] as const) {
    if (typeof c[k] !== 'number' || !(c[k] >= 0 && c[k] < 1)) throw new Error(`${source}: ${k} must be a probability in [0, 1), got ${JSON.stringify(c[k])}`);
  }
  if (typeof c.layer_norm_epsilon !== 'number' || !(c.layer_norm_epsilon > 0 && c.layer_norm_epsilon < 1)) {
    throw new Error(`${source}: layer_norm_epsilon must be a small positive number, got ${JSON.stringify(c.layer_norm_epsilon)}`);
  }
  if (typeof c.initializer_range !== 'number' || !(c.initializer_range >= 0) || !Number.isFinite(c.initializer_range)) {
    throw new Error(`${source}: initializer_range must be a number >= 0, got ${JSON.stringify(c.initializer_range)}`);
  }
  if (!SUPPORTED_ACTIVATIONS.includes(c.activation_function)) {
    throw new Error(`${source}: activation_function '${c.activation_function}' is not supported (GPT-2 uses gelu_new)`);
  }
  if (c.scale_attn_by_inverse_layer_idx || c.reorder_and_upcast_attn) {
    throw new Error(`${source}: scale_attn_by_inverse_layer_idx / reorder_and_upcast_attn are not supported`);
  }
  return c;
}

export function innerDim(c: GPT2Config): number {
  return c.n_inner ?? 4 * c.n_embd;
}

export function readConfig(file: string): GPT2Config {
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read GPT-2 config ${file}: ${(e as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error(`${file}: not a JSON object`);
  const raw = json as Record<string, unknown>;
  if (raw.model_type !== undefined && raw.model_type !== 'gpt2') throw new Error(`${file}: model_type '${String(raw.model_type)}' is not gpt2`);
  const known = Object.keys(DEFAULT_CONFIG) as (keyof GPT2Config)[];
  const picked: Record<string, unknown> = {};
  for (const k of known) if (raw[k] !== undefined) picked[k] = raw[k];
  return makeConfig(picked as Partial<GPT2Config>, file);
}

/** config.json as HuggingFace writes it for a GPT-2. */
export function configJson(c: GPT2Config): string {
  return JSON.stringify({ architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', ...c, tie_word_embeddings: true }, null, 2) + '\n';
}

/** Parameter count of the model (no LM head: it is tied to wte). */
export function parameterCount(c: GPT2Config): number {
  const C = c.n_embd, I = innerDim(c);
  const block = 2 * 2 * C /* ln_1, ln_2 */ + (C * 3 * C + 3 * C) + (C * C + C) + (C * I + I) + (I * C + C);
  return c.vocab_size * C + c.n_positions * C + c.n_layer * block + 2 * C;
}
