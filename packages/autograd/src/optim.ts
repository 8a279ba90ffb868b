/**
 * Optimizers with PyTorch's exact update rules. They update parameters in place and only touch
 * parameters that require grad and have a gradient (a frozen parameter is never updated).
 */
import { Tensor, ops, kernels, zerosLike, type FloatArray } from '@fpt-ts/tensor';
import type { Parameter } from './variable';

export interface OptimizerState {
  step: number;
  /** Per-parameter buffers by parameter index, e.g. { m, v } for Adam, { momentum } for SGD. */
  buffers: Record<string, Tensor>[];
  /**
   * Per-parameter update counts (PyTorch keeps `step` per parameter: a parameter skipped for lack of a
   * gradient does not advance its Adam bias correction). Absent in older states: `step` is used.
   */
  paramSteps?: number[];
}

export abstract class Optimizer {
  readonly params: Parameter[];
  stepCount = 0;
  protected buffers: Record<string, Tensor>[];
  /** How many updates each parameter has received. */
  protected paramSteps: number[];

  constructor(params: Iterable<Parameter>, public lr: number) {
    const all = [...params];
    const seen = new Map<Parameter, number>();
    all.forEach((p, i) => {
      // the same parameter twice would be updated twice per step: refused (PyTorch warns of it)
      if (seen.has(p)) throw new Error(`optimizer: parameter ${p.name} (#${seen.get(p)} and #${i}, shape [${p.shape.join(',')}]) is listed twice`);
      seen.set(p, i);
    });
    this.params = all.filter((p) => p.requiresGrad);
    this.buffers = this.params.map(() => ({}));
    this.paramSteps = this.params.map(() => 0);
  }

  zeroGrad(): void {
    for (const p of this.params) p.grad = null;
  }

  abstract step(): void;

  /** The parameters this step updates (still requiring grad, with a gradient), counting their updates. */
  protected paramsToUpdate(): [Parameter, number][] {
    const out: [Parameter, number][] = [];
    this.params.forEach((p, i) => {
      if (!p.requiresGrad || p.grad === null) return;
      this.paramSteps[i]++;
      out.push([p, i]);
    });
    return out;
  }

  /** A snapshot: buffers are copied, so later steps (Adam updates its moments in place) do not change it. */
  stateDict(): OptimizerState {
    return {
      step: this.stepCount,
      buffers: this.buffers.map((b) => Object.fromEntries(Object.entries(b).map(([k, t]) => [k, t.clone()]))),
      paramSteps: [...this.paramSteps],
    };
  }

  loadStateDict(state: OptimizerState): void {
    if (state.buffers.length !== this.params.length || (state.paramSteps && state.paramSteps.length !== this.params.length)) {
      throw new Error(`optimizer state holds ${state.buffers.length} parameters, this optimizer has ${this.params.length}`);
    }
    state.buffers.forEach((b, i) => {
      for (const [k, t] of Object.entries(b)) {
        if (t.size !== this.params[i].size) throw new Error(`optimizer state '${k}' of parameter ${i} has ${t.size} elements, expected ${this.params[i].size}`);
      }
    });
    this.stepCount = state.step;
    this.buffers = state.buffers.map((b) => Object.fromEntries(Object.entries(b).map(([k, t]) => [k, t.clone()])));
    this.paramSteps = state.paramSteps ? [...state.paramSteps] : this.params.map(() => state.step);
  }
}

/** SGD with optional momentum, dampening, Nesterov and L2 weight decay (torch.optim.SGD). */
export class SGD extends Optimizer {
  constructor(params: Iterable<Parameter>, lr: number, readonly options: { momentum?: number; dampening?: number; nesterov?: boolean; weightDecay?: number } = {}) {
    super(params, lr);
  }

  step(): void {
    const { momentum = 0, dampening = 0, nesterov = false, weightDecay = 0 } = this.options;
    this.stepCount++;
    for (const [p, i] of this.paramsToUpdate()) {
      let g = p.grad!;
      if (weightDecay !== 0) g = ops.add(g, ops.mul(p.data, weightDecay));
      if (momentum !== 0) {
        const prev = this.buffers[i].momentum;
        // first step: buf = g ; then buf = momentum·buf + (1 − dampening)·g
        const buf = prev === undefined ? g.clone() : ops.add(ops.mul(prev, momentum), ops.mul(g, 1 - dampening));
        this.buffers[i].momentum = buf;
        g = nesterov ? ops.add(g, ops.mul(buf, momentum)) : buf;
      }
      p.data = ops.sub(p.data, ops.mul(g, this.lr)).astype(p.data.dtype);
    }
  }
}

export interface AdamOptions {
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

/** torch.optim.Adam: L2 weight decay added to the gradient. */
export class Adam extends Optimizer {
  protected readonly decoupled: boolean = false;
  readonly betas: [number, number];
  readonly eps: number;
  readonly weightDecay: number;

  constructor(params: Iterable<Parameter>, lr = 1e-3, options: AdamOptions = {}) {
    super(params, lr);
    this.betas = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0;
  }

  step(): void {
    this.stepCount++;
    for (const [p, i] of this.paramsToUpdate()) {
      const buf = this.buffers[i];
      buf.m ??= zerosLike(p.data);
      buf.v ??= zerosLike(p.data);
      p.data = p.data.contiguous(); // updated in place below
      const grad = p.grad!.astype(p.data.dtype).contiguous();
      kernels().adam({
        param: p.data.data as FloatArray, grad: grad.data as FloatArray, m: buf.m.data as FloatArray, v: buf.v.data as FloatArray,
        lr: this.lr, beta1: this.betas[0], beta2: this.betas[1], eps: this.eps,
        weightDecay: this.weightDecay, decoupled: this.decoupled, step: this.paramSteps[i],
      });
    }
  }
}

/** torch.optim.AdamW: decoupled weight decay (default 0.01, as PyTorch). */
export class AdamW extends Adam {
  protected override readonly decoupled: boolean = true;

  constructor(params: Iterable<Parameter>, lr = 1e-3, options: AdamOptions = {}) {
    super(params, lr, { ...options, weightDecay: options.weightDecay ?? 0.01 });
  }
}

/**
 * Scale the gradients so their global L2 norm is at most maxNorm (torch.nn.utils.clip_grad_norm_:
 * coefficient maxNorm / (norm + 1e-6), applied only when below 1). Returns the norm before clipping.
 */
export function clipGradNorm(params: Iterable<Parameter>, maxNorm: number): number {
  const withGrad = [...params].filter((p) => p.grad !== null);
  let sq = 0;
  for (const p of withGrad) {
    const g = p.grad!.contiguous().data;
    for (let i = 0; i < g.length; i++) sq += g[i] * g[i];
  }
  const norm = Math.sqrt(sq);
  const coef = maxNorm / (norm + 1e-6);
  if (coef < 1) for (const p of withGrad) p.grad = ops.mul(p.grad!, coef).astype(p.grad!.dtype);
  return norm;
}
