/**
 * nn-style modules: a Module owns named parameters and child modules (found by walking its fields, so
 * `this.c_attn = new Linear(...)` registers `c_attn.weight`), has train/eval mode, and loads/saves a
 * name -> tensor map. Names are dotted paths like `h.0.attn.c_attn.weight`.
 */
import { Tensor, fmt, zeros, ones, uniform, randn, Generator, getDefaultGenerator } from '@fpt-ts/tensor';
import { Parameter, Variable } from './variable';
import * as F from './functional';

export abstract class Module {
  training = true;

  /** Children and parameters in field order; arrays of modules (a ModuleList) are indexed 0, 1, … */
  namedChildren(): [string, Module][] {
    const out: [string, Module][] = [];
    for (const [key, value] of Object.entries(this)) {
      if (value instanceof Module) out.push([key, value]);
      else if (Array.isArray(value) && value.length > 0 && value.every((m) => m instanceof Module)) {
        value.forEach((m: Module, i: number) => out.push([`${key}.${i}`, m]));
      }
    }
    return out;
  }

  /** Every parameter under this module with its dotted name (each parameter once). */
  namedParameters(prefix = ''): [string, Parameter][] {
    const out: [string, Parameter][] = [];
    const seen = new Set<Parameter>();
    const visit = (m: Module, p: string): void => {
      for (const [key, value] of Object.entries(m)) {
        if (value instanceof Parameter && !seen.has(value)) {
          seen.add(value);
          out.push([p + key, value]);
        }
      }
      for (const [name, child] of m.namedChildren()) visit(child, `${p}${name}.`);
    };
    visit(this, prefix);
    return out;
  }

  parameters(): Parameter[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Parameters that require grad (what an optimizer should see). */
  trainableParameters(): Parameter[] {
    return this.parameters().filter((p) => p.requiresGrad);
  }

  train(mode = true): this {
    this.training = mode;
    for (const [, c] of this.namedChildren()) c.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }

  stateDict(): Map<string, Tensor> {
    return new Map(this.namedParameters().map(([n, p]) => [n, p.data]));
  }

  /**
   * Copy tensors into the parameters by name. Strict mode (default) requires exactly the module's
   * names; every problem is collected and reported in one error, and nothing is loaded unless all is well.
   */
  loadStateDict(state: ReadonlyMap<string, Tensor>, options: { strict?: boolean; source?: string } = {}): void {
    const strict = options.strict ?? true;
    const params = new Map(this.namedParameters());
    const problems: string[] = [];
    const loads: [Parameter, Tensor][] = [];
    for (const [name, p] of params) {
      const t = state.get(name);
      if (t === undefined) {
        if (strict) problems.push(`missing ${name} ${fmt(p.shape)}`);
        continue;
      }
      if (t.shape.length !== p.shape.length || t.shape.some((s, i) => s !== p.shape[i])) {
        problems.push(`${name}: expected shape ${fmt(p.shape)}, got ${fmt(t.shape)}`);
        continue;
      }
      if (!t.isFloat()) {
        problems.push(`${name}: expected a float tensor, got ${t.dtype}`);
        continue;
      }
      loads.push([p, t.dtype === p.data.dtype ? t.clone() : t.astype(p.data.dtype).contiguous()]);
    }
    if (strict) for (const name of state.keys()) if (!params.has(name)) problems.push(`unexpected ${name}`);
    if (problems.length > 0) {
      throw new Error(`loadStateDict${options.source ? ` (${options.source})` : ''}: ${problems.length} problem(s):\n  ${problems.join('\n  ')}`);
    }
    for (const [p, t] of loads) p.data = t;
  }
}

let initEnabled = true;

/**
 * Build modules without drawing their default initial weights (they are zeros instead), for weights that
 * are about to be overwritten by a custom init or a checkpoint (PyTorch's `skip_init`).
 */
export function skipInit<T>(build: () => T): T {
  const previous = initEnabled;
  initEnabled = false;
  try {
    return build();
  } finally {
    initEnabled = previous;
  }
}

/** A dense layer. layout 'torch' keeps weight [out, in] (nn.Linear); 'conv1d' keeps [in, out] (GPT-2's Conv1D). */
export class Linear extends Module {
  weight: Parameter;
  bias: Parameter | null;
  readonly layout: 'torch' | 'conv1d';

  constructor(inFeatures: number, outFeatures: number, options: { bias?: boolean; layout?: 'torch' | 'conv1d'; generator?: Generator } = {}) {
    super();
    this.layout = options.layout ?? 'torch';
    const g = options.generator ?? getDefaultGenerator();
    // PyTorch's default: U(−1/√in, 1/√in) for weight and bias
    const bound = 1 / Math.sqrt(inFeatures);
    const shape = this.layout === 'torch' ? [outFeatures, inFeatures] : [inFeatures, outFeatures];
    const init = (s: number[]) => (initEnabled ? uniform(s, -bound, bound, { generator: g }) : zeros(s));
    this.weight = new Parameter(init(shape));
    this.bias = options.bias === false ? null : new Parameter(init([outFeatures]));
  }

  forward(x: Variable): Variable {
    return F.linear(x, this.weight, this.bias, this.layout);
  }
}

export class Embedding extends Module {
  weight: Parameter;

  /** N(0, 1) init, as nn.Embedding. */
  constructor(numEmbeddings: number, dim: number, options: { generator?: Generator } = {}) {
    super();
    this.weight = new Parameter(initEnabled ? randn([numEmbeddings, dim], { generator: options.generator }) : zeros([numEmbeddings, dim]));
  }

  forward(ids: Tensor): Variable {
    return F.embedding(this.weight, ids);
  }
}

export class LayerNorm extends Module {
  weight: Parameter;
  bias: Parameter;

  constructor(dim: number, readonly eps = 1e-5) {
    super();
    this.weight = new Parameter(ones([dim]));
    this.bias = new Parameter(zeros([dim]));
  }

  forward(x: Variable): Variable {
    return F.layerNorm(x, this.weight, this.bias, this.eps);
  }
}

export class Dropout extends Module {
  constructor(readonly p: number, readonly generator: Generator = getDefaultGenerator()) {
    super();
  }

  forward(x: Variable): Variable {
    return F.dropout(x, this.p, this.training, this.generator);
  }
}
