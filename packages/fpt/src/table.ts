/**
 * `fpt table`: reproduce the paper's Table 1/2 cells one run at a time. Every cell is a config in
 * packages/fpt/configs (`<task>.<variant>.json`) trained in its own run directory with --resume semantics,
 * so the whole job can be stopped anywhere and restarted; finished cells (metrics.json present) are kept.
 * After every cell the markdown table of our numbers beside the published ones is rewritten.
 */
import * as fs from 'fs';
import * as path from 'path';
import { TASK_NAMES, type TaskName } from '@fpt-ts/tasks';
import { loadConfig } from './experiment';
import { train, type FinalMetrics } from './trainer';
import { writeAtomic } from './runfiles';

export const VARIANTS = ['fpt', 'random', 'full', 'lstm'] as const;
export type Variant = (typeof VARIANTS)[number];

const VARIANT_TITLES: Record<Variant, string> = {
  fpt: 'FPT (pretrained, frozen)',
  random: 'Random init, frozen',
  full: 'Full transformer',
  lstm: 'Full LSTM',
};

/** Published test accuracy (%), PAPER.md §3: Table 1 (FPT, Full transformer, Full LSTM) and Table 2 (random init). */
export const PAPER: Record<Variant, Record<TaskName, number>> = {
  fpt: { 'bit-memory': 100, 'bit-xor': 100, listops: 38.4, mnist: 98.0, cifar10: 68.2, 'cifar10-gray': 38.6, 'remote-homology': 12.7 },
  random: { 'bit-memory': 75.8, 'bit-xor': 100, listops: 34.3, mnist: 91.7, cifar10: 61.7, 'cifar10-gray': 36.1, 'remote-homology': 9.3 },
  full: { 'bit-memory': 100, 'bit-xor': 100, listops: 38, mnist: 99.1, cifar10: 70.3, 'cifar10-gray': 42, 'remote-homology': 9 },
  lstm: { 'bit-memory': 60.9, 'bit-xor': 50.1, listops: 17.1, mnist: 99.5, cifar10: 73.6, 'cifar10-gray': 11.7, 'remote-homology': 12 },
};

export interface TableOptions {
  configDir: string;
  runsDir: string;
  /** Where the markdown table is written. */
  out: string;
  tasks: readonly TaskName[];
  variants: readonly Variant[];
  sets: readonly string[];
  dataDir?: string;
  /** Stop (checkpointing the current cell) after this many seconds. */
  timeLimitSeconds?: number;
  print?: (line: string) => void;
}

function readMetrics(runDir: string): FinalMetrics | null {
  const file = path.join(runDir, 'metrics.json');
  return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as FinalMetrics) : null;
}

/** The markdown table: one row per variant, one column per task, ours beside the paper's. */
export function renderTable(runsDir: string, tasks: readonly TaskName[], variants: readonly Variant[]): string {
  const lines = [
    '| model | ' + tasks.join(' | ') + ' |',
    '|---|' + tasks.map(() => '---|').join(''),
  ];
  const notes: string[] = [];
  for (const v of variants) {
    const cells = tasks.map((t) => {
      const m = readMetrics(path.join(runsDir, `${t}.${v}`));
      if (m === null) return `– / ${PAPER[v][t]}`;
      notes.push(`${t}.${v}: ${Number(m.correct.toFixed(1))}/${m.total} on ${m.split}${m.excluded ? ` (${m.excluded} excluded, counted wrong)` : ''}, ${m.steps} steps, ${(m.wallSeconds / 3600).toFixed(2)} h on ${m.backend}${m.backbone ? `; backbone ${m.backbone}` : ''}`);
      return `**${(100 * m.accuracy).toFixed(1)}** / ${PAPER[v][t]}`;
    });
    lines.push(`| ${VARIANT_TITLES[v]} | ${cells.join(' | ')} |`);
  }
  return [
    '# Reproduction of the FPT table',
    '',
    'Test accuracy (%), **ours** / the paper\'s (Lu et al. 2021, Tables 1 and 2; CIFAR-10 FPT is the 12-layer 68.2).',
    'Ours: the backbone is GPT-2-nano (models/gpt2-nano), not GPT-2 small, and the step budgets are the',
    'configs\' (packages/fpt/configs), bounded by 2 CPU cores; accuracy is on the whole evaluation split.',
    '',
    ...lines,
    '',
    '## Runs',
    '',
    ...notes.map((n) => `- ${n}`),
    '',
  ].join('\n');
}

/**
 * The tasks and variants the table file shows: the selected ones plus every one with a finished run in
 * `runsDir`, in the paper's order, so running a subset of cells never drops earlier results from it.
 */
export function tableScope(runsDir: string, tasks: readonly TaskName[], variants: readonly Variant[]): { tasks: TaskName[]; variants: Variant[] } {
  const finished = (t: TaskName, v: Variant) => readMetrics(path.join(runsDir, `${t}.${v}`)) !== null;
  return {
    tasks: TASK_NAMES.filter((t) => tasks.includes(t) || VARIANTS.some((v) => finished(t, v))),
    variants: VARIANTS.filter((v) => variants.includes(v) || TASK_NAMES.some((t) => finished(t, v))),
  };
}

export async function runTable(o: TableOptions): Promise<{ done: number; pending: number }> {
  const print = o.print ?? ((l: string) => console.log(l));
  fs.mkdirSync(path.dirname(o.out), { recursive: true });
  const t0 = Date.now();
  const writeTable = () => {
    const scope = tableScope(o.runsDir, o.tasks, o.variants);
    writeAtomic(o.out, renderTable(o.runsDir, scope.tasks, scope.variants));
  };
  let done = 0, pending = 0;
  // once a cell stops unfinished (Ctrl-C, SIGTERM or the time limit), no other cell starts: the rest
  // are only counted
  let stopped = false;
  for (const v of o.variants) {
    for (const t of o.tasks) {
      const runDir = path.join(o.runsDir, `${t}.${v}`);
      if (readMetrics(runDir) !== null) { done++; continue; }
      const left = o.timeLimitSeconds === undefined ? undefined : o.timeLimitSeconds - (Date.now() - t0) / 1000;
      if (stopped || (left !== undefined && left <= 0)) { pending++; continue; }
      const config = loadConfig(path.join(o.configDir, `${t}.${v}.json`), o.sets);
      print(`== ${t}.${v} (${config.steps} steps) in ${runDir}`);
      const result = await train(config, { runDir, resume: true, dataDir: o.dataDir, timeLimitSeconds: left, print });
      if (result.finished) done++;
      else { pending++; stopped = true; }
      writeTable();
    }
  }
  writeTable();
  return { done, pending };
}

export function parseList<T extends string>(raw: string | undefined, all: readonly T[], what: string): T[] {
  if (raw === undefined) return [...all];
  const items = raw.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = items.filter((i) => !all.includes(i as T));
  if (bad.length) throw new Error(`unknown ${what} ${bad.join(', ')} (known: ${all.join(', ')})`);
  return items as T[];
}

export { TASK_NAMES };
