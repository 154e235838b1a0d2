/** float64 references for the activations (docs/ops.md "activations"), forward y = f(x). */

const sig = (x: number) => 1 / (1 + Math.exp(-x));

export const activationRefs: Record<string, (x: number) => number> = {
  relu: (x) => Math.max(x, 0),
  relu6: (x) => Math.min(Math.max(x, 0), 6),
  silu: (x) => x * sig(x),
  sigmoid: sig,
  hardswish: (x) => (x * Math.min(Math.max(x + 3, 0), 6)) / 6,
};
