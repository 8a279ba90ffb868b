/**
 * The README's example as a function: a tiny MLP (2 -> hidden -> 2, tanh) trained with Adam on
 * XOR of two bits, full batch. `fpt demo xor` calls this.
 */
import { tensor, ops, Generator } from '@fpt-ts/tensor';
import { Variable, noGrad } from './variable';
import { Linear, Module } from './nn';
import { Adam } from './optim';
import * as F from './functional';

export interface XorDemoOptions {
  /** Optimizer steps (default 200). */
  steps?: number;
  /** Hidden units (default 8). */
  hidden?: number;
  /** Adam learning rate (default 0.05). */
  lr?: number;
  /** Seed of the weight initialization (default 0). */
  seed?: number;
  /** Called after every step with the loss before the update. */
  onStep?: (step: number, loss: number) => void;
}

export interface XorDemoResult {
  /** Mean cross-entropy at every step. */
  losses: number[];
  /** Fraction of the four inputs classified correctly after training. */
  accuracy: number;
}

class XorMlp extends Module {
  fc1: Linear;
  fc2: Linear;

  constructor(hidden: number, generator: Generator) {
    super();
    this.fc1 = new Linear(2, hidden, { generator });
    this.fc2 = new Linear(hidden, 2, { generator });
  }

  forward(x: Variable): Variable {
    return this.fc2.forward(F.tanh(this.fc1.forward(x))); // [4, 2] -> [4, hidden] -> [4, 2]
  }
}

export function trainXorDemo(options: XorDemoOptions = {}): XorDemoResult {
  const { steps = 200, hidden = 8, lr = 0.05, seed = 0 } = options;
  const x = new Variable(tensor([[0, 0], [0, 1], [1, 0], [1, 1]]));
  const y = tensor([0, 1, 1, 0], { dtype: 'int32' }); // XOR of the two bits
  const model = new XorMlp(hidden, new Generator(seed));
  const opt = new Adam(model.parameters(), lr);
  const losses: number[] = [];
  for (let step = 0; step < steps; step++) {
    const loss = F.crossEntropy(model.forward(x), y);
    opt.zeroGrad();
    loss.backward();
    opt.step();
    losses.push(loss.item());
    options.onStep?.(step, loss.item());
  }
  const predicted = noGrad(() => ops.argmax(model.forward(x).data, -1));
  let correct = 0;
  for (let i = 0; i < 4; i++) if (predicted.get(i) === y.get(i)) correct++;
  return { losses, accuracy: correct / 4 };
}
