/**
 * Seeded random streams. Every random number in the project comes from a `Generator`, so the same
 * seed gives the same run; `state()`/`setState()` let checkpoints resume a stream exactly.
 * Built on seedrandom's Alea (fast, small state that round-trips through JSON).
 */
// `import = require` works with and without esModuleInterop (ts-jest compiles without the base tsconfig's options).
import seedrandom = require('seedrandom');

/** The Alea state: four numbers, JSON-serializable for checkpoints. */
export type GeneratorState = seedrandom.State.Alea;

type AleaPrng = seedrandom.StatefulPRNG<GeneratorState>;

export class Generator {
  private prng: AleaPrng;

  constructor(seed: number | string = 0) {
    this.prng = seedrandom.alea(String(seed), { state: true });
  }

  /** Uniform in [0, 1) with 53 bits of randomness. */
  random(): number {
    return this.prng.double();
  }

  /**
   * out[i] = (u_i < p ? below : above) for a fresh mask: two 32-bit draws from this stream (k1, k2) key
   * a counter-based hash of the element index, u_i = fmix32(fmix32(k1 + i·φ) ^ k2) / 2^32, with φ =
   * 0x9E3779B9 (the SplitMix construction). The stream advances by two draws whatever the size, so a
   * checkpoint's state still resumes it exactly, and the hash has no serial dependency: ~6 ns an element
   * here, against ~19 ns for one Alea draw per element (its carry chain is serial).
   */
  bernoulli(out: Float32Array | Float64Array, p: number, below: number, above: number): void {
    const k1 = (this.random() * 4294967296) | 0, k2 = (this.random() * 4294967296) | 0;
    const threshold = p * 4294967296;
    for (let i = 0, x = k1; i < out.length; i++, x = (x + 0x9e3779b9) | 0) {
      out[i] = fmix32(fmix32(x) ^ k2) >>> 0 < threshold ? below : above;
    }
  }

  /** Uniform in [lo, hi). */
  uniform(lo = 0, hi = 1): number {
    return lo + (hi - lo) * this.random();
  }

  /** Standard normal by Box–Muller (one value per call; no cached spare, so the state is the prng's alone). */
  normal(mean = 0, std = 1): number {
    let u = this.random();
    while (u === 0) u = this.random();
    const v = this.random();
    return mean + std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Integer uniform in [lo, hi). */
  randint(lo: number, hi: number): number {
    if (!(hi > lo)) throw new Error(`randint: empty range [${lo}, ${hi})`);
    return lo + Math.floor(this.random() * (hi - lo));
  }

  /** A uniformly random permutation of 0..n-1 (Fisher–Yates). */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      const t = p[i]; p[i] = p[j]; p[j] = t;
    }
    return p;
  }

  /** A child stream derived from this one (consumes one draw), for independent sub-streams. */
  fork(): Generator {
    return new Generator(`fork:${this.random()}`);
  }

  state(): GeneratorState {
    return this.prng.state();
  }

  setState(state: GeneratorState): void {
    this.prng = seedrandom.alea('', { state });
  }
}

/** MurmurHash3's 32-bit finalizer: every input bit flips each output bit with probability ~1/2. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

let defaultGenerator = new Generator(0);

/** The process-wide generator used when an op is not given one (like torch.manual_seed). */
export function manualSeed(seed: number | string): Generator {
  defaultGenerator = new Generator(seed);
  return defaultGenerator;
}

export function getDefaultGenerator(): Generator {
  return defaultGenerator;
}
