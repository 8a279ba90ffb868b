/** The README's XOR example, run as the library function behind `fpt demo xor`. */
import { setBackend } from '@fpt-ts/tensor';
import { trainXorDemo } from './index';

beforeAll(() => setBackend('ref'));

test.each([[0], [1], [2], [3]])('a tiny MLP trained with Adam learns XOR of two bits (seed %p)', (seed) => {
  const seen: number[] = [];
  const { losses, accuracy } = trainXorDemo({ seed, onStep: (step) => seen.push(step) });
  expect(accuracy).toBe(1);
  expect(losses.length).toBe(200);
  expect(seen).toEqual([...Array(200).keys()]);
  expect(losses[0]).toBeGreaterThan(0.5); // about ln 2 at the start
  expect(losses[losses.length - 1]).toBeLessThan(0.05);
});

test('deterministic: the same seed gives the same loss curve', () => {
  expect(trainXorDemo({ steps: 20, seed: 5 }).losses).toEqual(trainXorDemo({ steps: 20, seed: 5 }).losses);
});
