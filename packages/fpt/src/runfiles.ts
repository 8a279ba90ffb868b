/** Files of a run directory: atomic writes and the JSONL log. */
import * as fs from 'fs';
import { Tensor } from '@fpt-ts/tensor';
import type { SafetensorsFile } from '@fpt-ts/gpt2';

/** Write via a temporary file and rename, so a reader never sees half a file. */
export function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

export function appendJsonl(file: string, entry: Record<string, unknown>): void {
  fs.appendFileSync(file, JSON.stringify(entry) + '\n');
}

export function readJsonl<T = Record<string, unknown>>(file: string): T[] {
  if (!fs.existsSync(file)) return [];
  const out: T[] = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try { out.push(JSON.parse(line) as T); } catch { /* a line cut by an interruption */ }
  }
  return out;
}

/**
 * Drop log entries written after the checkpoint a run resumes from (they will be recomputed identically),
 * and any line cut short by the interruption.
 */
export function truncateJsonl(file: string, step: number): void {
  if (!fs.existsSync(file)) return;
  const kept = readJsonl<{ step?: number }>(file).filter((e) => e.step === undefined || e.step <= step);
  writeAtomic(file, kept.map((e) => JSON.stringify(e) + '\n').join(''));
}

/**
 * When a training loop should stop (and checkpoint): on SIGINT/SIGTERM, after a time limit, or after a
 * number of steps of this invocation. `check` yields to the event loop first so signal handlers can run.
 */
export class StopConditions {
  private signal: string | null = null;
  private readonly t0 = Date.now();
  private readonly handler = (sig: NodeJS.Signals) => { this.signal = sig; };

  constructor(private readonly limits: { timeLimitSeconds?: number; stopAfter?: number }, readonly startStep: number) {
    process.on('SIGINT', this.handler);
    process.on('SIGTERM', this.handler);
  }

  /** The reason to stop after `step`, or null to go on. */
  async check(step: number): Promise<string | null> {
    await new Promise((r) => setImmediate(r));
    if (this.signal !== null) return this.signal;
    if (this.limits.timeLimitSeconds !== undefined && (Date.now() - this.t0) / 1000 >= this.limits.timeLimitSeconds) return 'time limit';
    if (this.limits.stopAfter !== undefined && step - this.startStep >= this.limits.stopAfter) return 'step limit';
    return null;
  }

  dispose(): void {
    process.off('SIGINT', this.handler);
    process.off('SIGTERM', this.handler);
  }
}

/** A checkpoint tensor that must exist with the given shape; errors name the file and the key. */
export function readCheckedTensor(f: SafetensorsFile, key: string, shape: readonly number[]): Tensor {
  if (!f.has(key)) throw new Error(`checkpoint ${f.path}: missing tensor '${key}'`);
  const t = f.get(key);
  if (t.shape.join(',') !== shape.join(',')) throw new Error(`checkpoint ${f.path}: '${key}' has shape [${t.shape}], expected [${shape}]`);
  return new Tensor(t.data, t.shape);
}

/** A tensor's values as a contiguous Float32Array, for writing a checkpoint. */
export function float32Data(t: Tensor): Float32Array {
  return t.astype('float32').contiguous().data as Float32Array;
}
