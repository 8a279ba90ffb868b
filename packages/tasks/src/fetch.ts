/**
 * Downloading with checks: resumable (HTTP Range into `<file>.part`), verified (size, sha256 and/or md5),
 * and atomic (the final name appears only after verification, by rename). Plain node http/https.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as https from 'https';
import * as path from 'path';
import { pipeline } from 'stream/promises';

export interface Checksums {
  sha256?: string;
  md5?: string;
  /** Exact size in bytes. */
  size?: number;
}

export interface DownloadOptions extends Checksums {
  /** Further attempts after a failed transfer, each resuming where the last stopped (default 3). */
  retries?: number;
  /** Abort a transfer after this long without data (default 60 s). */
  idleTimeoutMs?: number;
  log?: (message: string) => void;
}

export interface DownloadResult {
  file: string;
  bytes: number;
  /** Bytes already present in the .part file when the last attempt started. */
  resumedFrom: number;
  /** True when a verified file was already there. */
  alreadyPresent: boolean;
}

export class ChecksumError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChecksumError';
  }
}

/** Streams a file through sha256 and md5. */
export async function hashFile(file: string): Promise<{ sha256: string; md5: string; size: number }> {
  const sha = crypto.createHash('sha256');
  const md5 = crypto.createHash('md5');
  let size = 0;
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) {
    const b = chunk as Buffer;
    sha.update(b);
    md5.update(b);
    size += b.length;
  }
  return { sha256: sha.digest('hex'), md5: md5.digest('hex'), size };
}

/** Throws a ChecksumError naming the mismatch; returns quietly if every given check passes. */
export async function verifyFile(file: string, expected: Checksums, label = file): Promise<void> {
  const got = await hashFile(file);
  if (expected.size !== undefined && got.size !== expected.size) {
    throw new ChecksumError(`${label}: size ${got.size} bytes, expected ${expected.size}`);
  }
  if (expected.sha256 !== undefined && got.sha256 !== expected.sha256.toLowerCase()) {
    throw new ChecksumError(`${label}: sha256 ${got.sha256}, expected ${expected.sha256.toLowerCase()}`);
  }
  if (expected.md5 !== undefined && got.md5 !== expected.md5.toLowerCase()) {
    throw new ChecksumError(`${label}: md5 ${got.md5}, expected ${expected.md5.toLowerCase()}`);
  }
}

/** One HTTP transfer into `part`, resuming from its current size when the server honours Range. */
function transfer(url: string, part: string, idleTimeoutMs: number, redirects = 5): Promise<{ resumedFrom: number }> {
  const start = fs.existsSync(part) ? fs.statSync(part).size : 0;
  const client = url.startsWith('https:') ? https : url.startsWith('http:') ? http : null;
  if (client === null) return Promise.reject(new Error(`${url}: only http and https URLs are supported`));
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { 'User-Agent': 'fpt-ts data fetch' };
    if (start > 0) headers.Range = `bytes=${start}-`;
    const req = client.get(url, { headers }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume();
        if (redirects === 0) return reject(new Error(`${url}: too many redirects`));
        const next = new URL(res.headers.location, url).toString();
        return resolve(transfer(next, part, idleTimeoutMs, redirects - 1));
      }
      if (status === 416 && start > 0) {
        // The .part already holds the whole file; verification decides whether it is right.
        res.resume();
        return resolve({ resumedFrom: start });
      }
      let resumedFrom = 0;
      let total: number | undefined;
      if (status === 206 && start > 0) {
        const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(res.headers['content-range'] ?? ''));
        if (!m || Number(m[1]) !== start) {
          res.resume();
          return reject(new Error(`${url}: asked for bytes from ${start}, server sent Content-Range "${res.headers['content-range']}"`));
        }
        resumedFrom = start;
        total = m[3] === '*' ? undefined : Number(m[3]);
      } else if (status === 200) {
        const length = res.headers['content-length'];
        total = length === undefined ? undefined : Number(length);
      } else {
        res.resume();
        return reject(new Error(`${url}: HTTP ${status} ${res.statusMessage ?? ''}`.trim()));
      }
      const out = fs.createWriteStream(part, { flags: resumedFrom > 0 ? 'a' : 'w' });
      pipeline(res, out).then(
        () => {
          const size = fs.statSync(part).size;
          if (total !== undefined && size !== total) {
            reject(new Error(`${url}: transfer stopped at ${size} of ${total} bytes`));
          } else {
            resolve({ resumedFrom });
          }
        },
        (e: Error) => reject(new Error(`${url}: transfer interrupted at ${fs.existsSync(part) ? fs.statSync(part).size : 0} bytes (${e.message})`)),
      );
    });
    req.setTimeout(idleTimeoutMs, () => req.destroy(new Error(`no data for ${idleTimeoutMs} ms`)));
    req.on('error', (e) => reject(new Error(`${url}: ${e.message}`)));
  });
}

/**
 * Downloads `url` to `dest`. An existing verified `dest` is kept. Interrupted transfers leave `dest.part`
 * and are resumed, by the retries here or by a later call. A file failing its checks is deleted and the
 * error names expected and actual values; `dest` never holds an unverified file.
 */
export async function downloadFile(url: string, dest: string, options: DownloadOptions = {}): Promise<DownloadResult> {
  const log = options.log ?? (() => undefined);
  const checks: Checksums = { sha256: options.sha256, md5: options.md5, size: options.size };
  if (fs.existsSync(dest)) {
    try {
      await verifyFile(dest, checks);
      return { file: dest, bytes: fs.statSync(dest).size, resumedFrom: 0, alreadyPresent: true };
    } catch (e) {
      log(`${dest} exists but fails its check (${(e as Error).message}); downloading again`);
      fs.unlinkSync(dest);
    }
  }
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  const part = `${dest}.part`;
  const retries = options.retries ?? 3;
  let resumedFrom = 0;
  for (let attempt = 0; ; attempt++) {
    try {
      if (fs.existsSync(part)) log(`resuming ${url} from byte ${fs.statSync(part).size}`);
      else log(`downloading ${url}`);
      resumedFrom = (await transfer(url, part, options.idleTimeoutMs ?? 60_000)).resumedFrom;
      break;
    } catch (e) {
      if (attempt >= retries) throw e;
      log(`${(e as Error).message}; retrying (${attempt + 1}/${retries})`);
    }
  }
  try {
    await verifyFile(part, checks, url);
  } catch (e) {
    fs.rmSync(part, { force: true });
    throw e;
  }
  fs.renameSync(part, dest);
  return { file: dest, bytes: fs.statSync(dest).size, resumedFrom, alreadyPresent: false };
}
