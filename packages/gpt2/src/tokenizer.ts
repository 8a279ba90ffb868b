/**
 * Tokenizers. GPT-2's byte-level BPE, exactly as OpenAI's `encoder.py` (openai/gpt-2, src/encoder.py):
 *
 *   1. split the text with the pre-tokenizer regex (contractions, letter runs, digit runs, punctuation
 *      runs, each optionally with one leading space; whitespace runs);
 *   2. each piece -> its UTF-8 bytes -> one printable character per byte (`bytesToUnicode`);
 *   3. merge adjacent symbols by BPE rank (vocab.bpe line order) until no ranked pair is left;
 *   4. each final symbol -> its id in encoder.json.
 *
 * Decoding concatenates the tokens' bytes and decodes UTF-8 with U+FFFD for invalid sequences, like
 * Python's `bytes.decode('utf-8', errors='replace')`. Also here: a byte-level tokenizer (one id per byte)
 * behind the same `Tokenizer` interface, and a streaming decoder for generation.
 */

import * as fs from 'fs';
import * as path from 'path';

export interface EncodeOptions {
  /** Encode `<|endoftext|>` as the special token (GPT-2: 50256). Default false: it is ordinary text. */
  allowSpecial?: boolean;
}

export interface Tokenizer {
  readonly vocabSize: number;
  /** End-of-text token id, when the tokenizer has one. */
  readonly eotId?: number;
  encode(text: string, options?: EncodeOptions): number[];
  decode(ids: readonly number[]): string;
}

/** A tokenizer whose tokens are byte strings; what `StreamingDecoder` needs. */
export interface ByteLevelTokenizer extends Tokenizer {
  tokenBytes(id: number): Uint8Array;
}

export const END_OF_TEXT = '<|endoftext|>';

// ---------------------------------------------------------------------------------------------------
// shared pieces

/**
 * GPT-2's reversible byte -> character table: printable Latin-1 bytes map to themselves, the other 68
 * bytes (controls, space, 0x7f-0xa0, 0xad) to U+0100 onwards, in byte order. So every byte string is a
 * string of visible characters, and the vocabulary never holds raw whitespace or control characters.
 * Index = byte; the table also gives the order in which encoder.json lists the 256 byte tokens.
 */
export function bytesToUnicode(): string[] {
  const printable = (b: number): boolean => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const table = new Array<string>(256);
  let n = 0;
  for (let b = 0; b < 256; b++) table[b] = String.fromCharCode(printable(b) ? b : 256 + n++);
  return table;
}

/** The byte order of encoder.py's `bytes_to_unicode` dict: printable bytes first, then the rest. */
export function bytesToUnicodeOrder(): number[] {
  const table = bytesToUnicode();
  const order = Array.from({ length: 256 }, (_, b) => b);
  return order.sort((a, b) => table[a].charCodeAt(0) - table[b].charCodeAt(0));
}

/**
 * encoder.py's pattern: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * with `\s` spelled \p{White_Space}: Python's `regex` module reads `\s` as Unicode White_Space (which has
 * U+0085 and not U+FEFF), whereas JavaScript's `\s` has U+FEFF and lacks U+0085.
 */
export const GPT2_PATTERN =
  /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\p{White_Space}\p{L}\p{N}]+|\p{White_Space}+(?!\P{White_Space})|\p{White_Space}+/gu;

const utf8Encoder = new TextEncoder();

/** Python's `errors='replace'`: maximal invalid subsequences become U+FFFD; a leading BOM is kept. */
function utf8Decode(bytes: Uint8Array): string {
  return new TextDecoder('utf-8', { fatal: false, ignoreBOM: true }).decode(bytes);
}

/** A lone surrogate has no UTF-8 form: an error, rather than a silent U+FFFD that would break round trips. */
function assertWellFormed(text: string): void {
  const lone = /\p{Surrogate}/u.exec(text);
  if (lone !== null) {
    throw new Error(`tokenizer: text has a lone surrogate U+${lone[0].charCodeAt(0).toString(16).toUpperCase()} at index ${lone.index}; it cannot be encoded as UTF-8`);
  }
}

function concatBytes(chunks: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const c of chunks) n += c.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/** Split on `<|endoftext|>` when specials are allowed; `encodePiece` handles the text between. */
function encodeWithSpecial(text: string, eotId: number | undefined, options: EncodeOptions | undefined, encodePiece: (s: string) => number[]): number[] {
  if (options?.allowSpecial !== true || eotId === undefined) return encodePiece(text);
  const ids: number[] = [];
  text.split(END_OF_TEXT).forEach((piece, i) => {
    if (i > 0) ids.push(eotId);
    if (piece !== '') ids.push(...encodePiece(piece));
  });
  return ids;
}

function checkId(id: number, vocabSize: number, position?: number): void {
  if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
    const where = position === undefined ? '' : ` at position ${position}`;
    throw new Error(`tokenizer: token id ${id}${where} is not in the vocabulary [0, ${vocabSize})`);
  }
}

// ---------------------------------------------------------------------------------------------------
// BPE merging

/** Merge ranks keyed by `${first} ${second}` (a space never occurs inside a byte-level symbol). */
export type MergeRanks = Map<string, number>;

/**
 * encoder.py's `bpe`, line for line: repeatedly take the lowest-ranked adjacent pair and merge every
 * occurrence of it in one left-to-right pass. Quadratic in the word length; kept as the algorithmic
 * reference that `bpeMerge` is tested against.
 */
export function bpeMergeReference(word: string, ranks: MergeRanks): string[] {
  let symbols = [...word];
  while (symbols.length > 1) {
    let best: [string, string] | undefined;
    let bestRank = Infinity;
    for (let i = 0; i + 1 < symbols.length; i++) {
      const r = ranks.get(`${symbols[i]} ${symbols[i + 1]}`);
      if (r !== undefined && r < bestRank) {
        bestRank = r;
        best = [symbols[i], symbols[i + 1]];
      }
    }
    if (best === undefined) break;
    const [first, second] = best;
    const merged: string[] = [];
    for (let i = 0; i < symbols.length; ) {
      if (symbols[i] === first && i + 1 < symbols.length && symbols[i + 1] === second) {
        merged.push(first + second);
        i += 2;
      } else {
        merged.push(symbols[i]);
        i += 1;
      }
    }
    symbols = merged;
  }
  return symbols;
}

/** A binary min-heap of candidate merges (rank, left node, right node). */
class PairHeap {
  private rank: number[] = [];
  private left: number[] = [];
  private right: number[] = [];

  get size(): number {
    return this.rank.length;
  }

  peekRank(): number {
    return this.rank[0];
  }

  push(rank: number, left: number, right: number): void {
    let i = this.rank.length;
    this.rank.push(rank);
    this.left.push(left);
    this.right.push(right);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.rank[p] <= rank) break;
      this.move(p, i);
      i = p;
    }
    this.set(i, rank, left, right);
  }

  /** Remove the minimum; returns [rank, left, right]. */
  pop(): [number, number, number] {
    const top: [number, number, number] = [this.rank[0], this.left[0], this.right[0]];
    const rank = this.rank.pop() as number;
    const left = this.left.pop() as number;
    const right = this.right.pop() as number;
    const n = this.rank.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        let c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && this.rank[c + 1] < this.rank[c]) c++;
        if (this.rank[c] >= rank) break;
        this.move(c, i);
        i = c;
      }
      this.set(i, rank, left, right);
    }
    return top;
  }

  private move(from: number, to: number): void {
    this.set(to, this.rank[from], this.left[from], this.right[from]);
  }

  private set(i: number, rank: number, left: number, right: number): void {
    this.rank[i] = rank;
    this.left[i] = left;
    this.right[i] = right;
  }
}

/**
 * The same merges as `bpeMergeReference` in O(n log n): symbols form a linked list, candidate pairs sit in
 * a heap keyed by rank. One round pops every pair of the current lowest rank (all occurrences of one
 * merge, since a rank names one pair) and merges them left to right, skipping those whose symbols an
 * earlier merge in the round consumed. Pairs created by the round wait for the next one, as in the
 * reference's single pass. Merged symbols are new nodes, so a heap entry is valid exactly while both of
 * its nodes are alive and still adjacent.
 */
export function bpeMerge(word: string, ranks: MergeRanks): string[] {
  const n = word.length;
  if (n < 2) return n === 0 ? [] : [word];
  const cap = 2 * n;
  const sym = new Array<string>(cap);
  const prev = new Int32Array(cap);
  const next = new Int32Array(cap);
  const pos = new Int32Array(cap); // index of the node's first character in `word`: left-to-right order
  const alive = new Uint8Array(cap);
  for (let i = 0; i < n; i++) {
    sym[i] = word[i];
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
    pos[i] = i;
    alive[i] = 1;
  }
  const heap = new PairHeap();
  const offer = (l: number, r: number): void => {
    const rank = ranks.get(`${sym[l]} ${sym[r]}`);
    if (rank !== undefined) heap.push(rank, l, r);
  };
  for (let i = 0; i + 1 < n; i++) offer(i, i + 1);

  let head = 0;
  let count = n;
  const valid = (l: number, r: number): boolean => alive[l] === 1 && alive[r] === 1 && next[l] === r;
  while (heap.size > 0) {
    const [rank, l0, r0] = heap.pop();
    if (!valid(l0, r0)) continue;
    const round: Array<[number, number]> = [[l0, r0]];
    while (heap.size > 0 && heap.peekRank() === rank) {
      const [, l, r] = heap.pop();
      round.push([l, r]);
    }
    round.sort((a, b) => pos[a[0]] - pos[b[0]]);
    for (const [l, r] of round) {
      if (!valid(l, r)) continue;
      const k = count++;
      sym[k] = sym[l] + sym[r];
      pos[k] = pos[l];
      prev[k] = prev[l];
      next[k] = next[r];
      alive[k] = 1;
      alive[l] = 0;
      alive[r] = 0;
      if (prev[k] >= 0) next[prev[k]] = k;
      else head = k;
      if (next[k] >= 0) prev[next[k]] = k;
      if (prev[k] >= 0) offer(prev[k], k);
      if (next[k] >= 0) offer(k, next[k]);
    }
  }
  const out: string[] = [];
  for (let i = head; i >= 0; i = next[i]) out.push(sym[i]);
  return out;
}

// ---------------------------------------------------------------------------------------------------
// GPT-2

/** encoder.py's unbounded cache, bounded: cleared when it reaches this many words. */
const CACHE_LIMIT = 100_000;

export class GPT2Tokenizer implements ByteLevelTokenizer {
  readonly vocabSize: number;
  readonly eotId?: number;
  private readonly encoder: Map<string, number>;
  private readonly ranks: MergeRanks;
  private readonly byteEncoder = bytesToUnicode();
  private readonly idBytes: Array<Uint8Array | undefined>;
  private readonly cache = new Map<string, number[]>();

  /**
   * `encoder`: token string (in byte-unicode characters) -> id, as in encoder.json.
   * `merges`: the BPE merges in rank order, as in vocab.bpe. `source` names the files in errors.
   */
  constructor(encoder: Map<string, number>, merges: ReadonlyArray<readonly [string, string]>, source = 'GPT-2 tokenizer') {
    this.encoder = encoder;
    const byteDecoder = new Map(this.byteEncoder.map((c, b) => [c, b]));
    let maxId = -1;
    const idBytes: Array<Uint8Array | undefined> = [];
    for (const [token, id] of encoder) {
      if (!Number.isInteger(id) || id < 0) throw new Error(`${source}: token ${JSON.stringify(token)} has invalid id ${id}`);
      if (idBytes[id] !== undefined) throw new Error(`${source}: id ${id} is used by more than one token (one is ${JSON.stringify(token)})`);
      const bytes = new Uint8Array(token.length);
      for (let i = 0; i < token.length; i++) {
        const b = byteDecoder.get(token[i]);
        if (b === undefined) throw new Error(`${source}: token ${JSON.stringify(token)} (id ${id}) has character ${JSON.stringify(token[i])}, which is not in the byte-to-unicode table`);
        bytes[i] = b;
      }
      idBytes[id] = bytes;
      maxId = Math.max(maxId, id);
    }
    for (let b = 0; b < 256; b++) {
      if (!encoder.has(this.byteEncoder[b])) throw new Error(`${source}: no token for byte 0x${b.toString(16).padStart(2, '0')} (${JSON.stringify(this.byteEncoder[b])}); the vocabulary must hold all 256 bytes`);
    }
    this.ranks = new Map();
    merges.forEach(([a, b], rank) => {
      if (!encoder.has(a + b)) throw new Error(`${source}: merge #${rank + 1} "${a} ${b}" produces ${JSON.stringify(a + b)}, which is not in the vocabulary`);
      this.ranks.set(`${a} ${b}`, rank); // a repeated merge keeps its last rank, as dict(zip(merges, range(...))) does
    });
    this.idBytes = idBytes;
    this.vocabSize = maxId + 1;
    this.eotId = encoder.get(END_OF_TEXT);
  }

  encode(text: string, options?: EncodeOptions): number[] {
    return encodeWithSpecial(text, this.eotId, options, (s) => this.encodeOrdinary(s));
  }

  /** encoder.py's `encode`: no special tokens; `<|endoftext|>` in the text is spelled out. */
  encodeOrdinary(text: string): number[] {
    assertWellFormed(text);
    const ids: number[] = [];
    for (const match of text.matchAll(GPT2_PATTERN)) ids.push(...this.encodeWord(match[0]));
    return ids;
  }

  private encodeWord(piece: string): number[] {
    const cached = this.cache.get(piece);
    if (cached !== undefined) return cached;
    let word = '';
    for (const b of utf8Encoder.encode(piece)) word += this.byteEncoder[b];
    const ids = bpeMerge(word, this.ranks).map((s) => this.encoder.get(s) as number); // merges were checked against the vocabulary
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(piece, ids);
    return ids;
  }

  tokenBytes(id: number): Uint8Array {
    const bytes = Number.isInteger(id) ? this.idBytes[id] : undefined;
    if (bytes === undefined) throw new Error(`GPT-2 tokenizer: token id ${id} is not in the vocabulary`);
    return bytes;
  }

  decodeBytes(ids: readonly number[]): Uint8Array {
    return concatBytes(ids.map((id, i) => {
      checkId(id, this.vocabSize, i);
      return this.tokenBytes(id);
    }));
  }

  decode(ids: readonly number[]): string {
    return utf8Decode(this.decodeBytes(ids));
  }
}

function readTokenizerFile(dir: string, names: string[]): { file: string; text: string } {
  for (const name of names) {
    const file = path.join(dir, name);
    if (!fs.existsSync(file)) continue;
    try {
      return { file, text: fs.readFileSync(file, 'utf8') };
    } catch (e) {
      throw new Error(`GPT-2 tokenizer: cannot read ${file}: ${(e as Error).message}`);
    }
  }
  throw new Error(`GPT-2 tokenizer: ${names.map((n) => path.join(dir, n)).join(' or ')} not found`);
}

/** encoder.json: a JSON object {token: id}. */
export function parseEncoderJson(text: string, file: string): Map<string, number> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`GPT-2 tokenizer: ${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error(`GPT-2 tokenizer: ${file} must be a JSON object {token: id}`);
  const encoder = new Map<string, number>();
  for (const [token, id] of Object.entries(json as Record<string, unknown>)) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) throw new Error(`GPT-2 tokenizer: ${file}: token ${JSON.stringify(token)} has id ${JSON.stringify(id)}, expected a non-negative integer`);
    encoder.set(token, id);
  }
  return encoder;
}

/**
 * vocab.bpe: a "#version" line, then one merge "first second" per line, in rank order. encoder.py takes
 * `split('\n')[1:-1]`; here the version line and trailing blank lines are dropped by content.
 */
export function parseMerges(text: string, file: string): Array<[string, string]> {
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const start = lines.length > 0 && lines[0].startsWith('#version') ? 1 : 0;
  const merges: Array<[string, string]> = [];
  for (let i = start; i < lines.length; i++) {
    const parts = lines[i].split(' ');
    if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
      throw new Error(`GPT-2 tokenizer: ${file} line ${i + 1}: expected "first second", got ${JSON.stringify(lines[i].slice(0, 60))}`);
    }
    merges.push([parts[0], parts[1]]);
  }
  if (merges.length === 0) throw new Error(`GPT-2 tokenizer: ${file} holds no merges`);
  return merges;
}

/**
 * Load GPT-2's tokenizer from a directory with OpenAI's `encoder.json` + `vocab.bpe`
 * (or the same files under HuggingFace's names, `vocab.json` + `merges.txt`).
 */
export function loadGPT2Tokenizer(dir: string): GPT2Tokenizer {
  const enc = readTokenizerFile(dir, ['encoder.json', 'vocab.json']);
  const bpe = readTokenizerFile(dir, ['vocab.bpe', 'merges.txt']);
  return new GPT2Tokenizer(parseEncoderJson(enc.text, enc.file), parseMerges(bpe.text, bpe.file), `GPT-2 tokenizer (${enc.file}, ${bpe.file})`);
}

// ---------------------------------------------------------------------------------------------------
// bytes

/** One token per byte (ids 0..255), optionally with `<|endoftext|>` = 256. */
export class ByteTokenizer implements ByteLevelTokenizer {
  readonly vocabSize: number;
  readonly eotId?: number;
  private readonly eotBytes = utf8Encoder.encode(END_OF_TEXT);

  constructor(options: { endOfText?: boolean } = {}) {
    this.vocabSize = options.endOfText === true ? 257 : 256;
    if (options.endOfText === true) this.eotId = 256;
  }

  encode(text: string, options?: EncodeOptions): number[] {
    return encodeWithSpecial(text, this.eotId, options, (s) => {
      assertWellFormed(s);
      return Array.from(utf8Encoder.encode(s));
    });
  }

  tokenBytes(id: number): Uint8Array {
    if (id === this.eotId) return this.eotBytes;
    checkId(id, 256);
    return Uint8Array.of(id);
  }

  decode(ids: readonly number[]): string {
    ids.forEach((id, i) => checkId(id, this.vocabSize, i));
    return utf8Decode(concatBytes(ids.map((id) => this.tokenBytes(id))));
  }
}

// ---------------------------------------------------------------------------------------------------
// streaming

/**
 * Number of leading bytes of `buf` that can be decoded now: everything except a trailing, still
 * incomplete UTF-8 sequence that further bytes could complete. Bytes that can never become valid are
 * released (they decode to U+FFFD exactly as they would in the whole text).
 */
export function completeUtf8Prefix(buf: Uint8Array): number {
  const n = buf.length;
  for (let i = n - 1; i >= Math.max(0, n - 3); i--) {
    const lead = buf[i];
    if ((lead & 0xc0) === 0x80) continue; // continuation byte: keep looking for the lead
    const need = lead >= 0xc2 && lead <= 0xdf ? 2 : lead >= 0xe0 && lead <= 0xef ? 3 : lead >= 0xf0 && lead <= 0xf4 ? 4 : 1;
    if (n - i >= need) return n; // complete (or a single byte)
    if (n - i >= 2) {
      // the second byte's range depends on the lead (no overlongs, no surrogates, nothing above U+10FFFF)
      const b = buf[i + 1];
      const [lo, hi] = lead === 0xe0 ? [0xa0, 0xbf] : lead === 0xed ? [0x80, 0x9f] : lead === 0xf0 ? [0x90, 0xbf] : lead === 0xf4 ? [0x80, 0x8f] : [0x80, 0xbf];
      if (b < lo || b > hi) return n;
    }
    return i;
  }
  return n;
}

/**
 * For generation: feed token ids one at a time, get back the text that became complete. Text is emitted
 * only once its bytes form whole UTF-8 characters, so a character split across tokens (common for emoji
 * and CJK in GPT-2) is never printed as U+FFFD halves. The concatenation of everything `push` and
 * `flush` return equals `decode` of all the ids.
 */
export class StreamingDecoder {
  private pending: Uint8Array = new Uint8Array(0);

  constructor(private readonly tokenizer: ByteLevelTokenizer) {}

  push(id: number): string {
    checkId(id, this.tokenizer.vocabSize);
    const buf = concatBytes([this.pending, this.tokenizer.tokenBytes(id)]);
    const cut = completeUtf8Prefix(buf);
    this.pending = buf.slice(cut);
    return cut === 0 ? '' : utf8Decode(buf.subarray(0, cut));
  }

  /** Whatever is left (an incomplete final character decodes to U+FFFD). */
  flush(): string {
    const rest = this.pending;
    this.pending = new Uint8Array(0);
    return rest.length === 0 ? '' : utf8Decode(rest);
  }
}
