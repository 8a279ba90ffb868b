import { bufferShuffleOrder, createRng, permutation } from './rng';
import { EpochBatcher, VariableEpochStream } from './sampler';

const sorted = (a: Int32Array): number[] => Array.from(a).sort((p, q) => p - q);

test('random streams are reproducible and keyed by their name', () => {
  const a = createRng('x', 1);
  const b = createRng('x', 1);
  const c = createRng('x', 2);
  const va = [a(), a(), a()];
  expect([b(), b(), b()]).toEqual(va);
  expect([c(), c(), c()]).not.toEqual(va);
});

test('permutation and tf-style buffer shuffle are permutations', () => {
  expect(sorted(permutation(100, createRng('p')))).toEqual([...Array(100).keys()]);
  const order = bufferShuffleOrder(1000, 16, createRng('b'));
  expect(sorted(order)).toEqual([...Array(1000).keys()]);
  // with a 16-element buffer, element k is emitted no earlier than position k - 16
  order.forEach((v, pos) => expect(pos).toBeGreaterThanOrEqual(v - 16));
});

test('EpochBatcher: each epoch visits every example once, drop_last drops the remainder, epochs differ', () => {
  const batcher = new EpochBatcher(10, { kind: 'shuffle', dropLast: true }, 't');
  expect(batcher.batchesPerEpoch(3)).toBe(3);
  const epoch0 = [0, 1, 2].flatMap((i) => Array.from(batcher.indices(i, 3, 5)));
  expect(new Set(epoch0).size).toBe(9);
  const epoch1 = [3, 4, 5].flatMap((i) => Array.from(batcher.indices(i, 3, 5)));
  expect(epoch1).not.toEqual(epoch0);
  // a pure function of (index, batch size, seed)
  const fresh = new EpochBatcher(10, { kind: 'shuffle', dropLast: true }, 't');
  expect(Array.from(fresh.indices(4, 3, 5))).toEqual(epoch1.slice(3, 6));
  const keep = new EpochBatcher(10, { kind: 'sequential', dropLast: false }, 's');
  expect(Array.from(keep.indices(3, 3, 0))).toEqual([9]);
  expect(Array.from(keep.indices(4, 3, 0))).toEqual([0, 1, 2]);
  expect(() => batcher.indices(0, 11, 0)).toThrow(/larger than the split/);
});

test('VariableEpochStream concatenates epochs of different lengths', () => {
  const stream = new VariableEpochStream('v', (epoch) =>
    Array.from({ length: epoch + 1 }, (_, k) => Int32Array.of(epoch * 100 + k)),
  );
  const got = [0, 1, 2, 3, 4, 5].map((i) => stream.indices(i, 0)[0]);
  expect(got).toEqual([0, 100, 101, 200, 201, 202]);
});
