/**
 * Tensor: a shape, strides and an offset over a flat typed storage.
 *
 * Views (reshape when possible, permute/transpose, slice/narrow, expand, squeeze/unsqueeze) share the
 * storage and never copy; `contiguous()` copies only when the layout needs it. Values are float32
 * (float64 exists for gradcheck); ids and labels are int32. Tensors are values: ops return new tensors
 * and never write into their inputs (the optimizers' in-place updates are the documented exception).
 */
import type { DataArray, Strided } from './kernels';
import { kernels } from './backend';
import { Generator, getDefaultGenerator } from './random';
import { broadcastShapes, checkShape, contiguousStrides, fmt, normAxis, numel, shapesEqual, type Shape } from './shape';

export type DType = 'float32' | 'float64' | 'int32';
export type FloatDType = 'float32' | 'float64';

export type ArrayFor<D extends DType> = D extends 'float32' ? Float32Array : D extends 'float64' ? Float64Array : Int32Array;

export function allocate(dtype: DType, n: number): DataArray {
  switch (dtype) {
    case 'float32': return new Float32Array(n);
    case 'float64': return new Float64Array(n);
    case 'int32': return new Int32Array(n);
  }
}

export function dtypeOf(data: DataArray): DType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  return 'int32';
}

/** Nested number arrays as accepted by `tensor()`. */
export type NestedArray = number | NestedArray[];

export class Tensor {
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
  /** The storage this tensor views (shared by its views). */
  readonly data: DataArray;
  readonly dtype: DType;

  constructor(data: DataArray, shape: Shape, strides?: Shape, offset = 0) {
    checkShape('Tensor', shape);
    this.data = data;
    this.shape = Object.freeze([...shape]);
    this.strides = Object.freeze(strides ? [...strides] : contiguousStrides(shape));
    this.offset = offset;
    this.dtype = dtypeOf(data);
    if (strides && strides.length !== shape.length) {
      throw new Error(`Tensor: ${strides.length} strides for shape ${fmt(shape)}`);
    }
    if (strides === undefined && offset === 0 && data.length !== numel(shape)) {
      throw new Error(`Tensor: storage of ${data.length} elements does not match shape ${fmt(shape)} (${numel(shape)} elements)`);
    }
  }

  get ndim(): number { return this.shape.length; }
  get size(): number { return numel(this.shape); }

  /** Size of one dimension (negative axes count from the end). */
  dim(axis: number): number { return this.shape[normAxis('dim', axis, this.ndim)]; }

  isFloat(): boolean { return this.dtype !== 'int32'; }

  /** Row-major with no gaps and offset 0, so `data` can be handed to a kernel as it is. */
  isContiguous(): boolean {
    if (this.offset !== 0 || this.data.length !== this.size) return false;
    let s = 1;
    for (let d = this.ndim - 1; d >= 0; d--) {
      if (this.shape[d] !== 1 && this.strides[d] !== s) return false;
      s *= this.shape[d];
    }
    return true;
  }

  /** The tensor itself when contiguous, else a contiguous copy. */
  contiguous(): Tensor {
    if (this.isContiguous()) return this;
    const out = allocate(this.dtype, this.size);
    kernels().copyStrided(this.asStrided(), this.shape, out);
    return new Tensor(out, this.shape);
  }

  /** A fresh contiguous copy that shares nothing with this tensor. */
  clone(): Tensor {
    const out = allocate(this.dtype, this.size);
    if (this.isContiguous()) out.set(this.data);
    else kernels().copyStrided(this.asStrided(), this.shape, out);
    return new Tensor(out, this.shape);
  }

  /** This tensor as a kernel operand. */
  asStrided(): Strided {
    return { data: this.data, offset: this.offset, strides: this.strides };
  }

  /** The data as a contiguous typed array (a copy unless already contiguous). */
  toTypedArray(): DataArray {
    return this.contiguous().data;
  }

  /** Nested JS arrays (for printing and tests). */
  toArray(): NestedArray {
    const c = this.contiguous().data;
    if (this.ndim === 0) return c[0];
    const build = (d: number, base: number): NestedArray[] => {
      const n = this.shape[d];
      const step = numel(this.shape.slice(d + 1));
      const out: NestedArray[] = [];
      for (let i = 0; i < n; i++) out.push(d === this.ndim - 1 ? c[base + i] : build(d + 1, base + i * step));
      return out;
    };
    return build(0, 0);
  }

  /** The value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new Error(`item: tensor of shape ${fmt(this.shape)} has ${this.size} elements, not 1`);
    return this.data[this.offset];
  }

  /** Element at a full index. */
  get(...index: number[]): number {
    if (index.length !== this.ndim) throw new Error(`get: ${index.length} indices for a ${this.ndim}-d tensor`);
    let o = this.offset;
    index.forEach((i, d) => {
      const ii = i < 0 ? i + this.shape[d] : i;
      if (!Number.isInteger(i) || ii < 0 || ii >= this.shape[d]) throw new Error(`get: index ${i} out of range for dim ${d} of size ${this.shape[d]}`);
      o += ii * this.strides[d];
    });
    return this.data[o];
  }

  toString(): string {
    return `Tensor(${fmt(this.shape)}, ${this.dtype}) ${JSON.stringify(this.size <= 64 ? this.toArray() : '…')}`;
  }

  // ---------------------------------------------------------------------------------------------
  // Views: share storage, never copy

  /** New shape over the same elements: a view when the strides allow it, else a contiguous copy. */
  reshape(...shapeArg: (number | Shape)[]): Tensor {
    const shape = resolveShape('reshape', flattenShapeArg(shapeArg), this.size, this.shape);
    const strides = viewStrides(this.shape, this.strides, shape);
    if (strides !== null) return new Tensor(this.data, shape, strides, this.offset);
    return this.contiguous().reshape(shape);
  }

  /** Like reshape, but throws instead of copying (PyTorch's view). */
  view(...shapeArg: (number | Shape)[]): Tensor {
    const shape = resolveShape('view', flattenShapeArg(shapeArg), this.size, this.shape);
    const strides = viewStrides(this.shape, this.strides, shape);
    if (strides === null) {
      throw new Error(`view: shape ${fmt(shape)} is incompatible with the strides of a ${fmt(this.shape)} view; use reshape() or contiguous()`);
    }
    return new Tensor(this.data, shape, strides, this.offset);
  }

  flatten(): Tensor { return this.reshape(this.size); }

  permute(...axesArg: (number | Shape)[]): Tensor {
    const axes = flattenShapeArg(axesArg).map((a) => normAxis('permute', a, this.ndim));
    if (axes.length !== this.ndim || new Set(axes).size !== this.ndim) {
      throw new Error(`permute: axes [${axes.join(',')}] are not a permutation of ${this.ndim} dims (shape ${fmt(this.shape)})`);
    }
    return new Tensor(this.data, axes.map((a) => this.shape[a]), axes.map((a) => this.strides[a]), this.offset);
  }

  /** Swap two axes (default: the last two). */
  transpose(a = -2, b = -1): Tensor {
    const axes = [...Array(this.ndim).keys()];
    const i = normAxis('transpose', a, this.ndim), j = normAxis('transpose', b, this.ndim);
    [axes[i], axes[j]] = [axes[j], axes[i]];
    return this.permute(axes);
  }

  /** Elements start..end-1 (with step) along one axis; negative bounds count from the end. */
  slice(axis: number, start: number, end?: number, step = 1): Tensor {
    const ax = normAxis('slice', axis, this.ndim);
    const n = this.shape[ax];
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + n : v, 0), n);
    const s = clamp(start), e = clamp(end ?? n);
    if (!Number.isInteger(step) || step < 1) throw new Error(`slice: step must be a positive integer, got ${step}`);
    const len = Math.max(0, Math.ceil((e - s) / step));
    const shape = [...this.shape];
    const strides = [...this.strides];
    shape[ax] = len;
    strides[ax] = this.strides[ax] * step;
    return new Tensor(this.data, shape, strides, this.offset + (len > 0 ? s * this.strides[ax] : 0));
  }

  /** `length` elements from `start` along `axis` (PyTorch's narrow: a negative start counts from the end), bounds checked. */
  narrow(axis: number, start: number, length: number): Tensor {
    const ax = normAxis('narrow', axis, this.ndim);
    const s = start < 0 ? start + this.shape[ax] : start;
    if (!Number.isInteger(s) || !Number.isInteger(length) || s < 0 || length < 0 || s + length > this.shape[ax]) {
      throw new Error(`narrow: [${start}, ${start + length}) out of range for dim ${ax} of size ${this.shape[ax]} (shape ${fmt(this.shape)})`);
    }
    return this.slice(ax, s, s + length);
  }

  /** Index one position along an axis, removing it. */
  select(axis: number, index: number): Tensor {
    const ax = normAxis('select', axis, this.ndim);
    const i = index < 0 ? index + this.shape[ax] : index;
    if (i < 0 || i >= this.shape[ax]) throw new Error(`select: index ${index} out of range for dim ${ax} of size ${this.shape[ax]}`);
    return this.narrow(ax, i, 1).squeeze(ax);
  }

  /** Broadcast to a larger shape by giving size-1 (or new leading) dims stride 0. */
  expand(...shapeArg: (number | Shape)[]): Tensor {
    const shape = flattenShapeArg(shapeArg);
    if (shape.length < this.ndim) throw new Error(`expand: cannot expand ${fmt(this.shape)} to fewer dims ${fmt(shape)}`);
    const lead = shape.length - this.ndim;
    const strides = shape.map((s, d) => {
      if (d < lead) {
        if (!Number.isInteger(s) || s < 0) throw new Error(`expand: cannot expand ${fmt(this.shape)} to ${fmt(shape)} (new leading dim ${d} must be a size, got ${s})`);
        return 0;
      }
      const own = this.shape[d - lead];
      if (s === -1 || s === own) return this.strides[d - lead];
      if (own === 1 && Number.isInteger(s) && s >= 0) return 0;
      throw new Error(`expand: cannot expand ${fmt(this.shape)} to ${fmt(shape)} (dim ${d}: ${own} -> ${s})`);
    });
    const out = shape.map((s, d) => (s === -1 ? this.shape[d - lead] : s));
    return new Tensor(this.data, out, strides, this.offset);
  }

  broadcastTo(shape: Shape): Tensor {
    return shapesEqual(shape, this.shape) ? this : this.expand(shape);
  }

  /** Remove size-1 dims (all, or the given axis). */
  squeeze(axis?: number): Tensor {
    if (axis === undefined) {
      const keep = this.shape.map((s, d) => (s === 1 ? -1 : d)).filter((d) => d >= 0);
      return new Tensor(this.data, keep.map((d) => this.shape[d]), keep.map((d) => this.strides[d]), this.offset);
    }
    const ax = normAxis('squeeze', axis, this.ndim);
    if (this.shape[ax] !== 1) return this;
    return new Tensor(this.data, this.shape.filter((_, d) => d !== ax), this.strides.filter((_, d) => d !== ax), this.offset);
  }

  /** Insert a size-1 dim at `axis` (0..ndim; negative counts from the end of the result). */
  unsqueeze(axis: number): Tensor {
    const ax = normAxis('unsqueeze', axis, this.ndim + 1);
    const shape = [...this.shape], strides = [...this.strides];
    shape.splice(ax, 0, 1);
    strides.splice(ax, 0, ax < this.ndim ? this.strides[ax] * this.shape[ax] : 1);
    return new Tensor(this.data, shape, strides, this.offset);
  }

  /** Convert element type (a copy; int conversion truncates toward zero like torch). */
  astype(dtype: DType): Tensor {
    if (dtype === this.dtype) return this;
    const src = this.contiguous().data;
    const out = allocate(dtype, this.size);
    if (dtype === 'int32') for (let i = 0; i < src.length; i++) out[i] = Math.trunc(src[i]);
    else out.set(src);
    return new Tensor(out, this.shape);
  }

  float(): Tensor { return this.astype('float32'); }
  double(): Tensor { return this.astype('float64'); }
  int(): Tensor { return this.astype('int32'); }
}

// -------------------------------------------------------------------------------------------------
// Shape helpers for views

function flattenShapeArg(args: (number | Shape)[]): number[] {
  if (args.length === 1 && Array.isArray(args[0])) return [...(args[0] as Shape)];
  return args as number[];
}

/** Fill in a single -1 and check the element count. */
function resolveShape(op: string, shape: number[], size: number, from: Shape): number[] {
  const unknown = shape.indexOf(-1);
  if (shape.filter((s) => s === -1).length > 1) throw new Error(`${op}: only one dimension can be -1, got ${fmt(shape)}`);
  const known = shape.reduce((p, s) => (s === -1 ? p : p * s), 1);
  const out = [...shape];
  if (unknown >= 0) {
    if (known === 0 || size % known !== 0) throw new Error(`${op}: cannot reshape ${fmt(from)} (${size} elements) into ${fmt(shape)}`);
    out[unknown] = size / known;
  }
  checkShape(op, out);
  if (numel(out) !== size) throw new Error(`${op}: cannot reshape ${fmt(from)} (${size} elements) into ${fmt(shape)} (${numel(out)} elements)`);
  return out;
}

/**
 * Strides that present `oldShape`/`oldStrides` as `newShape` without copying, or null when impossible
 * (PyTorch's computeStride: each run of merged old dims must be contiguous within itself).
 */
function viewStrides(oldShape: Shape, oldStrides: Shape, newShape: Shape): number[] | null {
  if (numel(oldShape) === 0) return contiguousStrides(newShape); // any strides will do for no elements
  if (oldShape.length === 0) return newShape.map(() => 1); // a scalar viewed as [1, 1, ...]
  const newStrides = new Array<number>(newShape.length);
  let viewD = newShape.length - 1;
  let chunkBase = oldStrides[oldStrides.length - 1] ?? 1;
  let tensorNumel = 1, viewNumel = 1;
  for (let d = oldShape.length - 1; d >= 0; d--) {
    tensorNumel *= oldShape[d];
    // a chunk ends where the old dims stop being mergeable
    if (d === 0 || (oldShape[d - 1] !== 1 && oldStrides[d - 1] !== tensorNumel * chunkBase)) {
      while (viewD >= 0 && (viewNumel < tensorNumel || newShape[viewD] === 1)) {
        newStrides[viewD] = viewNumel * chunkBase;
        viewNumel *= newShape[viewD];
        viewD--;
      }
      if (viewNumel !== tensorNumel) return null;
      if (d > 0) {
        chunkBase = oldStrides[d - 1];
        tensorNumel = 1;
        viewNumel = 1;
      }
    }
  }
  return viewD === -1 ? newStrides : null;
}

// -------------------------------------------------------------------------------------------------
// Creation

export interface CreateOptions {
  dtype?: DType;
}

/** A tensor from nested arrays, or from a flat array plus a shape. */
export function tensor(values: NestedArray | ArrayLike<number>, shapeOrOptions?: Shape | CreateOptions, options?: CreateOptions): Tensor {
  const opts = (Array.isArray(shapeOrOptions) ? options : (shapeOrOptions as CreateOptions | undefined)) ?? {};
  const dtype = opts.dtype ?? (values instanceof Float64Array ? 'float64' : values instanceof Int32Array ? 'int32' : 'float32');
  if (Array.isArray(shapeOrOptions)) return fromArray(values as ArrayLike<number>, shapeOrOptions as Shape, dtype);
  if (typeof values === 'number') return fromArray([values], [], dtype);
  if (!Array.isArray(values)) return fromArray(values, [values.length], dtype);
  const shape: number[] = [];
  for (let v: NestedArray = values; Array.isArray(v); v = v[0]) shape.push(v.length);
  const flat: number[] = [];
  const walk = (v: NestedArray, d: number): void => {
    if (d === shape.length) {
      if (typeof v !== 'number') throw new Error(`tensor: ragged nested array (expected a number at depth ${d})`);
      flat.push(v);
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[d]) throw new Error(`tensor: ragged nested array at depth ${d} (expected length ${shape[d]})`);
    for (const x of v) walk(x, d + 1);
  };
  walk(values, 0);
  return fromArray(flat, shape, dtype);
}

/** A tensor over a copy of `values` with the given shape. */
export function fromArray(values: ArrayLike<number>, shape: Shape, dtype: DType = 'float32'): Tensor {
  checkShape('fromArray', shape);
  if (values.length !== numel(shape)) {
    throw new Error(`fromArray: ${values.length} values do not fill shape ${fmt(shape)} (${numel(shape)} elements)`);
  }
  const data = allocate(dtype, values.length);
  data.set(values as ArrayLike<number>);
  return new Tensor(data, shape);
}

export function full(shape: Shape, value: number, dtype: DType = 'float32'): Tensor {
  checkShape('full', shape);
  const data = allocate(dtype, numel(shape));
  if (value !== 0) data.fill(value);
  return new Tensor(data, shape);
}

export function zeros(shape: Shape, dtype: DType = 'float32'): Tensor { return full(shape, 0, dtype); }
export function ones(shape: Shape, dtype: DType = 'float32'): Tensor { return full(shape, 1, dtype); }
export function zerosLike(t: Tensor): Tensor { return full(t.shape, 0, t.dtype); }
export function onesLike(t: Tensor): Tensor { return full(t.shape, 1, t.dtype); }

/** start, start+step, … below end (like torch.arange). */
export function arange(start: number, end?: number, step = 1, dtype: DType = 'float32'): Tensor {
  if (end === undefined) { end = start; start = 0; }
  if (step === 0) throw new Error('arange: step must be non-zero');
  const n = Math.max(0, Math.ceil((end - start) / step));
  const data = allocate(dtype, n);
  for (let i = 0; i < n; i++) data[i] = start + i * step;
  return new Tensor(data, [n]);
}

export interface RandomOptions extends CreateOptions {
  generator?: Generator;
}

/** N(mean, std²) samples from a seeded generator. */
export function randn(shape: Shape, options: RandomOptions & { mean?: number; std?: number } = {}): Tensor {
  const g = options.generator ?? getDefaultGenerator();
  const t = zeros(shape, options.dtype ?? 'float32');
  for (let i = 0; i < t.data.length; i++) t.data[i] = g.normal(options.mean ?? 0, options.std ?? 1);
  return t;
}

/** U[lo, hi) samples from a seeded generator. */
export function uniform(shape: Shape, lo = 0, hi = 1, options: RandomOptions = {}): Tensor {
  const g = options.generator ?? getDefaultGenerator();
  const t = zeros(shape, options.dtype ?? 'float32');
  for (let i = 0; i < t.data.length; i++) t.data[i] = g.uniform(lo, hi);
  return t;
}

/** Integers uniform in [lo, hi) (int32). */
export function randint(shape: Shape, lo: number, hi: number, options: { generator?: Generator } = {}): Tensor {
  const g = options.generator ?? getDefaultGenerator();
  const t = zeros(shape, 'int32');
  for (let i = 0; i < t.data.length; i++) t.data[i] = g.randint(lo, hi);
  return t;
}

export { broadcastShapes };
