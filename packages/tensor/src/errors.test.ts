/**
 * One test per class of bad input, asserting the message: every error names the op and the shapes
 * involved, so a user can tell what went wrong from the message alone.
 */
import { Tensor, tensor, zeros, ones, full, arange, fromArray, ops, setBackend, getBackend } from './index';

beforeAll(() => setBackend('ref'));

const ids = (xs: number[]) => tensor(xs, { dtype: 'int32' });

describe('shape errors', () => {
  test('matmul: inner dimensions differ (with the original shapes, marking transposes)', () => {
    expect(() => ops.matmul(zeros([2, 3, 4]), zeros([5, 6]))).toThrow('matmul: inner dimensions differ: [2,3,4] x [5,6]');
    expect(() => ops.matmul(zeros([2, 3]), zeros([2, 3]), { transB: true })).not.toThrow();
    expect(() => ops.matmul(zeros([2, 3]), zeros([3, 2]), { transB: true })).toThrow('matmul: inner dimensions differ: [2,3] x [3,2]ᵀ');
    expect(() => ops.matmul(zeros([3]), zeros([4]))).toThrow('matmul: inner dimensions differ: [3] x [4]');
  });

  test('matmul: batch dims that do not broadcast', () => {
    expect(() => ops.matmul(zeros([2, 3, 4]), zeros([3, 4, 5]))).toThrow('matmul: batch dims [2] of [2,3,4] and [3] of [3,4,5] cannot be broadcast');
  });

  test('matmul: 0-d operands', () => {
    expect(() => ops.matmul(tensor(1), zeros([2]))).toThrow('matmul: both operands need at least 1 dim, got [] x [2]');
  });

  test('elementwise broadcast failure names both shapes and the dim', () => {
    expect(() => ops.add(zeros([2, 3]), zeros([4]))).toThrow('add: shapes [2,3] and [4] cannot be broadcast (dim -1: 3 vs 4)');
    expect(() => ops.mul(zeros([2, 3]), zeros([3, 3]))).toThrow('mul: shapes [2,3] and [3,3] cannot be broadcast (dim -2: 2 vs 3)');
    expect(() => ops.lt(zeros([2]), zeros([0]))).toThrow('lt: shapes [2] and [0] cannot be broadcast (dim -1: 2 vs 0)');
    expect(() => ops.where(zeros([2]), zeros([3]), 0)).toThrow('where: shapes [2] and [3] and [] cannot be broadcast (dim -1: 2 vs 3)');
  });

  test('maskedFill: mask that would enlarge the input', () => {
    expect(() => ops.maskedFill(zeros([3]), zeros([2, 3]), 0)).toThrow('maskedFill: mask [2,3] does not broadcast to input [3]');
    expect(() => ops.maskedFill(zeros([3]), zeros([2]), 0)).toThrow('maskedFill: shapes [3] and [2] cannot be broadcast');
  });

  test('bad reshape / view', () => {
    const t = zeros([2, 3]);
    expect(() => t.reshape(4)).toThrow('reshape: cannot reshape [2,3] (6 elements) into [4] (4 elements)');
    expect(() => t.reshape(4, -1)).toThrow('reshape: cannot reshape [2,3] (6 elements) into [4,-1]');
    expect(() => t.reshape(-1, -1)).toThrow('reshape: only one dimension can be -1, got [-1,-1]');
    expect(() => t.reshape(-2, -3)).toThrow('reshape: invalid shape [-2,-3] (dims must be non-negative integers)');
    expect(() => t.reshape(0, -1)).toThrow('reshape: cannot reshape [2,3] (6 elements) into [0,-1]');
    expect(() => t.view(7)).toThrow('view: cannot reshape [2,3] (6 elements) into [7] (7 elements)');
    expect(() => t.transpose().view(6)).toThrow('view: shape [6] is incompatible with the strides of a [3,2] view; use reshape() or contiguous()');
  });

  test('expand to an incompatible shape', () => {
    expect(() => zeros([2, 3]).expand(4, 3)).toThrow('expand: cannot expand [2,3] to [4,3] (dim 0: 2 -> 4)');
    expect(() => zeros([2, 3]).expand(3)).toThrow('expand: cannot expand [2,3] to fewer dims [3]');
    expect(() => zeros([3]).expand(-1, 3)).toThrow('expand: cannot expand [3] to [-1,3] (new leading dim 0 must be a size, got -1)');
    expect(() => zeros([1]).expand(-2)).toThrow('expand: cannot expand [1] to [-2] (dim 0: 1 -> -2)');
  });

  test('layerNorm weight/bias shapes', () => {
    expect(() => ops.layerNorm(zeros([2, 4]), ones([3]), zeros([4]))).toThrow('layerNorm: input [2,4] needs weight and bias of shape [4], got [3] and [4]');
    expect(() => ops.layerNorm(zeros([2, 4]), ones([4]), zeros([1, 4]))).toThrow('layerNorm: input [2,4] needs weight and bias of shape [4], got [4] and [1,4]');
  });

  test('attention q/k/v shapes', () => {
    expect(() => ops.attention(zeros([1, 2, 3]), zeros([1, 2, 4]), zeros([1, 2, 3]))).toThrow('attention: q, k, v must share one shape [..., T, D], got [1,2,3], [1,2,4], [1,2,3]');
    expect(() => ops.attention(zeros([3]), zeros([3]), zeros([3]))).toThrow('attention: q, k, v must share one shape [..., T, D], got [3], [3], [3]');
  });

  test('concat / stack shape mismatch and empty lists', () => {
    expect(() => ops.concat([zeros([2, 3]), zeros([3, 3])], 1)).toThrow('concat: shapes [2,3], [3,3] differ outside axis 1');
    expect(() => ops.concat([zeros([2, 3]), zeros([2])], 0)).toThrow('concat: shapes [2,3], [2] differ outside axis 0');
    expect(() => ops.concat([])).toThrow('concat: no tensors given');
    expect(() => ops.stack([zeros([2]), zeros([3])])).toThrow('stack: shapes [2], [3] differ');
    expect(() => ops.stack([])).toThrow('stack: no tensors given');
  });

  test('fromArray / tensor / invalid shapes / Tensor storage', () => {
    expect(() => fromArray([1, 2, 3, 4, 5], [2, 3])).toThrow('fromArray: 5 values do not fill shape [2,3] (6 elements)');
    expect(() => tensor([[1, 2], [3]])).toThrow('tensor: ragged nested array at depth 1 (expected length 2)');
    expect(() => tensor([[1, 2], 3] as never)).toThrow('tensor: ragged nested array at depth 1 (expected length 2)');
    expect(() => zeros([2, -1])).toThrow('full: invalid shape [2,-1] (dims must be non-negative integers)');
    expect(() => full([1.5], 0)).toThrow('full: invalid shape [1.5] (dims must be non-negative integers)');
    expect(() => new Tensor(new Float32Array(5), [2, 3])).toThrow('Tensor: storage of 5 elements does not match shape [2,3] (6 elements)');
    expect(() => new Tensor(new Float32Array(6), [2, 3], [1])).toThrow('Tensor: 1 strides for shape [2,3]');
  });

  test('sumToShape / softmaxBackward / geluBackward shape mismatches', () => {
    expect(() => ops.sumToShape(zeros([3]), [2, 3])).toThrow('sumToShape: cannot sum [3] to the larger [2,3]');
    expect(() => ops.softmaxBackward(zeros([2, 3]), zeros([3, 2]))).toThrow('softmaxBackward: output [2,3] and gradient [3,2] differ');
    expect(() => ops.geluBackward(zeros([2]), zeros([3]))).toThrow('geluBackward: input [2] and gradient [3] differ');
  });

  test('copyInto: source that does not broadcast to the destination', () => {
    expect(() => ops.copyInto(zeros([2, 3]), zeros([2]))).toThrow('expand: cannot expand [2] to [2,3] (dim 1: 2 -> 3)');
  });
});

describe('axis and index errors', () => {
  test('axis out of range, for every op family', () => {
    const t = zeros([2, 3]);
    expect(() => ops.sum(t, 2)).toThrow('sum: axis 2 out of range for a 2-d tensor');
    expect(() => ops.max(t, -3)).toThrow('max: axis -3 out of range for a 2-d tensor');
    expect(() => ops.mean(t, [0, 5])).toThrow('mean: axis 5 out of range for a 2-d tensor');
    expect(() => ops.variance(t, 9)).toThrow('var: axis 9 out of range for a 2-d tensor');
    expect(() => ops.argmax(t, 2)).toThrow('argmax: axis 2 out of range for a 2-d tensor');
    expect(() => ops.softmax(t, 2)).toThrow('softmax: axis 2 out of range for a 2-d tensor');
    expect(() => ops.logSoftmax(t, -3)).toThrow('logSoftmax: axis -3 out of range for a 2-d tensor');
    expect(() => ops.concat([t, t], 2)).toThrow('concat: axis 2 out of range for a 2-d tensor');
    expect(() => ops.stack([t, t], 3)).toThrow('stack: axis 3 out of range for a 3-d tensor');
    expect(() => t.transpose(0, 2)).toThrow('transpose: axis 2 out of range for a 2-d tensor');
    expect(() => t.slice(2, 0)).toThrow('slice: axis 2 out of range for a 2-d tensor');
    expect(() => t.squeeze(2)).toThrow('squeeze: axis 2 out of range for a 2-d tensor');
    expect(() => t.unsqueeze(3)).toThrow('unsqueeze: axis 3 out of range for a 3-d tensor');
    expect(() => t.dim(2)).toThrow('dim: axis 2 out of range for a 2-d tensor');
    expect(() => ops.sum(t, 0.5)).toThrow('sum: axis 0.5 out of range for a 2-d tensor');
  });

  test('repeated axes and bad permutations', () => {
    expect(() => ops.sum(zeros([2, 3]), [0, -2])).toThrow('sum: repeated axis in [0,-2]');
    expect(() => zeros([2, 3]).permute(0, 0)).toThrow('permute: axes [0,0] are not a permutation of 2 dims (shape [2,3])');
    expect(() => zeros([2, 3]).permute(0)).toThrow('permute: axes [0] are not a permutation of 2 dims (shape [2,3])');
  });

  test('slice step, narrow and select ranges', () => {
    const t = zeros([3, 3]);
    expect(() => t.slice(0, 0, 3, 0)).toThrow('slice: step must be a positive integer, got 0');
    expect(() => t.slice(0, 0, 3, -1)).toThrow('slice: step must be a positive integer, got -1');
    expect(() => t.narrow(1, 2, 3)).toThrow('narrow: [2, 5) out of range for dim 1 of size 3 (shape [3,3])');
    expect(() => t.narrow(0, -1, 2)).toThrow('narrow: [-1, 1) out of range for dim 0 of size 3 (shape [3,3])');
    expect(() => t.narrow(0, -4, 1)).toThrow('narrow: [-4, -3) out of range for dim 0 of size 3 (shape [3,3])');
    expect(() => t.narrow(0, 0.5, 1)).toThrow('narrow: [0.5, 1.5) out of range');
    expect(() => t.select(0, 3)).toThrow('select: index 3 out of range for dim 0 of size 3');
    expect(() => t.select(1, -4)).toThrow('select: index -4 out of range for dim 1 of size 3');
  });

  test('item and get', () => {
    expect(() => zeros([2]).item()).toThrow('item: tensor of shape [2] has 2 elements, not 1');
    expect(() => zeros([2, 2]).get(1)).toThrow('get: 1 indices for a 2-d tensor');
    expect(() => zeros([2, 2]).get(0, 2)).toThrow('get: index 2 out of range for dim 1 of size 2');
  });

  test('reducing an empty dimension with max/min/argmax', () => {
    expect(() => ops.max(zeros([2, 0]), 1)).toThrow('max: cannot reduce an empty dimension (axis 1 of [2,0])');
    expect(() => ops.min(zeros([0]))).toThrow('min: cannot reduce an empty dimension (axis 0 of [0])');
    expect(() => ops.argmax(zeros([3, 0]), -1)).toThrow('argmax: cannot reduce an empty dimension (axis -1 of [3,0])');
  });
});

describe('id and target errors', () => {
  test('embedding: id out of range (negative too), with its position', () => {
    const w = zeros([4, 2]);
    expect(() => ops.embedding(w, ids([0, 5]))).toThrow('embedding: id 5 at position 1 out of range for a table of 4 rows');
    expect(() => ops.embedding(w, ids([-1]))).toThrow('embedding: id -1 at position 0 out of range for a table of 4 rows');
  });

  test('crossEntropy: target out of range, wrong count', () => {
    const logits = zeros([2, 3]);
    expect(() => ops.crossEntropy(logits, ids([0, 3]))).toThrow('crossEntropy: target 3 at position 1 out of range [0, 3)');
    expect(() => ops.crossEntropy(logits, ids([-5, 0]))).toThrow('crossEntropy: target -5 at position 0 out of range [0, 3)');
    expect(() => ops.crossEntropy(logits, ids([-100, 0]), -1)).toThrow('crossEntropy: target -100 at position 0 out of range [0, 3)');
    expect(() => ops.crossEntropy(logits, ids([0, 1, 2]))).toThrow('crossEntropy: targets [3] do not match logits [2,3] (expected [2] or [2])');
    const logits3 = zeros([2, 3, 4]);
    expect(() => ops.crossEntropy(logits3, tensor([0, 1, 2, 0, 1, 2], [3, 2], { dtype: 'int32' }))).toThrow('crossEntropy: targets [3,2] do not match logits [2,3,4] (expected [2,3] or [6])');
    expect(() => ops.crossEntropy(logits3, tensor([0, 1, 2, 0, 1, 2], [6], { dtype: 'int32' }))).not.toThrow(); // flat targets are accepted
  });

  test('oneHot: id out of range', () => {
    expect(() => ops.oneHot(ids([3]), 3)).toThrow('oneHot: id 3 at position 0 out of range [0, 3)');
  });
});

describe('dtype errors: int where float is needed, float where int is needed', () => {
  const i = zeros([2, 2], 'int32');
  test('float required', () => {
    expect(() => ops.matmul(i, zeros([2, 2]))).toThrow('matmul: a must be a float tensor, got int32 [2,2]');
    expect(() => ops.matmul(zeros([2, 2]), i)).toThrow('matmul: b must be a float tensor, got int32 [2,2]');
    expect(() => ops.softmax(i)).toThrow('softmax: input must be a float tensor, got int32 [2,2]');
    expect(() => ops.logSoftmax(i)).toThrow('logSoftmax: input must be a float tensor, got int32 [2,2]');
    expect(() => ops.layerNorm(i, ones([2]), zeros([2]))).toThrow('layerNorm: input must be a float tensor, got int32 [2,2]');
    expect(() => ops.embedding(i, ids([0]))).toThrow('embedding: weight must be a float tensor, got int32 [2,2]');
    expect(() => ops.crossEntropy(i, ids([0, 0]))).toThrow('crossEntropy: logits must be a float tensor, got int32 [2,2]');
    expect(() => ops.attention(zeros([2, 2]), i, zeros([2, 2]))).toThrow('attention: k must be a float tensor, got int32 [2,2]');
  });

  test('int required', () => {
    expect(() => ops.embedding(zeros([4, 2]), tensor([0, 1]))).toThrow('embedding: ids must be int32, got float32 [2]');
    expect(() => ops.crossEntropy(zeros([2, 3]), tensor([0, 1]))).toThrow('crossEntropy: targets must be int32, got float32');
    expect(() => ops.oneHot(tensor([0]), 2)).toThrow('oneHot: ids must be int32, got float32');
  });

  test('embedding weight must be 2-d', () => {
    expect(() => ops.embedding(zeros([2, 2, 2]), ids([0]))).toThrow('embedding: weight must be [V, C], got [2,2,2]');
  });
});

describe('other bad arguments', () => {
  test('dropout p outside [0, 1)', () => {
    expect(() => ops.dropoutMask([2], 1)).toThrow('dropout: p must be in [0, 1), got 1');
    expect(() => ops.dropoutMask([2], -0.1)).toThrow('dropout: p must be in [0, 1), got -0.1');
    expect(() => ops.dropoutMask([2], NaN)).toThrow('dropout: p must be in [0, 1), got NaN');
  });

  test('arange with step 0', () => {
    expect(() => arange(0, 3, 0)).toThrow('arange: step must be non-zero');
  });

  test('unknown backend names the registered ones', () => {
    expect(() => setBackend('nope')).toThrow(/^unknown backend 'nope' \(registered: .*ref.*\)$/);
    expect(getBackend().name).toBe('ref');
  });
});
