/**
 * The transformer kernels on the wasm path: softmax, layerNorm, gelu (each with its backward) and the
 * fused attention op, whose products run on the GEMM of gemm.ts (skipping the zero triangle when causal).
 *
 * Pattern of every kernel: take an arena mark, reserve the inputs and outputs in the wasm memory, write a
 * descriptor, then run the emitted kernel over units of rows (threaded when the work is large),
 * pipelined: the main thread stages unit after unit while the workers compute the staged ones, and
 * copies each finished unit back while the others still compute. Then reset the mark.
 */
import type { BinaryOp, FloatArray, Strided } from '../../kernels';
import { collapse } from './elementwise';
import { runPipelined, type Engine, type ThreadedName } from './engine';
import { gemmInto, type Blocking } from './gemm';
import { Causal } from './gemm-wasm';
import { BINARY_OPS, RD } from './rows-wasm';

/** Elements of work above which a row kernel is spread over the threads. */
const PARALLEL_ELEMENTS = 1 << 15;
/** Elements per unit of a pipelined row kernel (per array; 8K…512K measured the same). */
const UNIT_ELEMENTS = 1 << 15;

type F32 = Float32Array;

/** Run `name` over `total` items (rows or columns) of `work` elements each, data already in the wasm memory; sets desc.per. */
function runUnits(engine: Engine, name: ThreadedName, desc: number, perWord: number, total: number, work: number): void {
  if (total === 0) return;
  const parallel = engine.threads > 1 && total * work >= PARALLEL_ELEMENTS;
  const units = parallel ? Math.min(total, engine.threads * 4) : 1;
  let per = Math.ceil(total / units);
  if (name === 'layernorm_bwd_cols') per = (per + 15) & ~15; // whole 16-column steps per unit
  engine.i32[(desc >> 2) + perWord] = per;
  engine.run(name, desc, Math.ceil(total / per), parallel);
}

/** An array that moves per unit: `width` elements per item (a row of x, or 1 for mean/rstd). */
interface Moved { js: FloatArray; at: number; width: number }

/**
 * Run `name` over `total` items (rows, or elements) in units of ~32K elements, staging `inputs` and
 * collecting `outputs` unit by unit (see runPipelined). Sets desc.per; `align` rounds items per unit.
 */
function runRows(
  engine: Engine, name: ThreadedName, desc: number, perWord: number, total: number, work: number,
  inputs: Moved[], outputs: Moved[], align = 1,
): void {
  if (total === 0) return;
  const itemSize = Math.max(1, ...inputs.map((m) => m.width), ...outputs.map((m) => m.width));
  let per = Math.max(1, Math.floor(UNIT_ELEMENTS / itemSize));
  per = Math.ceil(per / align) * align;
  const units = Math.ceil(total / per);
  engine.i32[(desc >> 2) + perWord] = per;
  const f32 = engine.f32;
  const move = (m: Moved, u: number, toWasm: boolean): void => {
    const from = u * per * m.width, to = Math.min(total, (u + 1) * per) * m.width;
    if (toWasm) f32.set(m.js.subarray(from, to), (m.at >> 2) + from);
    else m.js.set(f32.subarray((m.at >> 2) + from, (m.at >> 2) + to), from);
  };
  runPipelined(
    engine, name, desc, units, engine.threads > 1 && total * work >= PARALLEL_ELEMENTS,
    (u) => { for (const m of inputs) move(m, u, true); },
    (u) => { for (const m of outputs) move(m, u, false); },
  );
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
    const D = RD.softmax;
    const at = engine.alloc(x.length * 4), desc = engine.alloc(D.size * 4);
    const i32 = engine.i32, f32 = engine.f32, d = desc >> 2;
    i32[d + D.x] = at; i32[d + D.out] = at; i32[d + D.rows] = rows; i32[d + D.cols] = cols;
    i32[d + D.causalT] = 0; f32[d + D.scale] = 1;
    runRows(engine, 'softmax_rows', desc, D.per, rows, cols * 8, [{ js: x, at, width: cols }], [{ js: out, at, width: cols }]);
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
    const D = RD.softmaxBwd;
    const yp = engine.alloc(y.length * 4), dyp = engine.alloc(dy.length * 4), desc = engine.alloc(D.size * 4);
    const i32 = engine.i32, f32 = engine.f32, d = desc >> 2;
    i32[d + D.y] = yp; i32[d + D.dy] = dyp; i32[d + D.dx] = dyp; i32[d + D.rows] = rows; i32[d + D.cols] = cols;
    f32[d + D.scale] = 1;
    runRows(engine, 'softmax_bwd_rows', desc, D.per, rows, cols * 2,
      [{ js: y, at: yp, width: cols }, { js: dy, at: dyp, width: cols }], [{ js: dx, at: dyp, width: cols }]);
  });
}

export function layerNorm(
  engine: Engine, x: F32, gamma: F32, beta: F32, rows: number, C: number, eps: number, out: F32, mean: F32, rstd: F32,
): void {
  scoped(engine, () => {
    const D = RD.layerNorm;
    const gp = engine.stage(gamma), bp = engine.stage(beta);
    const xp = engine.alloc(x.length * 4), mp = engine.alloc(rows * 4), rp = engine.alloc(rows * 4), desc = engine.alloc(D.size * 4);
    const i32 = engine.i32, f32 = engine.f32, d = desc >> 2;
    i32[d + D.x] = xp; i32[d + D.gamma] = gp; i32[d + D.beta] = bp; i32[d + D.out] = xp;
    i32[d + D.mean] = mp; i32[d + D.rstd] = rp; i32[d + D.rows] = rows; i32[d + D.C] = C; f32[d + D.eps] = eps;
    runRows(engine, 'layernorm_rows', desc, D.per, rows, C * 4, [{ js: x, at: xp, width: C }],
      [{ js: out, at: xp, width: C }, { js: mean, at: mp, width: 1 }, { js: rstd, at: rp, width: 1 }]);
  });
}

export function layerNormBackward(
  engine: Engine, x: F32, gamma: F32, mean: F32, rstd: F32, dy: F32, rows: number, C: number,
  dx: F32 | null, dgamma: F32 | null, dbeta: F32 | null,
): void {
  scoped(engine, () => {
    const D = RD.layerNormBwd;
    const gp = engine.stage(gamma), mp = engine.stage(mean), rp = engine.stage(rstd);
    const xp = engine.alloc(x.length * 4), dyp = engine.alloc(dy.length * 4);
    const dxp = dx ? engine.alloc(rows * C * 4) : 0;
    const dgp = dgamma ? engine.alloc(C * 4) : 0, dbp = dbeta ? engine.alloc(C * 4) : 0;
    const desc = engine.alloc(D.size * 4);
    const i32 = engine.i32, d = desc >> 2;
    i32[d + D.x] = xp; i32[d + D.gamma] = gp; i32[d + D.mean] = mp; i32[d + D.rstd] = rp; i32[d + D.dy] = dyp;
    i32[d + D.dx] = dxp; i32[d + D.dgamma] = dgp; i32[d + D.dbeta] = dbp; i32[d + D.rows] = rows; i32[d + D.C] = C;
    const inputs: Moved[] = [{ js: x, at: xp, width: C }, { js: dy, at: dyp, width: C }];
    if (dx) {
      // stages x and dy on the way
      runRows(engine, 'layernorm_bwd_rows', desc, D.per, rows, C * 3, inputs, [{ js: dx, at: dxp, width: C }]);
    } else {
      for (const m of inputs) engine.f32.set(m.js, m.at >> 2);
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
    const xp = engine.alloc(x.length * 4), dyp = dy ? engine.alloc(dy.length * 4) : 0;
    const desc = engine.alloc(D.size * 4);
    const i32 = engine.i32, d = desc >> 2;
    i32[d + D.x] = xp; i32[d + D.dy] = dyp; i32[d + D.out] = xp; i32[d + D.n] = x.length;
    const inputs: Moved[] = [{ js: x, at: xp, width: 1 }];
    if (dy) inputs.push({ js: dy, at: dyp, width: 1 });
    runRows(engine, dy ? 'gelu_bwd' : 'gelu', desc, D.per, x.length, dy ? 24 : 16, inputs, [{ js: out, at: xp, width: 1 }], 4);
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
  causal: number = Causal.NONE,
): number {
  return gemmInto(engine, {
    batch: BH, M, K, N, a, aOffsets: aOff, aRowStride: aRs, aColStride: aCs, b, bOffsets: bOff, bRowStride: bRs, bColStride: bCs,
  }, blk, undefined, causal);
}

/** True when every probs[h, t, s] with s > t is exactly 0 (a causal forward): the backward can skip them. */
function lowerTriangular(probs: F32, BH: number, T: number): boolean {
  for (let h = 0; h < BH; h++) {
    for (let t = 0; t < T - 1; t++) {
      const row = (h * T + t) * T;
      for (let s = t + 1; s < T; s++) if (probs[row + s] !== 0) return false;
    }
  }
  return true;
}

export function attention(
  engine: Engine, blk: Blocking, q: F32, k: F32, v: F32, BH: number, T: number, D: number, scale: number, causal: boolean,
  out: F32, probs: F32,
): void {
  scoped(engine, () => {
    const hd = heads(BH, T * D);
    // scores [BH, T, T] = q · kᵀ  (kᵀ read in place: row stride 1, column stride D); causal: the tiles
    // above the diagonal are masked anyway, so they are not computed
    const s = bmm(engine, blk, BH, T, D, T, q, hd, D, 1, k, hd, 1, D, causal ? Causal.ABOVE_ZERO : Causal.NONE);
    // probs = softmax(scale·scores), future positions masked
    softmaxInPlace(engine, s, BH * T, T, scale, causal ? T : 0);
    copyOut(engine, s, probs);
    // out [BH, T, D] = probs · v  (causal: probs[t, s > t] = 0, so the depth stops at t)
    const o = bmm(engine, blk, BH, T, T, D, engine.f32, heads(BH, T * T, s >> 2), T, 1, v, hd, D, 1, causal ? Causal.A_LOWER : Causal.NONE);
    copyOut(engine, o, out);
  });
}

export function attentionBackward(
  engine: Engine, blk: Blocking, q: F32, k: F32, v: F32, probs: F32, dout: F32, BH: number, T: number, D: number, scale: number,
  dq: F32 | null, dk: F32 | null, dv: F32 | null,
): void {
  scoped(engine, () => {
    const hd = heads(BH, T * D), ht = heads(BH, T * T);
    // with causal probs (zero above the diagonal) every product below skips the zero triangle
    const tri = lowerTriangular(probs, BH, T);
    const pick = (c: number): number => (tri ? c : Causal.NONE);
    // forward: out[t] = Σ_s p[t, s]·v[s]  =>  dv = pᵀ · dout
    if (dv) copyOut(engine, bmm(engine, blk, BH, T, T, D, probs, ht, 1, T, dout, hd, D, 1, pick(Causal.A_UPPER)), dv);
    if (!dq && !dk) return;
    // dp = dout · vᵀ ; dscores = p ⊙ (dp − Σ_s dp·p)·scale   (softmax backward, scale folded in)
    const dp = bmm(engine, blk, BH, T, D, T, dout, hd, D, 1, v, hd, 1, D, pick(Causal.ABOVE_ZERO));
    const pp = engine.stage(probs);
    softmaxBackwardAt(engine, pp, dp, dp, BH * T, T, scale);
    // scores = q · kᵀ  =>  dq = dscores · k ; dk = dscoresᵀ · q
    const ds = heads(BH, T * T, dp >> 2);
    if (dq) copyOut(engine, bmm(engine, blk, BH, T, T, D, engine.f32, ds, T, 1, k, hd, D, 1, pick(Causal.A_LOWER)), dq);
    if (dk) copyOut(engine, bmm(engine, blk, BH, T, T, D, engine.f32, ds, 1, T, q, hd, D, 1, pick(Causal.A_UPPER)), dk);
  });
}

// -------------------------------------------------------------------------------------------------
// Elementwise +, −, ×, ÷ on large float32 operands

/** Below this many elements the TypeScript loop wins (the copies in and out cost more than they save). */
const WASM_ELEMENTWISE = 1 << 16;

/**
 * out = a op b when the broadcast collapses to rows × cols with each operand a full row, a broadcast row
 * or one value per row (column stride 1 or 0): SIMD, threaded, staged and collected unit by unit. Bitwise
 * equal to the TypeScript loop (float +, −, ×, ÷ round the same in f32 as in double-then-f32). Returns
 * false when the case does not fit (the caller runs the TypeScript loop).
 */
export function binary(engine: Engine, opName: BinaryOp, a: Strided, b: Strided, shape: readonly number[], out: F32): boolean {
  const code = (BINARY_OPS as readonly string[]).indexOf(opName);
  if (code < 0 || !(a.data instanceof Float32Array) || !(b.data instanceof Float32Array) || out.length < WASM_ELEMENTWISE) return false;
  const c = collapse(shape, [a.strides, b.strides]);
  if (c.shape.length > 2) return false;
  let two = c.shape.length === 2;
  let rows = two ? c.shape[0] : 1, cols = two ? c.shape[1] : c.shape[0];
  // one flat run: cut it into rows of W (a power of two dividing it) so it can be split into units
  let flatW = 0;
  if (!two) for (let w = 8192; w >= 64 && flatW === 0; w /= 2) if (cols % w === 0 && cols > w) flatW = w;
  if (flatW) { rows = cols / flatW; cols = flatW; }
  const operand = (o: Strided, st: number[]) => (flatW
    ? { data: o.data as F32, off: o.offset, row: st[0] * flatW, col: st[0] }
    : { data: o.data as F32, off: o.offset, row: two ? st[0] : 0, col: two ? st[1] : st[0] });
  two = two || flatW > 0;
  const ops = [operand(a, c.strides[0]), operand(b, c.strides[1])];
  if (ops.some((o) => (o.col !== 0 && o.col !== 1) || o.row < 0)) return false;
  const spans = ops.map((o) => (rows - 1) * o.row + (cols - 1) * o.col + 1);
  if (spans.some((sp) => sp > 2 * rows * cols)) return false;
  scoped(engine, () => {
    const D = RD.binary;
    const at = ops.map((_, i) => engine.alloc(spans[i] * 4));
    const outp = engine.alloc(rows * cols * 4), desc = engine.alloc(D.size * 4);
    const i32 = engine.i32, f32 = engine.f32, d = desc >> 2;
    // full contiguous operands move unit by unit; broadcast ones are staged whole now
    const moved: Moved[] = [];
    ops.forEach((o, i) => {
      const view = o.data.subarray(o.off, o.off + spans[i]);
      if (o.col === 1 && o.row === cols) moved.push({ js: view, at: at[i], width: cols });
      else f32.set(view, at[i] >> 2);
    });
    i32[d + D.op] = code; i32[d + D.rows] = rows; i32[d + D.cols] = cols; i32[d + D.out] = outp;
    i32[d + D.a] = at[0]; i32[d + D.aRow] = ops[0].row; i32[d + D.aCol] = ops[0].col;
    i32[d + D.b] = at[1]; i32[d + D.bRow] = ops[1].row; i32[d + D.bCol] = ops[1].col;
    runRows(engine, 'binary_rows', desc, D.per, rows, cols, moved, [{ js: out, at: outp, width: cols }]);
  });
  return true;
}
