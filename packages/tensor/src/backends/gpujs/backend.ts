/**
 * The `gpujs` backend: matmul, softmax, softmaxBackward and the attention forward (scores → softmax →
 * weighted sum, chained on the device) as gpu.js kernels (sources.ts) in the mode chosen by FPT_GPU_MODE
 * (modes.ts); every other kernel, and all float64 work (gradcheck), is ref's.
 *
 * Nothing here loads gpu.js until the backend is created (`registerBackend` runs the factory on first
 * use), and the probe that decides whether `gpujs` is the default backend loads only `gl`, and only when an
 * X display exists.
 */
import type { FloatArray, Kernels, MatmulArgs } from '../../kernels';
import { allFloat32, makeBackend, type Backend } from '../../backend';
import { refKernels } from '../ref';
import { GpuEngine } from './engine';
import { chooseGpuMode, type ModeChoice, type RequestedGpuMode, requestedGpuMode } from './modes';

export interface GpujsBackendOptions {
  /** Overrides FPT_GPU_MODE. */
  mode?: RequestedGpuMode;
  /** Compiled kernels kept before the least recently used one is destroyed. */
  maxKernels?: number;
}

/** The engine behind a `gpujs` backend, for benchmarks and tests that want stage timings. */
export interface GpujsBackend extends Backend {
  engine: GpuEngine;
  choice: ModeChoice;
}

export function createGpujsBackend(options: GpujsBackendOptions = {}): GpujsBackend {
  const choice = chooseGpuMode(options.mode ?? requestedGpuMode());
  const engine = new GpuEngine(choice.mode, options.maxKernels);

  const own: Partial<Kernels> = {
    matmul(p: MatmulArgs): void {
      if (!allFloat32(p.a, p.b, p.out)) return refKernels.matmul(p);
      engine.matmul(p);
    },
    softmax(x: FloatArray, rows: number, cols: number, out: FloatArray): void {
      if (!allFloat32(x, out)) return refKernels.softmax(x, rows, cols, out);
      engine.softmax(x as Float32Array, rows, cols, out as Float32Array);
    },
    softmaxBackward(y: FloatArray, dy: FloatArray, rows: number, cols: number, dx: FloatArray): void {
      if (!allFloat32(y, dy, dx)) return refKernels.softmaxBackward(y, dy, rows, cols, dx);
      engine.softmaxBackward(y as Float32Array, dy as Float32Array, rows, cols, dx as Float32Array);
    },
    attention(q, k, v, BH, T, D, scale, causal, out, probs): void {
      if (!allFloat32(q, k, v, out, probs) || D === 0) return refKernels.attention(q, k, v, BH, T, D, scale, causal, out, probs);
      const f = (a: FloatArray) => a as Float32Array;
      engine.attention(f(q), f(k), f(v), BH, T, D, scale, causal, f(out), f(probs));
    },
  };

  const info = (): Record<string, string> => ({
    requested: choice.requested,
    mode: choice.mode,
    ...(choice.fallback ? { fallback: choice.fallback } : {}),
    ...(choice.probe.renderer ? { renderer: choice.probe.renderer } : {}),
    device: engine.resident ? 'GL textures (kernel chains stay on the device)' : 'host arrays (no device memory)',
    kernels: `${engine.cachedKernels} cached / ${engine.compiled} compiled / ${engine.evicted} evicted`,
  });

  return { ...makeBackend('gpujs', own, refKernels, info), engine, choice };
}
