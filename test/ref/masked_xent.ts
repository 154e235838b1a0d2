/**
 * float64 reference for the paper's indicator-masked cross-entropy (Eq. 2), unfused:
 * softmax probabilities are materialised here on purpose, the kernel never does.
 */

/** log Σ exp(z) of one row, shifted by its maximum (stable for logits of ±80 and beyond). */
export function logSumExp(row: ArrayLike<number>): number {
  let m = -Infinity;
  for (let j = 0; j < row.length; j++) m = Math.max(m, row[j]);
  let s = 0;
  for (let j = 0; j < row.length; j++) s += Math.exp(row[j] - m);
  return m + Math.log(s);
}

/** loss = Σ mᵢ·(−log softmax(zᵢ)[yᵢ]) / D, D = N ('batch') or max(Σm, 1) ('masked'). */
export function maskedXentRef(z: Float64Array, N: number, C: number, labels: ArrayLike<number>, mask: ArrayLike<number>, normalize: 'batch' | 'masked' = 'batch'): number {
  let total = 0, active = 0;
  for (let i = 0; i < N; i++) {
    if (mask[i] === 0) continue; // masked-out rows: label ignored (may be −1)
    const row = z.subarray(i * C, (i + 1) * C);
    const logProb = row[labels[i]] - logSumExp(row);
    total += mask[i] * -logProb;
    active += mask[i];
  }
  const D = normalize === 'batch' ? N : Math.max(active, 1);
  return total / D;
}

/** d loss / d z = mᵢ(softmax(zᵢ) − onehot(yᵢ)) / D, from the materialised probabilities. */
export function maskedXentGradRef(z: Float64Array, N: number, C: number, labels: ArrayLike<number>, mask: ArrayLike<number>, normalize: 'batch' | 'masked' = 'batch'): Float64Array {
  const g = new Float64Array(N * C);
  let active = 0;
  for (let i = 0; i < N; i++) active += mask[i];
  const D = normalize === 'batch' ? N : Math.max(active, 1);
  for (let i = 0; i < N; i++) {
    if (mask[i] === 0) continue;
    const row = z.subarray(i * C, (i + 1) * C);
    const lse = logSumExp(row);
    for (let j = 0; j < C; j++) g[i * C + j] = (mask[i] * (Math.exp(row[j] - lse) - (j === labels[i] ? 1 : 0))) / D;
  }
  return g;
}
