/** float64 references for the layout ops, by multi-index arithmetic (no memcpy tricks). */
import { unravel } from './elementwise';

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

export function ravel(idx: readonly number[], shape: readonly number[]): number {
  let o = 0;
  for (let d = 0; d < shape.length; d++) o = o * shape[d] + idx[d];
  return o;
}

/** y[..., j, ...] = the part that holds row j along `axis` */
export function concatRef(xs: Float64Array[], shapes: number[][], axis: number): { y: Float64Array; shape: number[] } {
  const shape = [...shapes[0]];
  shape[axis] = shapes.reduce((a, s) => a + s[axis], 0);
  const y = new Float64Array(numel(shape));
  for (let i = 0; i < y.length; i++) {
    const idx = unravel(i, shape);
    let k = 0, j = idx[axis];
    while (j >= shapes[k][axis]) j -= shapes[k++][axis];
    const src = [...idx];
    src[axis] = j;
    y[i] = xs[k][ravel(src, shapes[k])];
  }
  return { y, shape };
}

export function splitRef(x: Float64Array, shape: readonly number[], sizes: number[], axis: number): Float64Array[] {
  let offset = 0;
  return sizes.map((sz) => {
    const s = [...shape];
    s[axis] = sz;
    const y = new Float64Array(numel(s));
    for (let i = 0; i < y.length; i++) {
      const idx = unravel(i, s);
      idx[axis] += offset;
      y[i] = x[ravel(idx, shape)];
    }
    offset += sz;
    return y;
  });
}

/** y = x.permute(perm): y[idx] = x[idx mapped back through perm] */
export function transposeRef(x: Float64Array, shape: readonly number[], perm: readonly number[]): Float64Array {
  const ys = perm.map((p) => shape[p]);
  const y = new Float64Array(x.length);
  for (let i = 0; i < y.length; i++) {
    const idx = unravel(i, ys);
    const src = new Array<number>(shape.length);
    perm.forEach((p, d) => (src[p] = idx[d]));
    y[i] = x[ravel(src, shape)];
  }
  return y;
}

/** the definition: reshape to (N, g, C/g, H, W), swap dims 1 and 2, reshape back */
export function channelShuffleRef(x: Float64Array, shape: readonly number[], g: number): Float64Array {
  const [N, C, H, W] = shape;
  return transposeRef(x, [N, g, C / g, H, W], [0, 2, 1, 3, 4]);
}

/** constant padding of the last two dims by [top, bottom, left, right] */
export function pad2dRef(x: Float64Array, shape: readonly number[], pads: readonly number[], value: number): { y: Float64Array; shape: number[] } {
  const [t, b, l, r] = pads;
  const n = shape.length;
  const os = [...shape];
  os[n - 2] += t + b;
  os[n - 1] += l + r;
  const y = new Float64Array(numel(os));
  for (let i = 0; i < y.length; i++) {
    const idx = unravel(i, os);
    const h = idx[n - 2] - t, w = idx[n - 1] - l;
    if (h < 0 || h >= shape[n - 2] || w < 0 || w >= shape[n - 1]) y[i] = value;
    else {
      idx[n - 2] = h;
      idx[n - 1] = w;
      y[i] = x[ravel(idx, shape)];
    }
  }
  return { y, shape: os };
}
