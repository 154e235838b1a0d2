/**
 * float64 references for batch normalisation, written from the definitions (PyTorch
 * BatchNorm2d/1d docs): x is [N, C, H, W] or [N, C]; statistics per channel over N, H, W.
 */

export interface BnDims {
  N: number;
  C: number;
  HW: number;
}

export function bnDims(shape: readonly number[]): BnDims {
  return { N: shape[0], C: shape[1], HW: shape.length === 4 ? shape[2] * shape[3] : 1 };
}

/** The values of channel c, in any order. */
function channel(x: Float64Array, d: BnDims, c: number): number[] {
  const v: number[] = [];
  for (let n = 0; n < d.N; n++) for (let k = 0; k < d.HW; k++) v.push(x[(n * d.C + c) * d.HW + k]);
  return v;
}

/** Per-channel batch mean and biased variance. */
export function batchStats(x: Float64Array, shape: readonly number[]): { mean: Float64Array; varBiased: Float64Array; count: number } {
  const d = bnDims(shape);
  const mean = new Float64Array(d.C), varBiased = new Float64Array(d.C);
  for (let c = 0; c < d.C; c++) {
    const v = channel(x, d, c);
    const mu = v.reduce((a, b) => a + b, 0) / v.length;
    mean[c] = mu;
    varBiased[c] = v.reduce((a, b) => a + (b - mu) * (b - mu), 0) / v.length;
  }
  return { mean, varBiased, count: d.N * d.HW };
}

/** y = (x − mean[c]) / √(var[c] + eps) · w[c] + b[c] */
export function normalize(x: Float64Array, shape: readonly number[], mean: Float64Array, variance: Float64Array, w: Float64Array, b: Float64Array, eps: number): Float64Array {
  const d = bnDims(shape);
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const c = Math.floor(i / d.HW) % d.C;
    y[i] = ((x[i] - mean[c]) / Math.sqrt(variance[c] + eps)) * w[c] + b[c];
  }
  return y;
}

/** Training-mode forward: normalise with the batch statistics. */
export function bnTrainRef(x: Float64Array, shape: readonly number[], w: Float64Array, b: Float64Array, eps: number): Float64Array {
  const s = batchStats(x, shape);
  return normalize(x, shape, s.mean, s.varBiased, w, b, eps);
}

/** Eval-mode forward: normalise with the running statistics. */
export function bnEvalRef(x: Float64Array, shape: readonly number[], w: Float64Array, b: Float64Array, rm: Float64Array, rv: Float64Array, eps: number): Float64Array {
  return normalize(x, shape, rm, rv, w, b, eps);
}

/** PyTorch's running-statistics update: the variance is the unbiased one. */
export function runningUpdateRef(x: Float64Array, shape: readonly number[], rm: Float64Array, rv: Float64Array, momentum: number): { rm: Float64Array; rv: Float64Array } {
  const s = batchStats(x, shape);
  const n = s.count;
  return {
    rm: rm.map((r, c) => (1 - momentum) * r + momentum * s.mean[c]),
    rv: rv.map((r, c) => (1 - momentum) * r + momentum * s.varBiased[c] * (n / (n - 1))),
  };
}

/** The fused training forward: act(bn_train(x) + r), act relu or relu6, r optional. */
export function bnActTrainRef(x: Float64Array, shape: readonly number[], w: Float64Array, b: Float64Array, eps: number,
  act: 'relu' | 'relu6', r?: Float64Array): Float64Array {
  const z = bnTrainRef(x, shape, w, b, eps);
  return z.map((v, i) => {
    const s = r ? v + r[i] : v;
    return act === 'relu' ? Math.max(s, 0) : Math.min(Math.max(s, 0), 6);
  });
}

/**
 * The training backward in closed form, per channel over its M = N·H·W values, with the batch
 * statistics and x̂ = (x − mean)/√(var + eps): g = dy, or dy·act'(y) read from the op's output
 * y (relu: y > 0; relu6: 0 < y < 6); db = Σg, dw = Σg·x̂, dx = w/√(var + eps)·(g − db/M − x̂·dw/M).
 * g is also the residual's gradient of the fused add form.
 */
export function bnTrainBwdRef(x: Float64Array, shape: readonly number[], dy: Float64Array, w: Float64Array, eps: number,
  act?: { act: 'relu' | 'relu6'; y: Float64Array }): { dx: Float64Array; dw: Float64Array; db: Float64Array; g: Float64Array } {
  const d = bnDims(shape);
  const s = batchStats(x, shape);
  const M = s.count;
  const g = dy.map((v, i) => {
    if (!act) return v;
    const y = act.y[i];
    return (act.act === 'relu' ? y > 0 : y > 0 && y < 6) ? v : 0;
  });
  const at = (n: number, c: number, k: number) => (n * d.C + c) * d.HW + k;
  const dx = new Float64Array(x.length), dw = new Float64Array(d.C), db = new Float64Array(d.C);
  for (let c = 0; c < d.C; c++) {
    const inv = 1 / Math.sqrt(s.varBiased[c] + eps);
    for (let n = 0; n < d.N; n++)
      for (let k = 0; k < d.HW; k++) {
        const i = at(n, c, k);
        db[c] += g[i];
        dw[c] += g[i] * (x[i] - s.mean[c]) * inv;
      }
    for (let n = 0; n < d.N; n++)
      for (let k = 0; k < d.HW; k++) {
        const i = at(n, c, k);
        dx[i] = w[c] * inv * (g[i] - db[c] / M - (x[i] - s.mean[c]) * inv * dw[c] / M);
      }
  }
  return { dx, dw, db, g };
}
