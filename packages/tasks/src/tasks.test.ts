import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { dataStats } from './cli';
import { lengthStats } from './stats';
import { createTask, TASK_HELP } from './tasks';
import { TASK_NAMES } from './types';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fpt-tasks-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('every task has help text naming its options', () => {
  for (const name of TASK_NAMES) expect(TASK_HELP[name].length).toBeGreaterThan(40);
});

test('unknown task names and unknown options are refused with the accepted ones listed', () => {
  expect(() => createTask('bit-xor', { patchsize: 1 } as never)).toThrow(/unknown option\(s\) patchsize \(accepted: .*patchSize/);
  expect(() => createTask('mnistt' as never)).toThrow(/unknown task "mnistt"/);
});

test('lengthStats', () => {
  expect(lengthStats([3, 1, 2, 10])).toEqual({ min: 1, mean: 4, median: 2.5, max: 10 });
});

test('data stats: split sizes, class counts, token counts', async () => {
  const lines: string[] = [];
  const stats = await dataStats({ task: 'bit-xor', log: (l) => lines.push(l) });
  expect(stats.splits.map((s) => s.examples)).toEqual([1024, 1024, 1024]);
  // over all 1024 inputs every output bit is 1 for exactly half of them
  expect(stats.splits[0].classCounts).toEqual([2560, 2560]);
  expect(lines.join('\n')).toMatch(/task bit-xor: continuous, dim 1, 10 tokens, 2 classes/);

  const listops = await dataStats({
    task: 'listops',
    dataDir: path.join(tmp, 'none'),
    cacheDir: path.join(tmp, 'cache'),
    options: { sizes: { train: 30, val: 10, test: 10 } },
    log: (l) => lines.push(l),
  });
  const val = listops.splits[1];
  expect(val.examples).toBe(10);
  expect(val.classCounts.reduce((a, b) => a + b, 0)).toBe(10);
  expect(val.lengths.max).toBeLessThanOrEqual(512);
  expect(val.untruncated?.min).toBeGreaterThan(val.lengths.min - 1);
  expect(lines.join('\n')).toMatch(/before truncation: min \d+/);
});
