/**
 * The cpu backend against ref, kernel by kernel, through the ops (so strided, transposed and broadcast
 * operands reach the kernels as they do in the engine), on every code path:
 *   cpu-relaxed (relaxed-SIMD FMA, if the runtime has it), cpu-simd (SIMD mul+add), cpu-ts (plain TS),
 * and thread counts 1 and 2 giving bitwise-identical results.
 */
import {
  Generator, Tensor, backendNames, cpuEngine, createCpuBackend, fmaPeak, getBackend, ops, randn, registerBackend, withBackend, zeros,
} from '../../index';
import type { Backend } from '../../backend';
import { chooseSimd, runtimeSupport } from './features';

const rt = runtimeSupport();
const paths: { name: string; create: () => Backend }[] = [
  { name: 'cpu-ts', create: () => createCpuBackend({ simd: 'off', threads: 1 }) },
];
if (rt.simd) paths.push({ name: 'cpu-simd', create: () => createCpuBackend({ simd: 'simd', threads: 2 }) });
if (rt.relaxed) paths.push({ name: 'cpu-relaxed', create: () => createCpuBackend({ simd: 'relaxed', threads: 2 }) });
for (const p of paths) if (!backendNames().includes(p.name)) registerBackend(p.name, p.create);
registerBackend('cpu-t1', () => createCpuBackend({ threads: 1 }));
registerBackend('cpu-t2', () => createCpuBackend({ threads: 2 }));

const gen = new Generator(7);
const rnd = (shape: number[], std = 1): Tensor => randn(shape, { generator: gen, std });

/** Max |a − b| / (atol + rtol·|b|) ≤ 1 elementwise (NaN must match NaN). */
function expectClose(actual: Tensor | null, expected: Tensor | null, rtol = 1e-4, atol = 1e-5): void {
  if (expected === null) { expect(actual).toBeNull(); return; }
  expect(actual).not.toBeNull();
  expect(actual!.shape).toEqual(expected.shape);
  const a = actual!.contiguous().data, e = expected.contiguous().data;
  let worst = 0, at = -1;
  for (let i = 0; i < e.length; i++) {
    if (Number.isNaN(e[i]) || Number.isNaN(a[i])) {
      if (!(Number.isNaN(e[i]) && Number.isNaN(a[i]))) { worst = Infinity; at = i; break; }
      continue;
    }
    const r = Math.abs(a[i] - e[i]) / (atol + rtol * Math.abs(e[i]));
    if (r > worst) { worst = r; at = i; }
  }
  if (worst > 1) throw new Error(`mismatch at ${at}: got ${a[at]}, ref ${e[at]} (ratio ${worst.toFixed(2)})`);
}

function expectBitwise(a: Tensor, b: Tensor): void {
  const x = a.contiguous().data, y = b.contiguous().data;
  expect(x.length).toBe(y.length);
  for (let i = 0; i < x.length; i++) {
    if (!Object.is(x[i], y[i])) throw new Error(`differs at ${i}: ${x[i]} vs ${y[i]}`);
  }
}

/** Run fn on ref and on `backend`, comparing every returned tensor. */
function againstRef(backend: string, fn: () => (Tensor | null)[] | Tensor, rtol?: number, atol?: number): void {
  const want = withBackend('ref', fn), got = withBackend(backend, fn);
  const w = Array.isArray(want) ? want : [want], g = Array.isArray(got) ? got : [got];
  expect(g.length).toBe(w.length);
  w.forEach((t, i) => expectClose(g[i], t, rtol, atol));
}

describe.each(paths.map((p) => p.name))('%s', (name) => {
  test('info reports the path', () => {
    const info = getBackend(name).info();
    expect(info.simd).toBe(name === 'cpu-ts' ? 'off' : name === 'cpu-simd' ? 'simd' : 'relaxed');
  });

  test.each([
    [1, 1, 1], [1, 3, 17], [3, 17, 1], [17, 65, 3], [65, 127, 17], [127, 3, 65], [17, 768, 65], [65, 1, 127],
    [3, 3072, 17], [17, 3, 3072], [65, 768, 3],
  ])('matmul [%i, %i] x [%i, N] and transposes', (M, K, N) => {
    const a = rnd([M, K]), b = rnd([K, N]);
    const at = rnd([K, M]), bt = rnd([N, K]);
    againstRef(name, () => [
      ops.matmul(a, b),
      ops.matmul(at, b, { transA: true }),
      ops.matmul(a, bt, { transB: true }),
      ops.matmul(at, bt, { transA: true, transB: true }),
    ], 1e-4, 1e-4);
  });

  test('matmul: K = 0 gives zeros, empty outputs', () => {
    againstRef(name, () => [ops.matmul(zeros([3, 0]), zeros([0, 5])), ops.matmul(zeros([0, 4]), rnd([4, 5]))]);
  });

  test('batched matmul: own batches, broadcast weight, broadcast batch dims, strided views', () => {
    const a = rnd([2, 3, 17, 33]), b = rnd([2, 3, 33, 9]);
    const w = rnd([33, 65]); // x·W over a batch: folded into one GEMM
    const bb = rnd([3, 33, 9]); // broadcast over the leading dim
    const big = rnd([2, 40, 70]);
    const sliced = big.slice(1, 3, 20).slice(2, 5, 38); // [2, 17, 33], non-contiguous
    const perm = rnd([17, 2, 33]).permute(1, 0, 2); // [2, 17, 33], batch stride inside rows
    const vec = rnd([33]);
    againstRef(name, () => [
      ops.matmul(a, b), ops.matmul(a, w), ops.matmul(a, bb), ops.matmul(sliced, w), ops.matmul(perm, w),
      ops.matmul(a, b.transpose(-1, -2), { transB: true }), ops.matmul(vec, w), ops.matmul(a, vec),
    ], 1e-4, 1e-4);
  });

  test('matmul of views spanning more than their elements: heads of a fused qkv (staged), a thin slice of a big tensor (packed from JS)', () => {
    const [B, T, nh, hs] = [2, 17, 3, 5], C = nh * hs;
    const qkv = rnd([B, T, 3 * C]);
    const head = (i: number): Tensor => qkv.narrow(2, i * C, C).reshape([B, T, nh, hs]).permute(0, 2, 1, 3); // [B, nh, T, hs], span 3x
    const huge = rnd([40, 300]);
    const thin = huge.narrow(1, 7, 3); // [40, 3] over a span of 100x its elements
    const p = rnd([B, nh, T, T]), w = rnd([3, 11]), x = rnd([5, 40]);
    againstRef(name, () => [
      ops.matmul(head(0), head(1).transpose(-2, -1)), ops.matmul(p, head(2)), ops.matmul(thin, w), ops.matmul(x, thin),
    ], 1e-4, 1e-4);
  });

  test('float64 matmul is delegated to ref (bitwise)', () => {
    const a = rnd([17, 9]).double(), b = rnd([9, 5]).double();
    expectBitwise(withBackend(name, () => ops.matmul(a, b)), withBackend('ref', () => ops.matmul(a, b)));
  });

  test.each([[1, 1], [3, 17], [17, 65], [5, 768], [2, 3072]])('softmax and backward [%i, %i]', (rows, cols) => {
    const x = rnd([rows, cols], 3), dy = rnd([rows, cols]);
    againstRef(name, () => {
      const y = ops.softmax(x);
      return [y, ops.softmaxBackward(y, dy), ops.softmax(x.transpose(0, 1), 0)];
    }, 1e-4, 1e-7);
  });

  test('softmax edge values: -inf entries, an all -inf row (NaN), NaN', () => {
    const x = new Tensor(Float32Array.from([0, -Infinity, 1, 2, 3, -Infinity, -Infinity, -Infinity, -Infinity, -Infinity, 1, NaN, 2, 3, 4, -100, 100, 0, -80, 88]), [4, 5]);
    againstRef(name, () => ops.softmax(x), 1e-5, 1e-7);
  });

  test.each([[1, 1], [3, 17], [17, 65], [4, 768], [2, 3072]])('layerNorm forward and backward [%i, %i]', (rows, C) => {
    const x = ops.add(rnd([rows, C], 2), 0.5);
    const g = rnd([C]), b = rnd([C]), dy = rnd([rows, C]);
    againstRef(name, () => {
      const r = ops.layerNorm(x, g, b);
      const all = ops.layerNormBackward(x, g, r, dy, { x: true, gamma: true, beta: true });
      const some = ops.layerNormBackward(x, g, r, dy, { x: false, gamma: true, beta: false });
      const dxOnly = ops.layerNormBackward(x, g, r, dy, { x: true, gamma: false, beta: false });
      return [r.out, r.mean, r.rstd, all.dx, all.dgamma, all.dbeta, some.dx, some.dgamma, some.dbeta, dxOnly.dx, dxOnly.dgamma];
    }, 2e-4, 2e-5);
  });

  test.each([[1], [3], [17], [65], [3 * 1024 + 1]])('gelu and backward (%i elements)', (n) => {
    const x = rnd([n], 3), dy = rnd([n]);
    const special = new Tensor(Float32Array.from([0, -0, 1e-20, -1e-20, 10, -10, 30, -30, 100, -100, Infinity, -Infinity, NaN]), [13]);
    againstRef(name, () => [ops.gelu(x), ops.geluBackward(x, dy), ops.gelu(special)], 1e-5, 1e-6);
  });

  // T = 400 > KC: the causal shortcuts cross KC blocks
  test.each([[1, 1, 1], [2, 3, 4], [3, 17, 8], [2, 65, 16], [1, 400, 7]])('attention forward and backward [B·H=%i, T=%i, D=%i]', (BH, T, D) => {
    const q = rnd([BH, T, D]), k = rnd([BH, T, D]), v = rnd([BH, T, D]), dout = rnd([BH, T, D]);
    for (const causal of [true, false]) {
      againstRef(name, () => {
        const r = ops.attention(q, k, v, { causal });
        const g = ops.attentionBackward(q, k, v, r.probs, dout, { q: true, k: true, v: true });
        const gv = ops.attentionBackward(q, k, v, r.probs, dout, { q: false, k: false, v: true });
        const gq = ops.attentionBackward(q, k, v, r.probs, dout, { q: true, k: false, v: false });
        return [r.out, r.probs, g.dq, g.dk, g.dv, gv.dq, gv.dv, gq.dq, gq.dk];
      }, 1e-4, 1e-5);
    }
  });

  test('elementwise: broadcasting patterns, strided operands, where (bitwise)', () => {
    const x = rnd([17, 65]), row = rnd([65]), col = rnd([17, 1]), t = rnd([65, 17]).transpose(0, 1);
    const cube = rnd([3, 17, 65]);
    const run = (): Tensor[] => [
      ops.add(x, row), ops.sub(row, x), ops.mul(x, col), ops.div(col, x), ops.add(x, t), ops.mul(cube, row),
      ops.add(cube, x.slice(0, 0, 1)), ops.pow(ops.abs(x), 0.5), ops.maximum(x, t), ops.minimum(x, 0), ops.gt(x, t),
      ops.add(cube.slice(2, 1, 60, 2), 1), ops.where(ops.gt(x, 0), x, row), ops.mul(3, x),
    ];
    const want = withBackend('ref', run), got = withBackend(name, run);
    want.forEach((w, i) => expectBitwise(got[i], w));
  });

  test('large elementwise +, −, ×, ÷ (the SIMD path: full rows, broadcast rows, scalars, per-row values; bitwise)', () => {
    const x = rnd([300, 257]), y = rnd([300, 257]), row = rnd([257]), col = rnd([300, 1]), flat = rnd([70000]);
    const wide = rnd([300, 300]).slice(1, 0, 257); // rows with a gap: staged as one span
    const run = (): Tensor[] => [
      ops.add(x, y), ops.sub(x, row), ops.mul(col, x), ops.div(x, col), ops.add(flat, 2), ops.div(1, flat),
      ops.mul(flat, flat), ops.sub(wide, x), ops.add(x.reshape([300, 257]), row.reshape([1, 257])),
    ];
    const want = withBackend('ref', run), got = withBackend(name, run);
    want.forEach((w, i) => expectBitwise(got[i], w));
  });

  test('copies of views, unary ops, reductions (bitwise)', () => {
    const x = rnd([3, 17, 65]);
    const run = (): Tensor[] => [
      x.permute(2, 0, 1).contiguous(), x.slice(1, 2, 15, 3).contiguous(), x.transpose(0, 2).clone(),
      ops.exp(x), ops.tanh(x), ops.neg(x), ops.sigmoid(x), ops.relu(x), ops.square(x), ops.log(ops.abs(x)),
      ops.sum(x), ops.sum(x, 0), ops.sum(x, 1), ops.sum(x, 2), ops.max(x, 1), ops.min(x, 2), ops.mean(x, [0, 2]),
    ];
    const want = withBackend('ref', run), got = withBackend(name, run);
    want.forEach((w, i) => expectBitwise(got[i], w));
  });

  test('adam and adamw update like ref (bitwise)', () => {
    for (const [weightDecay, decoupled] of [[0, false], [0.1, false], [0.1, true]] as const) {
      const init = rnd([1000]), grad = rnd([1000]);
      const state = () => ({ param: init.clone().data as Float32Array, grad: grad.data as Float32Array, m: new Float32Array(1000), v: new Float32Array(1000) });
      const a = state(), b = state();
      for (let step = 1; step <= 3; step++) {
        const args = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay, decoupled, step };
        getBackend('ref').kernels.adam({ ...a, ...args });
        getBackend(name).kernels.adam({ ...b, ...args });
      }
      expectBitwise(new Tensor(b.param, [1000]), new Tensor(a.param, [1000]));
      expectBitwise(new Tensor(b.v, [1000]), new Tensor(a.v, [1000]));
    }
  });
});

test('FPT_SIMD values select the path (falling back to what the runtime has)', () => {
  expect(chooseSimd('off')).toBe('off');
  expect(chooseSimd('simd')).toBe(rt.simd ? 'simd' : 'off');
  expect(chooseSimd('relaxed')).toBe(rt.relaxed ? 'relaxed' : rt.simd ? 'simd' : 'off');
  expect(chooseSimd(undefined)).toBe(chooseSimd('auto'));
});

describe('threads', () => {
  test('1 and 2 threads give bitwise-identical results, and 2 threads really run in parallel', () => {
    const e2 = cpuEngine(getBackend('cpu-t2'));
    if (e2 === null) return; // no WebAssembly SIMD here: nothing threaded
    expect(e2.pool.warm()).toBe(1);
    const jobsBefore = e2.pool.parallelJobs;
    const a = rnd([130, 768]), b = rnd([768, 200]), x = rnd([64, 3072], 3), g = rnd([3072]), be = rnd([3072]);
    const q = rnd([4, 64, 32]), k = rnd([4, 64, 32]), v = rnd([4, 64, 32]);
    const run = (): Tensor[] => {
      const ln = ops.layerNorm(x, g, be);
      const lb = ops.layerNormBackward(x, g, ln, x, { x: true, gamma: true, beta: true });
      const at = ops.attention(q, k, v);
      const ab = ops.attentionBackward(q, k, v, at.probs, v, { q: true, k: true, v: true });
      return [
        ops.matmul(a, b), ops.matmul(b, a, { transA: true, transB: true }), ops.softmax(x), ops.gelu(x), ops.geluBackward(x, x),
        ln.out, lb.dx!, lb.dgamma!, lb.dbeta!, at.out, at.probs, ab.dq!, ab.dk!, ab.dv!,
      ];
    };
    const one = withBackend('cpu-t1', run), two = withBackend('cpu-t2', run);
    one.forEach((t, i) => expectBitwise(two[i], t));
    expect(e2.pool.parallelJobs).toBeGreaterThan(jobsBefore);
  });

  test('idle workers exit and restart on demand, results unchanged', async () => {
    registerBackend('cpu-idle', () => createCpuBackend({ threads: 2, idleMs: 150 }));
    const e = cpuEngine(getBackend('cpu-idle'));
    if (e === null) return;
    const a = rnd([200, 300]), b = rnd([300, 600]); // 9 GEMM units: threaded
    const want = withBackend('cpu-t1', () => ops.matmul(a, b));
    expect(e.pool.warm()).toBe(1);
    expectBitwise(withBackend('cpu-idle', () => ops.matmul(a, b)), want);
    await new Promise((r) => setTimeout(r, 600));
    expect(e.pool.running()).toBe(0); // the worker left: nothing keeps the process alive
    const spawned = e.pool.started();
    expectBitwise(withBackend('cpu-idle', () => ops.matmul(a, b)), want); // main thread alone meanwhile
    expect(e.pool.warm()).toBe(1);
    expect(e.pool.started()).toBe(spawned + 1);
    const jobs = e.pool.parallelJobs;
    expectBitwise(withBackend('cpu-idle', () => ops.matmul(a, b)), want);
    expect(e.pool.parallelJobs).toBeGreaterThan(jobs);
  });

  test('the FMA-ceiling probe runs its microkernel calls on every thread and counts their flops', () => {
    const e = cpuEngine(getBackend('cpu-t2'));
    if (e === null) return;
    e.pool.warm();
    const jobs = e.pool.parallelJobs, mark = e.mark();
    const { MR, NR } = e.options.gemm;
    expect(fmaPeak(e, { units: 8, reps: 3, kc: 16 })).toBe(2 * MR * NR * 16 * 3 * 8);
    expect(e.pool.parallelJobs).toBe(jobs + 1);
    expect(fmaPeak(e, { units: 2, reps: 1, kc: 4, parallel: false })).toBe(2 * MR * NR * 4 * 2);
    expect(e.pool.parallelJobs).toBe(jobs + 1);
    expect(e.mark()).toBe(mark);
  });

  test('memory is reused across calls (the arena resets)', () => {
    const e = cpuEngine(getBackend('cpu-t1'));
    if (e === null) return;
    const a = rnd([100, 300]), b = rnd([300, 50]);
    withBackend('cpu-t1', () => ops.matmul(a, b));
    const size = e.memory.buffer.byteLength, mark = e.mark();
    for (let i = 0; i < 5; i++) withBackend('cpu-t1', () => ops.matmul(a, b));
    expect(e.memory.buffer.byteLength).toBe(size);
    expect(e.mark()).toBe(mark);
  });
});
