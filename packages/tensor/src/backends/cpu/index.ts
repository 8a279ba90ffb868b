/**
 * The `cpu` backend: WebAssembly SIMD kernels emitted at run time from TypeScript, a worker-thread GEMM
 * over a shared memory, and tight TypeScript loops for the memory-bound ops. Float64 work (gradcheck)
 * is handed to ref. See packages/tensor/README.md ("cpu backend") for the design and measurements.
 *
 * Options come from the arguments or the environment:
 *   FPT_SIMD     auto (default: relaxed SIMD if available, else SIMD) | relaxed | simd | off (plain TS)
 *   FPT_THREADS  threads for large GEMMs and row kernels, main thread included (default: the core count)
 */
import * as os from 'os';
import type { Kernels, MatmulArgs } from '../../kernels';
import { allFloat32, makeBackend, type Backend } from '../../backend';
import { refKernels } from '../ref';
import { chooseSimd, type SimdPath } from './features';
import { Engine } from './engine';
import type { GemmShape } from './gemm-wasm';
import { DEFAULT_BLOCKING, gemmTS, gemmWasm, type Blocking } from './gemm';
import * as ew from './elementwise';
import * as nn from './nn';

export { fmaPeak } from './gemm';

export interface CpuOptions {
  simd?: 'auto' | SimdPath;
  threads?: number;
  gemm?: GemmShape;
  blocking?: Partial<Blocking>;
  /** Idle time after which worker threads exit (default 3000 ms; they restart on demand). */
  idleMs?: number;
}

/** Register tile: 6 rows × 8 columns = 12 f32x4 accumulators + 2 B vectors + 1 broadcast (15 xmm registers), no k unroll (see README). */
export const DEFAULT_GEMM: GemmShape = { MR: 6, NR: 8 };

export function defaultThreads(): number {
  const env = Number(process.env.FPT_THREADS);
  if (Number.isInteger(env) && env >= 1) return env;
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

type F32 = Float32Array;
const f32 = allFloat32;

export function createCpuBackend(options: CpuOptions = {}): Backend {
  const path = chooseSimd(options.simd === 'auto' ? undefined : options.simd ?? process.env.FPT_SIMD);
  const threads = options.threads ?? defaultThreads();
  const gemmShape = options.gemm ?? DEFAULT_GEMM;
  const blk: Blocking = { ...DEFAULT_BLOCKING, ...options.blocking };
  blk.MC = Math.max(gemmShape.MR, Math.floor(blk.MC / gemmShape.MR) * gemmShape.MR);
  blk.NC = Math.max(gemmShape.NR, Math.floor(blk.NC / gemmShape.NR) * gemmShape.NR);

  // the memory-bound kernels: exact TypeScript loops on every path
  const own: Partial<Kernels> = {
    copyStrided: ew.copyStrided,
    binary: ew.binary,
    where: ew.where,
    unary: ew.unary,
    reduce: ew.reduce,
    adam: (p) => (f32(p.param, p.grad, p.m, p.v) ? ew.adam(p) : refKernels.adam(p)),
    matmul: (p: MatmulArgs) => (f32(p.a, p.b, p.out) ? gemmTS(p) : refKernels.matmul(p)),
  };
  // the engine (module compile, memory reservation) is created on the first kernel that needs it
  const config = { relaxed: path === 'relaxed', threads, gemm: gemmShape, idleMs: options.idleMs };
  const E = (): Engine => sharedEngine(config);
  /**
   * Run a wasm kernel. An operand too large for the 4 GiB wasm memory (RangeError) falls back to the
   * TypeScript kernel; an engine whose memory grew past RETIRE_BYTES is dropped afterwards (wasm memory
   * cannot shrink), so one huge call does not pin a gigabyte for the rest of the process.
   */
  const W = <T>(fast: (e: Engine) => T, slow: () => T): T => {
    const e = E();
    try {
      return fast(e);
    } catch (err) {
      if (err instanceof RangeError) return slow();
      throw err;
    } finally {
      if (e.memory.buffer.byteLength > RETIRE_BYTES) retireEngine(config);
    }
  };
  if (path !== 'off') {
    Object.assign(own, {
      matmul: (p) => (f32(p.a, p.b, p.out) ? W((e) => gemmWasm(e, p, blk), () => gemmTS(p)) : refKernels.matmul(p)),
      binary: (op, a, b, shape, out) => {
        if (!(out instanceof Float32Array) || out.length < 1 << 16 || !W((e) => nn.binary(e, op, a, b, shape, out), () => false)) ew.binary(op, a, b, shape, out);
      },
      unary: (op, x, out) =>
        op === 'gelu' && f32(x, out) ? W((e) => nn.gelu(e, x as F32, null, out as F32), () => ew.unary(op, x, out)) : ew.unary(op, x, out),
      geluBackward: (x, dy, dx) =>
        f32(x, dy, dx) ? W((e) => nn.gelu(e, x as F32, dy as F32, dx as F32), () => refKernels.geluBackward(x, dy, dx)) : refKernels.geluBackward(x, dy, dx),
      softmax: (x, rows, cols, out) =>
        f32(x, out) ? W((e) => nn.softmax(e, x as F32, rows, cols, out as F32), () => refKernels.softmax(x, rows, cols, out)) : refKernels.softmax(x, rows, cols, out),
      softmaxBackward: (y, dy, rows, cols, dx) =>
        f32(y, dy, dx)
          ? W((e) => nn.softmaxBackward(e, y as F32, dy as F32, rows, cols, dx as F32), () => refKernels.softmaxBackward(y, dy, rows, cols, dx))
          : refKernels.softmaxBackward(y, dy, rows, cols, dx),
      layerNorm: (x, g, b, rows, C, eps, out, mean, rstd) =>
        f32(x, g, b, out, mean, rstd)
          ? W((e) => nn.layerNorm(e, x as F32, g as F32, b as F32, rows, C, eps, out as F32, mean as F32, rstd as F32),
            () => refKernels.layerNorm(x, g, b, rows, C, eps, out, mean, rstd))
          : refKernels.layerNorm(x, g, b, rows, C, eps, out, mean, rstd),
      layerNormBackward: (x, g, mean, rstd, dy, rows, C, dx, dg, db) =>
        f32(x, g, mean, rstd, dy, dx, dg, db)
          ? W((e) => nn.layerNormBackward(e, x as F32, g as F32, mean as F32, rstd as F32, dy as F32, rows, C, dx as F32 | null, dg as F32 | null, db as F32 | null),
            () => refKernels.layerNormBackward(x, g, mean, rstd, dy, rows, C, dx, dg, db))
          : refKernels.layerNormBackward(x, g, mean, rstd, dy, rows, C, dx, dg, db),
      attention: (q, k, v, BH, T, D, scale, causal, out, probs) =>
        f32(q, k, v, out, probs)
          ? W((e) => nn.attention(e, blk, q as F32, k as F32, v as F32, BH, T, D, scale, causal, out as F32, probs as F32),
            () => refKernels.attention(q, k, v, BH, T, D, scale, causal, out, probs))
          : refKernels.attention(q, k, v, BH, T, D, scale, causal, out, probs),
      attentionBackward: (q, k, v, probs, dout, BH, T, D, scale, dq, dk, dv) =>
        f32(q, k, v, probs, dout, dq, dk, dv)
          ? W((e) => nn.attentionBackward(e, blk, q as F32, k as F32, v as F32, probs as F32, dout as F32, BH, T, D, scale, dq as F32 | null, dk as F32 | null, dv as F32 | null),
            () => refKernels.attentionBackward(q, k, v, probs, dout, BH, T, D, scale, dq, dk, dv))
          : refKernels.attentionBackward(q, k, v, probs, dout, BH, T, D, scale, dq, dk, dv),
    } satisfies Partial<Kernels>);
  }

  const backend = makeBackend('cpu', own, refKernels, () => ({
    simd: path,
    fma: path === 'relaxed' ? 'f32x4.relaxed_madd' : path === 'simd' ? 'f32x4.mul+add' : 'none (TypeScript)',
    threads: String(path === 'off' ? 1 : threads),
    workers: path === 'off' ? 'none' : `${engines.get(engineKey(config))?.pool.running() ?? 0}/${threads - 1} running`,
    tile: path === 'off' ? '4x4 scalar' : `${gemmShape.MR}x${gemmShape.NR} f32x4`,
    blocking: `MC=${blk.MC} NC=${blk.NC} KC=${blk.KC}`,
  }));
  return Object.assign(backend, { cpuEngine: path === 'off' ? () => null : E, blocking: blk });
}

/** The engine behind a cpu backend (null on the TypeScript path), for benchmarks and tests. */
export function cpuEngine(b: Backend): Engine | null {
  return (b as Backend & { cpuEngine?: () => Engine | null }).cpuEngine?.() ?? null;
}

/**
 * Engines are shared by the backends of one configuration in a module realm: each reserves an address
 * range for its 4 GiB-capable memory (plus V8's guard regions, ~10 GiB of virtual space), and V8 caps
 * the total, so a process creating many backends must not create one engine each.
 */
type EngineConfig = { relaxed: boolean; threads: number; gemm: GemmShape; idleMs?: number };
const engines = new Map<string, Engine>();
const engineKey = (o: EngineConfig): string => `${o.relaxed}/${o.threads}/${o.gemm.MR}x${o.gemm.NR}/${o.idleMs ?? ''}`;
function sharedEngine(o: EngineConfig): Engine {
  const key = engineKey(o);
  let e = engines.get(key);
  if (e === undefined) {
    e = new Engine(o);
    engines.set(key, e);
  }
  return e;
}

/** Memory size past which an engine is replaced by a fresh one after the call. */
const RETIRE_BYTES = 1 << 30;
function retireEngine(o: EngineConfig): void {
  engines.delete(engineKey(o)); // its memory is freed once its idle workers have exited and it is collected
}
