/**
 * Which code path the cpu backend can run here:
 *   'relaxed'  WebAssembly SIMD with relaxed-SIMD fused multiply-add (f32x4.relaxed_madd)
 *   'simd'     WebAssembly SIMD, multiply then add
 *   'off'      plain TypeScript (no WebAssembly SIMD, or FPT_SIMD=off)
 * Node 20 ships relaxed SIMD behind a V8 flag; NODE_OPTIONS refuses that flag, but setting it
 * in-process before compiling works, so `detectSimd` tries that once.
 */
import * as v8 from 'v8';
import { Body, ModuleBuilder, I32, simd, wasmApi } from './wasm';

export type SimdPath = 'relaxed' | 'simd' | 'off';

/** A one-function module applying `opcode` to `operands` vectors, to ask the engine whether it validates. */
function probe(opcode: number, operands: number): Uint8Array {
  const f = new Body([I32]);
  f.get(0);
  for (let i = 0; i < operands; i++) f.get(0).vload();
  f.v(opcode).vstore();
  const m = new ModuleBuilder();
  m.add('f', f);
  return m.encode({ initial: 1, maximum: 1, shared: true });
}

function validates(bytes: Uint8Array): boolean {
  try {
    return wasmApi !== undefined && wasmApi.validate(bytes);
  } catch {
    return false;
  }
}

let detected: { simd: boolean; relaxed: boolean } | null = null;

/** What this runtime supports (cached; may set the V8 relaxed-SIMD flag once). */
export function runtimeSupport(): { simd: boolean; relaxed: boolean } {
  if (detected) return detected;
  const hasSimd = validates(probe(simd.f32x4_add, 2));
  let relaxed = hasSimd && validates(probe(simd.f32x4_relaxed_madd, 3));
  if (hasSimd && !relaxed) {
    try {
      v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
      relaxed = validates(probe(simd.f32x4_relaxed_madd, 3));
    } catch {
      relaxed = false;
    }
  }
  detected = { simd: hasSimd, relaxed };
  return detected;
}

/** The path to run: `requested` (or FPT_SIMD) if the runtime has it, else the best available. */
export function chooseSimd(requested: string | undefined = process.env.FPT_SIMD): SimdPath {
  const want = (requested ?? 'auto').toLowerCase();
  if (want === 'off' || want === '0' || want === 'false') return 'off';
  const rt = runtimeSupport();
  if (!rt.simd) return 'off';
  if (want === 'simd' || want === 'norelaxed') return 'simd';
  return rt.relaxed ? 'relaxed' : 'simd';
}
