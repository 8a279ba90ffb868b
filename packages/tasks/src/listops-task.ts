/**
 * The ListOps task as the reference runs it (`datasets/listops.py` + LRA's input pipeline): LRA's
 * basic_{train,val,test}.tsv, tokenized with brackets dropped, truncated to 512 and padded with 0 at the end
 * to exactly 512; train shuffled through a 1024-element buffer; evaluation on basic_val.tsv.
 */
import * as fs from 'fs';
import * as path from 'path';
import { chunks, EpochBatcher, EpochOrder, range } from './sampler';
import {
  forEachLineBytes,
  formatListOpsRow,
  generateListOps,
  LISTOPS_TSV_HEADER,
  ListOpsGeneratorOptions,
  ListOpsTokenization,
  listOpsVocabSize,
  LRA_GENERATOR,
  tokenizeListOpsBytes,
} from './listops';
import { buildDirAtomic, MissingDataError, resolveCacheDir, resolveDataDir } from './paths';
import { Batch, CommonOptions, EvalSet, Split, Task, TaskInfo } from './types';

export interface ListOpsOptions extends CommonOptions {
  /** 'lra' (reference: brackets dropped, Embedding(15)) or 'brackets' (closing brackets kept). */
  tokenization?: ListOpsTokenization;
  /** Truncate every sequence to this many tokens (reference 512); null = never truncate. */
  maxLength?: number | null;
  /** 'max-length' (reference: every batch padded to maxLength) or 'longest' (to the batch's longest). */
  padTo?: 'max-length' | 'longest';
  /**
   * 'auto': the TSV files in <dataDir>/listops if present, else generate (cached); 'files': only the files;
   * 'generate': always the seeded generator.
   */
  source?: 'auto' | 'files' | 'generate';
  /** Seed of the generator (source 'generate' or 'auto' without files). */
  generatorSeed?: number;
  /** Split sizes when generating (LRA 96000 / 2000 / 2000). */
  sizes?: { train: number; val: number; test: number };
  generator?: Partial<ListOpsGeneratorOptions>;
  /** tf shuffle buffer for the training stream (reference 1024); 0 = a full shuffle every epoch. */
  shuffleBuffer?: number;
}

export const LISTOPS_SPLITS: Split[] = ['train', 'val', 'test'];
export const LRA_SIZES = { train: 96000, val: 2000, test: 2000 };

function splitFileName(split: Split): string {
  return `basic_${split}.tsv`;
}

export interface ListOpsFiles {
  dir: string;
  /** How the files came to be, for the task's notes. */
  description: string;
}

/** Generates the three TSV files into `dir` (atomically), splitting one stream of distinct expressions in order. */
export function writeGeneratedListOps(
  dir: string,
  seed: number,
  sizes: { train: number; val: number; test: number },
  generator: ListOpsGeneratorOptions,
  log?: (m: string) => void,
): { seconds: number; drawn: number } {
  const started = Date.now();
  let drawn = 0;
  buildDirAtomic(dir, (tmp) => {
    const order: Split[] = ['train', 'val', 'test'];
    const fds = order.map((s) => fs.openSync(path.join(tmp, splitFileName(s)), 'w'));
    try {
      fds.forEach((fd) => fs.writeSync(fd, `${LISTOPS_TSV_HEADER}\r\n`));
      const total = sizes.train + sizes.val + sizes.test;
      drawn = generateListOps(total, seed, generator, (e, i) => {
        const which = i < sizes.train ? 0 : i < sizes.train + sizes.val ? 1 : 2;
        fs.writeSync(fds[which], formatListOpsRow(e));
        if (log && (i + 1) % 10000 === 0) log(`listops: generated ${i + 1}/${total}`);
      });
    } finally {
      fds.forEach((fd) => fs.closeSync(fd));
    }
  });
  return { seconds: (Date.now() - started) / 1000, drawn };
}

/** Finds (or generates into the cache) the directory holding basic_{train,val,test}.tsv. */
export function locateListOpsFiles(options: ListOpsOptions = {}): ListOpsFiles {
  const source = options.source ?? 'auto';
  const dataDir = resolveDataDir(options.dataDir);
  const filesDir = path.join(dataDir, 'listops');
  const wanted = LISTOPS_SPLITS.map((s) => path.join(filesDir, splitFileName(s)));
  if (source !== 'generate') {
    if (wanted.every((f) => fs.existsSync(f))) return { dir: filesDir, description: `TSV files in ${filesDir}` };
    if (source === 'files') {
      throw new MissingDataError('listops', wanted.filter((f) => !fs.existsSync(f)), dataDir,
        'LRA release: npx fpt data fetch lra-listops; or generate locally: npx fpt data fetch listops');
    }
  }
  const seed = options.generatorSeed ?? 0;
  const sizes = options.sizes ?? LRA_SIZES;
  const gen = { ...LRA_GENERATOR, ...options.generator };
  const name =
    `listops-seed${seed}-${sizes.train}-${sizes.val}-${sizes.test}` +
    `-d${gen.maxDepth}-a${gen.maxArgs}-len${gen.minLength}-${gen.maxLength}`;
  const dir = path.join(resolveCacheDir(options.cacheDir), name);
  if (!LISTOPS_SPLITS.every((s) => fs.existsSync(path.join(dir, splitFileName(s))))) {
    options.log?.(`listops: generating ${sizes.train}/${sizes.val}/${sizes.test} expressions (seed ${seed}) into ${dir}`);
    const { seconds, drawn } = writeGeneratedListOps(dir, seed, sizes, gen, options.log);
    options.log?.(`listops: generated in ${seconds.toFixed(1)} s (${drawn} trees drawn)`);
  }
  return { dir, description: `generated with seed ${seed} (LRA generator, ${sizes.train}/${sizes.val}/${sizes.test}), cached in ${dir}` };
}

/** One split, tokenized: ids of example i are tokens[offsets[i] .. offsets[i+1]) (already truncated). */
export interface ListOpsSplitData {
  tokens: Uint8Array;
  offsets: Int32Array;
  labels: Int32Array;
  /** Token counts before truncation. */
  fullLengths: Int32Array;
}

export function loadListOpsSplit(file: string, tokenization: ListOpsTokenization, maxLength: number | null): ListOpsSplitData {
  const chunks: Uint8Array[] = [];
  const offsets: number[] = [0];
  const labels: number[] = [];
  const fullLengths: number[] = [];
  let total = 0;
  let lineNo = 0;
  forEachLineBytes(file, (line, n) => {
    lineNo = n;
    if (n === 1) {
      if (line.toString('utf8').replace(/"/g, '') !== LISTOPS_TSV_HEADER) throw new Error(`${file}:1: expected the header "Source<TAB>Target"`);
      return;
    }
    if (line.length === 0) return;
    const tab = line.indexOf(0x09);
    const target = tab === -1 ? NaN : Number(line.toString('latin1', tab + 1).replace(/"/g, '').trim());
    if (tab === -1 || line.indexOf(0x09, tab + 1) !== -1 || !Number.isInteger(target) || target < 0 || target > 9) {
      throw new Error(`${file}:${n}: expected "expression<TAB>digit"`);
    }
    const ids = tokenizeListOpsBytes(line.subarray(0, tab), tokenization);
    const kept = maxLength === null ? ids : ids.subarray(0, maxLength);
    chunks.push(new Uint8Array(kept));
    total += kept.length;
    offsets.push(total);
    labels.push(target);
    fullLengths.push(ids.length);
  });
  if (labels.length === 0) throw new Error(`${file}: no examples (${lineNo} lines)`);
  const tokens = new Uint8Array(total);
  chunks.forEach((c, i) => tokens.set(c, offsets[i]));
  return { tokens, offsets: Int32Array.from(offsets), labels: Int32Array.from(labels), fullLengths: Int32Array.from(fullLengths) };
}

export function createListOpsTask(options: ListOpsOptions = {}): Task {
  const tokenization = options.tokenization ?? 'lra';
  const maxLength = options.maxLength === undefined ? 512 : options.maxLength;
  const padTo = options.padTo ?? 'max-length';
  const shuffleBuffer = options.shuffleBuffer ?? 1024;
  if (maxLength !== null && !(Number.isInteger(maxLength) && maxLength > 0)) {
    throw new Error(`listops: maxLength must be a positive integer or null, got ${maxLength}`);
  }
  const files = locateListOpsFiles(options);
  const data = {} as Record<Split, ListOpsSplitData>;
  for (const split of LISTOPS_SPLITS) {
    data[split] = loadListOpsSplit(path.join(files.dir, splitFileName(split)), tokenization, maxLength);
  }
  let longest = 0;
  for (const split of LISTOPS_SPLITS) {
    const d = data[split];
    for (let i = 0; i < d.labels.length; i++) longest = Math.max(longest, d.offsets[i + 1] - d.offsets[i]);
  }
  const tokens = padTo === 'max-length' && maxLength !== null ? maxLength : longest;

  const info: TaskInfo = {
    name: 'listops',
    inputKind: 'tokens',
    tokens,
    variableLength: padTo === 'longest',
    tokenDim: listOpsVocabSize(tokenization),
    numClasses: 10,
    outputTokens: 1,
    outputDim: 10,
    labelsPerExample: 1,
    splits: LISTOPS_SPLITS,
    evalSplit: 'val',
    evalBatchScale: 1,
    notes: [
      tokenization === 'lra'
        ? 'tokenization lra (reference: brackets dropped, 14 symbols + pad 0)'
        : 'tokenization brackets (closing brackets kept, 15 symbols + pad 0; Rothermel et al. fix)',
      maxLength === null ? 'no truncation' : `truncated to ${maxLength} tokens (reference 512; LRA 2000)`,
      padTo === 'max-length' ? `padded with 0 at the end to ${tokens} (reference)` : 'padded with 0 at the end to the batch longest',
      shuffleBuffer > 0 ? `train shuffled with a ${shuffleBuffer}-element buffer (tf.data, reference)` : 'train fully shuffled each epoch',
      'eval on val (reference)',
      `data: ${files.description}`,
    ].join('; '),
  };

  const orders: Record<Split, EpochOrder> = {
    train: shuffleBuffer > 0 ? { kind: 'buffer-shuffle', bufferSize: shuffleBuffer, dropLast: false } : { kind: 'shuffle', dropLast: false },
    val: { kind: 'sequential', dropLast: false },
    test: { kind: 'sequential', dropLast: false },
  };
  const batchers = {} as Record<Split, EpochBatcher>;
  for (const split of LISTOPS_SPLITS) batchers[split] = new EpochBatcher(data[split].labels.length, orders[split], `listops/${split}`);

  const assemble = (split: Split, ids: Int32Array): Batch => {
    const d = data[split];
    const B = ids.length;
    let T = tokens;
    if (padTo === 'longest') {
      T = 0;
      for (const i of ids) T = Math.max(T, d.offsets[i + 1] - d.offsets[i]);
    }
    const x = new Int32Array(B * T); // zeros = padding
    const y = new Int32Array(B);
    const lengths = new Int32Array(B);
    ids.forEach((i, b) => {
      const row = d.tokens.subarray(d.offsets[i], d.offsets[i + 1]);
      x.set(row, b * T);
      y[b] = d.labels[i];
      lengths[b] = row.length;
    });
    return { x, xShape: [B, T], y, yShape: [B], lengths };
  };
  const check = (split: Split): void => {
    if (!LISTOPS_SPLITS.includes(split)) throw new Error(`listops: no '${split}' split`);
  };

  return {
    info,
    size: (split) => data[split].labels.length,
    batch(split, index, batchSize, seed) {
      check(split);
      return assemble(split, batchers[split].indices(index, batchSize, seed));
    },
    evalSet(split, batchSize): EvalSet {
      check(split);
      const n = data[split].labels.length;
      return {
        split,
        total: n,
        excluded: 0,
        *batches() {
          for (const ids of chunks(range(n), batchSize)) yield assemble(split, ids);
        },
      };
    },
  };
}
