/**
 * float64 references for the pooling ops, written from the definitions (PyTorch's docs),
 * not from the kernels: enumerate the windows over the padded input, then take the max
 * or the mean of the cells each window covers.
 */

export interface PoolCfg {
  k: [number, number];
  s: [number, number];
  p: [number, number];
  ceil: boolean;
  /** avgpool only: count padded cells in the divisor (default true) */
  includePad?: boolean;
}

/**
 * Window starts (in unpadded coordinates) along one dim of `size`. Floor mode: windows that
 * fit inside the padded input. Ceil mode: keep adding windows while the padded input is
 * not yet covered, but never a window that starts in the right padding.
 */
export function windowStarts(size: number, k: number, s: number, p: number, ceil: boolean): number[] {
  const starts: number[] = [];
  for (let i = 0; ; i++) {
    const start = i * s - p;
    if (!ceil) {
      if (start + k > size + p) break;
    } else {
      // the previous window (for i = 0: a virtual one a stride before) already reached the end
      if ((i - 1) * s - p + k >= size + p) break;
      if (start >= size) break; // would start in the right padding
    }
    starts.push(start);
  }
  return starts;
}

export function poolShape(x: readonly number[], c: PoolCfg): number[] {
  return [x[0], x[1], windowStarts(x[2], c.k[0], c.s[0], c.p[0], c.ceil).length, windowStarts(x[3], c.k[1], c.s[1], c.p[1], c.ceil).length];
}

type WindowFn = (x: Float64Array, base: number, W: number, rows: number[], cols: number[], hs: number, ws: number) => number;

function pool(x: Float64Array, shape: readonly number[], c: PoolCfg, f: WindowFn): Float64Array {
  const [N, C, H, W] = shape;
  const hs = windowStarts(H, c.k[0], c.s[0], c.p[0], c.ceil);
  const ws = windowStarts(W, c.k[1], c.s[1], c.p[1], c.ceil);
  const y = new Float64Array(N * C * hs.length * ws.length);
  let o = 0;
  for (let n = 0; n < N; n++)
    for (let ch = 0; ch < C; ch++)
      for (const h0 of hs)
        for (const w0 of ws) {
          const rows: number[] = [], cols: number[] = [];
          for (let h = h0; h < h0 + c.k[0]; h++) if (h >= 0 && h < H) rows.push(h);
          for (let w = w0; w < w0 + c.k[1]; w++) if (w >= 0 && w < W) cols.push(w);
          y[o++] = f(x, (n * C + ch) * H * W, W, rows, cols, h0, w0);
        }
  return y;
}

/** max over the cells of the window inside the input (padding is −∞) */
export function maxpoolRef(x: Float64Array, shape: readonly number[], c: PoolCfg): Float64Array {
  return pool(x, shape, c, (a, base, W, rows, cols) => {
    let m = -Infinity;
    for (const h of rows) for (const w of cols) m = Math.max(m, a[base + h * W + w]);
    return m;
  });
}

/** flat h·W + w of the (first) maximum of each window */
export function maxpoolArgRef(x: Float64Array, shape: readonly number[], c: PoolCfg): Float64Array {
  // PyTorch's CPU max_pool2d: start at the window's first cell inside the input with −∞, and
  // take a cell when it is greater or NaN (so ties keep the first, a later NaN replaces one)
  return pool(x, shape, c, (a, base, W, rows, cols) => {
    let m = -Infinity, at = rows[0] * W + cols[0];
    for (const h of rows) for (const w of cols) if (a[base + h * W + w] > m || Number.isNaN(a[base + h * W + w])) { m = a[base + h * W + w]; at = h * W + w; }
    return at;
  });
}

/**
 * mean of the window: sum of the input cells / divisor, where the divisor counts the
 * window's cells inside input+padding (includePad) or inside the input only.
 */
export function avgpoolRef(x: Float64Array, shape: readonly number[], c: PoolCfg): Float64Array {
  const [, , H, W] = shape;
  const includePad = c.includePad ?? true;
  return pool(x, shape, c, (a, base, Wd, rows, cols, h0, w0) => {
    let s = 0;
    for (const h of rows) for (const w of cols) s += a[base + h * Wd + w];
    let div = rows.length * cols.length;
    if (includePad) {
      let r = 0, q = 0;
      for (let h = h0; h < h0 + c.k[0]; h++) if (h >= -c.p[0] && h < H + c.p[0]) r++;
      for (let w = w0; w < w0 + c.k[1]; w++) if (w >= -c.p[1] && w < W + c.p[1]) q++;
      div = r * q;
    }
    return s / div;
  });
}

/** mean over H, W of each plane: N×C×1×1 */
export function globalAvgpoolRef(x: Float64Array, shape: readonly number[]): Float64Array {
  const [N, C, H, W] = shape;
  const y = new Float64Array(N * C);
  for (let i = 0; i < N * C; i++) {
    let s = 0;
    for (let j = 0; j < H * W; j++) s += x[i * H * W + j];
    y[i] = s / (H * W);
  }
  return y;
}
