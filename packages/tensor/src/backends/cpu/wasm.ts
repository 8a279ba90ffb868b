/**
 * A small WebAssembly binary emitter: just enough of the format to write numeric kernels from TypeScript
 * at run time (no prebuilt .wasm, no C, no assembler dependency).
 *
 * - `Body` writes one function's instructions (scalar, control flow, and the 0xfd-prefixed SIMD and
 *   relaxed-SIMD opcodes) and declares its locals.
 * - `ModuleBuilder` assembles the sections: type (1), import (2: one shared memory), function (3),
 *   export (7), code (10).
 *
 * Integers are LEB128 encoded (unsigned for indices and sizes, signed for constants); floats are IEEE
 * little-endian. Reference: the WebAssembly core spec, binary format chapter, and the SIMD and
 * relaxed-SIMD proposals' opcode tables.
 */

export const I32 = 0x7f;
export const F32 = 0x7d;
export const F64 = 0x7c;
export const V128 = 0x7b;
export type ValType = typeof I32 | typeof F32 | typeof F64 | typeof V128;

/** Unsigned LEB128. */
export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n = Math.floor(n / 128);
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 (for i32.const). */
export function sleb(n: number): number[] {
  const out: number[] = [];
  n |= 0;
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    const done = (n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

function utf8(s: string): number[] {
  return [...Buffer.from(s, 'utf8')];
}

function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

/** Scalar opcodes (single byte). */
export const op = {
  unreachable: 0x00, nop: 0x01, block: 0x02, loop: 0x03, if: 0x04, else: 0x05, end: 0x0b,
  br: 0x0c, br_if: 0x0d, return: 0x0f, call: 0x10, drop: 0x1a, select: 0x1b,
  local_get: 0x20, local_set: 0x21, local_tee: 0x22,
  i32_load: 0x28, f32_load: 0x2a, i32_store: 0x36, f32_store: 0x38,
  i32_const: 0x41, f32_const: 0x43,
  i32_eqz: 0x45, i32_eq: 0x46, i32_ne: 0x47, i32_lt_s: 0x48, i32_lt_u: 0x49, i32_gt_s: 0x4a, i32_gt_u: 0x4b,
  i32_le_s: 0x4c, i32_le_u: 0x4d, i32_ge_s: 0x4e, i32_ge_u: 0x4f,
  f32_eq: 0x5b, f32_ne: 0x5c, f32_lt: 0x5d, f32_gt: 0x5e, f32_le: 0x5f, f32_ge: 0x60,
  i32_add: 0x6a, i32_sub: 0x6b, i32_mul: 0x6c, i32_div_s: 0x6d, i32_div_u: 0x6e, i32_rem_s: 0x6f, i32_rem_u: 0x70,
  i32_and: 0x71, i32_or: 0x72, i32_xor: 0x73, i32_shl: 0x74, i32_shr_s: 0x75, i32_shr_u: 0x76,
  f32_abs: 0x8b, f32_neg: 0x8c, f32_sqrt: 0x91, f32_add: 0x92, f32_sub: 0x93, f32_mul: 0x94, f32_div: 0x95,
  f32_min: 0x96, f32_max: 0x97,
  f64_add: 0xa0, f64_sub: 0xa1, f64_mul: 0xa2, f64_div: 0xa3,
  i32_trunc_f32_s: 0xa8, f32_convert_i32_s: 0xb2, f32_demote_f64: 0xb6, f64_promote_f32: 0xbb,
} as const;

/** SIMD opcodes, written after the 0xfd prefix as unsigned LEB128. */
export const simd = {
  v128_load: 0x00, v128_load32_splat: 0x09, v128_store: 0x0b, v128_const: 0x0c,
  i32x4_splat: 0x11, f32x4_splat: 0x13, f32x4_extract_lane: 0x1f,
  f32x4_eq: 0x41, f32x4_ne: 0x42, f32x4_lt: 0x43, f32x4_gt: 0x44, f32x4_le: 0x45, f32x4_ge: 0x46,
  v128_not: 0x4d, v128_and: 0x4e, v128_andnot: 0x4f, v128_or: 0x50, v128_xor: 0x51, v128_bitselect: 0x52,
  f32x4_ceil: 0x67, f32x4_floor: 0x68, f32x4_trunc: 0x69, f32x4_nearest: 0x6a,
  i32x4_shl: 0xab, i32x4_shr_s: 0xac, i32x4_shr_u: 0xad, i32x4_add: 0xae, i32x4_sub: 0xb1, i32x4_mul: 0xb5,
  f32x4_abs: 0xe0, f32x4_neg: 0xe1, f32x4_sqrt: 0xe3, f32x4_add: 0xe4, f32x4_sub: 0xe5, f32x4_mul: 0xe6,
  f32x4_div: 0xe7, f32x4_min: 0xe8, f32x4_max: 0xe9, f32x4_pmin: 0xea, f32x4_pmax: 0xeb,
  i32x4_trunc_sat_f32x4_s: 0xf8, f32x4_convert_i32x4_s: 0xfa,
  // relaxed SIMD
  f32x4_relaxed_madd: 0x105, f32x4_relaxed_nmadd: 0x106,
} as const;

const f32Bytes = (v: number): number[] => [...new Uint8Array(new Float32Array([v]).buffer)];

/**
 * One function body. Parameters are locals 0..params-1; `local(type)` declares more. Instruction methods
 * append bytes and return `this`, so straight-line code reads as a chain.
 */
export class Body {
  readonly code: number[] = [];
  private readonly extra: ValType[] = [];

  constructor(readonly params: readonly ValType[], readonly results: readonly ValType[] = []) {}

  local(type: ValType): number {
    this.extra.push(type);
    return this.params.length + this.extra.length - 1;
  }

  emit(...bytes: number[]): this {
    for (const b of bytes) this.code.push(b);
    return this;
  }

  get(i: number): this { return this.emit(op.local_get, ...uleb(i)); }
  set(i: number): this { return this.emit(op.local_set, ...uleb(i)); }
  tee(i: number): this { return this.emit(op.local_tee, ...uleb(i)); }
  i32(v: number): this { return this.emit(op.i32_const, ...sleb(v)); }
  f32(v: number): this { return this.emit(op.f32_const, ...f32Bytes(v)); }
  call(fn: number): this { return this.emit(op.call, ...uleb(fn)); }

  /** Scalar memory access: memarg = (log2 alignment, byte offset). */
  load(opcode: number, offset = 0, align = 2): this { return this.emit(opcode, align, ...uleb(offset)); }
  store(opcode: number, offset = 0, align = 2): this { return this.emit(opcode, align, ...uleb(offset)); }

  /** A 0xfd-prefixed SIMD instruction without immediates. */
  v(opcode: number): this { return this.emit(0xfd, ...uleb(opcode)); }
  vload(offset = 0): this { return this.emit(0xfd, ...uleb(simd.v128_load), 4, ...uleb(offset)); }
  vstore(offset = 0): this { return this.emit(0xfd, ...uleb(simd.v128_store), 4, ...uleb(offset)); }
  vsplatLoad(offset = 0): this { return this.emit(0xfd, ...uleb(simd.v128_load32_splat), 2, ...uleb(offset)); }
  f32x4(v: number): this { return this.f32(v).v(simd.f32x4_splat); }
  i32x4(v: number): this { return this.i32(v).v(simd.i32x4_splat); }
  lane(opcode: number, lane: number): this { return this.emit(0xfd, ...uleb(opcode), lane); }

  // Structured control flow. Labels are relative depths, as in the binary format.
  block(): this { return this.emit(op.block, 0x40); }
  loop(): this { return this.emit(op.loop, 0x40); }
  if(): this { return this.emit(op.if, 0x40); }
  else(): this { return this.emit(op.else); }
  end(): this { return this.emit(op.end); }
  br(depth: number): this { return this.emit(op.br, ...uleb(depth)); }
  brIf(depth: number): this { return this.emit(op.br_if, ...uleb(depth)); }

  /**
   * for (i = start; i < end; i += step) body(): `start`, `end` (and a non-constant `step`) emit an i32
   * each; end is evaluated once, before the loop. The body must leave the stack balanced.
   */
  for(i: number, start: (b: this) => void, end: (b: this) => void, step: number | ((b: this) => void), body: (b: this) => void): this {
    const limit = this.local(I32);
    start(this); this.set(i);
    end(this); this.set(limit);
    this.block();
    this.get(i).get(limit).emit(op.i32_ge_s).brIf(0);
    this.loop();
    body(this);
    this.get(i);
    if (typeof step === 'number') this.i32(step);
    else step(this);
    this.emit(op.i32_add).tee(i).get(limit).emit(op.i32_lt_s).brIf(0);
    this.end().end();
    return this;
  }

  /** The function's code section entry: locals declaration, instructions, end. */
  encode(): number[] {
    const groups: number[][] = [];
    for (let i = 0; i < this.extra.length;) {
      let j = i;
      while (j < this.extra.length && this.extra[j] === this.extra[i]) j++;
      groups.push([...uleb(j - i), this.extra[i]]);
      i = j;
    }
    const body = [...vec(groups), ...this.code, op.end];
    return [...uleb(body.length), ...body];
  }
}

/** Module with one imported shared memory ("env"."memory") and exported functions. */
export class ModuleBuilder {
  private readonly funcs: { name: string | null; body: Body }[] = [];

  /** Reserve a function index (so functions can call each other before their bodies are written). */
  add(name: string | null, body: Body): number {
    this.funcs.push({ name, body });
    return this.funcs.length - 1;
  }

  encode(memory: { initial: number; maximum: number; shared: boolean }): Uint8Array {
    const section = (id: number, payload: number[]): number[] => [id, ...uleb(payload.length), ...payload];
    const types: number[][] = [];
    const typeIndex: number[] = [];
    const typeKey = new Map<string, number>();
    for (const f of this.funcs) {
      const t = [0x60, ...vec(f.body.params.map((p) => [p])), ...vec(f.body.results.map((r) => [r]))];
      const key = t.join(',');
      let idx = typeKey.get(key);
      if (idx === undefined) { idx = types.length; types.push(t); typeKey.set(key, idx); }
      typeIndex.push(idx);
    }
    const limits = memory.shared
      ? [0x03, ...uleb(memory.initial), ...uleb(memory.maximum)]
      : [0x01, ...uleb(memory.initial), ...uleb(memory.maximum)];
    const name = (s: string): number[] => [...uleb(utf8(s).length), ...utf8(s)];
    const imports = vec([[...name('env'), ...name('memory'), 0x02, ...limits]]);
    const exports = this.funcs
      .map((f, i) => (f.name === null ? null : [...name(f.name), 0x00, ...uleb(i)]))
      .filter((e): e is number[] => e !== null);
    const bytes = [
      0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
      ...section(1, vec(types)),
      ...section(2, imports),
      ...section(3, vec(typeIndex.map((t) => uleb(t)))),
      ...section(7, vec(exports)),
      ...section(10, vec(this.funcs.map((f) => f.body.encode()))),
    ];
    return new Uint8Array(bytes);
  }
}

// -------------------------------------------------------------------------------------------------
// The slice of the WebAssembly JS API used here, typed locally (the project's lib settings do not
// declare the WebAssembly namespace, and a global declaration could clash with another file's).

export interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  grow(pages: number): number;
}
export type WasmModule = object;
export interface WasmInstance {
  readonly exports: Record<string, unknown>;
}
interface WasmApi {
  Memory: new (d: { initial: number; maximum?: number; shared?: boolean }) => WasmMemory;
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: Record<string, Record<string, unknown>>) => WasmInstance;
  validate(bytes: Uint8Array): boolean;
}

/** The runtime's WebAssembly object, or undefined where there is none. */
export const wasmApi: WasmApi | undefined = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;
