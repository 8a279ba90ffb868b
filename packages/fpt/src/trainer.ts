/**
 * The FPT trainer: the reference protocol (Adam, global clipping at 1.0, GPT-2's dropouts on in training,
 * K random eval batches every N steps), plus the full held-out split at the end, seeded end to end,
 * with atomic checkpoints and exact resume.
 *
 * A run directory holds:
 *   config.json        the resolved experiment config
 *   log.jsonl          one JSON object per log/eval line (steps after the last checkpoint are dropped on resume)
 *   checkpoint.safetensors   trainable parameters, Adam moments, and (metadata) step + RNG state
 *   metrics.json       the final evaluation
 */
import * as fs from 'fs';
import * as path from 'path';
import { createHash } from 'crypto';
import { Tensor, Generator, ops, getBackend, type GeneratorState } from '@fpt-ts/tensor';
import { Adam, clipGradNorm, noGrad, type Variable } from '@fpt-ts/autograd';
import { GPT2, readConfig, readStateDict, openSafetensors, openSafetensorsDir, writeSafetensors, makeConfig, type WritableTensor } from '@fpt-ts/gpt2';
import { createTask, type Batch, type Task, type TaskName } from '@fpt-ts/tasks';
import { FPT } from './model';
import { LayerNormLSTM } from './lstm';
import type { ExperimentConfig } from './experiment';
import { defaultModelDir, dataDir, repoRoot } from './paths';
import { writeAtomic, appendJsonl as appendTo, truncateJsonl, StopConditions, readCheckedTensor, float32Data } from './runfiles';

const defaultPrint = (line: string) => console.log(line);

// -------------------------------------------------------------------------------------------------
// Building the model and the task

export function buildTask(config: ExperimentConfig, dataDirectory?: string): Task {
  const options = { dataDir: dataDir(dataDirectory), ...config.taskOptions } as never;
  return createTask(config.task as TaskName, options);
}

/** The FPT (or baseline) for a config: the same seed always gives the same initial weights. */
export function buildModel(config: ExperimentConfig, task: Task, generator: Generator): FPT {
  const info = task.info;
  let backbone: GPT2 | LayerNormLSTM;
  if (config.model.backbone === 'lstm') {
    const hidden = config.model.lstmHidden ?? 768;
    backbone = new LayerNormLSTM(hidden, hidden, config.model.lstmLayers ?? 3, { generator });
  } else {
    const dir = config.model.checkpoint ?? defaultModelDir();
    const base = readConfig(path.join(dir, 'config.json'));
    const dropout = config.gptDropout === undefined ? {} : { resid_pdrop: config.gptDropout, embd_pdrop: config.gptDropout, attn_pdrop: config.gptDropout };
    const gptConfig = makeConfig({ ...base, ...dropout, ...(config.model.configOverrides ?? {}) }, `${dir}/config.json with overrides`);
    backbone = new GPT2(gptConfig, { generator });
    if (config.model.pretrained) {
      if (config.model.configOverrides && Object.keys(config.model.configOverrides).length > 0) {
        throw new Error('model.configOverrides change the architecture, so they need model.pretrained = false');
      }
      const expected = new Map(backbone.namedParameters().map(([n, p]) => [n, p.shape] as [string, readonly number[]]));
      backbone.loadStateDict(readStateDict(openSafetensorsDir(dir), expected, dir), { source: dir });
    }
  }
  if (info.tokens > 0 && backbone instanceof GPT2 && info.tokens > backbone.config.n_positions) {
    throw new Error(`task ${info.name} has ${info.tokens} tokens but the backbone has n_positions ${backbone.config.n_positions}`);
  }
  return new FPT(backbone, {
    inputKind: info.inputKind,
    inputDim: info.tokenDim,
    outputDim: info.outputDim,
    outputTokens: info.outputTokens,
    freeze: config.freeze,
    orthGain: config.orthGain,
    inDropout: config.inDropout,
    generator,
  });
}

export function batchTensors(b: Batch): { x: Tensor; y: Tensor } {
  return { x: new Tensor(b.x, b.xShape), y: new Tensor(b.y, b.yShape) };
}

/** Correct predictions in a batch: argmax over each label's classes vs the label. */
export function countCorrect(model: FPT, logits: Variable, y: Tensor): number {
  const pred = ops.argmax(model.labelLogits(logits, y).data, -1).data;
  const labels = y.contiguous().data;
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (pred[i] === labels[i]) correct++;
  return correct;
}

// -------------------------------------------------------------------------------------------------
// Checkpoints

interface CheckpointMeta {
  step: number;
  generator: GeneratorState;
  config: ExperimentConfig;
  elapsedSeconds: number;
}

export const CHECKPOINT_FILE = 'checkpoint.safetensors';

/** Trainable parameters + Adam moments + step and RNG state, written atomically (temp file + rename). */
export function saveCheckpoint(file: string, model: FPT, opt: Adam, meta: CheckpointMeta): void {
  const tensors = new Map<string, WritableTensor>();
  const state = opt.stateDict();
  const names = new Map(model.namedParameters().map(([n, p]) => [p, n]));
  opt.params.forEach((p, i) => {
    const name = names.get(p)!;
    tensors.set(`param.${name}`, { dtype: 'F32', shape: p.shape, data: float32Data(p.data) });
    for (const [k, t] of Object.entries(state.buffers[i])) tensors.set(`adam.${k}.${name}`, { dtype: 'F32', shape: t.shape, data: float32Data(t) });
  });
  writeSafetensors(file, tensors, { fpt: JSON.stringify({ ...meta, optimizerStep: state.step, paramSteps: state.paramSteps }) });
}

/** Restore a checkpoint into a freshly built model and optimizer; returns its metadata. */
export function loadCheckpoint(file: string, model: FPT, opt: Adam, config: ExperimentConfig): CheckpointMeta {
  const f = openSafetensors(file); // validates the whole header; a corrupt file fails here with its name
  const raw = f.metadata.fpt;
  if (raw === undefined) throw new Error(`checkpoint ${file}: no 'fpt' metadata (not a trainer checkpoint)`);
  let meta: CheckpointMeta & { optimizerStep: number; paramSteps?: number[] };
  try {
    meta = JSON.parse(raw);
  } catch {
    throw new Error(`checkpoint ${file}: corrupt 'fpt' metadata`);
  }
  const differs = configDifference(meta.config, config);
  if (differs) throw new Error(`checkpoint ${file} was written by a different config (${differs}); start a new run directory or restore the config`);
  const names = new Map(model.namedParameters().map(([n, p]) => [p, n]));
  const buffers = opt.params.map((p) => {
    const name = names.get(p)!;
    const read = (key: string) => readCheckedTensor(f, key, p.shape);
    p.data = read(`param.${name}`);
    const b: Record<string, Tensor> = {};
    if (f.has(`adam.m.${name}`)) { b.m = read(`adam.m.${name}`); b.v = read(`adam.v.${name}`); }
    return b;
  });
  opt.loadStateDict({ step: meta.optimizerStep, buffers, paramSteps: meta.paramSteps });
  return meta;
}

/** The first config key that differs (ignoring the step budget and reporting cadence), or null. */
function configDifference(a: ExperimentConfig, b: ExperimentConfig): string | null {
  const ignore = new Set(['steps', 'logEvery', 'checkpointEvery', 'finalEvalLimit', 'finalEval']);
  const walk = (x: unknown, y: unknown, key: string): string | null => {
    if (typeof x === 'object' && x !== null && typeof y === 'object' && y !== null) {
      for (const k of new Set([...Object.keys(x), ...Object.keys(y)])) {
        if (key === '' && ignore.has(k)) continue;
        const d = walk((x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k], key ? `${key}.${k}` : k);
        if (d) return d;
      }
      return null;
    }
    return x === y ? null : `${key}: ${JSON.stringify(x)} vs ${JSON.stringify(y)}`;
  };
  return walk(a, b, '');
}

// -------------------------------------------------------------------------------------------------
// The training loop

export interface TrainOptions {
  runDir: string;
  resume?: boolean;
  dataDir?: string;
  /** Stop (with a checkpoint) after this many steps of this invocation: for tests of interruption. */
  stopAfter?: number;
  /** Stop (with a checkpoint) once this many seconds have passed in this invocation. */
  timeLimitSeconds?: number;
  /** Where progress goes (default: stdout, a live bar on a TTY). */
  print?: (line: string) => void;
}

export interface TrainResult {
  step: number;
  finished: boolean;
  finalMetrics?: FinalMetrics;
  lastLoss: number;
}

export interface FinalMetrics {
  task: string;
  split: string;
  accuracy: number;
  correct: number;
  total: number;
  excluded: number;
  steps: number;
  backend: string;
  wallSeconds: number;
  /** Which backbone weights the run started from (see describeBackbone). */
  backbone?: string;
}

/**
 * The backbone a config starts from, for the record: the checkpoint directory with the step its
 * safetensors metadata names and a hash of its weights, or the random init of its configuration.
 */
export function describeBackbone(config: ExperimentConfig): string {
  if (config.model.backbone === 'lstm') return `LSTM (random init, seed ${config.seed})`;
  const dir = config.model.checkpoint ?? defaultModelDir();
  const inRepo = path.relative(repoRoot(), path.resolve(dir));
  const shown = inRepo.startsWith('..') ? dir : inRepo;
  if (!config.model.pretrained) return `random init of ${shown}'s configuration (seed ${config.seed})`;
  const file = path.join(dir, 'model.safetensors');
  if (!fs.existsSync(file)) return shown; // sharded or other layout: the directory alone
  const meta = openSafetensors(file).metadata;
  const hash = createHash('sha256').update(fs.readFileSync(file)).digest('hex').slice(0, 12);
  return `${shown} (${meta.step !== undefined ? `${meta.source ?? 'step'} step ${meta.step}, ` : ''}sha256 ${hash})`;
}

class NonFiniteLoss extends Error {}

export async function train(config: ExperimentConfig, options: TrainOptions): Promise<TrainResult> {
  const { runDir } = options;
  fs.mkdirSync(runDir, { recursive: true });
  const ckptFile = path.join(runDir, CHECKPOINT_FILE);
  const logFile = path.join(runDir, 'log.jsonl');
  const print = options.print ?? defaultPrint;

  const task = buildTask(config, options.dataDir);
  const generator = new Generator(config.seed);
  const model = buildModel(config, task, generator);
  const opt = new Adam(model.trainableParameters(), config.optim.lr);

  let step = 0;
  let elapsedBefore = 0;
  if (options.resume && fs.existsSync(ckptFile)) {
    const meta = loadCheckpoint(ckptFile, model, opt, config);
    step = meta.step;
    elapsedBefore = meta.elapsedSeconds;
    generator.setState(meta.generator);
    truncateJsonl(logFile, step);
    print(`resumed ${runDir} at step ${step}`);
  } else {
    if (fs.existsSync(ckptFile) && !options.resume) throw new Error(`${runDir} already holds a run; pass --resume to continue it or choose another --run-dir`);
    fs.writeFileSync(logFile, '');
  }
  writeAtomic(path.join(runDir, 'config.json'), JSON.stringify(config, null, 2) + '\n');

  const appendLog = (entry: Record<string, unknown>) => appendTo(logFile, entry);
  const checkpoint = () => saveCheckpoint(ckptFile, model, opt, { step, generator: generator.state(), config, elapsedSeconds: elapsedBefore + (Date.now() - t0) / 1000 });

  const t0 = Date.now();
  const stops = new StopConditions(options, step);
  const progress = new Progress(config.steps, print);
  const { batchSize, gradAccum } = config.optim;
  let lastLoss = NaN;
  let window = { loss: 0, correct: 0, labels: 0, tokens: 0, steps: 0, t: Date.now() };
  try {
    model.train();
    while (step < config.steps) {
      // one optimizer step over gradAccum micro-batches
      opt.zeroGrad();
      let stepLoss = 0;
      for (let micro = 0; micro < gradAccum; micro++) {
        const { x, y } = batchTensors(task.batch('train', step * gradAccum + micro, batchSize, config.seed));
        const logits = model.forward(x);
        const loss = model.loss(logits, y);
        const l = loss.item();
        if (!Number.isFinite(l)) throw new NonFiniteLoss(`loss is ${l} at step ${step + 1}`);
        (gradAccum > 1 ? loss.mul(1 / gradAccum) : loss).backward();
        stepLoss += l / gradAccum;
        window.correct += countCorrect(model, logits, y);
        window.labels += y.size;
        window.tokens += x.shape[0] * x.shape[1];
      }
      if (config.optim.clip > 0) clipGradNorm(opt.params, config.optim.clip);
      opt.step();
      step++;
      lastLoss = stepLoss;
      window.loss += stepLoss;
      window.steps++;

      if (step % config.logEvery === 0 || step === config.steps) {
        const secs = (Date.now() - window.t) / 1000;
        const entry = { step, loss: window.loss / window.steps, acc: window.correct / window.labels, tokensPerSec: window.tokens / secs, time: elapsedBefore + (Date.now() - t0) / 1000 };
        appendLog({ kind: 'train', ...entry });
        progress.update(step, entry.loss, entry.acc, entry.tokensPerSec, (Date.now() - t0) / 1000 / (step - stops.startStep));
        window = { loss: 0, correct: 0, labels: 0, tokens: 0, steps: 0, t: Date.now() };
      }
      if (config.evalBatches > 0 && step % config.evalEvery === 0) {
        const ev = evaluateRandomBatches(model, task, config, step / config.evalEvery);
        appendLog({ kind: 'eval', step, split: task.info.evalSplit, ...ev });
        progress.note(`step ${step}: ${task.info.evalSplit} accuracy ${(100 * ev.acc).toFixed(2)}% over ${config.evalBatches} random batches (loss ${ev.loss.toFixed(4)})`);
      }
      if (step % config.checkpointEvery === 0 || step === config.steps) checkpoint();

      const stop = await stops.check(step);
      if (stop !== null) {
        if (step % config.checkpointEvery !== 0) checkpoint();
        progress.note(`stopped at step ${step} (${stop}); checkpoint saved, continue with --resume`);
        return { step, finished: false, lastLoss };
      }
    }
  } catch (e) {
    if (e instanceof NonFiniteLoss) {
      throw new Error(`${e.message}: training stopped; the last good checkpoint (${fs.existsSync(ckptFile) ? ckptFile : 'none yet'}) is left intact`);
    }
    throw e;
  } finally {
    stops.dispose();
    progress.done();
  }

  let finalMetrics: FinalMetrics | undefined;
  if (config.finalEval) {
    finalMetrics = { ...evaluateFull(model, task, config), steps: step, backend: getBackend().name, wallSeconds: elapsedBefore + (Date.now() - t0) / 1000, backbone: describeBackbone(config) };
    appendLog({ kind: 'final', ...finalMetrics });
    writeAtomic(path.join(runDir, 'metrics.json'), JSON.stringify(finalMetrics, null, 2) + '\n');
    print(`final: ${finalMetrics.split} accuracy ${(100 * finalMetrics.accuracy).toFixed(2)}% (${Number(finalMetrics.correct.toFixed(2))}/${finalMetrics.total}${finalMetrics.excluded ? `, ${finalMetrics.excluded} excluded and counted wrong` : ''})`);
  }
  return { step, finished: true, finalMetrics, lastLoss };
}

/** The reference's evaluation: K random batches of the eval split, in eval mode. */
export function evaluateRandomBatches(model: FPT, task: Task, config: ExperimentConfig, round: number): { loss: number; acc: number } {
  const bs = config.optim.batchSize * task.info.evalBatchScale;
  let loss = 0, correct = 0, labels = 0;
  model.eval();
  noGrad(() => {
    for (let j = 0; j < config.evalBatches; j++) {
      const { x, y } = batchTensors(task.batch(task.info.evalSplit, round * config.evalBatches + j, bs, config.seed + 7919));
      const logits = model.forward(x);
      loss += model.loss(logits, y).item();
      correct += countCorrect(model, logits, y);
      labels += y.size;
    }
  });
  model.train();
  return { loss: loss / config.evalBatches, acc: correct / labels };
}

/** Accuracy on the whole held-out split (excluded examples count as wrong). */
export function evaluateFull(model: FPT, task: Task, config: ExperimentConfig): Omit<FinalMetrics, 'steps' | 'backend' | 'wallSeconds'> {
  const set = task.evalSet(task.info.evalSplit, config.optim.batchSize * task.info.evalBatchScale);
  let correct = 0, seen = 0;
  const limit = config.finalEvalLimit > 0 ? config.finalEvalLimit : Infinity;
  model.eval();
  noGrad(() => {
    for (const b of set.batches()) {
      if (seen >= limit) break;
      const { x, y } = batchTensors(b);
      correct += countCorrect(model, model.forward(x), y) / task.info.labelsPerExample;
      seen += b.xShape[0];
    }
  });
  model.train();
  const total = Number.isFinite(limit) ? Math.min(seen, set.total) : set.total;
  return { task: task.info.name, split: set.split, accuracy: correct / total, correct, total, excluded: Number.isFinite(limit) ? 0 : set.excluded };
}

// -------------------------------------------------------------------------------------------------
// Small utilities

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(s % 60).padStart(2, '0')}s`;
}

/** A progress bar on a TTY; plain lines otherwise. */
class Progress {
  private readonly tty = process.stdout.isTTY === true;
  private live = false;

  constructor(private readonly total: number, private readonly print: (line: string) => void) {}

  update(step: number, loss: number, acc: number, tokensPerSec: number, secondsPerStep: number): void {
    const eta = formatDuration((this.total - step) * secondsPerStep);
    const text = `step ${step}/${this.total}  loss ${loss.toFixed(4)}  acc ${(100 * acc).toFixed(1)}%  ${tokensPerSec.toFixed(0)} tok/s  ETA ${eta}`;
    if (this.tty && this.print === defaultPrint) {
      const width = 24, filled = Math.round((width * step) / this.total);
      process.stdout.write(`\r[${'='.repeat(filled)}${' '.repeat(width - filled)}] ${text}\x1b[K`);
      this.live = true;
    } else {
      this.print(text);
    }
  }

  note(line: string): void {
    this.done();
    this.print(line);
  }

  done(): void {
    if (this.live) process.stdout.write('\n');
    this.live = false;
  }
}

