/**
 * Small seeded random numbers for data work: a 32-bit mix of (seed, key...) picks the stream,
 * mulberry32 draws from it. Every random decision in ts/data (splits, synthetic images,
 * augmentation per (sample, epoch), batch order) goes through here, so a seed reproduces it.
 *
 *   const r = rng(seedOf(0, 'P_12', 3));  r.uniform(-1, 1);  r.int(0, 9);
 */
export interface Rng {
  /** uniform in [0, 1) */
  next(): number;
  uniform(lo: number, hi: number): number;
  /** integer in [lo, hi] inclusive */
  int(lo: number, hi: number): number;
  normal(): number;
  shuffle<T>(a: T[]): T[];
}

function hashStr(s: string, h: number): number {
  for (let i = 0; i < s.length; i++) {
    h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  }
  return h >>> 0;
}

/** Combines a seed and any keys (numbers or strings) into one 32-bit stream seed. */
export function seedOf(...keys: (number | string)[]): number {
  let h = 0x811c9dc5;
  for (const k of keys) {
    h = hashStr(typeof k === 'number' ? `#${k}` : `$${k}`, h);
    h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
  }
  return h >>> 0;
}

export function rng(seed: number): Rng {
  let a = seed >>> 0;
  let spare: number | undefined;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const r: Rng = {
    next,
    uniform: (lo, hi) => lo + (hi - lo) * next(),
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    normal: () => {
      if (spare !== undefined) {
        const s = spare;
        spare = undefined;
        return s;
      }
      let u = 0;
      while (u === 0) u = next();
      const v = next();
      const m = Math.sqrt(-2 * Math.log(u));
      spare = m * Math.sin(2 * Math.PI * v);
      return m * Math.cos(2 * Math.PI * v);
    },
    shuffle: <T>(arr: T[]) => {
      for (let i = arr.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        const t = arr[i];
        arr[i] = arr[j];
        arr[j] = t;
      }
      return arr;
    },
  };
  return r;
}
