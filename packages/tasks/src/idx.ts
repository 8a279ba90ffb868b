/**
 * IDX files (the MNIST format, yann.lecun.com/exdb/mnist): big-endian.
 *   offset 0: two zero bytes, a type byte, a dimension-count byte (the "magic number", e.g. 0x00000803)
 *   offset 4: one uint32 per dimension
 *   then the data, row-major, big-endian for multi-byte types.
 */
import { readMaybeGzip } from './paths';

export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

export interface IdxArray {
  dims: number[];
  data: IdxData;
}

interface IdxType {
  name: string;
  bytes: number;
  read(view: DataView, offset: number, count: number): IdxData;
}

function bigEndian<T extends IdxData>(
  make: (n: number) => T,
  bytes: number,
  get: (view: DataView, at: number) => number,
): (view: DataView, offset: number, count: number) => IdxData {
  return (view, offset, count) => {
    const out = make(count);
    for (let i = 0; i < count; i++) out[i] = get(view, offset + i * bytes);
    return out;
  };
}

const IDX_TYPES: Record<number, IdxType> = {
  0x08: { name: 'unsigned byte', bytes: 1, read: (v, o, n) => new Uint8Array(v.buffer.slice(v.byteOffset + o, v.byteOffset + o + n)) },
  0x09: { name: 'signed byte', bytes: 1, read: (v, o, n) => new Int8Array(v.buffer.slice(v.byteOffset + o, v.byteOffset + o + n)) },
  0x0b: { name: 'short', bytes: 2, read: bigEndian((n) => new Int16Array(n), 2, (v, at) => v.getInt16(at)) },
  0x0c: { name: 'int', bytes: 4, read: bigEndian((n) => new Int32Array(n), 4, (v, at) => v.getInt32(at)) },
  0x0d: { name: 'float', bytes: 4, read: bigEndian((n) => new Float32Array(n), 4, (v, at) => v.getFloat32(at)) },
  0x0e: { name: 'double', bytes: 8, read: bigEndian((n) => new Float64Array(n), 8, (v, at) => v.getFloat64(at)) },
};

/** Parses IDX bytes; `name` is used in error messages. */
export function parseIdx(bytes: Uint8Array, name: string): IdxArray {
  if (bytes.length < 4) throw new Error(`${name}: ${bytes.length} bytes, too short for an IDX header (offset 0)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw new Error(`${name}: bad IDX magic 0x${hex8(magic)} at offset 0 (must start with two zero bytes; gzip not detected?)`);
  }
  const type = IDX_TYPES[bytes[2]];
  if (!type) throw new Error(`${name}: unknown IDX data type 0x${bytes[2].toString(16)} at offset 2 (magic 0x${hex8(magic)})`);
  const ndims = bytes[3];
  const headerBytes = 4 + 4 * ndims;
  if (bytes.length < headerBytes) {
    throw new Error(`${name}: truncated IDX header: ${ndims} dimensions need ${headerBytes} bytes, file has ${bytes.length}`);
  }
  const dims: number[] = [];
  for (let d = 0; d < ndims; d++) dims.push(view.getUint32(4 + 4 * d));
  const count = dims.reduce((a, b) => a * b, 1);
  const expected = headerBytes + count * type.bytes;
  if (bytes.length !== expected) {
    throw new Error(
      `${name}: IDX size mismatch: header (magic 0x${hex8(magic)}, dims [${dims.join(', ')}], ${type.name}) ` +
        `implies ${expected} bytes, file has ${bytes.length} (data starts at offset ${headerBytes})`,
    );
  }
  return { dims, data: type.read(view, headerBytes, count) };
}

/** Reads an IDX file, raw or gzip-compressed. */
export function readIdx(file: string): IdxArray {
  return parseIdx(readMaybeGzip(file), file);
}

/** Reads an IDX file and checks its magic number (0x803 for MNIST images, 0x801 for labels). */
export function readIdxExpecting(file: string, magic: number): IdxArray {
  const bytes = readMaybeGzip(file);
  if (bytes.length >= 4) {
    const got = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0);
    if (got !== magic) throw new Error(`${file}: IDX magic 0x${hex8(got)} at offset 0, expected 0x${hex8(magic)}`);
  }
  return parseIdx(bytes, file);
}

/** Encodes unsigned bytes as IDX (magic 0x08 type); used to write test fixtures in the exact format. */
export function encodeIdxUint8(dims: number[], data: Uint8Array): Uint8Array {
  const count = dims.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new Error(`encodeIdxUint8: dims [${dims.join(', ')}] need ${count} values, got ${data.length}`);
  const out = new Uint8Array(4 + 4 * dims.length + count);
  const view = new DataView(out.buffer);
  view.setUint32(0, 0x0800 | dims.length);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}
