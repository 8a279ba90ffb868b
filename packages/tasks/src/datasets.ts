/**
 * The canonical public files behind each task, where they go in the data directory, and how they are
 * checked and unpacked after download (`npx fpt data fetch <dataset>`).
 *
 * Checksums: only values confirmed from the publisher or from several independent sources are listed; where
 * none is known for certain the entry says so and the files are checked by size and format instead.
 */
import * as fs from 'fs';
import * as path from 'path';
import { CIFAR_TEST_FILE, CIFAR_TRAIN_FILES, parseCifarBinary } from './cifar';
import { downloadFile } from './fetch';
import { homologyCsvPath, HomologyExample, formatHomologyCsv, parseHomologyCsv } from './homology';
import { LISTOPS_TSV_HEADER, ListOpsGeneratorOptions, LRA_GENERATOR } from './listops';
import { LRA_SIZES, writeGeneratedListOps } from './listops-task';
import { loadMnistSplit } from './mnist';
import { writeFileAtomic } from './paths';
import { streamTar } from './tar';
import { Split } from './types';

export interface RemoteFile {
  url: string;
  /** Destination, relative to the data directory. */
  file: string;
  sha256?: string;
  md5?: string;
  size?: number;
}

export interface FetchContext {
  dataDir: string;
  log: (message: string) => void;
  /** Generation parameters for the 'listops' entry. */
  listops?: { seed?: number; sizes?: { train: number; val: number; test: number }; generator?: Partial<ListOpsGeneratorOptions> };
}

export interface DatasetSource {
  name: string;
  description: string;
  files: RemoteFile[];
  /** Checks and unpacking once every file is downloaded and verified. */
  finish?: (ctx: FetchContext) => Promise<void>;
}

const MNIST_BASE = 'https://ossci-datasets.s3.amazonaws.com/mnist';
/** The original LeCun files (same bytes at yann.lecun.com); sha256 as pinned by torchvision's prototype datasets. */
const MNIST_FILES: RemoteFile[] = [
  { url: `${MNIST_BASE}/train-images-idx3-ubyte.gz`, file: 'mnist/train-images-idx3-ubyte.gz', size: 9912422,
    sha256: '440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609', md5: 'f68b3c2dcbeaaa9fbdd348bbdeb94873' },
  { url: `${MNIST_BASE}/train-labels-idx1-ubyte.gz`, file: 'mnist/train-labels-idx1-ubyte.gz', size: 28881,
    sha256: '3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c', md5: 'd53e105ee54ea40749a09fcbcd1e9432' },
  { url: `${MNIST_BASE}/t10k-images-idx3-ubyte.gz`, file: 'mnist/t10k-images-idx3-ubyte.gz', size: 1648877,
    sha256: '8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6', md5: '9fb629c4189551a2d022fa330f9573f3' },
  { url: `${MNIST_BASE}/t10k-labels-idx1-ubyte.gz`, file: 'mnist/t10k-labels-idx1-ubyte.gz', size: 4542,
    sha256: 'f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6', md5: 'ec29112dd5afa0611ce80d1b7f02629c' },
];

/** ProteinBERT's CSV copy of TAPE's remote homology data, at a pinned commit (the copy in ../shared/data). */
const PROTEIN_BERT_BASE = 'https://raw.githubusercontent.com/nadavbra/protein_bert/83198c99f18147c126f16f504e53e2201a6256e4/protein_benchmarks';
// sha256 and sizes computed from ../shared/data/remote_homology, whose SOURCE.txt names this commit and path.
const HOMOLOGY_CSV_FILES: RemoteFile[] = [
  { url: `${PROTEIN_BERT_BASE}/remote_homology.train.csv`, file: 'remote_homology/remote_homology.train.csv', size: 2114177,
    sha256: 'f39e9a7a2848c4b4efca891a1c8b6904fcae68a7d31b84648ef9e3c351380b0d' },
  { url: `${PROTEIN_BERT_BASE}/remote_homology.valid.csv`, file: 'remote_homology/remote_homology.valid.csv', size: 127732,
    sha256: '11d088bdb6fd4a5ee9b5e3d1f41d958b47e478b6c3daa62d928811c413ed2935' },
  { url: `${PROTEIN_BERT_BASE}/remote_homology.test.csv`, file: 'remote_homology/remote_homology.test.csv', size: 110120,
    sha256: 'ecf3e618355a87ddd76c54f502059d228b0d58bdd3a3b24f8abc80f1fe4145ce' },
];

export const HOMOLOGY_SIZES: Record<Split, number> = { train: 12312, val: 736, test: 718 };

async function checkHomology(ctx: FetchContext): Promise<void> {
  for (const split of ['train', 'val', 'test'] as Split[]) {
    const file = homologyCsvPath(ctx.dataDir, split);
    const n = parseHomologyCsv(fs.readFileSync(file, 'utf8'), file).length;
    if (n !== HOMOLOGY_SIZES[split]) ctx.log(`warning: ${file} has ${n} sequences, TAPE's ${split} split has ${HOMOLOGY_SIZES[split]}`);
    else ctx.log(`${file}: ${n} sequences`);
  }
}

/**
 * TAPE's raw JSON release. Its checksum is not published and not known here: the archive is checked by
 * format (gzip + tar holding remote_homology_{train,valid,test_fold_holdout}.json with `primary` and
 * `fold_label` fields) and the split sizes are compared with TAPE's.
 */
async function convertTapeJson(ctx: FetchContext): Promise<void> {
  const archive = path.join(ctx.dataDir, 'remote_homology', 'remote_homology_raw.tar.gz');
  const wanted: Record<string, Split> = { train: 'train', valid: 'val', test_fold_holdout: 'test' };
  const pattern = /remote_homology_(train|valid|test_fold_holdout)\.json$/;
  const found = new Set<Split>();
  await streamTar(archive, (name) => pattern.test(name), (entry) => {
    const m = pattern.exec(entry.name);
    if (!m || !entry.data) return;
    const split = wanted[m[1]];
    const parsed: unknown = JSON.parse(entry.data.toString('utf8'));
    if (!Array.isArray(parsed)) throw new Error(`${archive}: ${entry.name} is not a JSON array of records`);
    const examples: HomologyExample[] = parsed.map((r: unknown, i: number) => {
      const rec = r as { primary?: unknown; fold_label?: unknown };
      if (typeof rec.primary !== 'string' || typeof rec.fold_label !== 'number') {
        throw new Error(`${archive}: ${entry.name} record ${i} lacks a string "primary" and a numeric "fold_label"`);
      }
      return { seq: rec.primary, label: rec.fold_label };
    });
    writeFileAtomic(homologyCsvPath(ctx.dataDir, split), formatHomologyCsv(examples));
    found.add(split);
  });
  const missing = (['train', 'val', 'test'] as Split[]).filter((s) => !found.has(s));
  if (missing.length > 0) throw new Error(`${archive}: no JSON file for split(s) ${missing.join(', ')}`);
  await checkHomology(ctx);
}

/** Unpacks cifar-10-batches-bin/*.bin from the official archive and checks every record. */
async function unpackCifar(ctx: FetchContext): Promise<void> {
  const archive = path.join(ctx.dataDir, 'cifar10', 'cifar-10-binary.tar.gz');
  const outDir = path.join(ctx.dataDir, 'cifar10', 'cifar-10-batches-bin');
  const names = [...CIFAR_TRAIN_FILES, CIFAR_TEST_FILE];
  await streamTar(archive, (n) => names.includes(path.basename(n)), (entry) => {
    if (!entry.data) return;
    const name = path.basename(entry.name);
    const split = parseCifarBinary(entry.data, `${archive}: ${entry.name}`);
    if (split.count !== 10000) throw new Error(`${archive}: ${entry.name} holds ${split.count} images, expected 10000`);
    writeFileAtomic(path.join(outDir, name), entry.data);
  });
  const missing = names.filter((n) => !fs.existsSync(path.join(outDir, n)));
  if (missing.length > 0) throw new Error(`${archive}: missing ${missing.join(', ')}`);
  ctx.log(`unpacked ${names.length} files into ${outDir}`);
}

/** Extracts ListOps' basic_{train,val,test}.tsv from the LRA release archive into <dataDir>/listops. */
async function unpackLraListOps(ctx: FetchContext): Promise<void> {
  const archive = path.join(ctx.dataDir, 'lra', 'lra_release.gz');
  const pattern = /listops-1000\/basic_(train|val|test)\.tsv$/;
  const found: string[] = [];
  await streamTar(archive, (n) => pattern.test(n), (entry) => {
    const m = pattern.exec(entry.name);
    if (!m || !entry.data) return;
    if (!entry.data.subarray(0, 32).toString('utf8').replace(/"/g, '').startsWith(LISTOPS_TSV_HEADER)) {
      throw new Error(`${archive}: ${entry.name} does not start with the header "Source<TAB>Target"`);
    }
    writeFileAtomic(path.join(ctx.dataDir, 'listops', `basic_${m[1]}.tsv`), entry.data);
    found.push(m[1]);
  });
  if (found.length !== 3) throw new Error(`${archive}: found ListOps files for ${found.join(', ') || 'no split'}, expected train, val, test`);
  ctx.log(`extracted ListOps into ${path.join(ctx.dataDir, 'listops')}`);
}

async function generateListOpsFiles(ctx: FetchContext): Promise<void> {
  const dir = path.join(ctx.dataDir, 'listops');
  if (fs.existsSync(dir)) throw new Error(`${dir} already exists; remove it to generate again`);
  const seed = ctx.listops?.seed ?? 0;
  const sizes = ctx.listops?.sizes ?? LRA_SIZES;
  ctx.log(`generating ListOps (seed ${seed}, ${sizes.train}/${sizes.val}/${sizes.test}) into ${dir}`);
  const { seconds, drawn } = writeGeneratedListOps(dir, seed, sizes, { ...LRA_GENERATOR, ...ctx.listops?.generator }, ctx.log);
  ctx.log(`generated in ${seconds.toFixed(1)} s (${drawn} trees drawn)`);
}

export const DATASET_SOURCES: Record<string, DatasetSource> = {
  mnist: {
    name: 'mnist',
    description: 'MNIST IDX files (LeCun et al.), torchvision mirror',
    files: MNIST_FILES,
    finish: async (ctx) => {
      for (const split of ['train', 'test'] as const) ctx.log(`mnist ${split}: ${loadMnistSplit(ctx.dataDir, split).count} images`);
    },
  },
  cifar10: {
    name: 'cifar10',
    description: 'CIFAR-10 binary version (Krizhevsky 2009); md5 from the dataset page, sha256 from TFDS and others',
    files: [
      { url: 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz', file: 'cifar10/cifar-10-binary.tar.gz', size: 170052171,
        sha256: 'c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd', md5: 'c32a1d4ab5d03f1284b67883e8d87530' },
    ],
    finish: unpackCifar,
  },
  'remote-homology': {
    name: 'remote-homology',
    description: "TAPE remote homology as CSV (ProteinBERT's benchmark copy, pinned commit)",
    files: HOMOLOGY_CSV_FILES,
    finish: checkHomology,
  },
  'remote-homology-tape': {
    name: 'remote-homology-tape',
    description: "TAPE's own raw JSON release, converted to the CSV layout (no published checksum: checked by format)",
    // Checksum unknown: verified by format and split sizes in convertTapeJson.
    files: [{ url: 'http://s3.amazonaws.com/proteindata/data_raw/remote_homology.tar.gz', file: 'remote_homology/remote_homology_raw.tar.gz' }],
    finish: convertTapeJson,
  },
  'lra-listops': {
    name: 'lra-listops',
    description: 'the Long Range Arena release (several GB, all LRA tasks); only ListOps is extracted',
    // Checksum and size unknown: verified by format (gzip + tar with listops-1000/basic_*.tsv and their header).
    files: [{ url: 'https://storage.googleapis.com/long-range-arena/lra_release.gz', file: 'lra/lra_release.gz' }],
    finish: unpackLraListOps,
  },
  listops: {
    name: 'listops',
    description: "ListOps generated locally with LRA's generator (seeded; no download)",
    files: [],
    finish: generateListOpsFiles,
  },
};

/** Downloads (or resumes) every file of a source, verifies it, then runs its finishing step. */
export async function fetchDataset(source: DatasetSource, ctx: FetchContext, mirror?: string): Promise<void> {
  for (const f of source.files) {
    const url = mirror ? `${mirror.replace(/\/$/, '')}/${path.basename(new URL(f.url).pathname)}` : f.url;
    const dest = path.join(ctx.dataDir, f.file);
    const r = await downloadFile(url, dest, { sha256: f.sha256, md5: f.md5, size: f.size, log: ctx.log });
    ctx.log(r.alreadyPresent ? `${dest}: already present and verified` : `${dest}: ${r.bytes} bytes, verified`);
  }
  await source.finish?.(ctx);
}
