import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Tensor } from '@fpt-ts/tensor';
import { Adam, clipGradNorm, noGrad } from '@fpt-ts/autograd';
import { loadGPT2, readSafetensors, openSafetensors } from '@fpt-ts/gpt2';
import { resolveConfig, applyOverrides, type ExperimentConfig } from './experiment';
import { train, buildTask, buildModel, describeBackbone, CHECKPOINT_FILE } from './trainer';
import { FPT } from './model';
import { compare } from './parity';
import { repoRoot } from './paths';
import { Generator } from '@fpt-ts/tensor';

const fixtureDir = path.join(process.env.FPT_FIXTURES_DIR ?? path.join(repoRoot(), '..', 'shared', 'fixtures'), 'gpt2-tiny-a');
const haveFixture = fs.existsSync(path.join(fixtureDir, 'model.safetensors'));
const quiet = () => undefined;

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'fpt-trainer-'));
}

/** FPT on Bit XOR (10 tokens: fits the fixture's 32 positions) with the fixture as pretrained backbone. */
function xorConfig(overrides: string[] = []): ExperimentConfig {
  const raw = {
    name: 'test-xor', task: 'bit-xor',
    model: { backbone: 'gpt2', checkpoint: fixtureDir, pretrained: true },
    steps: 6, evalEvery: 3, evalBatches: 2, checkpointEvery: 2, logEvery: 1, finalEvalLimit: 64,
    optim: { batchSize: 4 },
  };
  return resolveConfig(applyOverrides(raw, overrides), 'test');
}

function paramsOf(model: FPT): Map<string, Float32Array> {
  return new Map(model.namedParameters().map(([n, p]) => [n, Float32Array.from(p.data.contiguous().data)]));
}

(haveFixture ? describe : describe.skip)('trainer', () => {
  test('the run records which backbone weights it started from', () => {
    const digest = require('crypto').createHash('sha256').update(fs.readFileSync(path.join(fixtureDir, 'model.safetensors'))).digest('hex').slice(0, 12);
    expect(describeBackbone(xorConfig())).toContain(`sha256 ${digest}`);
    expect(describeBackbone(xorConfig(['model.pretrained=false']))).toMatch(/^random init of .*gpt2-tiny-a's configuration \(seed 0\)$/);
  });

  test('the HF fixture FPT step and three Adam steps through packages/fpt', () => {
    const ref = readSafetensors(path.join(fixtureDir, 'reference.safetensors'));
    const t = (n: string) => new Tensor(ref.get(n)!.data, ref.get(n)!.shape);
    const fpt = new FPT(loadGPT2(fixtureDir), { inputKind: 'continuous', inputDim: 5, outputDim: 3, outputTokens: 1, inDropout: 0 });
    fpt.loadStateDict(new Map([
      ['in_layer.weight', t('fpt.in_layer.weight')], ['in_layer.bias', t('fpt.in_layer.bias')],
      ['out_layer.weight', t('fpt.out_layer.weight')], ['out_layer.bias', t('fpt.out_layer.bias')],
    ]), { strict: false });
    const x = t('fpt.x'), y = t('fpt.y');
    const loss = fpt.loss(fpt.forward(x), y);
    expect(compare('fpt.loss', loss.data.reshape(1), ref.get('fpt.loss')!).ok).toBe(true);
    loss.backward();
    const params = new Map(fpt.namedParameters().map(([n, p]) => [n.replace(/^transformer\./, ''), p]));
    const gradNames = [...ref.keys()].filter((k) => k.startsWith('grad.'));
    expect(gradNames.length).toBeGreaterThan(10);
    for (const g of gradNames) {
      const row = compare(g, params.get(g.slice(5))!.grad!, ref.get(g)!);
      expect({ name: g, ok: row.ok, maxDiff: row.maxDiff }).toEqual({ name: g, ok: true, maxDiff: row.maxDiff });
    }
    // frozen: attention, MLP and wte get no gradient at all
    for (const [n, p] of params) {
      if (/attn|mlp|wte/.test(n)) expect({ n, grad: p.grad }).toEqual({ n, grad: null });
    }
    const opt = new Adam(fpt.trainableParameters(), 1e-3);
    clipGradNorm(opt.params, 1);
    opt.step();
    for (let s = 1; s < 3; s++) {
      opt.zeroGrad();
      fpt.loss(fpt.forward(x), y).backward();
      clipGradNorm(opt.params, 1);
      opt.step();
    }
    const final = noGrad(() => fpt.loss(fpt.forward(x), y)).item();
    expect(Math.abs(final - ref.get('adam3.loss_trajectory')!.data[3])).toBeLessThan(1e-4);
    for (const n of ['ln_f.weight', 'wpe.weight', 'in_layer.weight']) {
      expect(compare(n, params.get(n)!.data, ref.get(`adam3.${n}`)!).ok).toBe(true);
    }
  });

  test('frozen weights are bitwise unchanged after training; trainable ones move', async () => {
    const config = xorConfig();
    const before = paramsOf(buildModel(config, buildTask(config), new Generator(config.seed)));
    const dir = tmpDir();
    await train(config, { runDir: dir, print: quiet });
    const after = buildModel(config, buildTask(config), new Generator(config.seed));
    const ck = openSafetensors(path.join(dir, CHECKPOINT_FILE));
    let moved = 0;
    for (const [name, p] of after.namedParameters()) {
      const key = `param.${name}`;
      if (p.requiresGrad) {
        expect(ck.has(key)).toBe(true);
        const trained = ck.get(key).data;
        if (trained.some((v, i) => v !== before.get(name)![i])) moved++;
      } else {
        expect(ck.has(key)).toBe(false); // frozen weights are rebuilt from the backbone, never saved
        expect(Buffer.from(p.data.contiguous().data.buffer).equals(Buffer.from(before.get(name)!.buffer))).toBe(true);
      }
    }
    expect(moved).toBeGreaterThan(5);
  });

  test('an interrupted and resumed run equals an uninterrupted one', async () => {
    const config = xorConfig();
    const whole = tmpDir(), split = tmpDir();
    const a = await train(config, { runDir: whole, print: quiet });
    const first = await train(config, { runDir: split, print: quiet, stopAfter: 3 }); // stops between checkpoints
    expect(first.finished).toBe(false);
    expect(first.step).toBe(3);
    const b = await train(config, { runDir: split, resume: true, print: quiet });
    expect(b.finished).toBe(true);
    expect(b.lastLoss).toBe(a.lastLoss);
    expect(b.finalMetrics!.accuracy).toBe(a.finalMetrics!.accuracy);
    const ca = readSafetensors(path.join(whole, CHECKPOINT_FILE)), cb = readSafetensors(path.join(split, CHECKPOINT_FILE));
    expect([...cb.keys()].sort()).toEqual([...ca.keys()].sort());
    for (const [k, t] of ca) expect(Buffer.from(cb.get(k)!.data.buffer).equals(Buffer.from(t.data.buffer))).toBe(true);
    // the log has no duplicated steps after the resume
    const steps = fs.readFileSync(path.join(split, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.kind === 'train').map((e) => e.step);
    expect(steps).toEqual([1, 2, 3, 4, 5, 6]);
  });

  test('a corrupted checkpoint is refused with a clear error', async () => {
    const config = xorConfig(['steps=2']);
    const dir = tmpDir();
    await train(config, { runDir: dir, print: quiet });
    const file = path.join(dir, CHECKPOINT_FILE);
    const bytes = fs.readFileSync(file);
    fs.writeFileSync(file, bytes.subarray(0, bytes.length - 100)); // truncated
    await expect(train(xorConfig(['steps=4']), { runDir: dir, resume: true, print: quiet })).rejects.toThrow(/checkpoint\.safetensors/);
    fs.writeFileSync(file, bytes);
    await expect(train(xorConfig(['steps=4', 'optim.lr=0.5']), { runDir: dir, resume: true, print: quiet })).rejects.toThrow(/different config \(optim\.lr/);
  });

  test('a run directory is never overwritten without --resume', async () => {
    const config = xorConfig(['steps=2']);
    const dir = tmpDir();
    await train(config, { runDir: dir, print: quiet });
    await expect(train(config, { runDir: dir, print: quiet })).rejects.toThrow(/already holds a run/);
  });

  test('a non-finite loss stops the run and leaves the last good checkpoint intact', async () => {
    const config = xorConfig(['steps=50', 'checkpointEvery=1', 'optim.lr=1e38', 'optim.clip=0']);
    const dir = tmpDir();
    await expect(train(config, { runDir: dir, print: quiet })).rejects.toThrow(/loss is (NaN|Infinity|-Infinity) at step \d+.*last good checkpoint/);
    const ck = openSafetensors(path.join(dir, CHECKPOINT_FILE)); // still a valid file
    const meta = JSON.parse(ck.metadata.fpt) as { step: number };
    expect(meta.step).toBeGreaterThanOrEqual(1);
  });
});

describe('experiment configs', () => {
  test('every shipped config resolves', () => {
    const dir = path.join(repoRoot(), 'packages', 'fpt', 'configs');
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json') && !f.startsWith('pretrain'));
    expect(files.length).toBe(28);
    for (const f of files) expect(() => resolveConfig(JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')), f)).not.toThrow();
  });

  test('bad configs name the key', () => {
    expect(() => resolveConfig({ task: 'nope' }, 'c.json')).toThrow(/c\.json: task must be one of/);
    expect(() => resolveConfig({ task: 'mnist', steps: 0 }, 'c.json')).toThrow(/c\.json: steps must be a positive integer/);
    expect(() => resolveConfig({ task: 'mnist', freeze: { freeze_foo: true } }, 'c.json')).toThrow(/unknown flag\(s\) freeze_foo/);
    expect(() => resolveConfig({ task: 'mnist', stepz: 3 }, 'c.json')).toThrow(/unknown key\(s\) stepz/);
    expect(() => applyOverrides({}, ['novalue'])).toThrow(/expected key=value/);
  });

  test('--set parses JSON values and dotted keys', () => {
    const c = applyOverrides({ optim: { lr: 1 } }, ['optim.lr=3e-4', 'freeze.freeze_ff=false', 'name=abc']);
    expect(c).toEqual({ optim: { lr: 3e-4 }, freeze: { freeze_ff: false }, name: 'abc' });
  });
});
