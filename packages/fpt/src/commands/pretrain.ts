import * as fs from 'fs';
import * as path from 'path';
import { pretrain, exportPretrained, buildPretrainModel, EOT, type PretrainConfig } from '../pretrain';
import { writeModelCard } from '../modelcard';
import { saveGPT2 } from '@fpt-ts/gpt2';
import { dataDir, repoRoot } from '../paths';
import { applyOverrides } from '../experiment';
import type { Command } from './index';

export const pretrainCommand: Command = {
  name: 'pretrain',
  summary: 'pretrain a GPT-2 as a causal LM on the English corpora (GPT-2-nano)',
  usage: [
    'usage: fpt pretrain CONFIG [--set key=value ...] [--run-dir DIR] [--resume] [--time-limit SECONDS]',
    '       fpt pretrain CONFIG --export DIR [--run-dir DIR]      (model + MODEL.md + val-curve.svg)',
    '       fpt pretrain CONFIG --export-random DIR              (the same config at its seeded init)',
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
    'export-random': { type: 'string' },
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
      writeModelCard(runDir, v.export, dataDir(v['data-dir'] as string | undefined));
      console.log(`wrote ${v.export} (config.json, model.safetensors, tokenizer.json, MODEL.md, val-curve.svg)`);
      return 0;
    }
    if (typeof v['export-random'] === 'string') {
      const out = v['export-random'];
      saveGPT2(buildPretrainModel({ ...config, dropout: 0.1 }), out, { metadata: { source: `fpt pretrain random init, seed ${config.seed}` } });
      fs.writeFileSync(path.join(out, 'tokenizer.json'), JSON.stringify({ type: 'byte', vocab_size: 257, eot: EOT }, null, 2) + '\n');
      console.log(`wrote ${out} (the seeded random init of ${config.name})`);
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
