/**
 * Backend registry: a backend is a name and an implementation of `Kernels` (kernels.ts).
 *
 * `ref` is the specification: plain loops every other backend is tested against. A faster backend
 * registers the kernels it accelerates and states which ones it inherits from `ref`, so `describeBackend`
 * can say exactly what runs where. The active backend is process-wide (`setBackend`, `withBackend`),
 * chosen by FPT_BACKEND at start-up.
 */
import type { Kernels, KernelName, FloatArray } from './kernels';

export interface Backend {
  name: string;
  /** Every kernel, resolved (own ones plus the inherited ref ones). */
  kernels: Kernels;
  /** Which kernel names are implemented by this backend itself (the rest come from ref). */
  own: ReadonlySet<KernelName>;
  /** Free-form facts for reports: e.g. { simd: 'relaxed', threads: '2' }. */
  info(): Record<string, string>;
}

const registry = new Map<string, () => Backend>();
const instances = new Map<string, Backend>();
let active: Backend | null = null;

/**
 * Register a backend factory. The factory runs on first use, so an expensive backend (WebAssembly
 * compilation, GPU contexts) costs nothing until selected.
 */
export function registerBackend(name: string, factory: () => Backend): void {
  registry.set(name, factory);
  instances.delete(name);
}

export function backendNames(): string[] {
  return [...registry.keys()];
}

export function getBackend(name?: string): Backend {
  if (name === undefined) {
    if (active === null) active = getBackend(defaultBackendName());
    return active;
  }
  let b = instances.get(name);
  if (b === undefined) {
    const factory = registry.get(name);
    if (factory === undefined) {
      throw new Error(`unknown backend '${name}' (registered: ${backendNames().join(', ')})`);
    }
    b = factory();
    instances.set(name, b);
  }
  return b;
}

/** The kernels of the active backend. */
export function kernels(): Kernels {
  return (active ?? getBackend()).kernels;
}

export function setBackend(name: string): Backend {
  active = getBackend(name);
  return active;
}

/** Run `fn` with `name` as the active backend, restoring the previous one afterwards. */
export function withBackend<T>(name: string, fn: () => T): T {
  const previous = active;
  active = getBackend(name);
  try {
    return fn();
  } finally {
    active = previous;
  }
}

/** Backend selected when none was set: FPT_BACKEND, else the best registered one. */
export function defaultBackendName(): string {
  const env = process.env.FPT_BACKEND;
  if (env !== undefined && env !== '') return env;
  for (const candidate of defaultPreference) {
    if (registry.has(candidate.name) && candidate.available()) return candidate.name;
  }
  return 'ref';
}

/** Backends consulted by `defaultBackendName`, best first; a backend adds itself with a probe. */
const defaultPreference: { name: string; available: () => boolean }[] = [];
export function preferBackend(name: string, available: () => boolean, priority = 0): void {
  defaultPreference.splice(Math.min(priority, defaultPreference.length), 0, { name, available });
}

/**
 * Build a Backend from the kernels it implements itself; every other kernel is inherited from `base`
 * (normally ref). `info` reports facts such as the SIMD path or thread count.
 */
export function makeBackend(
  name: string,
  own: Partial<Kernels>,
  base: Kernels,
  info: () => Record<string, string> = () => ({}),
): Backend {
  const kernels = { ...base, ...own } as Kernels;
  return { name, kernels, own: new Set(Object.keys(own) as KernelName[]), info };
}

/** One line per kernel: which backend's implementation runs. */
export function describeBackend(b: Backend = getBackend()): string {
  const names = Object.keys(b.kernels).sort() as KernelName[];
  const info = Object.entries(b.info()).map(([k, v]) => `${k}=${v}`).join(' ');
  const lines = [`backend ${b.name}${info ? ` (${info})` : ''}`];
  for (const n of names) lines.push(`  ${n.padEnd(22)} ${b.own.has(n) ? b.name : 'ref'}`);
  return lines.join('\n');
}

/** True when every array is float32 (fast backends hand float64 work, used by gradcheck, to ref). */
export function allFloat32(...arrays: (FloatArray | null)[]): boolean {
  for (const a of arrays) if (a !== null && !(a instanceof Float32Array)) return false;
  return true;
}

/** Call count and wall time (ms) per kernel, as gathered by a profiled backend. */
export type KernelProfile = Map<KernelName, { calls: number; ms: number }>;

/**
 * `inner` with every kernel call timed: same results, plus `profile` (calls and milliseconds per kernel).
 * The time is wall time on the calling thread; the kernel API is synchronous, so it includes the worker
 * threads' share of a parallel kernel. What the kernels do not cover (autograd bookkeeping, allocation,
 * garbage collection, data loading) is the step's time minus their sum. `fpt <command> --profile`
 * registers one as `<name>+profile` and prints `formatProfile` at the end.
 */
export function profiledBackend(inner: Backend): Backend & { profile: KernelProfile } {
  const profile: KernelProfile = new Map();
  const timed = {} as Record<KernelName, (...args: unknown[]) => unknown>;
  for (const name of Object.keys(inner.kernels) as KernelName[]) {
    const kernel = inner.kernels[name] as (...args: unknown[]) => unknown;
    const entry = { calls: 0, ms: 0 };
    profile.set(name, entry);
    timed[name] = (...args: unknown[]) => {
      const t0 = performance.now();
      try {
        return kernel(...args);
      } finally {
        entry.ms += performance.now() - t0;
        entry.calls++;
      }
    };
  }
  return { name: `${inner.name}+profile`, kernels: timed as unknown as Kernels, own: inner.own, info: inner.info, profile };
}

/** A table of the kernels that ran, slowest first, each as a share of `wallMs` (and the rest). */
export function formatProfile(profile: KernelProfile, wallMs: number): string {
  const rows = [...profile].filter(([, e]) => e.calls > 0).sort((a, b) => b[1].ms - a[1].ms);
  const inKernels = rows.reduce((s, [, e]) => s + e.ms, 0);
  const pct = (ms: number) => `${((100 * ms) / wallMs).toFixed(1).padStart(5)}%`;
  const line = (name: string, calls: string, ms: number) => `  ${name.padEnd(22)} ${calls.padStart(8)} ${ms.toFixed(0).padStart(10)} ${pct(ms)}`;
  return [
    `kernel time over ${(wallMs / 1000).toFixed(1)} s of wall time:`,
    `  ${'kernel'.padEnd(22)} ${'calls'.padStart(8)} ${'ms'.padStart(10)} ${'share'.padStart(6)}`,
    ...rows.map(([name, e]) => line(name, String(e.calls), e.ms)),
    line('(outside kernels)', '', Math.max(0, wallMs - inKernels)),
  ].join('\n');
}
