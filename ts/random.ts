/**
 * The seeded host random stream used for weight initialisation and data order
 * (xoshiro128**, seeded through splitmix32). `manualSeed(s)` makes model construction
 * reproducible; `Generator` gives independent streams.
 *
 *   manualSeed(0); const m = getModel('resnet18');   // identical weights every run
 */
import { check, isList, MdmtError, show } from './errors';
import { native } from './native/binding';
import { setDropoutSeed } from './ops/dropout';

/** uniform(5, 1) drew from (1, 5] and NaN bounds gave NaN: both are a caller's bug. */
function checkUniform(op: string, lo: number, hi: number): void {
  if (!(lo <= hi && Number.isFinite(lo) && Number.isFinite(hi))) throw new MdmtError('EINVAL', op, `needs finite bounds lo <= hi, got lo=${show(lo)} hi=${show(hi)}`);
}
function checkNormal(op: string, mean: number, std: number): void {
  if (!(std >= 0 && Number.isFinite(std) && Number.isFinite(mean))) throw new MdmtError('EINVAL', op, `needs a finite mean and std >= 0, got mean=${show(mean)} std=${show(std)}`);
}

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
  /** uniform in [lo, hi) */
  uniform(lo = 0, hi = 1): number {
    checkUniform('Generator.uniform', lo, hi);
    return lo + (hi - lo) * this.next();
  }
  normal(mean = 0, std = 1): number {
    checkNormal('Generator.normal', mean, std);
    return this.draw(mean, std);
  }
  /**
   * `out` filled with what out.length calls of normal(mean, std) would return, in order, the
   * stream left where they would leave it: weight initialisation's bulk form (a ResNet-18 is
   * 11.7 M draws; one call each, through a closure, took 0.75 s of a 7 s `mdmt train`).
   */
  fillNormal(out: Float32Array, mean = 0, std = 1): Float32Array {
    checkNormal('Generator.fillNormal', mean, std);
    for (let i = 0; i < out.length; i++) out[i] = this.draw(mean, std);
    return out;
  }
  /** `out` filled with what out.length calls of uniform(lo, hi) would return, in order. */
  fillUniform(out: Float32Array, lo = 0, hi = 1): Float32Array {
    checkUniform('Generator.fillUniform', lo, hi);
    for (let i = 0; i < out.length; i++) out[i] = lo + (hi - lo) * this.next();
    return out;
  }
  /**
   * mean + std·z, z the spare or the first of a new pair by Marsaglia's polar method (the
   * second kept as the spare), in the arithmetic every seeded model was drawn with:
   * (std·u)·m, not std·(u·m), which rounds differently.
   */
  private draw(mean: number, std: number): number {
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
  /** integer in [0, n), n in [1, 2^32] */
  int(n: number): number {
    // int(0) returned 0 and int(-3) -3: values outside the asked-for range
    if (!(Number.isInteger(n) && n >= 1 && n <= 4294967296))
      throw new MdmtError('EINVAL', 'Generator.int', `needs an integer n in [1, 2^32] to draw from [0, n), got ${show(n)}`);
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
  /** Restores a getState(): 4 uint32 words, not all 0 (xoshiro's one fixed point, which draws 0 forever), and the spare normal (NaN: none). */
  setState(st: readonly number[]): void {
    const op = 'Generator.setState';
    check(isList(st) && (st.length === 4 || st.length === 5), 'EINVAL', op, () => `needs the 4 or 5 numbers getState() returns, got ${show(st)}`);
    for (let i = 0; i < 4; i++)
      check(Number.isInteger(st[i]) && st[i] >= 0 && st[i] <= 0xffffffff, 'EINVAL', op, () => `state[${i}] must be a 32-bit unsigned integer, got ${show(st[i])}`);
    check(st[0] !== 0 || st[1] !== 0 || st[2] !== 0 || st[3] !== 0, 'EINVAL', op, 'an all-zero state would draw 0 forever');
    const spare = st[4];
    check(spare === undefined || spare === null || Number.isNaN(spare) || Number.isFinite(spare), 'EINVAL', op, () => `state[4] (the spare normal) must be a number or NaN, got ${show(spare)}`);
    for (let i = 0; i < 4; i++) this.s[i] = st[i];
    this.spare = spare === undefined || spare === null || Number.isNaN(spare) ? null : spare;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** The global generator used by initialisers unless one is passed explicitly. */
export const globalGenerator = new Generator(0);

/**
 * Seeds the global generator (weight init), the dropout mask stream and the native default
 * stream, as torch.manual_seed: dropout drew from a stream manualSeed left where it was, so two
 * trainings after manualSeed(s) in one process gave different masks.
 */
export function manualSeed(seed: number): void {
  globalGenerator.seed(seed);
  setDropoutSeed(seed);
  try {
    native().setSeed(seed >>> 0);
  } catch {
    /* addon not built: host-side seeding still applies */
  }
}
