/**
 * The WebAssembly engine behind the cpu backend: one emitted module, one shared memory, a bump
 * allocator over that memory, and the worker pool.
 *
 * Memory map: [0, 256) pool control words, [256, HEAP) reserved, [HEAP, …) the arena. Kernels take
 * `mark()`, allocate what one call needs (packs, staging copies of operands, outputs), and `reset(mark)`
 * before returning, so nothing accumulates across calls; the memory grows to the largest call seen.
 */
import { ModuleBuilder, wasmApi, type WasmMemory, type WasmModule } from './wasm';
import { emitGemmUnit, emitMicrokernel, emitPackUnit, emitPeakUnit, type GemmShape } from './gemm-wasm';
import { emitRowKernels, THREADED_ROW_KERNELS } from './rows-wasm';
import { Pool, CTL_BYTES, MAX_THREADS } from './pool';
import { runtimeSupport } from './features';

const PAGE = 65536;
const HEAP = 4096;
const MAX_PAGES = 65536; // 4 GiB, the wasm32 limit (address space is reserved, not committed)

export interface EngineOptions {
  relaxed: boolean;
  threads: number; // including the main thread
  gemm: GemmShape;
  /** Idle time after which workers exit (default 3 s). */
  idleMs?: number;
}

/** Functions the pool can run, each (desc, unit, tid). */
export const THREADED = ['gemm_unit', 'pack_unit', 'peak_unit', ...THREADED_ROW_KERNELS] as const;
export type ThreadedName = (typeof THREADED)[number];

type UnitFn = (desc: number, unit: number, tid: number) => void;

export class Engine {
  readonly memory: WasmMemory;
  readonly module: WasmModule;
  readonly exports: Record<string, UnitFn>;
  readonly pool: Pool;
  readonly threads: number;
  private top = HEAP;
  private buffer: ArrayBuffer | SharedArrayBuffer | null = null;
  private f32view: Float32Array<ArrayBufferLike> = new Float32Array(0);
  private i32view: Int32Array<ArrayBufferLike> = new Int32Array(0);

  constructor(readonly options: EngineOptions) {
    this.threads = Math.max(1, Math.min(MAX_THREADS + 1, Math.floor(options.threads)));
    if (wasmApi === undefined || !runtimeSupport().simd) throw new Error('cpu backend: this runtime has no WebAssembly SIMD');
    if (options.relaxed && !runtimeSupport().relaxed) throw new Error('cpu backend: this runtime has no relaxed SIMD');
    this.memory = new wasmApi.Memory({ initial: 64, maximum: MAX_PAGES, shared: true });
    this.module = new wasmApi.Module(buildModule(options.relaxed, options.gemm));
    const instance = new wasmApi.Instance(this.module, { env: { memory: this.memory } });
    this.exports = instance.exports as unknown as Record<string, UnitFn>;
    this.pool = new Pool(this.module, this.memory, THREADED, this.threads - 1, options.idleMs);
    if (CTL_BYTES > HEAP) throw new Error('engine: control block overlaps the heap');
  }

  /** Float32 view of the whole memory (refreshed after growth). */
  get f32(): Float32Array<ArrayBufferLike> { this.refresh(); return this.f32view; }
  get i32(): Int32Array<ArrayBufferLike> { this.refresh(); return this.i32view; }

  private refresh(): void {
    const buffer = this.memory.buffer;
    if (this.buffer !== buffer) {
      this.buffer = buffer;
      this.f32view = new Float32Array(buffer);
      this.i32view = new Int32Array(buffer);
    }
  }

  mark(): number { return this.top; }
  reset(mark: number): void { this.top = mark; }

  /** `bytes` of arena memory, 64-byte aligned (a cache line); grows the memory when needed. */
  alloc(bytes: number): number {
    const at = (this.top + 63) & ~63;
    const end = at + bytes;
    if (end > MAX_PAGES * PAGE - PAGE) throw new RangeError(`cpu backend: ${end} bytes exceed the 4 GiB WebAssembly memory`);
    const have = this.memory.buffer.byteLength;
    if (end > have) this.memory.grow(Math.ceil((end - have) / PAGE));
    this.top = end;
    return at;
  }

  /** Copy a float32 array into fresh arena memory; returns its byte address. */
  stage(src: Float32Array): number {
    const p = this.alloc(src.length * 4);
    this.f32.set(src, p >> 2);
    return p;
  }

  /** Run `units` units of a threaded function, on the pool when `parallel`, else on this thread (see Pool.run for `idle`). */
  run(name: ThreadedName, desc: number, units: number, parallel: boolean, idle?: () => boolean): void {
    const fn = this.exports[name];
    if (parallel && this.threads > 1 && units > 1) this.pool.run(THREADED.indexOf(name), fn, desc, units, idle);
    else for (let u = 0; u < units; u++) fn(desc, u, 0);
  }
}

/** See Pool.runPipelined; on one thread, units are staged, computed and collected one after another. */
export function runPipelined(
  engine: Engine, name: ThreadedName, desc: number, units: number, parallel: boolean,
  stage: (u: number) => void, collect: (u: number) => void,
): void {
  const fn = engine.exports[name];
  if (parallel && engine.threads > 1 && units > 1) {
    const flagsAt = engine.alloc(units * 4);
    const i32 = engine.i32;
    i32.fill(0, flagsAt >> 2, (flagsAt >> 2) + units);
    engine.pool.runPipelined(THREADED.indexOf(name), fn, desc, units, flagsAt, i32, stage, collect);
  } else {
    for (let u = 0; u < units; u++) { stage(u); fn(desc, u, 0); collect(u); }
  }
}

function buildModule(relaxed: boolean, gemm: GemmShape): Uint8Array {
  const mb = new ModuleBuilder();
  const micro = mb.add(null, emitMicrokernel(gemm, relaxed));
  mb.add('gemm_unit', emitGemmUnit(mb, gemm, micro));
  mb.add('pack_unit', emitPackUnit(gemm));
  mb.add('peak_unit', emitPeakUnit(gemm, micro));
  emitRowKernels(mb, relaxed);
  return mb.encode({ initial: 64, maximum: MAX_PAGES, shared: true });
}
