/**
 * safetensors: a strict reader and writer, independent of any tensor class.
 *
 * File layout (huggingface/safetensors README, PAPER.md section 4):
 *
 *   [8 bytes]  N, a little-endian u64: the header length
 *   [N bytes]  UTF-8 JSON object: {"<name>": {"dtype": "F32", "shape": [..], "data_offsets": [BEGIN, END]},
 *              ..., "__metadata__": {"<key>": "<string>"}}   (may be right-padded with spaces)
 *   [rest]     the data buffer; offsets are relative to its start, END exclusive,
 *              tensors are little-endian, row-major, with no strides.
 *
 * Reading follows the reference implementation (the Rust core of the Python library) in what it rejects,
 * and every error names the file and, where there is one, the tensor. Tensors are read lazily, one at a
 * time, straight from the file at their offset, so a large checkpoint is never held twice in memory.
 *
 * Values come back as Float32Array (F32, F16, BF16 exactly; F64 rounded to nearest f32) or Int32Array
 * (I64 when every value fits in int32, I32, I16, I8, U8, BOOL).
 */

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { randomBytes } from 'crypto';

// ---------------------------------------------------------------------------------------------------
// dtypes

export type SafeDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

/** The dtypes the writer produces. */
export type WritableDType = 'F32' | 'F16' | 'BF16' | 'I32' | 'I64';

const DTYPE_SIZE: Record<SafeDType, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

/**
 * Position in the Rust library's `Dtype` enum, which is declared in increasing alignment order.
 * Its writer lays tensors out by this rank, descending, then by name; ours does the same, so a file
 * written here is byte-identical to one written by `safetensors.torch.save_file` (for our dtypes).
 */
const DTYPE_RANK: Record<SafeDType, number> = {
  BOOL: 0, U8: 1, I8: 2, I16: 3, F16: 4, BF16: 5, I32: 6, F32: 7, F64: 8, I64: 9,
};

/** Valid in the format, but not converted by this reader. */
const UNSUPPORTED_DTYPES = ['U16', 'U32', 'U64', 'F8_E5M2', 'F8_E4M3', 'F8_E8M0', 'F4', 'F6_E2M3', 'F6_E3M2', 'C64'];

function isSafeDType(s: unknown): s is SafeDType {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_SIZE, s);
}

export function dtypeSize(dtype: SafeDType): number {
  return DTYPE_SIZE[dtype];
}

// ---------------------------------------------------------------------------------------------------
// public types

export interface RawTensor {
  dtype: SafeDType;
  shape: number[];
  data: Float32Array | Int32Array;
}

export interface TensorInfo {
  dtype: SafeDType;
  shape: number[];
  byteLength: number;
  /** [BEGIN, END) relative to the start of the data buffer. */
  dataOffsets: [number, number];
}

/** Anything tensors can be looked up in by name: one file or a sharded checkpoint. */
export interface SafetensorsSource {
  names(): string[];
  has(name: string): boolean;
  info(name: string): TensorInfo;
  get(name: string): RawTensor;
}

export interface SafetensorsFile extends SafetensorsSource {
  readonly path: string;
  readonly metadata: Record<string, string>;
  /** Byte offset in the file where the data buffer starts (8 + header length). */
  readonly dataStart: number;
}

export interface WritableTensor {
  dtype: WritableDType;
  shape: readonly number[];
  data: Float32Array | Int32Array;
}

export class SafetensorsError extends Error {
  constructor(readonly file: string, detail: string, readonly tensor?: string) {
    super(`safetensors ${file}: ${tensor !== undefined ? `tensor "${tensor}": ` : ''}${detail}`);
    this.name = 'SafetensorsError';
  }
}

// ---------------------------------------------------------------------------------------------------
// f16 / bf16 <-> f32, on bit patterns so that signs, subnormals, infinities and NaN payloads are exact

/** f16 bits -> f32 bits. Every f16 value (subnormals included) is exactly representable in f32. */
export function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0; // inf, NaN (payload kept)
  if (exp !== 0) return (sign | ((exp - 15 + 127) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0; // +-0
  // subnormal: value = mant * 2^-24; shift the leading 1 up to the implicit bit position
  let e = -14;
  while ((mant & 0x400) === 0) {
    mant <<= 1;
    e--;
  }
  return (sign | ((e + 127) << 23) | ((mant & 0x3ff) << 13)) >>> 0;
}

/**
 * f32 bits -> f16 bits, round to nearest even; overflow gives inf. A NaN keeps its sign and the top of
 * its payload (so f16 -> f32 -> f16 is the identity on all 65536 patterns); a payload that would vanish
 * becomes the quiet bit, so NaN never turns into inf.
 */
export function f32BitsToF16Bits(b: number): number {
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return mant === 0 ? sign | 0x7c00 : sign | 0x7c00 | (mant >>> 13 || 0x200);
  const e = exp - 127 + 15; // f16 biased exponent
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // f16 subnormal (or zero): h = mant24 * 2^(exp - 126), i.e. drop (14 - e) bits
    if (e < -10) return sign; // below half the smallest subnormal: rounds to zero
    const m = mant | 0x800000;
    const shift = 14 - e;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    let h = m >>> shift;
    if (rem > half || (rem === half && (h & 1) === 1)) h++; // may carry into the smallest normal: still right
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) h++; // a carry may reach 0x7c00 = inf: still right
  return sign | h;
}

/** bf16 is the top half of an f32. */
export function bf16BitsToF32Bits(h: number): number {
  return (h << 16) >>> 0;
}

/** f32 bits -> bf16 bits, round to nearest even; a NaN is truncated like f32BitsToF16Bits keeps it. */
export function f32BitsToBF16Bits(b: number): number {
  if ((b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0) return (b >>> 16) & 0x7f ? b >>> 16 : (b >>> 16) | 0x40;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

export function f16ToF32(h: number): number {
  scratchU32[0] = f16BitsToF32Bits(h);
  return scratchF32[0];
}

export function bf16ToF32(h: number): number {
  scratchU32[0] = bf16BitsToF32Bits(h);
  return scratchF32[0];
}

export function f32ToF16(x: number): number {
  scratchF32[0] = x;
  return f32BitsToF16Bits(scratchU32[0]);
}

export function f32ToBF16(x: number): number {
  scratchF32[0] = x;
  return f32BitsToBF16Bits(scratchU32[0]);
}

let f16Table: Uint32Array | undefined;

/** All 65536 f16 -> f32 conversions, built on first use (256 KB). */
function f16ToF32Table(): Uint32Array {
  if (f16Table === undefined) {
    f16Table = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16BitsToF32Bits(h);
  }
  return f16Table;
}

const LITTLE_ENDIAN_HOST = os.endianness() === 'LE';

// ---------------------------------------------------------------------------------------------------
// reading

/** The Rust library refuses headers above 100 MB; so do we. */
const MAX_HEADER_SIZE = 100_000_000;

function fail(file: string, detail: string, tensor?: string): never {
  throw new SafetensorsError(file, detail, tensor);
}

function openForRead(file: string): number {
  try {
    return fs.openSync(file, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return fail(file, code === 'ENOENT' ? 'file not found' : `cannot open: ${(e as Error).message}`);
  }
}

/** Read exactly `into.byteLength` bytes at `position` (readSync may return fewer; loop until done). */
function readExactly(fd: number, into: Uint8Array, position: number, file: string, tensor?: string): void {
  const CHUNK = 1 << 30;
  let done = 0;
  while (done < into.byteLength) {
    const want = Math.min(CHUNK, into.byteLength - done);
    const got = fs.readSync(fd, into, done, want, position + done);
    if (got === 0) {
      fail(file, `unexpected end of file at byte ${position + done} (needed ${into.byteLength} bytes from ${position})`, tensor);
    }
    done += got;
  }
}

function isNonNegativeInteger(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function describe(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

interface ParsedHeader {
  fileSize: number;
  dataStart: number;
  metadata: Record<string, string>;
  /** In data-offset order. */
  entries: Map<string, TensorInfo>;
}

function parseHeader(file: string, fd: number): ParsedHeader {
  const fileSize = fs.fstatSync(fd).size;
  if (fileSize < 8) fail(file, `file is ${fileSize} bytes, shorter than the 8-byte header-length prefix (truncated or not a safetensors file)`);
  const prefix = new Uint8Array(8);
  readExactly(fd, prefix, 0, file);
  const n = Buffer.from(prefix.buffer).readBigUInt64LE(0);
  if (n > BigInt(fileSize - 8)) {
    fail(file, `header length ${n} (first 8 bytes, little-endian u64) is larger than the ${fileSize - 8} bytes that follow it (truncated or not a safetensors file)`);
  }
  const headerLength = Number(n);
  if (headerLength > MAX_HEADER_SIZE) fail(file, `header length ${headerLength} exceeds the ${MAX_HEADER_SIZE}-byte limit`);
  const headerBytes = new Uint8Array(headerLength);
  readExactly(fd, headerBytes, 8, file);

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(headerBytes);
  } catch {
    return fail(file, `header (bytes 8..${8 + headerLength}) is not valid UTF-8`);
  }
  if (!text.startsWith('{')) fail(file, `header (bytes 8..${8 + headerLength}) does not start with '{': ${describe(text.slice(0, 40))}`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return fail(file, `header (bytes 8..${8 + headerLength}) is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail(file, 'header is not a JSON object');

  const dataStart = 8 + headerLength;
  const dataLength = fileSize - dataStart;
  const metadata: Record<string, string> = {};
  const infos: Array<[string, TensorInfo]> = [];
  for (const [name, entry] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (entry === null) continue; // the Rust library reads null as "no metadata"
      if (typeof entry !== 'object' || Array.isArray(entry)) fail(file, `__metadata__ must be an object of strings, got ${describe(entry)}`);
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(file, `__metadata__ value for "${k}" must be a string, got ${describe(v)}`);
        metadata[k] = v;
      }
      continue;
    }
    infos.push([name, parseEntry(file, name, entry, dataLength)]);
  }

  checkCoverage(file, infos, dataStart, dataLength);
  infos.sort((a, b) => a[1].dataOffsets[0] - b[1].dataOffsets[0] || a[1].dataOffsets[1] - b[1].dataOffsets[1]);
  return { fileSize, dataStart, metadata, entries: new Map(infos) };
}

function parseEntry(file: string, name: string, entry: unknown, dataLength: number): TensorInfo {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
    fail(file, `header entry must be an object {dtype, shape, data_offsets}, got ${describe(entry)}`, name);
  }
  const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
  if (!isSafeDType(dtype)) {
    if (typeof dtype === 'string' && UNSUPPORTED_DTYPES.includes(dtype)) fail(file, `dtype ${dtype} is not supported by this reader`, name);
    fail(file, `unknown dtype ${describe(dtype)} (expected one of ${Object.keys(DTYPE_SIZE).join(', ')})`, name);
  }
  if (!Array.isArray(shape) || !shape.every(isNonNegativeInteger)) {
    fail(file, `shape must be an array of non-negative integers, got ${describe(shape)}`, name);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInteger)) {
    fail(file, `data_offsets must be [BEGIN, END], two non-negative integers, got ${describe(offsets)}`, name);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) fail(file, `data_offsets [${begin}, ${end}]: END < BEGIN`, name);
  if (end > dataLength) {
    fail(file, `data_offsets [${begin}, ${end}] run past the end of the ${dataLength}-byte data buffer (file truncated?)`, name);
  }
  // prod(shape) * size must equal END - BEGIN; compare stepwise so huge shapes cannot overflow
  const size = DTYPE_SIZE[dtype];
  let bytes = size;
  for (const d of shape as number[]) {
    bytes *= d;
    if (bytes > end - begin) break;
  }
  if (bytes !== end - begin) {
    const numel = (shape as number[]).reduce((a, b) => a * b, 1);
    fail(file, `shape ${describe(shape)} x ${dtype} (${size} bytes) needs ${numel * size} bytes, but data_offsets [${begin}, ${end}] hold ${end - begin}`, name);
  }
  return { dtype, shape: [...(shape as number[])], byteLength: end - begin, dataOffsets: [begin, end] };
}

/**
 * Tensors must tile the data buffer exactly: sorted by offset, each starts where the previous one ended,
 * and the last ends at the end of the file. This is what the reference reader enforces (Rust core,
 * `Metadata::validate` -> InvalidOffset, then `MetadataIncompleteBuffer` when the covered range is not the
 * whole buffer), so gaps and trailing bytes are rejected too, not only overlaps: a file the Python library
 * refuses should not load here, and uncovered bytes usually mean a buggy writer or a spliced file.
 */
function checkCoverage(file: string, infos: Array<[string, TensorInfo]>, dataStart: number, dataLength: number): void {
  const sorted = [...infos].sort((a, b) => a[1].dataOffsets[0] - b[1].dataOffsets[0] || a[1].dataOffsets[1] - b[1].dataOffsets[1]);
  let cursor = 0;
  let previous: string | undefined;
  for (const [name, info] of sorted) {
    const [begin, end] = info.dataOffsets;
    if (begin < cursor) {
      fail(file, `data_offsets [${begin}, ${end}] overlap tensor "${previous}" which ends at ${cursor} (file bytes ${dataStart + begin}..${dataStart + cursor})`, name);
    }
    if (begin > cursor) {
      fail(file, `data_offsets [${begin}, ${end}] leave bytes [${cursor}, ${begin}) of the data buffer (file bytes ${dataStart + cursor}..${dataStart + begin}) covered by no tensor; the safetensors reference rejects gaps (MetadataIncompleteBuffer)`, name);
    }
    cursor = end;
    previous = name;
  }
  if (cursor !== dataLength) {
    fail(file, `tensors cover bytes [0, ${cursor}) of the ${dataLength}-byte data buffer; ${dataLength - cursor} trailing bytes (file bytes ${dataStart + cursor}..${dataStart + dataLength}) belong to no tensor (MetadataIncompleteBuffer)`);
  }
}

/** Decode `bytes` (a tensor's raw little-endian data, any alignment in the file) into f32 or int32. */
function convert(file: string, name: string, dtype: SafeDType, bytes: Uint8Array, numel: number): Float32Array | Int32Array {
  switch (dtype) {
    case 'F32':
    case 'I32': {
      // `bytes` is the typed array's own buffer here (see readTensor), already in place on little-endian hosts
      const out = dtype === 'F32' ? new Float32Array(bytes.buffer, bytes.byteOffset, numel) : new Int32Array(bytes.buffer, bytes.byteOffset, numel);
      if (!LITTLE_ENDIAN_HOST) for (let i = 0; i < bytes.byteLength; i += 4) bytes.subarray(i, i + 4).reverse();
      return out;
    }
    case 'F16': {
      const out = new Float32Array(numel);
      const bits = new Uint32Array(out.buffer);
      const table = f16ToF32Table();
      for (let i = 0; i < numel; i++) bits[i] = table[bytes[2 * i] | (bytes[2 * i + 1] << 8)];
      return out;
    }
    case 'BF16': {
      const out = new Float32Array(numel);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < numel; i++) bits[i] = ((bytes[2 * i] << 16) | (bytes[2 * i + 1] << 24)) >>> 0;
      return out;
    }
    case 'F64': {
      const out = new Float32Array(numel);
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      for (let i = 0; i < numel; i++) out[i] = view.getFloat64(8 * i, true);
      return out;
    }
    case 'I64': {
      const out = new Int32Array(numel);
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      for (let i = 0; i < numel; i++) {
        const lo = view.getInt32(8 * i, true);
        const hi = view.getInt32(8 * i + 4, true);
        if (hi !== (lo < 0 ? -1 : 0)) {
          fail(file, `I64 element ${i} = ${view.getBigInt64(8 * i, true)} does not fit in int32 (this reader returns I64 as Int32Array)`, name);
        }
        out[i] = lo;
      }
      return out;
    }
    case 'I16': {
      const out = new Int32Array(numel);
      for (let i = 0; i < numel; i++) out[i] = ((bytes[2 * i] | (bytes[2 * i + 1] << 8)) << 16) >> 16;
      return out;
    }
    case 'I8': {
      const out = new Int32Array(numel);
      for (let i = 0; i < numel; i++) out[i] = (bytes[i] << 24) >> 24;
      return out;
    }
    case 'U8':
      return Int32Array.from(bytes);
    case 'BOOL': {
      const out = new Int32Array(numel);
      for (let i = 0; i < numel; i++) {
        if (bytes[i] > 1) fail(file, `BOOL element ${i} has byte value ${bytes[i]} (expected 0 or 1)`, name);
        out[i] = bytes[i];
      }
      return out;
    }
    default:
      return dtype satisfies never;
  }
}

function readTensor(file: string, header: ParsedHeader, name: string): RawTensor {
  const info = header.entries.get(name);
  if (info === undefined) fail(file, `no such tensor (the file holds ${header.entries.size}: ${[...header.entries.keys()].slice(0, 8).join(', ')}${header.entries.size > 8 ? ', ...' : ''})`, name);
  const numel = info.shape.reduce((a, b) => a * b, 1);
  // F32 / I32 are read straight into the result's memory: one copy of the tensor, no staging buffer.
  const bytes = info.dtype === 'F32' || info.dtype === 'I32' ? new Uint8Array(new ArrayBuffer(info.byteLength)) : new Uint8Array(info.byteLength);
  const fd = openForRead(file);
  try {
    const size = fs.fstatSync(fd).size;
    if (size !== header.fileSize) fail(file, `file changed size since its header was read (${header.fileSize} -> ${size} bytes)`, name);
    readExactly(fd, bytes, header.dataStart + info.dataOffsets[0], file, name);
  } finally {
    fs.closeSync(fd);
  }
  return { dtype: info.dtype, shape: [...info.shape], data: convert(file, name, info.dtype, bytes, numel) };
}

/** Read and validate the header; tensors are read on `get`, one at a time. No file handle stays open. */
export function openSafetensors(file: string): SafetensorsFile {
  const fd = openForRead(file);
  let header: ParsedHeader;
  try {
    header = parseHeader(file, fd);
  } finally {
    fs.closeSync(fd);
  }
  const entries = header.entries;
  return {
    path: file,
    metadata: header.metadata,
    dataStart: header.dataStart,
    names: () => [...entries.keys()],
    has: (name) => entries.has(name),
    info: (name) => {
      const info = entries.get(name);
      if (info === undefined) return fail(file, 'no such tensor', name);
      return { ...info, shape: [...info.shape], dataOffsets: [info.dataOffsets[0], info.dataOffsets[1]] };
    },
    get: (name) => readTensor(file, header, name),
  };
}

/** Every tensor of a file, in data-offset order. */
export function readSafetensors(file: string): Map<string, RawTensor> {
  const f = openSafetensors(file);
  return new Map(f.names().map((name) => [name, f.get(name)]));
}

// ---------------------------------------------------------------------------------------------------
// writing

function byteCompare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Raw little-endian bytes of elements [start, end) of `t`, converted to t.dtype. */
function encodeChunk(t: WritableTensor, start: number, end: number): Uint8Array {
  const n = end - start;
  const src = t.data.subarray(start, end);
  switch (t.dtype) {
    case 'F32':
    case 'I32': {
      if (LITTLE_ENDIAN_HOST) return new Uint8Array(src.buffer, src.byteOffset, src.byteLength);
      const out = new Uint8Array(4 * n);
      const view = new DataView(out.buffer);
      const bits = new Uint32Array(src.buffer, src.byteOffset, n);
      for (let i = 0; i < n; i++) view.setUint32(4 * i, bits[i], true);
      return out;
    }
    case 'F16':
    case 'BF16': {
      const out = new Uint8Array(2 * n);
      const bits = new Uint32Array(src.buffer, src.byteOffset, n);
      const narrow = t.dtype === 'F16' ? f32BitsToF16Bits : f32BitsToBF16Bits;
      for (let i = 0; i < n; i++) {
        const h = narrow(bits[i]);
        out[2 * i] = h & 0xff;
        out[2 * i + 1] = h >>> 8;
      }
      return out;
    }
    case 'I64': {
      const out = new Uint8Array(8 * n);
      const view = new DataView(out.buffer);
      for (let i = 0; i < n; i++) {
        view.setInt32(8 * i, src[i], true);
        view.setInt32(8 * i + 4, src[i] < 0 ? -1 : 0, true); // sign extension
      }
      return out;
    }
    default:
      return t.dtype satisfies never;
  }
}

function validateForWrite(file: string, name: string, t: WritableTensor): void {
  if (name === '__metadata__') fail(file, 'the name __metadata__ is reserved for the header metadata', name);
  if (!['F32', 'F16', 'BF16', 'I32', 'I64'].includes(t.dtype)) fail(file, `cannot write dtype ${describe(t.dtype)} (writable: F32, F16, BF16, I32, I64)`, name);
  if (!Array.isArray(t.shape) || !t.shape.every(isNonNegativeInteger)) fail(file, `shape must be an array of non-negative integers, got ${describe(t.shape)}`, name);
  const float = t.dtype === 'F32' || t.dtype === 'F16' || t.dtype === 'BF16';
  if (float && !(t.data instanceof Float32Array)) fail(file, `dtype ${t.dtype} needs Float32Array data`, name);
  if (!float && !(t.data instanceof Int32Array)) fail(file, `dtype ${t.dtype} needs Int32Array data`, name);
  const numel = t.shape.reduce((a, b) => a * b, 1);
  if (t.data.length !== numel) fail(file, `shape ${describe(t.shape)} has ${numel} elements, data has ${t.data.length}`, name);
}

/**
 * Write tensors in the layout the Python library produces: tensors ordered by dtype alignment (largest
 * first) then by name, packed without gaps; header JSON with `__metadata__` first (its keys sorted),
 * right-padded with spaces to a multiple of 8 bytes so that every tensor's data is 8-aligned in the file.
 * F16 / BF16 round the f32 values to nearest even. The file appears atomically: it is written to a
 * temporary file in the same directory, synced, then renamed over `file`.
 */
export function writeSafetensors(
  file: string,
  tensors: Map<string, WritableTensor> | Record<string, WritableTensor>,
  metadata?: Record<string, string>,
): void {
  const list = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  for (const [name, t] of list) validateForWrite(file, name, t);
  list.sort(([na, a], [nb, b]) => DTYPE_RANK[b.dtype] - DTYPE_RANK[a.dtype] || byteCompare(na, nb));

  const parts: string[] = [];
  if (metadata !== undefined) {
    const keys = Object.keys(metadata).sort(byteCompare);
    for (const k of keys) if (typeof metadata[k] !== 'string') fail(file, `metadata value for "${k}" must be a string`);
    parts.push(`"__metadata__":{${keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(metadata[k])}`).join(',')}}`);
  }
  let offset = 0;
  for (const [name, t] of list) {
    const bytes = t.data.length * DTYPE_SIZE[t.dtype];
    parts.push(`${JSON.stringify(name)}:{"dtype":"${t.dtype}","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${offset + bytes}]}`);
    offset += bytes;
  }
  const json = Buffer.from(`{${parts.join(',')}}`, 'utf8');
  const padded = Buffer.alloc(json.length + ((8 - (json.length % 8)) % 8), 0x20);
  json.copy(padded);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(padded.length));

  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'w');
    writeAll(fd, prefix);
    writeAll(fd, padded);
    const CHUNK = 1 << 20; // elements per conversion chunk: bounded extra memory for converted dtypes
    for (const [, t] of list) {
      for (let s = 0; s < t.data.length; s += CHUNK) writeAll(fd, encodeChunk(t, s, Math.min(t.data.length, s + CHUNK)));
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
  } catch (e) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    if (e instanceof SafetensorsError) throw e;
    return fail(file, `write failed: ${(e as Error).message}`);
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.byteLength) done += fs.writeSync(fd, bytes, done, bytes.byteLength - done);
}

// ---------------------------------------------------------------------------------------------------
// sharded checkpoints: model.safetensors.index.json

export const SHARDED_INDEX_NAME = 'model.safetensors.index.json';
export const SINGLE_FILE_NAME = 'model.safetensors';

export interface ShardedSafetensors extends SafetensorsSource {
  readonly dir: string;
  readonly indexPath: string;
  /** The index's "metadata" object as written (HF stores e.g. {"total_size": <number>}). */
  readonly metadata: Record<string, unknown>;
  /** tensor name -> shard file name (relative to dir), as listed in the index. */
  readonly weightMap: Map<string, string>;
  /** Shard file names in order of first appearance in the weight map. */
  readonly shardFiles: string[];
  shard(fileName: string): SafetensorsFile;
}

/**
 * Open a sharded checkpoint: `dir/model.safetensors.index.json` = {"metadata": {...}, "weight_map":
 * {"<tensor>": "<shard file>"}}. Every shard's header is read and validated up front, and every tensor the
 * index lists must be in the shard it names; tensors are then read lazily from their shard.
 */
export function readShardedIndex(dir: string): ShardedSafetensors {
  const indexPath = path.join(dir, SHARDED_INDEX_NAME);
  let text: string;
  try {
    text = fs.readFileSync(indexPath, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return fail(indexPath, code === 'ENOENT' ? 'sharded checkpoint index not found' : `cannot read: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return fail(indexPath, `not valid JSON: ${(e as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail(indexPath, 'index is not a JSON object');
  const { metadata = {}, weight_map: weightMapJson } = json as Record<string, unknown>;
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) fail(indexPath, `"metadata" must be an object, got ${describe(metadata)}`);
  if (typeof weightMapJson !== 'object' || weightMapJson === null || Array.isArray(weightMapJson)) {
    fail(indexPath, `"weight_map" must be an object {tensor name: shard file}, got ${describe(weightMapJson)}`);
  }

  const root = path.resolve(dir);
  const weightMap = new Map<string, string>();
  const byShard = new Map<string, string[]>();
  for (const [name, shard] of Object.entries(weightMapJson as Record<string, unknown>)) {
    if (typeof shard !== 'string' || shard === '') fail(indexPath, `weight_map entry must be a shard file name, got ${describe(shard)}`, name);
    const resolved = path.resolve(root, shard);
    if (path.isAbsolute(shard) || !resolved.startsWith(root + path.sep)) fail(indexPath, `shard "${shard}" is outside the checkpoint directory`, name);
    weightMap.set(name, shard);
    const names = byShard.get(shard);
    if (names === undefined) byShard.set(shard, [name]);
    else names.push(name);
  }
  const shardFiles = [...byShard.keys()];

  const missing = shardFiles.filter((s) => !fs.existsSync(path.join(root, s)));
  if (missing.length > 0) {
    const lines = missing.map((s) => {
      const names = byShard.get(s) ?? [];
      return `${s} (holds ${names.length} tensor${names.length === 1 ? '' : 's'}, e.g. "${names[0]}")`;
    });
    fail(indexPath, `${missing.length} of ${shardFiles.length} shard file(s) missing from ${root}: ${lines.join('; ')}`);
  }

  const shards = new Map<string, SafetensorsFile>();
  for (const s of shardFiles) {
    const f = openSafetensors(path.join(root, s));
    const absent = (byShard.get(s) ?? []).filter((name) => !f.has(name));
    if (absent.length > 0) {
      fail(f.path, `${absent.length} tensor(s) that ${SHARDED_INDEX_NAME} places in this shard are not in it: ${absent.slice(0, 10).join(', ')}${absent.length > 10 ? ', ...' : ''}`);
    }
    shards.set(s, f);
  }

  const shardOf = (name: string): SafetensorsFile => {
    const s = weightMap.get(name);
    if (s === undefined) return fail(indexPath, 'no such tensor in the weight map', name);
    return shards.get(s) as SafetensorsFile;
  };
  return {
    dir: root,
    indexPath,
    metadata: metadata as Record<string, unknown>,
    weightMap,
    shardFiles,
    shard: (fileName) => {
      const f = shards.get(fileName);
      if (f === undefined) return fail(indexPath, `no shard named "${fileName}" in the index`);
      return f;
    },
    names: () => [...weightMap.keys()],
    has: (name) => weightMap.has(name),
    info: (name) => shardOf(name).info(name),
    get: (name) => shardOf(name).get(name),
  };
}

/**
 * The tensors of a checkpoint directory, whichever form it has: the sharded index when
 * model.safetensors.index.json exists, otherwise model.safetensors.
 */
export function openSafetensorsDir(dir: string): SafetensorsSource {
  if (fs.existsSync(path.join(dir, SHARDED_INDEX_NAME))) return readShardedIndex(dir);
  const single = path.join(dir, SINGLE_FILE_NAME);
  if (fs.existsSync(single)) return openSafetensors(single);
  return fail(dir, `no ${SINGLE_FILE_NAME} or ${SHARDED_INDEX_NAME} in this directory`);
}
