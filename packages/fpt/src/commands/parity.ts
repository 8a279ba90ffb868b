import * as path from 'path';
import { getBackend } from '@fpt-ts/tensor';
import { runParity, formatParity } from '../parity';
import type { Command } from './index';

export const parity: Command = {
  name: 'parity',
  summary: 'recompute a HuggingFace reference dump and print the max diff per tensor',
  usage: [
    'usage: fpt parity --model DIR [--reference FILE] [--backend B]',
    '',
    'Loads the GPT-2 checkpoint in DIR and recomputes every tensor of the reference file (default:',
    'DIR/reference.safetensors, in the ../shared/fixtures format): hidden states, logits, greedy ids, the',
    'FPT step (logits, loss, gradients) and three Adam steps. Prints one line per tensor with its max abs',
    'diff; exits 1 if any exceeds 1e-4 (relative for values above 1).',
  ].join('\n'),
  options: { model: { type: 'string' }, reference: { type: 'string' } },
  computes: true,
  run(v) {
    if (typeof v.model !== 'string') throw new Error('--model DIR is required');
    const reference = typeof v.reference === 'string' ? v.reference : path.join(v.model, 'reference.safetensors');
    const rows = runParity(v.model, reference);
    const backend = getBackend();
    const info = Object.entries(backend.info()).map(([k, x]) => `${k}=${x}`).join(' ');
    console.log(`backend ${backend.name}${info ? ` (${info})` : ''}, model ${v.model}, reference ${reference}`);
    console.log(formatParity(rows));
    const bad = rows.filter((r) => !r.ok).length;
    console.log(bad === 0 ? `all ${rows.length} tensors within tolerance` : `${bad} of ${rows.length} tensors out of tolerance`);
    return bad === 0 ? 0 : 1;
  },
};
