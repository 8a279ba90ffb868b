import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { readTar, streamTar, TarEntry, TarParser, writeTar } from './tar';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fpt-tar-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A raw 512-byte header with the given fields and a valid checksum. */
function header(name: string, size: number, type: string, magic = 'ustar\u000000', prefix = ''): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 'utf8');
  h.write(size.toString(8).padStart(11, '0') + '\0', 124, 'latin1');
  h.write(type, 156, 'latin1');
  h.write(magic, 257, 'latin1');
  h.write(prefix, 345, 'utf8');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return h;
}

const padded = (data: Buffer): Buffer => Buffer.concat([data, Buffer.alloc((512 - (data.length % 512)) % 512)]);

const files = [
  { name: 'train/cat/0000.jpg', data: Buffer.from('first file') },
  { name: 'empty.txt', data: Buffer.alloc(0) },
  { name: 'test/dog/0001.jpg', data: Buffer.alloc(1300, 7) },
];

test('round trip: written archives read back, plain and gzip-compressed', () => {
  for (const archive of [writeTar(files), zlib.gzipSync(writeTar(files))]) {
    const entries = readTar(archive);
    expect(entries.map((e) => [e.name, e.size, e.data?.toString('hex')])).toEqual(files.map((f) => [f.name, f.data.length, f.data.toString('hex')]));
  }
});

test('fed in small chunks, only wanted entries are buffered', () => {
  const archive = writeTar(files);
  const seen: TarEntry[] = [];
  const parser = new TarParser((n) => n.endsWith('.jpg'), (e) => seen.push(e));
  for (let i = 0; i < archive.length; i += 77) parser.write(archive.subarray(i, i + 77));
  parser.end();
  expect(seen.map((e) => [e.name, e.data === undefined])).toEqual([
    ['train/cat/0000.jpg', false],
    ['empty.txt', true],
    ['test/dog/0001.jpg', false],
  ]);
  expect(seen[2].data?.equals(files[2].data)).toBe(true);
});

test('GNU long names, pax paths and ustar prefixes', () => {
  const long = `${'d'.repeat(120)}/file.bin`;
  const body = Buffer.from('xyz');
  const pax = Buffer.from(`${` path=pax/name.txt\n`.length + 2} path=pax/name.txt\n`);
  const archive = Buffer.concat([
    header('././@LongLink', long.length + 1, 'L', 'ustar  \0'),
    padded(Buffer.from(`${long}\0`)),
    header('truncated-name', 3, '0', 'ustar  \0'),
    padded(body),
    header('PaxHeader', pax.length, 'x'),
    padded(pax),
    header('short', 3, '0'),
    padded(body),
    header('leaf.txt', 3, '0', 'ustar\u000000', 'some/prefix'),
    padded(body),
    Buffer.alloc(1024),
  ]);
  expect(readTar(archive).map((e) => e.name)).toEqual([long, 'pax/name.txt', 'some/prefix/leaf.txt']);
});

test('truncated and corrupt archives are errors', () => {
  const archive = writeTar(files);
  expect(() => readTar(archive.subarray(0, 700))).toThrow(/truncated inside train\/cat\/0000.jpg/);
  const bad = Buffer.from(archive);
  bad[10] ^= 0xff;
  expect(() => readTar(bad)).toThrow(/checksum/);
});

test('streamTar reads a .tar.gz file from disk', async () => {
  const file = path.join(tmp, 'a.tar.gz');
  fs.writeFileSync(file, zlib.gzipSync(writeTar(files)));
  const names: string[] = [];
  await streamTar(file, () => true, (e) => names.push(e.name));
  expect(names).toEqual(files.map((f) => f.name));
  fs.writeFileSync(file, zlib.gzipSync(writeTar(files)).subarray(0, 40));
  await expect(streamTar(file, () => true, () => undefined)).rejects.toThrow(file);
});
