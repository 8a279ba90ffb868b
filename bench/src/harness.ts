/**
 * Shared machinery of the suites: timing with benchmark.js, validation before timing, one printed line
 * and one JSON line per case.
 */
import * as fs from 'fs';
import * as os from 'os';
import Benchmark from 'benchmark';
import type { BenchBackend, Prepared } from './backends';

export interface Options {
  quick: boolean;
  json: string | null;
  /** Only these backends (by name), or all. */
  only: string[] | null;
}

export interface Row {
  suite: string;
  backend: string;
  shape: string;
  ms: number; // median time of one run
  gflops: number | null;
  [extra: string]: string | number | null | boolean;
}

export interface SuiteContext {
  backends: BenchBackend[]; // initialized and available
  options: Options;
  record(row: Row): void;
}

export type Suite = (ctx: SuiteContext) => Promise<void>;

/** Deterministic pseudo-random floats in [-1, 1) (a 32-bit LCG), so every backend sees the same data. */
export function randomArray(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 2147483648 - 1;
  }
  return a;
}

/** Max |got − want| / (atol + rtol·|want|) over the checked indices; ≤ 1 passes. NaN fails. */
export function errorRatio(got: Float32Array, want: (i: number) => number, indices: Iterable<number>, rtol: number, atol: number): number {
  let worst = 0;
  for (const i of indices) {
    const w = want(i), g = got[i];
    const r = Math.abs(g - w) / (atol + rtol * Math.abs(w));
    if (!(r <= worst)) worst = Number.isNaN(r) ? Infinity : r;
  }
  return worst;
}

/** GFLOP/s of an `MxKxN` matmul (2·M·K·N flops) that took `ms`. */
export function matmulGflops(shape: string, ms: number): number {
  const [M, K, N] = shape.split('x').map(Number);
  return (2 * M * K * N) / (ms * 1e6);
}

export function range(n: number): Iterable<number> {
  return { *[Symbol.iterator]() { for (let i = 0; i < n; i++) yield i; } };
}

/** Time `p.run` with benchmark.js; returns the median (reported as ms), min and mean of the samples in ms. */
export async function measure(p: Prepared, quick: boolean, isAsync: boolean, slow: boolean): Promise<{ ms: number; min: number; mean: number; rme: number; samples: number }> {
  const bench = new Benchmark({
    defer: isAsync,
    fn: isAsync
      ? (deferred: { resolve(): void }) => { (p.run() as Promise<void>).then(() => deferred.resolve()); }
      : () => { p.run(); },
    minSamples: slow ? 2 : quick ? 5 : 10,
    maxTime: slow ? 0.5 : quick ? 1 : 3,
    initCount: 1,
  } as Benchmark.Options);
  await new Promise<void>((resolve, reject) => {
    bench.on('complete', () => resolve());
    bench.on('error', () => reject(bench.error));
    bench.run({ async: isAsync });
  });
  if (bench.error) throw bench.error;
  const sample = [...bench.stats.sample].sort((x, y) => x - y);
  const median = sample[Math.floor(sample.length / 2)];
  return { ms: median * 1e3, min: sample[0] * 1e3, mean: bench.stats.mean * 1e3, rme: bench.stats.rme, samples: sample.length };
}

export interface CaseSpec {
  suite: string;
  shape: string;
  flops: number | null;
  /** Build the case on a backend, or undefined when it lacks the op. */
  prepare(b: BenchBackend): Prepared | undefined;
  /** Error ratio of an output against the float64 reference (≤ 1 passes). */
  validate(out: Float32Array): number;
}

/** Validate then time one case on every backend; print and record one row per backend. */
export async function runCase(ctx: SuiteContext, spec: CaseSpec): Promise<void> {
  for (const b of ctx.backends) {
    const p = spec.prepare(b);
    if (p === undefined) continue;
    const base = { suite: spec.suite, backend: b.name, shape: spec.shape };
    try {
      const t0 = performance.now();
      const first = p.run();
      const isAsync = first instanceof Promise;
      if (isAsync) await first;
      const once = performance.now() - t0;
      const err = spec.validate(await p.output());
      if (!(err <= 1)) {
        console.log(`${pad(spec.suite, 10)} ${pad(b.name, 12)} ${pad(spec.shape, 18)} FAILED validation (error ratio ${err.toExponential(2)})`);
        ctx.record({ ...base, ms: NaN, gflops: null, valid: false, error: err });
        continue;
      }
      const t = await measure(p, ctx.options.quick, isAsync, once > 400);
      const gflops = spec.flops === null ? null : spec.flops / (t.ms * 1e6);
      const phases = p.phases?.() ?? {};
      const extra = Object.entries(phases).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(' ');
      console.log(
        `${pad(spec.suite, 10)} ${pad(b.name, 12)} ${pad(spec.shape, 18)} ${t.ms.toFixed(3).padStart(10)} ms ` +
        `${gflops === null ? '' : `${gflops.toFixed(2).padStart(8)} GFLOP/s`}${extra ? `  (${extra})` : ''}`,
      );
      ctx.record({ ...base, ms: t.ms, gflops, min_ms: t.min, mean_ms: t.mean, rme: t.rme, samples: t.samples, valid: true, error: err, ...phases });
    } catch (e) {
      console.log(`${pad(spec.suite, 10)} ${pad(b.name, 12)} ${pad(spec.shape, 18)} ERROR ${(e as Error).message}`);
    } finally {
      p.dispose?.();
    }
  }
}

function pad(s: string, n: number): string {
  return s.padEnd(n);
}

/** Reporter: keeps rows, appends JSON lines to the --json file. */
export function reporter(options: Options): { record(row: Row): void; rows: Row[] } {
  const rows: Row[] = [];
  if (options.json) fs.writeFileSync(options.json, '');
  return {
    rows,
    record(row: Row) {
      rows.push(row);
      const load1 = Number(os.loadavg()[0].toFixed(2)); // other processes share the 2 cores: keep the context
      if (options.json) fs.appendFileSync(options.json, JSON.stringify({ ...row, load1, time: new Date().toISOString() }) + '\n');
    },
  };
}
