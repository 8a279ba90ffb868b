/**
 * Where data is read from and where derived files are written, plus small file helpers.
 *
 * Data dir:  option `dataDir`, else FPT_DATA_DIR, else `<repo>/data`. It may be read-only (CI's copy).
 * Cache dir: option `cacheDir`, else FPT_CACHE_DIR, else `<repo>/.fpt-cache`, else `<tmp>/fpt-cache`.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';

/** The monorepo root: the nearest ancestor of this file whose package.json declares workspaces. */
export function findRepoRoot(start: string = __dirname): string | undefined {
  let dir = path.resolve(start);
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg)) {
      try {
        const parsed: unknown = JSON.parse(fs.readFileSync(pkg, 'utf8'));
        if (typeof parsed === 'object' && parsed !== null && 'workspaces' in parsed) return dir;
      } catch {
        // not JSON: keep walking up
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

export function resolveDataDir(dataDir?: string): string {
  if (dataDir) return path.resolve(dataDir);
  const env = process.env.FPT_DATA_DIR;
  if (env) return path.resolve(env);
  const root = findRepoRoot();
  return root ? path.join(root, 'data') : path.resolve('data');
}

export function resolveCacheDir(cacheDir?: string): string {
  if (cacheDir) return path.resolve(cacheDir);
  const env = process.env.FPT_CACHE_DIR;
  if (env) return path.resolve(env);
  const root = findRepoRoot();
  if (root && isWritable(root)) return path.join(root, '.fpt-cache');
  return path.join(os.tmpdir(), 'fpt-cache');
}

function isWritable(dir: string): boolean {
  try {
    fs.accessSync(dir, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** A dataset file that is not where it should be. The message says what, where, and how to get it. */
export class MissingDataError extends Error {
  constructor(
    readonly dataset: string,
    readonly lookedFor: string[],
    readonly dataDir: string,
    hint?: string,
  ) {
    super(
      `${dataset}: missing data file ${path.basename(lookedFor[0])}\n` +
        `  looked for: ${lookedFor.join('\n              ')}\n` +
        `  data dir:   ${dataDir} (set it with --data-dir or FPT_DATA_DIR)\n` +
        `  get it with: npx fpt data fetch ${dataset} --data-dir ${dataDir}` +
        (hint ? `\n  ${hint}` : ''),
    );
    this.name = 'MissingDataError';
  }
}

/** The first existing path among the candidates, or a MissingDataError naming all of them. */
export function findFile(dataset: string, dataDir: string, candidates: string[], hint?: string): string {
  for (const c of candidates) if (fs.existsSync(c)) return c;
  throw new MissingDataError(dataset, candidates, dataDir, hint);
}

/** Reads a file, gunzipping it when it starts with the gzip magic bytes 1f 8b. */
export function readMaybeGzip(file: string): Buffer {
  const raw = fs.readFileSync(file);
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      return zlib.gunzipSync(raw);
    } catch (e) {
      throw new Error(`${file}: gzip data is corrupt (${(e as Error).message})`);
    }
  }
  return raw;
}

/** Writes a file atomically: a temporary file in the same directory, then rename. */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

/**
 * Fills a directory atomically: `fill` writes into a fresh temporary sibling, which is then renamed to `dir`.
 * If another process finished the same directory first, its result is kept.
 */
export function buildDirAtomic(dir: string, fill: (tmpDir: string) => void): void {
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp);
  try {
    fill(tmp);
    fs.renameSync(tmp, dir);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    if (fs.existsSync(dir)) return;
    throw e;
  }
}
