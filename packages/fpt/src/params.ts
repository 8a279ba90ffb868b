/**
 * Parameter accounting for `fpt params`: trainable vs total, per group, from a GPT-2 config alone (no
 * weights are allocated, so gpt2-xl costs nothing), as in the paper's §2.2 count.
 */
import { type GPT2Config, innerDim } from '@fpt-ts/gpt2';
import { freezeRule, FPT_DEFAULT_FREEZE, type FreezeFlags } from './model';

/** Every GPT-2 parameter name and shape, in the model's order (tested against GPT2.namedParameters). */
export function gpt2ParameterShapes(c: GPT2Config): [string, number[]][] {
  const C = c.n_embd, I = innerDim(c);
  const out: [string, number[]][] = [['wte.weight', [c.vocab_size, C]], ['wpe.weight', [c.n_positions, C]]];
  for (let i = 0; i < c.n_layer; i++) {
    const p = `h.${i}.`;
    out.push(
      [`${p}ln_1.weight`, [C]], [`${p}ln_1.bias`, [C]],
      [`${p}attn.c_attn.weight`, [C, 3 * C]], [`${p}attn.c_attn.bias`, [3 * C]],
      [`${p}attn.c_proj.weight`, [C, C]], [`${p}attn.c_proj.bias`, [C]],
      [`${p}ln_2.weight`, [C]], [`${p}ln_2.bias`, [C]],
      [`${p}mlp.c_fc.weight`, [C, I]], [`${p}mlp.c_fc.bias`, [I]],
      [`${p}mlp.c_proj.weight`, [I, C]], [`${p}mlp.c_proj.bias`, [C]],
    );
  }
  out.push(['ln_f.weight', [C]], ['ln_f.bias', [C]]);
  return out;
}

export interface ParamGroupCount {
  group: string;
  total: number;
  trainable: number;
  /** Trainable entries that the task's sequence length actually uses (position rows < T). */
  used: number;
}

export interface ParamReport {
  groups: ParamGroupCount[];
  total: number;
  trainable: number;
  used: number;
}

const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);

/**
 * Counts for FPT on a task: input layer (d_in·C + C, or vocab·C for token inputs), the GPT-2 groups of the
 * freeze table, and the output layer (C·outputDim + outputDim).
 */
export function countParameters(
  c: GPT2Config,
  task: { inputKind: 'continuous' | 'tokens'; tokenDim: number; outputDim: number; tokens: number },
  freeze: FreezeFlags = FPT_DEFAULT_FREEZE,
): ParamReport {
  const C = c.n_embd;
  const groups = new Map<string, ParamGroupCount>();
  const add = (group: string, n: number, trains: boolean, used = n) => {
    const g = groups.get(group) ?? { group, total: 0, trainable: 0, used: 0 };
    g.total += n;
    if (trains) { g.trainable += n; g.used += used; }
    groups.set(group, g);
  };
  add('input layer', task.inputKind === 'continuous' ? task.tokenDim * C + C : task.tokenDim * C, !freeze.freeze_in);
  for (const [name, shape] of gpt2ParameterShapes(c)) {
    const rule = freezeRule(name);
    const trains = freeze.freeze_trans ? rule.trains(freeze) : true;
    const used = name === 'wpe.weight' ? Math.min(task.tokens, c.n_positions) * C : numel(shape);
    add(rule.group, numel(shape), trains, used);
  }
  add('output layer', C * task.outputDim + task.outputDim, !freeze.freeze_out);
  const list = [...groups.values()];
  const sum = (k: 'total' | 'trainable' | 'used') => list.reduce((a, g) => a + g[k], 0);
  return { groups: list, total: sum('total'), trainable: sum('trainable'), used: sum('used') };
}

/**
 * The paper's own §2.2 arithmetic for CIFAR-10 on GPT-2: output 768·10, input 17·768 (it assumes 16-dim
 * tokens plus a bias), the 4·768 layer-norm parameters of each of the 12 blocks, and 64·768 positions;
 * 106,752 of 124,439,808 ≈ 0.086%.
 */
export function paperCount(c: GPT2Config, tokens: number, tokenDim: number, classes: number): { trainable: number; fraction: number } {
  const C = c.n_embd;
  const trainable = C * classes + (tokenDim + 1) * C + 4 * C * c.n_layer + tokens * C;
  const total = gpt2ParameterShapes(c).reduce((a, [, s]) => a + numel(s), 0);
  return { trainable, fraction: trainable / total };
}
