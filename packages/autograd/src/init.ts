/** Parameter initializers (seeded), as torch.nn.init. */
import { Tensor, Generator, getDefaultGenerator } from '@fpt-ts/tensor';

/**
 * torch.nn.init.orthogonal_ for a [rows, cols] matrix: a random matrix with orthonormal columns
 * (rows ≥ cols) or rows (rows < cols), times `gain`. Draw N(0,1), orthonormalize the tall orientation
 * (QR with R's diagonal made positive — here modified Gram–Schmidt, which yields exactly that Q).
 */
export function orthogonal(rows: number, cols: number, gain = 1, generator: Generator = getDefaultGenerator()): Tensor {
  const tall = rows >= cols;
  const [n, k] = tall ? [rows, cols] : [cols, rows]; // work on an n x k matrix with n >= k
  // columns q[j] of length n, in float64
  const q: Float64Array[] = [];
  for (let j = 0; j < k; j++) {
    const col = new Float64Array(n);
    for (let i = 0; i < n; i++) col[i] = generator.normal();
    q.push(col);
  }
  for (let j = 0; j < k; j++) {
    for (let p = 0; p < j; p++) {
      let dot = 0;
      for (let i = 0; i < n; i++) dot += q[p][i] * q[j][i];
      for (let i = 0; i < n; i++) q[j][i] -= dot * q[p][i];
    }
    let norm = 0;
    for (let i = 0; i < n; i++) norm += q[j][i] * q[j][i];
    norm = Math.sqrt(norm);
    for (let i = 0; i < n; i++) q[j][i] /= norm;
  }
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[r * cols + c] = gain * (tall ? q[c][r] : q[r][c]);
  }
  return new Tensor(out, [rows, cols]);
}
