/**
 * float64 / BigInt reference for dropout's documented mask (docs/ops.md): Philox4x32-10
 * (Salmon et al. 2011) with key = (seed_lo, seed_hi), counter = (i/4, 0, 0, 0), word i%4,
 * u = (bits >> 8)·2⁻²⁴, keep iff u ≥ p (p as float32, as the kernels compare).
 */
const M32 = 0xffffffffn;
const PHILOX_M0 = 0xd2511f53n;
const PHILOX_M1 = 0xcd9e8d57n;
const PHILOX_W0 = 0x9e3779b9n;
const PHILOX_W1 = 0xbb67ae85n;

/** Philox4x32 with `rounds` rounds on counter c (4 words) and key k (2 words). */
export function philox4x32(c: readonly bigint[], k: readonly bigint[], rounds = 10): bigint[] {
  let [c0, c1, c2, c3] = c;
  let [k0, k1] = k;
  for (let r = 0; r < rounds; r++) {
    if (r > 0) {
      k0 = (k0 + PHILOX_W0) & M32;
      k1 = (k1 + PHILOX_W1) & M32;
    }
    const p0 = PHILOX_M0 * c0; // 64-bit products: hi and lo words
    const p1 = PHILOX_M1 * c2;
    [c0, c1, c2, c3] = [((p1 >> 32n) ^ c1 ^ k0) & M32, p1 & M32, ((p0 >> 32n) ^ c3 ^ k1) & M32, p0 & M32];
  }
  return [c0, c1, c2, c3];
}

/** The keep mask (0/1) of n elements for a 64-bit seed and drop probability p. */
export function dropoutMaskRef(n: number, seed: bigint, p: number): Uint8Array {
  const key = [seed & M32, (seed >> 32n) & M32];
  const pf = Math.fround(p);
  const mask = new Uint8Array(n);
  for (let q = 0; q * 4 < n; q++) {
    const words = philox4x32([BigInt(q) & M32, BigInt(q) >> 32n, 0n, 0n], key);
    for (let l = 0; l < 4 && q * 4 + l < n; l++) {
      const u = Number(words[l] >> 8n) / 16777216;
      mask[q * 4 + l] = u >= pf ? 1 : 0;
    }
  }
  return mask;
}

/** y = x · mask / (1 − p) */
export function dropoutRef(x: Float64Array, mask: Uint8Array, p: number): Float64Array {
  return x.map((v, i) => (mask[i] ? v / (1 - p) : 0));
}
