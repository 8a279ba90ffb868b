/**
 * The `npx fpt data ...` commands as library functions: they take already-parsed options, print through
 * `log` (default console.log) and return what they printed about. The argument parsing lives in packages/fpt.
 *
 *   npx fpt data fetch <dataset> [--data-dir DIR] [--mirror URL]
 *   npx fpt data stats --task T [--data-dir DIR] [task options]
 *   npx fpt data export --task listops --split val --out FILE
 */
import * as fs from 'fs';
import * as path from 'path';
import { DATASET_SOURCES, fetchDataset } from './datasets';
import { forEachLine, formatListOpsRow, LISTOPS_TSV_HEADER, parseListOpsRow } from './listops';
import { ListOpsOptions, locateListOpsFiles } from './listops-task';
import { resolveDataDir } from './paths';
import { computeTaskStats, formatTaskStats, TaskStats } from './stats';
import { createTask, isTaskName, TaskOptionsMap } from './tasks';
import { Split, TASK_NAMES } from './types';

type Log = (line: string) => void;

export interface DataFetchArgs {
  /** A key of DATASET_SOURCES: mnist, cifar10, remote-homology, remote-homology-tape, lra-listops, listops. */
  dataset: string;
  dataDir?: string;
  /** Fetch every file from `<mirror>/<file name>` instead of its canonical URL (checksums still apply). */
  mirror?: string;
  /** For `listops` (local generation): generator seed and split sizes. */
  seed?: number;
  sizes?: { train: number; val: number; test: number };
  log?: Log;
}

export async function dataFetch(args: DataFetchArgs): Promise<void> {
  const log = args.log ?? console.log;
  const source = DATASET_SOURCES[args.dataset];
  if (!source) throw new Error(`unknown dataset "${args.dataset}" (datasets: ${Object.keys(DATASET_SOURCES).join(', ')})`);
  const dataDir = resolveDataDir(args.dataDir);
  log(`${source.name}: ${source.description}\n  into ${dataDir}`);
  await fetchDataset(source, { dataDir, log, listops: { seed: args.seed, sizes: args.sizes } }, args.mirror);
  log(`${source.name}: done`);
}

export interface DataStatsArgs {
  task: string;
  dataDir?: string;
  cacheDir?: string;
  /** Task options (as for createTask), e.g. { imageSize: 32 } or { tokenization: 'brackets' }. */
  options?: Record<string, unknown>;
  log?: Log;
}

function taskOptions(args: { dataDir?: string; cacheDir?: string; options?: Record<string, unknown>; log?: Log }): Record<string, unknown> {
  const dirs = { ...(args.dataDir ? { dataDir: args.dataDir } : {}), ...(args.cacheDir ? { cacheDir: args.cacheDir } : {}) };
  return { ...args.options, ...dirs, log: args.log };
}

export async function dataStats(args: DataStatsArgs): Promise<TaskStats> {
  const log = args.log ?? console.log;
  if (!isTaskName(args.task)) throw new Error(`unknown task "${args.task}" (tasks: ${TASK_NAMES.join(', ')})`);
  const options = taskOptions({ ...args, log });
  const task = createTask(args.task, options as TaskOptionsMap[typeof args.task]);
  const stats = computeTaskStats(task, args.task === 'listops' ? (options as ListOpsOptions) : undefined);
  log(formatTaskStats(stats));
  return stats;
}

export interface DataExportArgs {
  /** Only 'listops' can be exported. */
  task: string;
  split: string;
  /** Output path of the LRA TSV file. */
  out: string;
  dataDir?: string;
  cacheDir?: string;
  /** ListOps source options (source, generatorSeed, sizes, generator). */
  options?: Record<string, unknown>;
  log?: Log;
}

/** Writes a ListOps split as LRA TSV (`Source\tTarget` header, \r\n line ends), atomically. */
export async function dataExport(args: DataExportArgs): Promise<{ rows: number; file: string }> {
  const log = args.log ?? console.log;
  if (args.task !== 'listops') throw new Error(`data export supports --task listops only (got "${args.task}")`);
  if (!['train', 'val', 'test'].includes(args.split)) throw new Error(`--split must be train, val or test (got "${args.split}")`);
  const split = args.split as Split;
  const files = locateListOpsFiles(taskOptions({ ...args, log }) as ListOpsOptions);
  const input = path.join(files.dir, `basic_${split}.tsv`);
  const out = path.resolve(args.out);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w');
  let rows = 0;
  try {
    fs.writeSync(fd, `${LISTOPS_TSV_HEADER}\r\n`);
    forEachLine(input, (line, n) => {
      if (n === 1 || line === '') return;
      fs.writeSync(fd, formatListOpsRow(parseListOpsRow(line, `${input}:${n}`)));
      rows++;
    });
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, out);
  log(`listops ${split}: wrote ${rows} rows to ${out} (data: ${files.description})`);
  return { rows, file: out };
}
