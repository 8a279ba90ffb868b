/**
 * The backend registry's profiler: a profiled backend gives the inner backend's results bit for bit and
 * counts every kernel call with its time; formatProfile lists what ran.
 */
import {
  Generator, getBackend, ops, profiledBackend, formatProfile, randn, registerBackend, withBackend,
} from './index';

test('a profiled backend: same results, every kernel call counted and timed', () => {
  const profiled = profiledBackend(getBackend('ref'));
  registerBackend(profiled.name, () => profiled);
  expect(profiled.name).toBe('ref+profile');
  const g = new Generator(3);
  const a = randn([5, 7], { generator: g }), b = randn([7, 3], { generator: g });
  const run = () => {
    const c = ops.matmul(a, b);
    return [c, ops.matmul(c, b.transpose()), ops.softmax(c, -1)];
  };
  const want = withBackend('ref', run), got = withBackend('ref+profile', run);
  got.forEach((t, i) => expect(Array.from(t.data)).toEqual(Array.from(want[i].data)));
  expect(profiled.profile.get('matmul')!.calls).toBe(2);
  expect(profiled.profile.get('softmax')!.calls).toBe(1);
  expect(profiled.profile.get('layerNorm')!.calls).toBe(0);
  expect(profiled.profile.get('matmul')!.ms).toBeGreaterThanOrEqual(0);

  const table = formatProfile(profiled.profile, 1000);
  expect(table).toMatch(/^kernel time over 1\.0 s of wall time:/);
  expect(table).toMatch(/\n {2}matmul +2 +\d+ +\d+\.\d%/);
  expect(table).toMatch(/\n {2}softmax +1 /);
  expect(table).not.toContain('layerNorm'); // kernels that never ran are left out
  expect(table).toMatch(/\n {2}\(outside kernels\) +\d+ +\d+\.\d%$/);
});
