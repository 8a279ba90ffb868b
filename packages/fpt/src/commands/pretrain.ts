import * as fs from 'fs';
import * as path from 'path';
import { pretrain, exportPretrained, type PretrainConfig } from '../pretrain';
import { dataDir, repoRoot } from '../paths';
import { applyOverrides } from '../experiment';
import type { Command } from './index';

export const pretrainCommand: Command = {
  name: 'pretrain',
  summary: 'pretrain a GPT-2 as a causal LM on the English corpora (GPT-2-nano)',
  usage: [
    'usage: fpt pretrain CONFIG [--set key=value ...] [--run-dir DIR] [--resume] [--time-limit SECONDS]',
    '       fpt pretrain CONFIG --export DIR [--run-dir DIR]',
    '',
    'Trains with AdamW (warmup + cosine), clipping, per-corpus held-out validation (loss, bits per byte),',
    'samples and atomic checkpoints (state.safetensors in the run directory, default runs/<name>).',
    'Interrupt at any time (Ctrl-C, SIGTERM, --time-limit) and continue with --resume: the run continues',
    'exactly where the last checkpoint left it. --export writes the model as a HuggingFace GPT-2 directory.',
  ].join('\n'),
  options: {
    set: { type: 'string', multiple: true },
    'run-dir': { type: 'string' },
    resume: { type: 'boolean' },
    'time-limit': { type: 'string' },
    'stop-after': { type: 'string' },
    export: { type: 'string' },
    'data-dir': { type: 'string' },
  },
  computes: true,
  async run(v, positionals) {
    if (positionals.length !== 1) throw new Error('give exactly one CONFIG file');
    let raw: Record<string, unknown>;
    try {
      raw = JSON.parse(fs.readFileSync(positionals[0], 'utf8'));
    } catch (e) {
      throw new Error(`cannot read pretraining config ${positionals[0]}: ${(e as Error).message}`);
    }
    const config = applyOverrides(raw, (v.set as string[] | undefined) ?? []) as unknown as PretrainConfig;
    const runDir = typeof v['run-dir'] === 'string' ? v['run-dir'] : path.join(repoRoot(), 'runs', config.name);
    if (typeof v.export === 'string') {
      exportPretrained(runDir, v.export);
      console.log(`wrote ${v.export} (config.json, model.safetensors, tokenizer.json)`);
      return 0;
    }
    const result = await pretrain(config, {
      runDir,
      dataDir: dataDir(v['data-dir'] as string | undefined),
      resume: v.resume === true,
      timeLimitSeconds: v['time-limit'] === undefined ? undefined : Number(v['time-limit']),
      stopAfter: v['stop-after'] === undefined ? undefined : Number(v['stop-after']),
    });
    return result.step > 0 ? 0 : 1;
  },
};
