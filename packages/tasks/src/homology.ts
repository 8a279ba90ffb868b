/**
 * Remote homology (fold classification, 1195 folds), as the reference runs it through TAPE
 * (`datasets/remote_homology.py`, tape `tokenizers.py`, `utils/_sampler.py`):
 *  - TAPE's IUPAC vocabulary (30 ids), <cls> before and <sep> after each sequence, batches padded with 0
 *    at the end to their longest sequence;
 *  - batches from RandomSampler + BucketBatchSampler (buckets of 100 batches sorted by length);
 *  - the reference discards every batch whose padded length exceeds 1024 and draws the next one, in
 *    training and in its K-batch evaluation; the paper then multiplied accuracies by 0.9739 (the fraction of
 *    sequences that fit), i.e. counted the dropped sequences as wrong.
 * Data: remote_homology.{train,valid,test}.csv (seq,label); test = TAPE's test_fold_holdout.
 */
import * as fs from 'fs';
import * as path from 'path';
import { createRng, permutation, shuffleInPlace } from './rng';
import { chunks, VariableEpochStream } from './sampler';
import { findFile, resolveDataDir } from './paths';
import { Batch, CommonOptions, EvalSet, Split, Task, TaskInfo } from './types';

/** TAPE's IUPAC_VOCAB: 5 special tokens, then the 25 IUPAC letters (no J). */
export const TAPE_IUPAC_VOCAB: readonly string[] = [
  '<pad>', '<mask>', '<cls>', '<sep>', '<unk>',
  'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'K', 'L', 'M', 'N', 'O', 'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z',
];
export const TAPE_PAD = 0;
export const TAPE_CLS = 2;
export const TAPE_SEP = 3;
const LETTER_IDS = new Map(TAPE_IUPAC_VOCAB.map((t, i) => [t, i]));

export const HOMOLOGY_NUM_FOLDS = 1195;
/** The reference's output layer has 1200 units (only 1195 labels occur). */
export const HOMOLOGY_HEAD_DIM = 1200;

/** TAPETokenizer('iupac').encode: [<cls>, residues..., <sep>]. Unknown letters are an error, as in TAPE. */
export function encodeProtein(seq: string): Int32Array {
  const out = new Int32Array(seq.length + 2);
  out[0] = TAPE_CLS;
  for (let i = 0; i < seq.length; i++) {
    const id = LETTER_IDS.get(seq[i]);
    if (id === undefined || id < 5) throw new Error(`protein sequence: unknown residue "${seq[i]}" at position ${i}`);
    out[i + 1] = id;
  }
  out[seq.length + 1] = TAPE_SEP;
  return out;
}

export interface HomologyExample {
  seq: string;
  label: number;
}

/** Parses a `seq,label` CSV (the ProteinBERT benchmark copy of TAPE's data). */
export function parseHomologyCsv(text: string, name: string): HomologyExample[] {
  const lines = text.split(/\r?\n/);
  if (lines[0].trim() !== 'seq,label') throw new Error(`${name}:1: expected the header "seq,label", got "${lines[0].slice(0, 40)}"`);
  const out: HomologyExample[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '') continue;
    const comma = line.lastIndexOf(',');
    const seq = line.slice(0, comma).replace(/"/g, '');
    const label = Number(line.slice(comma + 1));
    if (comma < 1 || !/^[A-Z]+$/.test(seq)) throw new Error(`${name}:${i + 1}: expected "SEQUENCE,label", got "${line.slice(0, 40)}"`);
    if (!Number.isInteger(label) || label < 0 || label >= HOMOLOGY_NUM_FOLDS) {
      throw new Error(`${name}:${i + 1}: label "${line.slice(comma + 1)}" is not a fold id in 0..${HOMOLOGY_NUM_FOLDS - 1}`);
    }
    out.push({ seq, label });
  }
  return out;
}

export function formatHomologyCsv(examples: HomologyExample[]): string {
  return `seq,label\n${examples.map((e) => `${e.seq},${e.label}`).join('\n')}\n`;
}

const CSV_SPLIT_NAMES: Record<Split, string> = { train: 'train', val: 'valid', test: 'test' };

export function homologyCsvPath(dataDir: string, split: Split): string {
  return path.join(dataDir, 'remote_homology', `remote_homology.${CSV_SPLIT_NAMES[split]}.csv`);
}

export function readHomologySplit(dataDir: string, split: Split): HomologyExample[] {
  const file = findFile('remote-homology', dataDir, [homologyCsvPath(dataDir, split)]);
  return parseHomologyCsv(fs.readFileSync(file, 'utf8'), file);
}

export interface HomologyOptions extends CommonOptions {
  /** Longest padded batch fed to the model, counting <cls> and <sep> (reference 1024 = GPT-2's positions). */
  maxLength?: number;
  /** Training and K-batch evaluation streams: 'discard-batch' (reference: skip and draw the next) or 'truncate'. */
  longTrain?: 'discard-batch' | 'truncate';
  /**
   * Full-split evaluation: 'count-wrong' (leave the over-long sequences out and count them as errors, like the
   * paper's x0.9739) or 'truncate' (<cls> + the first maxLength-2 residues + <sep>).
   */
  longEval?: 'count-wrong' | 'truncate';
  /** Buckets hold this many batches (TAPE's bucket_size_multiplier, 100). */
  bucketMultiplier?: number;
}

interface EncodedSplit {
  tokens: Uint8Array;
  offsets: Int32Array;
  labels: Int32Array;
}

function encodeSplit(examples: HomologyExample[]): EncodedSplit {
  const offsets = new Int32Array(examples.length + 1);
  examples.forEach((e, i) => (offsets[i + 1] = offsets[i] + e.seq.length + 2));
  const tokens = new Uint8Array(offsets[examples.length]);
  examples.forEach((e, i) => tokens.set(encodeProtein(e.seq), offsets[i]));
  return { tokens, offsets, labels: Int32Array.from(examples.map((e) => e.label)) };
}

/**
 * One epoch of TAPE's BucketBatchSampler over RandomSampler: a random permutation cut into buckets of
 * `batchSize * multiplier`; each bucket sorted by length (stably) and cut into batches (the last one may be
 * short), whose order is then shuffled.
 */
export function bucketBatches(lengths: Int32Array, batchSize: number, multiplier: number, rngKey: string): Int32Array[] {
  const rng = createRng(rngKey);
  const order = permutation(lengths.length, rng);
  const bucketSize = Math.min(batchSize * multiplier, lengths.length);
  const out: Int32Array[] = [];
  for (let start = 0; start < order.length; start += bucketSize) {
    const bucket = Array.from(order.subarray(start, start + bucketSize));
    bucket.sort((a, b) => lengths[a] - lengths[b]); // Array.prototype.sort is stable
    const batches = [...chunks(Int32Array.from(bucket), batchSize)];
    shuffleInPlace(batches, rng);
    out.push(...batches);
  }
  return out;
}

export function createHomologyTask(options: HomologyOptions = {}): Task {
  const maxLength = options.maxLength ?? 1024;
  const longTrain = options.longTrain ?? 'discard-batch';
  const longEval = options.longEval ?? 'count-wrong';
  const multiplier = options.bucketMultiplier ?? 100;
  const dataDir = resolveDataDir(options.dataDir);
  const splits: Split[] = ['train', 'val', 'test'];
  const data = {} as Record<Split, EncodedSplit>;
  const lengths = {} as Record<Split, Int32Array>;
  for (const s of splits) {
    data[s] = encodeSplit(readHomologySplit(dataDir, s));
    lengths[s] = Int32Array.from({ length: data[s].labels.length }, (_, i) => data[s].offsets[i + 1] - data[s].offsets[i]);
  }

  const info: TaskInfo = {
    name: 'remote-homology',
    inputKind: 'tokens',
    tokens: maxLength,
    variableLength: true,
    tokenDim: TAPE_IUPAC_VOCAB.length,
    numClasses: HOMOLOGY_NUM_FOLDS,
    outputTokens: 1,
    outputDim: HOMOLOGY_HEAD_DIM,
    labelsPerExample: 1,
    splits,
    evalSplit: 'val',
    evalBatchScale: 4,
    notes: [
      'TAPE IUPAC ids (30) with <cls>/<sep>, padded with 0 at the end to the batch longest; length-bucketed batches (TAPE)',
      longTrain === 'discard-batch'
        ? `train/K-batch eval: batches longer than ${maxLength} discarded and redrawn (reference)`
        : `train/K-batch eval: sequences truncated to ${maxLength}`,
      longEval === 'count-wrong'
        ? `full eval: sequences longer than ${maxLength} left out and counted as wrong (the paper's x0.9739)`
        : `full eval: sequences truncated to ${maxLength}`,
      `head ${HOMOLOGY_HEAD_DIM} (reference) for ${HOMOLOGY_NUM_FOLDS} folds; eval on TAPE valid (reference); test = fold holdout`,
    ].join('; '),
  };

  /** Pads (and if needed truncates, keeping <sep> last) the examples `ids` into a batch. */
  const assemble = (split: Split, ids: Int32Array): Batch => {
    const d = data[split];
    const B = ids.length;
    let T = 0;
    for (const i of ids) T = Math.max(T, Math.min(lengths[split][i], maxLength));
    const x = new Int32Array(B * T);
    const y = new Int32Array(B);
    const lens = new Int32Array(B);
    ids.forEach((i, b) => {
      const row = d.tokens.subarray(d.offsets[i], d.offsets[i + 1]);
      if (row.length <= maxLength) {
        x.set(row, b * T);
        lens[b] = row.length;
      } else {
        x.set(row.subarray(0, maxLength - 1), b * T);
        x[b * T + maxLength - 1] = TAPE_SEP;
        lens[b] = maxLength;
      }
      y[b] = d.labels[i];
    });
    return { x, xShape: [B, T], y, yShape: [B], lengths: lens };
  };

  const longest = (split: Split, batch: Int32Array): number => batch.reduce((m, i) => Math.max(m, lengths[split][i]), 0);
  const streams = {} as Record<Split, Map<number, VariableEpochStream>>;
  for (const s of splits) streams[s] = new Map();
  const stream = (split: Split, batchSize: number): VariableEpochStream => {
    let st = streams[split].get(batchSize);
    if (!st) {
      st = new VariableEpochStream(`remote-homology/${split}`, (epoch, seed) => {
        const all = bucketBatches(lengths[split], batchSize, multiplier, `remote-homology/${split}/seed=${seed}/size=${batchSize}/epoch=${epoch}`);
        return longTrain === 'discard-batch' ? all.filter((b) => longest(split, b) <= maxLength) : all;
      });
      streams[split].set(batchSize, st);
    }
    return st;
  };
  const check = (split: Split): void => {
    if (!splits.includes(split)) throw new Error(`remote-homology: no '${split}' split`);
  };

  return {
    info,
    size: (split) => data[split].labels.length,
    batch(split, index, batchSize, seed) {
      check(split);
      if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batch size must be a positive integer, got ${batchSize}`);
      return assemble(split, stream(split, batchSize).indices(index, seed));
    },
    evalSet(split, batchSize): EvalSet {
      check(split);
      // Sorted by length, as TAPE's bucket sampler orders a split that fits in one bucket: little padding.
      const order = Array.from({ length: data[split].labels.length }, (_, i) => i).sort((a, b) => lengths[split][a] - lengths[split][b]);
      const kept = longEval === 'count-wrong' ? order.filter((i) => lengths[split][i] <= maxLength) : order;
      return {
        split,
        total: order.length,
        excluded: order.length - kept.length,
        *batches() {
          for (const ids of chunks(Int32Array.from(kept), batchSize)) yield assemble(split, ids);
        },
      };
    },
  };
}
