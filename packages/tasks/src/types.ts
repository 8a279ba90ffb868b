/**
 * The data contract between the tasks and the FPT trainer: plain typed arrays, no tensor types.
 *
 * Shape letters: B = batch size, T = tokens per example, D = token dimension (continuous inputs),
 * V = vocabulary size (token inputs), k = output tokens read by the head.
 */

/** Names as in the reference code's `task=` argument (scripts/run.py). */
export type TaskName =
  | 'bit-memory'
  | 'bit-xor'
  | 'listops'
  | 'mnist'
  | 'cifar10'
  | 'cifar10-gray'
  | 'remote-homology';

export const TASK_NAMES: readonly TaskName[] = [
  'bit-memory',
  'bit-xor',
  'listops',
  'mnist',
  'cifar10',
  'cifar10-gray',
  'remote-homology',
];

/** 'val' is LRA's `basic_val.tsv` / TAPE's `valid`; image tasks only have train and test. */
export type Split = 'train' | 'val' | 'test';

export interface Batch {
  /** Continuous inputs [B, T, D] (Float32Array) or token ids [B, T] (Int32Array), row-major. */
  x: Float32Array | Int32Array;
  xShape: number[];
  /** Class ids, shape yShape: [B], or [B, labelsPerExample] for the bit tasks. */
  y: Int32Array;
  yShape: number[];
  /** Token tasks: the unpadded length of each example (after truncation), [B]. */
  lengths?: Int32Array;
}

export interface TaskInfo {
  name: TaskName;
  inputKind: 'continuous' | 'tokens';
  /** T: tokens per example (the maximum, when `variableLength`). */
  tokens: number;
  /** True when batches are padded to their longest example, so xShape[1] varies (remote homology). */
  variableLength: boolean;
  /** D for continuous inputs; the vocabulary size (rows of the input Embedding) for token inputs. */
  tokenDim: number;
  /** Classes per label (2 for the bit tasks). */
  numClasses: number;
  /** k: the head reads the last k positions (1, or 20 for Bit Memory, 5 for Bit XOR). */
  outputTokens: number;
  /** Width of the reference's output Linear per read position (Bit Memory 100 = 50 bits x 2; Homology 1200). */
  outputDim: number;
  /**
   * Labels per example (1000 for Bit Memory, 5 for Bit XOR, else 1). The logits of the k read positions,
   * [B, k, outputDim], reshaped to [B, labelsPerExample, numClasses] line up with y.
   */
  labelsPerExample: number;
  splits: Split[];
  /** The split the reference code evaluates on (val for ListOps and Homology, test otherwise). */
  evalSplit: Split;
  /** The reference's eval batch size is this multiple of the training batch size (4 for Homology, else 1). */
  evalBatchScale: number;
  /** Which paper/code choices are active in this instance. */
  notes: string;
}

/** A split evaluated in full: every example is either in a batch or counted in `excluded`. */
export interface EvalSet {
  split: Split;
  /** All examples of the split: accuracy = correct / total. */
  total: number;
  /** Examples left out of the batches (over-long homology sequences); count them as wrong. */
  excluded: number;
  batches(): Iterable<Batch>;
}

export interface Task {
  readonly info: TaskInfo;
  /** Examples in a split (bit tasks: the size of the fixed evaluation set). */
  size(split: Split): number;
  /**
   * Batch number `index` (0, 1, 2, ...) of the seeded stream over `split`, the way the reference draws it:
   * datasets are reshuffled every epoch (images: torch DataLoader shuffle + drop_last; ListOps: TF shuffle
   * buffer on train, file order on val/test; Homology: TAPE's bucketed sampler), training batches are
   * augmented where the reference augments, and the bit tasks draw fresh samples.
   * A pure function of (split, index, batchSize, seed): resuming at step k means asking for index k.
   * Use it for training and for the reference's "K random eval batches" protocol.
   */
  batch(split: Split, index: number, batchSize: number, seed: number): Batch;
  /** The whole split for final evaluation: no augmentation, no shuffling, the last batch may be smaller. */
  evalSet(split: Split, batchSize: number): EvalSet;
}

/** Options every task accepts. */
export interface CommonOptions {
  /** Where datasets live; default FPT_DATA_DIR, else `<repo>/data`. */
  dataDir?: string;
  /** Where derived files go (decoded JPEGs, generated ListOps); default FPT_CACHE_DIR, else `<repo>/.fpt-cache`. */
  cacheDir?: string;
  /** Progress messages (decoding, generating); default: silent. */
  log?: (message: string) => void;
}
