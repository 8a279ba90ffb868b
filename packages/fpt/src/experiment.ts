/**
 * Experiment configs: one small JSON file per table cell (packages/fpt/configs), read with defaults,
 * overridden from the command line with `--set key=value` (dotted keys, JSON values), and validated.
 */
import * as fs from 'fs';
import * as path from 'path';
import { TASK_NAMES, type TaskName } from '@fpt-ts/tasks';
import { FPT_DEFAULT_FREEZE, type FreezeFlags } from './model';

export interface ExperimentConfig {
  /** Run name; the run directory defaults to runs/<name>. */
  name: string;
  task: TaskName;
  /** Task options (see `fpt data stats --help` / packages/tasks README): e.g. { "tokens": 64 } for paper-style MNIST. */
  taskOptions: Record<string, unknown>;
  model: {
    /** 'gpt2' (FPT / Full / random-init frozen) or 'lstm' (the LayerNorm-LSTM baseline). */
    backbone: 'gpt2' | 'lstm';
    /** Checkpoint directory of the pretrained backbone; default the shipped models/gpt2-nano. */
    checkpoint?: string;
    /** Load the checkpoint's weights (true) or random-init the same architecture from `seed` (false). */
    pretrained: boolean;
    /** Override the backbone's config (e.g. { "n_layer": 3 } for the paper's 3-layer "Full" CIFAR-10). */
    configOverrides?: Record<string, number>;
    /** LSTM baseline size (reference: 3 layers of 768). */
    lstmHidden?: number;
    lstmLayers?: number;
  };
  freeze: FreezeFlags;
  /** Dropout after the input Linear (reference 0.1) and the orthogonal init gain (1.41). */
  inDropout: number;
  orthGain: number;
  /** Override GPT-2's own dropouts (reference: the checkpoint config's 0.1 stays active in training). */
  gptDropout?: number;
  optim: {
    lr: number;
    clip: number;
    batchSize: number;
    /** Micro-batches per step (loss divided by the count, as the reference's gradient accumulation). */
    gradAccum: number;
  };
  /** Gradient steps in total. */
  steps: number;
  /** Steps between evaluations (the reference's steps_per_iter = 100). */
  evalEvery: number;
  /** Random eval batches per evaluation (the reference's test_steps_per_iter = 25). */
  evalBatches: number;
  /** Evaluate the full held-out split at the end (the number the table reports). */
  finalEval: boolean;
  /** Cap on examples in the final evaluation (0 = the whole split). */
  finalEvalLimit: number;
  checkpointEvery: number;
  logEvery: number;
  seed: number;
}

export const DEFAULTS: Omit<ExperimentConfig, 'name' | 'task'> = {
  taskOptions: {},
  model: { backbone: 'gpt2', pretrained: true },
  freeze: { ...FPT_DEFAULT_FREEZE },
  inDropout: 0.1,
  orthGain: 1.41,
  optim: { lr: 1e-3, clip: 1.0, batchSize: 16, gradAccum: 1 },
  steps: 1000,
  evalEvery: 100,
  evalBatches: 25,
  finalEval: true,
  finalEvalLimit: 0,
  checkpointEvery: 100,
  logEvery: 10,
  seed: 0,
};

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Deep merge: objects merge key by key, everything else replaces. */
function merge<T>(base: T, over: unknown): T {
  if (!isObject(base) || !isObject(over)) return over as T;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = k in out && isObject(out[k]) && isObject(v) ? merge(out[k], v) : v;
  return out as T;
}

/** Apply `key.sub=value` overrides (value parsed as JSON when it parses, else kept as a string). */
export function applyOverrides(config: Record<string, unknown>, sets: readonly string[]): Record<string, unknown> {
  const out = structuredClone(config);
  for (const s of sets) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new Error(`--set ${s}: expected key=value`);
    const keys = s.slice(0, eq).split('.');
    const raw = s.slice(eq + 1);
    let value: unknown;
    try { value = JSON.parse(raw); } catch { value = raw; }
    let node: Record<string, unknown> = out;
    for (const k of keys.slice(0, -1)) {
      if (!isObject(node[k])) node[k] = {};
      node = node[k] as Record<string, unknown>;
    }
    node[keys[keys.length - 1]] = value;
  }
  return out;
}

/** Fill defaults and check every field, naming the file and the key in errors. */
export function resolveConfig(raw: Record<string, unknown>, source: string): ExperimentConfig {
  const c = merge(DEFAULTS as unknown as Record<string, unknown>, raw) as unknown as ExperimentConfig;
  const bad = (key: string, why: string): never => { throw new Error(`${source}: ${key} ${why}`); };
  if (typeof c.task !== 'string' || !TASK_NAMES.includes(c.task)) bad('task', `must be one of ${TASK_NAMES.join(', ')}, got ${JSON.stringify(c.task)}`);
  if (typeof c.name !== 'string' || c.name === '') c.name = path.basename(source, '.json');
  if (!['gpt2', 'lstm'].includes(c.model.backbone)) bad('model.backbone', `must be gpt2 or lstm, got ${JSON.stringify(c.model.backbone)}`);
  const positiveInts: [string, unknown][] = [
    ['steps', c.steps], ['evalEvery', c.evalEvery], ['checkpointEvery', c.checkpointEvery], ['logEvery', c.logEvery],
    ['optim.batchSize', c.optim.batchSize], ['optim.gradAccum', c.optim.gradAccum],
  ];
  for (const [k, v] of positiveInts) if (!Number.isInteger(v) || (v as number) <= 0) bad(k, `must be a positive integer, got ${JSON.stringify(v)}`);
  if (!Number.isInteger(c.evalBatches) || c.evalBatches < 0) bad('evalBatches', `must be a non-negative integer, got ${JSON.stringify(c.evalBatches)}`);
  if (!(typeof c.optim.lr === 'number' && c.optim.lr > 0)) bad('optim.lr', `must be a positive number, got ${JSON.stringify(c.optim.lr)}`);
  if (!(typeof c.optim.clip === 'number' && c.optim.clip >= 0)) bad('optim.clip', `must be a number >= 0 (0 = no clipping), got ${JSON.stringify(c.optim.clip)}`);
  for (const [k, v] of Object.entries(c.freeze)) if (typeof v !== 'boolean') bad(`freeze.${k}`, `must be true or false, got ${JSON.stringify(v)}`);
  const unknownFreeze = Object.keys(c.freeze).filter((k) => !(k in FPT_DEFAULT_FREEZE));
  if (unknownFreeze.length) bad('freeze', `has unknown flag(s) ${unknownFreeze.join(', ')}`);
  const known = new Set([...Object.keys(DEFAULTS), 'name', 'task']);
  const unknown = Object.keys(raw).filter((k) => !known.has(k) && !k.startsWith('_'));
  if (unknown.length) bad('', `has unknown key(s) ${unknown.join(', ')} (keys starting with _ are comments)`);
  return c;
}

export function loadConfig(file: string, sets: readonly string[] = []): ExperimentConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read experiment config ${file}: ${(e as Error).message}`);
  }
  if (!isObject(raw)) throw new Error(`${file}: an experiment config must be a JSON object`);
  return resolveConfig(applyOverrides(raw, sets), file);
}
