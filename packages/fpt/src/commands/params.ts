import * as path from 'path';
import * as fs from 'fs';
import { presetConfig, readConfig, PRESETS, type GPT2Config } from '@fpt-ts/gpt2';
import { createTask, TASK_NAMES, type TaskName } from '@fpt-ts/tasks';
import { countParameters, paperCount } from '../params';
import { FPT_DEFAULT_FREEZE } from '../model';
import { dataDir, defaultModelDir } from '../paths';
import type { Command } from './index';

function modelConfig(model: string): GPT2Config {
  if (PRESETS[model] !== undefined) return presetConfig(model);
  const file = fs.existsSync(path.join(model, 'config.json')) ? path.join(model, 'config.json') : model;
  return readConfig(file);
}

export const paramsCommand: Command = {
  name: 'params',
  summary: 'trainable and total parameter counts of FPT per group (from the config alone)',
  usage: [
    'usage: fpt params [--model gpt2|gpt2-medium|gpt2-large|gpt2-xl|distilgpt2|DIR] --task TASK [--unfreeze GROUPS]',
    '',
    'Counts FPT parameters from the GPT-2 config (no weights needed): input layer, layer norms, positions,',
    'attention, feedforward, token embedding, output layer; trainable ones under the paper\'s freezing',
    '(--unfreeze ff,attn to train those too). "used" counts only the position rows the task reaches.',
  ].join('\n'),
  options: { model: { type: 'string' }, task: { type: 'string' }, unfreeze: { type: 'string' }, 'data-dir': { type: 'string' } },
  computes: false,
  run(v) {
    const taskName = v.task as string | undefined;
    if (taskName === undefined || !TASK_NAMES.includes(taskName as TaskName)) throw new Error(`--task must be one of ${TASK_NAMES.join(', ')}`);
    const c = modelConfig(typeof v.model === 'string' ? v.model : defaultModelDir());
    const info = createTask(taskName as TaskName, { dataDir: dataDir(v['data-dir'] as string | undefined) } as never).info;
    const freeze = { ...FPT_DEFAULT_FREEZE };
    for (const g of String(v.unfreeze ?? '').split(',').filter(Boolean)) {
      if (g === 'ff') freeze.freeze_ff = false;
      else if (g === 'attn') freeze.freeze_attn = false;
      else if (g === 'all') freeze.freeze_trans = false;
      else throw new Error(`--unfreeze: unknown group '${g}' (ff, attn, all)`);
    }
    const r = countParameters(c, info, freeze);
    const fmt = (n: number) => n.toLocaleString('en-US');
    console.log(`FPT on ${info.name}: GPT-2 ${c.n_layer} layers x ${c.n_embd}, ${info.tokens} tokens of ${info.inputKind === 'continuous' ? `dim ${info.tokenDim}` : `vocab ${info.tokenDim}`}, ${info.outputDim} outputs`);
    console.log(`${'group'.padEnd(16)} ${'total'.padStart(14)} ${'trainable'.padStart(12)} ${'used'.padStart(12)}`);
    for (const g of r.groups) console.log(`${g.group.padEnd(16)} ${fmt(g.total).padStart(14)} ${fmt(g.trainable).padStart(12)} ${fmt(g.used).padStart(12)}`);
    console.log(`${'all'.padEnd(16)} ${fmt(r.total).padStart(14)} ${fmt(r.trainable).padStart(12)} ${fmt(r.used).padStart(12)}`);
    console.log(`trainable fraction: ${(100 * r.trainable / r.total).toFixed(3)}% (used: ${(100 * r.used / r.total).toFixed(3)}%)`);
    if (info.name === 'cifar10') {
      const p = paperCount(c, 64, 16, 10);
      console.log(`paper §2.2 arithmetic (16-dim tokens + bias, LN of the blocks, 64 positions, no out bias): ${fmt(p.trainable)} = ${(100 * p.fraction).toFixed(3)}%`);
    }
  },
};
