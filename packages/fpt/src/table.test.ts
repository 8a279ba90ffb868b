import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { runTable, renderTable, parseList, tableScope, VARIANTS } from './table';
import { repoRoot } from './paths';

const fixtureDir = path.join(process.env.FPT_FIXTURES_DIR ?? path.join(repoRoot(), '..', 'shared', 'fixtures'), 'gpt2-tiny-a');

/** A fresh table directory with Bit XOR fpt and random configs on the tiny fixture; `schedule` sets steps and cadences. */
function bitXorCells(schedule: Record<string, number>): { configDir: string; runsDir: string; out: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fpt-table-'));
  const configDir = path.join(dir, 'configs'), runsDir = path.join(dir, 'runs'), out = path.join(dir, 'table.md');
  fs.mkdirSync(configDir);
  for (const v of ['fpt', 'random']) {
    fs.writeFileSync(path.join(configDir, `bit-xor.${v}.json`), JSON.stringify({
      name: `bit-xor.${v}`, task: 'bit-xor', model: { backbone: 'gpt2', checkpoint: fixtureDir, pretrained: v === 'fpt' },
      evalBatches: 1, optim: { batchSize: 4 }, ...schedule,
    }));
  }
  return { configDir, runsDir, out };
}

(fs.existsSync(fixtureDir) ? test : test.skip)('runs the selected cells, skips finished ones, resumes an interrupted one, writes the table', async () => {
  const { configDir, runsDir, out } = bitXorCells({ steps: 4, evalEvery: 2, checkpointEvery: 2, logEvery: 2, finalEvalLimit: 32 });
  const quiet = () => undefined;
  const opts = { configDir, runsDir, out, tasks: ['bit-xor'] as const, variants: ['fpt', 'random'] as const, sets: [], print: quiet };
  const first = await runTable({ ...opts, timeLimitSeconds: 0 }); // no time: nothing starts
  expect(first).toEqual({ done: 0, pending: 2 });
  const second = await runTable(opts);
  expect(second).toEqual({ done: 2, pending: 0 });
  const metrics = fs.statSync(path.join(runsDir, 'bit-xor.fpt', 'metrics.json')).mtimeMs;
  expect(await runTable(opts)).toEqual({ done: 2, pending: 0 }); // finished cells are kept, not rerun
  expect(fs.statSync(path.join(runsDir, 'bit-xor.fpt', 'metrics.json')).mtimeMs).toBe(metrics);
  const md = fs.readFileSync(out, 'utf8');
  expect(md).toMatch(/\| FPT \(pretrained, frozen\) \| \*\*\d+\.\d\*\* \/ 100 \|/);
  expect(md).toMatch(/\| Random init, frozen \| \*\*\d+\.\d\*\* \/ 100 \|/);
});

(fs.existsSync(fixtureDir) ? test : test.skip)('a cell stopped by SIGTERM stops the table: no later cell starts', async () => {
  const { configDir, runsDir, out } = bitXorCells({ steps: 1000000, evalEvery: 1000, checkpointEvery: 1000, logEvery: 1000 });
  const lines: string[] = [];
  const print = (l: string) => {
    lines.push(l);
    if (l.startsWith('== bit-xor.fpt')) setTimeout(() => process.emit('SIGTERM', 'SIGTERM'), 300); // as `kill` would deliver it, mid-cell
  };
  const result = await runTable({ configDir, runsDir, out, tasks: ['bit-xor'], variants: ['fpt', 'random'], sets: [], print });
  expect(result).toEqual({ done: 0, pending: 2 });
  expect(lines.join('\n')).toMatch(/stopped at step \d+ \(SIGTERM\)/);
  expect(lines.some((l) => l.startsWith('== bit-xor.random'))).toBe(false);
  expect(fs.existsSync(path.join(runsDir, 'bit-xor.random'))).toBe(false);
  expect(fs.existsSync(path.join(runsDir, 'bit-xor.fpt', 'checkpoint.safetensors'))).toBe(true);
});

test('the table shows published numbers for cells not yet run', () => {
  const md = renderTable(fs.mkdtempSync(path.join(os.tmpdir(), 'fpt-table-')), ['mnist', 'cifar10'], ['fpt', 'lstm']);
  expect(md).toContain('| FPT (pretrained, frozen) | – / 98 | – / 68.2 |');
  expect(md).toContain('| Full LSTM | – / 99.5 | – / 73.6 |');
});

test('running a subset of cells keeps the finished cells of other tasks and variants in the table', () => {
  const runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fpt-table-'));
  const finish = (cell: string, accuracy: number) => {
    fs.mkdirSync(path.join(runsDir, cell));
    fs.writeFileSync(path.join(runsDir, cell, 'metrics.json'), JSON.stringify({
      split: 'test', accuracy, correct: 1000 * accuracy, total: 1000, steps: 500, wallSeconds: 60, backend: 'cpu',
    }));
  };
  finish('bit-xor.fpt', 0.999);
  finish('bit-xor.random', 0.849);
  finish('listops.lstm', 0.2);
  const scope = tableScope(runsDir, ['mnist'], ['fpt', 'random']);
  expect(scope).toEqual({ tasks: ['bit-xor', 'listops', 'mnist'], variants: ['fpt', 'random', 'lstm'] });
  const md = renderTable(runsDir, scope.tasks, scope.variants);
  expect(md).toContain('| model | bit-xor | listops | mnist |');
  expect(md).toContain('| FPT (pretrained, frozen) | **99.9** / 100 | – / 38.4 | – / 98 |');
  expect(md).toContain('| Full LSTM | – / 50.1 | **20.0** / 17.1 | – / 99.5 |');
});

test('task and variant lists are validated', () => {
  expect(parseList('fpt,lstm', VARIANTS, 'variant')).toEqual(['fpt', 'lstm']);
  expect(() => parseList('fpt,nope', VARIANTS, 'variant')).toThrow(/unknown variant nope/);
});
