/**
 * The seeded host random stream used for weight initialisation and data order
 * (xoshiro128**, seeded through splitmix32). `manualSeed(s)` makes model construction
 * reproducible; `Generator` gives independent streams.
 *
 *   manualSeed(0); const m = getModel('resnet18');   // identical weights every run
 */
import { MdmtError, show } from './errors';
import { native } from './native/binding';

export class Generator {
  private s = new Uint32Array(4);
  private spare: number | null = null;
  constructor(seed = 0) {
    this.seed(seed);
  }
  seed(seed: number): void {
    // NaN seeded like 0, -1 like 4294967295 and 1.5 like 1: a typo'd seed must not look reproducible
    if (typeof seed !== 'number' || !Number.isSafeInteger(seed) || seed < 0)
      throw new MdmtError('EINVAL', 'seed', `a seed must be a non-negative safe integer, got ${show(seed)}`);
    let x = seed >>> 0 ^ ((seed / 4294967296) >>> 0);
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.s[i] = (z ^ (z >>> 16)) >>> 0;
    }
    if (!this.s.some((v) => v !== 0)) this.s[0] = 1;
    this.spare = null;
  }
  /** uniform 32-bit integer */
  nextU32(): number {
    const s = this.s;
    const r = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return r;
  }
  /** uniform in [0, 1) with 32 bits */
  next(): number {
    return this.nextU32() / 4294967296;
  }
  uniform(lo = 0, hi = 1): number {
    return lo + (hi - lo) * this.next();
  }
  normal(mean = 0, std = 1): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return mean + std * v;
    }
    let u = 0, v = 0, s = 0;
    do {
      u = this.next() * 2 - 1;
      v = this.next() * 2 - 1;
      s = u * u + v * v;
    } while (s >= 1 || s === 0);
    const m = Math.sqrt((-2 * Math.log(s)) / s);
    this.spare = v * m;
    return mean + std * u * m;
  }
  /** integer in [0, n) */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** Fisher–Yates shuffle in place */
  shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  }
  /** full state, for checkpoints */
  getState(): number[] {
    return [...this.s, this.spare === null ? NaN : this.spare];
  }
  setState(st: number[]): void {
    for (let i = 0; i < 4; i++) this.s[i] = st[i] >>> 0;
    this.spare = Number.isNaN(st[4]) || st[4] === undefined ? null : st[4];
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** The global generator used by initialisers unless one is passed explicitly. */
export const globalGenerator = new Generator(0);

/** Seeds the global generator (weight init) and the native default stream. */
export function manualSeed(seed: number): void {
  globalGenerator.seed(seed);
  try {
    native().setSeed(seed >>> 0);
  } catch {
    /* addon not built: host-side seeding still applies */
  }
}
