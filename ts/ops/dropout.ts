/**
 * Dropout with a counter-based mask (docs/ops.md "regularisation"): element i of a call
 * with seed s is kept iff Philox4x32-10(key = s, counter = i/4)[i%4] >> 8 ≥ p·2²⁴, the
 * same on CPU and CUDA. Calls without an explicit seed draw one from a JS-side stream
 * (splitmix64 over a base seed and a call counter): `setDropoutSeed(s)` makes a run
 * reproducible, and `dropoutSeedState()` / `setDropoutSeed(s, counter)` resume it.
 */
import { record } from '../autograd/tape';
import { check, show } from '../errors';
import { Tensor } from '../tensor';
import { checkArg, runOp } from './op';

const OP = 'dropout';
const MASK64 = (1n << 64n) - 1n;

let baseSeed = 0n;
let counter = 0n;

/** Restarts the dropout seed stream at `seed` (and optionally at call number `calls`). */
export function setDropoutSeed(seed: number | bigint, calls: number | bigint = 0): void {
  const s = BigInt(seed), c = BigInt(calls);
  check(s >= 0n && s <= MASK64, 'EINVAL', 'setDropoutSeed', () => `seed must be an integer in [0, 2^64), got ${seed}`);
  check(c >= 0n, 'EINVAL', 'setDropoutSeed', () => `calls must be a non-negative integer, got ${calls}`);
  baseSeed = s;
  counter = c;
}

/** Where the stream stands (store it in a checkpoint; restore with setDropoutSeed). */
export function dropoutSeedState(): { seed: bigint; calls: bigint } {
  return { seed: baseSeed, calls: counter };
}

/** splitmix64 of (base + (k+1)·γ): the seed of the k-th call of the stream. */
export function streamSeed(base: bigint, k: bigint): bigint {
  let z = (base + (k + 1n) * 0x9e3779b97f4a7c15n) & MASK64;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return z ^ (z >> 31n);
}

function nextSeed(): bigint {
  return streamSeed(baseSeed, counter++);
}

function seedAttrs(s: bigint): { seed_lo: number; seed_hi: number } {
  return { seed_lo: Number(s & 0xffffffffn), seed_hi: Number(s >> 32n) };
}

/**
 * Zeroes each element with probability p and scales the kept ones by 1/(1−p) when
 * `training`; returns `x` itself otherwise (or when p = 0), as PyTorch. `seed` (an integer
 * in [0, 2^64)) fixes the mask; without it the next seed of the stream is used.
 *
 *   const h = dropout(x, 0.5, model.training);
 */
export function dropout(x: Tensor, p: number, training: boolean, seed?: number | bigint): Tensor {
  checkArg(OP, 'x', x, { dtype: 'float32' });
  // one message for every refused p: [0, 1), and below 1 in float32 too (0.99999999 rounds to 1)
  check(typeof p === 'number' && p >= 0 && p < 1 && Math.fround(p) < 1, 'EINVAL', OP, () => `'p' must be a number in [0, 1), got ${show(p)}`);
  check(typeof training === 'boolean', 'EINVAL', OP, () => `'training' must be a boolean, got ${typeof training}`);
  if (seed !== undefined) {
    check((typeof seed === 'number' && Number.isSafeInteger(seed) && seed >= 0) || (typeof seed === 'bigint' && seed >= 0n && seed <= MASK64),
      'EINVAL', OP, () => `'seed' must be an integer in [0, 2^64), got ${String(seed)}`);
  }
  if (!training || p === 0) return x;
  const s = seed === undefined ? nextSeed() : BigInt(seed);
  const attrs = { p, ...seedAttrs(s) };
  // a recorded step draws a fresh seed from the stream on every replay, as this call did
  const dynamic = seed === undefined ? { keys: ['seed_lo', 'seed_hi'], values: () => Object.values(seedAttrs(nextSeed())) } : undefined;
  const [y, mask] = runOp(OP, [x], attrs, [{ shape: x.shape }, { shape: x.shape, dtype: 'uint8' }], ['x'], dynamic);
  record(OP, [x], [y], ([g]) => runOp('dropout_bwd', [g!, mask], { p }, [{ shape: x.shape }], ['dy', 'mask']));
  if (!y.node) mask.dispose();
  return y;
}
