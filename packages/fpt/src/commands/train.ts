import * as path from 'path';
import { loadConfig } from '../experiment';
import { train } from '../trainer';
import { repoRoot } from '../paths';
import type { Command } from './index';

export const trainCommand: Command = {
  name: 'train',
  summary: 'train FPT or a baseline from an experiment config (one config per table cell)',
  usage: [
    'usage: fpt train CONFIG [--set key=value ...] [--run-dir DIR] [--resume] [--data-dir DIR] [--backend B]',
    '',
    'CONFIG is a JSON file (see packages/fpt/configs). --set overrides any key with a dotted path and a',
    'JSON value, e.g. --set steps=500 --set optim.lr=3e-4 --set freeze.freeze_ff=false.',
    'The run directory (default runs/<name>) receives config.json, log.jsonl, checkpoint.safetensors',
    '(every checkpointEvery steps and on Ctrl-C/SIGTERM) and metrics.json. --resume continues from the',
    'checkpoint and reaches the same numbers as an uninterrupted run.',
  ].join('\n'),
  options: {
    set: { type: 'string', multiple: true },
    'run-dir': { type: 'string' },
    resume: { type: 'boolean' },
    'data-dir': { type: 'string' },
    'stop-after': { type: 'string' },
  },
  computes: true,
  async run(v, positionals) {
    if (positionals.length !== 1) throw new Error('give exactly one CONFIG file');
    const config = loadConfig(positionals[0], (v.set as string[] | undefined) ?? []);
    const runDir = typeof v['run-dir'] === 'string' ? v['run-dir'] : path.join(repoRoot(), 'runs', config.name);
    const result = await train(config, {
      runDir,
      resume: v.resume === true,
      dataDir: v['data-dir'] as string | undefined,
      stopAfter: v['stop-after'] === undefined ? undefined : Number(v['stop-after']),
    });
    return result.finished || result.step > 0 ? 0 : 1;
  },
};
