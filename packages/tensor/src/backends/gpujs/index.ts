/**
 * The `gpujs` backend (see backend.ts) and its mode selection (modes.ts). Importing this module loads
 * neither gpu.js nor headless-gl.
 */
import { preferBackend, registerBackend } from '../../backend';
import { createGpujsBackend } from './backend';
import { hardwareGpuAvailable, parseGpuMode } from './modes';

export { createGpujsBackend, type GpujsBackend, type GpujsBackendOptions } from './backend';
export {
  GPU_MODES, chooseGpuMode, gpuModesAvailable, hardwareGpuAvailable, parseGpuMode, probeGpuMode, probeGpuModes,
  requestedGpuMode, type GpuMode, type ModeChoice, type ModeProbe, type RequestedGpuMode,
} from './modes';
export { GpuEngine, emptyTimes, type StageTimes } from './engine';

/**
 * Register `gpujs` (created on first use, in the FPT_GPU_MODE mode) and make it the default backend only
 * where a hardware GPU mode exists (`hardwareGpuAvailable`: headless-gl on a non-software renderer).
 */
export function registerGpujsBackend(): void {
  registerBackend('gpujs', () => createGpujsBackend());
  preferBackend('gpujs', hardwareGpuAvailable, 0);
}

/**
 * For the CLI's `--gpu-mode`: validate the mode, set FPT_GPU_MODE, and drop an already created `gpujs`
 * instance so the next `getBackend('gpujs')` / `setBackend('gpujs')` runs in that mode. Call it before
 * selecting the backend.
 */
export function setGpuMode(mode: string): void {
  process.env.FPT_GPU_MODE = parseGpuMode(mode);
  registerBackend('gpujs', () => createGpujsBackend());
}
