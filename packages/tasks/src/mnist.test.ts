import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { encodeIdxUint8, parseIdx, readIdx, readIdxExpecting } from './idx';
import { createMnistTask, loadMnistSplit } from './mnist';
import { findRepoRoot, MissingDataError } from './paths';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fpt-mnist-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** The real data: FPT_DATA_DIR, else ../shared/data next to the repository. */
function realDataDir(): string | undefined {
  const candidates = [process.env.FPT_DATA_DIR, path.join(findRepoRoot() ?? '.', '..', 'shared', 'data')];
  return candidates.find((d): d is string => d !== undefined && fs.existsSync(path.join(d, 'mnist')));
}

/** Pixel (r, c) of fixture image i. */
const pixel = (i: number, r: number, c: number): number => (i * 7 + r * 28 + c) % 256;

function writeFixture(dir: string, gz: boolean): void {
  fs.mkdirSync(path.join(dir, 'mnist'), { recursive: true });
  const write = (name: string, bytes: Uint8Array): void =>
    fs.writeFileSync(path.join(dir, 'mnist', gz ? `${name}.gz` : name), gz ? zlib.gzipSync(bytes) : bytes);
  for (const [prefix, n] of [['train', 12], ['t10k', 5]] as const) {
    const images = new Uint8Array(n * 784);
    for (let i = 0; i < n; i++) for (let r = 0; r < 28; r++) for (let c = 0; c < 28; c++) images[i * 784 + r * 28 + c] = pixel(i, r, c);
    write(`${prefix}-images-idx3-ubyte`, encodeIdxUint8([n, 28, 28], images));
    write(`${prefix}-labels-idx1-ubyte`, encodeIdxUint8([n], Uint8Array.from({ length: n }, (_, i) => i % 10)));
  }
}

describe('IDX', () => {
  test('reads the header and data, raw and gzip-compressed', () => {
    const bytes = encodeIdxUint8([2, 3], Uint8Array.of(1, 2, 3, 4, 5, 6));
    expect(Array.from(bytes.subarray(0, 4))).toEqual([0, 0, 8, 2]);
    const parsed = parseIdx(bytes, 'x');
    expect(parsed.dims).toEqual([2, 3]);
    expect(Array.from(parsed.data)).toEqual([1, 2, 3, 4, 5, 6]);
    const file = path.join(tmp, 'a.idx.gz');
    fs.writeFileSync(file, zlib.gzipSync(bytes));
    expect(Array.from(readIdx(file).data)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  test('big-endian multi-byte types', () => {
    const bytes = Uint8Array.of(0, 0, 0x0c, 1, 0, 0, 0, 2, 0, 0, 1, 0, 0xff, 0xff, 0xff, 0xfe);
    expect(Array.from(parseIdx(bytes, 'ints').data)).toEqual([256, -2]);
  });

  test('errors name the file, the offset and what was expected', () => {
    const file = path.join(tmp, 'labels');
    fs.writeFileSync(file, encodeIdxUint8([3], Uint8Array.of(1, 2, 3)));
    expect(() => readIdxExpecting(file, 0x803)).toThrow(`${file}: IDX magic 0x00000801 at offset 0, expected 0x00000803`);
    fs.writeFileSync(file, encodeIdxUint8([3], Uint8Array.of(1, 2, 3)).subarray(0, 10));
    expect(() => readIdx(file)).toThrow(new RegExp(`${file}: IDX size mismatch.*implies 11 bytes, file has 10 \\(data starts at offset 8\\)`));
    fs.writeFileSync(file, Uint8Array.of(1, 2, 3, 4));
    expect(() => readIdx(file)).toThrow(/bad IDX magic 0x01020304 at offset 0/);
  });
});

describe('MNIST task on generated IDX files', () => {
  const gzDir = path.join(tmp, 'gz');
  const rawDir = path.join(tmp, 'raw');
  writeFixture(gzDir, true);
  writeFixture(rawDir, false);

  test('reads .gz and raw files alike', () => {
    const a = loadMnistSplit(gzDir, 'train');
    const b = loadMnistSplit(rawDir, 'train');
    expect(Buffer.from(a.pixels).equals(Buffer.from(b.pixels)) && Buffer.from(a.labels).equals(Buffer.from(b.labels))).toBe(true);
    expect(loadMnistSplit(gzDir, 'test').count).toBe(5);
  });

  test('reference layout: 49 tokens x 16 in einops patch order, pixels / 255', () => {
    const task = createMnistTask({ dataDir: gzDir });
    expect(task.info).toMatchObject({ tokens: 49, tokenDim: 16, numClasses: 10, evalSplit: 'test', splits: ['train', 'test'] });
    const [first] = task.evalSet('test', 5).batches();
    expect(first.xShape).toEqual([5, 49, 16]);
    expect(Array.from(first.y)).toEqual([0, 1, 2, 3, 4]);
    let mismatches = 0;
    for (let i = 0; i < 5; i++) {
      for (let t = 0; t < 49; t++) {
        for (let k = 0; k < 16; k++) {
          const r = 4 * Math.floor(t / 7) + Math.floor(k / 4);
          const c = 4 * (t % 7) + (k % 4);
          if (first.x[(i * 49 + t) * 16 + k] !== Math.fround(pixel(i, r, c) / 255)) mismatches++;
        }
      }
    }
    expect(mismatches).toBe(0);
  });

  test("paper layout: zero-padded to 32x32 -> 64 tokens; image pixel (0, 0) lands in token 0 at (2, 2)", () => {
    const task = createMnistTask({ dataDir: gzDir, imageSize: 32 });
    expect(task.info.tokens).toBe(64);
    const [b] = task.evalSet('test', 1).batches();
    const token0 = Array.from(b.x.subarray(0, 16));
    expect(token0.slice(0, 10)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(token0[10]).toBeCloseTo(pixel(0, 0, 0) / 255, 6);
    expect(token0[11]).toBeCloseTo(pixel(0, 0, 1) / 255, 6);
    expect(token0[14]).toBeCloseTo(pixel(0, 1, 0) / 255, 6);
  });

  test('batches: seeded, reshuffled every epoch, drop_last as the reference DataLoader', () => {
    const task = createMnistTask({ dataDir: gzDir });
    // 12 training images, batch 5 -> 2 batches per epoch (the last 2 images are dropped)
    const labelsOf = (i: number): number[] => Array.from(task.batch('train', i, 5, 9).y);
    expect(labelsOf(0)).toEqual(labelsOf(0));
    expect(new Set([...labelsOf(0), ...labelsOf(1)]).size).toBeGreaterThan(1);
    expect(task.batch('train', 2, 5, 9).xShape).toEqual([5, 49, 16]);
    expect(() => task.batch('val', 0, 5, 9)).toThrow(/no 'val' split/);
  });

  test('a missing file: the error names it, the data dir, and the fetch command', () => {
    const empty = path.join(tmp, 'empty');
    let message = '';
    try {
      createMnistTask({ dataDir: empty });
    } catch (e) {
      expect(e).toBeInstanceOf(MissingDataError);
      message = (e as Error).message;
    }
    expect(message).toContain(path.join(empty, 'mnist', 'train-images-idx3-ubyte.gz'));
    expect(message).toContain(path.join(empty, 'mnist', 'train-images-idx3-ubyte'));
    expect(message).toContain(`npx fpt data fetch mnist --data-dir ${empty}`);
  });
});

const real = realDataDir();
if (!real) console.warn('SKIPPED: real MNIST checks (no mnist/ under FPT_DATA_DIR or ../shared/data)');
(real ? describe : describe.skip)('MNIST, real files', () => {
  test('60000 / 10000 images with the canonical label counts', () => {
    const train = loadMnistSplit(real ?? '', 'train');
    const test = loadMnistSplit(real ?? '', 'test');
    expect([train.count, test.count]).toEqual([60000, 10000]);
    const counts = (labels: Uint8Array): number[] => labels.reduce((a, l) => (a[l]++, a), new Array<number>(10).fill(0));
    expect(counts(train.labels)).toEqual([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
    expect(counts(test.labels)).toEqual([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
  });
});
