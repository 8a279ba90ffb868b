import * as fs from 'fs';
import * as path from 'path';
import { loadGPT2, loadGPT2Tokenizer, ByteTokenizer, generate, StreamingDecoder, type ByteLevelTokenizer } from '@fpt-ts/gpt2';
import { defaultModelDir, dataDir } from '../paths';
import type { Command } from './index';

/** The tokenizer a model directory declares: its own files, a byte-level marker, or GPT-2's BPE from the data dir. */
export function tokenizerFor(modelDir: string, dataDirectory: string): ByteLevelTokenizer {
  const own = path.join(modelDir, 'tokenizer.json');
  if (fs.existsSync(own)) {
    const spec = JSON.parse(fs.readFileSync(own, 'utf8')) as { type?: string };
    if (spec.type === 'byte') return new ByteTokenizer({ endOfText: true });
    throw new Error(`${own}: unknown tokenizer type '${spec.type}'`);
  }
  if (fs.existsSync(path.join(modelDir, 'vocab.bpe')) || fs.existsSync(path.join(modelDir, 'merges.txt'))) return loadGPT2Tokenizer(modelDir);
  return loadGPT2Tokenizer(path.join(dataDirectory, 'gpt2-tokenizer'));
}

export const generateCommand: Command = {
  name: 'generate',
  summary: 'stream text from a GPT-2 checkpoint (greedy, temperature, top-k; KV cache)',
  usage: [
    'usage: fpt generate [--model DIR] --prompt TEXT [--max-tokens N] [--temperature T] [--top-k K] [--seed S] [--no-cache]',
    '',
    'DIR defaults to the shipped models/gpt2-nano. Temperature 0 is greedy decoding.',
  ].join('\n'),
  options: {
    model: { type: 'string' },
    prompt: { type: 'string' },
    'max-tokens': { type: 'string' },
    temperature: { type: 'string' },
    'top-k': { type: 'string' },
    seed: { type: 'string' },
    'no-cache': { type: 'boolean' },
    'data-dir': { type: 'string' },
  },
  computes: true,
  run(v) {
    const modelDir = typeof v.model === 'string' ? v.model : defaultModelDir();
    const tokenizer = tokenizerFor(modelDir, dataDir(v['data-dir'] as string | undefined));
    const num = (key: string, dflt: number, integer: boolean) => {
      const raw = v[key];
      if (raw === undefined) return dflt;
      const n = Number(raw);
      if (raw === '' || !Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n))) {
        throw new Error(`--${key}: expected ${integer ? 'an integer' : 'a number'} >= 0, got '${String(raw)}'`);
      }
      return n;
    };
    const options = {
      maxNewTokens: num('max-tokens', 100, true), temperature: num('temperature', 0.8, false), topK: num('top-k', 40, true),
      seed: num('seed', 0, true), useCache: !v['no-cache'], stopToken: tokenizer.eotId,
    };
    const model = loadGPT2(modelDir);
    if (tokenizer.vocabSize > model.config.vocab_size) {
      throw new Error(`${modelDir}: the tokenizer has ${tokenizer.vocabSize} tokens but the model's vocab_size is ${model.config.vocab_size}`);
    }
    // an empty prompt starts from <|endoftext|>, as GPT-2 was trained to begin a document
    const encoded = tokenizer.encode(typeof v.prompt === 'string' ? v.prompt : '\n');
    const prompt = encoded.length === 0 && tokenizer.eotId !== undefined ? [tokenizer.eotId] : encoded;
    const decoder = new StreamingDecoder(tokenizer);
    process.stdout.write(tokenizer.decode(encoded));
    for (const id of generate(model, prompt, options)) {
      process.stdout.write(decoder.push(id));
    }
    process.stdout.write(decoder.flush() + '\n');
  },
};
