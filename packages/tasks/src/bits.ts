/**
 * Bit Memory and Bit XOR: generated tasks (reference `datasets/bit_memory.py`, `datasets/bit_xor.py`).
 *
 * Bit Memory: 5 random strings of 1000 bits in {-1, +1}, plus a query = one of them (chosen uniformly) with
 * each bit zeroed with probability 1/2. x = the 6 strings (B, 6, 1000) read as 120 tokens of 50; y = the full
 * original query string; label id = 0 if the bit is -1, else 1. The head reads the last 20 tokens, each giving
 * 100 logits = 50 bits x 2 classes, so bit 50*t + j is read from position t, logits 2j..2j+1.
 *
 * Bit XOR: two random 5-bit strings in {0, 1} (B, 2, 5), one bit per token (10 tokens of 1); y = their
 * element-wise XOR, read from the last 5 tokens (2 logits each).
 */
import { createRng, randInt, Rng } from './rng';
import { Batch, CommonOptions, EvalSet, Split, Task, TaskInfo } from './types';

/** dataDir / cacheDir / log are accepted (so one set of options fits every task) and unused. */
export interface BitMemoryOptions extends CommonOptions {
  /** Bits per string (reference 1000). */
  n?: number;
  /** Strings to remember (reference 5). */
  numPatterns?: number;
  /** Bits per token (reference 50 -> 120 tokens of dim 50). */
  patchSize?: number;
  /** Examples in the fixed evaluation set of each split (default 1000). */
  evalSize?: number;
}

export interface BitXorOptions extends CommonOptions {
  /** Bits per string (reference 5). */
  n?: number;
  /** Strings XOR-ed together (reference 2). */
  numPatterns?: number;
  /** Bits per token (must be 1 for the paper's 10 tokens of dim 1). */
  patchSize?: number;
  /** Examples in the evaluation set when it is not exhaustive (default 1000). */
  evalSize?: number;
}

const BIT_SPLITS: Split[] = ['train', 'val', 'test'];

function checkDivides(task: string, n: number, patchSize: number): void {
  if (!Number.isInteger(n) || !Number.isInteger(patchSize) || n < 1 || patchSize < 1 || n % patchSize !== 0) {
    throw new Error(`${task}: patchSize (${patchSize}) must divide n (${n})`);
  }
}

function checkSplit(info: TaskInfo, split: Split): void {
  if (!info.splits.includes(split)) throw new Error(`${info.name}: no '${split}' split (splits: ${info.splits.join(', ')})`);
}

/**
 * Writes one Bit Memory example into x (numPatterns+1 rows of n values) and y (n label ids).
 * Same draws as the reference, per example: the bits, the query index, then the mask.
 */
export function bitMemoryExample(rng: Rng, n: number, numPatterns: number, x: Float32Array, y: Int32Array): void {
  for (let i = 0; i < numPatterns * n; i++) x[i] = 2 * randInt(rng, 0, 1) - 1;
  const q = randInt(rng, 0, numPatterns - 1);
  const query = numPatterns * n;
  for (let i = 0; i < n; i++) {
    const bit = x[q * n + i];
    const mask = randInt(rng, 0, 1);
    x[query + i] = mask * bit;
    y[i] = bit < 0 ? 0 : 1;
  }
}

export function createBitMemoryTask(options: BitMemoryOptions = {}): Task {
  const n = options.n ?? 1000;
  const numPatterns = options.numPatterns ?? 5;
  const patchSize = options.patchSize ?? 50;
  const evalSize = options.evalSize ?? 1000;
  checkDivides('bit-memory', n, patchSize);
  const tokens = ((numPatterns + 1) * n) / patchSize;
  const info: TaskInfo = {
    name: 'bit-memory',
    inputKind: 'continuous',
    tokens,
    variableLength: false,
    tokenDim: patchSize,
    numClasses: 2,
    outputTokens: n / patchSize,
    outputDim: 2 * patchSize,
    labelsPerExample: n,
    splits: BIT_SPLITS,
    evalSplit: 'test',
    evalBatchScale: 1,
    notes:
      `${numPatterns} strings of ${n} bits in {-1,+1} + a query with bits zeroed w.p. 0.5 -> ${tokens} tokens x ${patchSize}; ` +
      `predict all ${n} query bits (label 0 = -1, 1 = +1) from the last ${n / patchSize} tokens; fresh samples every batch; ` +
      `evalSet = a fixed set of ${evalSize} examples per split`,
  };

  const make = (rngFor: (b: number) => Rng, batchSize: number): Batch => {
    const per = (numPatterns + 1) * n;
    const x = new Float32Array(batchSize * per);
    const y = new Int32Array(batchSize * n);
    for (let b = 0; b < batchSize; b++) {
      bitMemoryExample(rngFor(b), n, numPatterns, x.subarray(b * per, (b + 1) * per), y.subarray(b * n, (b + 1) * n));
    }
    return { x, xShape: [batchSize, tokens, patchSize], y, yShape: [batchSize, n] };
  };

  return {
    info,
    size: () => evalSize,
    batch(split, index, batchSize, seed) {
      checkSplit(info, split);
      return make((b) => createRng('bit-memory', split, `seed=${seed}`, `batch=${index}`, `size=${batchSize}`, b), batchSize);
    },
    evalSet(split, batchSize) {
      checkSplit(info, split);
      return fixedEvalSet(split, evalSize, batchSize, (start, count) =>
        make((b) => createRng('bit-memory', split, 'eval-set', start + b), count),
      );
    },
  };
}

/** Sets y to the element-wise XOR of the numPatterns strings of n bits in x. */
function xorLabels(x: Float32Array, n: number, numPatterns: number, y: Int32Array): void {
  for (let i = 0; i < n; i++) {
    let v = 0;
    for (let p = 0; p < numPatterns; p++) v ^= x[p * n + i];
    y[i] = v;
  }
}

export function createBitXorTask(options: BitXorOptions = {}): Task {
  const n = options.n ?? 5;
  const numPatterns = options.numPatterns ?? 2;
  const patchSize = options.patchSize ?? 1;
  checkDivides('bit-xor', n, patchSize);
  const inputBits = numPatterns * n;
  // With few input bits the evaluation set is every possible input (1024 for the reference's 2 x 5 bits).
  const exhaustive = inputBits <= 16;
  const evalSize = exhaustive ? 2 ** inputBits : (options.evalSize ?? 1000);
  const tokens = inputBits / patchSize;
  const info: TaskInfo = {
    name: 'bit-xor',
    inputKind: 'continuous',
    tokens,
    variableLength: false,
    tokenDim: patchSize,
    numClasses: 2,
    outputTokens: n / patchSize,
    outputDim: 2 * patchSize,
    labelsPerExample: n,
    splits: BIT_SPLITS,
    evalSplit: 'test',
    evalBatchScale: 1,
    notes:
      `${numPatterns} strings of ${n} bits in {0,1} -> ${tokens} tokens x ${patchSize}; predict the ${n} XOR bits from the last ` +
      `${n / patchSize} tokens; fresh samples every batch; evalSet = ` +
      (exhaustive ? `all ${evalSize} possible inputs` : `a fixed set of ${evalSize} examples per split`),
  };

  /** `fill(b, row)` writes the input bits of example b. */
  const make = (fill: (b: number, row: Float32Array) => void, batchSize: number): Batch => {
    const x = new Float32Array(batchSize * inputBits);
    const y = new Int32Array(batchSize * n);
    for (let b = 0; b < batchSize; b++) {
      const row = x.subarray(b * inputBits, (b + 1) * inputBits);
      fill(b, row);
      xorLabels(row, n, numPatterns, y.subarray(b * n, (b + 1) * n));
    }
    return { x, xShape: [batchSize, tokens, patchSize], y, yShape: [batchSize, n] };
  };
  // One uniform draw per bit, as numpy's randint(0, 2, (B, numPatterns, n)).
  const randomBits = (rng: Rng, row: Float32Array): void => {
    for (let i = 0; i < inputBits; i++) row[i] = randInt(rng, 0, 1);
  };
  // Input number `code` of the exhaustive set: bit i of the code is input bit i.
  const codeBits = (code: number, row: Float32Array): void => {
    for (let i = 0; i < inputBits; i++) row[i] = (code >> i) & 1;
  };

  return {
    info,
    size: () => evalSize,
    batch(split, index, batchSize, seed) {
      checkSplit(info, split);
      return make((b, row) => randomBits(createRng('bit-xor', split, `seed=${seed}`, `batch=${index}`, `size=${batchSize}`, b), row), batchSize);
    },
    evalSet(split, batchSize) {
      checkSplit(info, split);
      return fixedEvalSet(split, evalSize, batchSize, (start, count) =>
        make((b, row) => (exhaustive ? codeBits(start + b, row) : randomBits(createRng('bit-xor', split, 'eval-set', start + b), row)), count),
      );
    },
  };
}

function fixedEvalSet(
  split: Split,
  total: number,
  batchSize: number,
  make: (start: number, count: number) => Batch,
): EvalSet {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batch size must be a positive integer, got ${batchSize}`);
  return {
    split,
    total,
    excluded: 0,
    *batches() {
      for (let start = 0; start < total; start += batchSize) yield make(start, Math.min(batchSize, total - start));
    },
  };
}
