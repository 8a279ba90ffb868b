/**
 * Autoregressive generation: greedy, temperature and top-k sampling, with or without a KV cache
 * (the cache only saves work: both paths give the same tokens).
 */
import { Tensor, fromArray, Generator as Rng } from '@fpt-ts/tensor';
import { noGrad } from '@fpt-ts/autograd';
import { GPT2, emptyCache } from './model';

export interface GenerateOptions {
  maxNewTokens: number;
  /** 0 means greedy (argmax). */
  temperature?: number;
  /** Sample only among the k most likely tokens (0 = all). */
  topK?: number;
  seed?: number;
  useCache?: boolean;
  /** Stop after emitting this token. */
  stopToken?: number;
}

/** Pick the next token from one row of logits. */
export function sampleToken(logits: Float32Array | Float64Array, temperature: number, topK: number, rng: Rng): number {
  if (temperature <= 0) {
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
    return best;
  }
  let candidates = [...logits.keys()];
  if (topK > 0 && topK < logits.length) candidates = candidates.sort((a, b) => logits[b] - logits[a]).slice(0, topK);
  let max = -Infinity;
  for (const i of candidates) max = Math.max(max, logits[i] / temperature);
  const weights = candidates.map((i) => Math.exp(logits[i] / temperature - max));
  let r = rng.random() * weights.reduce((a, b) => a + b, 0);
  for (let j = 0; j < candidates.length; j++) {
    r -= weights[j];
    if (r <= 0) return candidates[j];
  }
  return candidates[candidates.length - 1];
}

/**
 * Generate up to maxNewTokens after `prompt` (token ids), yielding each new token as it is chosen.
 * The window is the model's n_positions; generation stops when it is full.
 */
export function* generate(model: GPT2, prompt: readonly number[], options: GenerateOptions): Generator<number, void, undefined> {
  if (prompt.length === 0) throw new Error('generate: the prompt is empty (give at least one token)');
  const { maxNewTokens, temperature = 0, topK = 0, useCache = true } = options;
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0) throw new Error(`generate: maxNewTokens must be an integer >= 0, got ${maxNewTokens}`);
  if (!(temperature >= 0) || !Number.isFinite(temperature)) throw new Error(`generate: temperature must be a finite number >= 0, got ${temperature}`);
  if (!Number.isInteger(topK) || topK < 0) throw new Error(`generate: topK must be an integer >= 0 (0 = no limit), got ${topK}`);
  const V = model.config.vocab_size;
  const bad = prompt.findIndex((t) => !Number.isInteger(t) || t < 0 || t >= V);
  if (bad >= 0) throw new Error(`generate: prompt token ${prompt[bad]} at position ${bad} is not in the model's vocabulary [0, ${V})`);
  if (prompt.length > model.config.n_positions) {
    throw new Error(`generate: the prompt has ${prompt.length} tokens, more than the model's n_positions ${model.config.n_positions}`);
  }
  const rng = new Rng(options.seed ?? 0);
  const tokens = [...prompt];
  const cache = useCache ? emptyCache(model.config) : undefined;
  let pending = [...prompt]; // tokens not yet fed to the cache
  const wasTraining = model.training;
  model.eval();
  try {
    for (let step = 0; step < maxNewTokens && tokens.length < model.config.n_positions; step++) {
      const input = useCache ? pending : tokens;
      const logits = noGrad(() => {
        const ids = fromArray(input, [1, input.length], 'int32');
        const h = model.forward({ inputIds: ids, cache }).lastHiddenState;
        const last = h.narrow(1, input.length - 1, 1); // only the last position's logits are needed
        return model.logits(last).data;
      });
      const next = sampleToken(lastRow(logits, V), temperature, topK, rng);
      tokens.push(next);
      pending = [next];
      yield next;
      if (options.stopToken !== undefined && next === options.stopToken) return;
    }
  } finally {
    model.train(wasTraining);
  }
}

function lastRow(logits: Tensor, V: number): Float32Array | Float64Array {
  const d = logits.contiguous().data as Float32Array | Float64Array;
  return d.subarray(d.length - V);
}
