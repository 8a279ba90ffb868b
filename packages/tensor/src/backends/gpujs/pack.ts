/**
 * Host-side packing of matmul operands into the contiguous layouts the gpu.js kernels read (sources.ts):
 * any strides, transposes and broadcast batches in `MatmulArgs` become plain row-major blocks.
 *   A → [batchA, M, K]
 *   B → [batchB, K, N4], N4 = N rounded up to a multiple of 4, padding columns zero
 * batchA (batchB) is 1 when every batch index reads the same matrix (a broadcast operand, e.g. a weight
 * shared by all rows of a batch), so that matrix is uploaded once.
 */
import type { MatmulArgs } from '../../kernels';

export interface PackedMatmul {
  batch: number;
  M: number;
  K: number;
  N: number;
  N4: number;
  /** Matrices in the packed A / B (1 when broadcast, else batch). */
  batchA: number;
  batchB: number;
  a: Float32Array;
  b: Float32Array;
}

/** True when every batch index reads the matrix at the same offset. */
function broadcast(offsets: Int32Array): boolean {
  for (let i = 1; i < offsets.length; i++) if (offsets[i] !== offsets[0]) return false;
  return true;
}

export function roundUp4(n: number): number {
  return (n + 3) & ~3;
}

export function packMatmul(p: MatmulArgs): PackedMatmul {
  const { batch, M, K, N } = p;
  const N4 = roundUp4(N);
  const batchA = broadcast(p.aOffsets) ? 1 : batch;
  const batchB = broadcast(p.bOffsets) ? 1 : batch;

  // A[z][m][k] = a[aOffsets[z] + m·aRowStride + k·aColStride]
  const a = new Float32Array(batchA * M * K);
  const src = p.a;
  for (let z = 0; z < batchA; z++) {
    const base = p.aOffsets[z];
    if (p.aColStride === 1 && p.aRowStride === K) {
      a.set(src.subarray(base, base + M * K), z * M * K); // already contiguous
      continue;
    }
    let o = z * M * K;
    for (let m = 0; m < M; m++) {
      const row = base + m * p.aRowStride;
      for (let k = 0; k < K; k++) a[o++] = src[row + k * p.aColStride];
    }
  }

  // B[z][k][n] = b[bOffsets[z] + k·bRowStride + n·bColStride], zero for n ≥ N
  const b = new Float32Array(batchB * K * N4);
  const bsrc = p.b;
  for (let z = 0; z < batchB; z++) {
    const base = p.bOffsets[z];
    if (p.bRowStride === 1 && p.bColStride !== 1) {
      // transposed B (x·Wᵀ): read the source contiguously, column n of B being row n of W
      for (let n = 0; n < N; n++) {
        const col = base + n * p.bColStride;
        for (let k = 0; k < K; k++) b[(z * K + k) * N4 + n] = bsrc[col + k];
      }
      continue;
    }
    for (let k = 0; k < K; k++) {
      const row = base + k * p.bRowStride;
      const o = (z * K + k) * N4;
      if (p.bColStride === 1) {
        b.set(bsrc.subarray(row, row + N), o);
      } else {
        for (let n = 0; n < N; n++) b[o + n] = bsrc[row + n * p.bColStride];
      }
    }
  }
  return { batch, M, K, N, N4, batchA, batchB, a, b };
}
