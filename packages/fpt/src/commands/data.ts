import { dataFetch, dataStats, dataExport, DATASET_SOURCES, TASK_HELP } from '@fpt-ts/tasks';
import { dataDir } from '../paths';
import type { Command } from './index';

export const dataCommand: Command = {
  name: 'data',
  summary: 'datasets: fetch (download + verify), stats (splits, classes, lengths), export (ListOps to LRA TSV)',
  usage: [
    'usage: fpt data fetch <dataset> [--data-dir DIR] [--mirror URL]',
    '       fpt data stats --task TASK [--data-dir DIR] [--cache-dir DIR]',
    '       fpt data export --task listops --split train|val|test --out FILE [--data-dir DIR]',
    '',
    `datasets: ${Object.keys(DATASET_SOURCES).join(', ')}`,
    'The data directory is --data-dir, else FPT_DATA_DIR, else ../shared/data beside the checkout.',
    '',
    'tasks:',
    ...Object.entries(TASK_HELP).map(([name, help]) => `  ${name}: ${help}`),
  ].join('\n'),
  options: {
    'data-dir': { type: 'string' },
    'cache-dir': { type: 'string' },
    mirror: { type: 'string' },
    task: { type: 'string' },
    split: { type: 'string' },
    out: { type: 'string' },
  },
  computes: false,
  async run(v, positionals) {
    const [action, dataset] = positionals;
    const dir = dataDir(v['data-dir'] as string | undefined);
    const cacheDir = v['cache-dir'] as string | undefined;
    const need = (key: string): string => {
      if (typeof v[key] !== 'string') throw new Error(`data ${action}: --${key} is required`);
      return v[key] as string;
    };
    switch (action) {
      case 'fetch':
        if (dataset === undefined) throw new Error(`data fetch: name a dataset (${Object.keys(DATASET_SOURCES).join(', ')})`);
        await dataFetch({ dataset, dataDir: dir, mirror: v.mirror as string | undefined });
        return 0;
      case 'stats':
        await dataStats({ task: need('task'), dataDir: dir, cacheDir });
        return 0;
      case 'export':
        await dataExport({ task: need('task'), split: need('split'), out: need('out'), dataDir: dir, cacheDir });
        return 0;
      default:
        throw new Error(`unknown data action '${action ?? ''}' (fetch, stats, export)`);
    }
  },
};
