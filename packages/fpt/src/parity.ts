/**
 * `fpt parity`: recompute everything in a reference file of the ../shared/fixtures format and compare
 * tensor by tensor, like llm.c's test_gpt2 (semantics: ../shared/fixtures/README.md).
 *
 * - hidden_states.{0..n_layer}, last_hidden_state, logits: GPT2 forward of `input_ids`;
 * - greedy_ids: row 0 of input_ids followed by greedy tokens (exact match);
 * - fpt.logits, fpt.loss, grad.*: one FPT step (input Linear from fpt.in_layer.*, output Linear from
 *   fpt.out_layer.* on the last position, attention/MLP/wte frozen);
 * - adam3.*: three Adam steps (lr 1e-3, clip 1.0) from there.
 * A float tensor passes when max |ours − ref| ≤ 1e-4·max(1, |ref|).
 */
import { Tensor, withBackend } from '@fpt-ts/tensor';
import { Adam, clipGradNorm, noGrad } from '@fpt-ts/autograd';
import { GPT2, loadGPT2, generate, readSafetensors, type RawTensor } from '@fpt-ts/gpt2';
import { FPT } from './model';

export interface ParityRow {
  name: string;
  maxDiff: number;
  ok: boolean;
  note?: string;
}

export const PARITY_TOLERANCE = 1e-4;

/** max |a − b| and whether every element is within tol·max(1, |b|). */
export function compare(name: string, ours: Tensor, ref: RawTensor): ParityRow {
  const a = ours.contiguous().data, b = ref.data;
  // shapes must agree up to axes of size 1 (ours [B, 1, classes] vs the reference's [B, classes])
  const squeezed = (s: readonly number[]) => s.filter((d) => d !== 1).join(',');
  if (a.length !== b.length || squeezed(ours.shape) !== squeezed(ref.shape)) {
    return { name, maxDiff: Infinity, ok: false, note: `shape [${ours.shape.join(', ')}] vs reference [${ref.shape.join(', ')}]` };
  }
  let maxDiff = 0, ok = true;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= PARITY_TOLERANCE * Math.max(1, Math.abs(b[i])))) ok = false;
    if (d > maxDiff || d !== d) maxDiff = d;
  }
  return { name, maxDiff, ok };
}

function need(ref: Map<string, RawTensor>, name: string, file: string): RawTensor {
  const t = ref.get(name);
  if (t === undefined) throw new Error(`parity: reference ${file} has no tensor '${name}'`);
  return t;
}

const tensorOf = (r: RawTensor) => new Tensor(r.data, r.shape);

export function runParity(modelDir: string, referenceFile: string, options: { backend?: string } = {}): ParityRow[] {
  const run = () => parityRows(modelDir, referenceFile);
  return options.backend ? withBackend(options.backend, run) : run();
}

function parityRows(modelDir: string, referenceFile: string): ParityRow[] {
  const ref = readSafetensors(referenceFile);
  const rows: ParityRow[] = [];
  const model = loadGPT2(modelDir);
  model.eval();

  // GPT-2 forward
  if (ref.has('input_ids')) {
    const ids = tensorOf(need(ref, 'input_ids', referenceFile));
    const out = noGrad(() => model.forward({ inputIds: ids, outputHiddenStates: true }));
    out.hiddenStates!.forEach((h, i) => {
      if (ref.has(`hidden_states.${i}`)) rows.push(compare(`hidden_states.${i}`, h.data, ref.get(`hidden_states.${i}`)!));
    });
    if (ref.has('last_hidden_state')) rows.push(compare('last_hidden_state', out.lastHiddenState.data, ref.get('last_hidden_state')!));
    if (ref.has('logits')) rows.push(compare('logits', noGrad(() => model.logits(out.lastHiddenState)).data, ref.get('logits')!));
    if (ref.has('greedy_ids')) rows.push(greedyRow(model, ids, ref.get('greedy_ids')!));
  }

  // FPT step and Adam steps
  if (has(ref, 'fpt.')) rows.push(...fptRows(model, ref, referenceFile));

  // every reference tensor is either an input or recomputed: one we do not know how to produce is a failure
  const produced = new Set(rows.map((r) => r.name));
  for (const key of ref.keys()) {
    if (!INPUTS.includes(key) && !produced.has(key)) rows.push({ name: key, maxDiff: Infinity, ok: false, note: 'not recomputed: unknown tensor for this model' });
  }
  if (rows.length === 0) throw new Error(`parity: reference ${referenceFile} holds nothing to compare (no input_ids, no fpt.* tensors)`);
  return rows;
}

/** Reference tensors that are inputs of the computation, not results. */
const INPUTS = ['input_ids', 'fpt.x', 'fpt.y', 'fpt.in_layer.weight', 'fpt.in_layer.bias', 'fpt.out_layer.weight', 'fpt.out_layer.bias'];

function greedyRow(model: GPT2, ids: Tensor, expected: RawTensor): ParityRow {
  const T = ids.shape[1];
  const prompt = [...(ids.select(0, 0).contiguous().data as Int32Array)];
  const newTokens = expected.data.length - T;
  const got = [...prompt, ...generate(model, prompt, { maxNewTokens: newTokens, useCache: true })];
  const mismatches = got.filter((t, i) => t !== expected.data[i]).length;
  return { name: 'greedy_ids', maxDiff: mismatches, ok: mismatches === 0, note: mismatches ? `${mismatches} token(s) differ: ${got.join(' ')}` : undefined };
}

function fptRows(model: GPT2, ref: Map<string, RawTensor>, file: string): ParityRow[] {
  const rows: ParityRow[] = [];
  const x = tensorOf(need(ref, 'fpt.x', file));
  const y = tensorOf(need(ref, 'fpt.y', file));
  const inW = need(ref, 'fpt.in_layer.weight', file), outW = need(ref, 'fpt.out_layer.weight', file);
  const fpt = new FPT(model, {
    inputKind: 'continuous', inputDim: inW.shape[1], outputDim: outW.shape[0], outputTokens: 1, inDropout: 0,
  });
  fpt.eval(); // dropout off: a reference made with dropout on could not be reproduced anyway (the fixture's are 0)
  fpt.loadStateDict(
    new Map([
      ['in_layer.weight', tensorOf(inW)], ['in_layer.bias', tensorOf(need(ref, 'fpt.in_layer.bias', file))],
      ['out_layer.weight', tensorOf(outW)], ['out_layer.bias', tensorOf(need(ref, 'fpt.out_layer.bias', file))],
    ]),
    { strict: false },
  );

  const logits = fpt.forward(x); // (B, 1, classes)
  const loss = fpt.loss(logits, y);
  if (ref.has('fpt.logits')) rows.push(compare('fpt.logits', logits.data, ref.get('fpt.logits')!));
  if (ref.has('fpt.loss')) rows.push(compare('fpt.loss', loss.data.reshape(1), ref.get('fpt.loss')!));
  loss.backward();

  const params = new Map(fpt.namedParameters().map(([n, p]) => [n.replace(/^transformer\./, ''), p]));
  for (const key of ref.keys()) {
    if (!key.startsWith('grad.')) continue;
    const p = params.get(key.slice('grad.'.length));
    if (p === undefined) { rows.push({ name: key, maxDiff: Infinity, ok: false, note: 'no such parameter' }); continue; }
    if (p.grad === null) { rows.push({ name: key, maxDiff: Infinity, ok: false, note: 'no gradient computed (frozen?)' }); continue; }
    rows.push(compare(key, p.grad, ref.get(key)!));
  }
  // frozen parameters must have no gradient at all
  const frozenWithGrad = [...params].filter(([, p]) => !p.requiresGrad && p.grad !== null).map(([n]) => n);
  rows.push({ name: 'frozen params without grad', maxDiff: frozenWithGrad.length, ok: frozenWithGrad.length === 0, note: frozenWithGrad.join(' ') || undefined });

  if (has(ref, 'adam3.')) {
    const trajectory: number[] = [loss.item()];
    const opt = new Adam(fpt.trainableParameters(), 1e-3);
    for (let s = 0; s < 3; s++) {
      if (s > 0) {
        opt.zeroGrad();
        const l = fpt.loss(fpt.forward(x), y);
        trajectory.push(l.item());
        l.backward();
      }
      clipGradNorm(opt.params, 1.0);
      opt.step();
    }
    trajectory.push(noGrad(() => fpt.loss(fpt.forward(x), y)).item());
    if (ref.has('adam3.loss_trajectory')) rows.push(compare('adam3.loss_trajectory', new Tensor(Float32Array.from(trajectory), [trajectory.length]), ref.get('adam3.loss_trajectory')!));
    for (const key of ref.keys()) {
      if (!key.startsWith('adam3.') || key === 'adam3.loss_trajectory') continue;
      const p = params.get(key.slice('adam3.'.length));
      rows.push(p ? compare(key, p.data, ref.get(key)!) : { name: key, maxDiff: Infinity, ok: false, note: 'no such parameter' });
    }
  }
  return rows;
}

function has(ref: Map<string, RawTensor>, prefix: string): boolean {
  return [...ref.keys()].some((k) => k.startsWith(prefix));
}

/** One line per tensor, llm.c style. */
export function formatParity(rows: ParityRow[]): string {
  const w = Math.max(...rows.map((r) => r.name.length));
  return rows.map((r) => `${r.ok ? 'OK ' : 'BAD'}  ${r.name.padEnd(w)}  maxdiff ${r.maxDiff.toExponential(2)}${r.note ? `  (${r.note})` : ''}`).join('\n');
}
