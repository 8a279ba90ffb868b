import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  bucketBatches,
  createHomologyTask,
  encodeProtein,
  formatHomologyCsv,
  HomologyExample,
  parseHomologyCsv,
  readHomologySplit,
  TAPE_IUPAC_VOCAB,
} from './homology';
import { findRepoRoot } from './paths';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fpt-homology-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function realDataDir(): string | undefined {
  const candidates = [process.env.FPT_DATA_DIR, path.join(findRepoRoot() ?? '.', '..', 'shared', 'data')];
  return candidates.find((d): d is string => d !== undefined && fs.existsSync(path.join(d, 'remote_homology')));
}

const LETTERS = 'ACDEFGHIKLMNPQRSTVWY';

/** n sequences; lengths 10, 20, ... and one of `long` residues at index 3. */
function examples(n: number, long = 0): HomologyExample[] {
  return Array.from({ length: n }, (_, i) => {
    const len = i === 3 && long ? long : 10 * (i + 1);
    return { seq: Array.from({ length: len }, (_, k) => LETTERS[(i + k) % 20]).join(''), label: (i * 7) % 1195 };
  });
}

function dataDir(name: string, train: HomologyExample[], valid: HomologyExample[], test: HomologyExample[]): string {
  const dir = path.join(tmp, name, 'remote_homology');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'remote_homology.train.csv'), formatHomologyCsv(train));
  fs.writeFileSync(path.join(dir, 'remote_homology.valid.csv'), formatHomologyCsv(valid));
  fs.writeFileSync(path.join(dir, 'remote_homology.test.csv'), formatHomologyCsv(test));
  return path.join(tmp, name);
}

test("TAPE's IUPAC vocabulary: 30 ids, <cls> first and <sep> last", () => {
  expect(TAPE_IUPAC_VOCAB).toHaveLength(30);
  expect(Array.from(encodeProtein('ACZ'))).toEqual([2, 5, 7, 29, 3]);
  expect(() => encodeProtein('AJ')).toThrow(/unknown residue "J" at position 1/);
});

test('CSV: seq,label with errors naming file and line', () => {
  expect(parseHomologyCsv('seq,label\nMKV,12\r\nAA,0\n', 'f')).toEqual([{ seq: 'MKV', label: 12 }, { seq: 'AA', label: 0 }]);
  expect(() => parseHomologyCsv('sequence,fold\n', 'f.csv')).toThrow('f.csv:1: expected the header "seq,label"');
  expect(() => parseHomologyCsv('seq,label\nMKV,1195\n', 'f.csv')).toThrow(/f.csv:2: label "1195"/);
  expect(() => parseHomologyCsv('seq,label\nmkv,3\n', 'f.csv')).toThrow(/f.csv:2/);
});

test("bucketed batches (TAPE's BucketBatchSampler): every example once per epoch, sorted within buckets", () => {
  const lengths = Int32Array.from({ length: 50 }, (_, i) => (i * 37) % 101);
  const batches = bucketBatches(lengths, 4, 5, 'k');
  const all = batches.flatMap((b) => Array.from(b)).sort((a, b) => a - b);
  expect(all).toEqual([...Array(50).keys()]);
  // buckets of 20: inside each bucket batches are consecutive runs of the sorted lengths
  for (const b of batches) {
    const ls = Array.from(b, (i) => lengths[i]);
    expect(ls).toEqual([...ls].sort((p, q) => p - q));
  }
  expect(bucketBatches(lengths, 4, 5, 'k')).toEqual(batches);
});

describe('the homology task on generated CSV files', () => {
  // train: 20 sequences, one of 1500 residues (1502 tokens > 1024)
  const dir = dataDir('small', examples(20, 1500), examples(10, 1100), examples(6));

  test('reference defaults: vocabulary 30, 1195 classes, head 1200, eval on valid with 4x batches', () => {
    const task = createHomologyTask({ dataDir: dir });
    expect(task.info).toMatchObject({
      inputKind: 'tokens', tokenDim: 30, numClasses: 1195, outputDim: 1200, evalSplit: 'val', evalBatchScale: 4, variableLength: true,
    });
    expect([task.size('train'), task.size('val'), task.size('test')]).toEqual([20, 10, 6]);
  });

  test('training batches: padded with 0 to the batch longest; over-long batches discarded and redrawn', () => {
    const task = createHomologyTask({ dataDir: dir, bucketMultiplier: 2 });
    let sawLong = false;
    for (let i = 0; i < 40; i++) {
      const b = task.batch('train', i, 3, 1);
      const T = b.xShape[1];
      expect(T).toBeLessThanOrEqual(1024);
      const lengths = Array.from(b.lengths ?? []);
      expect(T).toBe(Math.max(...lengths));
      for (let r = 0; r < b.xShape[0]; r++) {
        expect(b.x[r * T]).toBe(2); // <cls>
        expect(b.x[r * T + lengths[r] - 1]).toBe(3); // <sep>
        if (lengths[r] < T) expect(b.x[r * T + T - 1]).toBe(0);
      }
      if (Array.from(b.y).includes((3 * 7) % 1195)) sawLong = true;
    }
    expect(sawLong).toBe(false); // the batch holding the 1502-token sequence never appears
    expect(task.batch('train', 7, 3, 1)).toEqual(task.batch('train', 7, 3, 1));
  });

  test("truncation instead: the long sequence is cut to 1024 tokens ending in <sep>", () => {
    const task = createHomologyTask({ dataDir: dir, longTrain: 'truncate' });
    let found = false;
    for (let i = 0; i < 20 && !found; i++) {
      const b = task.batch('train', i, 4, 2);
      const row = Array.from(b.y).indexOf((3 * 7) % 1195);
      if (row >= 0) {
        found = true;
        expect(b.xShape[1]).toBe(1024);
        expect(b.x[row * 1024 + 1023]).toBe(3);
      }
    }
    expect(found).toBe(true);
  });

  test('full evaluation: over-long sequences counted as wrong (excluded) or truncated', () => {
    const counted = createHomologyTask({ dataDir: dir }).evalSet('val', 4);
    expect([counted.total, counted.excluded]).toEqual([10, 1]);
    const batches = [...counted.batches()];
    expect(batches.reduce((a, b) => a + b.xShape[0], 0)).toBe(9);
    // sorted by length: little padding
    expect(batches[0].xShape[1]).toBe(52); // residues 10, 20, 30, 50 + <cls> + <sep>
    const truncated = createHomologyTask({ dataDir: dir, longEval: 'truncate' }).evalSet('val', 4);
    expect(truncated.excluded).toBe(0);
    expect([...truncated.batches()].reduce((a, b) => a + b.xShape[0], 0)).toBe(10);
  });
});

const real = realDataDir();
if (!real) console.warn('SKIPPED: real remote homology checks (no remote_homology/ under FPT_DATA_DIR or ../shared/data)');
(real ? describe : describe.skip)('remote homology, real files', () => {
  test('12312 / 736 / 718 sequences; labels within 1195 folds', () => {
    const sizes = (['train', 'val', 'test'] as const).map((s) => readHomologySplit(real ?? '', s).length);
    expect(sizes).toEqual([12312, 736, 718]);
    const task = createHomologyTask({ dataDir: real });
    const set = task.evalSet('val', 32);
    expect(set.total).toBe(736);
    expect(set.excluded).toBe(2); // two valid sequences are longer than 1022 residues
  });
});
