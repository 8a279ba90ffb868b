/**
 * The image tasks (MNIST, CIFAR-10, CIFAR-10 LRA) share one batch pipeline: uint8 planar images ->
 * [0, 1] -> optional grayscale -> training augmentation -> Normalize -> optional zero padding -> patches.
 * Both splits are drawn like the reference's DataLoader(shuffle=True, drop_last=True).
 */
import { augmentSourceMap, drawAugmentParams, GRAY_WEIGHTS, padImage, patchify } from './image';
import { createRng, Rng } from './rng';
import { chunks, EpochBatcher, range } from './sampler';
import { Batch, EvalSet, Split, Task, TaskInfo, TaskName } from './types';

/** Images as stored on disk: N x C x H x W bytes (channel planes, rows top to bottom), and labels. */
export interface ImageSplit {
  pixels: Uint8Array;
  labels: Uint8Array;
  count: number;
}

export interface ImageTaskSpec {
  name: TaskName;
  /** Channels, height, width of the stored images. */
  channels: number;
  height: number;
  width: number;
  /** Convert RGB to one gray channel (torchvision tensor Grayscale). */
  gray: boolean;
  /** Random crop (padding 4) + horizontal flip + rotation (20 degrees) on training batches. */
  augment: boolean;
  /** Per output channel Normalize(mean, std), applied to [0, 1] values. */
  mean: number[];
  std: number[];
  /** Zero border added after normalization (MNIST paper variant: 2, for 28 -> 32). */
  border: number;
  patchSize: number;
  numClasses: number;
  notes: string;
}

const CROP_PADDING = 4;
const MAX_ROTATION_DEGREES = 20;

export function createImageTask(spec: ImageTaskSpec, splits: { train: ImageSplit; test: ImageSplit }): Task {
  const { channels: C, height: H, width: W, patchSize: P } = spec;
  const Co = spec.gray ? 1 : C;
  const Ho = H + 2 * spec.border;
  const Wo = W + 2 * spec.border;
  if (Ho % P !== 0 || Wo % P !== 0) throw new Error(`${spec.name}: ${Ho}x${Wo} images do not split into ${P}x${P} patches`);
  const tokens = (Ho / P) * (Wo / P);
  const tokenDim = P * P * Co;
  const info: TaskInfo = {
    name: spec.name,
    inputKind: 'continuous',
    tokens,
    variableLength: false,
    tokenDim,
    numClasses: spec.numClasses,
    outputTokens: 1,
    outputDim: spec.numClasses,
    labelsPerExample: 1,
    splits: ['train', 'test'],
    evalSplit: 'test',
    evalBatchScale: 1,
    notes: spec.notes,
  };
  const data: Record<'train' | 'test', ImageSplit> = splits;
  const batchers = {
    train: new EpochBatcher(splits.train.count, { kind: 'shuffle', dropLast: true }, `${spec.name}/train`),
    test: new EpochBatcher(splits.test.count, { kind: 'shuffle', dropLast: true }, `${spec.name}/test`),
  };
  const HW = H * W;
  const plane = new Float32Array(Co * HW); // one normalized image before the border and patching

  /** Writes example `i` of `split` as T x D values at x[offset..], through `map` (null = identity). */
  const writeExample = (split: ImageSplit, i: number, map: Int32Array | null, x: Float32Array, offset: number): void => {
    const base = i * C * HW;
    for (let co = 0; co < Co; co++) {
      const mean = spec.mean[co];
      const std = spec.std[co];
      for (let p = 0; p < HW; p++) {
        const src = map === null ? p : map[p];
        let v = 0; // padding and rotation corners are 0 before normalization
        if (src >= 0) {
          if (spec.gray) {
            const r = split.pixels[base + src];
            const g = split.pixels[base + HW + src];
            const b = split.pixels[base + 2 * HW + src];
            v = (GRAY_WEIGHTS[0] * r + GRAY_WEIGHTS[1] * g + GRAY_WEIGHTS[2] * b) / 255;
          } else {
            v = split.pixels[base + co * HW + src] / 255;
          }
        }
        plane[co * HW + p] = (v - mean) / std;
      }
    }
    const image = spec.border > 0 ? padImage(plane, Co, H, W, spec.border) : plane;
    patchify(image, Co, Ho, Wo, P, x, offset);
  };

  const assemble = (splitName: 'train' | 'test', ids: Int32Array, augmentRng: ((b: number) => Rng) | null): Batch => {
    const split = data[splitName];
    const B = ids.length;
    const x = new Float32Array(B * tokens * tokenDim);
    const y = new Int32Array(B);
    ids.forEach((i, b) => {
      const map = augmentRng ? augmentSourceMap(H, W, CROP_PADDING, drawAugmentParams(augmentRng(b), CROP_PADDING, MAX_ROTATION_DEGREES)) : null;
      writeExample(split, i, map, x, b * tokens * tokenDim);
      y[b] = split.labels[i];
    });
    return { x, xShape: [B, tokens, tokenDim], y, yShape: [B] };
  };

  const check = (split: Split): 'train' | 'test' => {
    if (split !== 'train' && split !== 'test') throw new Error(`${spec.name}: no '${split}' split (splits: train, test)`);
    return split;
  };

  return {
    info,
    size: (split) => data[check(split)].count,
    batch(split, index, batchSize, seed) {
      const s = check(split);
      const ids = batchers[s].indices(index, batchSize, seed);
      const augment = s === 'train' && spec.augment;
      return assemble(s, ids, augment ? (b) => createRng(spec.name, 'augment', `seed=${seed}`, `batch=${index}`, b) : null);
    },
    evalSet(split, batchSize): EvalSet {
      const s = check(split);
      return {
        split: s,
        total: data[s].count,
        excluded: 0,
        *batches() {
          for (const ids of chunks(range(data[s].count), batchSize)) yield assemble(s, ids, null);
        },
      };
    },
  };
}
