import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  bpeMerge, bpeMergeReference, ByteTokenizer, bytesToUnicode, bytesToUnicodeOrder, completeUtf8Prefix, GPT2_PATTERN,
  GPT2Tokenizer, loadGPT2Tokenizer, MergeRanks, parseMerges, StreamingDecoder,
} from './tokenizer';

const TOKENIZER_DIR = path.resolve(__dirname, '../../../../shared/data/gpt2-tokenizer');

let tok: GPT2Tokenizer;
let encoderJson: Record<string, number>;
let tmp: string;
beforeAll(() => {
  tok = loadGPT2Tokenizer(TOKENIZER_DIR);
  encoderJson = JSON.parse(fs.readFileSync(path.join(TOKENIZER_DIR, 'encoder.json'), 'utf8')) as Record<string, number>;
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tokenizer-test-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Deterministic generator (mulberry32) for the randomized round trips. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomText(next: () => number, length: number): string {
  const ranges: Array<[number, number]> = [
    [0x00, 0x80], [0x80, 0x800], [0x300, 0x370], [0x3040, 0x30ff], [0x4e00, 0x9fff], [0xac00, 0xd7a4],
    [0x1f300, 0x1fa00], [0x10000, 0x110000], [0xe000, 0x10000],
  ];
  const specials = [' ', '  ', '\n', '\r\n', '\t', '\u0085', '\u00a0', '\ufeff', '\u200d', "'s", "'ll", '<|endoftext|>'];
  let s = '';
  for (let i = 0; i < length; i++) {
    if (next() < 0.3) {
      s += specials[Math.floor(next() * specials.length)];
      continue;
    }
    const [lo, hi] = ranges[Math.floor(next() * ranges.length)];
    const c = lo + Math.floor(next() * (hi - lo));
    s += String.fromCodePoint(c >= 0xd800 && c < 0xe000 ? 0x41 : c); // no lone surrogates: they have no UTF-8 form
  }
  return s;
}

describe('GPT-2 byte-level BPE', () => {
  test('vocabulary: 50257 tokens, <|endoftext|> = 50256', () => {
    expect(tok.vocabSize).toBe(50257);
    expect(tok.eotId).toBe(50256);
  });

  test('known encodings', () => {
    expect(tok.encode('Hello world')).toEqual([15496, 995]);
    expect(tok.encode(' Hello')).toEqual([18435]);
    expect(tok.encode('<|endoftext|>', { allowSpecial: true })).toEqual([50256]);
    expect(tok.decode([15496, 995])).toBe('Hello world');
    expect(tok.decode([50256])).toBe('<|endoftext|>');
  });

  test('encodings cross-checked against a direct port of encoder.py run with Python `regex`', () => {
    expect(tok.encode('The quick brown fox jumps over the lazy dog.')).toEqual([464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 13]);
    expect(tok.encode("I'm 12 years old!!")).toEqual([40, 1101, 1105, 812, 1468, 3228]);
    expect(tok.encode('  two spaces\n\nnewlines')).toEqual([220, 734, 9029, 198, 198, 3605, 6615]);
    expect(tok.encode('😀')).toEqual([47249, 222]);
    expect(tok.encode('日本語')).toEqual([33768, 98, 17312, 105, 45739, 252]);
  });

  test('<|endoftext|> is plain text unless specials are allowed', () => {
    // '<', '|', '>' are single-byte tokens: ids 0x3c - 0x21, 0x7c - 0x21, 0x3e - 0x21 (see the byte table test)
    const plain = tok.encode('<|endoftext|>');
    expect(plain).toEqual([27, 91, encoderJson.end, encoderJson.of, encoderJson.text, 91, 29]);
    expect(plain).not.toContain(50256);
    expect(tok.decode(plain)).toBe('<|endoftext|>');
    const text = 'a<|endoftext|>b<|endoftext|><|endoftext|>';
    expect(tok.encode(text, { allowSpecial: true })).toEqual([...tok.encode('a'), 50256, ...tok.encode('b'), 50256, 50256]);
    expect(tok.decode(tok.encode(text, { allowSpecial: true }))).toBe(text);
  });

  test('byte table: 256 distinct printable characters; encoder.json lists the byte tokens first, in table order', () => {
    const table = bytesToUnicode();
    expect(new Set(table).size).toBe(256);
    for (let b = 0; b < 256; b++) {
      const c = table[b].charCodeAt(0);
      const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
      expect(printable ? c === b : c >= 256).toBe(true);
    }
    expect(table[0x20]).toBe('Ġ'); // space
    expect(table[0x0a]).toBe('Ċ'); // newline
    bytesToUnicodeOrder().forEach((b, i) => expect(encoderJson[table[b]]).toBe(i));
    // so every ASCII character on its own encodes to its byte token
    for (let b = 0; b < 128; b++) expect(tok.encode(String.fromCharCode(b))).toEqual([encoderJson[table[b]]]);
    // and every byte, as a token, decodes to that byte
    for (let b = 0; b < 256; b++) expect(Array.from(tok.tokenBytes(encoderJson[table[b]]))).toEqual([b]);
  });

  test('pre-tokenizer splits like encoder.py (Python regex: \\s is White_Space, with U+0085 and without U+FEFF)', () => {
    const split = (s: string): string[] => [...s.matchAll(GPT2_PATTERN)].map((m) => m[0]);
    expect(split("Hello  world\n\n x's")).toEqual(['Hello', ' ', ' world', '\n\n', ' x', "'s"]);
    expect(split('a\u0085\u0085b')).toEqual(['a', '\u0085', '\u0085', 'b']);
    expect(split(' \ufeff!')).toEqual([' \ufeff!']);
    expect(split('12345 six7')).toEqual(['12345', ' six', '7']);
  });

  test('round trip is exact on arbitrary text', () => {
    const samples = [
      '', ' ', '   ', '\n', '\n\n\n', '\t \t', 'trailing spaces   ', '   leading', 'a\r\nb\rc',
      'emoji 😀👍🏽 👨‍👩‍👧‍👦 🇫🇷', 'CJK 漢字 かな カナ 한국어 中文', 'combining e\u0301 a\u0300\u0316 Z̤͔ͧ̑̓ä͖̭̈̇',
      'controls \u0000\u0001\u0007\u001b[0m\u007f\u0080\u009f', 'BOM \ufeff at \ufeffstart and \u200b zero width', '\ufeffleading BOM',
      "contractions: I'm you're it's we've they'll he'd DON'T", 'numbers 3.14159 1,000,000 ١٢٣ ½ Ⅻ',
      'x'.repeat(5000), 'ab'.repeat(3000), '9'.repeat(2000), ' '.repeat(100), '\u{10FFFF}\u{E000}\u{FFFD}',
      fs.readFileSync(__filename, 'utf8'),
    ];
    for (const s of samples) expect(tok.decode(tok.encode(s))).toBe(s);
    const next = rng(7);
    for (let k = 0; k < 300; k++) {
      const s = randomText(next, Math.floor(next() * 60));
      const ids = tok.encode(s);
      if (tok.decode(ids) !== s) throw new Error(`round trip failed for ${JSON.stringify(s)}`);
      expect(tok.decode(tok.encode(s, { allowSpecial: true }))).toBe(s);
    }
  });

  test('decode replaces invalid UTF-8 like Python errors="replace" (one U+FFFD per maximal invalid subsequence)', () => {
    const byteId = (b: number): number => encoderJson[bytesToUnicode()[b]];
    const dec = (bytes: number[]): string => tok.decode(bytes.map(byteId));
    expect(dec([0xff])).toBe('\ufffd');
    expect(dec([0xe2, 0x82])).toBe('\ufffd'); // truncated 3-byte sequence: one replacement
    expect(dec([0xe2, 0x82, 0x41])).toBe('\ufffdA');
    expect(dec([0xf0, 0x80, 0x80])).toBe('\ufffd\ufffd\ufffd'); // 0x80 cannot follow 0xf0: each byte separately
    expect(dec([0xed, 0xa0, 0x80])).toBe('\ufffd\ufffd\ufffd'); // encoded surrogate
    expect(dec([0xc0, 0xaf])).toBe('\ufffd\ufffd'); // overlong
    expect(dec([0xe2, 0x82, 0xac])).toBe('€');
    expect(dec([0xef, 0xbb, 0xbf, 0x61])).toBe('\ufeffa'); // a leading BOM is kept, as Python's 'utf-8' codec does
  });

  test('errors: unknown ids, lone surrogates', () => {
    expect(() => tok.decode([15496, 50257])).toThrow(/token id 50257 at position 1 is not in the vocabulary \[0, 50257\)/);
    expect(() => tok.decode([-1])).toThrow(/token id -1/);
    expect(() => tok.decode([1.5])).toThrow(/token id 1.5/);
    expect(() => tok.encode('ok \ud800 no')).toThrow(/lone surrogate U\+D800 at index 3/);
  });

  test('fast BPE merging equals the encoder.py algorithm', () => {
    // real merges, real words (including long runs, where the quadratic reference is slow but still fine)
    const merges = parseMerges(fs.readFileSync(path.join(TOKENIZER_DIR, 'vocab.bpe'), 'utf8'), 'vocab.bpe');
    const ranks: MergeRanks = new Map(merges.map(([x, y], rank) => [`${x} ${y}`, rank]));
    const table = bytesToUnicode();
    const toWord = (s: string): string => Array.from(new TextEncoder().encode(s), (b) => table[b]).join('');
    for (const s of ['Hello', ' world', ' antidisestablishmentarianism', 'aaaaaaaaaaaaaaaaaaaaaaaaa', ' ' + 'ab'.repeat(200), '😀👍🏽', '1234567890'.repeat(20)]) {
      expect(bpeMerge(toWord(s), ranks)).toEqual(bpeMergeReference(toWord(s), ranks));
    }
    // synthetic merges over a tiny alphabet: many repeated and overlapping pairs, ties within a round
    const next = rng(11);
    for (let trial = 0; trial < 300; trial++) {
      const syms = ['a', 'b', 'c'];
      const synthetic: MergeRanks = new Map();
      for (let r = 0; r < 12; r++) {
        const x = syms[Math.floor(next() * syms.length)];
        const y = syms[Math.floor(next() * syms.length)];
        if (!synthetic.has(`${x} ${y}`)) {
          synthetic.set(`${x} ${y}`, r);
          syms.push(x + y);
        }
      }
      const word = Array.from({ length: 1 + Math.floor(next() * 30) }, () => 'abc'[Math.floor(next() * 3)]).join('');
      const fast = bpeMerge(word, synthetic);
      const ref = bpeMergeReference(word, synthetic);
      if (fast.join(' ') !== ref.join(' ')) throw new Error(`bpe mismatch on ${word}: ${fast.join(' ')} vs ${ref.join(' ')}`);
    }
  });
});

describe('streaming decoder', () => {
  test('holds back partial characters and emits them when complete', () => {
    const ids = tok.encode('😀'); // two tokens, the character's 4 bytes split between them
    expect(ids.length).toBe(2);
    const s = new StreamingDecoder(tok);
    expect(s.push(ids[0])).toBe('');
    expect(s.push(ids[1])).toBe('😀');
    expect(s.flush()).toBe('');
  });

  test('the pieces concatenate to decode(ids), for text and for arbitrary ids', () => {
    const next = rng(3);
    for (let k = 0; k < 200; k++) {
      const text = randomText(next, 30);
      const ids = tok.encode(text);
      const s = new StreamingDecoder(tok);
      const pieces = ids.map((id) => s.push(id));
      pieces.push(s.flush());
      expect(pieces.join('')).toBe(text);
      expect(pieces.some((p) => p.includes('\ufffd')) && !text.includes('\ufffd')).toBe(false);
    }
    for (let k = 0; k < 200; k++) {
      const ids = Array.from({ length: Math.floor(next() * 20) }, () => (next() < 0.6 ? Math.floor(next() * 256) : Math.floor(next() * 50257)));
      const s = new StreamingDecoder(tok);
      let out = '';
      for (const id of ids) out += s.push(id);
      out += s.flush();
      expect(out).toBe(tok.decode(ids));
    }
  });

  test('completeUtf8Prefix', () => {
    const cut = (bytes: number[]): number => completeUtf8Prefix(Uint8Array.from(bytes));
    expect(cut([])).toBe(0);
    expect(cut([0x41, 0xe2, 0x82])).toBe(1); // wait for the third byte
    expect(cut([0x41, 0xe2, 0x82, 0xac])).toBe(4);
    expect(cut([0xf0, 0x9f, 0x98])).toBe(0);
    expect(cut([0xf0, 0x80])).toBe(2); // can never become valid: release
    expect(cut([0xed, 0xa0])).toBe(2); // surrogate range: release
    expect(cut([0x80, 0x80, 0x80])).toBe(3);
    expect(cut([0xc3])).toBe(0);
    expect(cut([0xc0])).toBe(1);
  });
});

describe('byte tokenizer', () => {
  test('one id per UTF-8 byte; round trip; optional <|endoftext|>', () => {
    const b = new ByteTokenizer();
    expect(b.vocabSize).toBe(256);
    expect(b.eotId).toBeUndefined();
    expect(b.encode('hé😀')).toEqual([0x68, 0xc3, 0xa9, 0xf0, 0x9f, 0x98, 0x80]);
    const next = rng(5);
    for (let k = 0; k < 100; k++) {
      const s = randomText(next, 20);
      expect(b.decode(b.encode(s))).toBe(s);
    }
    expect(() => b.decode([256])).toThrow(/token id 256/);
    const e = new ByteTokenizer({ endOfText: true });
    expect(e.vocabSize).toBe(257);
    expect(e.encode('a<|endoftext|>', { allowSpecial: true })).toEqual([0x61, 256]);
    expect(e.encode('a<|endoftext|>')).toHaveLength(14);
    expect(e.decode([0x61, 256])).toBe('a<|endoftext|>');
    const s = new StreamingDecoder(e);
    expect([0xc3, 0xa9, 256].map((id) => s.push(id))).toEqual(['', 'é', '<|endoftext|>']);
  });
});

describe('loading', () => {
  function dirWith(name: string, files: Record<string, string>): string {
    const dir = path.join(tmp, name);
    fs.mkdirSync(dir);
    for (const [f, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, f), text);
    return dir;
  }
  const bytesVocab = (): Record<string, number> => Object.fromEntries(bytesToUnicodeOrder().map((b, i) => [bytesToUnicode()[b], i]));

  test('a tiny vocabulary in the same format works, under either file naming', () => {
    const vocab = { ...bytesVocab(), 'Ġt': 256, 'Ġth': 257, '<|endoftext|>': 258 };
    const merges = '#version: 0.2\nĠ t\nĠt h\n';
    for (const [name, e, m] of [['openai', 'encoder.json', 'vocab.bpe'], ['hf', 'vocab.json', 'merges.txt']]) {
      const t = loadGPT2Tokenizer(dirWith(`tiny-${name}`, { [e]: JSON.stringify(vocab), [m]: merges }));
      expect(t.vocabSize).toBe(259);
      expect(t.eotId).toBe(258);
      expect(t.encode(' the')).toEqual([257, 68]);
      expect(t.decode([257, 68])).toBe(' the');
    }
  });

  test('missing or corrupt files give errors naming the file', () => {
    const missing = path.join(tmp, 'nowhere');
    expect(() => loadGPT2Tokenizer(missing)).toThrow(new RegExp(`${missing}/encoder\\.json or ${missing}/vocab\\.json not found`));
    const merges = '#version: 0.2\nĠ t\n';
    const noBpe = dirWith('no-bpe', { 'encoder.json': JSON.stringify(bytesVocab()) });
    expect(() => loadGPT2Tokenizer(noBpe)).toThrow(/vocab\.bpe or .*merges\.txt not found/);
    const badJson = dirWith('bad-json', { 'encoder.json': '{"a": 1', 'vocab.bpe': merges });
    expect(() => loadGPT2Tokenizer(badJson)).toThrow(/bad-json\/encoder\.json is not valid JSON/);
    const badId = dirWith('bad-id', { 'encoder.json': JSON.stringify({ ...bytesVocab(), x: 'one' }), 'vocab.bpe': merges });
    expect(() => loadGPT2Tokenizer(badId)).toThrow(/token "x" has id "one"/);
    const noByte = { ...bytesVocab() };
    delete noByte['Ġ'];
    const missingByte = dirWith('missing-byte', { 'encoder.json': JSON.stringify(noByte), 'vocab.bpe': merges });
    expect(() => loadGPT2Tokenizer(missingByte)).toThrow(/no token for byte 0x20/);
    const dupId = dirWith('dup-id', { 'encoder.json': JSON.stringify({ ...bytesVocab(), 'Ġt': 0 }), 'vocab.bpe': merges });
    expect(() => loadGPT2Tokenizer(dupId)).toThrow(/id 0 is used by more than one token/);
    const badLine = dirWith('bad-line', { 'encoder.json': JSON.stringify({ ...bytesVocab(), 'Ġt': 256 }), 'vocab.bpe': '#version: 0.2\nĠ t\nabc\n' });
    expect(() => loadGPT2Tokenizer(badLine)).toThrow(/bad-line\/vocab\.bpe line 3: expected "first second", got "abc"/);
    const unknownMerge = dirWith('unknown-merge', { 'encoder.json': JSON.stringify(bytesVocab()), 'vocab.bpe': merges });
    expect(() => loadGPT2Tokenizer(unknownMerge)).toThrow(/merge #1 "Ġ t" produces "Ġt", which is not in the vocabulary/);
  });
});
