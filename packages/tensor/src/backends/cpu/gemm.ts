/**
 * GEMM driver: C[b] [M, N] = A[b] [M, K] · B[b] [K, N] for every batch b.
 *
 * 1. Fold: a batch of A matrices stacked at a regular row step against one shared B (x·W over [B, T, C])
 *    becomes a single GEMM with M·batch rows.
 * 2. Pack from the strided JS operands into the wasm memory (so a transposed or broadcast operand costs
 *    nothing extra): a memcpy of the span the operand covers, then `pack_unit` (in wasm, threaded)
 *    lays A out in MR-row panels and B in NR-column panels, both cut into KC-deep blocks and zero-padded
 *    to whole panels (layout in gemm-wasm.ts). A B (or A) shared by several batch entries is packed
 *    once. (Reading a row-major B in place instead, from a copy with a conflict-free padded row stride,
 *    saves the B pack but measured ~15% slower overall: every k step of a panel lands on another 4 KiB
 *    page, and the dTLB misses cost more than packing.)
 *    Staging and packing are pipelined: workers pack what is staged while the main thread stages the
 *    next chunk (a row-major A 8 panels of rows at a time, a row-major B one KC block at a time).
 * 3. Run `gemm_unit` over (batch, MC-block, NC-block) units, across threads when the product is large
 *    (optionally skipping a causal zero triangle, see `Causal`).
 * 4. Copy C out, row band by row band as bands complete (overlapping the remaining units).
 *
 * `gemmTS` is the plain-TypeScript path (no WebAssembly SIMD): A copied row-major and B transposed, then
 * 4×4 tiles of scalar accumulators.
 */
import type { FloatArray, MatmulArgs } from '../../kernels';
import { runPipelined, type Engine } from './engine';
import { Causal, GD, PD, PK, PACK_GROUP, PackOrder } from './gemm-wasm';

export interface Blocking {
  MC: number; // rows of A per unit (a multiple of MR)
  NC: number; // columns of B per unit (a multiple of NR)
  KC: number; // depth of one packed block
  /** Products below this many flops stay on one thread (waking workers costs tens of µs). */
  parallelFlops: number;
}

export const DEFAULT_BLOCKING: Blocking = { MC: 96, NC: 256, KC: 384, parallelFlops: 4e6 };

/** When set, gemmInto adds the milliseconds of each phase here (stage, pack, compute, copyout): for tuning. */
export const gemmProfile: { on: boolean; ms: Record<string, number> } = { on: false, ms: {} };
function phase(name: string, t0: number): number {
  const t = performance.now();
  gemmProfile.ms[name] = (gemmProfile.ms[name] ?? 0) + t - t0;
  return t;
}

/** The operands of one GEMM without its output (a MatmulArgs minus `out`). */
export type GemmOperands = Omit<MatmulArgs, 'out'>;

/** A MatmulArgs whose batch of A matrices is one taller matrix (same B for all), else null. */
function fold(p: GemmOperands): GemmOperands | null {
  const { batch, M } = p;
  if (batch === 1) return null;
  for (let b = 1; b < batch; b++) {
    if (p.bOffsets[b] !== p.bOffsets[0]) return null;
    if (p.aOffsets[b] !== p.aOffsets[0] + b * M * p.aRowStride) return null;
  }
  return { ...p, batch: 1, M: M * batch, aOffsets: p.aOffsets.subarray(0, 1), bOffsets: p.bOffsets.subarray(0, 1) };
}

/**
 * Compute the GEMM into fresh arena memory and return the byte address of C (contiguous [batch, M, N]).
 * The caller owns the arena mark: C stays valid until it resets. With `out`, C is also copied there:
 * each row band as soon as it is complete, by the main thread between its own units, so the copy
 * overlaps the other threads' compute instead of following it.
 */
export function gemmInto(engine: Engine, p0: GemmOperands, blk: Blocking, out?: FloatArray, causal: number = Causal.NONE): number {
  const p = causal === Causal.NONE ? fold(p0) ?? p0 : p0;
  const { batch, M, N, K } = p;
  const { MR, NR } = engine.options.gemm;
  const c = engine.alloc(batch * M * N * 4);
  if (batch * M * N === 0) return c;
  if (K === 0) {
    engine.f32.fill(0, c >> 2, (c >> 2) + batch * M * N);
    out?.fill(0);
    return c;
  }
  const Mpad = Math.ceil(M / MR) * MR, Npad = Math.ceil(N / NR) * NR;
  const KC = Math.min(blk.KC, K);
  let MC = Math.min(blk.MC, Mpad), NC = Math.min(blk.NC, Npad);
  // few, large units (small M·N, long K: a weight gradient Xᵀ·dY) balance badly over the threads: halve
  // the blocks until there are ~4 units per thread. (Blocking never changes a result: every element is
  // the same k-ordered sum whichever unit computes it.)
  const units = (): number => batch * Math.ceil(M / MC) * Math.ceil(N / NC);
  while (units() < 4 * engine.threads && MC > 2 * MR) MC = Math.max(2 * MR, Math.ceil(MC / 2 / MR) * MR);
  while (units() < 4 * engine.threads && NC > 2 * NR) NC = Math.max(2 * NR, Math.ceil(NC / 2 / NR) * NR);
  // pack each distinct operand matrix once
  const aPacks = new Map<number, number>(), bPacks = new Map<number, number>();
  const table = engine.alloc(batch * 12);
  for (let b = 0; b < batch; b++) {
    const ao = p.aOffsets[b], bo = p.bOffsets[b];
    if (!aPacks.has(ao)) aPacks.set(ao, engine.alloc(Mpad * K * 4));
    if (!bPacks.has(bo)) bPacks.set(bo, engine.alloc(Npad * K * 4));
  }
  const scratch = engine.alloc(engine.threads * MR * NR * 4);
  const desc = engine.alloc(GD.size * 4);
  const packDesc = engine.alloc(2 * PD.size * 4);
  const aSide = { src: p.a as Float32Array, packs: aPacks, laneStride: p.aRowStride, depthStride: p.aColStride, R: M, PR: MR, Rpad: Mpad };
  const bSide = { src: p.b as Float32Array, packs: bPacks, laneStride: p.bColStride, depthStride: p.bRowStride, R: N, PR: NR, Rpad: Npad };
  let t = gemmProfile.on ? performance.now() : 0;
  const packA = preparePack(engine, aSide, K, KC, packDesc);
  const packB = preparePack(engine, bSide, K, KC, packDesc + PD.size * 4);
  const unitsA = packA.units, unitsB = packB.units;
  const i32 = engine.i32; // after the last alloc: views cover the grown memory
  i32[(packDesc >> 2) + PD.units] = unitsA;
  if (gemmProfile.on) t = phase('stage', t);
  // pipelined: units 0… pack A, then B; the main thread stages chunk after chunk while the workers pack
  // the chunks already there
  const stage = (u: number): void => {
    const [job, v] = u < unitsA ? [packA, u] : [packB, u - unitsA];
    if (v % job.unitsPerChunk === 0) job.stage(v / job.unitsPerChunk);
  };
  if (unitsA + unitsB > 0) runPipelined(engine, 'pack_unit', packDesc, unitsA + unitsB, (M + N) * K >= PARALLEL_PACK, stage, () => {});
  if (gemmProfile.on) t = phase('pack', t);
  for (let b = 0; b < batch; b++) {
    i32[(table >> 2) + 3 * b] = aPacks.get(p.aOffsets[b])!;
    i32[(table >> 2) + 3 * b + 1] = bPacks.get(p.bOffsets[b])!;
    i32[(table >> 2) + 3 * b + 2] = c + b * M * N * 4;
  }
  const nbM = Math.ceil(M / MC), nbN = Math.ceil(N / NC);
  const parallel = 2 * batch * M * N * K >= blk.parallelFlops;
  const nBands = batch * nbM;
  const bands = out && parallel ? engine.alloc(nBands * 4) : 0;
  const f32 = engine.f32, i32b = engine.i32; // views after the last alloc
  if (bands) i32b.fill(0, bands >> 2, (bands >> 2) + nBands);
  const d = desc >> 2;
  i32[d + GD.M] = M; i32[d + GD.N] = N; i32[d + GD.K] = K;
  i32[d + GD.KC] = KC; i32[d + GD.MC] = MC; i32[d + GD.NC] = NC;
  i32[d + GD.nbM] = nbM; i32[d + GD.nbN] = nbN;
  i32[d + GD.table] = table; i32[d + GD.scratch] = scratch;
  i32[d + GD.Mpad] = Mpad; i32[d + GD.Npad] = Npad;
  i32[d + GD.bands] = bands; i32[d + GD.causal] = causal;
  // band b = (batch bi, rows ib·MC…) is one contiguous stretch of C and of out; the main thread copies
  // each band out as soon as all its units are done, between its own units (units run band by band)
  let copied = 0;
  const copyBand = (b: number): void => {
    const m0 = (b % nbM) * MC, rows = Math.min(MC, M - m0);
    const start = Math.floor(b / nbM) * M * N + m0 * N;
    out!.set(f32.subarray((c >> 2) + start, (c >> 2) + start + rows * N), start);
  };
  const idle = (): boolean => {
    if (copied === nBands || Atomics.load(i32b, (bands >> 2) + copied) < nbN) return false;
    copyBand(copied++);
    return true;
  };
  engine.run('gemm_unit', desc, batch * nbM * nbN, parallel, bands ? idle : undefined);
  if (gemmProfile.on) t = phase('compute', t);
  if (out) {
    if (copied === 0) out.set(f32.subarray(c >> 2, (c >> 2) + batch * M * N));
    else while (copied < nBands) copyBand(copied++);
    if (gemmProfile.on) phase('copyout', t);
  }
  return c;
}

/** Views spanning more than this many times their elements are packed from JS instead of staged. */
const SPAN_RATIO = 8;

/** Packing work (in floats) above which it is shared across threads. */
const PARALLEL_PACK = 1 << 17;

interface PackSide {
  src: Float32Array;
  packs: Map<number, number>; // element offset of each distinct matrix -> byte address of its pack
  laneStride: number; // between A's rows / B's columns
  depthStride: number; // along k
  R: number; // lanes: M for A, N for B
  PR: number; // lanes per panel: MR or NR
  Rpad: number;
}

/** One operand's share of the pipelined pack job. */
interface PackJob {
  units: number; // pack units (0: packed from JS already)
  /** Units per staging chunk: unit u can be packed once chunk ⌊u / unitsPerChunk⌋ is staged. */
  unitsPerChunk: number;
  /** Copy chunk c of the operand into its staging area (memcpy). */
  stage(c: number): void;
}

/**
 * Prepare one operand for `pack_unit`: reserve a staging copy of the span of storage its matrices cover
 * (strides and transposition are handled by the wasm packer; the copy itself is made chunk by chunk
 * during the job, see PackJob.stage) and write its packing descriptor. A view whose span is much larger
 * than its elements (a thin slice of a big tensor) is packed directly from JS instead and needs no units.
 */
function preparePack(engine: Engine, side: PackSide, K: number, KC: number, desc: number): PackJob {
  const { src, packs, laneStride, depthStride, R, PR, Rpad } = side;
  let lo = Infinity, hi = -Infinity;
  for (const off of packs.keys()) {
    lo = Math.min(lo, off);
    hi = Math.max(hi, off + (R - 1) * laneStride + (K - 1) * depthStride);
  }
  const span = hi - lo + 1;
  // Staging copies the whole span with one memcpy (~0.3 ns a float here) where the JS packer moves
  // float by float (~3 ns): a view over up to SPAN_RATIO times its elements is still cheaper to stage,
  // e.g. one head of q, k or v narrowed from a fused qkv projection (span 3×).
  if (laneStride < 0 || depthStride < 0 || span > SPAN_RATIO * R * K * packs.size + 4096) {
    const f32 = (): Float32Array => engine.f32;
    for (const [off, at] of packs) packPanels(src, off, laneStride, depthStride, R, K, KC, PR, f32(), at >> 2);
    return { units: 0, unitsPerChunk: 1, stage: () => {} };
  }
  const staged = engine.alloc(span * 4);
  const tbl = engine.alloc(packs.size * 8);
  const f32 = engine.f32, i32 = engine.i32;
  let i = 0;
  for (const [off, at] of packs) {
    i32[(tbl >> 2) + 2 * i] = off - lo;
    i32[(tbl >> 2) + 2 * i + 1] = at;
    i++;
  }
  const panels = Rpad / PR, kBlocks = Math.ceil(K / KC), groups = Math.ceil(panels / PACK_GROUP);
  // Staging in chunks lets the workers pack chunk c while the main thread copies chunk c + 1. For a
  // single matrix whose depth steps are whole rows (a row-major B), a chunk is one KC block: staged
  // span [c·KC·ds, (c + 1)·KC·ds). Whose lanes are whole rows (a row-major A), a chunk is one group of
  // PACK_GROUP panels: span [c·G·PR·ls, (c + 1)·G·PR·ls). Else the whole span at once.
  const byBlock = packs.size === 1 && laneStride === 1 && depthStride >= R && kBlocks > 1;
  const byGroup = !byBlock && packs.size === 1 && depthStride === 1 && laneStride >= K && groups > 1;
  const chunkFloats = byBlock ? KC * depthStride : byGroup ? PACK_GROUP * PR * laneStride : span;
  const d = desc >> 2;
  i32[d + PD.base] = staged >> 2; i32[d + PD.laneStride] = laneStride; i32[d + PD.depthStride] = depthStride;
  i32[d + PD.R] = R; i32[d + PD.K] = K; i32[d + PD.KC] = KC; i32[d + PD.Rpad] = Rpad;
  i32[d + PD.panels] = panels; i32[d + PD.kBlocks] = kBlocks; i32[d + PD.count] = packs.size; i32[d + PD.table] = tbl;
  i32[d + PD.order] = byGroup ? PackOrder.GROUP_MAJOR : PackOrder.BLOCK_MAJOR;
  const units = packs.size * groups * kBlocks;
  return {
    units,
    unitsPerChunk: byBlock ? groups : byGroup ? kBlocks : units,
    stage(c: number) {
      const from = c * chunkFloats, to = Math.min(span, from + chunkFloats);
      f32.set(src.subarray(lo + from, lo + to), (staged >> 2) + from);
    },
  };
}

/** The `matmul` kernel on the wasm path. */
export function gemmWasm(engine: Engine, p: MatmulArgs, blk: Blocking): void {
  const mark = engine.mark();
  try {
    gemmInto(engine, p, blk, p.out);
  } finally {
    engine.reset(mark);
  }
}

/**
 * Run the FMA-ceiling probe (`peak_unit`): `units` units of `reps` microkernel calls at depth `kc`, on
 * every thread when `parallel`. Returns the flops done; the caller times it. 2·MR·NR·kc·reps flops a
 * unit, on tiles of small normal numbers (no subnormal or overflow ever appears).
 */
export function fmaPeak(engine: Engine, { units = 32, reps = 200, kc = 256, parallel = true } = {}): number {
  const { MR, NR } = engine.options.gemm;
  const mark = engine.mark();
  try {
    const tileFloats = (MR + NR) * kc + MR * NR;
    const stride = Math.ceil((tileFloats * 4) / 4096) * 4096 + 256; // a page apart, off 4 KiB aliasing
    const base = engine.alloc(engine.threads * stride);
    const desc = engine.alloc(PK.size * 4);
    const f32 = engine.f32, i32 = engine.i32;
    for (let t = 0; t < engine.threads; t++) {
      const at = (base + t * stride) >> 2;
      for (let i = 0; i < tileFloats; i++) f32[at + i] = i < (MR + NR) * kc ? ((i % 7) - 3) * 1e-3 : 0;
    }
    const d = desc >> 2;
    i32[d + PK.base] = base; i32[d + PK.stride] = stride; i32[d + PK.kc] = kc; i32[d + PK.reps] = reps;
    engine.run('peak_unit', desc, units, parallel);
    return 2 * MR * NR * kc * reps * units;
  } finally {
    engine.reset(mark);
  }
}

const FLT_MIN = 1.1754943508222875e-38;

/**
 * JS packer for views the staging copy would not suit: element (lane r, depth k) at src[off + r·ls + k·ds]
 * goes to dst[at + pc·Rpad + p·PR·kc + k·PR + r'] for lane r = p·PR + r' (zero past R), as pack_unit.
 */
export function packPanels(
  src: Float32Array, off: number, ls: number, ds: number, R: number, K: number, KC: number, PR: number,
  dst: Float32Array, at: number,
): void {
  let d = at;
  for (let pc = 0; pc < K; pc += KC) {
    const kc = Math.min(KC, K - pc);
    for (let r0 = 0; r0 < R; r0 += PR) {
      const lanes = Math.min(PR, R - r0);
      for (let k = 0; k < kc; k++) {
        let s = off + r0 * ls + (pc + k) * ds;
        for (let r = 0; r < lanes; r++, s += ls) {
          const x = src[s];
          dst[d++] = x > -FLT_MIN && x < FLT_MIN ? 0 : x; // subnormals flushed, as pack_unit does
        }
        for (let r = lanes; r < PR; r++) dst[d++] = 0;
      }
    }
  }
}

// -------------------------------------------------------------------------------------------------
// Plain TypeScript GEMM (FPT_SIMD=off, or no WebAssembly SIMD)

/**
 * Same contract as the wasm path. A is copied row-major and B transposed (so both are read along k
 * contiguously), then 4×4 output tiles are computed with 16 scalar accumulators (JS doubles, rounded to
 * float32 once on store).
 */
export function gemmTS(p: MatmulArgs): void {
  const { batch, M, N, K, out } = p;
  const A = new Float32Array(M * K), Bt = new Float32Array(N * K);
  let lastA = -1, lastB = -1;
  for (let bi = 0; bi < batch; bi++) {
    if (p.aOffsets[bi] !== lastA) {
      lastA = p.aOffsets[bi];
      for (let m = 0; m < M; m++) for (let k = 0; k < K; k++) A[m * K + k] = p.a[lastA + m * p.aRowStride + k * p.aColStride];
    }
    if (p.bOffsets[bi] !== lastB) {
      lastB = p.bOffsets[bi];
      for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) Bt[n * K + k] = p.b[lastB + k * p.bRowStride + n * p.bColStride];
    }
    const o = bi * M * N;
    for (let m0 = 0; m0 < M; m0 += 4) {
      for (let n0 = 0; n0 < N; n0 += 4) {
        if (m0 + 4 <= M && n0 + 4 <= N) tile4x4(A, Bt, K, m0, n0, out, o, N);
        else {
          for (let m = m0; m < Math.min(M, m0 + 4); m++) {
            for (let n = n0; n < Math.min(N, n0 + 4); n++) {
              let acc = 0;
              for (let k = 0; k < K; k++) acc += A[m * K + k] * Bt[n * K + k];
              out[o + m * N + n] = acc;
            }
          }
        }
      }
    }
  }
}

function tile4x4(A: Float32Array, Bt: Float32Array, K: number, m0: number, n0: number, out: MatmulArgs['out'], o: number, N: number): void {
  const a0 = m0 * K, a1 = a0 + K, a2 = a1 + K, a3 = a2 + K;
  const b0 = n0 * K, b1 = b0 + K, b2 = b1 + K, b3 = b2 + K;
  let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
  let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
  for (let k = 0; k < K; k++) {
    const x0 = A[a0 + k], x1 = A[a1 + k], x2 = A[a2 + k], x3 = A[a3 + k];
    const y0 = Bt[b0 + k], y1 = Bt[b1 + k], y2 = Bt[b2 + k], y3 = Bt[b3 + k];
    c00 += x0 * y0; c01 += x0 * y1; c02 += x0 * y2; c03 += x0 * y3;
    c10 += x1 * y0; c11 += x1 * y1; c12 += x1 * y2; c13 += x1 * y3;
    c20 += x2 * y0; c21 += x2 * y1; c22 += x2 * y2; c23 += x2 * y3;
    c30 += x3 * y0; c31 += x3 * y1; c32 += x3 * y2; c33 += x3 * y3;
  }
  let r = o + m0 * N + n0;
  out[r] = c00; out[r + 1] = c01; out[r + 2] = c02; out[r + 3] = c03; r += N;
  out[r] = c10; out[r + 1] = c11; out[r + 2] = c12; out[r + 3] = c13; r += N;
  out[r] = c20; out[r + 1] = c21; out[r + 2] = c22; out[r + 3] = c23; r += N;
  out[r] = c30; out[r + 1] = c31; out[r + 2] = c32; out[r + 3] = c33;
}
