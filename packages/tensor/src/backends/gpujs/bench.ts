/**
 * Timing for the gpujs backend, per gpu.js mode: the matmul and softmax suites, each call split into
 * upload (packing + copy to the device), compute (the kernels, finished) and readback. Every case is
 * validated against `ref` before it is timed; a mode that does not load here is reported, never silently
 * replaced by another.
 *
 * For bench/ (plugin) or standalone:
 *   node packages/tensor/dist/backends/gpujs/bench.js [modes] [--quick]
 *   xvfb-run -a node packages/tensor/dist/backends/gpujs/bench.js headlessgl,webasm,cpu
 */
import type { MatmulArgs } from '../../kernels';
import { refKernels } from '../ref';
import { createGpujsBackend, type GpujsBackend } from './backend';
import { emptyTimes, type StageTimes } from './engine';
import { GPU_MODES, probeGpuMode, type GpuMode } from './modes';

export interface StageSplit {
  uploadMs: number;
  computeMs: number;
  readbackMs: number;
  totalMs: number;
}

export interface GpujsBenchResult extends StageSplit {
  suite: 'matmul' | 'softmax' | 'softmaxBackward';
  mode: GpuMode;
  shape: string;
  reps: number;
  /** First call: kernel compilation (and GL program link) plus one run. */
  firstCallMs: number;
  /** matmul: 2·batch·M·N·K over the compute stage, and over the whole call. */
  computeGflops?: number;
  totalGflops?: number;
  /** max |gpujs − ref| on this case (checked before timing). */
  maxDiff: number;
}

export interface BenchOptions {
  /** Untimed calls after the first (JIT / wasm tier-up settle; the first call is reported separately). */
  warmup?: number;
  reps?: number;
  /** Stop repeating once this many milliseconds were spent (after at least 1 rep). */
  budgetMs?: number;
}

export interface MatmulShape { batch: number; M: number; K: number; N: number }
export interface RowShape { rows: number; cols: number }

function fill(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0; // LCG: deterministic, no dependency
    a[i] = s / 2 ** 31 - 1;
  }
  return a;
}

/** max |x − y|, NaN in both counting as equal and NaN against a number as Infinity. */
function maxDiff(x: Float32Array, y: Float32Array): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) {
    const a = x[i], b = y[i];
    if (Number.isNaN(a) || Number.isNaN(b)) {
      if (Number.isNaN(a) !== Number.isNaN(b)) return Infinity;
      continue;
    }
    m = Math.max(m, Math.abs(a - b));
  }
  return m;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

/** Run `call` (which fills `times`) repeatedly; median of each stage. */
function timeStages(call: (t: StageTimes) => void, opts: BenchOptions): { split: StageSplit; reps: number } {
  const reps = opts.reps ?? 9, budget = opts.budgetMs ?? 4000;
  const up: number[] = [], co: number[] = [], rb: number[] = [], tot: number[] = [];
  for (let i = 0; i < (opts.warmup ?? 3); i++) call(emptyTimes());
  const start = performance.now();
  for (let i = 0; i < reps; i++) {
    const t = emptyTimes();
    const t0 = performance.now();
    call(t);
    tot.push(performance.now() - t0);
    up.push(t.upload); co.push(t.compute); rb.push(t.readback);
    if (performance.now() - start > budget) break;
  }
  return {
    split: { uploadMs: median(up), computeMs: median(co), readbackMs: median(rb), totalMs: median(tot) },
    reps: tot.length,
  };
}

function contiguousArgs(s: MatmulShape, out: Float32Array): MatmulArgs {
  const { batch, M, K, N } = s;
  return {
    batch, M, K, N,
    a: fill(batch * M * K, 1), aOffsets: Int32Array.from({ length: batch }, (_, i) => i * M * K), aRowStride: K, aColStride: 1,
    b: fill(batch * K * N, 2), bOffsets: Int32Array.from({ length: batch }, (_, i) => i * K * N), bRowStride: N, bColStride: 1,
    out,
  };
}

export function benchMatmul(be: GpujsBackend, s: MatmulShape, opts: BenchOptions = {}): GpujsBenchResult {
  const n = s.batch * s.M * s.N;
  const expected = new Float32Array(n), got = new Float32Array(n);
  const args = contiguousArgs(s, expected);
  refKernels.matmul(args);
  const t0 = performance.now();
  be.engine.matmul({ ...args, out: got });
  const firstCallMs = performance.now() - t0;
  const diff = maxDiff(got, expected);
  const { split, reps } = timeStages((t) => be.engine.matmul({ ...args, out: got }, t), opts);
  const flop = 2 * s.batch * s.M * s.N * s.K;
  return {
    suite: 'matmul', mode: be.engine.mode, shape: `${s.batch}x${s.M}x${s.K}x${s.N}`, reps, firstCallMs, maxDiff: diff, ...split,
    computeGflops: flop / (split.computeMs * 1e6), totalGflops: flop / (split.totalMs * 1e6),
  };
}

export function benchSoftmax(be: GpujsBackend, s: RowShape, opts: BenchOptions = {}): GpujsBenchResult[] {
  const n = s.rows * s.cols;
  const x = fill(n, 3).map((v) => v * 8);
  const expected = new Float32Array(n), got = new Float32Array(n);
  refKernels.softmax(x, s.rows, s.cols, expected);
  let t0 = performance.now();
  be.engine.softmax(x, s.rows, s.cols, got);
  const firstFwd = performance.now() - t0;
  const fwdDiff = maxDiff(got, expected);
  const fwd = timeStages((t) => be.engine.softmax(x, s.rows, s.cols, got, t), opts);

  const dy = fill(n, 4);
  const dxRef = new Float32Array(n), dx = new Float32Array(n);
  refKernels.softmaxBackward(expected, dy, s.rows, s.cols, dxRef);
  t0 = performance.now();
  be.engine.softmaxBackward(expected, dy, s.rows, s.cols, dx);
  const firstBwd = performance.now() - t0;
  const bwdDiff = maxDiff(dx, dxRef);
  const bwd = timeStages((t) => be.engine.softmaxBackward(expected, dy, s.rows, s.cols, dx, t), opts);
  const shape = `${s.rows}x${s.cols}`;
  return [
    { suite: 'softmax', mode: be.engine.mode, shape, reps: fwd.reps, firstCallMs: firstFwd, maxDiff: fwdDiff, ...fwd.split },
    { suite: 'softmaxBackward', mode: be.engine.mode, shape, reps: bwd.reps, firstCallMs: firstBwd, maxDiff: bwdDiff, ...bwd.split },
  ];
}

export const MATMUL_SIZES: MatmulShape[] = [
  { batch: 1, M: 64, K: 64, N: 64 },
  { batch: 1, M: 128, K: 128, N: 128 },
  { batch: 1, M: 256, K: 256, N: 256 },
  { batch: 12, M: 64, K: 64, N: 64 }, // attention-sized batch (GPT-2 small: 12 heads, head size 64)
  { batch: 1, M: 64, K: 768, N: 768 }, // a GPT-2 small projection at T = 64
];

export const SOFTMAX_SIZES: RowShape[] = [
  { rows: 768, cols: 64 }, // attention rows: 12 heads × T = 64
  { rows: 64, cols: 1024 },
  { rows: 4, cols: 50257 }, // GPT-2 vocabulary
];

export interface ModeReport {
  mode: GpuMode;
  /** Why the mode was not benchmarked ('' when it was). */
  skipped: string;
  results: GpujsBenchResult[];
}

/** Both suites in each requested mode that loads here (no fallback: an unavailable mode is reported). */
export async function benchGpujs(modes: readonly GpuMode[] = GPU_MODES, opts: BenchOptions & {
  matmul?: MatmulShape[]; softmax?: RowShape[];
} = {}): Promise<ModeReport[]> {
  const reports: ModeReport[] = [];
  for (const mode of modes) {
    const p = probeGpuMode(mode);
    if (!p.available) { reports.push({ mode, skipped: p.reason, results: [] }); continue; }
    const be = createGpujsBackend({ mode });
    const results: GpujsBenchResult[] = [];
    for (const s of opts.matmul ?? MATMUL_SIZES) results.push(benchMatmul(be, s, opts));
    for (const s of opts.softmax ?? SOFTMAX_SIZES) results.push(...benchSoftmax(be, s, opts));
    await be.engine.destroy();
    reports.push({ mode, skipped: '', results });
  }
  return reports;
}

export function formatReports(reports: ModeReport[]): string {
  const f = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
  const lines = ['mode        suite            shape            upload ms  compute ms  readback ms  total ms  GFLOP/s(compute/total)  first call ms  max|Δ| vs ref'];
  for (const r of reports) {
    if (r.skipped) { lines.push(`${r.mode.padEnd(11)} skipped: ${r.skipped}`); continue; }
    for (const x of r.results) {
      const gf = x.computeGflops !== undefined ? `${x.computeGflops.toFixed(2)} / ${x.totalGflops!.toFixed(2)}` : '';
      lines.push([
        x.mode.padEnd(11), x.suite.padEnd(16), x.shape.padEnd(16), f(x.uploadMs).padStart(9), f(x.computeMs).padStart(11),
        f(x.readbackMs).padStart(12), f(x.totalMs).padStart(9), gf.padStart(23), f(x.firstCallMs).padStart(14),
        x.maxDiff.toExponential(1).padStart(14),
      ].join(' '));
    }
  }
  return lines.join('\n');
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<void> {
  const quick = argv.includes('--quick');
  const list = argv.find((a) => !a.startsWith('--'));
  const modes = (list ? list.split(',') : ['headlessgl', 'webasm', 'cpu', 'webgpu', 'webgl2']) as GpuMode[];
  const opts = quick
    ? { reps: 3, budgetMs: 1500, matmul: MATMUL_SIZES.slice(0, 2), softmax: SOFTMAX_SIZES.slice(0, 1) }
    : { reps: 9, budgetMs: 6000 };
  console.log(formatReports(await benchGpujs(modes, opts)));
}

if (require.main === module) void main();
