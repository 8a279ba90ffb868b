/**
 * A pool of worker_threads sharing the engine's WebAssembly.Memory (a SharedArrayBuffer).
 *
 * A job is (function, descriptor address, number of units). The main thread publishes it in the control
 * words at the start of the memory, wakes the workers (Atomics.notify), takes units itself from the
 * same atomic counter, then sleeps in Atomics.wait until every participating worker has reported. Units
 * are whole output blocks, so who computes which unit never changes a result.
 *
 * Workers start lazily (the first job that wants threads), join jobs once they are up (until then the
 * main thread does all the work), are unref'd so they never keep the process alive, and run code
 * generated here as a string (`eval: true`), which works the same from ts-jest sources and from dist.
 */
import { Worker } from 'worker_threads';
import type { WasmMemory, WasmModule } from './wasm';

/** Control words (Int32 indices at byte 0 of the memory). */
export const CTL = { seq: 0, next: 1, units: 2, fn: 3, desc: 4, done: 5, mask: 6, error: 7, ready: 8 } as const;
export const CTL_BYTES = 256;
export const MAX_THREADS = 31; // one bit of the participant mask per worker

/** The worker's program. Each exported function named in `fnNames` has the signature (desc, unit, tid). */
const WORKER_SOURCE = `
const { workerData } = require('worker_threads');
const { module, memory, fnNames, tid, C } = workerData;
const instance = new WebAssembly.Instance(module, { env: { memory } });
const fns = fnNames.map((n) => instance.exports[n]);
const ctl = new Int32Array(memory.buffer, 0, 64);
let seen = Atomics.load(ctl, C.seq);
Atomics.store(ctl, C.ready + tid, 1);
for (;;) {
  Atomics.wait(ctl, C.seq, seen);
  const s = Atomics.load(ctl, C.seq);
  if (s === seen) continue;
  seen = s;
  if ((Atomics.load(ctl, C.mask) & (1 << tid)) === 0) continue;
  try {
    const fn = fns[Atomics.load(ctl, C.fn)], desc = Atomics.load(ctl, C.desc), n = Atomics.load(ctl, C.units);
    for (let u = Atomics.add(ctl, C.next, 1); u < n; u = Atomics.add(ctl, C.next, 1)) fn(desc, u, tid);
  } catch (e) {
    Atomics.store(ctl, C.error, 1);
  }
  Atomics.add(ctl, C.done, 1);
  Atomics.notify(ctl, C.done);
}
`;

export class Pool {
  private workers: Worker[] = [];
  private readonly ctl: Int32Array;
  /** Jobs run so far with at least one worker, for tests and reports. */
  parallelJobs = 0;

  constructor(
    private readonly module: WasmModule,
    private readonly memory: WasmMemory,
    private readonly fnNames: readonly string[],
    /** Worker threads besides the main thread. */
    readonly size: number,
  ) {
    this.ctl = new Int32Array(memory.buffer, 0, CTL_BYTES / 4);
  }

  private start(): void {
    if (this.workers.length > 0 || this.size === 0) return;
    for (let tid = 1; tid <= this.size; tid++) {
      const w = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { module: this.module, memory: this.memory, fnNames: this.fnNames, tid, C: CTL },
      });
      w.unref();
      w.on('error', () => { /* reported through CTL.error when it happens inside a job */ });
      this.workers.push(w);
    }
  }

  /** Workers created so far (they start on the first job that wants threads). */
  started(): number {
    return this.workers.length;
  }

  /** Bit mask of the workers that are up. */
  private readyMask(): number {
    let mask = 0;
    for (let tid = 1; tid <= this.workers.length; tid++) if (Atomics.load(this.ctl, CTL.ready + tid) === 1) mask |= 1 << tid;
    return mask;
  }

  /** Start the workers and block until they are up (or `timeoutMs` passes); returns how many are. */
  warm(timeoutMs = 5000): number {
    this.start();
    const until = Date.now() + timeoutMs;
    const flag = new Int32Array(1);
    while (popcount(this.readyMask()) < this.size && Date.now() < until) Atomics.wait(flag, 0, 0, 2);
    return popcount(this.readyMask());
  }

  /** Run units 0..units-1 of `fn` (index into fnNames) across the main thread and the ready workers. */
  run(fnIndex: number, fn: (desc: number, unit: number, tid: number) => void, desc: number, units: number): void {
    this.start();
    const ctl = this.ctl;
    const mask = units > 1 ? this.readyMask() : 0;
    if (mask === 0) {
      for (let u = 0; u < units; u++) fn(desc, u, 0);
      return;
    }
    Atomics.store(ctl, CTL.fn, fnIndex);
    Atomics.store(ctl, CTL.desc, desc);
    Atomics.store(ctl, CTL.units, units);
    Atomics.store(ctl, CTL.next, 0);
    Atomics.store(ctl, CTL.done, 0);
    Atomics.store(ctl, CTL.error, 0);
    Atomics.store(ctl, CTL.mask, mask);
    Atomics.add(ctl, CTL.seq, 1);
    Atomics.notify(ctl, CTL.seq);
    this.parallelJobs++;
    let failure: unknown = null;
    try {
      for (let u = Atomics.add(ctl, CTL.next, 1); u < units; u = Atomics.add(ctl, CTL.next, 1)) fn(desc, u, 0);
    } catch (e) {
      failure = e;
      Atomics.store(ctl, CTL.next, units); // stop handing out units
    }
    const expected = popcount(mask);
    for (let d = Atomics.load(ctl, CTL.done); d < expected; d = Atomics.load(ctl, CTL.done)) Atomics.wait(ctl, CTL.done, d);
    if (failure !== null) throw failure;
    if (Atomics.load(ctl, CTL.error) !== 0) throw new Error('cpu backend: a worker thread failed while running a kernel');
  }
}

function popcount(x: number): number {
  let n = 0;
  for (; x !== 0; x &= x - 1) n++;
  return n;
}
