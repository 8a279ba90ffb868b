/**
 * @fpt-ts/tensor: strided tensors over typed arrays, the ops on them, and the kernel backends.
 */
import { registerBackend, preferBackend } from './backend';
import { createRefBackend, refKernels } from './backends/ref';
import { createCpuBackend } from './backends/cpu';
import { registerGpujsBackend } from './backends/gpujs';

registerBackend('ref', createRefBackend);
registerBackend('cpu', () => createCpuBackend());
preferBackend('cpu', () => true);
registerGpujsBackend(); // after cpu's preferBackend: default only where a hardware GPU mode exists

export * from './kernels';
export * from './backend';
export * from './shape';
export * from './random';
export * from './tensor';
export * as ops from './ops';
export type { Axes, Operand } from './ops';
export { refKernels };
export { createCpuBackend, cpuEngine, fmaPeak, type CpuOptions } from './backends/cpu';
export {
  GPU_MODES, createGpujsBackend, gpuModesAvailable, probeGpuMode, probeGpuModes, chooseGpuMode, setGpuMode, emptyTimes,
  type GpuMode, type GpujsBackend, type StageTimes,
} from './backends/gpujs';
