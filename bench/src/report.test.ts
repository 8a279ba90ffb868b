/**
 * `--report`: the Markdown printed from results files, including the ceiling table and the across-runs
 * summary, computed from the rows (not copied), and a clear error for a bad file.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { report, reportRuns } from './report';

function writeRuns(rows: object[][]): string[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fpt-report-'));
  return rows.map((r, i) => {
    const f = path.join(dir, `run${i}.jsonl`);
    fs.writeFileSync(f, r.map((x) => JSON.stringify(x)).join('\n') + '\n');
    return f;
  });
}

const shape = '512x768x2304'; // 2·M·K·N = 1.812e9 flops
const flops = 2 * 512 * 768 * 2304;
const mm = (backend: string, gflops: number, minGflops?: number) => ({
  suite: 'matmul', backend, shape, ms: flops / (gflops * 1e6), gflops, ...(minGflops ? { min_ms: flops / (minGflops * 1e6) } : {}), load1: 1.2,
});

test('one run: the matmul table with best sample and ratios, and the GEMM-against-ceiling table', () => {
  const [f] = writeRuns([[
    mm('cpu', 66, 80), mm('tfjs-wasm', 22), mm('onnxruntime', 132),
    { suite: 'matmul-ceiling', backend: 'cpu', shape, ms: 1, gflops: 67.1, ceiling_gflops: 85.6, efficiency: 0.85, rounds: 21 },
  ]]);
  const md = report(f);
  expect(md).toContain('| 512×768×2304 | **66.0** | – | 22.0 | 132.0 | – | 80.0 | 3.00× | 0.50× |');
  expect(md).toContain('GEMM against the FMA ceiling measured alternately (21 rounds');
  expect(md).toContain('| cpu | 512×768×2304 | **67.1** | 85.6 | 85% |');
});

test('several runs: one line per run and GPT-2 shape, anchors of the same run', () => {
  const files = writeRuns([
    [mm('cpu', 60), mm('tfjs-wasm', 20)],
    [mm('cpu', 70, 77), mm('tfjs-wasm', 28), { suite: 'matmul-ceiling', backend: 'cpu', shape, ms: 1, gflops: 71, ceiling_gflops: 88, efficiency: 0.8 }],
  ]);
  const md = reportRuns(files);
  expect(md).toContain('| 1 | 512×768×2304 | **60.0** | – | 3.00× | – | – | – | – |');
  expect(md).toContain('| 2 | 512×768×2304 | **70.0** | 77.0 | 2.50× | – | 71.0 | 88.0 | 80% |');
});

test('a missing file or a line that is not JSON is named', () => {
  expect(() => report('/nonexistent/results.jsonl')).toThrow('bench results /nonexistent/results.jsonl not found');
  const [f] = writeRuns([[mm('cpu', 60)]]);
  fs.appendFileSync(f, '{"suite": \n');
  expect(() => report(f)).toThrow(`${f}:2: not a JSON line`);
});
