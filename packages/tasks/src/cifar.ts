/**
 * CIFAR-10 (reference `datasets/cifar10.py`, `datasets/cifar10_gray.py`).
 *
 * Sources, in order of preference:
 *  - the official binary version (cifar-10-batches-bin/data_batch_{1..5}.bin, test_batch.bin): each record
 *    is 1 label byte then 3072 pixel bytes, the 1024 red values, then green, then blue, rows top to bottom;
 *  - the JPEG copy (cifar10-jpeg.tar.gz: train/<class>/NNNN.jpg, test/<class>/NNNN.jpg), decoded once with
 *    jpeg-js into the binary format above in the cache directory. It is a lossy re-encoding.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import * as jpeg from 'jpeg-js';
import { createImageTask, ImageSplit } from './image-task';
import { buildDirAtomic, MissingDataError, resolveCacheDir, resolveDataDir } from './paths';
import { TarParser } from './tar';
import { CommonOptions, Task } from './types';
import * as zlib from 'zlib';

export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'] as const;

const PIXELS = 3 * 32 * 32;
const RECORD = 1 + PIXELS;
export const CIFAR_TRAIN_FILES = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`);
export const CIFAR_TEST_FILE = 'test_batch.bin';

export interface CifarOptions extends CommonOptions {
  /** 'auto' (binary if present, else the JPEG copy), 'binary', or 'jpeg'. */
  source?: 'auto' | 'binary' | 'jpeg';
  /** Training augmentation as the reference (crop pad 4, flip, rotation 20); default true. */
  augment?: boolean;
}

/** Parses records of the official binary format; `name` is used in error messages. */
export function parseCifarBinary(bytes: Uint8Array, name: string): ImageSplit {
  if (bytes.length % RECORD !== 0) {
    throw new Error(`${name}: ${bytes.length} bytes is not a whole number of ${RECORD}-byte CIFAR-10 records`);
  }
  const count = bytes.length / RECORD;
  const pixels = new Uint8Array(count * PIXELS);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const label = bytes[i * RECORD];
    if (label > 9) throw new Error(`${name}: label ${label} at offset ${i * RECORD} (record ${i}) is not in 0..9`);
    labels[i] = label;
    pixels.set(bytes.subarray(i * RECORD + 1, (i + 1) * RECORD), i * PIXELS);
  }
  return { pixels, labels, count };
}

/** Encodes images (N x 3 x 32 x 32 planar) as official binary records. */
export function encodeCifarBinary(split: ImageSplit, start = 0, end = split.count): Uint8Array {
  const out = new Uint8Array((end - start) * RECORD);
  for (let i = start; i < end; i++) {
    out[(i - start) * RECORD] = split.labels[i];
    out.set(split.pixels.subarray(i * PIXELS, (i + 1) * PIXELS), (i - start) * RECORD + 1);
  }
  return out;
}

function concatSplits(parts: ImageSplit[]): ImageSplit {
  const count = parts.reduce((a, p) => a + p.count, 0);
  const pixels = new Uint8Array(count * PIXELS);
  const labels = new Uint8Array(count);
  let at = 0;
  for (const p of parts) {
    pixels.set(p.pixels, at * PIXELS);
    labels.set(p.labels, at);
    at += p.count;
  }
  return { pixels, labels, count };
}

/** Reads data_batch_{1..5}.bin and test_batch.bin from a directory. */
export function loadCifarBinaryDir(dir: string): { train: ImageSplit; test: ImageSplit } {
  const read = (f: string): ImageSplit => parseCifarBinary(fs.readFileSync(path.join(dir, f)), path.join(dir, f));
  const data = { train: concatSplits(CIFAR_TRAIN_FILES.map(read)), test: read(CIFAR_TEST_FILE) };
  if (data.train.count === 0 || data.test.count === 0) throw new Error(`${dir}: no training or no test images`);
  return data;
}

/** Writes splits in the official binary layout (train in 5 files of up to 10000), e.g. as a decode cache. */
export function writeCifarBinaryDir(dir: string, data: { train: ImageSplit; test: ImageSplit }): void {
  const perFile = Math.ceil(data.train.count / CIFAR_TRAIN_FILES.length);
  CIFAR_TRAIN_FILES.forEach((f, k) => {
    const start = Math.min(k * perFile, data.train.count);
    fs.writeFileSync(path.join(dir, f), encodeCifarBinary(data.train, start, Math.min(start + perFile, data.train.count)));
  });
  fs.writeFileSync(path.join(dir, CIFAR_TEST_FILE), encodeCifarBinary(data.test));
}

/**
 * Decodes one 32x32 JPEG to planar RGB (3 x 32 x 32) at `out[offset..]`.
 * jpeg-js's own YCbCr -> RGB step truncates to integers (a bias of -0.5 levels); libjpeg (Pillow, torchvision)
 * rounds. So the YCbCr planes are taken from jpeg-js and converted here with rounding (JFIF / ITU-R 601).
 * Chroma upsampling stays jpeg-js's nearest-neighbour (libjpeg interpolates), a remaining small difference.
 */
export function decodeCifarJpeg(bytes: Uint8Array, name: string, out: Uint8Array, offset: number): void {
  let img: { width: number; height: number; data: Uint8Array };
  try {
    img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, colorTransform: false });
  } catch (e) {
    throw new Error(`${name}: JPEG decode failed (${(e as Error).message})`);
  }
  if (img.width !== 32 || img.height !== 32) throw new Error(`${name}: image is ${img.width}x${img.height}, expected 32x32`);
  const channels = img.data.length / 1024;
  if (channels !== 1 && channels !== 3) throw new Error(`${name}: ${channels} color components, expected 1 or 3`);
  const clamp = (v: number): number => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));
  for (let p = 0; p < 1024; p++) {
    if (channels === 1) {
      const v = img.data[p];
      out[offset + p] = out[offset + 1024 + p] = out[offset + 2048 + p] = v;
      continue;
    }
    const Y = img.data[3 * p];
    const Cb = img.data[3 * p + 1] - 128;
    const Cr = img.data[3 * p + 2] - 128;
    out[offset + p] = clamp(Y + 1.402 * Cr);
    out[offset + 1024 + p] = clamp(Y - 0.344136 * Cb - 0.714136 * Cr);
    out[offset + 2048 + p] = clamp(Y + 1.772 * Cb);
  }
}

const JPEG_ENTRY = /^(?:\.\/)?(train|test)\/([a-z]+)\/([^/]+\.jpe?g)$/i;

/**
 * Decodes the JPEG archive (train/<class>/*.jpg, test/<class>/*.jpg) into planar images, ordered by split,
 * class (labels 0..9 in CIFAR10_CLASSES order) and file name. `limitPerClass` decodes only the first files
 * of each class (for tests).
 */
export function decodeCifarJpegArchive(archive: string, limitPerClass = Infinity): { train: ImageSplit; test: ImageSplit } {
  const found: { split: 'train' | 'test'; label: number; name: string; data: Buffer }[] = [];
  const perClass = new Map<string, number>();
  const want = (name: string): boolean => {
    const m = JPEG_ENTRY.exec(name);
    if (!m) return false;
    const key = `${m[1]}/${m[2]}`;
    const n = perClass.get(key) ?? 0;
    if (n >= limitPerClass) return false;
    perClass.set(key, n + 1);
    return true;
  };
  const parser = new TarParser(want, (e) => {
    const m = JPEG_ENTRY.exec(e.name);
    if (!m || !e.data) return;
    const label = (CIFAR10_CLASSES as readonly string[]).indexOf(m[2]);
    if (label < 0) throw new Error(`${archive}: entry ${e.name}: unknown class "${m[2]}"`);
    found.push({ split: m[1] === 'train' ? 'train' : 'test', label, name: e.name, data: e.data });
  });
  const raw = fs.readFileSync(archive);
  parser.write(raw[0] === 0x1f && raw[1] === 0x8b ? zlib.gunzipSync(raw) : raw);
  parser.end();
  found.sort((a, b) => a.label - b.label || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const build = (split: 'train' | 'test'): ImageSplit => {
    const items = found.filter((f) => f.split === split);
    const pixels = new Uint8Array(items.length * PIXELS);
    const labels = new Uint8Array(items.length);
    items.forEach((f, i) => {
      decodeCifarJpeg(f.data, `${archive}: ${f.name}`, pixels, i * PIXELS);
      labels[i] = f.label;
    });
    return { pixels, labels, count: items.length };
  };
  const result = { train: build('train'), test: build('test') };
  if (result.train.count === 0 || result.test.count === 0) {
    throw new Error(`${archive}: found ${result.train.count} train and ${result.test.count} test JPEGs under train/<class>/ and test/<class>/`);
  }
  return result;
}

function sha256File(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/**
 * The decoded JPEG archive from the cache, decoding it (once) if needed. The cache directory is named by the
 * archive's sha256, so a changed archive is decoded again; it is written atomically.
 */
export function cachedCifarFromJpeg(archive: string, cacheDir: string, log?: (m: string) => void): { dir: string; decodeSeconds?: number } {
  const dir = path.join(cacheDir, `cifar10-jpeg-${sha256File(archive).slice(0, 16)}`);
  if (fs.existsSync(path.join(dir, CIFAR_TEST_FILE))) return { dir };
  log?.(`cifar10: decoding the JPEG archive ${archive} into ${dir} (once)`);
  const started = Date.now();
  buildDirAtomic(dir, (tmp) => writeCifarBinaryDir(tmp, decodeCifarJpegArchive(archive)));
  const decodeSeconds = (Date.now() - started) / 1000;
  log?.(`cifar10: decoded in ${decodeSeconds.toFixed(1)} s`);
  return { dir, decodeSeconds };
}

/** Where the CIFAR-10 images come from, and the images. */
export function loadCifar10(options: CifarOptions = {}): { train: ImageSplit; test: ImageSplit; description: string } {
  const source = options.source ?? 'auto';
  const dataDir = resolveDataDir(options.dataDir);
  const binaryDirs = [path.join(dataDir, 'cifar10', 'cifar-10-batches-bin'), path.join(dataDir, 'cifar-10-batches-bin')];
  const archive = path.join(dataDir, 'cifar10-jpeg', 'cifar10-jpeg.tar.gz');
  if (source !== 'jpeg') {
    const dir = binaryDirs.find((d) => fs.existsSync(path.join(d, CIFAR_TEST_FILE)));
    if (dir) return { ...loadCifarBinaryDir(dir), description: `official binary files in ${dir}` };
    if (source === 'binary') throw new MissingDataError('cifar10', binaryDirs.map((d) => path.join(d, CIFAR_TEST_FILE)), dataDir);
  }
  if (!fs.existsSync(archive)) {
    const lookedFor = source === 'jpeg' ? [archive] : [...binaryDirs.map((d) => path.join(d, CIFAR_TEST_FILE)), archive];
    throw new MissingDataError('cifar10', lookedFor, dataDir);
  }
  const { dir } = cachedCifarFromJpeg(archive, resolveCacheDir(options.cacheDir), options.log);
  return { ...loadCifarBinaryDir(dir), description: `JPEG copy ${archive} (lossy, decoded with jpeg-js, cached in ${dir})` };
}

export function createCifar10Task(options: CifarOptions = {}): Task {
  const augment = options.augment ?? true;
  const data = loadCifar10(options);
  return createImageTask(
    {
      name: 'cifar10',
      channels: 3,
      height: 32,
      width: 32,
      gray: false,
      augment,
      mean: [0.4914, 0.4822, 0.4465],
      std: [0.2023, 0.1994, 0.201],
      border: 0,
      patchSize: 4,
      numClasses: 10,
      notes:
        '4x4 RGB patches -> 64 tokens x 48 (reference code; the paper says dim 16); ' +
        'Normalize(mean (0.4914, 0.4822, 0.4465), std (0.2023, 0.1994, 0.2010)); ' +
        (augment ? 'train augmentation: RandomCrop(32, pad 4), HorizontalFlip, Rotation(20, nearest, zero fill)' : 'no augmentation') +
        `; eval on the official test set; data: ${data.description}`,
    },
    data,
  );
}

export function createCifar10GrayTask(options: CifarOptions = {}): Task {
  const augment = options.augment ?? true;
  const data = loadCifar10(options);
  return createImageTask(
    {
      name: 'cifar10-gray',
      channels: 3,
      height: 32,
      width: 32,
      gray: true,
      augment,
      mean: [0.5],
      std: [0.5],
      border: 0,
      patchSize: 1,
      numClasses: 10,
      notes:
        'CIFAR-10 LRA: Grayscale (0.2989 R + 0.587 G + 0.114 B), one pixel per token -> 1024 tokens x 1, Normalize(0.5, 0.5) -> [-1, 1]; ' +
        (augment ? 'train augmentation: RandomCrop(32, pad 4), HorizontalFlip, Rotation(20, nearest, zero fill)' : 'no augmentation') +
        `; eval on the official test set; data: ${data.description}`,
    },
    data,
  );
}
