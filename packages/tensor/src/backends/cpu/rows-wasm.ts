/**
 * Row and elementwise kernels, emitted as WebAssembly SIMD: softmax (with the attention scale and causal
 * mask), its backward, layerNorm forward and backward, gelu forward and backward.
 *
 * Every kernel has the pool signature (desc, unit, tid) and reads its arguments from the descriptor
 * words listed in `RD`; a unit is a range of rows (or of elements, or for the layerNorm parameter
 * gradients a range of columns), so threads never share an output and results do not depend on the
 * thread count. Columns are walked 4 at a time; the last cols % 4 go through the same vector code one
 * lane at a time (splat, compute, take lane 0), so both see identical arithmetic.
 *
 * exp is computed in SIMD as 2^(x·log2 e) (see `exp2`): about 1–2 ulp, more for |x| in the tens, where
 * the results are far below the tolerances that matter here.
 */
import { Body, F32, I32, V128, op, simd, type ModuleBuilder } from './wasm';

export const THREADED_ROW_KERNELS = [
  'softmax_rows', 'softmax_bwd_rows', 'layernorm_rows', 'layernorm_bwd_rows', 'layernorm_bwd_cols', 'gelu', 'gelu_bwd',
  'binary_rows',
] as const;

/** Ops of `binary_rows`, by code. f32 +, −, ×, ÷ round exactly as JS does (double then float). */
export const BINARY_OPS = ['add', 'sub', 'mul', 'div'] as const;

/** Descriptor words (index of the i32/f32 word at desc + 4·index) for each kernel. */
export const RD = {
  softmax: { x: 0, out: 1, rows: 2, cols: 3, per: 4, causalT: 5, scale: 6, size: 7 },
  softmaxBwd: { y: 0, dy: 1, dx: 2, rows: 3, cols: 4, per: 5, scale: 6, size: 7 },
  layerNorm: { x: 0, gamma: 1, beta: 2, out: 3, mean: 4, rstd: 5, rows: 6, C: 7, per: 8, eps: 9, size: 10 },
  layerNormBwd: { x: 0, gamma: 1, mean: 2, rstd: 3, dy: 4, dx: 5, dgamma: 6, dbeta: 7, rows: 8, C: 9, per: 10, size: 11 },
  gelu: { x: 0, dy: 1, out: 2, n: 3, per: 4, size: 5 },
  // out[r, c] = a[r·aRow + c·aCol] op b[r·bRow + c·bCol]  (strides in floats; aCol, bCol ∈ {0, 1})
  binary: { op: 0, a: 1, aRow: 2, aCol: 3, b: 4, bRow: 5, bCol: 6, out: 7, rows: 8, cols: 9, per: 10, size: 11 },
} as const;

const LOG2E = 1.4426950408889634;
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** Helpers bound to one function body. */
class Emit {
  constructor(readonly f: Body, private readonly relaxed: boolean, private readonly desc = 0) {}

  /** a·b + c for the three v128 pushed by the callbacks: one relaxed_madd on the relaxed path. */
  madd(a: () => void, b: () => void, c: () => void): void {
    if (this.relaxed) { a(); b(); c(); this.f.v(simd.f32x4_relaxed_madd); } else { a(); b(); this.f.v(simd.f32x4_mul); c(); this.f.v(simd.f32x4_add); }
  }

  word(w: number): Body { return this.f.get(this.desc).load(op.i32_load, 4 * w); }
  wordF(w: number): Body { return this.f.get(this.desc).load(op.f32_load, 4 * w); }

  /** [start, end) of unit u over `total` items in chunks of `per`: sets the two locals. */
  range(u: number, totalWord: number, perWord: number, start: number, end: number): void {
    const f = this.f;
    f.get(u); this.word(perWord); f.emit(op.i32_mul).set(start);
    f.get(start); this.word(perWord); f.emit(op.i32_add).set(end);
    // end = min(end, total)
    f.get(end); this.word(totalWord); f.get(end); this.word(totalWord); f.emit(op.i32_lt_s).emit(op.select).set(end);
  }

  /**
   * for (i = 0; i < n; i += 4) body(vector) ; then for the n % 4 tail, body(scalar). The body receives
   * a function that pushes the byte offset 4·i, and loads/stores through `ld`/`st` helpers below.
   */
  cols(i: number, n: number, body: (vec: boolean) => void): void {
    const f = this.f;
    const n4 = f.local(I32);
    f.get(n).i32(~3).emit(op.i32_and).set(n4);
    f.for(i, (g) => g.i32(0), (g) => g.get(n4), 4, () => body(true));
    f.for(i, (g) => g.get(n4), (g) => g.get(n), 1, () => body(false));
  }

  /** Push the address base + 4·i. */
  at(base: number, i: number): Body { return this.f.get(base).get(i).i32(2).emit(op.i32_shl).emit(op.i32_add); }

  /** Load x[i] as a vector (scalar tail: splat of one element). */
  ld(vec: boolean, base: number, i: number): Body {
    this.at(base, i);
    return vec ? this.f.emit(0xfd, 0x00, 2, 0) /* v128.load align 4 */ : this.f.vsplatLoad(0);
  }

  /** Store the vector on the stack to x[i] (scalar tail: lane 0 only). `tmp` is a v128 local. */
  st(vec: boolean, base: number, i: number, tmp: number): void {
    const f = this.f;
    f.set(tmp);
    this.at(base, i).get(tmp);
    if (vec) f.emit(0xfd, 0x0b, 2, 0);
    else f.lane(simd.f32x4_extract_lane, 0).store(op.f32_store);
  }

  /** Horizontal sum of the v128 on the stack -> f32: (l0 + l1) + (l2 + l3). */
  hsum(tmp: number): void {
    const f = this.f;
    f.set(tmp);
    f.get(tmp).lane(simd.f32x4_extract_lane, 0).get(tmp).lane(simd.f32x4_extract_lane, 1).emit(op.f32_add);
    f.get(tmp).lane(simd.f32x4_extract_lane, 2).get(tmp).lane(simd.f32x4_extract_lane, 3).emit(op.f32_add);
    f.emit(op.f32_add);
  }

  /** Horizontal max (NaN-propagating) of the v128 on the stack -> f32. */
  hmax(tmp: number): void {
    const f = this.f;
    f.set(tmp);
    f.get(tmp).lane(simd.f32x4_extract_lane, 0).get(tmp).lane(simd.f32x4_extract_lane, 1).emit(op.f32_max);
    f.get(tmp).lane(simd.f32x4_extract_lane, 2).get(tmp).lane(simd.f32x4_extract_lane, 3).emit(op.f32_max);
    f.emit(op.f32_max);
  }

  /** Declare and fill the constants of `exp2` (call once, before any loop: splats stay out of loops). */
  exp2Consts(): Exp2Consts {
    const f = this.f;
    const splat = (v: number): number => { const l = f.local(V128); f.f32x4(v).set(l); return l; };
    const c: Exp2Consts = {
      lo: splat(-126), hi: splat(128), magic: splat(12582912.0), bias: f.local(V128), poly: EXP2_POLY.map(splat),
      t: f.local(V128), n: f.local(V128), z: f.local(V128),
    };
    f.i32x4(127 << 23).set(c.bias);
    return c;
  }

  /**
   * 2^z of the v128 on the stack (exp(x) is 2^(x·log2 e), with log2 e folded into the caller's
   * constants). z is clamped to [−126, 128] (pmax/pmin with z first keep a NaN): 2^128 comes out as +inf,
   * 2^−126 ≈ 1e−38 stands for anything smaller. n = round(z) by the magic-bias trick (t = z + 1.5·2²³
   * holds n in its low mantissa bits; n = t − 1.5·2²³), f = z − n is exact, 2^f by EXP2_POLY, and 2^n is
   * (t ≪ 23) + 127 ≪ 23 as bits: no float-to-int conversion, no range reduction with ln 2.
   */
  exp2(c: Exp2Consts): void {
    const f = this.f;
    f.get(c.lo).v(simd.f32x4_pmax).get(c.hi).v(simd.f32x4_pmin).set(c.z);
    f.get(c.z).get(c.magic).v(simd.f32x4_add).tee(c.t).get(c.magic).v(simd.f32x4_sub).set(c.n);
    f.get(c.z).get(c.n).v(simd.f32x4_sub).set(c.z); // fraction in [−½, ½]
    // Horner: p = (…(c0·f + c1)·f + …) + c6, fused multiply-adds on the relaxed path
    f.get(c.poly[0]).set(c.n); // n is no longer needed: 2^n comes from t
    for (let i = 1; i < c.poly.length; i++) {
      this.madd(() => f.get(c.n), () => f.get(c.z), () => f.get(c.poly[i]));
      f.set(c.n);
    }
    f.get(c.n).get(c.t).i32(23).v(simd.i32x4_shl).get(c.bias).v(simd.i32x4_add).v(simd.f32x4_mul);
  }

}

interface Exp2Consts { lo: number; hi: number; magic: number; bias: number; poly: number[]; t: number; n: number; z: number }

/** 2^z on [−½, ½] by its Taylor series to degree 6 (error ≈ 1.2e−7 relative at |z| = ½). */
const EXP2_POLY = [1.5403530393381606e-4, 1.3333558146428443e-3, 9.618129107628477e-3, 5.550410866482158e-2, 2.402265069591007e-1, 6.931471805599453e-1, 1];

function kernel(mb: ModuleBuilder, name: string, relaxed: boolean, build: (f: Body, e: Emit) => void): void {
  const f = new Body([I32, I32, I32]);
  build(f, new Emit(f, relaxed));
  mb.add(name, f);
}

/** Push the byte address base + 4·(row·cols) (row and cols are i32 locals, base an i32 expression). */
function rowAddr(f: Body, base: () => void, row: number, cols: number): Body {
  base();
  return f.get(row).get(cols).emit(op.i32_mul).i32(2).emit(op.i32_shl).emit(op.i32_add);
}

/** Accumulate the v128 on the stack into vacc (vector step) or lane 0 of it into sacc (tail step). */
function accumulate(f: Body, vec: boolean, vacc: number, sacc: number): void {
  if (vec) f.get(vacc).v(simd.f32x4_add).set(vacc);
  else f.lane(simd.f32x4_extract_lane, 0).get(sacc).emit(op.f32_add).set(sacc);
}

export function emitRowKernels(mb: ModuleBuilder, relaxed: boolean): void {
  const U = 1; // the unit parameter

  // softmax_rows: out[r, c] = exp(s·x[r, c] − max) / Σ over the row; when causalT > 0, row r is position
  // t = r % causalT and its columns past t are masked (written as 0, left out of max and sum).
  kernel(mb, 'softmax_rows', relaxed, (f, e) => {
    const D = RD.softmax;
    const [r0, r1, r, c, cols, valid, x, out, T] = Array.from({ length: 9 }, () => f.local(I32));
    const [scale, vmax, vsum, tmp, v, nan] = Array.from({ length: 6 }, () => f.local(V128));
    const ec = e.exp2Consts();
    const ssum = f.local(F32), m = f.local(F32);
    const log2e = f.local(V128), scale2 = f.local(V128);
    f.f32x4(LOG2E).set(log2e);
    e.range(U, D.rows, D.per, r0, r1);
    e.word(D.cols); f.set(cols);
    e.word(D.causalT); f.set(T);
    e.wordF(D.scale); f.v(simd.f32x4_splat).set(scale);
    f.get(scale).get(log2e).v(simd.f32x4_mul).set(scale2);
    f.for(r, (g) => g.get(r0), (g) => g.get(r1), 1, () => {
      rowAddr(f, () => e.word(D.x), r, cols).set(x);
      rowAddr(f, () => e.word(D.out), r, cols).set(out);
      f.get(cols).set(valid);
      f.get(T).if();
      f.get(r).get(T).emit(op.i32_rem_u).i32(1).emit(op.i32_add).set(valid);
      f.get(valid).get(cols).get(valid).get(cols).emit(op.i32_lt_s).emit(op.select).set(valid);
      f.end();
      // max with pmax (one instruction) and NaN tracked on the side: any NaN makes the row NaN, as ref
      f.f32x4(-Infinity).set(vmax);
      f.f32x4(0).set(nan);
      e.cols(c, valid, (vec) => { // a tail splat repeats one element: the max is unchanged
        e.ld(vec, x, c).get(scale).v(simd.f32x4_mul).tee(v).get(vmax).v(simd.f32x4_pmax).set(vmax);
        f.get(v).get(v).v(simd.f32x4_ne).get(nan).v(simd.v128_or).set(nan);
      });
      f.get(vmax).get(nan).v(simd.v128_or); // NaN lanes become all-ones bits: a NaN
      e.hmax(tmp); f.v(simd.f32x4_splat).get(log2e).v(simd.f32x4_mul).v(simd.f32x4_neg).set(vmax);
      f.f32x4(0).set(vsum).f32(0).set(ssum);
      // exp(s·x − max) = 2^(s·log2 e·x − max·log2 e)   (vmax now holds −max·log2 e)
      e.cols(c, valid, (vec) => {
        e.madd(() => e.ld(vec, x, c), () => f.get(scale2), () => f.get(vmax));
        e.exp2(ec);
        f.tee(v);
        accumulate(f, vec, vsum, ssum);
        f.get(v); e.st(vec, out, c, tmp);
      });
      f.get(vsum); e.hsum(tmp); f.get(ssum).emit(op.f32_add).set(m);
      f.f32(1).get(m).emit(op.f32_div).v(simd.f32x4_splat).set(vsum);
      // normalize; probabilities below the smallest normal float become 0 (subnormals would slow every
      // product they enter ~50×, and a masked score with a finite large negative value yields them)
      e.cols(c, valid, (vec) => {
        e.ld(vec, out, c).get(vsum).v(simd.f32x4_mul).tee(v).get(v).f32x4(1.1754943508222875e-38).v(simd.f32x4_lt).v(simd.v128_andnot);
        e.st(vec, out, c, tmp);
      });
      f.for(c, (g) => g.get(valid), (g) => g.get(cols), 1, () => { e.at(out, c).f32(0).store(op.f32_store); });
    });
  });

  // softmax_bwd_rows: dx = s·y ⊙ (dy − Σ_j dy_j·y_j), per row
  kernel(mb, 'softmax_bwd_rows', relaxed, (f, e) => {
    const D = RD.softmaxBwd;
    const [r0, r1, r, c, cols, y, dy, dx] = Array.from({ length: 8 }, () => f.local(I32));
    const [scale, vdot, tmp] = Array.from({ length: 3 }, () => f.local(V128));
    const sdot = f.local(F32);
    e.range(U, D.rows, D.per, r0, r1);
    e.word(D.cols); f.set(cols);
    e.wordF(D.scale); f.v(simd.f32x4_splat).set(scale);
    f.for(r, (g) => g.get(r0), (g) => g.get(r1), 1, () => {
      rowAddr(f, () => e.word(D.y), r, cols).set(y);
      rowAddr(f, () => e.word(D.dy), r, cols).set(dy);
      rowAddr(f, () => e.word(D.dx), r, cols).set(dx);
      f.f32x4(0).set(vdot).f32(0).set(sdot);
      e.cols(c, cols, (vec) => {
        e.ld(vec, y, c); e.ld(vec, dy, c).v(simd.f32x4_mul);
        accumulate(f, vec, vdot, sdot);
      });
      f.get(vdot); e.hsum(tmp); f.get(sdot).emit(op.f32_add).v(simd.f32x4_splat).set(vdot);
      e.cols(c, cols, (vec) => {
        e.ld(vec, y, c); e.ld(vec, dy, c).get(vdot).v(simd.f32x4_sub).v(simd.f32x4_mul).get(scale).v(simd.f32x4_mul);
        e.st(vec, dx, c, tmp);
      });
    });
  });

  // layernorm_rows: mean, rstd = 1/sqrt(biased var + eps), out = (x − mean)·rstd·gamma + beta
  kernel(mb, 'layernorm_rows', relaxed, (f, e) => {
    const D = RD.layerNorm;
    const [r0, r1, r, c, C, x, out, gamma, beta] = Array.from({ length: 9 }, () => f.local(I32));
    const [vacc, vm, vr, tmp] = Array.from({ length: 4 }, () => f.local(V128));
    const sacc = f.local(F32), mean = f.local(F32), rstd = f.local(F32), fC = f.local(F32);
    e.range(U, D.rows, D.per, r0, r1);
    e.word(D.C); f.tee(C).emit(op.f32_convert_i32_s).set(fC);
    e.word(D.gamma); f.set(gamma);
    e.word(D.beta); f.set(beta);
    f.for(r, (g) => g.get(r0), (g) => g.get(r1), 1, () => {
      rowAddr(f, () => e.word(D.x), r, C).set(x);
      rowAddr(f, () => e.word(D.out), r, C).set(out);
      f.f32x4(0).set(vacc).f32(0).set(sacc);
      e.cols(c, C, (vec) => { e.ld(vec, x, c); accumulate(f, vec, vacc, sacc); });
      f.get(vacc); e.hsum(tmp); f.get(sacc).emit(op.f32_add).get(fC).emit(op.f32_div).tee(mean).v(simd.f32x4_splat).set(vm);
      f.f32x4(0).set(vacc).f32(0).set(sacc);
      e.cols(c, C, (vec) => {
        e.ld(vec, x, c).get(vm).v(simd.f32x4_sub).tee(tmp).get(tmp).v(simd.f32x4_mul);
        accumulate(f, vec, vacc, sacc);
      });
      f.f32(1);
      f.get(vacc); e.hsum(tmp); f.get(sacc).emit(op.f32_add).get(fC).emit(op.f32_div);
      e.wordF(D.eps); f.emit(op.f32_add).emit(op.f32_sqrt).emit(op.f32_div).tee(rstd).v(simd.f32x4_splat).set(vr);
      e.word(D.mean); f.get(r).i32(2).emit(op.i32_shl).emit(op.i32_add).get(mean).store(op.f32_store);
      e.word(D.rstd); f.get(r).i32(2).emit(op.i32_shl).emit(op.i32_add).get(rstd).store(op.f32_store);
      e.cols(c, C, (vec) => {
        e.ld(vec, x, c).get(vm).v(simd.f32x4_sub).get(vr).v(simd.f32x4_mul);
        e.ld(vec, gamma, c).v(simd.f32x4_mul);
        e.ld(vec, beta, c).v(simd.f32x4_add);
        e.st(vec, out, c, tmp);
      });
    });
  });

  // layernorm_bwd_rows: dx = rstd·(dy·gamma − mean(dy·gamma) − xhat·mean(dy·gamma·xhat)), xhat = (x − mean)·rstd
  kernel(mb, 'layernorm_bwd_rows', relaxed, (f, e) => {
    const D = RD.layerNormBwd;
    const [r0, r1, r, c, C, x, dy, dx, gamma] = Array.from({ length: 9 }, () => f.local(I32));
    const [vm, vr, vd, vdx, tmp, xh, dg] = Array.from({ length: 7 }, () => f.local(V128));
    const sd = f.local(F32), sdx = f.local(F32), fC = f.local(F32);
    e.range(U, D.rows, D.per, r0, r1);
    e.word(D.C); f.tee(C).emit(op.f32_convert_i32_s).set(fC);
    e.word(D.gamma); f.set(gamma);
    const xhat = (vec: boolean) => { e.ld(vec, x, c).get(vm).v(simd.f32x4_sub).get(vr).v(simd.f32x4_mul); };
    f.for(r, (g) => g.get(r0), (g) => g.get(r1), 1, () => {
      rowAddr(f, () => e.word(D.x), r, C).set(x);
      rowAddr(f, () => e.word(D.dy), r, C).set(dy);
      rowAddr(f, () => e.word(D.dx), r, C).set(dx);
      e.word(D.mean); f.get(r).i32(2).emit(op.i32_shl).emit(op.i32_add).vsplatLoad(0).set(vm);
      e.word(D.rstd); f.get(r).i32(2).emit(op.i32_shl).emit(op.i32_add).vsplatLoad(0).set(vr);
      f.f32x4(0).set(vd).f32x4(0).set(vdx).f32(0).set(sd).f32(0).set(sdx);
      e.cols(c, C, (vec) => {
        e.ld(vec, dy, c); e.ld(vec, gamma, c).v(simd.f32x4_mul).set(dg);
        f.get(dg); accumulate(f, vec, vd, sd);
        xhat(vec); f.set(xh);
        f.get(dg).get(xh).v(simd.f32x4_mul); accumulate(f, vec, vdx, sdx);
      });
      f.get(vd); e.hsum(tmp); f.get(sd).emit(op.f32_add).get(fC).emit(op.f32_div).v(simd.f32x4_splat).set(vd);
      f.get(vdx); e.hsum(tmp); f.get(sdx).emit(op.f32_add).get(fC).emit(op.f32_div).v(simd.f32x4_splat).set(vdx);
      e.cols(c, C, (vec) => {
        e.ld(vec, dy, c); e.ld(vec, gamma, c).v(simd.f32x4_mul).get(vd).v(simd.f32x4_sub);
        xhat(vec); f.get(vdx).v(simd.f32x4_mul).v(simd.f32x4_sub);
        f.get(vr).v(simd.f32x4_mul);
        e.st(vec, dx, c, tmp);
      });
    });
  });

  // layernorm_bwd_cols: dgamma[c] = Σ_r dy[r, c]·xhat[r, c], dbeta[c] = Σ_r dy[r, c] over columns c of
  // the unit (a null pointer skips that output). Rows are summed in order, whatever the thread count.
  kernel(mb, 'layernorm_bwd_cols', relaxed, (f, e) => {
    const D = RD.layerNormBwd;
    const [c0, c1, r, c, C, rows, x, dy, n, rowOff, n4, n16] = Array.from({ length: 12 }, () => f.local(I32));
    const vg = [0, 1, 2, 3].map(() => f.local(V128)), vb = [0, 1, 2, 3].map(() => f.local(V128));
    const [vdy, vm, vr] = Array.from({ length: 3 }, () => f.local(V128));
    e.range(U, D.C, D.per, c0, c1);
    e.word(D.C); f.set(C);
    e.word(D.rows); f.set(rows);
    e.word(D.x); f.get(c0).i32(2).emit(op.i32_shl).emit(op.i32_add).set(x);
    e.word(D.dy); f.get(c0).i32(2).emit(op.i32_shl).emit(op.i32_add).set(dy);
    f.get(c1).get(c0).emit(op.i32_sub).tee(n).i32(~3).emit(op.i32_and).set(n4);
    f.get(n).i32(~15).emit(op.i32_and).set(n16);
    // columns [c, c + 4·nv) (vectors) or column c (vec false: lane 0 of a splat); 16 columns = one
    // 64-byte line of each row per step
    const body = (nv: number, vec: boolean): void => {
      for (let v = 0; v < nv; v++) f.f32x4(0).set(vg[v]).f32x4(0).set(vb[v]);
      f.for(r, (g) => g.i32(0), (g) => g.get(rows), 1, () => {
        f.get(r).get(C).emit(op.i32_mul).get(c).emit(op.i32_add).i32(2).emit(op.i32_shl).set(rowOff);
        e.word(D.mean); f.get(r).i32(2).emit(op.i32_shl).emit(op.i32_add).vsplatLoad(0).set(vm);
        e.word(D.rstd); f.get(r).i32(2).emit(op.i32_shl).emit(op.i32_add).vsplatLoad(0).set(vr);
        for (let v = 0; v < nv; v++) {
          f.get(dy).get(rowOff).emit(op.i32_add);
          if (vec) f.emit(0xfd, 0x00, 2, 16 * v); else f.vsplatLoad(0);
          f.tee(vdy).get(vb[v]).v(simd.f32x4_add).set(vb[v]);
          f.get(x).get(rowOff).emit(op.i32_add);
          if (vec) f.emit(0xfd, 0x00, 2, 16 * v); else f.vsplatLoad(0);
          f.get(vm).v(simd.f32x4_sub).get(vr).v(simd.f32x4_mul);
          f.get(vdy).v(simd.f32x4_mul).get(vg[v]).v(simd.f32x4_add).set(vg[v]);
        }
      });
      for (const [word, acc] of [[D.dgamma, vg], [D.dbeta, vb]] as const) {
        e.word(word).if();
        for (let v = 0; v < nv; v++) {
          e.word(word); f.get(c0).get(c).emit(op.i32_add).i32(2).emit(op.i32_shl).emit(op.i32_add).get(acc[v]);
          if (vec) f.emit(0xfd, 0x0b, 2, 16 * v); else f.lane(simd.f32x4_extract_lane, 0).store(op.f32_store);
        }
        f.end();
      }
    };
    f.for(c, (g) => g.i32(0), (g) => g.get(n16), 16, () => body(4, true));
    f.for(c, (g) => g.get(n16), (g) => g.get(n4), 4, () => body(1, true));
    f.for(c, (g) => g.get(n4), (g) => g.get(n), 1, () => body(1, false));
  });

  // gelu: out = x·σ(2y) = x / (1 + exp(−2y)), y = √(2/π)·(x + 0.044715·x³)  (= 0.5·x·(1 + tanh y), stable)
  // gelu_bwd: dx = dy·(s + x·s·(1 − s)·2·√(2/π)·(1 + 3·0.044715·x²)), s = σ(2y)
  for (const backward of [false, true]) {
    kernel(mb, backward ? 'gelu_bwd' : 'gelu', relaxed, (f, e) => {
      const D = RD.gelu;
      const [i0, i1, i, n, x, dy, out] = Array.from({ length: 7 }, () => f.local(I32));
      const [xv, z, tmp] = Array.from({ length: 3 }, () => f.local(V128));
      const ec = e.exp2Consts();
      // constants splatted once, outside the loop
      const splat = (v: number): number => { const l = f.local(V128); f.f32x4(v).set(l); return l; };
      const [cCube, cArg, one, c2, c3] = [0.044715, -2 * SQRT_2_OVER_PI * LOG2E, 1, 2 * SQRT_2_OVER_PI, 3 * 0.044715].map(splat);
      e.range(U, D.n, D.per, i0, i1);
      f.get(i1).get(i0).emit(op.i32_sub).set(n);
      e.word(D.x); f.get(i0).i32(2).emit(op.i32_shl).emit(op.i32_add).set(x);
      e.word(D.dy); f.get(i0).i32(2).emit(op.i32_shl).emit(op.i32_add).set(dy);
      e.word(D.out); f.get(i0).i32(2).emit(op.i32_shl).emit(op.i32_add).set(out);
      e.cols(i, n, (vec) => {
        e.ld(vec, x, i).set(xv);
        // z = exp(−2y)
        f.get(xv).get(xv).v(simd.f32x4_mul).get(xv).v(simd.f32x4_mul).get(cCube).v(simd.f32x4_mul).get(xv).v(simd.f32x4_add);
        f.get(cArg).v(simd.f32x4_mul); // z = −2y·log2 e
        e.exp2(ec);
        if (!backward) {
          f.set(z).get(xv).get(one).get(z).v(simd.f32x4_add).v(simd.f32x4_div);
        } else {
          // z <- s = 1 / (1 + z)
          f.set(z).get(one).get(one).get(z).v(simd.f32x4_add).v(simd.f32x4_div).set(z);
          f.get(z);
          f.get(xv).get(z).v(simd.f32x4_mul).get(one).get(z).v(simd.f32x4_sub).v(simd.f32x4_mul);
          f.get(c2).v(simd.f32x4_mul);
          f.get(xv).get(xv).v(simd.f32x4_mul).get(c3).v(simd.f32x4_mul).get(one).v(simd.f32x4_add);
          f.v(simd.f32x4_mul).v(simd.f32x4_add);
          e.ld(vec, dy, i).v(simd.f32x4_mul);
        }
        e.st(vec, out, i, tmp);
      });
    });
  }

  // binary_rows: one elementwise op over rows, each operand a full row, a broadcast row or a scalar per
  // row (column stride 1 or 0). The 16 (op, aCol, bCol) combinations each get their own loop.
  kernel(mb, 'binary_rows', relaxed, (f, e) => {
    const D = RD.binary;
    const [r0, r1, r, c, cols, code, aRow, bRow, ar, br, or] = Array.from({ length: 11 }, () => f.local(I32));
    const [tmp, av, bv] = Array.from({ length: 3 }, () => f.local(V128));
    e.range(U, D.rows, D.per, r0, r1);
    e.word(D.cols); f.set(cols);
    e.word(D.aRow); f.i32(2).emit(op.i32_shl).set(aRow);
    e.word(D.bRow); f.i32(2).emit(op.i32_shl).set(bRow);
    e.word(D.op); e.word(D.aCol); f.i32(2).emit(op.i32_shl).emit(op.i32_or); e.word(D.bCol); f.i32(3).emit(op.i32_shl).emit(op.i32_or).set(code);
    const vops = [simd.f32x4_add, simd.f32x4_sub, simd.f32x4_mul, simd.f32x4_div];
    for (let opi = 0; opi < 4; opi++) {
      for (const aCol of [0, 1]) {
        for (const bCol of [0, 1]) {
          f.get(code).i32(opi | (aCol << 2) | (bCol << 3)).emit(op.i32_eq).if();
          f.for(r, (g) => g.get(r0), (g) => g.get(r1), 1, () => {
            e.word(D.a); f.get(r).get(aRow).emit(op.i32_mul).emit(op.i32_add).set(ar);
            e.word(D.b); f.get(r).get(bRow).emit(op.i32_mul).emit(op.i32_add).set(br);
            rowAddr(f, () => e.word(D.out), r, cols).set(or);
            // a scalar operand is splatted once per row
            if (!aCol) f.get(ar).vsplatLoad(0).set(av);
            if (!bCol) f.get(br).vsplatLoad(0).set(bv);
            e.cols(c, cols, (vec) => {
              if (aCol) e.ld(vec, ar, c); else f.get(av);
              if (bCol) e.ld(vec, br, c); else f.get(bv);
              f.v(vops[opi]);
              e.st(vec, or, c, tmp);
            });
          });
          f.end();
        }
      }
    }
  });
}
