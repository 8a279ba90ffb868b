/**
 * The gpujs backend, one bench backend per gpu.js mode (`gpujs:headlessgl`, `gpujs:webasm`, `gpujs:cpu`,
 * `gpujs:webgpu`, `gpujs:webgl2`). A mode that does not load here is skipped with the probe's reason, never
 * replaced by another. Each timed run is one kernel-interface call: pack + upload, compute, readback;
 * `phases()` reports the three stages of the latest run (GL work is finished before each stage ends, so
 * the split is honest; in cpu/webasm "upload" is only the packing, there being no device).
 */
import { GPU_MODES, createGpujsBackend, emptyTimes, probeGpuMode, type GpuMode, type GpujsBackend, type StageTimes } from '@fpt-ts/tensor';
import type { BenchBackend, Prepared } from './types';

function gpujsBench(mode: GpuMode): BenchBackend {
  let be: GpujsBackend | null = null;
  const staged = (out: Float32Array, call: (t: StageTimes) => void): Prepared => {
    let last = emptyTimes();
    return {
      run() {
        last = emptyTimes();
        call(last);
      },
      output: () => out,
      phases: () => ({ upload_ms: last.upload, compute_ms: last.compute, readback_ms: last.readback }),
    };
  };
  return {
    name: `gpujs:${mode}`,
    async init() {
      const p = probeGpuMode(mode);
      if (!p.available) return p.reason;
      be = createGpujsBackend({ mode });
      return true;
    },
    describe() {
      return Object.entries(be!.info()).map(([k, v]) => `${k}=${v}`).join(' ');
    },
    matmul(a, b, M, K, N) {
      const out = new Float32Array(M * N);
      const args = {
        batch: 1, M, K, N, a, aOffsets: new Int32Array([0]), aRowStride: K, aColStride: 1,
        b, bOffsets: new Int32Array([0]), bRowStride: N, bColStride: 1, out,
      };
      return staged(out, (t) => be!.engine.matmul(args, t));
    },
    softmax(x, rows, cols) {
      const out = new Float32Array(rows * cols);
      return staged(out, (t) => be!.engine.softmax(x, rows, cols, out, t));
    },
    attention(q, k, v, BH, T, D) {
      const out = new Float32Array(BH * T * D), probs = new Float32Array(BH * T * T);
      return staged(out, (t) => be!.engine.attention(q, k, v, BH, T, D, 1 / Math.sqrt(D), true, out, probs, t));
    },
  };
}

/** Every gpu.js mode, in gpu.js's order (webgpu, webgl2, headlessgl, webasm, cpu). */
export const gpujsBenches: BenchBackend[] = GPU_MODES.map(gpujsBench);
