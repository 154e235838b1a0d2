/**
 * float64 reference convolution, written as the definition (no im2col, no GEMM):
 *   y[n,k,p,q] = b[k] + Σ_{c,r,s} w[k,c,r,s] · x[n, g·Cg + c, p·sh − ph + r·dh, q·sw − pw + s·dw]
 * with g = k / (K/G) and x = 0 outside the image. The two adjoints are the same sum
 * scattered into dx and dw.
 */
export interface ConvCfg {
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
  groups: number;
}

export function convOutShape(xs: readonly number[], ws: readonly number[], c: ConvCfg): number[] {
  const P = Math.floor((xs[2] + 2 * c.padding[0] - c.dilation[0] * (ws[2] - 1) - 1) / c.stride[0]) + 1;
  const Q = Math.floor((xs[3] + 2 * c.padding[1] - c.dilation[1] * (ws[3] - 1) - 1) / c.stride[1]) + 1;
  return [xs[0], ws[0], P, Q];
}

/** Calls f(yIndex, xIndex, wIndex) for every term of the convolution sum that lies inside the image. */
function forEachTerm(xs: readonly number[], ws: readonly number[], c: ConvCfg, f: (yi: number, xi: number, wi: number) => void): void {
  const [N, C, H, W] = xs;
  const [K, Cg, R, S] = ws;
  const [, , P, Q] = convOutShape(xs, ws, c);
  const Kg = K / c.groups;
  for (let n = 0; n < N; n++)
    for (let k = 0; k < K; k++) {
      const g = Math.floor(k / Kg);
      for (let p = 0; p < P; p++)
        for (let q = 0; q < Q; q++) {
          const yi = ((n * K + k) * P + p) * Q + q;
          for (let ci = 0; ci < Cg; ci++)
            for (let r = 0; r < R; r++)
              for (let s = 0; s < S; s++) {
                const h = p * c.stride[0] - c.padding[0] + r * c.dilation[0];
                const v = q * c.stride[1] - c.padding[1] + s * c.dilation[1];
                if (h < 0 || h >= H || v < 0 || v >= W) continue;
                const xi = ((n * C + g * Cg + ci) * H + h) * W + v;
                const wi = ((k * Cg + ci) * R + r) * S + s;
                f(yi, xi, wi);
              }
        }
    }
}

export function conv2dRef(x: Float64Array, xs: readonly number[], w: Float64Array, ws: readonly number[], b: Float64Array | null, c: ConvCfg): Float64Array {
  const os = convOutShape(xs, ws, c);
  const y = new Float64Array(os.reduce((a, d) => a * d, 1));
  if (b) {
    const PQ = os[2] * os[3];
    for (let i = 0; i < y.length; i++) y[i] = b[Math.floor(i / PQ) % os[1]];
  }
  forEachTerm(xs, ws, c, (yi, xi, wi) => (y[yi] += w[wi] * x[xi]));
  return y;
}

/** dx = Σ dy·∂y/∂x (the transpose of the convolution in x) */
export function conv2dBwdDataRef(dy: Float64Array, xs: readonly number[], w: Float64Array, ws: readonly number[], c: ConvCfg): Float64Array {
  const dx = new Float64Array(xs.reduce((a, d) => a * d, 1));
  forEachTerm(xs, ws, c, (yi, xi, wi) => (dx[xi] += w[wi] * dy[yi]));
  return dx;
}

/** dw = Σ dy·∂y/∂w */
export function conv2dBwdFilterRef(dy: Float64Array, x: Float64Array, xs: readonly number[], ws: readonly number[], c: ConvCfg): Float64Array {
  const dw = new Float64Array(ws.reduce((a, d) => a * d, 1));
  forEachTerm(xs, ws, c, (yi, xi, wi) => (dw[wi] += x[xi] * dy[yi]));
  return dw;
}
