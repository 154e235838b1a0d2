/** float64 references for the dense ops: matrix products written as triple loops. */

/** c = op(a)·op(b); a is stored [M,K] (or [K,M] when transA), b [K,N] (or [N,K] when transB). */
export function matmulRef(a: Float64Array, as: readonly number[], b: Float64Array, bs: readonly number[], transA = false, transB = false): Float64Array {
  const M = transA ? as[1] : as[0], K = transA ? as[0] : as[1];
  const N = transB ? bs[0] : bs[1];
  const A = (i: number, k: number) => (transA ? a[k * as[1] + i] : a[i * as[1] + k]);
  const B = (k: number, j: number) => (transB ? b[j * bs[1] + k] : b[k * bs[1] + j]);
  const c = new Float64Array(M * N);
  for (let i = 0; i < M; i++)
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += A(i, k) * B(k, j);
      c[i * N + j] = s;
    }
  return c;
}

/** y[n,o] = Σ_i x[n,i]·w[o,i] + b[o] */
export function linearRef(x: Float64Array, N: number, I: number, w: Float64Array, O: number, b: Float64Array | null): Float64Array {
  const y = new Float64Array(N * O);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++) {
      let s = b ? b[o] : 0;
      for (let i = 0; i < I; i++) s += x[n * I + i] * w[o * I + i];
      y[n * O + o] = s;
    }
  return y;
}
