import { trainXorDemo } from '@fpt-ts/autograd';
import type { Command } from './index';

export const demo: Command = {
  name: 'demo',
  summary: 'small runnable examples: `fpt demo xor` trains a tiny MLP on XOR with Adam',
  usage: 'usage: fpt demo xor [--steps N] [--lr LR] [--seed S]',
  options: { steps: { type: 'string' }, lr: { type: 'string' }, seed: { type: 'string' } },
  computes: true,
  run(v, positionals) {
    if (positionals[0] !== 'xor') throw new Error(`unknown demo '${positionals[0] ?? ''}' (demos: xor)`);
    const steps = v.steps === undefined ? 200 : Number(v.steps);
    const result = trainXorDemo({
      steps,
      lr: v.lr === undefined ? undefined : Number(v.lr),
      seed: v.seed === undefined ? undefined : Number(v.seed),
      onStep: (step, loss) => { if (step % 25 === 0 || step === steps - 1) console.log(`step ${String(step).padStart(4)}  loss ${loss.toFixed(5)}`); },
    });
    console.log(`accuracy on the four XOR inputs: ${(100 * result.accuracy).toFixed(0)}%`);
    return result.accuracy === 1 ? 0 : 1;
  },
};
