/**
 * The transformer kernels on the wasm path: softmax, layerNorm, gelu (each with its backward) and the
 * fused attention op, whose four products run on the GEMM of gemm.ts.
 *
 * Pattern of every kernel: take an arena mark, stage the inputs into the wasm memory, write a descriptor,
 * run the emitted kernel over units of rows (threaded when the work is large), copy the outputs back,
 * reset the mark.
 */
import type { FloatArray } from '../../kernels';
import type { Engine, ThreadedName } from './engine';
import { gemmInto, type Blocking } from './gemm';
import { RD } from './rows-wasm';

/** Elements of work above which a row kernel is spread over the threads. */
const PARALLEL_ELEMENTS = 1 << 15;

type F32 = Float32Array;

/** Run `name` over `total` items (rows, columns or elements) of `work` elements each, setting desc.per. */
function runUnits(engine: Engine, name: ThreadedName, desc: number, perWord: number, total: number, work: number): void {
  if (total === 0) return;
  const parallel = engine.threads > 1 && total * work >= PARALLEL_ELEMENTS;
  const units = parallel ? Math.min(total, engine.threads * 4) : 1;
  let per = Math.ceil(total / units);
  if (name === 'gelu' || name === 'gelu_bwd' || name === 'layernorm_bwd_cols') per = (per + 3) & ~3; // whole vectors per unit
  engine.i32[(desc >> 2) + perWord] = per;
  engine.run(name, desc, Math.ceil(total / per), parallel);
}

/** Run `fn` inside an arena mark. */
function scoped<T>(engine: Engine, fn: () => T): T {
  const mark = engine.mark();
  try {
    return fn();
  } finally {
    engine.reset(mark);
  }
}

function copyOut(engine: Engine, at: number, out: FloatArray): void {
  out.set(engine.f32.subarray(at >> 2, (at >> 2) + out.length));
}

/** Softmax rows of a [rows, cols] array already in wasm memory at byte `at`, in place. */
function softmaxInPlace(engine: Engine, at: number, rows: number, cols: number, scale: number, causalT: number): void {
  const D = RD.softmax;
  const desc = engine.alloc(D.size * 4);
  const i32 = engine.i32, f32 = engine.f32, d = desc >> 2;
  i32[d + D.x] = at; i32[d + D.out] = at; i32[d + D.rows] = rows; i32[d + D.cols] = cols;
  i32[d + D.causalT] = causalT; f32[d + D.scale] = scale;
  runUnits(engine, 'softmax_rows', desc, D.per, rows, cols * 8);
}

export function softmax(engine: Engine, x: F32, rows: number, cols: number, out: F32): void {
  scoped(engine, () => {
    const at = engine.stage(x);
    softmaxInPlace(engine, at, rows, cols, 1, 0);
    copyOut(engine, at, out);
  });
}

/** dx = s·y ⊙ (dy − Σ dy·y) per row, for arrays in wasm memory (dx may alias dy). */
function softmaxBackwardAt(engine: Engine, y: number, dy: number, dx: number, rows: number, cols: number, scale: number): void {
  const D = RD.softmaxBwd;
  const desc = engine.alloc(D.size * 4);
  const i32 = engine.i32, f32 = engine.f32, d = desc >> 2;
  i32[d + D.y] = y; i32[d + D.dy] = dy; i32[d + D.dx] = dx; i32[d + D.rows] = rows; i32[d + D.cols] = cols;
  f32[d + D.scale] = scale;
  runUnits(engine, 'softmax_bwd_rows', desc, D.per, rows, cols * 2);
}

export function softmaxBackward(engine: Engine, y: F32, dy: F32, rows: number, cols: number, dx: F32): void {
  scoped(engine, () => {
    const yp = engine.stage(y), dyp = engine.stage(dy);
    softmaxBackwardAt(engine, yp, dyp, dyp, rows, cols, 1);
    copyOut(engine, dyp, dx);
  });
}

export function layerNorm(
  engine: Engine, x: F32, gamma: F32, beta: F32, rows: number, C: number, eps: number, out: F32, mean: F32, rstd: F32,
): void {
  scoped(engine, () => {
    const D = RD.layerNorm;
    const xp = engine.stage(x), gp = engine.stage(gamma), bp = engine.stage(beta);
    const mp = engine.alloc(rows * 4), rp = engine.alloc(rows * 4), desc = engine.alloc(D.size * 4);
    const i32 = engine.i32, f32 = engine.f32, d = desc >> 2;
    i32[d + D.x] = xp; i32[d + D.gamma] = gp; i32[d + D.beta] = bp; i32[d + D.out] = xp;
    i32[d + D.mean] = mp; i32[d + D.rstd] = rp; i32[d + D.rows] = rows; i32[d + D.C] = C; f32[d + D.eps] = eps;
    runUnits(engine, 'layernorm_rows', desc, D.per, rows, C * 4);
    copyOut(engine, xp, out);
    copyOut(engine, mp, mean);
    copyOut(engine, rp, rstd);
  });
}

export function layerNormBackward(
  engine: Engine, x: F32, gamma: F32, mean: F32, rstd: F32, dy: F32, rows: number, C: number,
  dx: F32 | null, dgamma: F32 | null, dbeta: F32 | null,
): void {
  scoped(engine, () => {
    const D = RD.layerNormBwd;
    const xp = engine.stage(x), gp = engine.stage(gamma), mp = engine.stage(mean), rp = engine.stage(rstd), dyp = engine.stage(dy);
    const dxp = dx ? engine.alloc(rows * C * 4) : 0;
    const dgp = dgamma ? engine.alloc(C * 4) : 0, dbp = dbeta ? engine.alloc(C * 4) : 0;
    const desc = engine.alloc(D.size * 4);
    const i32 = engine.i32, d = desc >> 2;
    i32[d + D.x] = xp; i32[d + D.gamma] = gp; i32[d + D.mean] = mp; i32[d + D.rstd] = rp; i32[d + D.dy] = dyp;
    i32[d + D.dx] = dxp; i32[d + D.dgamma] = dgp; i32[d + D.dbeta] = dbp; i32[d + D.rows] = rows; i32[d + D.C] = C;
    if (dx) {
      runUnits(engine, 'layernorm_bwd_rows', desc, D.per, rows, C * 3);
      copyOut(engine, dxp, dx);
    }
    if (dgamma || dbeta) {
      runUnits(engine, 'layernorm_bwd_cols', desc, D.per, C, rows * 2);
      if (dgamma) copyOut(engine, dgp, dgamma);
      if (dbeta) copyOut(engine, dbp, dbeta);
    }
  });
}

/** gelu (dy null) or its backward, elementwise. */
export function gelu(engine: Engine, x: F32, dy: F32 | null, out: F32): void {
  scoped(engine, () => {
    const D = RD.gelu;
    const xp = engine.stage(x), dyp = dy ? engine.stage(dy) : 0;
    const desc = engine.alloc(D.size * 4);
    const i32 = engine.i32, d = desc >> 2;
    i32[d + D.x] = xp; i32[d + D.dy] = dyp; i32[d + D.out] = xp; i32[d + D.n] = x.length;
    runUnits(engine, dy ? 'gelu_bwd' : 'gelu', desc, D.per, x.length, dy ? 24 : 16);
    copyOut(engine, xp, out);
  });
}

// -------------------------------------------------------------------------------------------------
// Attention per (batch·head): q, k, v, out [BH, T, D]; probs [BH, T, T]

/** Offsets h·stride for h < BH. */
function heads(BH: number, stride: number, base = 0): Int32Array {
  const o = new Int32Array(BH);
  for (let h = 0; h < BH; h++) o[h] = base + h * stride;
  return o;
}

/** A batched product of [BH] matrices, described by their (offsets, row stride, col stride). */
function bmm(
  engine: Engine, blk: Blocking, BH: number, M: number, K: number, N: number,
  a: F32, aOff: Int32Array, aRs: number, aCs: number, b: F32, bOff: Int32Array, bRs: number, bCs: number,
): number {
  return gemmInto(engine, {
    batch: BH, M, K, N, a, aOffsets: aOff, aRowStride: aRs, aColStride: aCs, b, bOffsets: bOff, bRowStride: bRs, bColStride: bCs,
  }, blk);
}

export function attention(
  engine: Engine, blk: Blocking, q: F32, k: F32, v: F32, BH: number, T: number, D: number, scale: number, causal: boolean,
  out: F32, probs: F32,
): void {
  scoped(engine, () => {
    const hd = heads(BH, T * D);
    // scores [BH, T, T] = q · kᵀ  (kᵀ read in place: row stride 1, column stride D)
    const s = bmm(engine, blk, BH, T, D, T, q, hd, D, 1, k, hd, 1, D);
    // probs = softmax(scale·scores), future positions masked
    softmaxInPlace(engine, s, BH * T, T, scale, causal ? T : 0);
    copyOut(engine, s, probs);
    // out [BH, T, D] = probs · v
    const o = bmm(engine, blk, BH, T, T, D, engine.f32, heads(BH, T * T, s >> 2), T, 1, v, hd, D, 1);
    copyOut(engine, o, out);
  });
}

export function attentionBackward(
  engine: Engine, blk: Blocking, q: F32, k: F32, v: F32, probs: F32, dout: F32, BH: number, T: number, D: number, scale: number,
  dq: F32 | null, dk: F32 | null, dv: F32 | null,
): void {
  scoped(engine, () => {
    const hd = heads(BH, T * D), ht = heads(BH, T * T);
    // forward: out[t] = Σ_s p[t, s]·v[s]  =>  dv = pᵀ · dout
    if (dv) copyOut(engine, bmm(engine, blk, BH, T, T, D, probs, ht, 1, T, dout, hd, D, 1), dv);
    if (!dq && !dk) return;
    // dp = dout · vᵀ ; dscores = p ⊙ (dp − Σ_s dp·p)·scale   (softmax backward, scale folded in)
    const dp = bmm(engine, blk, BH, T, D, T, dout, hd, D, 1, v, hd, 1, D);
    const pp = engine.stage(probs);
    softmaxBackwardAt(engine, pp, dp, dp, BH * T, T, scale);
    // scores = q · kᵀ  =>  dq = dscores · k ; dk = dscoresᵀ · q
    const ds = heads(BH, T * T, dp >> 2);
    if (dq) copyOut(engine, bmm(engine, blk, BH, T, T, D, engine.f32, ds, T, 1, k, hd, D, 1), dq);
    if (dk) copyOut(engine, bmm(engine, blk, BH, T, T, D, engine.f32, ds, 1, T, q, hd, D, 1), dk);
  });
}
