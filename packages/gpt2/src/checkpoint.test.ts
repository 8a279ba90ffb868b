/**
 * Checkpoint directories: save/reload is bitwise, the GPT2LMHeadModel layout (transformer. prefix,
 * causal-mask buffers, lm_head) in F16 and the sharded form load, and every kind of bad checkpoint is
 * refused with an error naming the file and the tensor.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Tensor, Generator } from '@fpt-ts/tensor';
import { noGrad } from '@fpt-ts/autograd';
import { loadGPT2, saveGPT2, canonicalKey, readStateDict } from './checkpoint';
import { makeConfig, readConfig } from './config';
import { GPT2 } from './model';
import {
  readSafetensors, writeSafetensors, openSafetensorsDir, f16ToF32, f32ToF16, SHARDED_INDEX_NAME,
  type RawTensor, type WritableTensor,
} from './safetensors';

const FIXTURES = process.env.FPT_FIXTURES_DIR ?? path.resolve(__dirname, '../../../../shared/fixtures');
const FIXTURE = path.join(FIXTURES, 'gpt2-tiny-a');

let tmp: string;
let weights: Map<string, RawTensor>; // the fixture's tensors, as in the file
let reference: Map<string, RawTensor>;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gpt2-checkpoint-test-'));
  weights = readSafetensors(path.join(FIXTURE, 'model.safetensors'));
  reference = readSafetensors(path.join(FIXTURE, 'reference.safetensors'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

let dirCount = 0;
/** A fresh checkpoint directory holding the fixture's config.json (or `config`) and the given tensors. */
function checkpoint(tensors: Map<string, WritableTensor> | null, config?: object | string): string {
  const dir = path.join(tmp, `ckpt-${dirCount++}`);
  fs.mkdirSync(dir);
  const text = config === undefined ? fs.readFileSync(path.join(FIXTURE, 'config.json'), 'utf8') : typeof config === 'string' ? config : JSON.stringify(config);
  fs.writeFileSync(path.join(dir, 'config.json'), text);
  if (tensors !== null) writeSafetensors(path.join(dir, 'model.safetensors'), tensors, { format: 'pt' });
  return dir;
}

/** The fixture's weights as writable tensors, renamed / converted / edited by the caller. */
function fixtureTensors(edit: (name: string, t: WritableTensor) => [string, WritableTensor][] | null = (n, t) => [[n, t]]): Map<string, WritableTensor> {
  const out = new Map<string, WritableTensor>();
  for (const [name, t] of weights) {
    const entries = edit(name, { dtype: 'F32', shape: t.shape, data: t.data });
    for (const [n, w] of entries ?? []) out.set(n, w);
  }
  return out;
}

function bitsOf(t: Tensor): Uint32Array {
  const d = t.contiguous().data as Float32Array;
  return new Uint32Array(d.buffer, d.byteOffset, d.length);
}

function expectBitwiseEqual(a: GPT2, b: GPT2): void {
  const pa = a.namedParameters(), pb = new Map(b.namedParameters());
  expect(pa.map(([n]) => n)).toEqual([...pb.keys()]);
  for (const [name, p] of pa) {
    const q = pb.get(name)!;
    expect(q.shape).toEqual(p.shape);
    expect(Buffer.from(bitsOf(q.data).buffer).equals(Buffer.from(bitsOf(p.data).buffer))).toBe(true);
  }
}

function maxAbsDiff(a: Tensor, b: RawTensor): number {
  const x = a.contiguous().data;
  expect(x.length).toBe(b.data.length);
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - b.data[i]));
  return m;
}

function maxAbs(t: RawTensor): number {
  let m = 0;
  for (const v of t.data) m = Math.max(m, Math.abs(v));
  return m;
}

/** Forward of the reference's input_ids: hidden states per layer and logits. */
function outputs(model: GPT2): { hidden: Tensor[]; logits: Tensor } {
  const ids = new Tensor(reference.get('input_ids')!.data, reference.get('input_ids')!.shape);
  return noGrad(() => {
    const out = model.eval().forward({ inputIds: ids, outputHiddenStates: true });
    return { hidden: out.hiddenStates!.map((h) => h.data), logits: model.logits(out.lastHiddenState).data };
  });
}

/** Load must fail, and its message must contain every fragment. */
function expectLoadError(dir: string, ...fragments: (string | RegExp)[]): string {
  let message = '';
  try {
    loadGPT2(dir);
  } catch (e) {
    message = (e as Error).message;
  }
  expect(message).not.toBe('');
  for (const f of fragments) {
    if (typeof f === 'string') expect(message).toContain(f);
    else expect(message).toMatch(f);
  }
  return message;
}

describe('key rules', () => {
  test('canonicalKey strips transformer. and ignores mask buffers and the tied LM head', () => {
    expect(canonicalKey('wte.weight')).toBe('wte.weight');
    expect(canonicalKey('transformer.h.3.attn.c_attn.weight')).toBe('h.3.attn.c_attn.weight');
    expect(canonicalKey('h.0.attn.bias')).toBeNull();
    expect(canonicalKey('transformer.h.11.attn.masked_bias')).toBeNull();
    expect(canonicalKey('lm_head.weight')).toBeNull();
    expect(canonicalKey('h.0.attn.c_attn.bias')).toBe('h.0.attn.c_attn.bias'); // a real bias, not the buffer
  });
});

describe('save and reload', () => {
  test('the fixture saved and reloaded is bitwise identical, parameters and config', () => {
    const a = loadGPT2(FIXTURE);
    const dir = path.join(tmp, 'saved-fixture');
    saveGPT2(a, dir);
    const b = loadGPT2(dir);
    expectBitwiseEqual(a, b);
    expect(b.config).toEqual(a.config);
    expect(readConfig(path.join(dir, 'config.json'))).toEqual(readConfig(path.join(FIXTURE, 'config.json')));
    // the weights file itself holds the fixture's bytes for every tensor
    const saved = readSafetensors(path.join(dir, 'model.safetensors'));
    expect([...saved.keys()].sort()).toEqual([...weights.keys()].sort());
    for (const [name, t] of weights) expect(Buffer.from(saved.get(name)!.data.buffer).equals(Buffer.from(t.data.buffer))).toBe(true);
  });

  test('a random-init model (head_dim 9, n_inner set) round-trips bitwise, and saving twice writes the same bytes', () => {
    const config = makeConfig({ vocab_size: 40, n_positions: 16, n_embd: 36, n_layer: 2, n_head: 4, n_inner: 50, layer_norm_epsilon: 1e-6 });
    const a = new GPT2(config, { generator: new Generator(11) });
    const d1 = path.join(tmp, 'rt-1'), d2 = path.join(tmp, 'rt-2');
    saveGPT2(a, d1);
    const b = loadGPT2(d1);
    expectBitwiseEqual(a, b);
    expect(b.config).toEqual(config);
    saveGPT2(b, d2);
    expect(fs.readFileSync(path.join(d2, 'model.safetensors')).equals(fs.readFileSync(path.join(d1, 'model.safetensors')))).toBe(true);
    expect(fs.readFileSync(path.join(d2, 'config.json'), 'utf8')).toBe(fs.readFileSync(path.join(d1, 'config.json'), 'utf8'));
  });

  test('saving F16 rounds every weight to the nearest f16', () => {
    const a = loadGPT2(FIXTURE);
    const dir = path.join(tmp, 'saved-f16');
    saveGPT2(a, dir, { dtype: 'F16' });
    const file = readSafetensors(path.join(dir, 'model.safetensors'));
    expect(new Set([...file.values()].map((t) => t.dtype))).toEqual(new Set(['F16']));
    const b = loadGPT2(dir);
    const pb = new Map(b.namedParameters());
    for (const [name, p] of a.namedParameters()) {
      const want = Float32Array.from(p.data.contiguous().data, (v) => f16ToF32(f32ToF16(v)));
      expect(Buffer.from(bitsOf(pb.get(name)!.data).buffer).equals(Buffer.from(want.buffer))).toBe(true);
    }
  });

  test('saving over a sharded checkpoint removes its index and shards, so the new weights are the ones loaded', () => {
    const dir = path.join(tmp, 'over-sharded');
    writeSharded(dir, fixtureTensors());
    const model = new GPT2(readConfig(path.join(FIXTURE, 'config.json')), { generator: new Generator(5) });
    saveGPT2(model, dir);
    expect(fs.existsSync(path.join(dir, SHARDED_INDEX_NAME))).toBe(false);
    expect(fs.readdirSync(dir).sort()).toEqual(['config.json', 'model.safetensors']);
    expectBitwiseEqual(model, loadGPT2(dir));
  });

  test('loading draws nothing from the generator it is given (it is kept for dropout)', () => {
    const g = new Generator(3);
    const before = JSON.stringify(g.state());
    const model = loadGPT2(FIXTURE, { generator: g });
    expect(JSON.stringify(g.state())).toBe(before);
    expect(model.drop.generator).toBe(g);
    expect(model.h[1].attn.attn_dropout.generator).toBe(g);
  });
});

/** Write `tensors` as two shards + index (HF names), the first half of the names in shard 1. */
function writeSharded(dir: string, tensors: Map<string, WritableTensor>): { shards: string[]; dir: string } {
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(path.join(FIXTURE, 'config.json'), path.join(dir, 'config.json'));
  const names = [...tensors.keys()].sort();
  const shards = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
  const halves = [names.slice(0, names.length >> 1), names.slice(names.length >> 1)];
  const weightMap: Record<string, string> = {};
  let total = 0;
  halves.forEach((half, i) => {
    writeSafetensors(path.join(dir, shards[i]), new Map(half.map((n) => [n, tensors.get(n)!])), { format: 'pt' });
    for (const n of half) {
      weightMap[n] = shards[i];
      total += tensors.get(n)!.data.length * 4;
    }
  });
  fs.writeFileSync(path.join(dir, SHARDED_INDEX_NAME), JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2));
  return { shards, dir };
}

describe('other layouts', () => {
  test('transformer. prefix, mask buffers, lm_head and F16 weights load and match the reference within f16 tolerance', () => {
    const P = 32; // n_positions: the mask buffer is [1, 1, P, P]
    const tril = new Float32Array(P * P).map((_, i) => (i % P <= Math.floor(i / P) ? 1 : 0));
    const tensors = fixtureTensors((name, t) => {
      const out: [string, WritableTensor][] = [[`transformer.${name}`, { ...t, dtype: 'F16' }]];
      const layer = /^h\.(\d+)\.ln_1\.weight$/.exec(name);
      if (layer) {
        out.push([`transformer.h.${layer[1]}.attn.bias`, { dtype: 'F32', shape: [1, 1, P, P], data: tril }]);
        out.push([`transformer.h.${layer[1]}.attn.masked_bias`, { dtype: 'F32', shape: [], data: Float32Array.of(-1e4) }]);
      }
      if (name === 'wte.weight') out.push(['lm_head.weight', { ...t, dtype: 'F16' }]);
      return out;
    });
    expect(tensors.size).toBe(weights.size + 2 * 2 + 1);
    const dir = checkpoint(tensors);
    const model = loadGPT2(dir);

    // every parameter is exactly the f16 rounding of the fixture's value
    for (const [name, p] of model.namedParameters()) {
      const want = Float32Array.from(weights.get(name)!.data, (v) => f16ToF32(f32ToF16(v)));
      expect(Buffer.from(bitsOf(p.data).buffer).equals(Buffer.from(want.buffer))).toBe(true);
    }
    // and the outputs agree with HF's f32 outputs up to the f16 rounding of the weights (2^-11 relative)
    const out = outputs(model);
    out.hidden.forEach((h, i) => {
      const ref = reference.get(`hidden_states.${i}`)!;
      expect(maxAbsDiff(h, ref)).toBeLessThan(5e-3 * Math.max(1, maxAbs(ref)));
    });
    const refLogits = reference.get('logits')!;
    const diff = maxAbsDiff(out.logits, refLogits);
    expect(diff).toBeLessThan(5e-3 * Math.max(1, maxAbs(refLogits)));
    expect(diff).toBeGreaterThan(0); // the f16 weights really were used
  });

  test('the sharded form (index + 2 shards) loads bitwise identically to the single file', () => {
    const { dir } = writeSharded(path.join(tmp, 'sharded'), fixtureTensors());
    expectBitwiseEqual(loadGPT2(FIXTURE), loadGPT2(dir));
  });

  test('a sharded GPT2LMHeadModel checkpoint (prefixed keys) loads too', () => {
    const { dir } = writeSharded(path.join(tmp, 'sharded-prefixed'), fixtureTensors((n, t) => [[`transformer.${n}`, t]]));
    expectBitwiseEqual(loadGPT2(FIXTURE), loadGPT2(dir));
  });

  test('readStateDict gives the canonical names and the trainer-style load matches loadGPT2', () => {
    const dir = checkpoint(fixtureTensors((n, t) => [[`transformer.${n}`, t]]));
    const model = new GPT2(readConfig(path.join(dir, 'config.json')), { generator: new Generator(1) });
    const expected = new Map(model.namedParameters().map(([n, p]) => [n, p.shape] as [string, readonly number[]]));
    const state = readStateDict(openSafetensorsDir(dir), expected, dir);
    expect([...state.keys()].sort()).toEqual([...expected.keys()].sort());
    model.loadStateDict(state);
    expectBitwiseEqual(loadGPT2(FIXTURE), model);
  });
});

describe('bad checkpoints: each is a clear error naming the file and the tensor', () => {
  const file = (dir: string) => path.join(dir, 'model.safetensors');

  test('no config.json', () => {
    const dir = path.join(tmp, 'no-config');
    fs.mkdirSync(dir);
    fs.copyFileSync(path.join(FIXTURE, 'model.safetensors'), file(dir));
    expectLoadError(dir, `GPT-2 checkpoint ${dir}: no config.json`);
  });

  test('config.json that is not JSON', () => {
    const dir = checkpoint(fixtureTensors(), '{"n_embd": 32,');
    expectLoadError(dir, `cannot read GPT-2 config ${path.join(dir, 'config.json')}`);
  });

  test('n_embd not divisible by n_head', () => {
    const dir = checkpoint(fixtureTensors(), { model_type: 'gpt2', n_embd: 30, n_head: 4, n_layer: 2, vocab_size: 101, n_positions: 32 });
    expectLoadError(dir, `${path.join(dir, 'config.json')}: n_embd 30 is not divisible by n_head 4`);
  });

  test('unknown activation', () => {
    const config = { ...JSON.parse(fs.readFileSync(path.join(FIXTURE, 'config.json'), 'utf8')), activation_function: 'swish' };
    const dir = checkpoint(fixtureTensors(), config);
    expectLoadError(dir, `${path.join(dir, 'config.json')}: activation_function 'swish' is not supported`);
  });

  test('other invalid configs: model_type, negative sizes, dropout out of range', () => {
    const base = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'config.json'), 'utf8'));
    expectLoadError(checkpoint(null, { ...base, model_type: 'llama' }), "model_type 'llama' is not gpt2");
    expectLoadError(checkpoint(null, { ...base, n_layer: -1 }), 'n_layer must be a positive integer, got -1');
    expectLoadError(checkpoint(null, { ...base, n_inner: 0 }), 'n_inner must be a positive integer or null');
    expectLoadError(checkpoint(null, { ...base, attn_pdrop: 1.5 }), 'attn_pdrop must be a probability in [0, 1), got 1.5');
    expectLoadError(checkpoint(null, { ...base, layer_norm_epsilon: 0 }), 'layer_norm_epsilon must be a small positive number');
  });

  test('no weights file', () => {
    const dir = checkpoint(null);
    expectLoadError(dir, `safetensors ${dir}: no model.safetensors or model.safetensors.index.json`);
  });

  test('missing tensor', () => {
    const dir = checkpoint(fixtureTensors((n, t) => (n === 'h.1.mlp.c_fc.bias' ? null : [[n, t]])));
    expectLoadError(dir, `GPT-2 checkpoint ${dir}: 1 problem(s)`, `${file(dir)}: missing tensor 'h.1.mlp.c_fc.bias' [128]`);
  });

  test('wrong shape (a Conv1D weight saved in nn.Linear layout)', () => {
    const dir = checkpoint(fixtureTensors((n, t) => [[n, n === 'h.0.attn.c_attn.weight' ? { ...t, shape: [96, 32] } : t]]));
    expectLoadError(dir, `${file(dir)}: tensor 'h.0.attn.c_attn.weight': shape [96,32] in the file, the model expects [32,96]`);
  });

  test('unexpected tensor', () => {
    const dir = checkpoint(fixtureTensors((n, t) => (n === 'ln_f.bias' ? [[n, t], ['h.0.attn.q_proj.weight', t]] : [[n, t]])));
    expectLoadError(dir, `${file(dir)}: tensor 'h.0.attn.q_proj.weight': unexpected (the model has no parameter 'h.0.attn.q_proj.weight')`);
  });

  test('a layer the config does not have is unexpected', () => {
    const dir = checkpoint(fixtureTensors((n, t) => (n === 'h.1.ln_1.weight' ? [[n, t], ['h.2.ln_1.weight', t]] : [[n, t]])));
    expectLoadError(dir, `tensor 'h.2.ln_1.weight': unexpected`);
  });

  test('int dtype', () => {
    const dir = checkpoint(fixtureTensors((n, t) => [[n, n === 'ln_f.bias' ? { dtype: 'I32', shape: t.shape, data: Int32Array.from(t.data) } : t]]));
    expectLoadError(dir, `${file(dir)}: tensor 'ln_f.bias': dtype I32 is not a float type`);
  });

  test('the same parameter with and without the transformer. prefix', () => {
    const dir = checkpoint(fixtureTensors((n, t) => (n === 'wpe.weight' ? [[n, t], [`transformer.${n}`, t]] : [[n, t]])));
    expectLoadError(dir, `parameter 'wpe.weight' is given twice`);
  });

  test('an lm_head that cannot be tied to wte', () => {
    const dir = checkpoint(fixtureTensors((n, t) => (n === 'wte.weight' ? [[n, t], ['lm_head.weight', { ...t, shape: [32, 101] }]] : [[n, t]])));
    expectLoadError(dir, `${file(dir)}: tensor 'lm_head.weight': shape [32,101], but the LM head is tied to wte [101,32]`);
  });

  test('several problems are listed together', () => {
    const dir = checkpoint(fixtureTensors((n, t) => {
      if (n === 'wpe.weight') return null;
      if (n === 'ln_f.weight') return [[n, { ...t, shape: [2, 16] }]];
      return [[n, t]];
    }));
    const msg = expectLoadError(dir, '2 problem(s)', "missing tensor 'wpe.weight' [32,32]", "tensor 'ln_f.weight': shape [2,16]");
    expect(msg.split('\n')).toHaveLength(3);
  });

  test('truncated file', () => {
    const dir = checkpoint(fixtureTensors());
    const bytes = fs.readFileSync(file(dir));
    fs.writeFileSync(file(dir), bytes.subarray(0, bytes.length - 100));
    expectLoadError(dir, `safetensors ${file(dir)}: tensor "`, /run past the end of the \d+-byte data buffer \(file truncated\?\)/);
  });

  test('file cut inside the header', () => {
    const dir = checkpoint(fixtureTensors());
    fs.writeFileSync(file(dir), fs.readFileSync(file(dir)).subarray(0, 200));
    expectLoadError(dir, `safetensors ${file(dir)}: header length`, 'truncated or not a safetensors file');
  });

  test('corrupt header', () => {
    const dir = checkpoint(fixtureTensors());
    const bytes = fs.readFileSync(file(dir));
    bytes[bytes.indexOf(':', 8)] = ','.charCodeAt(0); // {"__metadata__",{...: no longer JSON
    fs.writeFileSync(file(dir), bytes);
    expectLoadError(dir, `safetensors ${file(dir)}: header (bytes 8..`, 'is not valid JSON');
  });

  test('missing shard', () => {
    const { dir, shards } = writeSharded(path.join(tmp, 'missing-shard'), fixtureTensors());
    fs.rmSync(path.join(dir, shards[1]));
    expectLoadError(dir, `safetensors ${path.join(dir, SHARDED_INDEX_NAME)}`, `1 of 2 shard file(s) missing`, shards[1]);
  });

  test('a problem inside a shard names the shard file', () => {
    const tensors = fixtureTensors((n, t) => [[n, n === 'wte.weight' ? { ...t, shape: [100, 32], data: t.data.subarray(0, 3200) } : t]]);
    const { dir } = writeSharded(path.join(tmp, 'bad-shard'), tensors);
    const index = JSON.parse(fs.readFileSync(path.join(dir, SHARDED_INDEX_NAME), 'utf8')) as { weight_map: Record<string, string> };
    expectLoadError(dir, `${path.join(dir, index.weight_map['wte.weight'])}: tensor 'wte.weight': shape [100,32] in the file, the model expects [101,32]`);
  });
});
