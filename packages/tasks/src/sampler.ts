/**
 * Which examples make up batch number `index` of a seeded, epoch-based stream over a dataset of n examples.
 * Every epoch has its own order, drawn from a stream keyed by (task, split, seed, epoch), so any batch can be
 * computed directly: resuming a run at step k only needs k.
 */
import { bufferShuffleOrder, createRng, permutation } from './rng';

export type EpochOrder =
  /** torch DataLoader(shuffle=True): a fresh uniform permutation every epoch. */
  | { kind: 'shuffle'; dropLast: boolean }
  /** tf.data shuffle(bufferSize, reshuffle_each_iteration=True): a local shuffle (ListOps train). */
  | { kind: 'buffer-shuffle'; bufferSize: number; dropLast: boolean }
  /** File order every epoch (ListOps val/test iterate like this in the reference). */
  | { kind: 'sequential'; dropLast: boolean };

/** Batches of fixed size cut from each epoch's order; the last partial batch is dropped or kept. */
export class EpochBatcher {
  private cachedKey = '';
  private cachedOrder: Int32Array = new Int32Array(0);

  constructor(
    private readonly n: number,
    private readonly order: EpochOrder,
    private readonly streamKey: string,
  ) {}

  batchesPerEpoch(batchSize: number): number {
    return this.order.dropLast ? Math.floor(this.n / batchSize) : Math.ceil(this.n / batchSize);
  }

  /** Example indices of batch `index`. */
  indices(index: number, batchSize: number, seed: number): Int32Array {
    checkIndex(index, batchSize);
    const perEpoch = this.batchesPerEpoch(batchSize);
    if (perEpoch === 0) {
      throw new Error(`${this.streamKey}: batch size ${batchSize} is larger than the split (${this.n} examples)`);
    }
    const epoch = Math.floor(index / perEpoch);
    const start = (index % perEpoch) * batchSize;
    const order = this.epochOrder(epoch, seed);
    return order.slice(start, Math.min(start + batchSize, this.n));
  }

  epochOrder(epoch: number, seed: number): Int32Array {
    const key = `${seed}/${epoch}`;
    if (key !== this.cachedKey) {
      const rng = createRng(this.streamKey, `seed=${seed}`, `epoch=${epoch}`);
      const o = this.order;
      this.cachedOrder =
        o.kind === 'shuffle'
          ? permutation(this.n, rng)
          : o.kind === 'buffer-shuffle'
            ? bufferShuffleOrder(this.n, o.bufferSize, rng)
            : Int32Array.from({ length: this.n }, (_, i) => i);
      this.cachedKey = key;
    }
    return this.cachedOrder;
  }
}

/**
 * A stream whose epochs hold a variable number of batches of variable size (TAPE's bucketed sampler, after
 * the reference discarded the over-long batches). `makeEpoch(epoch, seed)` lists one epoch's batches.
 */
export class VariableEpochStream {
  private seed = NaN;
  private counts: number[] = []; // batches in each epoch computed so far
  private cachedEpoch = -1;
  private cachedBatches: Int32Array[] = [];

  constructor(
    private readonly name: string,
    private readonly makeEpoch: (epoch: number, seed: number) => Int32Array[],
  ) {}

  indices(index: number, seed: number): Int32Array {
    checkIndex(index, 1);
    if (seed !== this.seed) {
      this.seed = seed;
      this.counts = [];
      this.cachedEpoch = -1;
    }
    let epoch = 0;
    let first = 0; // stream index of the first batch of `epoch`
    for (;;) {
      if (epoch >= this.counts.length) {
        const batches = this.epoch(epoch, seed);
        if (batches.length === 0) throw new Error(`${this.name}: an epoch produced no usable batch`);
        this.counts.push(batches.length);
      }
      if (index < first + this.counts[epoch]) return this.epoch(epoch, seed)[index - first];
      first += this.counts[epoch];
      epoch++;
    }
  }

  private epoch(epoch: number, seed: number): Int32Array[] {
    if (epoch !== this.cachedEpoch) {
      this.cachedBatches = this.makeEpoch(epoch, seed);
      this.cachedEpoch = epoch;
    }
    return this.cachedBatches;
  }
}

function checkIndex(index: number, batchSize: number): void {
  if (!Number.isInteger(index) || index < 0) throw new Error(`batch index must be a non-negative integer, got ${index}`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batch size must be a positive integer, got ${batchSize}`);
}

/** Consecutive chunks of `order` of at most `batchSize` (the final-evaluation batches). */
export function* chunks(order: Int32Array, batchSize: number): Generator<Int32Array> {
  checkIndex(0, batchSize);
  for (let start = 0; start < order.length; start += batchSize) yield order.slice(start, start + batchSize);
}

export function range(n: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => i);
}
