/**
 * The gpu.js kernel sources: one plain function per kernel, computing the output element(s) of one thread
 * (`this.thread.x/y/z`). gpu.js transpiles each source to GLSL (headlessgl, webgl2), WGSL (webgpu),
 * WebAssembly (webasm) or JavaScript (cpu); the same source runs in every mode, and the parity suite runs
 * every mode that loads here against `ref`.
 *
 * gpu.js reads these functions back with `toString()`, so they are written in the subset it translates:
 * numbers only, loops bounded by `this.constants` (compiled into each kernel; kernels are cached per shape),
 * no closures, no array-valued locals, no destructuring. `Infinity` becomes FLT_MAX in GLSL, so "masked"
 * below means x ≤ −FLT_MAX there (−inf and −FLT_MAX) and x = −inf elsewhere; both give exp(x − max) = 0.
 *
 * Arguments are indexed by coordinates (x[r][c], a[z][m][k]), never by a flat index: GLSL computes kernel
 * arithmetic in float32, which is exact only below 2^24, while gpu.js turns coordinates into a texel
 * address with integer math. Layouts (gpu.js lists dims fastest first):
 *   matmul   a [batchA][M][K], b [batchB][K][N4] with N4 = N rounded up to 4 (zero padded), batchA/B 1 when
 *            broadcast; output [N4/4, M, batch] of Array(4): thread (x, y, z) computes C[z][y][4x .. 4x+3].
 *   softmax  x [rows][cols]; row reductions over `chunks` blocks of `chunk` columns, then combined.
 *   attention q, k, v [BH][T][D]; scores and probs [BH·T][T] (row h·T + t), out [BH][T][D].
 */

/** What gpu.js puts on `this` inside a kernel (the subset used here). */
export interface KernelThis<C> {
  thread: { x: number; y: number; z: number };
  constants: C;
}

/** Kernel arguments: typed arrays wrapped by gpu.js `input(data, dims)`, or textures from earlier kernels. */
export type Arr1 = ArrayLike<number>;
export type Arr2 = ArrayLike<Arr1>;
export type Arr3 = ArrayLike<Arr2>;

// ---------------------------------------------------------------------------------------------------
// Upload: copy a host array into a device texture (used only in the GL modes, where a texture is the
// device buffer later kernels read; cpu/webasm read host arrays directly).

export function copy2d(this: KernelThis<object>, x: Arr2): number {
  return x[this.thread.y][this.thread.x];
}

export function copy3d(this: KernelThis<object>, x: Arr3): number {
  return x[this.thread.z][this.thread.y][this.thread.x];
}

// ---------------------------------------------------------------------------------------------------
// Matmul, register-tiled 1×4: each thread keeps four accumulators and reads A[m][k] once per k for four
// outputs (a fragment shader has no shared memory, so register tiling is the tiling every mode allows).

export interface MatmulConstants {
  K: number;
  aBatched: number; // 1 when A has one matrix per batch index, 0 when one matrix is broadcast
  bBatched: number;
}

export function matmulTile(this: KernelThis<MatmulConstants>, a: Arr3, b: Arr3): number[] {
  const m = this.thread.y;
  const za = this.thread.z * this.constants.aBatched;
  const zb = this.thread.z * this.constants.bBatched;
  const n = this.thread.x * 4;
  let c0 = 0.0;
  let c1 = 0.0;
  let c2 = 0.0;
  let c3 = 0.0;
  for (let k = 0; k < this.constants.K; k++) {
    const av = a[za][m][k];
    c0 += av * b[zb][k][n];
    c1 += av * b[zb][k][n + 1];
    c2 += av * b[zb][k][n + 2];
    c3 += av * b[zb][k][n + 3];
  }
  return [c0, c1, c2, c3];
}

// ---------------------------------------------------------------------------------------------------
// Row softmax, numerically stable, as five scalar kernels chained on the device (gpu.js cannot pass
// (max, sum) pairs between kernels with one source for every mode: GLSL reads pair[r][p] as a vec2, the
// WebAssembly translator rejects vector-valued locals). A row is reduced in `chunks` blocks so that long
// rows (a vocabulary) still give the device chunks·rows threads:
//   rowMaxPartial    [chunks, rows]  max of one block
//   rowMaxCombine    [rows]          M = max of the block maxima
//   rowSumExpPartial [chunks, rows]  Σ exp(x − M) over one block (masked entries add 0)
//   rowSumCombine    [rows]          S = Σ of the block sums
//   softmaxNormalize [cols, rows]    exp(x − M) / S ; a row of all −inf gives NaN, as ref and PyTorch

export interface RowConstants {
  cols: number;
  chunk: number; // columns per block
  chunks: number; // ceil(cols / chunk)
}

export function rowMaxPartial(this: KernelThis<RowConstants>, x: Arr2): number {
  const r = this.thread.y;
  const c0 = this.thread.x * this.constants.chunk;
  let m = -Infinity;
  for (let j = 0; j < this.constants.chunk; j++) {
    if (c0 + j < this.constants.cols) {
      const v = x[r][c0 + j];
      if (v > m) m = v;
    }
  }
  return m;
}

export function rowMaxCombine(this: KernelThis<RowConstants>, partial: Arr2): number {
  const r = this.thread.x;
  let m = -Infinity;
  for (let p = 0; p < this.constants.chunks; p++) {
    const v = partial[r][p];
    if (v > m) m = v;
  }
  return m;
}

export function rowSumExpPartial(this: KernelThis<RowConstants>, x: Arr2, rowMax: Arr1): number {
  const r = this.thread.y;
  const c0 = this.thread.x * this.constants.chunk;
  const m = rowMax[r];
  let s = 0.0;
  if (m > -Infinity) {
    for (let j = 0; j < this.constants.chunk; j++) {
      if (c0 + j < this.constants.cols) {
        const v = x[r][c0 + j];
        if (v > -Infinity) s += Math.exp(v - m);
      }
    }
  }
  return s;
}

export function rowSumCombine(this: KernelThis<RowConstants>, partial: Arr2): number {
  const r = this.thread.x;
  let s = 0.0;
  for (let p = 0; p < this.constants.chunks; p++) s += partial[r][p];
  return s;
}

export function softmaxNormalize(this: KernelThis<RowConstants>, x: Arr2, rowMax: Arr1, rowSum: Arr1): number {
  const r = this.thread.y;
  const v = x[r][this.thread.x];
  const m = rowMax[r];
  if (m > -Infinity) {
    if (v > -Infinity) return Math.exp(v - m) / rowSum[r];
    return 0.0;
  }
  // Every entry of the row is −inf: NaN, as (−inf) − (−inf) gives in ref. Shader compilers fold constant
  // NaN expressions (v − v, 0/s) to 0, so take it from a runtime value: rowSum ≥ 0 and sqrt(−1 − rowSum).
  return Math.sqrt(-1.0 - rowSum[r]);
}

// ---------------------------------------------------------------------------------------------------
// Softmax backward: dx = y ⊙ (dy − Σ_j dy_j·y_j), the row dot product reduced in blocks like the forward
// (rowDotPartial, then rowSumCombine).

export function rowDotPartial(this: KernelThis<RowConstants>, y: Arr2, dy: Arr2): number {
  const r = this.thread.y;
  const c0 = this.thread.x * this.constants.chunk;
  let s = 0.0;
  for (let j = 0; j < this.constants.chunk; j++) {
    if (c0 + j < this.constants.cols) s += y[r][c0 + j] * dy[r][c0 + j];
  }
  return s;
}

export function softmaxBackwardApply(this: KernelThis<RowConstants>, y: Arr2, dy: Arr2, dot: Arr1): number {
  const r = this.thread.y;
  const c = this.thread.x;
  return y[r][c] * (dy[r][c] - dot[r]);
}

// ---------------------------------------------------------------------------------------------------
// Attention per (batch·head), chained on the device in the GL modes: attentionScores → the softmax kernels
// above (rows = BH·T, cols = T) → attentionValues. Scalar outputs: the scores feed the softmax kernels,
// which read one value per row and column.

export interface AttentionConstants {
  T: number;
  D: number;
  scale: number;
  causal: number; // 1: position t attends to s ≤ t only
}

/** scores[h·T + t][s] = scale·q[h][t]·k[h][s], −inf above the diagonal when causal. */
export function attentionScores(this: KernelThis<AttentionConstants>, q: Arr3, k: Arr3): number {
  const row = this.thread.y;
  const h = Math.floor((row + 0.5) / this.constants.T); // + 0.5: exact even where division is approximate
  const t = row - h * this.constants.T;
  const s = this.thread.x;
  if (this.constants.causal > 0 && s > t) return -Infinity;
  let acc = 0.0;
  for (let d = 0; d < this.constants.D; d++) acc += q[h][t][d] * k[h][s][d];
  return acc * this.constants.scale;
}

/** out[h][t][d] = Σ_s probs[h·T + t][s]·v[h][s][d]. */
export function attentionValues(this: KernelThis<AttentionConstants>, probs: Arr2, v: Arr3): number {
  const h = this.thread.z;
  const t = this.thread.y;
  const row = h * this.constants.T + t;
  let acc = 0.0;
  for (let s = 0; s < this.constants.T; s++) acc += probs[row][s] * v[h][s][this.thread.x];
  return acc;
}
