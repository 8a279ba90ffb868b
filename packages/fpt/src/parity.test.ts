/**
 * Parity with the HuggingFace reference dump (../shared/fixtures/gpt2-tiny-a): every recomputed tensor
 * within tolerance, on every backend registered here (gpu.js: every mode that loads), and the `fpt parity`
 * command's output and exit codes.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { backendNames, getBackend, registerBackend, Tensor, probeGpuModes, createGpujsBackend } from '@fpt-ts/tensor';
import { readSafetensors, writeSafetensors, type WritableTensor } from '@fpt-ts/gpt2';
import { runParity, compare, formatParity, PARITY_TOLERANCE, type ParityRow } from './parity';
import { runCommand } from './cli';
import { parity } from './commands/parity';
import { repoRoot } from './paths';

const FIXTURES = process.env.FPT_FIXTURES_DIR ?? path.join(repoRoot(), '..', 'shared', 'fixtures');
const MODEL = path.join(FIXTURES, 'gpt2-tiny-a');
const REFERENCE = path.join(MODEL, 'reference.safetensors');

/** The reference's tensors that are recomputed (everything but the inputs), plus the frozen-grad check. */
const EXPECTED_ROWS = 28;

// ---------------------------------------------------------------------------------------------------
// Which backends to run: every registered one, at test time; for gpujs, every gpu.js mode, skipping the
// modes that do not load here (with the probe's reason in the test name).

interface Case {
  label: string;
  /** The registered backend name to run (registered on demand for a gpu.js mode). */
  backend: () => string;
  skip?: string;
}

function cases(): Case[] {
  const out: Case[] = [];
  for (const name of backendNames()) {
    if (name === 'gpujs') {
      for (const probe of probeGpuModes()) {
        const mode = probe.mode;
        out.push({
          label: `gpujs/${mode}`,
          backend: () => {
            registerBackend(`gpujs-${mode}`, () => createGpujsBackend({ mode }));
            return `gpujs-${mode}`;
          },
          skip: probe.available ? undefined : probe.reason,
        });
      }
      continue;
    }
    let skip: string | undefined;
    try {
      getBackend(name);
    } catch (e) {
      skip = `does not load: ${(e as Error).message.split('\n')[0]}`;
    }
    out.push({ label: name, backend: () => name, skip });
  }
  return out;
}

const maxDiffs: Record<string, number> = {};

describe('runParity on gpt2-tiny-a', () => {
  const all = cases();
  test('ref is among the backends', () => {
    expect(all.map((c) => c.label)).toContain('ref');
  });

  for (const c of all) {
    const name = c.skip ? `${c.label} (skipped: ${c.skip})` : c.label;
    // headlessgl on a software rasterizer spends ~35 s compiling kernels; only reached under an X display
    (c.skip ? test.skip : test)(name, () => {
      const backend = c.backend();
      const rows = runParity(MODEL, REFERENCE, { backend });
      maxDiffs[c.label] = Math.max(...rows.filter((r) => !r.name.startsWith('greedy') && !r.name.startsWith('frozen')).map((r) => r.maxDiff));
      expect(rows.filter((r) => !r.ok).map((r) => formatParity([r]))).toEqual([]); // shows the failing lines
      expect(rows).toHaveLength(EXPECTED_ROWS);
      expect(rows.map((r) => r.name)).toEqual(expect.arrayContaining([
        'hidden_states.0', 'hidden_states.2', 'last_hidden_state', 'logits', 'greedy_ids', 'fpt.logits', 'fpt.loss',
        'grad.wpe.weight', 'grad.in_layer.weight', 'grad.out_layer.bias', 'frozen params without grad',
        'adam3.loss_trajectory', 'adam3.ln_f.weight', 'adam3.wpe.weight', 'adam3.in_layer.weight',
      ]));
      expect(rows.find((r) => r.name === 'greedy_ids')!.maxDiff).toBe(0);
    }, c.label.startsWith('gpujs') ? 180_000 : undefined);
  }

  afterAll(() => {
    if (Object.keys(maxDiffs).length) console.log(`parity max diffs: ${Object.entries(maxDiffs).map(([b, d]) => `${b} ${d.toExponential(2)}`).join(', ')}`);
  });
});

describe('compare', () => {
  const ref = (data: number[], shape = [data.length]) => ({ dtype: 'F32' as const, shape, data: Float32Array.from(data) });
  const t = (data: number[], shape = [data.length]) => new Tensor(Float32Array.from(data), shape);

  test('absolute tolerance up to 1, relative above', () => {
    expect(compare('a', t([0.5, -0.25]), ref([0.5 + 0.5 * PARITY_TOLERANCE, -0.25]))).toMatchObject({ ok: true });
    expect(compare('a', t([0.5]), ref([0.5 + 2 * PARITY_TOLERANCE]))).toMatchObject({ ok: false });
    expect(compare('b', t([1000]), ref([1000 + 50 * PARITY_TOLERANCE]))).toMatchObject({ ok: true }); // 5e-3 of 1000 is 5e-6 relative
    expect(compare('b', t([1000]), ref([1000.2]))).toMatchObject({ ok: false });
  });

  test('NaN fails and shows as the max diff; sizes and shapes must agree up to 1-axes', () => {
    const r = compare('n', t([1, NaN, 2]), ref([1, 1, 2]));
    expect(r.ok).toBe(false);
    expect(r.maxDiff).toBeNaN();
    expect(compare('s', t([1, 2, 3]), ref([1, 2]))).toMatchObject({ ok: false, note: 'shape [3] vs reference [2]' });
    expect(compare('s', t([1, 2, 3, 4], [2, 2]), ref([1, 2, 3, 4], [4]))).toMatchObject({ ok: false });
    expect(compare('s', t([1, 2, 3, 4], [2, 1, 2]), ref([1, 2, 3, 4], [2, 2]))).toMatchObject({ ok: true, maxDiff: 0 });
  });

  test('formatParity: one line per tensor, llm.c style', () => {
    const rows: ParityRow[] = [{ name: 'logits', maxDiff: 8.94e-8, ok: true }, { name: 'grad.wpe.weight', maxDiff: 0.5, ok: false, note: 'x' }];
    expect(formatParity(rows).split('\n')).toEqual([
      'OK   logits           maxdiff 8.94e-8',
      'BAD  grad.wpe.weight  maxdiff 5.00e-1  (x)',
    ]);
  });
});

describe('fpt parity (the command)', () => {
  let tmp: string;
  let out: string[];
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fpt-parity-test-'));
  });
  afterAll(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
  });
  beforeEach(() => {
    out = [];
    jest.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  });
  afterEach(() => jest.restoreAllMocks());

  /** The reference with `edit` applied to its tensors, written to tmp. */
  function reference(name: string, edit: (m: Map<string, WritableTensor>) => void): string {
    const m = new Map<string, WritableTensor>();
    for (const [k, r] of readSafetensors(REFERENCE)) {
      m.set(k, { dtype: r.dtype === 'I32' ? 'I32' : 'F32', shape: r.shape, data: r.dtype === 'I32' ? r.data : Float32Array.from(r.data) });
    }
    edit(m);
    const file = path.join(tmp, name);
    writeSafetensors(file, m);
    return file;
  }

  test('passes on the fixture: exit 0, one line per tensor', async () => {
    expect(await runCommand(parity, ['--model', MODEL, '--backend', 'ref'])).toBe(0);
    const text = out.join('\n');
    expect(out[0]).toMatch(/^backend ref( \(.*\))?, model /);
    expect(out[0]).toContain(`, model ${MODEL}, reference ${REFERENCE}`);
    expect(text).toMatch(/^OK {3}logits +maxdiff \d\.\d\de-\d+$/m);
    expect(text).toContain(`all ${EXPECTED_ROWS} tensors within tolerance`);
    expect(text).not.toContain('BAD');
  });

  test('a perturbed reference tensor: exit 1 and a BAD line for it', async () => {
    const file = reference('perturbed.safetensors', (m) => {
      m.get('logits')!.data[17] += 1e-3;
    });
    expect(await runCommand(parity, ['--model', MODEL, '--reference', file])).toBe(1);
    const text = out.join('\n');
    expect(text).toMatch(/^BAD {2}logits +maxdiff 1\.00e-3$/m);
    expect(text).toMatch(/^OK {3}last_hidden_state/m);
    expect(text).toContain(`1 of ${EXPECTED_ROWS} tensors out of tolerance`);
  });

  test('a perturbed gradient and a wrong greedy token fail too', async () => {
    const file = reference('perturbed-grad.safetensors', (m) => {
      m.get('grad.ln_f.weight')!.data[0] += 1e-3;
      m.get('greedy_ids')!.data[19] = (m.get('greedy_ids')!.data[19] + 1) % 101;
    });
    expect(await runCommand(parity, ['--model', MODEL, '--reference', file])).toBe(1);
    const text = out.join('\n');
    expect(text).toMatch(/^BAD {2}grad\.ln_f\.weight /m);
    expect(text).toMatch(/^BAD {2}greedy_ids +maxdiff 1\.00e\+0 {2}\(1 token\(s\) differ: /m);
    expect(text).toContain(`2 of ${EXPECTED_ROWS} tensors out of tolerance`);
  });

  test('a reference tensor the model cannot produce is a failure, not silently skipped', async () => {
    const file = reference('extra.safetensors', (m) => {
      m.set('hidden_states.3', m.get('hidden_states.2')!); // the model has 2 layers: states 0..2
    });
    expect(await runCommand(parity, ['--model', MODEL, '--reference', file])).toBe(1);
    expect(out.join('\n')).toMatch(/^BAD {2}hidden_states\.3 +maxdiff Infinity {2}\(not recomputed: unknown tensor for this model\)$/m);
  });

  test('--model is required; a missing reference is an error naming the file', async () => {
    await expect(runCommand(parity, [])).rejects.toThrow('--model DIR is required');
    const missing = path.join(tmp, 'nope.safetensors');
    await expect(runCommand(parity, ['--model', MODEL, '--reference', missing])).rejects.toThrow(`safetensors ${missing}: file not found`);
  });
});
