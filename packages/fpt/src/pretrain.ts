/**
 * `fpt pretrain`: train a GPT-2 (the same packages/gpt2 code as GPT-2 small) as a causal language model on
 * English text, nanoGPT-style: AdamW with warmup and cosine decay, gradient clipping, a held-out tail of
 * every corpus for validation (loss and bits per byte), periodic samples, atomic checkpoints, exact resume.
 *
 * Tokens are bytes (ids 0-255) plus <|endoftext|> = 256 between documents: a 257-entry vocabulary keeps the
 * embedding and the LM head tiny, so the compute goes to the transformer blocks FPT reuses.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { Tensor, Generator, getBackend, type GeneratorState } from '@fpt-ts/tensor';
import { AdamW, clipGradNorm, noGrad, F, type Parameter } from '@fpt-ts/autograd';
import {
  GPT2, makeConfig, saveGPT2, generate, ByteTokenizer, openSafetensors, writeSafetensors, configJson,
  type GPT2Config, type WritableTensor,
} from '@fpt-ts/gpt2';
import { appendJsonl, truncateJsonl, StopConditions, readCheckedTensor, float32Data } from './runfiles';

export interface PretrainConfig {
  name: string;
  /** Corpus files (gzip or plain) relative to the data directory. */
  corpora: string[];
  /** Fraction at the end of every corpus held out for validation (contiguous text, not shuffled). */
  valFraction: number;
  model: Partial<GPT2Config>;
  /** Dropout during pretraining (the shipped config keeps GPT-2's 0.1 for FPT's training). */
  dropout: number;
  batchSize: number;
  /** Training context length (≤ n_positions). */
  seqLen: number;
  maxSteps: number;
  warmupSteps: number;
  lr: number;
  minLr: number;
  weightDecay: number;
  betas: [number, number];
  clip: number;
  evalEvery: number;
  /** Validation windows per evaluation (each batchSize x seqLen bytes, fixed positions). */
  evalBatches: number;
  sampleEvery: number;
  samplePrompt: string;
  checkpointEvery: number;
  logEvery: number;
  seed: number;
}

// -------------------------------------------------------------------------------------------------
// Data

export const EOT = 256;

export interface Corpus {
  name: string;
  train: Uint16Array;
  val: Uint16Array;
}

export function readCorpus(file: string): Buffer {
  if (!fs.existsSync(file)) throw new Error(`corpus ${file} not found (set --data-dir or FPT_DATA_DIR to the folder holding text-corpora/)`);
  const raw = fs.readFileSync(file);
  return file.endsWith('.gz') ? zlib.gunzipSync(raw) : raw;
}

/** Split each corpus: the first (1 − valFraction) trains, the tail validates. */
export function loadCorpora(dataDir: string, files: readonly string[], valFraction: number): Corpus[] {
  return files.map((f) => {
    const bytes = readCorpus(path.join(dataDir, f));
    const cut = Math.floor(bytes.length * (1 - valFraction));
    return { name: path.basename(f).replace(/\.txt(\.gz)?$/, ''), train: Uint16Array.from(bytes.subarray(0, cut)), val: Uint16Array.from(bytes.subarray(cut)) };
  });
}

/** Documents joined by <|endoftext|>. */
export function joinWithEot(parts: readonly Uint16Array[]): Uint16Array {
  const out = new Uint16Array(parts.reduce((n, p) => n + p.length + 1, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
    out[at++] = EOT;
  }
  return out;
}

/** Batch `index` of random windows: a pure function of (seed, index), so a resumed run sees the same data. */
export function lmBatch(tokens: Uint16Array, index: number, B: number, T: number, seed: number): { x: Tensor; y: Tensor } {
  const rng = new Generator(`${seed}:batch:${index}`);
  const x = new Int32Array(B * T), y = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    const o = rng.randint(0, tokens.length - T - 1);
    for (let t = 0; t < T; t++) {
      x[b * T + t] = tokens[o + t];
      y[b * T + t] = tokens[o + t + 1];
    }
  }
  return { x: new Tensor(x, [B, T]), y: new Tensor(y, [B, T]) };
}

/** Fixed, evenly spaced validation windows of one corpus. */
export function valWindows(tokens: Uint16Array, count: number, B: number, T: number): { x: Tensor; y: Tensor }[] {
  const windows = count * B;
  const stride = Math.max(1, Math.floor((tokens.length - T - 1) / windows));
  const out: { x: Tensor; y: Tensor }[] = [];
  for (let c = 0; c < count; c++) {
    const x = new Int32Array(B * T), y = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      const o = Math.min((c * B + b) * stride, tokens.length - T - 1);
      for (let t = 0; t < T; t++) { x[b * T + t] = tokens[o + t]; y[b * T + t] = tokens[o + t + 1]; }
    }
    out.push({ x: new Tensor(x, [B, T]), y: new Tensor(y, [B, T]) });
  }
  return out;
}

// -------------------------------------------------------------------------------------------------
// Schedule and loss

/** Linear warmup to lr, then cosine decay to minLr at maxSteps (nanoGPT's get_lr). */
export function learningRate(step: number, c: Pick<PretrainConfig, 'lr' | 'minLr' | 'warmupSteps' | 'maxSteps'>): number {
  if (step < c.warmupSteps) return (c.lr * (step + 1)) / c.warmupSteps;
  if (step >= c.maxSteps) return c.minLr;
  const ratio = (step - c.warmupSteps) / Math.max(1, c.maxSteps - c.warmupSteps);
  return c.minLr + 0.5 * (1 + Math.cos(Math.PI * ratio)) * (c.lr - c.minLr);
}

export function lmLoss(model: GPT2, x: Tensor, y: Tensor) {
  const h = model.forward({ inputIds: x }).lastHiddenState; // (B, T, C)
  return F.crossEntropy(model.logits(h), y); // mean over B·T next-byte predictions
}

/** Mean validation loss (nats per byte) over fixed windows, in eval mode. */
export function validationLoss(model: GPT2, windows: readonly { x: Tensor; y: Tensor }[]): number {
  const was = model.training;
  model.eval();
  const total = noGrad(() => windows.reduce((s, w) => s + lmLoss(model, w.x, w.y).item(), 0));
  model.train(was);
  return total / windows.length;
}

/** Byte unigram and bigram models fit on the training bytes (add-one smoothing), scored on validation bytes. */
export function ngramBaselines(train: Uint16Array, val: Uint16Array, V = 257): { unigram: number; bigram: number } {
  const uni = new Float64Array(V).fill(1), bi = new Float64Array(V * V).fill(1), rowTotal = new Float64Array(V).fill(V);
  for (let i = 0; i < train.length; i++) {
    uni[train[i]]++;
    if (i > 0) { bi[train[i - 1] * V + train[i]]++; rowTotal[train[i - 1]]++; }
  }
  const uniTotal = train.length + V;
  let lu = 0, lb = 0;
  for (let i = 1; i < val.length; i++) {
    lu -= Math.log(uni[val[i]] / uniTotal);
    lb -= Math.log(bi[val[i - 1] * V + val[i]] / rowTotal[val[i - 1]]);
  }
  return { unigram: lu / (val.length - 1), bigram: lb / (val.length - 1) };
}

// -------------------------------------------------------------------------------------------------
// Checkpoints: every parameter, both AdamW groups' moments, step and RNG state

interface PretrainMeta {
  step: number;
  generator: GeneratorState;
  config: PretrainConfig;
  elapsedSeconds: number;
  optimizerSteps: number[];
  paramSteps?: (number[] | undefined)[];
}

function saveState(file: string, model: GPT2, opts: AdamW[], meta: PretrainMeta): void {
  const tensors = new Map<string, WritableTensor>();
  for (const [name, p] of model.namedParameters()) tensors.set(`param.${name}`, { dtype: 'F32', shape: p.shape, data: float32Data(p.data) });
  const names = new Map(model.namedParameters().map(([n, p]) => [p, n]));
  opts.forEach((opt, g) => {
    const st = opt.stateDict();
    opt.params.forEach((p, i) => {
      for (const [k, t] of Object.entries(st.buffers[i])) tensors.set(`opt${g}.${k}.${names.get(p)}`, { dtype: 'F32', shape: t.shape, data: float32Data(t) });
    });
  });
  writeSafetensors(file, tensors, { fpt_pretrain: JSON.stringify(meta), config_json: configJson(model.config) });
}

function readMeta(file: string): PretrainMeta {
  const f = openSafetensors(file);
  if (f.metadata.fpt_pretrain === undefined) throw new Error(`${file}: not a pretraining checkpoint (no fpt_pretrain metadata)`);
  return JSON.parse(f.metadata.fpt_pretrain) as PretrainMeta;
}

/** Load the parameters and AdamW moments of a checkpoint whose metadata `meta` (readMeta) was read already. */
function loadState(file: string, model: GPT2, opts: AdamW[], meta: PretrainMeta): void {
  const f = openSafetensors(file);
  const read = (key: string, shape: readonly number[]) => readCheckedTensor(f, key, shape);
  for (const [name, p] of model.namedParameters()) p.data = read(`param.${name}`, p.shape);
  const names = new Map(model.namedParameters().map(([n, p]) => [p, n]));
  opts.forEach((opt, g) => {
    const buffers = opt.params.map((p): Record<string, Tensor> => {
      const key = (k: string) => `opt${g}.${k}.${names.get(p)}`;
      return f.has(key('m')) ? { m: read(key('m'), p.shape), v: read(key('v'), p.shape) } : {};
    });
    opt.loadStateDict({ step: meta.optimizerSteps[g], buffers, paramSteps: meta.paramSteps?.[g] });
  });
}

// -------------------------------------------------------------------------------------------------
// The loop

export interface PretrainOptions {
  runDir: string;
  dataDir: string;
  resume?: boolean;
  /** Stop after this many steps of this invocation (with a checkpoint). */
  stopAfter?: number;
  /** Stop (with a checkpoint) once this many seconds have passed in this invocation. */
  timeLimitSeconds?: number;
  print?: (line: string) => void;
}

/**
 * Keys whose change would make a resumed run something other than the continuation of the checkpointed
 * one (another model, other data, other batches): refused on --resume.
 */
const FIXED_ON_RESUME = ['name', 'corpora', 'valFraction', 'model', 'dropout', 'batchSize', 'seqLen', 'seed', 'evalBatches'] as const;

/**
 * The keys that differ between the checkpoint's config and the one given on --resume, as
 * { key: [before, after] }. Schedule and cadence (maxSteps, lr, minLr, warmupSteps, evalEvery, …) may
 * change, and the caller records that in the log; a FIXED_ON_RESUME key may not.
 */
export function configChanges(saved: PretrainConfig, given: PretrainConfig, file: string): Record<string, [unknown, unknown]> {
  const changes: Record<string, [unknown, unknown]> = {};
  const keys = new Set([...Object.keys(saved), ...Object.keys(given)]) as Set<keyof PretrainConfig>;
  for (const k of keys) {
    if (k.startsWith('_')) continue; // comments
    const a = saved[k], b = given[k];
    if (JSON.stringify(a) !== JSON.stringify(b)) changes[k] = [a, b];
  }
  const fixed = FIXED_ON_RESUME.filter((k) => k in changes);
  if (fixed.length > 0) {
    throw new Error(
      `${file} was trained with a different ${fixed.join(', ')} (${fixed.map((k) => `${k}: ${JSON.stringify(changes[k][0])} there, ${JSON.stringify(changes[k][1])} now`).join('; ')}); ` +
        'resuming would not continue that run: use its config, or start a new --run-dir',
    );
  }
  return changes;
}

export function buildPretrainModel(c: PretrainConfig): GPT2 {
  const cfg = makeConfig({ ...c.model, vocab_size: 257, bos_token_id: EOT, eos_token_id: EOT, resid_pdrop: c.dropout, embd_pdrop: c.dropout, attn_pdrop: c.dropout });
  return new GPT2(cfg, { generator: new Generator(c.seed) });
}

/** Weight decay for 2-d weights only (matmul weights and embeddings), none for biases and layer norms (nanoGPT). */
export function decayGroups(model: GPT2): { decay: Parameter[]; noDecay: Parameter[] } {
  const decay: Parameter[] = [], noDecay: Parameter[] = [];
  for (const p of model.parameters()) (p.ndim >= 2 ? decay : noDecay).push(p);
  return { decay, noDecay };
}

export async function pretrain(c: PretrainConfig, options: PretrainOptions): Promise<{ step: number; finished: boolean }> {
  const print = options.print ?? ((l: string) => console.log(l));
  const { runDir } = options;
  fs.mkdirSync(runDir, { recursive: true });
  const stateFile = path.join(runDir, 'state.safetensors');
  const logFile = path.join(runDir, 'log.jsonl');

  const corpora = loadCorpora(options.dataDir, c.corpora, c.valFraction);
  const train = joinWithEot(corpora.map((k) => k.train));
  const val = corpora.map((k) => ({ name: k.name, windows: valWindows(k.val, Math.max(1, Math.round(c.evalBatches / corpora.length)), c.batchSize, c.seqLen) }));

  const model = buildPretrainModel(c);
  const groups = decayGroups(model);
  const opts = [
    new AdamW(groups.decay, c.lr, { betas: c.betas, weightDecay: c.weightDecay }),
    new AdamW(groups.noDecay, c.lr, { betas: c.betas, weightDecay: 0 }),
  ];
  const dropoutRng = model.drop.generator; // the one generator the model's dropouts draw from

  let step = 0, elapsedBefore = 0;
  if (options.resume && fs.existsSync(stateFile)) {
    const meta = readMeta(stateFile);
    const changes = configChanges(meta.config, c, stateFile); // before any tensor is read
    loadState(stateFile, model, opts, meta);
    step = meta.step;
    elapsedBefore = meta.elapsedSeconds;
    dropoutRng.setState(meta.generator);
    truncateJsonl(logFile, step);
    print(`resumed ${runDir} at step ${step} (${(elapsedBefore / 3600).toFixed(2)} h of training so far)`);
    if (Object.keys(changes).length > 0) {
      appendJsonl(logFile, { kind: 'config-change', step, changes });
      fs.writeFileSync(path.join(runDir, 'config.json'), JSON.stringify(c, null, 2) + '\n');
      print(`config changed at step ${step}: ${Object.entries(changes).map(([k, [a, b]]) => `${k} ${JSON.stringify(a)} -> ${JSON.stringify(b)}`).join(', ')}`);
    }
  } else {
    if (fs.existsSync(stateFile)) throw new Error(`${runDir} already holds a pretraining run; pass --resume or choose another --run-dir`);
    fs.writeFileSync(logFile, '');
    fs.writeFileSync(path.join(runDir, 'config.json'), JSON.stringify(c, null, 2) + '\n');
    const nParams = model.parameters().reduce((n, p) => n + p.size, 0);
    appendJsonl(logFile, { kind: 'start', params: nParams, trainBytes: train.length, valBytes: corpora.map((k) => [k.name, k.val.length]), backend: getBackend().name });
  }

  const t0 = Date.now();
  const elapsed = () => elapsedBefore + (Date.now() - t0) / 1000;
  const save = () => saveState(stateFile, model, opts, { step, generator: dropoutRng.state(), config: c, elapsedSeconds: elapsed(), optimizerSteps: opts.map((o) => o.stepCount), paramSteps: opts.map((o) => o.stateDict().paramSteps) });
  const stops = new StopConditions(options, step);

  const evaluate = () => {
    const perCorpus = val.map((v) => ({ corpus: v.name, loss: validationLoss(model, v.windows) }));
    const loss = perCorpus.reduce((s, p) => s + p.loss, 0) / perCorpus.length;
    appendJsonl(logFile, { kind: 'val', step, loss, bpb: loss / Math.LN2, perCorpus, time: elapsed() });
    print(`step ${step}: val loss ${loss.toFixed(4)} (${(loss / Math.LN2).toFixed(3)} bits/byte) ${perCorpus.map((p) => `${p.corpus} ${p.loss.toFixed(3)}`).join(', ')}`);
  };
  const sample = () => {
    const tok = new ByteTokenizer({ endOfText: true });
    const ids = [...generate(model, tok.encode(c.samplePrompt), { maxNewTokens: 200, temperature: 0.8, topK: 40, seed: step, stopToken: EOT })];
    const text = c.samplePrompt + tok.decode(ids);
    appendJsonl(logFile, { kind: 'sample', step, prompt: c.samplePrompt, text });
    print(`sample @${step}: ${JSON.stringify(text)}`);
  };

  try {
    if (step === 0) evaluate();
    model.train();
    let window = { loss: 0, n: 0, t: Date.now() };
    while (step < c.maxSteps) {
      const lr = learningRate(step, c);
      for (const o of opts) o.lr = lr;
      const { x, y } = lmBatch(train, step, c.batchSize, c.seqLen, c.seed);
      for (const o of opts) o.zeroGrad();
      const loss = lmLoss(model, x, y);
      const l = loss.item();
      if (!Number.isFinite(l)) throw new Error(`loss is ${l} at step ${step + 1}: stopped; the last good checkpoint ${stateFile} is left intact`);
      loss.backward();
      const gradNorm = clipGradNorm(model.parameters(), c.clip);
      for (const o of opts) o.step();
      step++;
      window.loss += l;
      window.n++;
      if (step % c.logEvery === 0) {
        const secs = (Date.now() - window.t) / 1000;
        const tokensPerSec = (window.n * c.batchSize * c.seqLen) / secs;
        appendJsonl(logFile, { kind: 'train', step, loss: window.loss / window.n, lr, gradNorm, tokensPerSec, time: elapsed() });
        print(`step ${step}/${c.maxSteps} loss ${(window.loss / window.n).toFixed(4)} lr ${lr.toExponential(2)} |g| ${gradNorm.toFixed(2)} ${tokensPerSec.toFixed(0)} tok/s`);
        window = { loss: 0, n: 0, t: Date.now() };
      }
      if (step % c.evalEvery === 0 || step === c.maxSteps) evaluate();
      if (step % c.sampleEvery === 0 || step === c.maxSteps) sample();
      if (step % c.checkpointEvery === 0 || step === c.maxSteps) save();
      const stop = await stops.check(step);
      if (stop !== null) {
        if (step % c.checkpointEvery !== 0) save();
        print(`stopped at step ${step} (${stop}); state saved in ${stateFile}, continue with --resume`);
        return { step, finished: false };
      }
    }
  } finally {
    stops.dispose();
  }
  return { step, finished: true };
}

/** Write the trained model as a HuggingFace GPT-2 directory, with GPT-2's 0.1 dropouts in its config for FPT. */
export function exportPretrained(runDir: string, outDir: string, fptDropout = 0.1): GPT2 {
  const stateFile = path.join(runDir, 'state.safetensors');
  const f = openSafetensors(stateFile);
  const meta = readMeta(stateFile);
  const model = buildPretrainModel({ ...meta.config, dropout: fptDropout });
  for (const [name, p] of model.namedParameters()) {
    const t = f.get(`param.${name}`);
    p.data = new Tensor(t.data, t.shape);
  }
  saveGPT2(model, outDir, { metadata: { source: 'fpt pretrain', step: String(meta.step) } });
  fs.writeFileSync(path.join(outDir, 'tokenizer.json'), JSON.stringify({ type: 'byte', vocab_size: 257, eot: EOT }, null, 2) + '\n');
  return model;
}
