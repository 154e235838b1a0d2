/** float64 references for the broadcasting elementwise ops (add, sub, mul, expand). */

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
export function srcIndex(idx: number[], s: readonly number[]): number {
  let off = 0;
  const lead = idx.length - s.length;
  for (let d = 0; d < s.length; d++) off = off * s[d] + (s[d] === 1 ? 0 : idx[lead + d]);
  return off;
}

/** the multi-index of flat index i in `shape` (row-major) */
export function unravel(i: number, shape: readonly number[]): number[] {
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
