/**
 * `fpt generate` end to end: a tiny random byte-level GPT-2 (vocab 257 = 256 bytes + <|endoftext|>) saved
 * as a checkpoint directory with tokenizer.json {"type": "byte"}, run through the CLI's runCommand.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Generator } from '@fpt-ts/tensor';
import { GPT2, ByteTokenizer, generate, loadGPT2, makeConfig, saveGPT2 } from '@fpt-ts/gpt2';
import { runCommand } from './cli';
import { generateCommand, tokenizerFor } from './commands/generate';

let tmp: string;
let modelDir: string;
let writes: string[];
const tokenizer = new ByteTokenizer({ endOfText: true });

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fpt-generate-test-'));
  modelDir = path.join(tmp, 'byte-gpt2');
  const config = makeConfig({ vocab_size: 257, n_positions: 48, n_embd: 24, n_layer: 2, n_head: 4, initializer_range: 0.3 });
  saveGPT2(new GPT2(config, { generator: new Generator(42) }), modelDir);
  fs.writeFileSync(path.join(modelDir, 'tokenizer.json'), JSON.stringify({ type: 'byte' }));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});
beforeEach(() => {
  writes = [];
  jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    writes.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  });
});
afterEach(() => jest.restoreAllMocks());

/** The tokens the library generates for the same prompt and options. */
function expectedTokens(prompt: string, options: { maxNewTokens: number; temperature: number; topK: number; seed: number }): number[] {
  return [...generate(loadGPT2(modelDir), tokenizer.encode(prompt), { ...options, stopToken: tokenizer.eotId })];
}

test('tokenizerFor reads the byte-level marker', () => {
  const t = tokenizerFor(modelDir, tmp);
  expect(t).toBeInstanceOf(ByteTokenizer);
  expect([t.vocabSize, t.eotId]).toEqual([257, 256]);
});

test('prints the prompt, then streams one write per token, then a newline', async () => {
  const args = ['--model', modelDir, '--prompt', 'Hello', '--max-tokens', '12', '--temperature', '1', '--top-k', '0', '--seed', '3'];
  expect(await runCommand(generateCommand, args)).toBe(0);
  const tokens = expectedTokens('Hello', { maxNewTokens: 12, temperature: 1, topK: 0, seed: 3 });
  expect(tokens.length).toBeGreaterThan(0);
  expect(writes[0]).toBe('Hello');
  expect(writes).toHaveLength(1 + tokens.length + 1); // prompt, each token as it is chosen, flush + newline
  expect(writes[writes.length - 1].endsWith('\n')).toBe(true);
  expect(writes.join('')).toBe(`Hello${tokenizer.decode(tokens)}\n`);
});

test('greedy and --no-cache give the same text; a different seed changes the sample', async () => {
  const greedy = ['--model', modelDir, '--prompt', 'ab', '--max-tokens', '10', '--temperature', '0'];
  await runCommand(generateCommand, greedy);
  const cached = writes.join('');
  writes.length = 0;
  await runCommand(generateCommand, [...greedy, '--no-cache']);
  expect(writes.join('')).toBe(cached);
  expect(cached).toBe(`ab${tokenizer.decode(expectedTokens('ab', { maxNewTokens: 10, temperature: 0, topK: 0, seed: 0 }))}\n`);

  const sampled = (seed: string) => ['--model', modelDir, '--prompt', 'ab', '--max-tokens', '20', '--temperature', '1.5', '--top-k', '100', '--seed', seed];
  const texts: string[] = [];
  for (const seed of ['1', '2']) {
    writes.length = 0;
    await runCommand(generateCommand, sampled(seed));
    texts.push(writes.join(''));
    writes.length = 0;
    await runCommand(generateCommand, [...sampled(seed), '--no-cache']);
    expect(writes.join('')).toBe(texts[texts.length - 1]);
  }
  expect(texts[0]).not.toBe(texts[1]);
});

test('an empty prompt starts from <|endoftext|> without printing it', async () => {
  await runCommand(generateCommand, ['--model', modelDir, '--prompt', '', '--max-tokens', '5', '--seed', '1']);
  const tokens = [...generate(loadGPT2(modelDir), [tokenizer.eotId!], { maxNewTokens: 5, temperature: 0.8, topK: 40, seed: 1, stopToken: tokenizer.eotId })];
  expect(writes[0]).toBe(''); // the (empty) prompt
  expect(writes.join('')).toBe(`${tokenizer.decode(tokens)}\n`);
});

test('bad options are clear errors; --help prints the usage', async () => {
  await expect(runCommand(generateCommand, ['--model', modelDir, '--max-tokens=-3'])).rejects.toThrow("--max-tokens: expected an integer >= 0, got '-3'");
  await expect(runCommand(generateCommand, ['--model', modelDir, '--temperature', 'hot'])).rejects.toThrow("--temperature: expected a number >= 0, got 'hot'");
  await expect(runCommand(generateCommand, ['--model', modelDir, '--top-k', '2.5'])).rejects.toThrow("--top-k: expected an integer >= 0, got '2.5'");
  await expect(runCommand(generateCommand, ['--model', path.join(tmp, 'nowhere'), '--prompt', 'x'])).rejects.toThrow('no config.json');
  const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
  expect(await runCommand(generateCommand, ['--help'])).toBe(0);
  expect(log.mock.calls[0][0]).toContain('usage: fpt generate');
  const err = jest.spyOn(console, 'error').mockImplementation(() => undefined);
  expect(await runCommand(generateCommand, ['--model', modelDir, '--bogus'])).toBe(2);
  expect(String(err.mock.calls[0][0])).toContain("Unknown option '--bogus'");
});

test('a tokenizer larger than the model vocabulary is refused', async () => {
  const small = path.join(tmp, 'small-vocab');
  saveGPT2(new GPT2(makeConfig({ vocab_size: 100, n_positions: 8, n_embd: 8, n_layer: 1, n_head: 2 }), { generator: new Generator(1) }), small);
  fs.writeFileSync(path.join(small, 'tokenizer.json'), JSON.stringify({ type: 'byte' }));
  await expect(runCommand(generateCommand, ['--model', small, '--prompt', 'x'])).rejects.toThrow("the tokenizer has 257 tokens but the model's vocab_size is 100");
});

test('--profile: the same text, then a table of the kernels that ran on stderr', async () => {
  const args = ['--model', modelDir, '--prompt', 'ab', '--max-tokens', '6', '--temperature', '0', '--backend', 'ref'];
  await runCommand(generateCommand, args);
  const plain = writes.join('');
  writes.length = 0;
  const errors: string[] = [];
  jest.spyOn(console, 'error').mockImplementation((msg: string) => { errors.push(msg); });
  await runCommand(generateCommand, [...args, '--profile']);
  expect(writes.join('')).toBe(plain);
  expect(errors).toHaveLength(1);
  expect(errors[0]).toMatch(/^kernel time over \d+\.\d s of wall time:/);
  expect(errors[0]).toMatch(/\n {2}matmul +\d+ +\d+ +\d+\.\d%/);
  expect(errors[0]).toMatch(/\n {2}layerNorm +\d+ /);
  expect(errors[0]).toContain('(outside kernels)');
});
