/**
 * Dataset statistics for `npx fpt data stats --task T`: split sizes, class counts, tokens per example and
 * sequence-length statistics, computed from what the task actually delivers (its full evaluation batches).
 */
import * as path from 'path';
import { loadListOpsSplit, ListOpsOptions, locateListOpsFiles } from './listops-task';
import { Split, Task, TaskInfo } from './types';

export interface LengthStats {
  min: number;
  mean: number;
  median: number;
  max: number;
}

export interface SplitStats {
  split: Split;
  examples: number;
  /** Examples the full evaluation leaves out (over-long homology sequences). */
  excluded: number;
  /** Examples per class id (length numClasses). */
  classCounts: number[];
  /** Unpadded tokens per example as delivered (after truncation); fixed-length tasks: the token count. */
  lengths: LengthStats;
  /** ListOps: lengths before truncation, and how many examples the truncation cuts. */
  untruncated?: LengthStats & { truncated: number };
}

export interface TaskStats {
  info: TaskInfo;
  splits: SplitStats[];
}

export function lengthStats(values: ArrayLike<number>): LengthStats {
  const sorted = Float64Array.from(values).sort();
  const n = sorted.length;
  if (n === 0) return { min: 0, mean: 0, median: 0, max: 0 };
  let sum = 0;
  for (const v of sorted) sum += v;
  const median = n % 2 === 1 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  return { min: sorted[0], mean: sum / n, median, max: sorted[n - 1] };
}

/**
 * Statistics of every split of a task (bit tasks: of their fixed evaluation sets). `listops` options, when
 * given for the listops task, add the untruncated length distribution.
 */
export function computeTaskStats(task: Task, listops?: ListOpsOptions): TaskStats {
  const { info } = task;
  const splits: SplitStats[] = [];
  for (const split of info.splits) {
    const set = task.evalSet(split, 1000);
    const classCounts = new Array<number>(info.numClasses).fill(0);
    const lengths: number[] = [];
    for (const batch of set.batches()) {
      for (const label of batch.y) classCounts[label]++;
      const B = batch.xShape[0];
      for (let b = 0; b < B; b++) lengths.push(batch.lengths ? batch.lengths[b] : info.tokens);
    }
    const stats: SplitStats = { split, examples: set.total, excluded: set.excluded, classCounts, lengths: lengthStats(lengths) };
    if (info.name === 'listops' && listops) {
      const files = locateListOpsFiles(listops);
      const full = loadListOpsSplit(path.join(files.dir, `basic_${split}.tsv`), listops.tokenization ?? 'lra', null).fullLengths;
      const cap = listops.maxLength === undefined ? 512 : listops.maxLength;
      const truncated = cap === null ? 0 : full.filter((l) => l > cap).length;
      stats.untruncated = { ...lengthStats(full), truncated };
    }
    splits.push(stats);
  }
  return { info, splits };
}

function fmt(s: LengthStats): string {
  return `min ${s.min}, mean ${s.mean.toFixed(1)}, median ${s.median}, max ${s.max}`;
}

/** Human-readable report. */
export function formatTaskStats(stats: TaskStats): string {
  const { info } = stats;
  const lines = [
    `task ${info.name}: ${info.inputKind === 'tokens' ? `token ids, vocabulary ${info.tokenDim}` : `continuous, dim ${info.tokenDim}`}, ` +
      `${info.variableLength ? 'up to ' : ''}${info.tokens} tokens, ${info.numClasses} classes, head reads the last ${info.outputTokens} token(s)`,
    `  ${info.notes}`,
  ];
  for (const s of stats.splits) {
    lines.push(`  ${s.split}: ${s.examples} examples${s.excluded ? ` (${s.excluded} over-long, left out of the full evaluation)` : ''}`);
    const nonzero = s.classCounts.filter((c) => c > 0).length;
    if (s.classCounts.length <= 20) {
      lines.push(`    classes: ${s.classCounts.join(' ')}`);
    } else {
      const present = s.classCounts.filter((c) => c > 0);
      lines.push(`    classes: ${nonzero} of ${s.classCounts.length} present, ${Math.min(...present)}..${Math.max(...present)} examples each`);
    }
    lines.push(`    tokens per example: ${fmt(s.lengths)}`);
    if (s.untruncated) lines.push(`    before truncation: ${fmt(s.untruncated)}; truncated: ${s.untruncated.truncated}`);
  }
  return lines.join('\n');
}
