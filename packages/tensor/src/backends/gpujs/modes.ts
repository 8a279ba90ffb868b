/**
 * gpu.js modes: which ones exist, which ones load on this machine, and which one the `gpujs` backend runs.
 *
 * Modes (gpu.js names):
 *   webgpu      WGSL compute shaders (Node: the `webgpu` package, Dawn). Async-only readback.
 *   webgl2      GLSL ES 3.00 in a browser's WebGL2 context.
 *   headlessgl  GLSL ES 1.00 through headless-gl (the `gl` package, ANGLE); needs an X display (Xvfb works).
 *   webasm      WebAssembly with f32x4 SIMD, single-threaded under the synchronous contract.
 *   cpu         gpu.js's transpiled-JavaScript fallback.
 *   auto        the best mode that works here: headlessgl, then webasm, then cpu.
 *
 * The `gpujs` backend implements the synchronous `Kernels` interface, so it can only run modes whose kernel
 * calls return results synchronously: webgpu always resolves a Promise, so it is reported with that reason
 * even where it loads. Probing never loads gpu.js itself; it loads `gl` / `webgpu` only when asked.
 */

export const GPU_MODES = ['webgpu', 'webgl2', 'headlessgl', 'webasm', 'cpu'] as const;
export type GpuMode = (typeof GPU_MODES)[number];
export type RequestedGpuMode = GpuMode | 'auto';

/** Order tried by `auto` and after a requested mode falls back. */
const AUTO_ORDER: readonly GpuMode[] = ['headlessgl', 'webasm', 'cpu'];

/** Modes that run on real graphics hardware when they load (headlessgl only if the renderer is not software). */
const SOFTWARE_RENDERER = /llvmpipe|softpipe|swiftshader|software|swrast|lavapipe/i;

export interface ModeProbe {
  mode: GpuMode;
  /** True when the `gpujs` backend can run this mode here. */
  available: boolean;
  /** Why it is unavailable, or a note about it (e.g. the renderer) when available. */
  reason: string;
  /** GL renderer / adapter description when known. */
  renderer?: string;
}

export function parseGpuMode(value: string | undefined): RequestedGpuMode {
  const v = (value ?? '').trim().toLowerCase();
  if (v === '' || v === 'auto') return 'auto';
  if ((GPU_MODES as readonly string[]).includes(v)) return v as GpuMode;
  throw new Error(`unknown gpu.js mode '${value}' (FPT_GPU_MODE / --gpu-mode): expected one of auto, ${GPU_MODES.join(', ')}`);
}

/** The mode requested through FPT_GPU_MODE (default auto). */
export function requestedGpuMode(): RequestedGpuMode {
  return parseGpuMode(process.env.FPT_GPU_MODE);
}

// ---------------------------------------------------------------------------------------------------
// Probes (each cached: they load native modules and may create a GL context)

const probes = new Map<GpuMode, ModeProbe>();

function glibcVersion(): string {
  try {
    const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
    return report?.header?.glibcVersionRuntime ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function firstLine(e: unknown): string {
  return String(e instanceof Error ? e.message : e).split('\n')[0];
}

type GlFactory = (w: number, h: number, opts?: object) => WebGLContext | null;
interface WebGLContext {
  getParameter(p: number): unknown;
  getExtension(name: string): unknown;
  RENDERER: number;
  VERSION: number;
}

function probeHeadlessGl(): ModeProbe {
  let create: GlFactory;
  try {
    create = require('gl') as GlFactory;
  } catch (e) {
    return {
      mode: 'headlessgl', available: false,
      reason: `the 'gl' package (headless-gl) does not load: ${firstLine(e)}. Build it with .ci/install-gl.sh (npm rebuild gl)`,
    };
  }
  let ctx: WebGLContext | null = null;
  try {
    ctx = create(1, 1, { preserveDrawingBuffer: true });
  } catch (e) {
    return { mode: 'headlessgl', available: false, reason: `headless-gl could not create a context: ${firstLine(e)}` };
  }
  if (ctx === null) {
    const display = process.env.DISPLAY;
    return {
      mode: 'headlessgl', available: false,
      reason: display
        ? `headless-gl loads but could not create a WebGL context on DISPLAY=${display}`
        : 'headless-gl loads but could not create a WebGL context: no X display (DISPLAY unset); run under `xvfb-run -a`',
    };
  }
  if (!ctx.getExtension('OES_texture_float')) {
    destroyGl(ctx);
    return { mode: 'headlessgl', available: false, reason: 'headless-gl context lacks OES_texture_float (float32 textures)' };
  }
  const version = String(ctx.getParameter(ctx.VERSION));
  const front = String(ctx.getParameter(ctx.RENDERER));
  const driver = glDriver();
  destroyGl(ctx);
  const software = SOFTWARE_RENDERER.test(driver);
  return {
    mode: 'headlessgl', available: true, renderer: `${front} on ${driver} (${version})`,
    reason: software ? `software rasterizer (${driver}): the GPU code path runs on the CPU` : `renderer ${driver}`,
  };
}

/**
 * The OpenGL driver behind headless-gl's ANGLE front end. WebGL here reports only "ANGLE" (no
 * WEBGL_debug_renderer_info), so on Linux read which Mesa/vendor driver the process loaded: Mesa's
 * swrast_dri.so is llvmpipe/softpipe (software); iris/radeonsi/nouveau/nvidia drivers are hardware.
 */
function glDriver(): string {
  if (process.platform !== 'linux') return 'platform OpenGL';
  let maps = '';
  try {
    maps = require('fs').readFileSync('/proc/self/maps', 'utf8') as string;
  } catch {
    return 'unknown OpenGL driver';
  }
  const hardware = /\/([a-z0-9_]+)_dri\.so|libGLX_nvidia|libnvidia-glcore/g;
  const found = new Set<string>();
  for (const m of maps.matchAll(hardware)) found.add(m[1] ?? 'nvidia');
  found.delete('swrast');
  found.delete('kms_swrast');
  if (found.size > 0) return `Mesa/vendor driver ${[...found].join(', ')}`;
  if (maps.includes('swrast_dri.so')) return 'Mesa swrast_dri (llvmpipe, software)';
  return 'unknown OpenGL driver';
}

function destroyGl(ctx: WebGLContext): void {
  const ext = ctx.getExtension('STACKGL_destroy_context') as { destroy(): void } | null;
  ext?.destroy();
}

function probeWebGpu(): ModeProbe {
  try {
    require('webgpu');
  } catch (e) {
    return {
      mode: 'webgpu', available: false,
      reason: `the 'webgpu' package (Dawn) does not load: ${firstLine(e)} ` +
        `(its prebuilt binding needs glibc >= 2.38 and a matching libstdc++; this system has glibc ${glibcVersion()})`,
    };
  }
  return {
    mode: 'webgpu', available: false,
    reason: "the 'webgpu' package loads, but gpu.js webgpu kernels only return Promises and the Kernels interface is " +
      'synchronous (a worker + Atomics.wait bridge would be needed; not implemented)',
  };
}

function probeWebGl2(): ModeProbe {
  const g = globalThis as { WebGL2RenderingContext?: unknown };
  if (typeof g.WebGL2RenderingContext === 'undefined') {
    return { mode: 'webgl2', available: false, reason: 'webgl2 needs a browser WebGL2 context (none in Node; use headlessgl)' };
  }
  return { mode: 'webgl2', available: true, reason: 'browser WebGL2' };
}

function probeWebAsm(): ModeProbe {
  if (typeof (globalThis as { WebAssembly?: unknown }).WebAssembly !== 'object') return { mode: 'webasm', available: false, reason: 'no WebAssembly in this runtime' };
  return { mode: 'webasm', available: true, reason: 'WebAssembly (f32x4 SIMD), one thread under the synchronous contract' };
}

/** Probe one mode (cached). Loads `gl` or `webgpu` for those modes; never loads gpu.js. */
export function probeGpuMode(mode: GpuMode): ModeProbe {
  let p = probes.get(mode);
  if (p === undefined) {
    switch (mode) {
      case 'headlessgl': p = probeHeadlessGl(); break;
      case 'webgpu': p = probeWebGpu(); break;
      case 'webgl2': p = probeWebGl2(); break;
      case 'webasm': p = probeWebAsm(); break;
      case 'cpu': p = { mode: 'cpu', available: true, reason: 'gpu.js transpiled JavaScript' }; break;
      default: mode satisfies never; throw new Error(`unknown gpu.js mode ${String(mode)}`);
    }
    probes.set(mode, p);
  }
  return p;
}

/** Every mode with its probe result, in GPU_MODES order. */
export function probeGpuModes(): ModeProbe[] {
  return GPU_MODES.map(probeGpuMode);
}

/** Modes the `gpujs` backend can run on this machine (e.g. ['headlessgl', 'webasm', 'cpu'] under Xvfb). */
export function gpuModesAvailable(): GpuMode[] {
  return probeGpuModes().filter((p) => p.available).map((p) => p.mode);
}

/**
 * True when a mode running on real graphics hardware is available: the probe behind making `gpujs` the
 * default backend. headless-gl on Mesa llvmpipe (a software rasterizer) does not count.
 */
export function hardwareGpuAvailable(): boolean {
  // headless-gl on Linux needs an X display: without one, answer without loading anything
  if (process.platform === 'linux' && !process.env.DISPLAY) return false;
  const gl = probeGpuMode('headlessgl');
  return gl.available && !SOFTWARE_RENDERER.test(gl.renderer ?? '');
}

export interface ModeChoice {
  requested: RequestedGpuMode;
  mode: GpuMode;
  /** Why the requested mode is not the one running ('' when it is). */
  fallback: string;
  probe: ModeProbe;
}

/** Resolve a requested mode to the one that runs, with the reason for any fallback. */
export function chooseGpuMode(requested: RequestedGpuMode = requestedGpuMode()): ModeChoice {
  const reasons: string[] = [];
  if (requested !== 'auto') {
    const p = probeGpuMode(requested);
    if (p.available) return { requested, mode: requested, fallback: '', probe: p };
    reasons.push(`${requested} unavailable: ${p.reason}`);
  }
  for (const m of AUTO_ORDER) {
    if (m === requested) continue;
    const p = probeGpuMode(m);
    if (p.available) return { requested, mode: m, fallback: reasons.join('; '), probe: p };
    reasons.push(`${m} unavailable: ${p.reason}`);
  }
  return { requested, mode: 'cpu', fallback: reasons.join('; '), probe: probeGpuMode('cpu') };
}
