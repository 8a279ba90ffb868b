import * as path from 'path';
import { runTable, parseList, VARIANTS, TASK_NAMES } from '../table';
import { repoRoot, dataDir } from '../paths';
import type { Command } from './index';

export const tableCommand: Command = {
  name: 'table',
  summary: "reproduce the paper's table: train every (task, variant) config in turn, resumable, and write the results",
  usage: [
    'usage: fpt table [--tasks a,b] [--variants fpt,random,full,lstm] [--set key=value ...] [--runs-dir DIR] [--out FILE] [--time-limit S]',
    '',
    'Trains packages/fpt/configs/<task>.<variant>.json for every selected cell, each in <runs-dir>/<task>.<variant>',
    '(default runs/), continuing any checkpoint and skipping finished cells, and rewrites the markdown table',
    '(default results/table.md) after each cell: ours beside the published numbers.',
  ].join('\n'),
  options: {
    tasks: { type: 'string' },
    variants: { type: 'string' },
    set: { type: 'string', multiple: true },
    'runs-dir': { type: 'string' },
    out: { type: 'string' },
    'time-limit': { type: 'string' },
    'data-dir': { type: 'string' },
  },
  computes: true,
  async run(v) {
    const root = repoRoot();
    const r = await runTable({
      configDir: path.join(root, 'packages', 'fpt', 'configs'),
      runsDir: typeof v['runs-dir'] === 'string' ? v['runs-dir'] : path.join(root, 'runs'),
      out: typeof v.out === 'string' ? v.out : path.join(root, 'results', 'table.md'),
      tasks: parseList(v.tasks as string | undefined, TASK_NAMES, 'task'),
      variants: parseList(v.variants as string | undefined, VARIANTS, 'variant'),
      sets: (v.set as string[] | undefined) ?? [],
      dataDir: dataDir(v['data-dir'] as string | undefined),
      timeLimitSeconds: v['time-limit'] === undefined ? undefined : Number(v['time-limit']),
    });
    console.log(`${r.done} cell(s) finished, ${r.pending} pending`);
  },
};
