/**
 * Reverse-mode autograd.
 *
 * A `Variable` wraps a tensor. Ops on variables (functional.ts) compute their value with tensor ops and,
 * when some input requires a gradient, record a `Node` holding the inputs and a backward closure.
 * `backward()` walks the recorded graph in reverse topological order, asks each node for the gradients
 * of the inputs that need one, accumulates them (a value used twice gets both contributions), adds the
 * results into the leaves' `.grad`, and releases the graph.
 *
 * Frozen parameters (`requiresGrad = false`) are why `needs` exists: a node computes no gradient for an
 * input that does not need one, so no weight-gradient kernel runs for a frozen weight, while gradients
 * still flow through the op to the inputs that do need them.
 */
import { Tensor, ops, fmt, full, type Axes, type Shape } from '@fpt-ts/tensor';
// functional.ts imports this module too; its functions are only looked up at call time, so the cycle is safe.
import * as F from './functional';

/** Gradients for an op's inputs, null for inputs that need none (never computed). */
export type BackwardFn = (gradOut: Tensor, needs: readonly boolean[]) => (Tensor | null)[];

export interface Node {
  op: string;
  inputs: Variable[];
  backward: BackwardFn;
}

export class Variable {
  data: Tensor;
  grad: Tensor | null = null;
  requiresGrad: boolean;
  /** The op that produced this variable (null for leaves, and after the graph is released). */
  gradFn: Node | null = null;
  /** Produced by an op (not a leaf), even after its graph was released. */
  isOutput = false;
  name: string;

  constructor(data: Tensor, options: { requiresGrad?: boolean; name?: string } = {}) {
    this.data = data;
    this.requiresGrad = options.requiresGrad ?? false;
    this.name = options.name ?? '';
  }

  get shape(): readonly number[] { return this.data.shape; }
  get ndim(): number { return this.data.ndim; }
  get size(): number { return this.data.size; }
  get dtype() { return this.data.dtype; }
  /** Created by the user, not by an op: gradients accumulate into `.grad` here. */
  get isLeaf(): boolean { return !this.isOutput; }

  item(): number { return this.data.item(); }
  toArray() { return this.data.toArray(); }

  /** The same data, cut from the graph. */
  detach(): Variable { return new Variable(this.data); }

  zeroGrad(): void { this.grad = null; }

  /**
   * Backpropagate from this variable. A scalar needs no seed gradient; otherwise pass dL/dthis.
   * The graph is released afterwards unless `retainGraph`.
   */
  backward(gradOutput?: Tensor, options: { retainGraph?: boolean } = {}): void {
    backward(this, gradOutput, options.retainGraph ?? false);
  }

  // Method forms of the differentiable ops in functional.ts (x.add(y) is F.add(x, y)).
  add(b: VarLike): Variable { return F.add(this, b); }
  sub(b: VarLike): Variable { return F.sub(this, b); }
  mul(b: VarLike): Variable { return F.mul(this, b); }
  div(b: VarLike): Variable { return F.div(this, b); }
  pow(b: VarLike): Variable { return F.pow(this, b); }
  neg(): Variable { return F.neg(this); }
  exp(): Variable { return F.exp(this); }
  log(): Variable { return F.log(this); }
  sqrt(): Variable { return F.sqrt(this); }
  square(): Variable { return F.square(this); }
  tanh(): Variable { return F.tanh(this); }
  sigmoid(): Variable { return F.sigmoid(this); }
  relu(): Variable { return F.relu(this); }
  gelu(): Variable { return F.gelu(this); }
  matmul(b: Variable): Variable { return F.matmul(this, b); }
  sum(axes?: Axes, keepdim = false): Variable { return F.sum(this, axes, keepdim); }
  mean(axes?: Axes, keepdim = false): Variable { return F.mean(this, axes, keepdim); }
  max(axes?: Axes, keepdim = false): Variable { return F.max(this, axes, keepdim); }
  softmax(axis = -1): Variable { return F.softmax(this, axis); }
  logSoftmax(axis = -1): Variable { return F.logSoftmax(this, axis); }
  reshape(...shape: number[]): Variable { return F.reshape(this, shape); }
  permute(...axes: number[]): Variable { return F.permute(this, axes); }
  transpose(a = -2, b = -1): Variable { return F.transpose(this, a, b); }
  slice(axis: number, start: number, end?: number, step = 1): Variable { return F.slice(this, axis, start, end, step); }
  narrow(axis: number, start: number, length: number): Variable { return F.narrow(this, axis, start, length); }
  select(axis: number, index: number): Variable { return F.select(this, axis, index); }
  expand(...shape: number[]): Variable { return F.expand(this, shape); }
  squeeze(axis?: number): Variable { return F.squeeze(this, axis); }
  unsqueeze(axis: number): Variable { return F.unsqueeze(this, axis); }

  toString(): string {
    return `Variable${this.name ? ` '${this.name}'` : ''}(${fmt(this.shape)}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }
}

/** A trainable tensor of a module. `requiresGrad = false` freezes it. */
export class Parameter extends Variable {
  constructor(data: Tensor, options: { requiresGrad?: boolean; name?: string } = {}) {
    super(data, { requiresGrad: options.requiresGrad ?? true, name: options.name });
  }
}

// -------------------------------------------------------------------------------------------------
// Grad mode

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Run `fn` without recording a graph (inference, evaluation, optimizer updates). */
export function noGrad<T>(fn: () => T): T {
  const previous = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = previous;
  }
}

// -------------------------------------------------------------------------------------------------
// Counting gradient computations (to prove frozen weights cost nothing)

const gradCounts = new Map<string, number>();

/** How many input gradients each `op:inputIndex` computed since the last reset. */
export function gradientCounts(): ReadonlyMap<string, number> {
  return gradCounts;
}
export function resetGradientCounts(): void {
  gradCounts.clear();
}

// -------------------------------------------------------------------------------------------------
// Recording

/**
 * Wrap an op's output. Records a node only when grad mode is on and some input requires grad; the
 * output then requires grad too.
 */
export function record(op: string, out: Tensor, inputs: Variable[], backward: BackwardFn): Variable {
  const needs = gradEnabled && inputs.some((v) => v.requiresGrad);
  const v = new Variable(out, { requiresGrad: needs });
  if (needs) {
    v.gradFn = { op, inputs, backward };
    v.isOutput = true;
  }
  return v;
}

/** Numbers and tensors become constant variables. */
export type VarLike = Variable | Tensor | number;

/** A constant variable for a number or tensor (numbers take `like`'s float dtype). */
export function lift(x: VarLike, like?: Variable): Variable {
  if (x instanceof Variable) return x;
  if (x instanceof Tensor) return new Variable(x);
  return new Variable(full([], x, like?.dtype === 'float64' ? 'float64' : 'float32'));
}

// -------------------------------------------------------------------------------------------------
// The backward pass

function topologicalOrder(root: Variable): Variable[] {
  // iterative DFS (graphs of deep models would overflow a recursive one)
  const order: Variable[] = [];
  const visited = new Set<Variable>();
  const stack: [Variable, number][] = [[root, 0]];
  visited.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const [v, i] = top;
    const inputs = v.gradFn?.inputs ?? [];
    if (i < inputs.length) {
      top[1]++;
      const child = inputs[i];
      if (child.requiresGrad && !visited.has(child)) {
        visited.add(child);
        stack.push([child, 0]);
      }
    } else {
      stack.pop();
      order.push(v);
    }
  }
  return order; // inputs before the variables computed from them
}

function backward(root: Variable, seed: Tensor | undefined, retainGraph: boolean): void {
  if (!root.requiresGrad) throw new Error(`backward: ${root} does not require grad (no parameter it depends on requires grad)`);
  if (seed === undefined) {
    if (root.size !== 1) throw new Error(`backward: a gradient is needed for non-scalar output of shape ${fmt(root.shape)}`);
    seed = full(root.shape, 1, root.dtype === 'float64' ? 'float64' : 'float32'); // not data·0 + 1: a NaN or inf loss still seeds 1
  } else if (!sameShape(seed.shape, root.shape)) {
    throw new Error(`backward: gradient ${fmt(seed.shape)} does not match output ${fmt(root.shape)}`);
  }
  const order = topologicalOrder(root);
  const grads = new Map<Variable, Tensor>([[root, seed]]);
  for (let i = order.length - 1; i >= 0; i--) {
    const v = order[i];
    const g = grads.get(v);
    grads.delete(v);
    if (g === undefined) continue;
    const node = v.gradFn;
    if (node === null) {
      if (v.isOutput) throw new Error(`backward: the graph through ${v} was already released; pass { retainGraph: true } to backward twice`);
      // leaf: accumulate (stored contiguous: a broadcast gradient arrives as a stride-0 view)
      v.grad = v.grad === null ? g.contiguous() : ops.add(v.grad, g);
      continue;
    }
    const needs = node.inputs.map((x) => x.requiresGrad);
    const inputGrads = node.backward(g, needs);
    node.inputs.forEach((x, j) => {
      const gx = inputGrads[j];
      if (!needs[j] || gx === null || gx === undefined) return;
      if (!sameShape(gx.shape, x.shape)) {
        throw new Error(`backward of ${node.op}: gradient ${fmt(gx.shape)} for input ${j} of shape ${fmt(x.shape)}`);
      }
      const key = `${node.op}:${j}`;
      gradCounts.set(key, (gradCounts.get(key) ?? 0) + 1);
      const prev = grads.get(x);
      grads.set(x, prev === undefined ? gx : ops.add(prev, gx));
    });
    if (!retainGraph) v.gradFn = null;
  }
}

function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((s, i) => s === b[i]);
}
