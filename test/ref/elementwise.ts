/** float64 references for the broadcasting elementwise ops, the reductions and the activations. */

export function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new Error('no broadcast');
    out.push(Math.max(da, db) === 1 ? 1 : da === 1 ? db : da);
  }
  return out;
}

/** index into a broadcast operand of shape `s` from the output multi-index */
function srcIndex(idx: number[], s: readonly number[]): number {
  let off = 0;
  const lead = idx.length - s.length;
  for (let d = 0; d < s.length; d++) off = off * s[d] + (s[d] === 1 ? 0 : idx[lead + d]);
  return off;
}

function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length).fill(0);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return idx;
}

export function binaryRef(f: (x: number, y: number) => number, a: Float64Array, as: readonly number[], b: Float64Array, bs: readonly number[]): Float64Array {
  const os = broadcastShape(as, bs);
  const n = os.reduce((p, q) => p * q, 1);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const idx = unravel(i, os);
    y[i] = f(a[srcIndex(idx, as)], b[srcIndex(idx, bs)]);
  }
  return y;
}

export function expandRef(x: Float64Array, xs: readonly number[], os: readonly number[]): Float64Array {
  const n = os.reduce((p, q) => p * q, 1);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) y[i] = x[srcIndex(unravel(i, os), xs)];
  return y;
}

/** sum or mean over axes, result in keepdim layout (same element order either way) */
export function reduceRef(x: Float64Array, shape: readonly number[], axes: number[], mean: boolean): Float64Array {
  const os = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const y = new Float64Array(os.reduce((p, q) => p * q, 1));
  const cnt = axes.reduce((p, a) => p * shape[a], 1);
  for (let i = 0; i < x.length; i++) y[srcIndex(unravel(i, shape), os)] += x[i];
  if (mean) for (let i = 0; i < y.length; i++) y[i] /= cnt;
  return y;
}

const sig = (x: number) => 1 / (1 + Math.exp(-x));
export const activationRefs: Record<string, (x: number) => number> = {
  relu: (x) => Math.max(x, 0),
  relu6: (x) => Math.min(Math.max(x, 0), 6),
  silu: (x) => x * sig(x),
  sigmoid: sig,
  hardswish: (x) => (x * Math.min(Math.max(x + 3, 0), 6)) / 6,
};
