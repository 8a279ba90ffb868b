/**
 * The bench backends, in report order. To add one (e.g. gpu.js modes): write backends/<name>.ts
 * exporting a BenchBackend (see types.ts) and add it to this list.
 */
import type { BenchBackend } from './types';
import { cpu1Bench, cpuBench, refBench } from './fpt';
import { naiveJsBench } from './naive-js';
import { tfjsWasmBench } from './tfjs-wasm';
import { onnxruntimeBench } from './onnxruntime';
import { gpujsBenches } from './gpujs';

export const BACKENDS: BenchBackend[] = [refBench, cpuBench, cpu1Bench, tfjsWasmBench, onnxruntimeBench, naiveJsBench, ...gpujsBenches];

export type { BenchBackend, Prepared, BenchOps } from './types';
