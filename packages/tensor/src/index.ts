/**
 * @fpt-ts/tensor: strided tensors over typed arrays, the ops on them, and the kernel backends.
 */
import { registerBackend } from './backend';
import { createRefBackend, refKernels } from './backends/ref';

registerBackend('ref', createRefBackend);

export * from './kernels';
export * from './backend';
export * from './shape';
export * from './random';
export * from './tensor';
export * as ops from './ops';
export type { Axes, Operand } from './ops';
export { refKernels };
