/**
 * The hand-written ONNX protobuf is accepted by onnxruntime and computes what it says. onnxruntime runs
 * in a child node process: under jest's per-file realm its native binding rejects the test's
 * Float32Array (a different realm's constructor).
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { onnxModel } from './onnx';
import { errorRatio, randomArray, range } from './harness';

/** Run `model` in onnxruntime-node on float32 inputs; returns the named output. */
function runOnnx(model: Uint8Array, inputs: Record<string, { data: Float32Array; dims: number[] }>, output: string): Float32Array {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fpt-onnx-'));
  try {
    fs.writeFileSync(path.join(dir, 'model.onnx'), model);
    const feeds = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, { data: Array.from(v.data), dims: v.dims }]));
    fs.writeFileSync(path.join(dir, 'feeds.json'), JSON.stringify(feeds));
    const script = `
      const ort = require('onnxruntime-node');
      const fs = require('fs');
      (async () => {
        const feeds = JSON.parse(fs.readFileSync(process.argv[1] + '/feeds.json', 'utf8'));
        const s = await ort.InferenceSession.create(fs.readFileSync(process.argv[1] + '/model.onnx'));
        const t = {};
        for (const [k, v] of Object.entries(feeds)) t[k] = new ort.Tensor('float32', Float32Array.from(v.data), v.dims);
        const out = await s.run(t);
        process.stdout.write(JSON.stringify(Array.from(out[process.argv[2]].data)));
      })().catch((e) => { console.error(e); process.exit(1); });`;
    const stdout = execFileSync(process.execPath, ['-e', script, dir, output], { cwd: __dirname, encoding: 'utf8' });
    return Float32Array.from(JSON.parse(stdout) as number[]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('a MatMul model built by onnx.ts runs in onnxruntime and matches a float64 product', () => {
  const M = 5, K = 7, N = 3;
  const a = randomArray(M * K, 1), b = randomArray(K * N, 2);
  const bytes = onnxModel({
    nodes: [{ op: 'MatMul', inputs: ['A', 'B'], outputs: ['Y'] }],
    inputs: [{ name: 'A', shape: [M, K] }, { name: 'B', shape: [K, N] }],
    outputs: [{ name: 'Y', shape: [M, N] }],
  });
  const y = runOnnx(bytes, { A: { data: a, dims: [M, K] }, B: { data: b, dims: [K, N] } }, 'Y');
  const want = (i: number): number => {
    let s = 0;
    for (let k = 0; k < K; k++) s += a[Math.floor(i / N) * K + k] * b[k * N + (i % N)];
    return s;
  };
  expect(errorRatio(y, want, range(M * N), 1e-5, 1e-6)).toBeLessThanOrEqual(1);
});

test('attributes and initializers: LayerNormalization with epsilon, Softmax with axis', () => {
  const C = 4;
  const x = Float32Array.from([1, 2, 3, 4, -1, 0, 1, 10]);
  const bytes = onnxModel({
    nodes: [
      { op: 'LayerNormalization', inputs: ['X', 'G', 'B'], outputs: ['L'], attrs: [{ name: 'axis', int: -1 }, { name: 'epsilon', float: 1e-5 }] },
      { op: 'Softmax', inputs: ['L'], outputs: ['Y'], attrs: [{ name: 'axis', int: -1 }] },
    ],
    inputs: [{ name: 'X', shape: [2, C] }],
    outputs: [{ name: 'Y', shape: [2, C] }],
    initializers: [{ name: 'G', shape: [C], data: new Float32Array(C).fill(1) }, { name: 'B', shape: [C], data: new Float32Array(C) }],
  });
  const y = runOnnx(bytes, { X: { data: x, dims: [2, C] } }, 'Y');
  const want = new Float64Array(8);
  for (let r = 0; r < 2; r++) {
    const row = Array.from(x.subarray(r * C, r * C + C));
    const m = row.reduce((p, v) => p + v, 0) / C;
    const s = 1 / Math.sqrt(row.reduce((p, v) => p + (v - m) ** 2, 0) / C + 1e-5);
    const e = row.map((v) => Math.exp((v - m) * s));
    const z = e.reduce((p, v) => p + v, 0);
    e.forEach((v, c) => { want[r * C + c] = v / z; });
  }
  expect(errorRatio(y, (i) => want[i], range(8), 1e-4, 1e-6)).toBeLessThanOrEqual(1);
});
