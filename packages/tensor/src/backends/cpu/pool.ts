/**
 * A pool of worker_threads sharing the engine's WebAssembly.Memory (a SharedArrayBuffer).
 *
 * A job is (function, descriptor address, number of units). The main thread publishes it in the control
 * words at the start of the memory, wakes the workers (Atomics.notify), takes units itself from the
 * same atomic counter, then sleeps in Atomics.wait until every participating worker has reported. Units
 * are whole output blocks, so who computes which unit never changes a result.
 *
 * A pipelined job (`runPipelined`) also lets the workers start on unit u as soon as the main thread has
 * staged its inputs, and lets the main thread copy finished units out while the others still compute.
 *
 * Workers start lazily (the first job that wants threads), join jobs once they are up (until then the
 * main thread does all the work), are unref'd and exit after IDLE_EXIT_MS without work, so they never
 * keep the process alive, and run code generated here as a string (`eval: true`), which works the same
 * from ts-jest sources and from dist.
 */
import { Worker } from 'worker_threads';
import type { WasmMemory, WasmModule } from './wasm';

/** Control words (Int32 indices at byte 0 of the memory); state has one word per worker slot. */
export const CTL = { seq: 0, next: 1, units: 2, fn: 3, desc: 4, done: 5, error: 6, state: 8, staged: 48, flags: 49 } as const;
/** `staged` value of a job whose inputs are all in place. */
const ALL_STAGED = 0x7fffffff;
export const CTL_BYTES = 256;
export const MAX_THREADS = 32;
/** Worker slot states. */
const OFF = 0, IDLE = 1, CLAIMED = 2, BOOTING = 3;
/** A worker idle this long exits (and is restarted on demand), so finished work leaves no threads behind. */
export const IDLE_EXIT_MS = 3000;

/**
 * The worker's program. Each exported function named in `fnNames` has the signature (desc, unit, tid).
 * The main thread claims an idle worker for a job by compare-and-swap IDLE -> CLAIMED, and a worker
 * leaves only by compare-and-swap IDLE -> OFF, so a claimed worker always takes part in its job.
 */
const WORKER_SOURCE = `
const { workerData } = require('worker_threads');
const { module, memory, fnNames, tid, C, S, idleMs } = workerData;
const instance = new WebAssembly.Instance(module, { env: { memory } });
const fns = fnNames.map((n) => instance.exports[n]);
const ctl = new Int32Array(memory.buffer, 0, 64);
let mem32 = new Int32Array(memory.buffer);
const state = C.state + tid;
let seen = Atomics.load(ctl, C.seq);
Atomics.store(ctl, state, S.IDLE);
for (;;) {
  const woke = Atomics.wait(ctl, C.seq, seen, idleMs);
  const s = Atomics.load(ctl, C.seq);
  if (s !== seen) {
    seen = s;
    if (Atomics.load(ctl, state) !== S.CLAIMED) continue;
    try {
      const fn = fns[Atomics.load(ctl, C.fn)], desc = Atomics.load(ctl, C.desc), n = Atomics.load(ctl, C.units);
      const flags = Atomics.load(ctl, C.flags) >> 2;
      if (flags && (flags + n) * 4 > mem32.byteLength) mem32 = new Int32Array(memory.buffer);
      for (let u = Atomics.add(ctl, C.next, 1); u < n; u = Atomics.add(ctl, C.next, 1)) {
        // a pipelined job: wait until the main thread has staged unit u's inputs
        for (let st = Atomics.load(ctl, C.staged); st <= u; st = Atomics.load(ctl, C.staged)) Atomics.wait(ctl, C.staged, st);
        fn(desc, u, tid);
        if (flags) { Atomics.store(mem32, flags + u, 1); Atomics.notify(mem32, flags + u); }
      }
    } catch (e) {
      Atomics.store(ctl, C.error, 1);
    }
    Atomics.store(ctl, state, S.IDLE);
    Atomics.add(ctl, C.done, 1);
    Atomics.notify(ctl, C.done);
  } else if (woke === 'timed-out' && Atomics.compareExchange(ctl, state, S.IDLE, S.OFF) === S.IDLE) {
    break;
  }
}
`;

export class Pool {
  private spawned = 0;
  private readonly ctl: Int32Array;
  /** Jobs run so far with at least one worker, for tests and reports. */
  parallelJobs = 0;

  constructor(
    private readonly module: WasmModule,
    private readonly memory: WasmMemory,
    private readonly fnNames: readonly string[],
    /** Worker threads besides the main thread. */
    readonly size: number,
    private readonly idleMs = IDLE_EXIT_MS,
  ) {
    this.ctl = new Int32Array(memory.buffer, 0, CTL_BYTES / 4);
  }

  /** Spawn a worker in every slot that has none (first use, or after an idle exit). */
  private start(): void {
    for (let tid = 1; tid <= this.size; tid++) {
      if (Atomics.compareExchange(this.ctl, CTL.state + tid, OFF, BOOTING) !== OFF) continue;
      const w = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: {
          module: this.module, memory: this.memory, fnNames: this.fnNames, tid, C: CTL,
          S: { IDLE, CLAIMED }, idleMs: this.idleMs,
        },
      });
      w.unref();
      w.on('error', () => Atomics.store(this.ctl, CTL.state + tid, OFF)); // failed to boot: retry later
      this.spawned++;
    }
  }

  /** Workers spawned so far (including restarts after idle exits). */
  started(): number {
    return this.spawned;
  }

  /** Workers up right now (idle or in a job). */
  running(): number {
    let n = 0;
    for (let tid = 1; tid <= this.size; tid++) {
      const st = Atomics.load(this.ctl, CTL.state + tid);
      if (st === IDLE || st === CLAIMED) n++;
    }
    return n;
  }

  /** Claim every idle worker for the next job (appending their slots to `claimed`). */
  private claim(claimed: number[]): void {
    for (let tid = 1; tid <= this.size; tid++) {
      if (Atomics.compareExchange(this.ctl, CTL.state + tid, IDLE, CLAIMED) === IDLE) claimed.push(tid);
    }
  }

  private idleCount(): number {
    let n = 0;
    for (let tid = 1; tid <= this.size; tid++) if (Atomics.load(this.ctl, CTL.state + tid) === IDLE) n++;
    return n;
  }

  private publish(fnIndex: number, desc: number, units: number, staged: number, flags: number): void {
    const ctl = this.ctl;
    Atomics.store(ctl, CTL.fn, fnIndex);
    Atomics.store(ctl, CTL.desc, desc);
    Atomics.store(ctl, CTL.units, units);
    Atomics.store(ctl, CTL.next, 0);
    Atomics.store(ctl, CTL.done, 0);
    Atomics.store(ctl, CTL.error, 0);
    Atomics.store(ctl, CTL.staged, staged);
    Atomics.store(ctl, CTL.flags, flags);
    Atomics.add(ctl, CTL.seq, 1);
    Atomics.notify(ctl, CTL.seq);
    this.parallelJobs++;
  }

  /**
   * A job whose inputs and outputs live in JS arrays, pipelined: the main thread stages unit after unit
   * (`stage(u)` copies unit u's inputs into the memory) while the workers compute the units already
   * staged; then it computes units too, and copies each finished unit out (`collect(u)`, in unit order)
   * as soon as it is done, while the others still compute. `flags` is one zeroed i32 per unit in the
   * memory (byte address `flagsAt`, viewed by `flags`), set when the unit is computed.
   */
  runPipelined(
    fnIndex: number, fn: (desc: number, unit: number, tid: number) => void, desc: number, units: number,
    flagsAt: number, flags: Int32Array, stage: (u: number) => void, collect: (u: number) => void,
  ): void {
    this.start();
    const claimed: number[] = [];
    if (units > 1) this.claim(claimed);
    if (claimed.length === 0) {
      for (let u = 0; u < units; u++) { stage(u); fn(desc, u, 0); collect(u); }
      return;
    }
    const ctl = this.ctl, f = flagsAt >> 2;
    this.publish(fnIndex, desc, units, 0, flagsAt);
    let failure: unknown = null;
    try {
      for (let u = 0; u < units; u++) {
        stage(u);
        Atomics.store(ctl, CTL.staged, u + 1);
        Atomics.notify(ctl, CTL.staged);
      }
      for (let c = 0; c < units;) {
        if (Atomics.load(flags, f + c) === 1) { collect(c++); continue; }
        const u = Atomics.add(ctl, CTL.next, 1);
        if (u < units) {
          fn(desc, u, 0);
          Atomics.store(flags, f + u, 1);
        } else {
          if (Atomics.load(ctl, CTL.error) !== 0) break;
          Atomics.wait(flags, f + c, 0, 20);
        }
      }
    } catch (e) {
      failure = e;
      Atomics.store(ctl, CTL.staged, ALL_STAGED);
      Atomics.notify(ctl, CTL.staged);
      Atomics.store(ctl, CTL.next, units);
    }
    for (let d = Atomics.load(ctl, CTL.done); d < claimed.length; d = Atomics.load(ctl, CTL.done)) Atomics.wait(ctl, CTL.done, d);
    if (failure !== null) throw failure;
    if (Atomics.load(ctl, CTL.error) !== 0) throw new Error('cpu backend: a worker thread failed while running a kernel');
  }

  /** Start the workers and block until they are up (or `timeoutMs` passes); returns how many are. */
  warm(timeoutMs = 5000): number {
    this.start();
    const until = Date.now() + timeoutMs;
    const flag = new Int32Array(new SharedArrayBuffer(4));
    while (this.idleCount() < this.size && Date.now() < until) Atomics.wait(flag, 0, 0, 2);
    return this.idleCount();
  }

  /**
   * Run units 0..units-1 of `fn` (index into fnNames) across the main thread and the idle workers.
   * `idle`, if given, is main-thread work to overlap with the units (copying finished results out): it
   * is called once after each unit the main thread computes, then, once no unit is left to take,
   * repeatedly while it reports progress (returns true) and the workers are still busy.
   */
  run(fnIndex: number, fn: (desc: number, unit: number, tid: number) => void, desc: number, units: number, idle?: () => boolean): void {
    this.start();
    const ctl = this.ctl;
    const claimed: number[] = [];
    if (units > 1) this.claim(claimed);
    if (claimed.length === 0) {
      for (let u = 0; u < units; u++) fn(desc, u, 0);
      return;
    }
    this.publish(fnIndex, desc, units, ALL_STAGED, 0);
    let failure: unknown = null;
    try {
      for (let u = Atomics.add(ctl, CTL.next, 1); u < units; u = Atomics.add(ctl, CTL.next, 1)) {
        fn(desc, u, 0);
        idle?.();
      }
    } catch (e) {
      failure = e;
      Atomics.store(ctl, CTL.next, units); // stop handing out units
    }
    if (idle && failure === null) while (Atomics.load(ctl, CTL.done) < claimed.length && idle());
    for (let d = Atomics.load(ctl, CTL.done); d < claimed.length; d = Atomics.load(ctl, CTL.done)) Atomics.wait(ctl, CTL.done, d);
    if (failure !== null) throw failure;
    if (Atomics.load(ctl, CTL.error) !== 0) throw new Error('cpu backend: a worker thread failed while running a kernel');
  }
}

