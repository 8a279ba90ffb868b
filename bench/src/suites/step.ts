/**
 * step: one GPT-2 block (C = 768, 12 heads) forward and backward at B = 8, T = 64, as FPT trains it:
 * attention and MLP weights frozen, layer norms trainable, the gradient flowing on to the block's input.
 * Frozen weights get no weight-gradient GEMM, so the backward should cost about as much as the forward
 * (target: backward ≤ 1.2 x forward). Validation: output and input gradient against the `ref` backend.
 *
 * flops: forward 2·N·12·C² (c_attn, c_proj, c_fc, c_proj) + 4·B·H·T²·D (attention);
 *        backward 2·N·12·C² (input gradients only) + 8·B·H·T²·D.
 */
import { Generator, randn, withBackend, getBackend, backendNames, type Tensor } from '@fpt-ts/tensor';
import { Variable } from '@fpt-ts/autograd';
import { Block, makeConfig } from '@fpt-ts/gpt2';
import type { Suite } from '../harness';

const B = 8, T = 64, C = 768, H = 12;

function buildBlock(): Block {
  const config = makeConfig({ n_embd: C, n_head: H, n_layer: 12, resid_pdrop: 0, attn_pdrop: 0, embd_pdrop: 0 });
  const block = new Block(config, new Generator(0));
  for (const [name, p] of block.namedParameters()) {
    const isLnWeight = name.startsWith('ln_') && name.endsWith('weight');
    p.data = randn(p.shape, { generator: new Generator(name), mean: isLnWeight ? 1 : 0, std: name.startsWith('ln_') ? 0.1 : 0.02 });
    p.requiresGrad = name.startsWith('ln_'); // attention and MLP frozen, as FPT
  }
  block.train();
  return block;
}

function run(block: Block, x: Tensor, dout: Tensor): { out: Tensor; dx: Tensor; fwdMs: number; bwdMs: number } {
  const xv = new Variable(x, { requiresGrad: true });
  const t0 = performance.now();
  const out = block.forward(xv);
  const t1 = performance.now();
  out.backward(dout);
  const t2 = performance.now();
  block.zeroGrad();
  return { out: out.data, dx: xv.grad!, fwdMs: t1 - t0, bwdMs: t2 - t1 };
}

function maxRelError(got: Tensor, want: Tensor): number {
  const g = got.contiguous().data, w = want.contiguous().data;
  let worst = 0;
  for (let i = 0; i < w.length; i++) worst = Math.max(worst, Math.abs(g[i] - w[i]) / (1e-4 + 1e-3 * Math.abs(w[i])));
  return worst;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export const stepSuite: Suite = async (ctx) => {
  const block = buildBlock();
  const x = randn([B, T, C], { generator: new Generator('x') });
  const dout = randn([B, T, C], { generator: new Generator('dout'), std: 0.01 });
  const want = withBackend('ref', () => run(block, x, dout));
  const N = B * T, D = C / H;
  const fwdFlops = 2 * N * 12 * C * C + 4 * B * H * T * T * D;
  const bwdFlops = 2 * N * 12 * C * C + 8 * B * H * T * T * D;
  const shape = `${B}x${T}x${C}`;
  // gpujs runs only when asked for (--only gpujs): in its host modes one step takes minutes
  const wanted = (n: string) => (ctx.options.only === null ? n !== 'gpujs' : ctx.options.only.includes(n));
  for (const name of ['ref', ...backendNames().filter((n) => n !== 'ref')]) {
    if (!wanted(name)) continue;
    try {
      const result = withBackend(name, () => {
        const first = run(block, x, dout);
        const err = Math.max(maxRelError(first.out, want.out), maxRelError(first.dx, want.dx));
        if (!(err <= 1)) return { err, fwd: NaN, bwd: NaN };
        const reps = name === 'ref' ? 1 : ctx.options.quick ? 3 : 7;
        const fwd: number[] = [], bwd: number[] = [];
        for (let i = 0; i < reps; i++) {
          const r = run(block, x, dout);
          fwd.push(r.fwdMs);
          bwd.push(r.bwdMs);
        }
        return { err, fwd: median(fwd), bwd: median(bwd) };
      });
      const label = name === 'gpujs' ? `gpujs:${getBackend('gpujs').info().mode ?? '?'}` : name;
      if (!(result.err <= 1)) {
        console.log(`step       ${label.padEnd(12)} ${shape.padEnd(18)} FAILED validation (error ratio ${result.err.toExponential(2)})`);
        continue;
      }
      const ms = result.fwd + result.bwd;
      const gflops = (fwdFlops + bwdFlops) / (ms * 1e6);
      console.log(
        `step       ${label.padEnd(12)} ${shape.padEnd(18)} ${ms.toFixed(2).padStart(10)} ms ${gflops.toFixed(2).padStart(8)} GFLOP/s` +
        `  (forward ${result.fwd.toFixed(2)} ms, backward ${result.bwd.toFixed(2)} ms = ${(result.bwd / result.fwd).toFixed(2)}x forward)`,
      );
      ctx.record({
        suite: 'step', backend: label, shape, ms, gflops,
        forward_ms: result.fwd, backward_ms: result.bwd, backward_over_forward: result.bwd / result.fwd, valid: true, error: result.err,
      });
    } catch (e) {
      console.log(`step       ${name.padEnd(12)} ${shape.padEnd(18)} ERROR ${(e as Error).message}`);
    }
  }
};
