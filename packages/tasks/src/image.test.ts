import {
  augmentSourceMap,
  augmentStepByStep,
  drawAugmentParams,
  hflip,
  padAndCrop,
  patchify,
  rotateNearest,
} from './image';
import { createRng } from './rng';

describe('patchify = einops "c (h p1) (w p2) -> (h w) (p1 p2 c)"', () => {
  test('hand-computed 2 channels, 4x4 image, 2x2 patches', () => {
    // value = 100*c + 10*row + col
    const C = 2;
    const img = new Float32Array(C * 16);
    for (let c = 0; c < C; c++) for (let r = 0; r < 4; r++) for (let q = 0; q < 4; q++) img[c * 16 + r * 4 + q] = 100 * c + 10 * r + q;
    const out = new Float32Array(32);
    patchify(img, C, 4, 4, 2, out);
    const tokens = [0, 1, 2, 3].map((t) => Array.from(out.subarray(t * 8, t * 8 + 8)));
    // token 0 = top-left patch; inside: (p1, p2, c) with c fastest
    expect(tokens[0]).toEqual([0, 100, 1, 101, 10, 110, 11, 111]);
    // token 1 = top-right patch (raster order of patches: h then w)
    expect(tokens[1]).toEqual([2, 102, 3, 103, 12, 112, 13, 113]);
    expect(tokens[2]).toEqual([20, 120, 21, 121, 30, 130, 31, 131]);
    expect(tokens[3]).toEqual([22, 122, 23, 123, 32, 132, 33, 133]);
  });

  test('MNIST-sized: 28x28 with 4x4 patches gives 49 tokens of 16; token 8 starts at row 4, col 4', () => {
    const img = Float32Array.from({ length: 784 }, (_, i) => i);
    const out = new Float32Array(784);
    patchify(img, 1, 28, 28, 4, out);
    expect(Array.from(out.subarray(8 * 16, 8 * 16 + 5))).toEqual([4 * 28 + 4, 4 * 28 + 5, 4 * 28 + 6, 4 * 28 + 7, 5 * 28 + 4]);
  });
});

describe('torchvision-style augmentation on CHW tensors', () => {
  const img = Float32Array.from([1, 2, 3, 4]); // 1 channel, 2x2: [[1, 2], [3, 4]]

  test('rotation by +90 degrees is counter-clockwise (torchvision / PIL convention)', () => {
    expect(Array.from(rotateNearest(img, 1, 2, 2, 90))).toEqual([2, 4, 1, 3]);
    expect(Array.from(rotateNearest(img, 1, 2, 2, 0))).toEqual([1, 2, 3, 4]);
  });

  test('rotation leaves 0 where the rotated image does not reach', () => {
    const big = new Float32Array(32 * 32).fill(1);
    const out = rotateNearest(big, 1, 32, 32, 20);
    expect(out[0]).toBe(0); // a corner
    expect(out[16 * 32 + 16]).toBe(1); // the center
  });

  test('flip and padded crop', () => {
    expect(Array.from(hflip(img, 1, 2, 2))).toEqual([2, 1, 4, 3]);
    // pad 1 then crop at (0, 0): the top-left pixel comes from the zero border
    expect(Array.from(padAndCrop(img, 1, 2, 2, 1, 0, 0))).toEqual([0, 0, 0, 1]);
    expect(Array.from(padAndCrop(img, 1, 2, 2, 1, 1, 1))).toEqual([1, 2, 3, 4]);
    expect(Array.from(padAndCrop(img, 1, 2, 2, 1, 2, 2))).toEqual([4, 0, 0, 0]);
  });

  test('the composed pixel map equals crop -> flip -> rotate applied step by step', () => {
    const C = 3;
    const src = Float32Array.from({ length: C * 1024 }, (_, i) => 1 + (i % 977));
    const rng = createRng('augment-test');
    for (let trial = 0; trial < 20; trial++) {
      const p = drawAugmentParams(rng);
      expect(p.top).toBeGreaterThanOrEqual(0);
      expect(p.top).toBeLessThanOrEqual(8);
      expect(Math.abs(p.angle)).toBeLessThanOrEqual(20);
      const expected = augmentStepByStep(src, C, 32, 32, 4, p);
      const map = augmentSourceMap(32, 32, 4, p);
      const got = new Float32Array(C * 1024);
      for (let c = 0; c < C; c++) for (let i = 0; i < 1024; i++) got[c * 1024 + i] = map[i] < 0 ? 0 : src[c * 1024 + map[i]];
      expect(got).toEqual(expected);
    }
  });
});
