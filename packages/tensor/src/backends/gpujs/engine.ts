/**
 * GpuEngine: one gpu.js `GPU` instance in one mode, the compiled-kernel cache, and the three stages of
 * every call: upload (pack + copy to the device), compute (the kernels of sources.ts), readback.
 *
 * Compiled kernels live here, in a Map keyed by (mode, kernel, shape), never on tensors. gpu.js compiles
 * a kernel for its output size and constants, so each shape compiles once; past `maxKernels` the least
 * recently used kernels are destroyed (a generation loop with a growing length would otherwise grow the
 * cache without bound).
 *
 * Device residency. In the GL modes (headlessgl, webgl2) an uploaded operand is a texture and every kernel
 * runs with `pipeline: true`, so a kernel's output texture feeds the next kernel without a readback: the
 * softmax chain passes its row statistics on the device, attention passes scores and probabilities, and
 * only final results are read. In cpu and webasm there is no device: gpu.js's pipeline mode hands back host
 * arrays, and "upload" is only the packing. Across `Kernels` calls data always returns to the host, because
 * the interface is typed-array-in / typed-array-out and those arrays are mutable (adam updates parameters
 * in place): see the README section "gpujs backend".
 */
import type { GPU, IKernelRunShortcut, Texture, KernelFunction } from 'gpu.js';
import type { MatmulArgs } from '../../kernels';
import type { GpuMode } from './modes';
import { packMatmul } from './pack';
import * as src from './sources';

type GpuJs = typeof import('gpu.js');

/** Milliseconds spent in each stage, accumulated by the engine when a caller passes one. */
export interface StageTimes {
  upload: number;
  compute: number;
  readback: number;
}

export function emptyTimes(): StageTimes {
  return { upload: 0, compute: 0, readback: 0 };
}

/** An operand on the device: a GL texture, or (cpu/webasm) the gpu.js input wrapping the host array. */
type DeviceArray = unknown;

/** Columns per partial block of the softmax row reductions. */
export const SOFTMAX_CHUNK = 256;

const GL_MODES: ReadonlySet<GpuMode> = new Set<GpuMode>(['headlessgl', 'webgl2']);

interface GlContext {
  finish(): void;
}

export class GpuEngine {
  readonly mode: GpuMode;
  /** True when kernel outputs stay on the device (GL textures) until read back. */
  readonly resident: boolean;
  private readonly lib: GpuJs;
  private readonly gpu: GPU;
  private readonly cache = new Map<string, IKernelRunShortcut>();
  compiled = 0;
  evicted = 0;

  constructor(mode: GpuMode, readonly maxKernels = 256) {
    this.mode = mode;
    this.resident = GL_MODES.has(mode);
    this.lib = require('gpu.js') as GpuJs; // loaded only when a gpujs engine is created
    this.gpu = new this.lib.GPU({ mode });
  }

  get cachedKernels(): number {
    return this.cache.size;
  }

  /** The compiled kernel for `key` (mode is implied: one engine per mode), compiling it on first use. */
  private kernel(key: string, source: (...args: never[]) => unknown, settings: object): IKernelRunShortcut {
    const full = `${this.mode}|${key}`;
    const hit = this.cache.get(full);
    if (hit !== undefined) {
      this.cache.delete(full); // refresh its place in the LRU order
      this.cache.set(full, hit);
      return hit;
    }
    const k = this.gpu.createKernel(source as unknown as KernelFunction, {
      precision: 'single',
      tactic: 'precision', // highp floats in GLSL
      pipeline: true, // GL: outputs stay textures; cpu/webasm: host arrays
      ...settings,
    });
    this.cache.set(full, k);
    this.compiled++;
    return k;
  }

  /**
   * Destroy least recently used kernels down to `maxKernels`. Called at the end of each operation, never
   * during one: gpu.js builds a kernel on its first call, so a kernel created earlier in the same
   * operation must still be alive when it runs.
   */
  private trim(): void {
    while (this.cache.size > this.maxKernels) {
      const [key, k] = this.cache.entries().next().value as [string, IKernelRunShortcut];
      this.cache.delete(key);
      k.destroy(); // also removes it from the GPU instance's kernel list
      this.evicted++;
    }
  }

  /** Release every compiled kernel (gpu.js tears down on a later tick: await it). */
  destroy(): Promise<void> {
    this.cache.clear();
    return Promise.resolve(this.gpu.destroy());
  }

  /** Wait for queued device work (only needed to attribute time to stages). */
  private sync(): void {
    if (!this.resident) return;
    const ctx = (this.gpu as unknown as { context: GlContext | null }).context;
    ctx?.finish();
  }

  private time(times: StageTimes | undefined, stage: keyof StageTimes, t0: number): number {
    if (times === undefined) return 0;
    if (stage !== 'readback') this.sync(); // GL work is queued: finish it so it counts in its own stage
    const t1 = performance.now();
    times[stage] += t1 - t0;
    return t1;
  }

  // -------------------------------------------------------------------------------------------------
  // Upload / release / readback

  /** data [rows, cols] → device. */
  upload2d(data: Float32Array, rows: number, cols: number): DeviceArray {
    const value = new this.lib.Input(data as unknown as number[], [cols, rows]);
    if (!this.resident) return value;
    const copy = this.kernel(`copy2d ${rows}x${cols}`, src.copy2d, {
      output: [cols, rows], immutable: true, optimizeFloatMemory: true,
    });
    return copy(value);
  }

  /** data [depth, rows, cols] → device. */
  upload3d(data: Float32Array, depth: number, rows: number, cols: number): DeviceArray {
    const value = new this.lib.Input(data as unknown as number[], [cols, rows, depth]);
    if (!this.resident) return value;
    const copy = this.kernel(`copy3d ${depth}x${rows}x${cols}`, src.copy3d, {
      output: [cols, rows, depth], immutable: true, optimizeFloatMemory: true,
    });
    return copy(value);
  }

  private release(...arrays: DeviceArray[]): void {
    if (!this.resident) return;
    for (const a of arrays) (a as Texture).delete();
  }

  /** The raw texel values of a GL output texture (RGBA float, flat output order). */
  private static raw(t: unknown): Float32Array {
    return (t as { renderRawOutput(): Float32Array }).renderRawOutput();
  }

  /** A scalar [rows, cols] kernel output → out (contiguous). */
  private readScalar2d(result: unknown, rows: number, cols: number, out: Float32Array): void {
    if (this.resident) {
      out.set(GpuEngine.raw(result).subarray(0, rows * cols)); // memory-optimized: 4 values per texel, in order
      return;
    }
    const rowsOut = result as ArrayLike<Float32Array>;
    for (let r = 0; r < rows; r++) out.set(rowsOut[r], r * cols);
  }

  /** A scalar [depth, rows, cols] kernel output → out (contiguous). */
  private readScalar3d(result: unknown, depth: number, rows: number, cols: number, out: Float32Array): void {
    if (this.resident) {
      out.set(GpuEngine.raw(result).subarray(0, depth * rows * cols));
      return;
    }
    const planes = result as ArrayLike<ArrayLike<Float32Array>>;
    for (let z = 0; z < depth; z++) for (let r = 0; r < rows; r++) out.set(planes[z][r], (z * rows + r) * cols);
  }

  // -------------------------------------------------------------------------------------------------
  // Matmul

  /** out = A·B for every batch index (MatmulArgs: any strides); `times` accumulates the stage split. */
  matmul(p: MatmulArgs, times?: StageTimes): void {
    const out = p.out as Float32Array;
    const { batch, M, K, N } = p;
    if (batch === 0 || M === 0 || N === 0) return;
    if (K === 0) { out.fill(0, 0, batch * M * N); return; }

    let t = times ? performance.now() : 0;
    const pk = packMatmul(p);
    const a = this.upload3d(pk.a, pk.batchA, M, K);
    const b = this.upload3d(pk.b, pk.batchB, K, pk.N4);
    t = this.time(times, 'upload', t);

    const kernel = this.kernel(`matmul ${batch}x${M}x${K}x${N} a${pk.batchA} b${pk.batchB}`, src.matmulTile, {
      output: [pk.N4 / 4, M, batch],
      constants: { K, aBatched: pk.batchA === 1 ? 0 : 1, bBatched: pk.batchB === 1 ? 0 : 1 },
      loopMaxIterations: K,
    });
    const result = kernel(a, b);
    t = this.time(times, 'compute', t);

    this.readTiles(result, batch * M, N, pk.N4, out);
    this.release(a, b);
    this.trim();
    this.time(times, 'readback', t);
  }

  /** The matmul output ([N4/4, M, batch] of Array(4)) → out [batch·M, N], dropping the padding columns. */
  private readTiles(result: unknown, rows: number, N: number, N4: number, out: Float32Array): void {
    if (this.resident) {
      const raw = GpuEngine.raw(result); // texel p holds C[row][4x .. 4x+3]: raw is [rows, N4] row-major
      if (N === N4) out.set(raw.subarray(0, rows * N));
      else for (let r = 0; r < rows; r++) out.set(raw.subarray(r * N4, r * N4 + N), r * N);
      return;
    }
    const byBatch = result as ArrayLike<ArrayLike<ArrayLike<ArrayLike<number>>>>; // [batch][M][N4/4][4]
    const M = byBatch[0].length;
    for (let r = 0; r < rows; r++) {
      const tiles = byBatch[Math.floor(r / M)][r % M];
      const o = r * N;
      for (let x = 0; x * 4 < N; x++) {
        const v = tiles[x];
        const n = x * 4;
        out[o + n] = v[0];
        if (n + 1 < N) out[o + n + 1] = v[1];
        if (n + 2 < N) out[o + n + 2] = v[2];
        if (n + 3 < N) out[o + n + 3] = v[3];
      }
    }
  }

  // -------------------------------------------------------------------------------------------------
  // Softmax

  private rowConstants(cols: number): src.RowConstants {
    const chunk = Math.min(cols, SOFTMAX_CHUNK);
    return { cols, chunk, chunks: Math.ceil(cols / chunk) };
  }

  /** A row reduction's two kernels: per-block partials [chunks, rows], then the combine [rows]. */
  private rowReduce(name: string, partialSrc: (...a: never[]) => number, combineSrc: (...a: never[]) => number,
    rows: number, c: src.RowConstants): [IKernelRunShortcut, IKernelRunShortcut] {
    const shape = `${rows}x${c.cols}`;
    return [
      this.kernel(`${name} ${shape}`, partialSrc, { output: [c.chunks, rows], constants: c, loopMaxIterations: c.chunk }),
      this.kernel(`${combineSrc.name} ${shape}`, combineSrc, { output: [rows], constants: c, loopMaxIterations: c.chunks }),
    ];
  }

  /** The softmax kernel chain on a device operand x [rows, cols]; returns the device result. */
  private softmaxOnDevice(xd: DeviceArray, rows: number, cols: number): unknown {
    const c = this.rowConstants(cols);
    const [maxPartial, maxCombine] = this.rowReduce('rowMaxPartial', src.rowMaxPartial, src.rowMaxCombine, rows, c);
    const [sumPartial, sumCombine] = this.rowReduce('rowSumExpPartial', src.rowSumExpPartial, src.rowSumCombine, rows, c);
    const normalize = this.kernel(`softmaxNormalize ${rows}x${cols}`, src.softmaxNormalize, {
      output: [cols, rows], constants: c, optimizeFloatMemory: true,
    });
    // in the GL modes every intermediate below is a texture: nothing returns to the host
    const rowMax = maxCombine(maxPartial(xd));
    const rowSum = sumCombine(sumPartial(xd, rowMax));
    return normalize(xd, rowMax, rowSum);
  }

  softmax(x: Float32Array, rows: number, cols: number, out: Float32Array, times?: StageTimes): void {
    if (rows === 0 || cols === 0) return;
    let t = times ? performance.now() : 0;
    const xd = this.upload2d(x, rows, cols);
    t = this.time(times, 'upload', t);

    const y = this.softmaxOnDevice(xd, rows, cols);
    t = this.time(times, 'compute', t);

    this.readScalar2d(y, rows, cols, out);
    this.release(xd);
    this.trim();
    this.time(times, 'readback', t);
  }

  softmaxBackward(y: Float32Array, dy: Float32Array, rows: number, cols: number, dx: Float32Array, times?: StageTimes): void {
    if (rows === 0 || cols === 0) return;
    let t = times ? performance.now() : 0;
    const yd = this.upload2d(y, rows, cols);
    const dyd = this.upload2d(dy, rows, cols);
    t = this.time(times, 'upload', t);

    const c = this.rowConstants(cols);
    const [dotPartial, dotCombine] = this.rowReduce('rowDotPartial', src.rowDotPartial, src.rowSumCombine, rows, c);
    const apply = this.kernel(`softmaxBackwardApply ${rows}x${cols}`, src.softmaxBackwardApply, {
      output: [cols, rows], constants: c, optimizeFloatMemory: true,
    });
    const result = apply(yd, dyd, dotCombine(dotPartial(yd, dyd)));
    t = this.time(times, 'compute', t);

    this.readScalar2d(result, rows, cols, dx);
    this.release(yd, dyd);
    this.trim();
    this.time(times, 'readback', t);
  }

  // -------------------------------------------------------------------------------------------------
  // Attention: scores → softmax → weighted sum, one chain; in the GL modes only `out` and `probs` are read

  /** Needs D ≥ 1 (the backend gives D = 0 to ref). */
  attention(
    q: Float32Array, k: Float32Array, v: Float32Array, BH: number, T: number, D: number, scale: number, causal: boolean,
    out: Float32Array, probs: Float32Array, times?: StageTimes,
  ): void {
    if (BH === 0 || T === 0) return;
    let t = times ? performance.now() : 0;
    const qd = this.upload3d(q, BH, T, D), kd = this.upload3d(k, BH, T, D), vd = this.upload3d(v, BH, T, D);
    t = this.time(times, 'upload', t);

    const c: src.AttentionConstants = { T, D, scale, causal: causal ? 1 : 0 };
    const shape = `${BH}x${T}x${D} scale=${scale} causal=${c.causal}`;
    const scoresKernel = this.kernel(`attentionScores ${shape}`, src.attentionScores, {
      output: [T, BH * T], constants: c, loopMaxIterations: Math.max(D, 1), optimizeFloatMemory: true,
    });
    const valuesKernel = this.kernel(`attentionValues ${shape}`, src.attentionValues, {
      output: [D, T, BH], constants: c, loopMaxIterations: T, optimizeFloatMemory: true,
    });
    const p = this.softmaxOnDevice(scoresKernel(qd, kd), BH * T, T);
    const o = valuesKernel(p, vd);
    t = this.time(times, 'compute', t);

    this.readScalar2d(p, BH * T, T, probs);
    this.readScalar3d(o, BH, T, D, out);
    this.release(qd, kd, vd);
    this.trim();
    this.time(times, 'readback', t);
  }
}
