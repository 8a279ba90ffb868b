/**
 * matmul: C [M, N] = A [M, K] · B [K, N], float32, row-major. Square sizes 64..1024 and GPT-2's three
 * projections at B·T = 512: [512, 768]·[768, 2304] (qkv), [512, 768]·[768, 3072] (mlp up),
 * [512, 3072]·[3072, 768] (mlp down). Shape label MxKxN; flops 2·M·K·N. Validation: 512 sampled output
 * entries against float64 dot products.
 */
import { errorRatio, matmulGflops, randomArray, runCase, type Row, type Suite, type SuiteContext } from '../harness';

export const GPT2_SHAPES: [number, number, number][] = [[512, 768, 2304], [512, 768, 3072], [512, 3072, 768]];

export const matmulSuite: Suite = async (ctx: SuiteContext) => {
  const squares = ctx.options.quick ? [64, 256, 512] : [64, 128, 256, 512, 768, 1024];
  const shapes: [number, number, number][] = [...squares.map((s): [number, number, number] => [s, s, s]), ...GPT2_SHAPES];
  for (const [M, K, N] of shapes) {
    const a = randomArray(M * K, 1 + M), b = randomArray(K * N, 2 + N);
    const sample = sampleIndices(M * N);
    const want = (idx: number): number => dot(a, b, K, N, idx);
    // the scalar loops take seconds per run on the big cases: ref (≈ naive-js there) only up to 256³,
    // naive-js everywhere except in --quick
    const flops = 2 * M * K * N;
    const skip = (name: string): boolean => (name === 'ref' && flops > 4e7) || (name === 'naive-js' && ctx.options.quick && flops > 3e8);
    await runCase(ctx, {
      suite: 'matmul', shape: `${M}x${K}x${N}`, flops,
      prepare: (be) => (skip(be.name) ? undefined : be.matmul?.(a, b, M, K, N)),
      validate: (out) => errorRatio(out, want, sample, 1e-4, 1e-4 * Math.sqrt(K)),
    });
  }
  summary(ctx);
  await ceilingSuite(ctx);
};

/** `ceiling`: only the GPT-2 shapes against the FMA ceiling (also the end of `matmul`). */
export const ceilingSuite: Suite = async (ctx: SuiteContext) => {
  await versusCeiling(ctx, GPT2_SHAPES, ctx.options.quick ? 7 : 21);
};

/**
 * The GEMM against the machine's ceiling, measured alternately. The host lends its 2 vCPUs unevenly (the
 * same 2-thread probe measured 32 to 75 GFLOP/s seconds apart), so a median alone mixes the kernel with
 * the host. Each round times the backend's FMA probe (its microkernel on L1-resident panels, no packing or
 * misses: the best this kernel can do at that moment) for as many flops as the GEMM, then one GEMM; the
 * ratio of the two rates is the GEMM's efficiency in that round. Reported: medians of the GEMM rate, the
 * probe rate and the ratio.
 */
async function versusCeiling(ctx: SuiteContext, shapes: [number, number, number][], rounds: number): Promise<void> {
  const withPeak = ctx.backends.filter((b) => b.fmaPeak && b.matmul);
  if (withPeak.length === 0) return;
  console.log(`\nGEMM against the FMA ceiling measured alternately (${rounds} rounds; medians):`);
  for (const be of withPeak) {
    for (const [M, K, N] of shapes) {
      const shape = `${M}x${K}x${N}`, flops = 2 * M * K * N;
      const a = randomArray(M * K, 1 + M), b = randomArray(K * N, 2 + N);
      const p = be.matmul!(a, b, M, K, N);
      p.run();
      const out = await p.output();
      if (!(errorRatio(out, (i) => dot(a, b, K, N, i), sampleIndices(M * N), 1e-4, 1e-4 * Math.sqrt(K)) <= 1)) {
        console.log(`  ${be.name} ${shape} FAILED validation`);
        continue;
      }
      p.run(); be.fmaPeak!(flops); // warm both
      const gemm: number[] = [], peak: number[] = [], ratio: number[] = [];
      for (let r = 0; r < rounds; r++) {
        const t0 = performance.now();
        const done = be.fmaPeak!(flops);
        const t1 = performance.now();
        p.run();
        const t2 = performance.now();
        peak.push(done / ((t1 - t0) * 1e6));
        gemm.push(flops / ((t2 - t1) * 1e6));
        ratio.push(gemm[r] / peak[r]);
      }
      p.dispose?.();
      const g = median(gemm), pk = median(peak), eff = median(ratio);
      console.log(`  ${be.name.padEnd(7)} ${shape.padEnd(16)} GEMM ${g.toFixed(1)} GFLOP/s  ceiling ${pk.toFixed(1)} GFLOP/s  GEMM/ceiling ${(100 * eff).toFixed(0)}% (rounds ${(100 * Math.min(...ratio)).toFixed(0)}–${(100 * Math.max(...ratio)).toFixed(0)}%)`);
      ctx.record({ suite: 'matmul-ceiling', backend: be.name, shape, ms: flops / (g * 1e6), gflops: g, ceiling_gflops: pk, efficiency: eff, rounds });
    }
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)];
}

/** 512 output indices spread over [0, n) (a multiplicative hash), the entries validation checks. */
function sampleIndices(n: number): number[] {
  const sample: number[] = [];
  for (let i = 0; i < 512; i++) sample.push(Math.floor(((i * 2654435761) >>> 0) / 4294967296 * n));
  return sample;
}

/** Entry idx of A·B in float64 (A [·, K], B [K, N] row-major). */
function dot(a: Float32Array, b: Float32Array, K: number, N: number, idx: number): number {
  const m = Math.floor(idx / N), n = idx % N;
  let s = 0;
  for (let k = 0; k < K; k++) s += a[m * K + k] * b[k * N + n];
  return s;
}

/** Ratios on the GPT-2 shapes: cpu against each anchor measured in this run. */
function summary(ctx: SuiteContext): void {
  const rows = (ctx as SuiteContext & { rows?: Row[] }).rows;
  if (!rows) return;
  console.log('\nGPT-2 shapes, cpu GFLOP/s and ratios (same run):');
  for (const [M, K, N] of GPT2_SHAPES) {
    const shape = `${M}x${K}x${N}`;
    const g = (name: string) => rows.find((r) => r.shape === shape && r.backend === name && r.gflops !== null)?.gflops ?? null;
    const cpu = g('cpu');
    if (cpu === null) continue;
    const ratio = (name: string) => { const x = g(name); return x === null ? 'n/a' : `${(cpu / x).toFixed(2)}x`; };
    // the best sample: the kernel when nothing else held a core during it (the median is the headline)
    const best = rows.find((r) => r.shape === shape && r.backend === 'cpu')?.min_ms;
    const bestG = typeof best === 'number' ? matmulGflops(shape, best) : null;
    console.log(`  ${shape.padEnd(16)} cpu ${cpu.toFixed(1)} GFLOP/s (best sample ${bestG?.toFixed(1) ?? 'n/a'})  vs tfjs-wasm ${ratio('tfjs-wasm')}  vs onnxruntime ${ratio('onnxruntime')}  vs naive-js ${ratio('naive-js')}  (cpu:1t ${g('cpu:1t')?.toFixed(1) ?? 'n/a'})`);
  }
}
