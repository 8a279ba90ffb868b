import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadGPT2, openSafetensors } from '@fpt-ts/gpt2';
import { readJsonl } from './runfiles';
import {
  pretrain, learningRate, lmBatch, loadCorpora, joinWithEot, ngramBaselines, configChanges, exportPretrained,
  buildPretrainModel, EOT, type PretrainConfig,
} from './pretrain';
import { writeModelCard } from './modelcard';

const quiet = () => undefined;

/** A data directory with two small English-like corpora (one gzipped), as text-corpora/ in ../shared/data. */
function makeData(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fpt-pretrain-data-'));
  fs.mkdirSync(path.join(dir, 'text-corpora'));
  const lines = (seed: number, n: number) => Array.from({ length: n }, (_, i) => `Line ${(i * seed) % 97} of the king and the sea, ${i % 7}.`).join('\n');
  fs.writeFileSync(path.join(dir, 'text-corpora', 'a.txt'), lines(3, 200));
  fs.writeFileSync(path.join(dir, 'text-corpora', 'b.txt.gz'), require('zlib').gzipSync(lines(5, 150)));
  return dir;
}

function tinyConfig(over: Partial<PretrainConfig> = {}): PretrainConfig {
  return {
    name: 'tiny', corpora: ['text-corpora/a.txt', 'text-corpora/b.txt.gz'], valFraction: 0.1,
    model: { n_layer: 1, n_head: 2, n_embd: 16, n_positions: 32 }, dropout: 0.1,
    batchSize: 2, seqLen: 16, maxSteps: 6, warmupSteps: 2, lr: 3e-3, minLr: 3e-4, weightDecay: 0.1,
    betas: [0.9, 0.95], clip: 1, evalEvery: 2, evalBatches: 2, sampleEvery: 3, samplePrompt: 'The',
    checkpointEvery: 2, logEvery: 1, seed: 7, ...over,
  };
}

function runDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'fpt-pretrain-run-'));
}

/** The deterministic part of a log (wall-clock fields dropped). */
function logOf(dir: string): unknown[] {
  return readJsonl<Record<string, unknown>>(path.join(dir, 'log.jsonl')).map(({ time, tokensPerSec, ...rest }) => rest);
}

function stateOf(dir: string): Map<string, Float32Array> {
  const f = openSafetensors(path.join(dir, 'state.safetensors'));
  return new Map(f.names().map((n) => [n, Float32Array.from(f.get(n).data as Float32Array)]));
}

describe('pretraining pieces', () => {
  test('learning rate: linear warmup, cosine to minLr at maxSteps (nanoGPT get_lr)', () => {
    const c = { lr: 1e-3, minLr: 1e-4, warmupSteps: 10, maxSteps: 110 };
    expect(learningRate(0, c)).toBeCloseTo(1e-4, 12);
    expect(learningRate(9, c)).toBeCloseTo(1e-3, 12);
    expect(learningRate(10, c)).toBeCloseTo(1e-3, 12);
    expect(learningRate(60, c)).toBeCloseTo(5.5e-4, 12); // halfway: the mean of lr and minLr
    expect(learningRate(110, c)).toBe(1e-4);
    expect(learningRate(500, c)).toBe(1e-4);
  });

  test('batches are a pure function of (seed, index) and y is x shifted by one', () => {
    const tokens = Uint16Array.from({ length: 500 }, (_, i) => i % 251);
    const a = lmBatch(tokens, 5, 3, 8, 1), b = lmBatch(tokens, 5, 3, 8, 1), c = lmBatch(tokens, 6, 3, 8, 1);
    expect(Array.from(a.x.data)).toEqual(Array.from(b.x.data));
    expect(Array.from(a.x.data)).not.toEqual(Array.from(c.x.data));
    for (let r = 0; r < 3; r++) for (let t = 0; t < 7; t++) expect(a.y.data[r * 8 + t]).toBe(a.x.data[r * 8 + t + 1]);
  });

  test('each corpus keeps its own contiguous tail for validation; documents are joined by <|endoftext|>', () => {
    const data = makeData();
    const cs = loadCorpora(data, tinyConfig().corpora, 0.1);
    expect(cs.map((c) => c.name)).toEqual(['a', 'b']);
    const rawA = fs.readFileSync(path.join(data, 'text-corpora', 'a.txt'));
    expect(cs[0].train.length + cs[0].val.length).toBe(rawA.length);
    expect(Array.from(cs[0].val)).toEqual(Array.from(rawA.subarray(cs[0].train.length)));
    const joined = joinWithEot(cs.map((c) => c.train));
    expect(joined[cs[0].train.length]).toBe(EOT);
    expect(joined.length).toBe(cs[0].train.length + cs[1].train.length + 2);
    expect(() => loadCorpora(data, ['text-corpora/missing.txt'], 0.1)).toThrow(/missing\.txt not found.*FPT_DATA_DIR/);
  });

  test('n-gram baselines: a bigram model predicts an alternating sequence, a unigram model cannot', () => {
    const seq = Uint16Array.from({ length: 2000 }, (_, i) => (i % 2 ? 98 : 97));
    const { unigram, bigram } = ngramBaselines(seq, seq.subarray(0, 200));
    // add-one smoothing over 257 symbols: unigram −ln(1001/2257) ≈ 0.81, bigram −ln(1001/1257) ≈ 0.23
    expect(unigram).toBeCloseTo(-Math.log(1001 / 2257), 2);
    expect(bigram).toBeCloseTo(-Math.log(1001 / 1257), 2);
  });
});

describe('fpt pretrain', () => {
  const data = makeData();

  test('an interrupted and resumed run equals the uninterrupted one bit for bit (params, AdamW moments, log)', async () => {
    const straight = runDir(), interrupted = runDir();
    const c = tinyConfig();
    expect(await pretrain(c, { runDir: straight, dataDir: data, print: quiet })).toEqual({ step: 6, finished: true });
    // stop after 3 steps (between checkpoints: the stop saves one), then twice more, 1 step at a time
    expect(await pretrain(c, { runDir: interrupted, dataDir: data, print: quiet, stopAfter: 3 })).toEqual({ step: 3, finished: false });
    expect(await pretrain(c, { runDir: interrupted, dataDir: data, print: quiet, resume: true, stopAfter: 1 })).toEqual({ step: 4, finished: false });
    expect(await pretrain(c, { runDir: interrupted, dataDir: data, print: quiet, resume: true })).toEqual({ step: 6, finished: true });
    const a = stateOf(straight), b = stateOf(interrupted);
    expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
    expect([...a.keys()].some((k) => k.startsWith('opt0.m.'))).toBe(true);
    for (const [k, v] of a) expect(b.get(k)).toEqual(v);
    expect(logOf(interrupted)).toEqual(logOf(straight));
    const kinds = new Set(logOf(straight).map((e) => (e as { kind: string }).kind));
    expect(kinds).toEqual(new Set(['start', 'val', 'train', 'sample']));
    // a fresh start into a run directory that holds a run is refused instead of overwriting it
    await expect(pretrain(c, { runDir: straight, dataDir: data, print: quiet })).rejects.toThrow(/already holds a pretraining run.*--resume/);
  });

  test('resume refuses a changed model or data, and records a changed schedule in the log', async () => {
    const dir = runDir();
    const c = tinyConfig();
    await pretrain(c, { runDir: dir, dataDir: data, print: quiet, stopAfter: 2 });
    await expect(pretrain({ ...c, seqLen: 8 }, { runDir: dir, dataDir: data, print: quiet, resume: true })).rejects.toThrow(/different seqLen \(seqLen: 16 there, 8 now\)/);
    await expect(pretrain({ ...c, model: { ...c.model, n_embd: 32 } }, { runDir: dir, dataDir: data, print: quiet, resume: true })).rejects.toThrow(/different model/);
    const lines: string[] = [];
    await pretrain({ ...c, maxSteps: 4 }, { runDir: dir, dataDir: data, print: (l) => lines.push(l), resume: true });
    expect(lines.join('\n')).toMatch(/config changed at step 2: maxSteps 6 -> 4/);
    const log = readJsonl<{ kind: string; step?: number; changes?: unknown }>(path.join(dir, 'log.jsonl'));
    expect(log.find((e) => e.kind === 'config-change')).toEqual({ kind: 'config-change', step: 2, changes: { maxSteps: [6, 4] } });
    expect(Math.max(...log.map((e) => e.step ?? 0))).toBe(4);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')).maxSteps).toBe(4);
    expect(configChanges(c, { ...c, _comment: 'x' } as PretrainConfig, 'f')).toEqual({});
    // the model card says so
    const card = writeModelCard(dir, fs.mkdtempSync(path.join(os.tmpdir(), 'fpt-pretrain-card-')), data);
    expect(card).toContain('| changed on resume at step 2 | maxSteps 6 → 4 |');
  });

  test('export writes a HuggingFace GPT-2 directory that loads to the trained weights, and a model card from the log', async () => {
    const dir = runDir(), out = fs.mkdtempSync(path.join(os.tmpdir(), 'fpt-pretrain-export-'));
    const c = tinyConfig();
    await pretrain(c, { runDir: dir, dataDir: data, print: quiet });
    exportPretrained(dir, out);
    const loaded = loadGPT2(out);
    const state = openSafetensors(path.join(dir, 'state.safetensors'));
    for (const [name, p] of loaded.namedParameters()) expect(Array.from(p.data.contiguous().data)).toEqual(Array.from(state.get(`param.${name}`).data));
    expect(loaded.config.vocab_size).toBe(257);
    expect(loaded.config.resid_pdrop).toBe(0.1);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'tokenizer.json'), 'utf8'))).toEqual({ type: 'byte', vocab_size: 257, eot: 256 });
    const card = writeModelCard(dir, out, data);
    const vals = readJsonl<{ kind: string; loss: number }>(path.join(dir, 'log.jsonl')).filter((e) => e.kind === 'val');
    expect(card).toContain(`**${vals[vals.length - 1].loss.toFixed(4)}**`);
    expect(card).toMatch(/byte bigram/);
    expect(fs.existsSync(path.join(out, 'val-curve.svg'))).toBe(true);
    expect(fs.readFileSync(path.join(out, 'pretrain-log.jsonl'), 'utf8')).toBe(fs.readFileSync(path.join(dir, 'log.jsonl'), 'utf8'));
    // the random-init twin is the same seeded init every time
    const r1 = buildPretrainModel(c), r2 = buildPretrainModel(c);
    expect(Array.from(r1.namedParameters()[0][1].data.data)).toEqual(Array.from(r2.namedParameters()[0][1].data.data));
  });
});
