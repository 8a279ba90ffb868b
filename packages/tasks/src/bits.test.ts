import { createBitMemoryTask, createBitXorTask } from './bits';
import { createTask } from './tasks';

const bytes = (a: Float32Array | Int32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe('bit memory', () => {
  const task = createBitMemoryTask();

  test('info matches the reference: 120 tokens x 50, head on the last 20 tokens x 100 logits, 1000 binary labels', () => {
    expect(task.info).toMatchObject({
      inputKind: 'continuous', tokens: 120, tokenDim: 50, numClasses: 2, outputTokens: 20, outputDim: 100, labelsPerExample: 1000,
    });
  });

  test('targets follow the definition: y is one of the 5 strings; the query agrees with it or is 0', () => {
    const B = 8;
    const { x, xShape, y, yShape } = task.batch('train', 0, B, 1);
    expect(xShape).toEqual([B, 120, 50]);
    expect(yShape).toEqual([B, 1000]);
    let zeros = 0;
    let violations = 0;
    for (let b = 0; b < B; b++) {
      const ex = x.subarray(b * 6000, (b + 1) * 6000); // (6, 1000) read row by row
      const target = Array.from(y.subarray(b * 1000, (b + 1) * 1000), (l) => (l === 0 ? -1 : 1));
      for (let i = 0; i < 5000; i++) if (Math.abs(ex[i]) !== 1) violations++;
      const matches = [0, 1, 2, 3, 4].filter((p) => target.every((t, i) => ex[p * 1000 + i] === t));
      if (matches.length === 0) violations++;
      for (let i = 0; i < 1000; i++) {
        const q = ex[5000 + i];
        if (q === 0) zeros++;
        else if (q !== target[i]) violations++;
      }
    }
    expect(violations).toBe(0);
    // masked with probability 1/2
    expect(zeros / (B * 1000)).toBeGreaterThan(0.45);
    expect(zeros / (B * 1000)).toBeLessThan(0.55);
  });

  test('tokens are the reshape (6, 1000) -> (120, 50): query bit 50t+j is token 100+t, feature j', () => {
    const { x, y } = task.batch('train', 3, 1, 0);
    let violations = 0;
    for (let t = 0; t < 20; t++) {
      for (let j = 0; j < 50; j++) {
        const q = x[(100 + t) * 50 + j];
        const label = y[50 * t + j];
        if (q !== 0 && q !== (label === 0 ? -1 : 1)) violations++;
      }
    }
    expect(violations).toBe(0);
  });

  test('same seed and index give the same batch; other seeds, indices and splits differ', () => {
    const a = task.batch('train', 5, 4, 7);
    const again = task.batch('train', 5, 4, 7);
    expect(bytes(again.x).equals(bytes(a.x)) && bytes(again.y).equals(bytes(a.y))).toBe(true);
    expect(bytes(task.batch('train', 6, 4, 7).x).equals(bytes(a.x))).toBe(false);
    expect(bytes(task.batch('train', 5, 4, 8).x).equals(bytes(a.x))).toBe(false);
    expect(bytes(task.batch('test', 5, 4, 7).x).equals(bytes(a.x))).toBe(false);
  });

  test('the evaluation set is fixed and independent of the batch size', () => {
    const small = createBitMemoryTask({ evalSize: 10 });
    const cat = (bs: number): number[] => [...small.evalSet('test', bs).batches()].flatMap((b) => Array.from(b.y));
    expect(cat(3)).toEqual(cat(10));
    expect(small.evalSet('test', 3).total).toBe(10);
  });
});

describe('bit xor', () => {
  const task = createTask('bit-xor');

  test('info: 10 tokens x 1, the last 5 tokens predict the 5 XOR bits', () => {
    expect(task.info).toMatchObject({ tokens: 10, tokenDim: 1, outputTokens: 5, outputDim: 2, labelsPerExample: 5, numClasses: 2 });
  });

  test('y is the element-wise XOR of the two strings', () => {
    const { x, xShape, y } = task.batch('train', 0, 64, 3);
    expect(xShape).toEqual([64, 10, 1]);
    let violations = 0;
    for (let b = 0; b < 64; b++) {
      for (let i = 0; i < 5; i++) {
        const a = x[b * 10 + i];
        const c = x[b * 10 + 5 + i];
        if ((a !== 0 && a !== 1) || y[b * 5 + i] !== (a !== c ? 1 : 0)) violations++;
      }
    }
    expect(violations).toBe(0);
  });

  test('the evaluation set is all 1024 inputs, each once', () => {
    const set = task.evalSet('test', 100);
    expect(set.total).toBe(1024);
    const seen = new Set<string>();
    for (const b of set.batches()) {
      for (let i = 0; i < b.xShape[0]; i++) seen.add(Array.from(b.x.subarray(i * 10, i * 10 + 10)).join(''));
    }
    expect(seen.size).toBe(1024);
  });

  test('patchSize must divide n', () => {
    expect(() => createBitXorTask({ n: 5, patchSize: 2 })).toThrow(/divide/);
  });
});
