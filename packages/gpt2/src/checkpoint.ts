/**
 * Loading and saving GPT-2 checkpoint directories in the HuggingFace layout:
 * `config.json` + `model.safetensors` (or a sharded `model.safetensors.index.json`).
 *
 * Key rules, all here:
 * - keys may carry the `transformer.` prefix (GPT2LMHeadModel, distilgpt2) or not (GPT2Model, the hub gpt2);
 * - the causal-mask buffers `h.{i}.attn.bias` / `h.{i}.attn.masked_bias` are ignored;
 * - `lm_head.weight` is tied to `wte.weight`, so it is not loaded (and not saved);
 * - Conv1D weights are [in, out] in the file, and our Linear keeps that layout (`layout: 'conv1d'`,
 *   y = x·W + b), so no transpose happens anywhere.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Tensor, fmt } from '@fpt-ts/tensor';
import { readConfig, configJson } from './config';
import { GPT2 } from './model';
import { openSafetensorsDir, writeSafetensors, type SafetensorsSource, type WritableTensor } from './safetensors';

const IGNORED = [/\.attn\.bias$/, /\.attn\.masked_bias$/, /^lm_head\.weight$/];

/** The model's parameter name for a checkpoint key, or null for keys that are ignored. */
export function canonicalKey(key: string): string | null {
  const k = key.startsWith('transformer.') ? key.slice('transformer.'.length) : key;
  return IGNORED.some((re) => re.test(k)) ? null : k;
}

/** Read every parameter tensor of a checkpoint into a name -> tensor map, checked against the model's expectations. */
export function readStateDict(source: SafetensorsSource, expected: Map<string, readonly number[]>, where: string): Map<string, Tensor> {
  const state = new Map<string, Tensor>();
  const problems: string[] = [];
  for (const key of source.names()) {
    const name = canonicalKey(key);
    if (name === null) continue;
    const shape = expected.get(name);
    if (shape === undefined) {
      problems.push(`unexpected tensor '${key}'`);
      continue;
    }
    const info = source.info(key);
    if (info.shape.length !== shape.length || info.shape.some((s, i) => s !== shape[i])) {
      problems.push(`'${key}': shape ${fmt(info.shape)} in the file, the model expects ${fmt(shape)}`);
      continue;
    }
    if (!['F32', 'F16', 'BF16', 'F64'].includes(info.dtype)) {
      problems.push(`'${key}': dtype ${info.dtype} is not a float type`);
      continue;
    }
    if (state.has(name)) {
      problems.push(`'${key}': given twice (with and without the transformer. prefix)`);
      continue;
    }
    const raw = source.get(key);
    state.set(name, new Tensor(raw.data as Float32Array, raw.shape));
  }
  for (const [name, shape] of expected) if (!state.has(name)) problems.push(`missing tensor '${name}' ${fmt(shape)}`);
  if (problems.length > 0) throw new Error(`GPT-2 checkpoint ${where}: ${problems.length} problem(s):\n  ${problems.join('\n  ')}`);
  return state;
}

/** Load a checkpoint directory (config.json + safetensors, single or sharded). */
export function loadGPT2(dir: string): GPT2 {
  const configFile = path.join(dir, 'config.json');
  if (!fs.existsSync(configFile)) throw new Error(`GPT-2 checkpoint ${dir}: no config.json (expected a HuggingFace model directory)`);
  const config = readConfig(configFile);
  const model = new GPT2(config); // random init, then every parameter is overwritten
  const expected = new Map(model.namedParameters().map(([n, p]) => [n, p.shape] as [string, readonly number[]]));
  const state = readStateDict(openSafetensorsDir(dir), expected, dir);
  model.loadStateDict(state, { source: dir });
  return model;
}

/** Save a model as a HuggingFace GPT-2 directory (keys without prefix, F32 or F16). */
export function saveGPT2(model: GPT2, dir: string, options: { dtype?: 'F32' | 'F16'; metadata?: Record<string, string> } = {}): void {
  fs.mkdirSync(dir, { recursive: true });
  const tensors = new Map<string, WritableTensor>();
  for (const [name, p] of model.namedParameters()) {
    tensors.set(name, { dtype: options.dtype ?? 'F32', shape: p.shape, data: p.data.astype('float32').contiguous().data as Float32Array });
  }
  writeSafetensors(path.join(dir, 'model.safetensors'), tensors, { format: 'pt', ...(options.metadata ?? {}) });
  const tmp = path.join(dir, `.config.json.${process.pid}.tmp`);
  fs.writeFileSync(tmp, configJson(model.config));
  fs.renameSync(tmp, path.join(dir, 'config.json'));
}
