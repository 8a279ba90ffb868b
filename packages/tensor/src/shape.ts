/** Shape arithmetic shared by the tensor class and the ops. */

export type Shape = readonly number[];

export function fmt(shape: Shape): string {
  return `[${shape.join(',')}]`;
}

export function numel(shape: Shape): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

export function contiguousStrides(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = s;
    s *= shape[d];
  }
  return strides;
}

export function shapesEqual(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((s, i) => s === b[i]);
}

/** Normalize a possibly negative axis; `op` names the caller in the error. */
export function normAxis(op: string, axis: number, ndim: number): number {
  const a = axis < 0 ? axis + ndim : axis;
  if (!Number.isInteger(axis) || a < 0 || a >= ndim) {
    throw new Error(`${op}: axis ${axis} out of range for a ${ndim}-d tensor`);
  }
  return a;
}

/** numpy/PyTorch broadcasting: align trailing dims; each pair must match or contain a 1. */
export function broadcastShapes(op: string, ...shapes: Shape[]): number[] {
  const nd = Math.max(...shapes.map((s) => s.length));
  const out = new Array<number>(nd).fill(1);
  for (let d = 0; d < nd; d++) {
    for (const s of shapes) {
      const i = s.length - nd + d;
      if (i < 0) continue;
      const v = s[i];
      if (v === out[d] || v === 1) continue;
      if (out[d] === 1) { out[d] = v; continue; }
      throw new Error(`${op}: shapes ${shapes.map(fmt).join(' and ')} cannot be broadcast (dim ${d - nd}: ${out[d]} vs ${v})`);
    }
  }
  return out;
}

export function checkShape(op: string, shape: Shape): void {
  for (const s of shape) {
    if (!Number.isInteger(s) || s < 0) throw new Error(`${op}: invalid shape ${fmt(shape)} (dims must be non-negative integers)`);
  }
}
