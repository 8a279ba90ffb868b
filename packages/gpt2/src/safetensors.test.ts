import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  bf16BitsToF32Bits, bf16ToF32, f16ToF32, f16BitsToF32Bits, f32BitsToBF16Bits, f32BitsToF16Bits, f32ToBF16, f32ToF16, openSafetensors, openSafetensorsDir,
  readSafetensors, readShardedIndex, SafetensorsError, writeSafetensors, WritableTensor,
} from './safetensors';

const FIXTURES = path.resolve(__dirname, '../../../../shared/fixtures/gpt2-tiny-a');
const MODEL = path.join(FIXTURES, 'model.safetensors');
const REFERENCE = path.join(FIXTURES, 'reference.safetensors');

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'safetensors-test-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function bits(a: Float32Array | Int32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

function bytesOf(a: Float32Array | Int32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** A safetensors file from parts: `header` as an object or raw text, `data` the byte buffer. */
function buildFile(name: string, header: object | string | Buffer, data: Uint8Array = new Uint8Array(0), declaredLength?: bigint): string {
  const h = Buffer.isBuffer(header) ? header : Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(declaredLength ?? BigInt(h.length));
  const file = path.join(tmp, name);
  fs.writeFileSync(file, Buffer.concat([prefix, h, data]));
  return file;
}

/** Expect `fn` to throw a SafetensorsError whose message names the file, the tensor (if given) and matches `pattern`. */
function expectError(fn: () => unknown, file: string, tensor: string | undefined, pattern: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(SafetensorsError);
  const msg = (err as Error).message;
  expect(msg).toContain(file);
  if (tensor !== undefined) expect(msg).toContain(`"${tensor}"`);
  expect(msg).toMatch(pattern);
}

describe('fixture files (written by the Python safetensors library)', () => {
  test('model.safetensors: names, shapes, dtypes, metadata', () => {
    const f = openSafetensors(MODEL);
    expect(f.metadata).toEqual({ format: 'pt' });
    const names = f.names();
    expect(names).toHaveLength(28); // 2 layers x 12 + wte, wpe, ln_f.weight, ln_f.bias
    for (const n of ['wte.weight', 'wpe.weight', 'ln_f.weight', 'ln_f.bias']) expect(f.has(n)).toBe(true);
    for (const i of [0, 1]) {
      for (const k of ['ln_1.weight', 'ln_1.bias', 'attn.c_attn.weight', 'attn.c_attn.bias', 'attn.c_proj.weight', 'attn.c_proj.bias',
        'ln_2.weight', 'ln_2.bias', 'mlp.c_fc.weight', 'mlp.c_fc.bias', 'mlp.c_proj.weight', 'mlp.c_proj.bias']) {
        expect(f.has(`h.${i}.${k}`)).toBe(true);
      }
    }
    expect(f.info('wte.weight')).toMatchObject({ dtype: 'F32', shape: [101, 32], byteLength: 101 * 32 * 4 });
    expect(f.info('wpe.weight').shape).toEqual([32, 32]);
    expect(f.info('h.0.attn.c_attn.weight').shape).toEqual([32, 96]); // Conv1D layout [in, out]
    expect(f.info('h.1.mlp.c_proj.weight').shape).toEqual([128, 32]);
    const wte = f.get('wte.weight');
    expect(wte.data).toBeInstanceOf(Float32Array);
    expect(wte.data.length).toBe(101 * 32);
    expect(Array.from(wte.data).every(Number.isFinite)).toBe(true);
  });

  test('tensor values are the raw little-endian bytes at dataStart + BEGIN', () => {
    const f = openSafetensors(MODEL);
    const raw = fs.readFileSync(MODEL);
    for (const name of f.names()) {
      const [b, e] = f.info(name).dataOffsets;
      expect(bytesOf(f.get(name).data).equals(raw.subarray(f.dataStart + b, f.dataStart + e))).toBe(true);
    }
  });

  test('reference.safetensors: ids are I32, greedy_ids start with input_ids row 0', () => {
    const ref = readSafetensors(REFERENCE);
    const ids = ref.get('input_ids');
    expect(ids).toMatchObject({ dtype: 'I32', shape: [2, 12] });
    expect(ids?.data).toBeInstanceOf(Int32Array);
    expect(Array.from(ids?.data ?? []).every((v) => v >= 0 && v < 101)).toBe(true);
    const greedy = ref.get('greedy_ids');
    expect(greedy).toMatchObject({ dtype: 'I32', shape: [1, 20] });
    expect(Array.from(greedy?.data.subarray(0, 12) ?? [])).toEqual(Array.from(ids?.data.subarray(0, 12) ?? []));
    expect(ref.get('logits')?.shape).toEqual([2, 12, 101]);
    expect(ref.get('fpt.y')).toMatchObject({ dtype: 'I32', shape: [2] });
    expect(ref.get('fpt.loss')?.shape).toEqual([1]);
    expect(openSafetensors(REFERENCE).metadata).toEqual({});
  });

  test.each([
    ['model.safetensors', MODEL, { format: 'pt' }],
    ['reference.safetensors', REFERENCE, undefined],
  ])('rewriting %s reproduces the Python library output byte for byte', (name, file, metadata) => {
    const out = path.join(tmp, `rewrite-${name}`);
    const tensors = new Map<string, WritableTensor>();
    for (const [n, t] of readSafetensors(file)) tensors.set(n, { dtype: t.dtype as 'F32' | 'I32', shape: t.shape, data: t.data });
    writeSafetensors(out, tensors, metadata);
    expect(fs.readFileSync(out).equals(fs.readFileSync(file))).toBe(true);
  });
});

describe('writer', () => {
  const special = new Float32Array([0, -0, 1, -2.5, 65504, 1e-8, 3.4028234663852886e38, -Infinity, Infinity, NaN, 1.401298464324817e-45]);

  test('write -> read is bitwise identical for F32, I32, I64, and F16/BF16-representable values', () => {
    const f32 = new Float32Array(6 * 5).map((_, i) => Math.sin(i) * 10 ** (i % 7 - 3));
    const nanPayload = new Float32Array(3);
    bits(nanPayload).set([0x7fc00001, 0xffbfffff, 0x7f800001]); // quiet, negative, signalling NaNs with payloads
    const i32 = Int32Array.from([0, 1, -1, 2147483647, -2147483648, 123456789]);
    const f16vals = Float32Array.from([0, -0, 1, -2, 65504, 6.103515625e-5, 5.960464477539063e-8, Infinity, -Infinity, 0.333251953125]);
    const bf16vals = Float32Array.from([1, -1, 3.140625, 2 ** -133, 3.3895313892515355e38, -Infinity]);
    const tensors: Record<string, WritableTensor> = {
      'a.f32': { dtype: 'F32', shape: [6, 5], data: f32 },
      'nan': { dtype: 'F32', shape: [3], data: nanPayload },
      'special': { dtype: 'F32', shape: [special.length], data: special },
      'ids32': { dtype: 'I32', shape: [2, 3], data: i32 },
      'ids64': { dtype: 'I64', shape: [3, 2], data: i32 },
      'half': { dtype: 'F16', shape: [10], data: f16vals },
      'brain': { dtype: 'BF16', shape: [2, 3], data: bf16vals },
      'scalar': { dtype: 'F32', shape: [], data: Float32Array.of(7) },
      'empty': { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
    };
    const file = path.join(tmp, 'roundtrip.safetensors');
    writeSafetensors(file, tensors, { format: 'pt', note: 'ünïcödé' });
    const f = openSafetensors(file);
    expect(f.metadata).toEqual({ format: 'pt', note: 'ünïcödé' });
    for (const [name, t] of Object.entries(tensors)) {
      const got = f.get(name);
      expect({ name, dtype: got.dtype, shape: got.shape }).toEqual({ name, dtype: t.dtype, shape: t.shape });
      expect(got.data.constructor).toBe(t.data.constructor);
      expect(Array.from(bits(got.data))).toEqual(Array.from(bits(t.data)));
    }
    // and writing what was read gives the same file
    const again = path.join(tmp, 'roundtrip2.safetensors');
    const read = new Map<string, WritableTensor>();
    for (const [n, t] of readSafetensors(file)) read.set(n, { dtype: t.dtype as WritableTensor['dtype'], shape: t.shape, data: t.data });
    writeSafetensors(again, read, { note: 'ünïcödé', format: 'pt' });
    expect(fs.readFileSync(again).equals(fs.readFileSync(file))).toBe(true);
  });

  test('layout: header padded with spaces to 8 bytes, tensors by dtype alignment then name, packed', () => {
    const file = path.join(tmp, 'layout.safetensors');
    writeSafetensors(file, {
      b: { dtype: 'F16', shape: [1], data: Float32Array.of(1) },
      a: { dtype: 'F16', shape: [3], data: Float32Array.of(1, 2, 3) },
      z: { dtype: 'I64', shape: [1], data: Int32Array.of(-5) },
      y: { dtype: 'F32', shape: [1], data: Float32Array.of(1) },
      x: { dtype: 'I32', shape: [1], data: Int32Array.of(1) },
      w: { dtype: 'BF16', shape: [1], data: Float32Array.of(1) },
    });
    const raw = fs.readFileSync(file);
    const n = Number(raw.readBigUInt64LE(0));
    expect(n % 8).toBe(0);
    const header = raw.subarray(8, 8 + n).toString('utf8');
    expect(header).toBe(`${'{"z":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},'
      + '"x":{"dtype":"I32","shape":[1],"data_offsets":[12,16]},"w":{"dtype":"BF16","shape":[1],"data_offsets":[16,18]},'
      + '"a":{"dtype":"F16","shape":[3],"data_offsets":[18,24]},"b":{"dtype":"F16","shape":[1],"data_offsets":[24,26]}}'}`.padEnd(n, ' '));
    expect(raw.length).toBe(8 + n + 26);
    expect(raw.readBigInt64LE(8 + n)).toBe(-5n); // I64 is sign-extended
    expect(fs.readdirSync(tmp).filter((e) => e.endsWith('.tmp'))).toEqual([]);
  });

  test('bad input is refused and an existing file is left untouched', () => {
    const file = path.join(tmp, 'keep.safetensors');
    writeSafetensors(file, { t: { dtype: 'F32', shape: [1], data: Float32Array.of(1) } });
    const before = fs.readFileSync(file);
    expectError(() => writeSafetensors(file, { t: { dtype: 'F32', shape: [2, 2], data: new Float32Array(3) } }), file, 't', /4 elements, data has 3/);
    expectError(() => writeSafetensors(file, { t: { dtype: 'I32', shape: [1], data: new Float32Array(1) } }), file, 't', /needs Int32Array/);
    expectError(() => writeSafetensors(file, { t: { dtype: 'F16', shape: [1], data: new Int32Array(1) } }), file, 't', /needs Float32Array/);
    expectError(() => writeSafetensors(file, { t: { dtype: 'F32', shape: [-1], data: new Float32Array(0) } }), file, 't', /non-negative integers/);
    expectError(() => writeSafetensors(file, { __metadata__: { dtype: 'F32', shape: [], data: new Float32Array(1) } }), file, '__metadata__', /reserved/);
    expect(fs.readFileSync(file).equals(before)).toBe(true);
    expect(fs.readdirSync(tmp).filter((e) => e.endsWith('.tmp'))).toEqual([]);
  });
});

describe('f16 / bf16 conversion', () => {
  test('f16 -> f32, hand-computed values', () => {
    const cases: Array<[number, number]> = [
      [0x0000, 0], [0x3c00, 1], [0xc000, -2], [0x3555, 0.333251953125], [0x3bff, 0.99951171875],
      [0x7bff, 65504], [0x0400, 2 ** -14], [0x0001, 2 ** -24], [0x03ff, 1023 * 2 ** -24], [0x8001, -(2 ** -24)],
      [0x7c00, Infinity], [0xfc00, -Infinity],
    ];
    for (const [h, v] of cases) expect(f16ToF32(h)).toBe(v);
    expect(Object.is(f16ToF32(0x8000), -0)).toBe(true);
    expect(f16ToF32(0x7e00)).toBeNaN();
    expect(f16BitsToF32Bits(0x7e01)).toBe(0x7fc02000); // NaN payload carried into the f32 mantissa
    expect(f16BitsToF32Bits(0xfd00)).toBe(0xffa00000); // signalling NaN stays signalling, sign kept
  });

  test('f16 -> f32 agrees with the definition on all 65536 values, and f32 -> f16 inverts it', () => {
    for (let h = 0; h < 65536; h++) {
      const sign = h & 0x8000 ? -1 : 1;
      const exp = (h >> 10) & 0x1f;
      const mant = h & 0x3ff;
      const v = f16ToF32(h);
      if (exp === 31) {
        if (mant === 0) expect(v).toBe(sign * Infinity);
        else expect(v).toBeNaN();
      } else {
        const expected = sign * (exp === 0 ? mant * 2 ** -24 : (1 + mant / 1024) * 2 ** (exp - 15));
        if (v !== expected || (v === 0 && Object.is(v, -0) !== Object.is(expected, -0))) throw new Error(`f16 0x${h.toString(16)}: ${v} != ${expected}`);
      }
      if (f32BitsToF16Bits(f16BitsToF32Bits(h)) !== h) throw new Error(`f16 0x${h.toString(16)} does not survive f16 -> f32 -> f16`);
    }
  });

  test('f32 -> f16 rounds to nearest even, overflows to inf, flushes tiny values to zero', () => {
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00); // tie, even stays
    expect(f32ToF16(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie, rounds up to even
    expect(f32ToF16(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01); // above the tie
    expect(f32ToF16(65519)).toBe(0x7bff);
    expect(f32ToF16(65520)).toBe(0x7c00);
    expect(f32ToF16(1e6)).toBe(0x7c00);
    expect(f32ToF16(-1e6)).toBe(0xfc00);
    expect(f32ToF16(2 ** -25)).toBe(0x0000); // half the smallest subnormal: tie to even (0)
    expect(f32ToF16(2 ** -25 * 1.5)).toBe(0x0001);
    expect(f32ToF16(3 * 2 ** -25)).toBe(0x0002); // 1.5 subnormal units: tie to even (2)
    expect(f32ToF16(1023.5 * 2 ** -24)).toBe(0x0400); // rounds up from the largest subnormal into the smallest normal
    expect(f32ToF16(1e-10)).toBe(0x0000);
    expect(f32ToF16(-1e-10)).toBe(0x8000);
    expect(f32ToF16(NaN) & 0x7e00).toBe(0x7e00);
  });

  test('bf16 <-> f32, hand-computed values', () => {
    const cases: Array<[number, number]> = [
      [0x3f80, 1], [0xbf80, -1], [0x4049, 3.140625], [0x0001, 2 ** -133], [0x0080, 2 ** -126],
      [0x7f7f, 3.3895313892515355e38], [0x7f80, Infinity], [0xff80, -Infinity],
    ];
    for (const [h, v] of cases) {
      expect(bf16ToF32(h)).toBe(v);
      expect(f32ToBF16(v)).toBe(h);
    }
    expect(bf16ToF32(0x7fc0)).toBeNaN();
    expect(f32ToBF16(Math.PI)).toBe(0x4049); // 0x40490fdb: low half below the tie
    expect(f32ToBF16(1 + 2 ** -8)).toBe(0x3f80); // tie, even stays
    expect(f32ToBF16(1 + 3 * 2 ** -8)).toBe(0x3f82); // tie, rounds up to even
    expect(f32ToBF16(3.4e38)).toBe(0x7f80); // above the largest bf16 after rounding: inf
    expect(f32ToBF16(NaN) & 0x7fc0).toBe(0x7fc0);
    for (let h = 0; h < 65536; h++) {
      if (f32BitsToBF16Bits(bf16BitsToF32Bits(h)) !== h) throw new Error(`bf16 0x${h.toString(16)} does not survive bf16 -> f32 -> bf16`);
    }
  });

  test('the reader converts F16, BF16, F64 and the integer dtypes from hand-written bytes', () => {
    const data = Buffer.alloc(64);
    let o = 0;
    for (const h of [0x3c00, 0xc000, 0x0001, 0x7c00]) { data.writeUInt16LE(h, o); o += 2; } // F16 [0, 8)
    for (const h of [0x3f80, 0x4049]) { data.writeUInt16LE(h, o); o += 2; } // BF16 [8, 12)
    data.writeDoubleLE(0.1, o); o += 8; // F64 [12, 20)
    data.writeInt16LE(-300, o); data.writeInt16LE(300, o + 2); o += 4; // I16 [20, 24)
    data.writeInt8(-128, o); data.writeInt8(127, o + 1); o += 2; // I8 [24, 26)
    data[o] = 255; data[o + 1] = 0; o += 2; // U8 [26, 28)
    data[o] = 1; data[o + 1] = 0; o += 2; // BOOL [28, 30)
    data.writeBigInt64LE(-2147483648n, o); data.writeBigInt64LE(2147483647n, o + 8); o += 16; // I64 [30, 46), unaligned
    data.writeFloatLE(1.5, o); o += 4; // F32 [46, 50), unaligned
    data.writeInt32LE(-7, o); o += 4; // I32 [50, 54), unaligned
    const file = buildFile('dtypes.safetensors', {
      h: { dtype: 'F16', shape: [4], data_offsets: [0, 8] },
      b: { dtype: 'BF16', shape: [2], data_offsets: [8, 12] },
      d: { dtype: 'F64', shape: [1], data_offsets: [12, 20] },
      s: { dtype: 'I16', shape: [2], data_offsets: [20, 24] },
      c: { dtype: 'I8', shape: [2], data_offsets: [24, 26] },
      u: { dtype: 'U8', shape: [2], data_offsets: [26, 28] },
      q: { dtype: 'BOOL', shape: [2], data_offsets: [28, 30] },
      l: { dtype: 'I64', shape: [2], data_offsets: [30, 46] },
      f: { dtype: 'F32', shape: [], data_offsets: [46, 50] },
      i: { dtype: 'I32', shape: [1, 1], data_offsets: [50, 54] },
    }, data.subarray(0, o));
    const t = readSafetensors(file);
    const get = (n: string): number[] => Array.from(t.get(n)?.data ?? []);
    expect(get('h')).toEqual([1, -2, 2 ** -24, Infinity]);
    expect(get('b')).toEqual([1, 3.140625]);
    expect(get('d')).toEqual([Math.fround(0.1)]);
    expect(get('s')).toEqual([-300, 300]);
    expect(get('c')).toEqual([-128, 127]);
    expect(get('u')).toEqual([255, 0]);
    expect(get('q')).toEqual([1, 0]);
    expect(get('l')).toEqual([-2147483648, 2147483647]);
    expect(get('f')).toEqual([1.5]);
    expect(get('i')).toEqual([-7]);
    expect(t.get('h')?.data).toBeInstanceOf(Float32Array);
    expect(t.get('l')?.data).toBeInstanceOf(Int32Array);
    expect(t.get('f')?.shape).toEqual([]);
  });
});

describe('bad files: each error names the file and the tensor', () => {
  const ok = (dtype = 'F32', shape: number[] = [2], offsets: number[] = [0, 8]): object => ({ dtype, shape, data_offsets: offsets });
  const eight = new Uint8Array(8);

  test('file shorter than 8 bytes', () => {
    const file = path.join(tmp, 'short.safetensors');
    fs.writeFileSync(file, Buffer.from([1, 2, 3]));
    expectError(() => openSafetensors(file), file, undefined, /3 bytes, shorter than the 8-byte/);
  });

  test('header length larger than the file', () => {
    const file = buildFile('hlen.safetensors', { t: ok() }, eight, 1000n);
    expectError(() => openSafetensors(file), file, undefined, /header length 1000 .* larger than the \d+ bytes/);
    const huge = buildFile('hlen2.safetensors', '{}', new Uint8Array(0), BigInt('18446744073709551615'));
    expectError(() => openSafetensors(huge), huge, undefined, /header length 18446744073709551615/);
  });

  test('header not valid UTF-8', () => {
    const file = buildFile('utf8.safetensors', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]));
    expectError(() => openSafetensors(file), file, undefined, /not valid UTF-8/);
  });

  test('header not JSON, or not an object', () => {
    const a = buildFile('json.safetensors', '{"t": {"dtype": "F32",');
    expectError(() => openSafetensors(a), a, undefined, /not valid JSON/);
    const b = buildFile('array.safetensors', '[1, 2]   ');
    expectError(() => openSafetensors(b), b, undefined, /does not start with '\{'/);
    const c = buildFile('entry.safetensors', { t: [1, 2] });
    expectError(() => openSafetensors(c), c, 't', /must be an object/);
  });

  test('bad __metadata__', () => {
    const file = buildFile('meta.safetensors', { __metadata__: { total: 5 }, t: ok() }, eight);
    expectError(() => openSafetensors(file), file, undefined, /__metadata__ value for "total" must be a string/);
  });

  test('unknown or unsupported dtype', () => {
    const a = buildFile('dtype.safetensors', { 'h.0.w': ok('F17') }, eight);
    expectError(() => openSafetensors(a), a, 'h.0.w', /unknown dtype "F17"/);
    const b = buildFile('dtype2.safetensors', { 'h.0.w': ok('U16', [4]) }, eight);
    expectError(() => openSafetensors(b), b, 'h.0.w', /dtype U16 is not supported/);
  });

  test('shape not an array of non-negative integers', () => {
    for (const [i, shape] of [[-2], [2.5], '2', [null], [2 ** 40]].entries()) {
      const file = buildFile(`shape${i}.safetensors`, { wte: { dtype: 'F32', shape, data_offsets: [0, 8] } }, eight);
      expectError(() => openSafetensors(file), file, 'wte', i === 4 ? /needs .* bytes, but data_offsets \[0, 8\] hold 8/ : /shape must be an array of non-negative integers/);
    }
  });

  test('data_offsets missing, malformed, or END < BEGIN', () => {
    const cases: Array<[unknown, RegExp]> = [
      [undefined, /data_offsets must be \[BEGIN, END\]/],
      [[0], /data_offsets must be \[BEGIN, END\]/],
      [[0, 8, 9], /data_offsets must be \[BEGIN, END\]/],
      [[0, '8'], /data_offsets must be \[BEGIN, END\]/],
      [[-1, 7], /data_offsets must be \[BEGIN, END\]/],
      [[8, 0], /data_offsets \[8, 0\]: END < BEGIN/],
    ];
    cases.forEach(([offsets, pattern], i) => {
      const file = buildFile(`offsets${i}.safetensors`, { 'ln_f.bias': { dtype: 'F32', shape: [2], data_offsets: offsets } }, eight);
      expectError(() => openSafetensors(file), file, 'ln_f.bias', pattern);
    });
  });

  test('data_offsets beyond the data buffer (truncated file)', () => {
    const file = buildFile('bounds.safetensors', { a: ok('F32', [2], [0, 8]), b: ok('F32', [2], [8, 16]) }, new Uint8Array(12));
    expectError(() => openSafetensors(file), file, 'b', /data_offsets \[8, 16\] run past the end of the 12-byte data buffer/);
  });

  test('byte length != prod(shape) * dtype size', () => {
    const file = buildFile('size.safetensors', { 'wpe.weight': ok('F32', [3, 2], [0, 8]) }, eight);
    expectError(() => openSafetensors(file), file, 'wpe.weight', /shape \[3,2\] x F32 \(4 bytes\) needs 24 bytes, but data_offsets \[0, 8\] hold 8/);
  });

  test('overlapping tensors', () => {
    const file = buildFile('overlap.safetensors', { a: ok('F32', [2], [0, 8]), b: ok('F32', [2], [4, 12]) }, new Uint8Array(12));
    expectError(() => openSafetensors(file), file, 'b', /overlap tensor "a" which ends at 8/);
    const alias = buildFile('alias.safetensors', { a: ok('F32', [2], [0, 8]), b: ok('F32', [2], [0, 8]) }, eight);
    expectError(() => openSafetensors(alias), alias, undefined, /overlap tensor "[ab]"/);
  });

  test('gaps and trailing bytes (MetadataIncompleteBuffer, as the Python library)', () => {
    const gap = buildFile('gap.safetensors', { a: ok('F32', [1], [0, 4]), b: ok('F32', [1], [8, 12]) }, new Uint8Array(12));
    expectError(() => openSafetensors(gap), gap, 'b', /leave bytes \[4, 8\) .* covered by no tensor/);
    const trailing = buildFile('trailing.safetensors', { a: ok('F32', [1], [0, 4]) }, eight);
    expectError(() => openSafetensors(trailing), trailing, undefined, /4 trailing bytes .* belong to no tensor/);
  });

  test('I64 values outside int32, BOOL bytes other than 0/1', () => {
    const data = Buffer.alloc(16);
    data.writeBigInt64LE(1n, 0);
    data.writeBigInt64LE(2147483648n, 8);
    const file = buildFile('i64.safetensors', { input_ids: ok('I64', [2], [0, 16]) }, data);
    const f = openSafetensors(file); // the header is fine; the values are checked when read
    expectError(() => f.get('input_ids'), file, 'input_ids', /I64 element 1 = 2147483648 does not fit in int32/);
    const b = buildFile('bool.safetensors', { mask: ok('BOOL', [2], [0, 2]) }, Uint8Array.of(1, 2));
    expectError(() => readSafetensors(b), b, 'mask', /BOOL element 1 has byte value 2/);
  });

  test('missing file, unknown tensor name, file changed after opening', () => {
    const missing = path.join(tmp, 'nope.safetensors');
    expectError(() => openSafetensors(missing), missing, undefined, /file not found/);
    const file = buildFile('changed.safetensors', { a: ok() }, eight);
    const f = openSafetensors(file);
    expectError(() => f.get('b'), file, 'b', /no such tensor/);
    expectError(() => f.info('b'), file, 'b', /no such tensor/);
    fs.truncateSync(file, 10);
    expectError(() => f.get('a'), file, 'a', /changed size/);
  });
});

describe('sharded checkpoints', () => {
  function makeSharded(name: string): string {
    const dir = path.join(tmp, name);
    fs.mkdirSync(dir);
    writeSafetensors(path.join(dir, 'model-00001-of-00002.safetensors'), {
      'wte.weight': { dtype: 'F32', shape: [2, 2], data: Float32Array.of(1, 2, 3, 4) },
      'h.0.ln_1.weight': { dtype: 'F32', shape: [2], data: Float32Array.of(5, 6) },
    }, { format: 'pt' });
    writeSafetensors(path.join(dir, 'model-00002-of-00002.safetensors'), {
      'ln_f.weight': { dtype: 'F16', shape: [2], data: Float32Array.of(0.5, -1) },
    }, { format: 'pt' });
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({
      metadata: { total_size: 28 },
      weight_map: {
        'h.0.ln_1.weight': 'model-00001-of-00002.safetensors',
        'ln_f.weight': 'model-00002-of-00002.safetensors',
        'wte.weight': 'model-00001-of-00002.safetensors',
      },
    }));
    return dir;
  }

  test('reads the index and the tensors from their shards', () => {
    const dir = makeSharded('sharded-ok');
    const s = readShardedIndex(dir);
    expect(s.metadata).toEqual({ total_size: 28 });
    expect(s.names()).toEqual(['h.0.ln_1.weight', 'ln_f.weight', 'wte.weight']);
    expect(s.shardFiles).toEqual(['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
    expect(Array.from(s.get('wte.weight').data)).toEqual([1, 2, 3, 4]);
    expect(s.get('ln_f.weight')).toMatchObject({ dtype: 'F16', shape: [2] });
    expect(Array.from(s.get('ln_f.weight').data)).toEqual([0.5, -1]);
    expect(s.info('h.0.ln_1.weight').shape).toEqual([2]);
    expect(() => s.get('lm_head.weight')).toThrow(/lm_head\.weight.*no such tensor/);
    const viaDir = openSafetensorsDir(dir);
    expect(viaDir.names()).toEqual(s.names());
    expect(openSafetensorsDir(FIXTURES).names()).toHaveLength(28);
  });

  test('a missing shard is named, with the tensors it should hold', () => {
    const dir = makeSharded('sharded-missing');
    fs.rmSync(path.join(dir, 'model-00002-of-00002.safetensors'));
    expectError(() => readShardedIndex(dir), path.join(dir, 'model.safetensors.index.json'), undefined,
      /1 of 2 shard file\(s\) missing .*model-00002-of-00002\.safetensors \(holds 1 tensor, e\.g\. "ln_f\.weight"\)/);
  });

  test('a tensor the index places in a shard that lacks it', () => {
    const dir = makeSharded('sharded-absent');
    const index = path.join(dir, 'model.safetensors.index.json');
    const json = JSON.parse(fs.readFileSync(index, 'utf8')) as { weight_map: Record<string, string> };
    json.weight_map['wpe.weight'] = 'model-00002-of-00002.safetensors';
    fs.writeFileSync(index, JSON.stringify(json));
    expectError(() => readShardedIndex(dir), path.join(dir, 'model-00002-of-00002.safetensors'), undefined, /not in it: wpe\.weight/);
  });

  test('malformed index files', () => {
    const dir = path.join(tmp, 'sharded-bad');
    fs.mkdirSync(dir);
    const index = path.join(dir, 'model.safetensors.index.json');
    expectError(() => readShardedIndex(dir), index, undefined, /index not found/);
    expectError(() => openSafetensorsDir(dir), dir, undefined, /no model\.safetensors or model\.safetensors\.index\.json/);
    fs.writeFileSync(index, '{"weight_map": ');
    expectError(() => readShardedIndex(dir), index, undefined, /not valid JSON/);
    fs.writeFileSync(index, '{"metadata": {}}');
    expectError(() => readShardedIndex(dir), index, undefined, /"weight_map" must be an object/);
    fs.writeFileSync(index, '{"weight_map": {"wte.weight": 3}}');
    expectError(() => readShardedIndex(dir), index, 'wte.weight', /must be a shard file name/);
    fs.writeFileSync(index, '{"weight_map": {"wte.weight": "../x.safetensors"}}');
    expectError(() => readShardedIndex(dir), index, 'wte.weight', /outside the checkpoint directory/);
  });
});
