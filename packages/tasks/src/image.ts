/**
 * Image transforms of the reference (torchvision 0.8 on tensors, einops) on planar CHW float images.
 *
 * The reference applies, in order: ToTensor (uint8 / 255), [Grayscale], RandomCrop(32, padding=4),
 * RandomHorizontalFlip(), RandomRotation(20), Normalize; then rearranges into patches. Crop padding and the
 * rotation's empty corners are 0 in [0, 1] space, i.e. before normalization.
 *
 * The step-by-step functions below are the readable reference; `augmentSourceMap` composes the three random
 * steps into one pixel lookup (all three are nearest-pixel maps), which is what batches use. A test checks
 * that both agree.
 */
import { randInt, Rng, uniform } from './rng';

/**
 * einops.rearrange(x, 'c (h p1) (w p2) -> (h w) (p1 p2 c)') for one CHW image: patches in raster order,
 * and inside a patch (row, column, channel) with the channel fastest. Writes H*W*C values at `out[offset..]`.
 */
export function patchify(img: Float32Array, C: number, H: number, W: number, P: number, out: Float32Array, offset = 0): void {
  if (H % P !== 0 || W % P !== 0) throw new Error(`patchify: ${H}x${W} image is not divisible into ${P}x${P} patches`);
  const Wp = W / P;
  let k = offset;
  for (let h = 0; h < H / P; h++) {
    for (let w = 0; w < Wp; w++) {
      for (let p1 = 0; p1 < P; p1++) {
        for (let p2 = 0; p2 < P; p2++) {
          for (let c = 0; c < C; c++) out[k++] = img[(c * H + h * P + p1) * W + w * P + p2];
        }
      }
    }
  }
}

/** Zero padding on all four sides: C x H x W -> C x (H + 2 pad) x (W + 2 pad). */
export function padImage(img: Float32Array, C: number, H: number, W: number, pad: number): Float32Array {
  const H2 = H + 2 * pad;
  const W2 = W + 2 * pad;
  const out = new Float32Array(C * H2 * W2);
  for (let c = 0; c < C; c++) {
    for (let y = 0; y < H; y++) out.set(img.subarray((c * H + y) * W, (c * H + y + 1) * W), (c * H2 + y + pad) * W2 + pad);
  }
  return out;
}

/** RandomCrop(size=H, padding=pad) with the crop's top-left corner at (top, left) of the padded image. */
export function padAndCrop(img: Float32Array, C: number, H: number, W: number, pad: number, top: number, left: number): Float32Array {
  const padded = padImage(img, C, H, W, pad);
  const W2 = W + 2 * pad;
  const H2 = H + 2 * pad;
  const out = new Float32Array(C * H * W);
  for (let c = 0; c < C; c++) {
    for (let y = 0; y < H; y++) out.set(padded.subarray((c * H2 + top + y) * W2 + left, (c * H2 + top + y) * W2 + left + W), (c * H + y) * W);
  }
  return out;
}

export function hflip(img: Float32Array, C: number, H: number, W: number): Float32Array {
  const out = new Float32Array(img.length);
  for (let c = 0; c < C; c++) {
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) out[(c * H + y) * W + x] = img[(c * H + y) * W + (W - 1 - x)];
  }
  return out;
}

/** Round half to even, as std::nearbyint in PyTorch's nearest grid_sample. */
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v - Math.trunc(v)) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * For each output pixel of a rotation by `angleDegrees` (counter-clockwise, about the image center), the
 * index y*W+x of the input pixel it copies, or -1 outside the input (filled with 0). This is torchvision 0.8's
 * tensor rotate: inverse affine matrix [cos r, sin r, 0, -sin r, cos r, 0] with r = -angle, applied to pixel
 * centers measured from the image center, then grid_sample(mode='nearest', padding_mode='zeros',
 * align_corners=False).
 */
export function rotationSourceMap(H: number, W: number, angleDegrees: number): Int32Array {
  const r = (-angleDegrees * Math.PI) / 180;
  const cos = Math.cos(r);
  const sin = Math.sin(r);
  const map = new Int32Array(H * W);
  for (let y = 0; y < H; y++) {
    const Y = y - H / 2 + 0.5;
    for (let x = 0; x < W; x++) {
      const X = x - W / 2 + 0.5;
      const ix = roundHalfEven(cos * X + sin * Y + W / 2 - 0.5);
      const iy = roundHalfEven(-sin * X + cos * Y + H / 2 - 0.5);
      map[y * W + x] = ix >= 0 && ix < W && iy >= 0 && iy < H ? iy * W + ix : -1;
    }
  }
  return map;
}

export function rotateNearest(img: Float32Array, C: number, H: number, W: number, angleDegrees: number): Float32Array {
  const map = rotationSourceMap(H, W, angleDegrees);
  const out = new Float32Array(img.length);
  for (let c = 0; c < C; c++) {
    for (let i = 0; i < H * W; i++) out[c * H * W + i] = map[i] < 0 ? 0 : img[c * H * W + map[i]];
  }
  return out;
}

export interface AugmentParams {
  /** RandomCrop corner in the padded image, each in [0, 2 pad]. */
  top: number;
  left: number;
  flip: boolean;
  angle: number;
}

/** The reference's random draws per image, in its order: crop i, crop j, flip (p = 0.5), angle U(-20, 20). */
export function drawAugmentParams(rng: Rng, pad = 4, maxDegrees = 20): AugmentParams {
  const top = randInt(rng, 0, 2 * pad);
  const left = randInt(rng, 0, 2 * pad);
  const flip = rng() < 0.5;
  const angle = uniform(rng, -maxDegrees, maxDegrees);
  return { top, left, flip, angle };
}

/** The reference pipeline step by step: pad + crop, flip, rotate. */
export function augmentStepByStep(img: Float32Array, C: number, H: number, W: number, pad: number, p: AugmentParams): Float32Array {
  let out = padAndCrop(img, C, H, W, pad, p.top, p.left);
  if (p.flip) out = hflip(out, C, H, W);
  return rotateNearest(out, C, H, W, p.angle);
}

/**
 * The same three steps composed into one lookup: output pixel i copies input pixel map[i] (or is 0 if -1).
 * Rotation picks a pixel of the flipped crop; the flip mirrors its column; the crop shifts by (top, left)
 * inside the zero-padded image.
 */
export function augmentSourceMap(H: number, W: number, pad: number, p: AugmentParams): Int32Array {
  const rot = rotationSourceMap(H, W, p.angle);
  const map = new Int32Array(H * W);
  for (let i = 0; i < H * W; i++) {
    if (rot[i] < 0) {
      map[i] = -1;
      continue;
    }
    const cy = Math.floor(rot[i] / W);
    let cx = rot[i] % W;
    if (p.flip) cx = W - 1 - cx;
    const sy = cy + p.top - pad;
    const sx = cx + p.left - pad;
    map[i] = sy >= 0 && sy < H && sx >= 0 && sx < W ? sy * W + sx : -1;
  }
  return map;
}

/** torchvision's tensor Grayscale: L = 0.2989 R + 0.587 G + 0.114 B (PIL's integer version uses 0.299). */
export const GRAY_WEIGHTS = [0.2989, 0.587, 0.114] as const;
