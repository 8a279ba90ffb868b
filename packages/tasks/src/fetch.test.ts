/** The downloader against a local HTTP server on 127.0.0.1 (no test touches the internet). */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import { AddressInfo } from 'net';
import * as os from 'os';
import * as path from 'path';
import { dataFetch } from './cli';
import { DatasetSource, fetchDataset } from './datasets';
import { ChecksumError, downloadFile } from './fetch';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fpt-fetch-'));
const content = crypto.randomBytes(200_000);
const sha256 = crypto.createHash('sha256').update(content).digest('hex');
const md5 = crypto.createHash('md5').update(content).digest('hex');

/** Requests seen by the server: path and Range header. */
const requests: { url: string; range?: string }[] = [];
/** Paths whose next response is cut off after half the body. */
const cutOnce = new Set<string>();
let server: http.Server;
let base = '';

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const url = req.url ?? '';
    requests.push({ url, range: req.headers.range });
    if (url.startsWith('/redirect/')) {
      res.writeHead(302, { Location: `/files/${url.slice('/redirect/'.length)}` });
      return res.end();
    }
    const name = url.replace(/^\/(files|mirror)\//, '');
    const body = name === 'data.bin' || name === 'cut.bin' ? content : name === 'train-images-idx3-ubyte.gz' ? Buffer.from('not mnist') : null;
    if (body === null) {
      res.writeHead(404);
      return res.end();
    }
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = m ? Number(m[1]) : 0;
    const headers: http.OutgoingHttpHeaders = { 'Content-Length': body.length - start, 'Accept-Ranges': 'bytes' };
    if (m) headers['Content-Range'] = `bytes ${start}-${body.length - 1}/${body.length}`;
    res.writeHead(m ? 206 : 200, headers);
    if (cutOnce.delete(url)) {
      res.write(body.subarray(start, start + (body.length - start) / 2), () => setTimeout(() => res.destroy(), 50));
      return;
    }
    res.end(body.subarray(start));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  fs.rmSync(tmp, { recursive: true, force: true });
});

const quiet = { log: () => undefined };

test('downloads, verifies size, sha256 and md5, and renames into place', async () => {
  const dest = path.join(tmp, 'ok', 'data.bin');
  const r = await downloadFile(`${base}/files/data.bin`, dest, { sha256, md5, size: content.length, ...quiet });
  expect(r).toMatchObject({ bytes: content.length, resumedFrom: 0, alreadyPresent: false });
  expect(fs.readFileSync(dest).equals(content)).toBe(true);
  expect(fs.existsSync(`${dest}.part`)).toBe(false);
  // a verified file is kept without a request
  const before = requests.length;
  expect((await downloadFile(`${base}/files/data.bin`, dest, { sha256, ...quiet })).alreadyPresent).toBe(true);
  expect(requests.length).toBe(before);
});

test('a truncated download leaves a .part that the next call resumes with an HTTP Range request', async () => {
  const dest = path.join(tmp, 'resume', 'cut.bin');
  cutOnce.add('/files/cut.bin');
  await expect(downloadFile(`${base}/files/cut.bin`, dest, { sha256, retries: 0, ...quiet })).rejects.toThrow(/cut\.bin/);
  expect(fs.existsSync(dest)).toBe(false);
  const partial = fs.statSync(`${dest}.part`).size; // what arrived before the connection was reset
  expect(partial).toBeGreaterThan(0);
  expect(partial).toBeLessThan(content.length);
  const r = await downloadFile(`${base}/files/cut.bin`, dest, { sha256, ...quiet });
  expect(r.resumedFrom).toBe(partial);
  expect(requests[requests.length - 1].range).toBe(`bytes=${partial}-`);
  expect(fs.readFileSync(dest).equals(content)).toBe(true);
});

test('retries resume within one call', async () => {
  const dest = path.join(tmp, 'retry', 'cut.bin');
  cutOnce.add('/files/cut.bin');
  const r = await downloadFile(`${base}/files/cut.bin`, dest, { sha256, retries: 2, ...quiet });
  expect(r.resumedFrom).toBeGreaterThan(0);
  expect(fs.readFileSync(dest).equals(content)).toBe(true);
});

test('a wrong checksum is rejected: no file, no .part, the message gives both values', async () => {
  const dest = path.join(tmp, 'bad', 'data.bin');
  const wrong = '0'.repeat(64);
  const err = await downloadFile(`${base}/files/data.bin`, dest, { sha256: wrong, ...quiet }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ChecksumError);
  expect((err as Error).message).toContain(`sha256 ${sha256}, expected ${wrong}`);
  expect(fs.existsSync(dest)).toBe(false);
  expect(fs.existsSync(`${dest}.part`)).toBe(false);
});

test('redirects are followed; HTTP errors are reported', async () => {
  const dest = path.join(tmp, 'redirect', 'data.bin');
  await downloadFile(`${base}/redirect/data.bin`, dest, { sha256, ...quiet });
  expect(fs.readFileSync(dest).equals(content)).toBe(true);
  await expect(downloadFile(`${base}/files/missing.bin`, path.join(tmp, 'x'), { retries: 0, ...quiet })).rejects.toThrow(/HTTP 404/);
});

test('fetchDataset downloads every file of a source, then runs its finishing step', async () => {
  let finished = '';
  const source: DatasetSource = {
    name: 'demo',
    description: 'two copies',
    files: [
      { url: `${base}/files/data.bin`, file: 'demo/a.bin', sha256, size: content.length },
      { url: `${base}/files/data.bin`, file: 'demo/b.bin', md5 },
    ],
    finish: async (ctx) => {
      finished = ctx.dataDir;
    },
  };
  const dataDir = path.join(tmp, 'dataset');
  await fetchDataset(source, { dataDir, ...quiet });
  expect(fs.readFileSync(path.join(dataDir, 'demo', 'b.bin')).equals(content)).toBe(true);
  expect(finished).toBe(dataDir);
});

test('data fetch mnist from a mirror serving the wrong bytes is refused by the pinned checksums', async () => {
  const dataDir = path.join(tmp, 'mnist-mirror');
  await expect(dataFetch({ dataset: 'mnist', dataDir, mirror: `${base}/mirror`, ...quiet })).rejects.toThrow(ChecksumError);
  expect(fs.existsSync(path.join(dataDir, 'mnist', 'train-images-idx3-ubyte.gz'))).toBe(false);
  await expect(dataFetch({ dataset: 'nope', dataDir, ...quiet })).rejects.toThrow(/unknown dataset "nope"/);
});
