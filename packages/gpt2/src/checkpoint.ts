/**
 * Loading and saving GPT-2 checkpoint directories in the HuggingFace layout:
 * `config.json` + `model.safetensors` (or a sharded `model.safetensors.index.json`).
 *
 * Key rules, all here:
 * - keys may carry the `transformer.` prefix (GPT2LMHeadModel, distilgpt2) or not (GPT2Model, the hub gpt2);
 * - the causal-mask buffers `h.{i}.attn.bias` / `h.{i}.attn.masked_bias` are ignored;
 * - `lm_head.weight` is tied to `wte.weight`, so it is not loaded (and not saved); only its shape is checked;
 * - Conv1D weights are [in, out] in the file, and our Linear keeps that layout (`layout: 'conv1d'`,
 *   y = x·W + b), so no transpose happens anywhere;
 * - weights may be F32, F16, BF16 or F64 (converted to f32); any other dtype is an error.
 *
 * Every tensor is checked from the headers alone (names, shapes, dtypes) before any data is read, and all
 * problems are reported together, each naming the file and the tensor.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Tensor, fmt, Generator } from '@fpt-ts/tensor';
import { readConfig, configJson } from './config';
import { GPT2 } from './model';
import {
  openSafetensorsDir, writeSafetensors, SHARDED_INDEX_NAME, SINGLE_FILE_NAME,
  type SafetensorsSource, type WritableTensor,
} from './safetensors';

const IGNORED = [/\.attn\.bias$/, /\.attn\.masked_bias$/, /^lm_head\.weight$/];
const FLOAT_DTYPES = ['F32', 'F16', 'BF16', 'F64'];

/** The model's parameter name for a checkpoint key, or null for keys that are ignored. */
export function canonicalKey(key: string): string | null {
  const k = key.startsWith('transformer.') ? key.slice('transformer.'.length) : key;
  return IGNORED.some((re) => re.test(k)) ? null : k;
}

/** The file a key is read from: the single file, or the shard the index places it in. */
function fileOf(source: SafetensorsSource, key?: string): string {
  const s = source as Partial<{ path: string; dir: string; indexPath: string; weightMap: Map<string, string> }>;
  if (typeof s.path === 'string') return s.path;
  if (s.weightMap !== undefined && s.dir !== undefined) {
    const shard = key === undefined ? undefined : s.weightMap.get(key);
    return shard !== undefined ? path.join(s.dir, shard) : (s.indexPath ?? s.dir);
  }
  return '(checkpoint)';
}

/**
 * Check a checkpoint's tensors against the model's parameter names and shapes, from the headers only.
 * Returns parameter name -> key in the file; throws one error listing every problem.
 */
export function checkStateDict(source: SafetensorsSource, expected: ReadonlyMap<string, readonly number[]>, where: string): Map<string, string> {
  const keys = new Map<string, string>();
  const seen = new Set<string>(); // parameter names present in the file, usable or not
  const problems: string[] = [];
  const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((s, i) => s === b[i]);
  for (const key of source.names()) {
    const name = canonicalKey(key);
    const info = source.info(key);
    const at = `${fileOf(source, key)}: tensor '${key}'`;
    if (name === null) {
      const wte = expected.get('wte.weight');
      if (/^(transformer\.)?lm_head\.weight$/.test(key) && wte !== undefined && !sameShape(info.shape, wte)) {
        problems.push(`${at}: shape ${fmt(info.shape)}, but the LM head is tied to wte ${fmt(wte)}`);
      }
      continue;
    }
    const shape = expected.get(name);
    const twice = seen.has(name);
    seen.add(name);
    if (shape === undefined) problems.push(`${at}: unexpected (the model has no parameter '${name}')`);
    else if (twice) problems.push(`${at}: parameter '${name}' is given twice (with and without the transformer. prefix)`);
    else if (!sameShape(info.shape, shape)) problems.push(`${at}: shape ${fmt(info.shape)} in the file, the model expects ${fmt(shape)}`);
    else if (!FLOAT_DTYPES.includes(info.dtype)) problems.push(`${at}: dtype ${info.dtype} is not a float type (expected ${FLOAT_DTYPES.join(', ')})`);
    else keys.set(name, key);
  }
  for (const [name, shape] of expected) {
    if (!seen.has(name)) problems.push(`${fileOf(source)}: missing tensor '${name}' ${fmt(shape)}`);
  }
  if (problems.length > 0) throw new Error(`GPT-2 checkpoint ${where}: ${problems.length} problem(s):\n  ${problems.join('\n  ')}`);
  return keys;
}

/** Read every parameter tensor of a checkpoint into a name -> tensor map, checked against the model's expectations. */
export function readStateDict(source: SafetensorsSource, expected: Map<string, readonly number[]>, where: string): Map<string, Tensor> {
  const keys = checkStateDict(source, expected, where);
  const state = new Map<string, Tensor>();
  for (const [name, key] of keys) {
    const raw = source.get(key);
    state.set(name, new Tensor(raw.data as Float32Array, raw.shape));
  }
  return state;
}

/**
 * Load a checkpoint directory (config.json + safetensors, single or sharded). The model is built without
 * its random init and each parameter takes its tensor as read, one at a time, so a large checkpoint is
 * held in memory once. `generator` draws the dropout masks in training mode (default: the global one);
 * loading draws nothing from it.
 */
export function loadGPT2(dir: string, options: { generator?: Generator } = {}): GPT2 {
  const configFile = path.join(dir, 'config.json');
  if (!fs.existsSync(configFile)) throw new Error(`GPT-2 checkpoint ${dir}: no config.json (expected a HuggingFace model directory)`);
  const config = readConfig(configFile);
  const model = new GPT2(config, { generator: options.generator, init: false });
  const params = new Map(model.namedParameters());
  const expected = new Map([...params].map(([n, p]) => [n, p.shape] as [string, readonly number[]]));
  const source = openSafetensorsDir(dir);
  const keys = checkStateDict(source, expected, dir);
  for (const [name, key] of keys) {
    const raw = source.get(key);
    params.get(name)!.data = new Tensor(raw.data as Float32Array, raw.shape);
  }
  return model;
}

/**
 * Save a model as a HuggingFace GPT-2 directory: config.json + model.safetensors, keys without prefix,
 * F32 or F16. A sharded index left in `dir` by an earlier save would take precedence when loading, so it
 * is removed together with the shard files it lists.
 */
export function saveGPT2(model: GPT2, dir: string, options: { dtype?: 'F32' | 'F16'; metadata?: Record<string, string> } = {}): void {
  fs.mkdirSync(dir, { recursive: true });
  const tensors = new Map<string, WritableTensor>();
  for (const [name, p] of model.namedParameters()) {
    tensors.set(name, { dtype: options.dtype ?? 'F32', shape: p.shape, data: p.data.astype('float32').contiguous().data as Float32Array });
  }
  writeSafetensors(path.join(dir, SINGLE_FILE_NAME), tensors, { format: 'pt', ...(options.metadata ?? {}) });
  removeStaleIndex(dir);
  const tmp = path.join(dir, `.config.json.${process.pid}.tmp`);
  fs.writeFileSync(tmp, configJson(model.config));
  fs.renameSync(tmp, path.join(dir, 'config.json'));
}

function removeStaleIndex(dir: string): void {
  const index = path.join(dir, SHARDED_INDEX_NAME);
  if (!fs.existsSync(index)) return;
  let shards: string[] = [];
  try {
    const map = (JSON.parse(fs.readFileSync(index, 'utf8')) as { weight_map?: Record<string, unknown> }).weight_map ?? {};
    shards = [...new Set(Object.values(map))].filter((s): s is string => typeof s === 'string' && path.basename(s) === s && s !== SINGLE_FILE_NAME);
  } catch {
    // an unreadable index is removed all the same; its shards cannot be known
  }
  for (const s of shards) fs.rmSync(path.join(dir, s), { force: true });
  fs.rmSync(index, { force: true });
}
