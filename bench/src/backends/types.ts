/**
 * A bench backend is a plugin: one file under bench/src/backends/ exporting a `BenchBackend`, listed once
 * in backends/index.ts. It implements the ops it can run; a suite skips backends without its op.
 *
 * Every op receives float32 inputs (row-major) and returns a `Prepared` case: inputs already uploaded
 * or staged as the backend likes, so `run()` times one execution including whatever the backend needs to
 * produce a result readable from JS (a readback counts).
 */
export interface Prepared {
  /** One timed execution (sync, or a promise for backends with an async API). */
  run(): void | Promise<void>;
  /** The result of the latest run, row-major float32, for validation before timing. */
  output(): Float32Array | Promise<Float32Array>;
  /** Extra per-run figures to report (e.g. upload/compute/readback ms), merged into the JSON line. */
  phases?(): Record<string, number>;
  dispose?(): void;
}

export interface BenchOps {
  /** C [M, N] = A [M, K] · B [K, N]. */
  matmul?(a: Float32Array, b: Float32Array, M: number, K: number, N: number): Prepared;
  /** Row softmax of x [rows, cols]. */
  softmax?(x: Float32Array, rows: number, cols: number): Prepared;
  /** LayerNorm over the last axis of x [rows, C] (output only). */
  layerNorm?(x: Float32Array, gamma: Float32Array, beta: Float32Array, rows: number, C: number, eps: number): Prepared;
  /** Causal attention, q, k, v, out [B·H, T, D], scale 1/√D. */
  attention?(q: Float32Array, k: Float32Array, v: Float32Array, BH: number, T: number, D: number): Prepared;
  /** Its backward given dout: output is dq, dk, dv concatenated. */
  attentionBackward?(q: Float32Array, k: Float32Array, v: Float32Array, dout: Float32Array, BH: number, T: number, D: number): Prepared;
}

export interface BenchBackend extends BenchOps {
  /** As reported in the `backend` column: ref, cpu, gpujs:<mode>, tfjs-wasm, onnxruntime, naive-js, … */
  name: string;
  /** Load and warm up; resolve to a string saying why the backend cannot run here, or true. */
  init(): Promise<true | string>;
  /** One line about the configuration (threads, SIMD path, …), printed once. */
  describe?(): string;
  /**
   * The backend's own compute ceiling: run a probe of its innermost kernel on cache-resident data for
   * about `flops` flops and return the flops done (the caller times it). Only backends that have one (cpu).
   */
  fmaPeak?(flops: number): number;
}
