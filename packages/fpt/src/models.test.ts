/**
 * The models shipped in models/: they load from a clean clone, the numbers of the model card are those of
 * the log committed beside it, the final validation loss is reproduced from the shipped weights, and
 * generation from "The king" is English-like text.
 */
import * as fs from 'fs';
import * as path from 'path';
import { loadGPT2, openSafetensors, generate, ByteTokenizer } from '@fpt-ts/gpt2';
import { readJsonl } from './runfiles';
import { repoRoot, dataDir } from './paths';
import { buildPretrainModel, loadCorpora, valWindows, validationLoss, EOT, type PretrainConfig } from './pretrain';

const nano = path.join(repoRoot(), 'models', 'gpt2-nano');
const random = path.join(repoRoot(), 'models', 'gpt2-nano-random');
const data = dataDir();
const haveData = fs.existsSync(path.join(data, 'text-corpora'));

interface Entry { kind: string; step: number; loss: number; perCorpus?: { corpus: string; loss: number }[] }
const log = readJsonl<Entry>(path.join(nano, 'pretrain-log.jsonl'));
const config = JSON.parse(fs.readFileSync(path.join(nano, 'pretrain-config.json'), 'utf8')) as PretrainConfig;
const vals = log.filter((e) => e.kind === 'val');
const last = vals[vals.length - 1];

describe('models/gpt2-nano', () => {
  const model = loadGPT2(nano);

  test('is a HuggingFace GPT-2 directory of the card\'s configuration, byte-level, under 25 MB', () => {
    expect(model.config).toMatchObject({ ...config.model, vocab_size: 257, eos_token_id: EOT });
    expect(JSON.parse(fs.readFileSync(path.join(nano, 'tokenizer.json'), 'utf8')).type).toBe('byte');
    const bytes = fs.readdirSync(nano).reduce((n, f) => n + fs.statSync(path.join(nano, f)).size, 0);
    expect(bytes).toBeLessThan(25 * 1024 * 1024);
  });

  test('the weights are those of the last validated step, and MODEL.md reports that step\'s logged numbers', () => {
    const step = Number(openSafetensors(path.join(nano, 'model.safetensors')).metadata.step);
    expect(step).toBe(last.step);
    const card = fs.readFileSync(path.join(nano, 'MODEL.md'), 'utf8');
    expect(card).toContain(`**this model, step ${step}** | **${last.loss.toFixed(4)}** | **${(last.loss / Math.LN2).toFixed(3)}**`);
    expect(card).toContain(`| this model untrained (step 0) | ${vals[0].loss.toFixed(4)} |`);
    expect(card).toContain(`${(step * config.batchSize * config.seqLen).toLocaleString('en-US')}`);
    // pretraining improved on the untrained model by a wide margin
    expect(last.loss).toBeLessThan(vals[0].loss - 3);
  });

  (haveData ? test : test.skip)('the final validation loss is reproduced from the shipped weights (same held-out windows)', () => {
    const corpora = loadCorpora(data, config.corpora, config.valFraction);
    const perCorpus = corpora.map((k) => validationLoss(model, valWindows(k.val, Math.max(1, Math.round(config.evalBatches / corpora.length)), config.batchSize, config.seqLen)));
    perCorpus.forEach((l, i) => expect(l).toBeCloseTo(last.perCorpus![i].loss, 4));
    expect(perCorpus.reduce((s, l) => s + l, 0) / perCorpus.length).toBeCloseTo(last.loss, 4);
  });

  (haveData ? test : test.skip)('"The king" continues as English-like text: printable, and most words are words of the corpora', () => {
    const tok = new ByteTokenizer({ endOfText: true });
    const ids = [...generate(model, tok.encode('The king'), { maxNewTokens: 160, temperature: 0.8, topK: 40, seed: 1, stopToken: EOT })];
    const text = tok.decode(ids.filter((i) => i !== EOT));
    expect(text.length).toBeGreaterThan(40);
    const printable = [...text].filter((ch) => /[\x20-\x7e\n]/.test(ch)).length;
    expect(printable / text.length).toBeGreaterThan(0.97);
    // words of the training text (all four corpora), lower-cased letters only
    const vocab = new Set<string>();
    for (const k of loadCorpora(data, config.corpora, config.valFraction)) {
      for (const w of Buffer.from(Uint8Array.from(k.train)).toString('latin1').toLowerCase().split(/[^a-z]+/)) if (w) vocab.add(w);
    }
    // words of 3+ letters (short letter runs are words by chance: the random init scores 0.73 on all words, 0 on these)
    const words = text.toLowerCase().split(/[^a-z]+/).filter((w) => w.length >= 3);
    expect(words.length).toBeGreaterThan(10);
    const known = words.filter((w) => vocab.has(w)).length / words.length;
    expect(known).toBeGreaterThan(0.75);
  });
});

describe('models/gpt2-nano-random', () => {
  test('is the seeded random init of the same configuration (the Random-frozen baseline)', () => {
    const loaded = loadGPT2(random);
    const fresh = buildPretrainModel({ ...config, dropout: 0.1 });
    expect(loaded.config).toEqual(fresh.config);
    const want = new Map(fresh.namedParameters());
    for (const [name, p] of loaded.namedParameters()) expect(Array.from(p.data.contiguous().data)).toEqual(Array.from(want.get(name)!.data.contiguous().data));
  });
});
