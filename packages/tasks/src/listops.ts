/**
 * ListOps data: the generator of LRA's `lra_benchmarks/data/listops.py`, an evaluator, the LRA TSV format,
 * and the two tokenizations.
 *
 * An expression is an operator applied to 2..maxArgs arguments, each a digit 0-9 or another expression:
 *   [MAX 2 9 [MIN 4 7 ] 0 ]  = 9
 * MIN, MAX, MED (median, rounded down like int(np.median)), SM (sum modulo 10).
 * LRA writes it with its tuple nesting as redundant parentheses:
 *   ( ( ( ( ( [MAX 2 ) 9 ) ( ( ( [MIN 4 ) 7 ) ] ) ) 0 ) ] )
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import { createRng, randInt, Rng } from './rng';

export const LISTOPS_OPS = ['MIN', 'MAX', 'MED', 'SM'] as const;
export type ListOpsOp = (typeof LISTOPS_OPS)[number];

export interface ListOpsNode {
  op: ListOpsOp;
  args: (ListOpsNode | number)[];
}

export interface ListOpsExample {
  source: string;
  target: number;
}

export interface ListOpsGeneratorOptions {
  /** Maximum tree depth; the root is depth 1 (LRA 10). */
  maxDepth: number;
  /** Maximum arguments per operator; each operator takes 2..maxArgs (LRA 10). */
  maxArgs: number;
  /** Keep expressions whose length is strictly between these (LRA 500 and 2000). */
  minLength: number;
  maxLength: number;
}

export const LRA_GENERATOR: ListOpsGeneratorOptions = { maxDepth: 10, maxArgs: 10, minLength: 500, maxLength: 2000 };

/** LRA's VALUE_P: below the maximum depth a node is an operator with probability 0.25, a digit otherwise. */
const OPERATOR_PROBABILITY = 0.25;

/**
 * One random tree, drawn as LRA's generate_tree(depth, max_depth, max_args) does (same order of draws:
 * leaf-or-operator, argument count, the arguments, then the operator). `length` counts operators, digits
 * and closing brackets (not parentheses), as LRA's length filter does.
 */
export function generateTree(rng: Rng, depth: number, maxDepth: number, maxArgs: number): { tree: ListOpsNode | number; length: number } {
  const r = depth < maxDepth ? rng() : 1;
  if (r > OPERATOR_PROBABILITY) return { tree: randInt(rng, 0, 9), length: 1 };
  const numArgs = randInt(rng, 2, maxArgs);
  const args: (ListOpsNode | number)[] = [];
  let length = 2;
  for (let i = 0; i < numArgs; i++) {
    const sub = generateTree(rng, depth + 1, maxDepth, maxArgs);
    args.push(sub.tree);
    length += sub.length;
  }
  const op = LISTOPS_OPS[randInt(rng, 0, LISTOPS_OPS.length - 1)];
  return { tree: { op, args }, length };
}

/** LRA's to_string: "( " for every tuple level, e.g. [MAX 2 9] -> "( ( ( [MAX 2 ) 9 ) ] )". */
export function toLraString(tree: ListOpsNode | number): string {
  if (typeof tree === 'number') return String(tree);
  const args = tree.args.map(toLraString);
  let s = '( '.repeat(tree.args.length + 1) + `[${tree.op} ${args[0]} )`;
  for (let i = 1; i < args.length; i++) s += ` ${args[i]} )`;
  return `${s} ] )`;
}

/** The compact form without parentheses: "[MAX 2 9 ]". */
export function toBracketString(tree: ListOpsNode | number): string {
  if (typeof tree === 'number') return String(tree);
  return `[${tree.op} ${tree.args.map(toBracketString).join(' ')} ]`;
}

export function applyOp(op: ListOpsOp, values: number[]): number {
  switch (op) {
    case 'MIN':
      return Math.min(...values);
    case 'MAX':
      return Math.max(...values);
    case 'MED': {
      // int(np.median(values)): the mean of the two middle values for an even count, truncated
      const s = [...values].sort((a, b) => a - b);
      const mid = s.length >> 1;
      return s.length % 2 === 1 ? s[mid] : Math.trunc((s[mid - 1] + s[mid]) / 2);
    }
    case 'SM':
      return values.reduce((a, b) => a + b, 0) % 10;
    default:
      return op satisfies never;
  }
}

export function evaluateTree(tree: ListOpsNode | number): number {
  return typeof tree === 'number' ? tree : applyOp(tree.op, tree.args.map(evaluateTree));
}

/**
 * Computes the value of an expression from its text (LRA form with parentheses, or the bracket form).
 * Throws with the token position on malformed input.
 */
export function evaluateListOps(source: string): number {
  const stack: { op: ListOpsOp; values: number[] }[] = [];
  let result: number | undefined;
  const words = source.trim().split(/\s+/);
  const fail = (i: number, why: string): never => {
    throw new Error(`ListOps expression: ${why} at token ${i} ("${words[i] ?? ''}")`);
  };
  words.forEach((w, i) => {
    if (w === '(' || w === ')' || w === '') return;
    if (result !== undefined) fail(i, 'text after the end of the expression');
    if (w.startsWith('[')) {
      const op = w.slice(1) as ListOpsOp;
      if (!LISTOPS_OPS.includes(op)) fail(i, `unknown operator ${w}`);
      stack.push({ op, values: [] });
    } else if (w === ']') {
      const frame = stack.pop() ?? fail(i, 'unmatched ]');
      if (frame.values.length === 0) fail(i, `${frame.op} without arguments`);
      const v = applyOp(frame.op, frame.values);
      if (stack.length > 0) stack[stack.length - 1].values.push(v);
      else result = v;
    } else if (/^[0-9]$/.test(w)) {
      if (stack.length > 0) stack[stack.length - 1].values.push(Number(w));
      else result = Number(w);
    } else {
      fail(i, 'unknown token');
    }
  });
  if (stack.length > 0) throw new Error(`ListOps expression: ${stack.length} unclosed operator(s) at the end`);
  if (result === undefined) throw new Error('ListOps expression: empty');
  return result;
}

/**
 * Generates `count` distinct expressions (LRA keeps a set of trees; here the set holds a hash of each tree),
 * keeping those with minLength < length < maxLength, and calls `onExample` for each in generation order.
 * Returns how many trees were drawn.
 */
export function generateListOps(
  count: number,
  seed: number,
  options: ListOpsGeneratorOptions,
  onExample: (example: ListOpsExample, index: number) => void,
): number {
  const rng = createRng('listops', 'generator', `seed=${seed}`);
  const seen = new Set<string>();
  let drawn = 0;
  while (seen.size < count) {
    const { tree, length } = generateTree(rng, 1, options.maxDepth, options.maxArgs);
    drawn++;
    if (!(length > options.minLength && length < options.maxLength)) continue;
    const key = crypto.createHash('sha1').update(toBracketString(tree)).digest('base64');
    if (seen.has(key)) continue;
    seen.add(key);
    onExample({ source: toLraString(tree), target: evaluateTree(tree) }, seen.size - 1);
  }
  return drawn;
}

// ---------------------------------------------------------------------------------------------------------
// LRA's TSV format: a header "Source\tTarget", then one expression and its value per line (Python's csv
// writer with delimiter '\t', which ends lines with \r\n).

export const LISTOPS_TSV_HEADER = 'Source\tTarget';

export function formatListOpsRow(e: ListOpsExample): string {
  return `${e.source}\t${e.target}\r\n`;
}

export function formatListOpsTsv(examples: Iterable<ListOpsExample>): string {
  let s = `${LISTOPS_TSV_HEADER}\r\n`;
  for (const e of examples) s += formatListOpsRow(e);
  return s;
}

function unquote(field: string): string {
  return field.length >= 2 && field.startsWith('"') && field.endsWith('"') ? field.slice(1, -1).replace(/""/g, '"') : field;
}

/** Parses one data line of an LRA TSV file. `where` names the file and line for errors. */
export function parseListOpsRow(line: string, where: string): ListOpsExample {
  const fields = line.split('\t');
  if (fields.length !== 2) throw new Error(`${where}: expected 2 tab-separated fields (Source, Target), got ${fields.length}`);
  const target = Number(unquote(fields[1]).trim());
  if (!Number.isInteger(target) || target < 0 || target > 9) throw new Error(`${where}: Target "${fields[1]}" is not a digit 0-9`);
  return { source: unquote(fields[0]), target };
}

/**
 * Reads an LRA ListOps TSV file line by line (the train file is hundreds of MB, so it is never held as one
 * string) and calls `onRow` for each example.
 */
export function readListOpsTsv(file: string, onRow: (example: ListOpsExample, index: number) => void): number {
  let rows = 0;
  forEachLine(file, (line, lineNo) => {
    if (lineNo === 1) {
      if (line.replace(/"/g, '') !== LISTOPS_TSV_HEADER) {
        throw new Error(`${file}:1: expected the header "Source<TAB>Target", got "${line.slice(0, 60)}"`);
      }
      return;
    }
    if (line === '') return;
    onRow(parseListOpsRow(line, `${file}:${lineNo}`), rows++);
  });
  return rows;
}

/** Calls `onLine` for each line of a text file (without its \n or \r\n), reading 4 MB at a time. */
export function forEachLine(file: string, onLine: (line: string, lineNo: number) => void): void {
  forEachLineBytes(file, (bytes, lineNo) => onLine(bytes.toString('utf8'), lineNo));
}

/** Like forEachLine, with each line as bytes (a view valid only during the call). */
export function forEachLineBytes(file: string, onLine: (line: Buffer, lineNo: number) => void): void {
  const fd = fs.openSync(file, 'r');
  try {
    const chunk = Buffer.alloc(4 << 20);
    let carry = Buffer.alloc(0);
    let lineNo = 0;
    const emit = (bytes: Buffer): void => {
      const end = bytes.length > 0 && bytes[bytes.length - 1] === 0x0d ? bytes.length - 1 : bytes.length;
      onLine(bytes.subarray(0, end), ++lineNo);
    };
    for (;;) {
      const n = fs.readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      const data = carry.length > 0 ? Buffer.concat([carry, chunk.subarray(0, n)]) : chunk.subarray(0, n);
      let start = 0;
      for (let nl = data.indexOf(0x0a, start); nl !== -1; nl = data.indexOf(0x0a, start)) {
        emit(data.subarray(start, nl));
        start = nl + 1;
      }
      carry = Buffer.from(data.subarray(start));
    }
    if (carry.length > 0) emit(carry);
  } finally {
    fs.closeSync(fd);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Tokenizations. Id 0 is padding in both.

/**
 * 'lra': the reference pipeline (tfds Tokenizer + TokenTextEncoder): split on and DROP every non-alphanumeric
 *   character, so "(", ")", "[" and "]" all vanish and "[MAX" becomes "MAX". 14 symbols, ids 1..14.
 *   (TokenTextEncoder orders its vocabulary as a Python set happens to iterate; any fixed order is equivalent
 *   for a learned embedding. Its out-of-vocabulary id 15 never occurs; here an unknown token is an error.)
 * 'brackets': keeps the operators with their "[" and the closing "]" that ends each argument list, and drops
 *   only the redundant tuple parentheses; 15 symbols, ids 1..15. The expression is then unambiguous.
 */
export type ListOpsTokenization = 'lra' | 'brackets';

const DIGITS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
export const LISTOPS_VOCAB: Record<ListOpsTokenization, readonly string[]> = {
  lra: ['MIN', 'MAX', 'MED', 'SM', ...DIGITS],
  brackets: ['[MIN', '[MAX', '[MED', '[SM', ']', ...DIGITS],
};

/** Rows of the input embedding: the symbols plus the padding id 0. */
export function listOpsVocabSize(tokenization: ListOpsTokenization): number {
  return LISTOPS_VOCAB[tokenization].length + 1;
}

/**
 * Vocabulary lookup without making a string per word: a small-integer key from the word's length, first,
 * second and last bytes (distinct for every ListOps symbol, all at most 4 bytes), then a byte comparison.
 */
function wordKey(bytes: ArrayLike<number>, start: number, length: number): number {
  if (length > 4) return -1;
  return ((length * 256 + bytes[start]) * 256 + bytes[start + (length > 1 ? 1 : 0)]) * 256 + bytes[start + length - 1];
}

interface VocabEntry {
  bytes: Buffer;
  id: number;
}

const VOCAB_IDS: Record<ListOpsTokenization, Map<number, VocabEntry>> = {
  lra: keyedVocab(LISTOPS_VOCAB.lra),
  brackets: keyedVocab(LISTOPS_VOCAB.brackets),
};

function keyedVocab(words: readonly string[]): Map<number, VocabEntry> {
  const map = new Map<number, VocabEntry>();
  words.forEach((w, i) => {
    const bytes = Buffer.from(w, 'latin1');
    map.set(wordKey(bytes, 0, bytes.length), { bytes, id: i + 1 });
  });
  if (map.size !== words.length) throw new Error('ListOps vocabulary: word keys collide');
  return map;
}

function lookup(vocab: Map<number, VocabEntry>, bytes: Uint8Array, start: number, length: number): number | undefined {
  const entry = vocab.get(wordKey(bytes, start, length));
  if (entry === undefined || entry.bytes.length !== length) return undefined;
  for (let k = 0; k < length; k++) if (entry.bytes[k] !== bytes[start + k]) return undefined;
  return entry.id;
}

/** Which bytes belong to words: alphanumerics and _ ('lra', like \w), or anything but whitespace ('brackets'). */
const WORD_BYTES: Record<ListOpsTokenization, Uint8Array> = {
  lra: Uint8Array.from({ length: 256 }, (_, b) => (/\w/.test(String.fromCharCode(b)) && b < 128 ? 1 : 0)),
  brackets: Uint8Array.from({ length: 256 }, (_, b) => (b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d ? 0 : 1)),
};

/**
 * Token ids of an expression (untruncated), from its UTF-8 bytes. Words are the alphanumeric runs ('lra',
 * as tfds's Tokenizer splits on \W+) or the whitespace-separated words minus "(" and ")" ('brackets').
 * Works on bytes, without a string per word, because the training split is 96000 lines of ~6 kB.
 */
export function tokenizeListOpsBytes(bytes: Uint8Array, tokenization: ListOpsTokenization): Int32Array {
  const ids = VOCAB_IDS[tokenization];
  const inWord = WORD_BYTES[tokenization];
  const out = new Int32Array(bytes.length);
  let n = 0;
  let i = 0;
  while (i < bytes.length) {
    if (!inWord[bytes[i]]) {
      i++;
      continue;
    }
    const start = i;
    while (i < bytes.length && inWord[bytes[i]]) i++;
    const len = i - start;
    if (tokenization === 'brackets' && len === 1 && (bytes[start] === 0x28 || bytes[start] === 0x29)) continue; // ( or )
    const id = lookup(ids, bytes, start, len);
    if (id === undefined) {
      const word = Buffer.from(bytes.buffer, bytes.byteOffset + start, len).toString('utf8');
      throw new Error(`ListOps ${tokenization} tokenizer: unknown token "${word}"`);
    }
    out[n++] = id;
  }
  return out.slice(0, n);
}

/** Token ids of an expression (untruncated). */
export function tokenizeListOps(source: string, tokenization: ListOpsTokenization): Int32Array {
  return tokenizeListOpsBytes(Buffer.from(source, 'utf8'), tokenization);
}
