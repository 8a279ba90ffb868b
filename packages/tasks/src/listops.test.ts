import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  applyOp,
  evaluateListOps,
  evaluateTree,
  formatListOpsTsv,
  generateListOps,
  generateTree,
  ListOpsExample,
  listOpsVocabSize,
  LRA_GENERATOR,
  readListOpsTsv,
  tokenizeListOps,
  toBracketString,
  toLraString,
} from './listops';
import { createListOpsTask, locateListOpsFiles } from './listops-task';
import { dataExport } from './cli';
import { createRng } from './rng';
import { MissingDataError } from './paths';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fpt-listops-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const small = { sizes: { train: 60, val: 20, test: 20 }, dataDir: path.join(tmp, 'no-data'), cacheDir: path.join(tmp, 'cache') };

describe('expressions', () => {
  const tree = { op: 'MAX' as const, args: [2, 9, { op: 'MIN' as const, args: [4, 7] }, 0] };

  test("LRA's text form nests every argument in parentheses", () => {
    expect(toLraString({ op: 'MAX', args: [2, 9] })).toBe('( ( ( [MAX 2 ) 9 ) ] )');
    expect(toLraString(tree)).toBe('( ( ( ( ( [MAX 2 ) 9 ) ( ( ( [MIN 4 ) 7 ) ] ) ) 0 ) ] )');
    expect(toBracketString(tree)).toBe('[MAX 2 9 [MIN 4 7 ] 0 ]');
  });

  test('operators: MED is int(np.median) (mean of the middle pair, truncated), SM is the sum mod 10', () => {
    expect(applyOp('MED', [1, 2])).toBe(1);
    expect(applyOp('MED', [3, 8, 1, 6])).toBe(4);
    expect(applyOp('MED', [5, 1, 9])).toBe(5);
    expect(applyOp('SM', [9, 8, 7])).toBe(4);
    expect(applyOp('MIN', [3, 1, 2])).toBe(1);
  });

  test('the text evaluator agrees with the tree on both text forms, and rejects malformed text', () => {
    expect(evaluateListOps(toLraString(tree))).toBe(9);
    expect(evaluateListOps('[SM 5 [MED 1 2 3 4 ] 9 ]')).toBe(6);
    const rng = createRng('listops-test');
    for (let i = 0; i < 200; i++) {
      const { tree: t } = generateTree(rng, 1, 6, 5);
      expect(evaluateListOps(toLraString(t))).toBe(evaluateTree(t));
      expect(evaluateListOps(toBracketString(t))).toBe(evaluateTree(t));
    }
    expect(() => evaluateListOps('[MAX 1 2')).toThrow(/unclosed/);
    expect(() => evaluateListOps('[FOO 1 ]')).toThrow(/unknown operator/);
    expect(() => evaluateListOps('[MAX 1 ] ]')).toThrow();
  });

  test("the generator keeps LRA's length window (500, 2000), depth and argument limits, and no duplicates", () => {
    const seen = new Set<string>();
    const problems: string[] = [];
    const drawn = generateListOps(30, 1, LRA_GENERATOR, (e, i) => {
      seen.add(e.source);
      const words = e.source.split(' ').filter((w) => w !== '(' && w !== ')');
      if (!(words.length > 500 && words.length < 2000)) problems.push(`${i}: length ${words.length}`);
      if (evaluateListOps(e.source) !== e.target) problems.push(`${i}: target`);
      // argument counts between 2 and 10, nesting at most 10 deep
      const stack: number[] = [];
      for (const w of words) {
        if (w.startsWith('[')) {
          if (stack.length > 0) stack[stack.length - 1]++;
          stack.push(0);
          if (stack.length > 10) problems.push(`${i}: depth ${stack.length}`);
        } else if (w === ']') {
          const n = stack.pop() ?? 0;
          if (n < 2 || n > 10) problems.push(`${i}: ${n} arguments`);
        } else if (stack.length > 0) stack[stack.length - 1]++;
      }
    });
    expect(problems).toEqual([]);
    expect(seen.size).toBe(30);
    expect(drawn).toBeGreaterThan(30); // most trees fall outside the length window
  });
});

describe('tokenizations', () => {
  const source = '( ( ( [MAX 2 ) 9 ) ] )';

  test("'lra' drops every bracket and parenthesis (14 symbols, pad 0 -> vocabulary 15)", () => {
    expect(Array.from(tokenizeListOps(source, 'lra'))).toEqual([2, 7, 14]);
    expect(listOpsVocabSize('lra')).toBe(15);
  });

  test("'brackets' keeps [OP and ] (15 symbols -> vocabulary 16) and drops the parentheses", () => {
    expect(Array.from(tokenizeListOps(source, 'brackets'))).toEqual([2, 8, 15, 5]);
    expect(listOpsVocabSize('brackets')).toBe(16);
  });
});

describe('LRA TSV', () => {
  test('written with the Source/Target header and \\r\\n line ends, read back identically', () => {
    const rows: ListOpsExample[] = [
      { source: '( ( ( [MAX 2 ) 9 ) ] )', target: 9 },
      { source: '( ( ( [SM 5 ) 7 ) ] )', target: 2 },
    ];
    const text = formatListOpsTsv(rows);
    expect(text).toBe('Source\tTarget\r\n( ( ( [MAX 2 ) 9 ) ] )\t9\r\n( ( ( [SM 5 ) 7 ) ] )\t2\r\n');
    const file = path.join(tmp, 'rows.tsv');
    fs.writeFileSync(file, text);
    const back: ListOpsExample[] = [];
    expect(readListOpsTsv(file, (e) => back.push(e))).toBe(2);
    expect(back).toEqual(rows);
  });

  test('errors name the file and line', () => {
    const file = path.join(tmp, 'bad.tsv');
    fs.writeFileSync(file, 'Source\tTarget\n[MAX 1 ]\t1\n[MAX 1 ]\n');
    expect(() => readListOpsTsv(file, () => undefined)).toThrow(`${file}:3: expected 2 tab-separated fields`);
    fs.writeFileSync(file, 'Input\tOutput\n');
    expect(() => readListOpsTsv(file, () => undefined)).toThrow(`${file}:1`);
  });
});

describe('the listops task', () => {
  const task = createListOpsTask(small);

  test('reference defaults: 512 tokens padded with 0 at the end, vocabulary 15, eval on val', () => {
    expect(task.info).toMatchObject({ inputKind: 'tokens', tokens: 512, tokenDim: 15, numClasses: 10, evalSplit: 'val', outputTokens: 1 });
    expect(task.info.notes).toMatch(/tokenization lra/);
    const b = task.batch('train', 0, 4, 1);
    expect(b.xShape).toEqual([4, 512]);
    for (let i = 0; i < 4; i++) {
      const len = b.lengths?.[i] ?? 0;
      expect(len).toBeLessThanOrEqual(512);
      const row = b.x.subarray(i * 512, (i + 1) * 512);
      expect(Array.from(row.subarray(len)).every((v) => v === 0)).toBe(true);
      expect(Array.from(row.subarray(0, len)).every((v) => v >= 1 && v <= 14)).toBe(true);
    }
  });

  test('sizes, the full evaluation split, determinism, and every example once per epoch', () => {
    expect(task.size('train')).toBe(60);
    const set = task.evalSet('val', 8);
    expect(set.total).toBe(20);
    const batches = [...set.batches()];
    expect(batches.map((b) => b.xShape[0])).toEqual([8, 8, 4]);
    expect(task.batch('train', 3, 8, 5)).toEqual(task.batch('train', 3, 8, 5));
    // no drop_last: 60 examples in batches of 8 -> 8 batches per epoch, the last has 4
    const epoch = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => task.batch('train', i, 8, 5));
    expect(epoch[7].xShape[0]).toBe(4);
    expect(epoch.reduce((a, b) => a + b.xShape[0], 0)).toBe(60);
  });

  test('brackets kept, no truncation, padded to the batch longest', () => {
    const t = createListOpsTask({ ...small, tokenization: 'brackets', maxLength: null, padTo: 'longest' });
    expect(t.info.tokenDim).toBe(16);
    expect(t.info.variableLength).toBe(true);
    const b = t.batch('val', 0, 5, 0);
    const lengths = Array.from(b.lengths ?? []);
    expect(b.xShape[1]).toBe(Math.max(...lengths));
    expect(Math.min(...lengths)).toBeGreaterThan(500);
  });

  test('generated files are cached and reused', () => {
    const a = locateListOpsFiles(small);
    const stamp = fs.statSync(path.join(a.dir, 'basic_train.tsv')).mtimeMs;
    expect(locateListOpsFiles(small).dir).toBe(a.dir);
    expect(fs.statSync(path.join(a.dir, 'basic_train.tsv')).mtimeMs).toBe(stamp);
  });

  test("source 'files' without files: the error names the files, the data dir and the fetch command", () => {
    let err: unknown;
    try {
      createListOpsTask({ ...small, source: 'files' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MissingDataError);
    const msg = (err as Error).message;
    expect(msg).toContain(path.join(small.dataDir, 'listops', 'basic_train.tsv'));
    expect(msg).toContain('npx fpt data fetch listops');
  });

  test('exported val split: LRA TSV whose labels re-evaluate from the text', async () => {
    const out = path.join(tmp, 'export', 'basic_val.tsv');
    const { rows } = await dataExport({
      task: 'listops', split: 'val', out, options: { sizes: small.sizes }, dataDir: small.dataDir, cacheDir: small.cacheDir, log: () => undefined,
    });
    expect(rows).toBe(20);
    const text = fs.readFileSync(out, 'utf8');
    expect(text.startsWith('Source\tTarget\r\n')).toBe(true);
    let checked = 0;
    readListOpsTsv(out, (e) => {
      expect(evaluateListOps(e.source)).toBe(e.target);
      checked++;
    });
    expect(checked).toBe(20);
  });
});
