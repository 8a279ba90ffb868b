/**
 * Seeded random streams. Every random number in this package comes from seedrandom's Alea generator keyed
 * by a string that names its purpose, e.g. `mnist/train/seed=3/epoch=7`. Streams are therefore independent
 * of call order: batch 1000 can be produced without producing batches 0..999 first.
 */
// `import x = require` works with and without esModuleInterop (ts-jest compiles without it).
import seedrandom = require('seedrandom');

/** A uniform float in [0, 1). */
export type Rng = () => number;

export function createRng(...keyParts: (string | number)[]): Rng {
  const prng = seedrandom.alea(keyParts.join('/'));
  return () => prng();
}

/** Uniform integer in [lo, hi] (both inclusive), like Python's random.randint. */
export function randInt(rng: Rng, lo: number, hi: number): number {
  return lo + Math.floor(rng() * (hi - lo + 1));
}

/** Uniform float in [lo, hi), like torch's uniform_. */
export function uniform(rng: Rng, lo: number, hi: number): number {
  return lo + (hi - lo) * rng();
}

/** Fisher-Yates shuffle in place (arrays and typed arrays). */
export function shuffleInPlace<T>(a: { length: number; [i: number]: T }, rng: Rng): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
}

/** A uniformly random permutation of 0..n-1 (torch.randperm, as used by RandomSampler). */
export function permutation(n: number, rng: Rng): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  shuffleInPlace(p, rng);
  return p;
}

/**
 * The order in which tf.data's `shuffle(bufferSize)` emits 0..n-1: fill a buffer with the first
 * `bufferSize` elements, then repeatedly emit a uniformly chosen buffer slot and refill it with the next
 * input element. Elements can therefore move at most about `bufferSize` places earlier.
 */
export function bufferShuffleOrder(n: number, bufferSize: number, rng: Rng): Int32Array {
  const out = new Int32Array(n);
  const buffer: number[] = [];
  let next = 0;
  while (next < n && buffer.length < bufferSize) buffer.push(next++);
  for (let k = 0; k < n; k++) {
    const slot = Math.floor(rng() * buffer.length);
    out[k] = buffer[slot];
    if (next < n) {
      buffer[slot] = next++;
    } else {
      buffer[slot] = buffer[buffer.length - 1];
      buffer.pop();
    }
  }
  return out;
}
