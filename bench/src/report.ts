/**
 * `npm run bench -- --report FILE`: the Markdown tables of a `--json` results file (the tables in
 * packages/tensor/README.md are printed by this from bench/results/, not typed by hand).
 */
import * as fs from 'fs';
import { matmulGflops } from './harness';

interface Row {
  suite: string;
  backend: string;
  shape: string;
  ms: number;
  gflops: number | null;
  min_ms?: number;
  load1?: number;
  valid?: boolean;
  forward_ms?: number;
  backward_ms?: number;
  backward_over_forward?: number;
  ceiling_gflops?: number;
  efficiency?: number;
  rounds?: number;
}

const MATMUL_BACKENDS = ['cpu', 'cpu:1t', 'tfjs-wasm', 'onnxruntime', 'naive-js'];
const ROW_BACKENDS = ['cpu', 'cpu:1t', 'tfjs-wasm', 'onnxruntime', 'ref'];

function table(header: string[], rows: string[][]): string {
  return [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

function shapesOf(rows: Row[], suite: string): string[] {
  return [...new Set(rows.filter((r) => r.suite === suite).map((r) => r.shape))];
}

function readRows(file: string): Row[] {
  if (!fs.existsSync(file)) throw new Error(`bench results ${file} not found`);
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l, i) => {
    try {
      return JSON.parse(l) as Row;
    } catch (e) {
      throw new Error(`${file}:${i + 1}: not a JSON line (${(e as Error).message})`);
    }
  }).filter((r) => r.valid !== false);
}

/**
 * The GPT-2 GEMM shapes across several runs, one line per (run, shape): `cpu` median and best sample,
 * its ratios to the anchors of the same run, and the alternating GEMM / FMA-ceiling figures if recorded.
 */
export function reportRuns(files: string[]): string {
  const lines: string[][] = [];
  files.forEach((file, run) => {
    const rows = readRows(file);
    const get = (suite: string, shape: string, backend: string) => rows.find((r) => r.suite === suite && r.shape === shape && r.backend === backend);
    for (const shape of GPT2_SHAPES) {
      const cpu = get('matmul', shape, 'cpu');
      if (!cpu?.gflops) continue;
      const ratio = (b: string) => { const x = get('matmul', shape, b)?.gflops; return x ? `${(cpu.gflops! / x).toFixed(2)}×` : '–'; };
      const c = get('matmul-ceiling', shape, 'cpu');
      lines.push([
        String(run + 1), shape.replace(/x/g, '×'), `**${cpu.gflops.toFixed(1)}**`, cpu.min_ms ? matmulGflops(shape, cpu.min_ms).toFixed(1) : '–',
        ratio('tfjs-wasm'), ratio('onnxruntime'),
        c?.gflops ? c.gflops.toFixed(1) : '–', c?.ceiling_gflops ? c.ceiling_gflops.toFixed(1) : '–', c?.efficiency ? `${(100 * c.efficiency).toFixed(0)}%` : '–',
      ]);
    }
  });
  const head = ['run', 'M×K×N', 'cpu median', 'cpu best', 'cpu / tfjs-wasm', 'cpu / onnxruntime', 'GEMM (alternating)', 'FMA ceiling', 'GEMM / ceiling'];
  return `${files.map((f, i) => `run ${i + 1}: ${f}`).join('\n')}\n\n${table(head, lines)}\n`;
}

const GPT2_SHAPES = ['512x768x2304', '512x768x3072', '512x3072x768'];

export function report(file: string): string {
  const rows = readRows(file);
  const get = (suite: string, shape: string, backend: string) => rows.find((r) => r.suite === suite && r.shape === shape && r.backend === backend);
  const loads = rows.map((r) => r.load1).filter((l): l is number => typeof l === 'number');
  const out: string[] = [];
  if (loads.length) out.push(`1-minute load average during the run: ${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)}.`);

  const mm = shapesOf(rows, 'matmul');
  if (mm.length) {
    const g = (shape: string, b: string) => get('matmul', shape, b)?.gflops ?? null;
    const ratio = (shape: string, b: string) => {
      const c = g(shape, 'cpu'), x = g(shape, b);
      return c !== null && x !== null ? `${(c / x).toFixed(2)}×` : '–';
    };
    const best = (shape: string) => {
      const r = get('matmul', shape, 'cpu');
      return r?.min_ms ? matmulGflops(shape, r.min_ms).toFixed(1) : '–';
    };
    out.push('', 'matmul, GFLOP/s (median of the samples; "best" = the fastest sample of `cpu`):', '');
    out.push(table(
      ['M×K×N', ...MATMUL_BACKENDS, 'cpu best', 'cpu / tfjs-wasm', 'cpu / onnxruntime'],
      mm.map((s) => [s.replace(/x/g, '×'), ...MATMUL_BACKENDS.map((b) => { const x = g(s, b); return x === null ? '–' : b === 'cpu' ? `**${x.toFixed(1)}**` : x.toFixed(x < 1 ? 2 : 1); }), best(s), ratio(s, 'tfjs-wasm'), ratio(s, 'onnxruntime')]),
    ));
  }
  const ceil = rows.filter((r) => r.suite === 'matmul-ceiling');
  if (ceil.length) {
    out.push('', `GEMM against the FMA ceiling measured alternately (${ceil[0].rounds ?? '?'} rounds; medians; GFLOP/s):`, '');
    out.push(table(
      ['backend', 'M×K×N', 'GEMM', 'ceiling', 'GEMM / ceiling'],
      ceil.map((r) => [r.backend, r.shape.replace(/x/g, '×'), `**${r.gflops?.toFixed(1) ?? '–'}**`, r.ceiling_gflops?.toFixed(1) ?? '–', r.efficiency === undefined ? '–' : `${(100 * r.efficiency).toFixed(0)}%`]),
    ));
  }
  for (const suite of ['softmax', 'layernorm']) {
    const shapes = shapesOf(rows, suite);
    if (!shapes.length) continue;
    out.push('', `${suite}, ms (median):`, '');
    out.push(table(
      ['rows×cols', ...ROW_BACKENDS, 'cpu vs tfjs-wasm'],
      shapes.map((s) => {
        const ms = (b: string) => get(suite, s, b)?.ms ?? null;
        const c = ms('cpu'), t = ms('tfjs-wasm');
        return [s.replace(/x/g, '×'), ...ROW_BACKENDS.map((b) => { const x = ms(b); return x === null ? '–' : b === 'cpu' ? `**${x.toFixed(2)}**` : x.toFixed(2); }), c !== null && t !== null ? `${(t / c).toFixed(2)}× faster` : '–'];
      }),
    ));
  }
  const att = rows.filter((r) => r.suite === 'attention');
  if (att.length) {
    const keys = [...new Set(att.map((r) => r.backend))];
    const shapes = shapesOf(rows, 'attention');
    out.push('', 'attention (causal), ms (median):', '');
    out.push(table(['case', ...keys], shapes.map((s) => [s, ...keys.map((b) => { const x = get('attention', s, b)?.ms; return x === undefined ? '–' : x.toFixed(2); })])));
  }
  const step = rows.filter((r) => r.suite === 'step');
  if (step.length) {
    out.push('', 'step: one GPT-2 block (C = 768, 12 heads) at B = 8, T = 64, attention and MLP frozen, ms (median):', '');
    out.push(table(
      ['backend', 'forward', 'backward', 'backward / forward', 'GFLOP/s'],
      step.map((r) => [r.backend, r.forward_ms?.toFixed(2) ?? '–', r.backward_ms?.toFixed(2) ?? '–', r.backward_over_forward === undefined ? '–' : `${r.backward_over_forward.toFixed(2)}×`, r.gflops?.toFixed(1) ?? '–']),
    ));
  }
  return out.join('\n') + '\n';
}
