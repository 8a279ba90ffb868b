/**
 * A small tar reader (POSIX ustar, GNU long names, pax path headers), for whole buffers and for streams.
 *
 * A tar file is a sequence of 512-byte blocks: a header block (name at 0..99, size in octal at 124..135,
 * type flag at 156, ustar prefix at 345..499), then the file's data padded to a multiple of 512, and
 * finally two zero blocks.
 */
import * as fs from 'fs';
import * as zlib from 'zlib';

export interface TarEntry {
  name: string;
  /** '0' regular file, '5' directory, ... (GNU 'L' and pax 'x'/'g' headers are consumed, never reported). */
  type: string;
  size: number;
  /** File contents; present only for regular files the caller asked for. */
  data?: Buffer;
}

const BLOCK = 512;

function readString(block: Buffer, start: number, length: number): string {
  const end = block.indexOf(0, start);
  return block.toString('utf8', start, end === -1 || end > start + length ? start + length : end);
}

function readSize(block: Buffer, name: string): number {
  if (block[124] & 0x80) {
    // GNU base-256: the remaining 11 bytes are a big-endian number
    let n = 0;
    for (let i = 125; i < 136; i++) n = n * 256 + block[i];
    return n;
  }
  const text = readString(block, 124, 12).trim();
  const n = text === '' ? 0 : parseInt(text, 8);
  if (!Number.isFinite(n)) throw new Error(`tar: bad size field "${text}" in the header of ${name}`);
  return n;
}

function checksumOk(block: Buffer): boolean {
  const stored = parseInt(readString(block, 148, 8).trim(), 8);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : block[i];
  return sum === stored;
}

/** Extracts the `path` record of a pax extended header ("<len> path=<value>\n" records). */
function paxPath(data: Buffer): string | undefined {
  let offset = 0;
  while (offset < data.length) {
    const space = data.indexOf(0x20, offset);
    if (space === -1) break;
    const len = parseInt(data.toString('utf8', offset, space), 10);
    if (!(len > 0)) break;
    const record = data.toString('utf8', space + 1, offset + len - 1);
    const eq = record.indexOf('=');
    if (record.slice(0, eq) === 'path') return record.slice(eq + 1);
    offset += len;
  }
  return undefined;
}

/**
 * Incremental tar parser: feed it chunks in order; it calls `onEntry` for every entry, with the data of
 * regular files for which `want(name)` is true (other files are skipped without being buffered).
 */
export class TarParser {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private current: { name: string; type: string; size: number; keep: boolean } | null = null;
  private remaining = 0; // data bytes of the current entry still to come
  private padding = 0; // zero bytes after the data
  private dataChunks: Buffer[] = [];
  private longName: string | undefined;
  private ended = false;

  constructor(
    private readonly want: (name: string) => boolean,
    private readonly onEntry: (entry: TarEntry) => void,
  ) {}

  write(chunk: Buffer): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    this.drain();
  }

  /** Call after the last chunk; throws if the archive stopped in the middle of an entry. */
  end(): void {
    if (this.current !== null || this.pendingBytes >= BLOCK) {
      throw new Error(`tar: archive truncated${this.current ? ` inside ${this.current.name}` : ''}`);
    }
  }

  private take(n: number): Buffer {
    const all = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingBytes = rest.length;
    return out;
  }

  private drain(): void {
    for (;;) {
      if (this.ended) {
        this.pending = [];
        this.pendingBytes = 0;
        return;
      }
      if (this.current === null) {
        if (this.pendingBytes < BLOCK) return;
        this.startEntry(Buffer.from(this.take(BLOCK)));
        continue;
      }
      if (this.remaining > 0) {
        if (this.pendingBytes === 0) return;
        const n = Math.min(this.remaining, this.pendingBytes);
        const piece = this.take(n);
        if (this.current.keep) this.dataChunks.push(Buffer.from(piece));
        this.remaining -= n;
        continue;
      }
      if (this.padding > 0) {
        if (this.pendingBytes === 0) return;
        const n = Math.min(this.padding, this.pendingBytes);
        this.take(n);
        this.padding -= n;
        continue;
      }
      this.finishEntry();
    }
  }

  private startEntry(block: Buffer): void {
    if (block.every((b) => b === 0)) {
      this.ended = true; // end-of-archive marker
      return;
    }
    if (!checksumOk(block)) throw new Error('tar: header checksum mismatch (not a tar file, or corrupt)');
    let name = readString(block, 0, 100);
    const magic = block.toString('latin1', 257, 263);
    if (magic === 'ustar\0') {
      const prefix = readString(block, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    if (this.longName !== undefined) {
      name = this.longName;
      this.longName = undefined;
    }
    const type = String.fromCharCode(block[156] || 0x30);
    const size = readSize(block, name);
    const isMeta = type === 'L' || type === 'x' || type === 'g';
    const keep = isMeta || ((type === '0' || type === '7') && this.want(name));
    this.current = { name, type, size, keep };
    this.remaining = size;
    this.padding = (BLOCK - (size % BLOCK)) % BLOCK;
    this.dataChunks = [];
  }

  private finishEntry(): void {
    const entry = this.current;
    if (entry === null) return;
    const data = entry.keep ? Buffer.concat(this.dataChunks) : undefined;
    this.current = null;
    this.dataChunks = [];
    if (entry.type === 'L' && data) {
      this.longName = readString(data, 0, data.length);
    } else if (entry.type === 'x' && data) {
      this.longName = paxPath(data) ?? this.longName;
    } else if (entry.type !== 'g') {
      this.onEntry({ name: entry.name, type: entry.type === '7' ? '0' : entry.type, size: entry.size, data });
    }
  }
}

/** All entries of a tar archive held in memory (gunzipped first if it starts with the gzip magic). */
export function readTar(archive: Buffer, want: (name: string) => boolean = () => true): TarEntry[] {
  const bytes = archive[0] === 0x1f && archive[1] === 0x8b ? zlib.gunzipSync(archive) : archive;
  const entries: TarEntry[] = [];
  const parser = new TarParser(want, (e) => entries.push(e));
  parser.write(bytes);
  parser.end();
  return entries;
}

/**
 * Streams a (.tar or .tar.gz) file through the parser, so archives larger than memory can be searched:
 * only the data of wanted entries is buffered.
 */
export function streamTar(
  file: string,
  want: (name: string) => boolean,
  onEntry: (entry: TarEntry) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const head = Buffer.alloc(2);
    const fd = fs.openSync(file, 'r');
    fs.readSync(fd, head, 0, 2, 0);
    fs.closeSync(fd);
    const gz = head[0] === 0x1f && head[1] === 0x8b;
    const parser = new TarParser(want, onEntry);
    const source = fs.createReadStream(file);
    const stream = gz ? source.pipe(zlib.createGunzip()) : source;
    const fail = (e: Error): void => {
      source.destroy();
      reject(new Error(`${file}: ${e.message}`));
    };
    source.on('error', fail);
    stream.on('error', fail);
    stream.on('data', (chunk: Buffer) => {
      try {
        parser.write(chunk);
      } catch (e) {
        fail(e as Error);
      }
    });
    stream.on('end', () => {
      try {
        parser.end();
        resolve();
      } catch (e) {
        fail(e as Error);
      }
    });
  });
}

/** Builds a ustar archive (regular files only); used to write test fixtures in the exact format. */
export function writeTar(files: { name: string; data: Uint8Array }[]): Buffer {
  const blocks: Buffer[] = [];
  for (const f of files) {
    const header = Buffer.alloc(BLOCK);
    if (Buffer.byteLength(f.name) > 100) throw new Error(`writeTar: name longer than 100 bytes: ${f.name}`);
    header.write(f.name, 0, 'utf8');
    header.write('0000644\0', 100, 'latin1');
    header.write('0000000\0', 108, 'latin1');
    header.write('0000000\0', 116, 'latin1');
    header.write(f.data.length.toString(8).padStart(11, '0') + '\0', 124, 'latin1');
    header.write('00000000000\0', 136, 'latin1');
    header.write('0', 156, 'latin1');
    header.write('ustar\0' + '00', 257, 'latin1');
    header.fill(0x20, 148, 156);
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += header[i];
    header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
    blocks.push(header, Buffer.from(f.data), Buffer.alloc((BLOCK - (f.data.length % BLOCK)) % BLOCK));
  }
  blocks.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(blocks);
}
