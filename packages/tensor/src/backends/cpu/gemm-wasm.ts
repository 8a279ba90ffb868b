/**
 * The GEMM kernels, emitted as WebAssembly: an MR×NR register-tiled f32x4 microkernel and the
 * macro-kernel `gemm_unit` that walks one (batch, MC-block, NC-block) unit of the output.
 *
 * Packed layouts (written by gemm.ts, read here), for a KC-block starting at depth pc with kc = its depth:
 *   A: aPack + pc·Mpad floats, then one panel per MR rows: panel at ir·kc, element (k, r) at k·MR + r
 *   B: bPack + pc·Npad floats, then one panel per NR cols: panel at jr·kc, element (k, c) at k·NR + c
 * Rows past M and columns past N are zero in the packs, so the microkernel always computes a full tile;
 * edge tiles go through a per-thread scratch tile and only their valid part reaches C.
 *
 * Every output element is one K-long dot product accumulated in k order (the KC blocks in order, C
 * holding the running sum between blocks), whichever thread computes it: results do not depend on the
 * thread count or on which tiles are edges.
 */
import { Body, F32, I32, V128, op, simd, uleb, type ModuleBuilder } from './wasm';

export interface GemmShape {
  MR: number; // rows of the register tile
  NR: number; // columns of the register tile (a multiple of 4)
}

/** Words of the GEMM job descriptor (i32 at desc + 4·index). */
export const GD = {
  M: 0, N: 1, K: 2, KC: 3, MC: 4, NC: 5, nbM: 6, nbN: 7, table: 8, scratch: 9, Mpad: 10, Npad: 11,
  bands: 12, // 0, or the address of one i32 per (batch, MC-row band): units finished in that band
  // triangular structure of causal attention (see `Causal`)
  causal: 13,
  size: 14,
} as const;

/**
 * Triangular shortcuts for causal attention, where M = K = T (or M = N = T) per batch entry:
 *   ABOVE_ZERO: C is only read on and below the diagonal: tiles entirely above it are set to 0, not computed
 *   A_LOWER: A is zero above the diagonal (A[m, k] = 0 for k > m): depth stops after the tile's last row
 *   A_UPPER: A is zero below the diagonal (A[m, k] = 0 for k < m): depth starts at the tile's first row
 * Skipped depth contributes exact zeros, so results equal the full product's.
 */
export const Causal = { NONE: 0, ABOVE_ZERO: 1, A_LOWER: 2, A_UPPER: 3 } as const;

/**
 * Words of one packing descriptor; `pack_unit`'s desc holds two of them back to back (A then B).
 * Element (lane r, depth k) of matrix i is at f32 index base + off_i + r·laneStride + k·depthStride
 * (lanes are A's rows or B's columns, depth is k); its pack starts at byte dst_i.
 * `table` lists (off_i, dst_i) for `count` matrices.
 */
export const PD = {
  base: 0, laneStride: 1, depthStride: 2, R: 3, K: 4, KC: 5, Rpad: 6, panels: 7, kBlocks: 8, count: 9, table: 10,
  units: 11, order: 12, size: 13,
} as const;

/**
 * Order of a matrix's pack units, matching the order its staging copy arrives in (PD.order):
 * BLOCK_MAJOR: (KC block, panel group), group fastest, for an operand staged KC block by KC block;
 * GROUP_MAJOR: (panel group, KC block), block fastest, for one staged PACK_GROUP panels of lanes at a time.
 */
export const PackOrder = { BLOCK_MAJOR: 0, GROUP_MAJOR: 1 } as const;

/**
 * micro(a, b, c, ldc, kc, accumulate): C[MR×NR] (row stride ldc bytes) = (accumulate ? C : 0) + Σ_k a_k ⊗ b_k,
 * a_k the MR floats at a + k·MR·4 and b_k the NR floats at b + k·NR·4 (packed panels). With `relaxed`,
 * each step is one f32x4.relaxed_madd (a fused multiply-add on x86 with FMA3), else f32x4.mul then
 * f32x4.add.
 *
 * The k loop is not unrolled: V8's register allocator then keeps all 12 accumulators, the 2 B vectors
 * and the broadcast in the 15 usable xmm registers (unrolling by 2 or 4 made it spill and run ~40% slower).
 */
export function emitMicrokernel(shape: GemmShape, relaxed: boolean): Body {
  const { MR, NR } = shape;
  const NV = NR / 4;
  const f = new Body([I32, I32, I32, I32, I32, I32]);
  const [a, b, c, ldc, kc, accumulate] = [0, 1, 2, 3, 4, 5];
  const acc: number[][] = [];
  for (let i = 0; i < MR; i++) acc.push(Array.from({ length: NV }, () => f.local(V128)));
  const bv = Array.from({ length: NV }, () => f.local(V128));
  const av = f.local(V128);
  const row = f.local(I32);
  const n = f.local(I32);

  // acc = accumulate ? C : 0
  f.get(accumulate).if();
  f.get(c).set(row);
  for (let i = 0; i < MR; i++) {
    for (let j = 0; j < NV; j++) f.get(row).vload(16 * j).set(acc[i][j]);
    if (i < MR - 1) f.get(row).get(ldc).emit(op.i32_add).set(row);
  }
  f.else();
  for (let i = 0; i < MR; i++) for (let j = 0; j < NV; j++) f.f32x4(0).set(acc[i][j]);
  f.end();

  // for (n = kc; n > 0; n--): one rank-1 update
  f.get(kc).set(n);
  f.block().get(n).i32(1).emit(op.i32_lt_s).brIf(0).loop();
  for (let j = 0; j < NV; j++) f.get(b).vload(16 * j).set(bv[j]);
  for (let i = 0; i < MR; i++) {
    f.get(a).vsplatLoad(4 * i).set(av);
    for (let j = 0; j < NV; j++) {
      if (relaxed) f.get(av).get(bv[j]).get(acc[i][j]).v(simd.f32x4_relaxed_madd).set(acc[i][j]);
      else f.get(acc[i][j]).get(av).get(bv[j]).v(simd.f32x4_mul).v(simd.f32x4_add).set(acc[i][j]);
    }
  }
  f.get(a).i32(4 * MR).emit(op.i32_add).set(a);
  f.get(b).i32(4 * NR).emit(op.i32_add).set(b);
  f.get(n).i32(1).emit(op.i32_sub).tee(n).i32(0).emit(op.i32_gt_s).brIf(0);
  f.end().end();

  f.get(c).set(row);
  for (let i = 0; i < MR; i++) {
    for (let j = 0; j < NV; j++) f.get(row).get(acc[i][j]).vstore(16 * j);
    if (i < MR - 1) f.get(row).get(ldc).emit(op.i32_add).set(row);
  }
  return f;
}

/**
 * gemm_unit(desc, u, tid): compute output unit u = (batch, block-row ib, block-col jb), u ordered with jb
 * fastest. desc holds the GD words; the batch table holds (aPack, bPack, c) byte
 * addresses per batch; tid picks the thread's scratch tile.
 */
export function emitGemmUnit(mb: ModuleBuilder, shape: GemmShape, micro: number): Body {
  const { MR, NR } = shape;
  const f = new Body([I32, I32, I32]);
  const [desc, u, tid] = [0, 1, 2];
  const L = () => f.local(I32);
  const M = L(), N = L(), K = L(), KC = L(), nbM = L(), Mpad = L(), Npad = L(), scratch = L();
  const bi = L(), ib = L(), jb = L(), m0 = L(), mEnd = L(), n0 = L(), nEnd = L();
  const aPack = L(), bPack = L(), c = L(), pc = L(), kc = L(), aBlock = L(), bBlock = L();
  const jr = L(), ir = L(), nValid = L(), mValid = L(), cTile = L(), i = L(), j = L(), per = L();
  const bPanel = L(), causal = L(), kLo = L(), kHi = L(), s0 = L(), s1 = L(), aArg = L(), bArg = L(), kcArg = L(), acc = L();
  const word = (w: number, into: number) => f.get(desc).load(op.i32_load, 4 * w).set(into);
  const min = (x: () => void, y: () => void, into: number) => {
    x(); y(); x(); y(); f.emit(op.i32_lt_s).emit(op.select).set(into);
  };
  word(GD.M, M); word(GD.N, N); word(GD.K, K); word(GD.KC, KC); word(GD.nbM, nbM);
  word(GD.Mpad, Mpad); word(GD.Npad, Npad); word(GD.causal, causal);
  // scratch tile of this thread
  f.get(desc).load(op.i32_load, 4 * GD.scratch).get(tid).i32(4 * MR * NR).emit(op.i32_mul).emit(op.i32_add).set(scratch);
  // u -> (bi, ib, jb): the units of one row band are consecutive, so bands complete in order
  f.get(nbM).get(desc).load(op.i32_load, 4 * GD.nbN).emit(op.i32_mul).set(per);
  f.get(u).get(per).emit(op.i32_div_u).set(bi);
  f.get(u).get(per).emit(op.i32_rem_u).tee(j).get(desc).load(op.i32_load, 4 * GD.nbN).emit(op.i32_div_u).set(ib);
  f.get(j).get(desc).load(op.i32_load, 4 * GD.nbN).emit(op.i32_rem_u).set(jb);
  // batch table entry
  f.get(desc).load(op.i32_load, 4 * GD.table).get(bi).i32(12).emit(op.i32_mul).emit(op.i32_add).set(j);
  f.get(j).load(op.i32_load, 0).set(aPack);
  f.get(j).load(op.i32_load, 4).set(bPack);
  f.get(j).load(op.i32_load, 8).set(c);
  // block bounds
  f.get(ib).get(desc).load(op.i32_load, 4 * GD.MC).emit(op.i32_mul).set(m0);
  min(() => f.get(m0).get(desc).load(op.i32_load, 4 * GD.MC).emit(op.i32_add), () => f.get(M), mEnd);
  f.get(jb).get(desc).load(op.i32_load, 4 * GD.NC).emit(op.i32_mul).set(n0);
  min(() => f.get(n0).get(desc).load(op.i32_load, 4 * GD.NC).emit(op.i32_add), () => f.get(N), nEnd);

  f.for(pc, (g) => g.i32(0), (g) => g.get(K), (g) => g.get(KC), () => {
    min(() => f.get(KC), () => f.get(K).get(pc).emit(op.i32_sub), kc);
    f.get(aPack).get(pc).get(Mpad).emit(op.i32_mul).i32(2).emit(op.i32_shl).emit(op.i32_add).set(aBlock);
    f.get(bPack).get(pc).get(Npad).emit(op.i32_mul).i32(2).emit(op.i32_shl).emit(op.i32_add).set(bBlock);
    f.for(jr, (g) => g.get(n0), (g) => g.get(nEnd), NR, () => {
      min(() => f.i32(NR), () => f.get(N).get(jr).emit(op.i32_sub), nValid);
      f.get(bBlock).get(jr).get(kc).emit(op.i32_mul).i32(2).emit(op.i32_shl).emit(op.i32_add).set(bPanel);
      f.for(ir, (g) => g.get(m0), (g) => g.get(mEnd), MR, () => {
        min(() => f.i32(MR), () => f.get(M).get(ir).emit(op.i32_sub), mValid);
        // C tile address
        f.get(c).get(ir).get(N).emit(op.i32_mul).get(jr).emit(op.i32_add).i32(2).emit(op.i32_shl).emit(op.i32_add).set(cTile);
        // depth range [kLo, kHi) of this tile, its part [s0, s1) in this block; accumulate unless the
        // block holds the tile's first depth step
        f.get(ir).i32(0).get(causal).i32(Causal.A_UPPER).emit(op.i32_eq).emit(op.select).set(kLo);
        f.get(K).set(kHi);
        f.get(causal).i32(Causal.A_LOWER).emit(op.i32_eq).if();
        min(() => f.get(K), () => f.get(ir).i32(MR).emit(op.i32_add), kHi);
        f.end();
        f.get(pc).get(kLo).get(pc).get(kLo).emit(op.i32_gt_s).emit(op.select).set(s0);
        min(() => f.get(pc).get(kc).emit(op.i32_add), () => f.get(kHi), s1);
        f.get(pc).get(kLo).emit(op.i32_gt_s).set(acc);
        f.get(s1).get(s0).emit(op.i32_sub).set(kcArg);
        f.get(aBlock).get(ir).get(kc).emit(op.i32_mul).get(s0).get(pc).emit(op.i32_sub).i32(MR).emit(op.i32_mul).emit(op.i32_add).i32(2).emit(op.i32_shl).emit(op.i32_add).set(aArg);
        f.get(bPanel).get(s0).get(pc).emit(op.i32_sub).i32(4 * NR).emit(op.i32_mul).emit(op.i32_add).set(bArg);
        f.block(); // skip target
        f.get(causal).i32(Causal.ABOVE_ZERO).emit(op.i32_eq).get(jr).get(ir).i32(MR).emit(op.i32_add).emit(op.i32_ge_s).emit(op.i32_and).if();
        {
          // entirely above the diagonal: zeros (once), nothing to compute
          f.get(pc).emit(op.i32_eqz).if();
          f.for(i, (g) => g.i32(0), (g) => g.get(mValid), 1, () => {
            f.for(j, (g) => g.i32(0), (g) => g.get(nValid), 1, () => {
              f.get(cTile).get(i).get(N).emit(op.i32_mul).get(j).emit(op.i32_add).i32(2).emit(op.i32_shl).emit(op.i32_add).f32(0).store(op.f32_store);
            });
          });
          f.end();
          f.br(1);
        }
        f.end();
        f.get(kcArg).i32(1).emit(op.i32_lt_s).brIf(0); // no depth of this tile in this block
        const pushAB = () => { f.get(aArg).get(bArg); };
        f.get(mValid).i32(MR).emit(op.i32_eq).get(nValid).i32(NR).emit(op.i32_eq).emit(op.i32_and).if();
        pushAB();
        f.get(cTile).get(N).i32(2).emit(op.i32_shl).get(kcArg).get(acc).call(micro);
        f.else();
        // edge tile: scratch <- C (when accumulating), micro on scratch, C <- valid part of scratch
        const copy = (toScratch: boolean) => {
          f.for(i, (g) => g.i32(0), (g) => g.get(mValid), 1, () => {
            f.for(j, (g) => g.i32(0), (g) => g.get(nValid), 1, () => {
              const sAddr = () => f.get(scratch).get(i).i32(NR).emit(op.i32_mul).get(j).emit(op.i32_add).i32(2).emit(op.i32_shl).emit(op.i32_add);
              const cAddr = () => f.get(cTile).get(i).get(N).emit(op.i32_mul).get(j).emit(op.i32_add).i32(2).emit(op.i32_shl).emit(op.i32_add);
              if (toScratch) { sAddr(); cAddr(); } else { cAddr(); sAddr(); }
              f.load(op.f32_load).store(op.f32_store);
            });
          });
        };
        f.get(acc).if();
        copy(true);
        f.end();
        pushAB();
        f.get(scratch).i32(4 * NR).get(kcArg).get(acc).call(micro);
        copy(false);
        f.end();
        f.end(); // skip target
      });
    });
  });
  // bands[u / nbN] += 1 (i32.atomic.rmw.add): the main thread copies finished bands out while the
  // other threads compute their last units
  f.get(desc).load(op.i32_load, 4 * GD.bands).if();
  f.get(desc).load(op.i32_load, 4 * GD.bands).get(u).get(desc).load(op.i32_load, 4 * GD.nbN).emit(op.i32_div_u).i32(2).emit(op.i32_shl).emit(op.i32_add);
  f.i32(1).emit(0xfe, 0x1e, 2, 0).emit(op.drop);
  f.end();
  return f;
}

/** Words of the FMA-ceiling probe's descriptor (i32 at desc + 4·index), see `emitPeakUnit`. */
export const PK = { base: 0, stride: 1, kc: 2, reps: 3, size: 4 } as const;

/**
 * peak_unit(desc, u, tid): the machine's ceiling for this microkernel: `reps` calls of it on one
 * thread-private tile whose panels stay in L1 (A and B panels of depth kc, then the C tile, at
 * base + tid·stride), so no packing, no cache misses and no edges. GEMM time against this, measured in
 * the same minute, is the GEMM's efficiency whatever the host lends the 2 vCPUs just then.
 */
export function emitPeakUnit(shape: GemmShape, micro: number): Body {
  const { MR, NR } = shape;
  const f = new Body([I32, I32, I32]);
  const [desc, , tid] = [0, 1, 2];
  const area = f.local(I32), kc = f.local(I32), n = f.local(I32);
  f.get(desc).load(op.i32_load, 4 * PK.base).get(tid).get(desc).load(op.i32_load, 4 * PK.stride).emit(op.i32_mul).emit(op.i32_add).set(area);
  f.get(desc).load(op.i32_load, 4 * PK.kc).set(kc);
  f.get(desc).load(op.i32_load, 4 * PK.reps).set(n);
  f.block().get(n).i32(1).emit(op.i32_lt_s).brIf(0).loop();
  // micro(a, b, c, ldc, kc, accumulate)
  f.get(area);
  f.get(area).get(kc).i32(4 * MR).emit(op.i32_mul).emit(op.i32_add);
  f.get(area).get(kc).i32(4 * (MR + NR)).emit(op.i32_mul).emit(op.i32_add);
  f.i32(4 * NR).get(kc).i32(1).call(micro);
  f.get(n).i32(1).emit(op.i32_sub).tee(n).i32(0).emit(op.i32_gt_s).brIf(0);
  f.end().end();
  return f;
}

/** The smallest normal float32. */
const FLT_MIN = 1.1754943508222875e-38;

/**
 * Flush a subnormal to zero (the v128 / f32 on the stack; NaN and ±inf pass). The packer applies it to
 * every value: x86 multiplies subnormals through a microcode assist ~50× slower, WebAssembly cannot
 * set the FTZ/DAZ flags, and a softmax over masked scores or a vanishing gradient produces them in
 * bulk. Their contribution (< 1.2e−38 per product term) is far below float32 resolution of any sum.
 */
function ftzVec(f: Body, tmp: number): void {
  f.tee(tmp).get(tmp).v(simd.f32x4_abs).f32x4(FLT_MIN).v(simd.f32x4_lt).v(simd.v128_andnot);
}
function ftzScalar(f: Body, tmp: number): void {
  f.set(tmp).f32(0).get(tmp).get(tmp).emit(op.f32_abs).f32(FLT_MIN).emit(op.f32_lt).emit(op.select); // |x| < MIN ? 0 : x
}

/** Panels packed by one pack unit: a row of a row-major B is then read as one 256-byte run. */
export const PACK_GROUP = 8;

/**
 * pack_unit(desc, u, tid): pack one (matrix, KC block, group of PACK_GROUP panels) of A (units below
 * descA.units) or B (the rest) from a staged copy of the operand into the panel layout above.
 * Contiguous lanes (a row-major B, a transposed A) are copied depth step by depth step, the group's
 * panels side by side, so the source is read sequentially; otherwise each lane is read along depth and
 * written with stride PR. Lanes past R are zero. The code is emitted twice, with PR = MR and PR = NR as
 * constants, so full panels copy with unrolled (vector, when PR % 4 = 0) moves.
 */
export function emitPackUnit(shape: GemmShape): Body {
  const f = new Body([I32, I32, I32]);
  const [desc, u] = [0, 1];
  const L = () => f.local(I32);
  const d = L(), ls = L(), ds = L(), R = L(), kc = L(), per = L(), mi = L(), kb = L(), g = L(), p = L(), pEnd = L();
  const src = L(), dst = L(), lanes = L(), k = L(), r = L(), s = L(), w = L(), K = L(), KC = L(), panels = L();
  const tv = f.local(V128), ts = f.local(F32);
  const word = (wd: number) => f.get(d).load(op.i32_load, 4 * wd);
  const shl2 = () => f.i32(2).emit(op.i32_shl);

  const half = (PR: number): void => {
    word(PD.laneStride); f.set(ls); word(PD.depthStride); f.set(ds); word(PD.R); f.set(R);
    word(PD.K); f.set(K); word(PD.KC); f.set(KC); word(PD.panels); f.set(panels);
    // u -> (matrix mi, block kb, group g), in PD.order
    const groups = f.local(I32), kBlocks = f.local(I32);
    f.get(panels).i32(PACK_GROUP - 1).emit(op.i32_add).i32(PACK_GROUP).emit(op.i32_div_u).set(groups);
    word(PD.kBlocks); f.set(kBlocks);
    f.get(groups).get(kBlocks).emit(op.i32_mul).set(per);
    f.get(u).get(per).emit(op.i32_div_u).set(mi);
    f.get(u).get(per).emit(op.i32_rem_u).set(g);
    word(PD.order); f.i32(PackOrder.GROUP_MAJOR).emit(op.i32_eq).if();
    f.get(g).get(kBlocks).emit(op.i32_rem_u).set(kb);
    f.get(g).get(kBlocks).emit(op.i32_div_u).set(g);
    f.else();
    f.get(g).get(groups).emit(op.i32_div_u).set(kb);
    f.get(g).get(groups).emit(op.i32_rem_u).set(g);
    f.end();
    // kc = min(KC, K − kb·KC); panels [g·G, min(panels, g·G + G))
    f.get(K).get(kb).get(KC).emit(op.i32_mul).emit(op.i32_sub).tee(kc).get(KC).get(kc).get(KC).emit(op.i32_lt_s).emit(op.select).set(kc);
    f.get(g).i32(PACK_GROUP).emit(op.i32_mul).tee(p).i32(PACK_GROUP).emit(op.i32_add).tee(pEnd).get(panels).get(pEnd).get(panels).emit(op.i32_lt_s).emit(op.select).set(pEnd);
    // src: element index of (lane 0, depth kb·KC) of the matrix; dst: byte address of its block kb
    word(PD.base); f.get(d).load(op.i32_load, 4 * PD.table).get(mi).i32(3).emit(op.i32_shl).emit(op.i32_add).tee(w).load(op.i32_load, 0).emit(op.i32_add);
    f.get(kb).get(KC).emit(op.i32_mul).get(ds).emit(op.i32_mul).emit(op.i32_add).set(src);
    f.get(w).load(op.i32_load, 4).get(kb).get(KC).emit(op.i32_mul).i32(PR).emit(op.i32_mul).get(panels).emit(op.i32_mul); shl2(); f.emit(op.i32_add).set(dst);
    // lanes of panel p = min(PR, R − p·PR)
    const setLanes = () => {
      f.get(R).get(p).i32(PR).emit(op.i32_mul).emit(op.i32_sub).tee(lanes).i32(PR).get(lanes).i32(PR).emit(op.i32_lt_s).emit(op.select).set(lanes);
    };
    f.get(ls).i32(1).emit(op.i32_eq).if();
    {
      // contiguous lanes: for each depth step, the group's panels side by side. Pointers advance by
      // adds: s by PR floats per panel, w by one panel (PR·kc floats); full panels are those below pFull
      const pFull = f.local(I32), pStep = f.local(I32);
      f.get(R).i32(PR).emit(op.i32_div_u).set(pFull);
      f.get(kc).i32(4 * PR).emit(op.i32_mul).set(pStep);
      f.for(k, (b) => b.i32(0), (b) => b.get(kc), 1, () => {
        f.get(src).get(k).get(ds).emit(op.i32_mul).emit(op.i32_add).get(g).i32(PACK_GROUP * PR).emit(op.i32_mul).emit(op.i32_add); shl2(); f.set(s);
        f.get(dst).get(g).i32(PACK_GROUP).emit(op.i32_mul).get(pStep).emit(op.i32_mul).emit(op.i32_add).get(k).i32(4 * PR).emit(op.i32_mul).emit(op.i32_add).set(w);
        f.for(p, (b) => b.get(g).i32(PACK_GROUP).emit(op.i32_mul), (b) => b.get(pEnd), 1, () => {
          f.get(p).get(pFull).emit(op.i32_lt_u).if();
          // PR floats as vectors: lanes 0–3, 4–7, …; a PR that is not a multiple of 4 (MR = 6) ends with
          // a group overlapping the previous one (lanes 2–5), writing the same values twice
          const groups = PR % 4 === 0 ? Array.from({ length: PR / 4 }, (_, i) => 4 * i) : [...Array.from({ length: Math.floor(PR / 4) }, (_, i) => 4 * i), PR - 4];
          for (const v of groups) { f.get(w).get(s).emit(0xfd, 0x00, 0, ...uleb(4 * v)); ftzVec(f, tv); f.emit(0xfd, 0x0b, 0, ...uleb(4 * v)); }
          f.else();
          setLanes();
          f.for(r, (b) => b.i32(0), (b) => b.i32(PR), 1, () => {
            const at = () => { f.get(w).get(r); shl2(); f.emit(op.i32_add); };
            f.get(r).get(lanes).emit(op.i32_lt_s).if();
            at(); f.get(s).get(r); shl2(); f.emit(op.i32_add).load(op.f32_load); ftzScalar(f, ts); f.store(op.f32_store);
            f.else();
            at(); f.f32(0).store(op.f32_store);
            f.end();
          });
          f.end();
          f.get(s).i32(4 * PR).emit(op.i32_add).set(s);
          f.get(w).get(pStep).emit(op.i32_add).set(w);
        });
      });
    }
    f.else();
    {
      // general strides: walk each lane along depth, writing with stride PR. With depth contiguous (a
      // row-major A, a transposed B) full panels go 4 lanes × 4 depth steps at a time: 4 vector loads,
      // a 4×4 transpose in shuffles, 4 vector stores (for PR = 6 the lane groups 0–3 and 2–5 overlap).
      const k4 = f.local(I32);
      const vl = [0, 1, 2, 3].map(() => f.local(V128)), vt = [0, 1, 2, 3].map(() => f.local(V128));
      const laneGroups = PR % 4 === 0 ? Array.from({ length: PR / 4 }, (_, i) => 4 * i) : [0, PR - 4];
      f.for(p, (b) => b.get(g).i32(PACK_GROUP).emit(op.i32_mul), (b) => b.get(pEnd), 1, () => {
        setLanes();
        f.i32(0).set(k4);
        f.get(ds).i32(1).emit(op.i32_eq).get(lanes).i32(PR).emit(op.i32_eq).emit(op.i32_and).if();
        f.get(kc).i32(~3).emit(op.i32_and).set(k4);
        f.for(k, (b) => b.i32(0), (b) => b.get(k4), 4, () => {
          for (const g0 of laneGroups) {
            // vl[i] = depth k..k+3 of lane g0 + i
            for (let i = 0; i < 4; i++) {
              f.get(src).get(p).i32(PR).emit(op.i32_mul).i32(g0 + i).emit(op.i32_add).get(ls).emit(op.i32_mul).emit(op.i32_add).get(k).emit(op.i32_add); shl2();
              f.emit(0xfd, 0x00, 0, 0); ftzVec(f, tv); f.set(vl[i]);
            }
            shuffle(f, vl[0], vl[1], [0, 4, 1, 5], vt[0]); shuffle(f, vl[0], vl[1], [2, 6, 3, 7], vt[1]);
            shuffle(f, vl[2], vl[3], [0, 4, 1, 5], vt[2]); shuffle(f, vl[2], vl[3], [2, 6, 3, 7], vt[3]);
            shuffle(f, vt[0], vt[2], [0, 1, 4, 5], vl[0]); shuffle(f, vt[0], vt[2], [2, 3, 6, 7], vl[1]);
            shuffle(f, vt[1], vt[3], [0, 1, 4, 5], vl[2]); shuffle(f, vt[1], vt[3], [2, 3, 6, 7], vl[3]);
            // depth k + j, lanes g0..g0+3 -> dst + (p·PR·kc + (k + j)·PR + g0)·4
            for (let j = 0; j < 4; j++) {
              f.get(dst).get(p).i32(PR).emit(op.i32_mul).get(kc).emit(op.i32_mul).get(k).i32(j).emit(op.i32_add).i32(PR).emit(op.i32_mul).emit(op.i32_add).i32(g0).emit(op.i32_add); shl2(); f.emit(op.i32_add);
              f.get(vl[j]).emit(0xfd, 0x0b, 0, 0);
            }
          }
        });
        f.end();
        f.for(r, (b) => b.i32(0), (b) => b.i32(PR), 1, () => {
          f.get(dst).get(p).i32(PR).emit(op.i32_mul).get(kc).emit(op.i32_mul).get(k4).i32(PR).emit(op.i32_mul).emit(op.i32_add).get(r).emit(op.i32_add); shl2(); f.emit(op.i32_add).set(w);
          f.get(r).get(lanes).emit(op.i32_lt_s).if();
          f.get(src).get(p).i32(PR).emit(op.i32_mul).get(r).emit(op.i32_add).get(ls).emit(op.i32_mul).emit(op.i32_add).get(k4).get(ds).emit(op.i32_mul).emit(op.i32_add); shl2(); f.set(s);
          f.get(ds).i32(2).emit(op.i32_shl).set(lanes); // reuse: the byte step along depth
          f.for(k, (b) => b.get(k4), (b) => b.get(kc), 1, () => {
            f.get(w).get(s).load(op.f32_load); ftzScalar(f, ts); f.store(op.f32_store);
            f.get(s).get(lanes).emit(op.i32_add).set(s);
            f.get(w).i32(4 * PR).emit(op.i32_add).set(w);
          });
          setLanes();
          f.else();
          f.for(k, (b) => b.get(k4), (b) => b.get(kc), 1, () => {
            f.get(w).f32(0).store(op.f32_store);
            f.get(w).i32(4 * PR).emit(op.i32_add).set(w);
          });
          f.end();
        });
      });
    }
    f.end();
  };

  // pick the A or B half
  f.get(u).get(desc).load(op.i32_load, 4 * PD.units).emit(op.i32_lt_u).if();
  f.get(desc).set(d);
  half(shape.MR);
  f.else();
  f.get(u).get(desc).load(op.i32_load, 4 * PD.units).emit(op.i32_sub).set(u);
  f.get(desc).i32(4 * PD.size).emit(op.i32_add).set(d);
  half(shape.NR);
  f.end();
  return f;
}

/** into = i8x16.shuffle(a, b) selecting the 32-bit lanes `lanes` (0–3 from a, 4–7 from b). */
function shuffle(f: Body, a: number, b: number, lanes: number[], into: number): void {
  const bytes = lanes.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3]);
  f.get(a).get(b).emit(0xfd, 0x0d, ...bytes).set(into);
}
