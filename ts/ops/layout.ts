/**
 * The layout family (docs/ops.md "layout"): ops that move elements without arithmetic —
 * concat and its inverse split, ShuffleNet's channel shuffle, transpose (permute) and
 * constant 2-D padding. Each vjp is another layout op (the inverse movement).
 *
 *   concat([a, b, c])                // N×(Ca+Cb+Cc)×H×W (DenseNet, GoogLeNet's branches)
 *   const [a, b] = split(x, [16, 48])
 *   channelShuffle(x, 2)
 *   transpose(x, [0, 2, 3, 1])       // NCHW → NHWC
 *   pad2d(x, [0, 1, 0, 1])           // TF "same" (EfficientNet-b1-pruned)
 */
import { record } from '../autograd/tape';
import { check, isList, show } from '../errors';
import { shapeStr, Tensor, zeros } from '../tensor';
import { checkArg, normAxis, runOp } from './op';

/**
 * Concatenation along `axis` (default 1, channels). Inputs agree in dtype and in every dim
 * but `axis`.
 */
export function concat(xs: readonly Tensor[], axis = 1): Tensor {
  check(Array.isArray(xs) && xs.length > 0, 'EINVAL', 'concat', () => `'xs' must be a non-empty array of tensors, got ${Array.isArray(xs) ? 'an empty array' : typeof xs}`);
  const list: readonly Tensor[] = xs;
  list.forEach((t, i) => checkArg('concat', `xs[${i}]`, t));
  const first = list[0];
  check(first.ndim > 0, 'ESHAPE', 'concat', () => `'xs[0]' must have at least 1 dim, got shape ${shapeStr(first.shape)}`);
  const ax = normAxis('concat', axis, first.ndim);
  const shape = [...first.shape];
  shape[ax] = 0;
  list.forEach((t, i) => {
    check(t.dtype === first.dtype, 'EDTYPE', 'concat', () => `'xs[${i}]' is ${t.dtype} but 'xs[0]' is ${first.dtype}`);
    check(t.ndim === first.ndim && t.shape.every((d, k) => k === ax || d === first.shape[k]), 'ESHAPE', 'concat',
      () => `'xs[${i}]' ${shapeStr(t.shape)} does not match 'xs[0]' ${shapeStr(first.shape)} outside axis ${ax}`);
    shape[ax] += t.shape[ax];
  });
  // a copy of the list: callers (DenseNet) keep appending to theirs, observers keep this one
  const inputs = [...list];
  const [y] = runOp('concat', inputs, { axis: ax }, [{ shape, dtype: first.dtype }], inputs.map((_, i) => `xs[${i}]`));
  const sizes = inputs.map((t) => t.shape[ax]);
  record('concat', inputs, [y], ([dy]) => split(dy!, sizes, ax));
  return y;
}

/**
 * Splits x along `axis` (default 1) into pieces of the given sizes (they add up to
 * x.shape[axis]). The inverse of concat; its vjp concatenates the pieces' gradients,
 * with zeros for pieces that received none.
 */
export function split(x: Tensor, sizes: readonly number[], axis = 1): Tensor[] {
  checkArg('split', 'x', x);
  check(x.ndim > 0, 'ESHAPE', 'split', () => `'x' must have at least 1 dim, got shape ${shapeStr(x.shape)}`);
  const ax = normAxis('split', axis, x.ndim);
  check(isList(sizes) && sizes.length > 0 && sizes.every((s) => Number.isInteger(s) && s >= 0), 'EINVAL', 'split',
    () => `'sizes' must be a non-empty array of non-negative integers, got ${JSON.stringify(sizes)}`);
  const total = sizes.reduce((a, b) => a + b, 0);
  check(total === x.shape[ax], 'ESHAPE', 'split', () => `'sizes' ${JSON.stringify(sizes)} add up to ${total}, but 'x' ${shapeStr(x.shape)} has ${x.shape[ax]} along axis ${ax}`);
  const outs = sizes.map((s) => {
    const shape = [...x.shape];
    shape[ax] = s;
    return { shape, dtype: x.dtype };
  });
  const ys = runOp('split', [x], { axis: ax }, outs, ['x']);
  record('split', [x], ys, (gs) => {
    const parts = gs.map((g, i) => g ?? zeros(outs[i].shape, { device: x.device }));
    const dx = concat(parts, ax);
    parts.forEach((p, i) => { if (p !== gs[i]) p.dispose(); });
    return [dx];
  });
  return ys;
}

/**
 * ShuffleNet's channel shuffle: view N×C×H×W as N×g×(C/g)×H×W, swap the two channel
 * axes, flatten back. Its adjoint is the shuffle with C/g groups.
 */
export function channelShuffle(x: Tensor, groups: number): Tensor {
  checkArg('channel_shuffle', 'x', x, { ndim: 4 });
  const C = x.shape[1];
  check(Number.isInteger(groups) && groups >= 1 && C % groups === 0, 'EINVAL', 'channel_shuffle',
    () => `'groups' must be a positive divisor of the ${C} channels, got ${show(groups)}`);
  const [y] = runOp('channel_shuffle', [x], { groups }, [{ shape: x.shape, dtype: x.dtype }], ['x']);
  record('channel_shuffle', [x], [y], ([dy]) => [channelShuffle(dy!, C === 0 ? 1 : C / groups)]);
  return y;
}

/** Permutes the dims (PyTorch `x.permute(perm)`), materialised contiguously; up to 6 dims. */
export function transpose(x: Tensor, perm: readonly number[]): Tensor {
  checkArg('transpose', 'x', x);
  check(x.ndim <= 6, 'ESHAPE', 'transpose', () => `at most 6 dims, got ${x.ndim}`);
  check(isList(perm) && perm.length === x.ndim && perm.every((p) => Number.isInteger(p) && p >= 0 && p < x.ndim)
    && new Set(perm).size === perm.length, 'EINVAL', 'transpose',
    `'perm' must be a permutation of 0..${x.ndim - 1}, got ${JSON.stringify(perm)}`);
  const shape = perm.map((p) => x.shape[p]);
  const [y] = runOp('transpose', [x], { perm: [...perm] }, [{ shape, dtype: x.dtype }], ['x']);
  const inverse = new Array<number>(perm.length);
  perm.forEach((p, i) => (inverse[p] = i));
  record('transpose', [x], [y], ([dy]) => [transpose(dy!, inverse)]);
  return y;
}

/**
 * Constant padding of the last two dims by [top, bottom, left, right] (each ≥ 0), as
 * PyTorch `F.pad(x, (left, right, top, bottom), value=value)`. Asymmetric pads give
 * TF-style "same" convolutions. The vjp crops.
 */
export function pad2d(x: Tensor, pads: readonly [number, number, number, number] | readonly number[], value = 0): Tensor {
  checkArg('pad2d', 'x', x, { dtype: 'float32' });
  check(x.ndim >= 2, 'ESHAPE', 'pad2d', () => `'x' must have at least 2 dims, got shape ${shapeStr(x.shape)}`);
  check(isList(pads) && pads.length === 4 && pads.every((p) => Number.isInteger(p) && p >= 0), 'EINVAL', 'pad2d',
    () => `'pads' must be [top, bottom, left, right] of non-negative integers, got ${JSON.stringify(pads)}`);
  // ±Infinity as F.pad takes it (−∞ borders before a max pool: TF's "same" pooling); NaN is refused
  check(typeof value === 'number' && !Number.isNaN(value), 'EINVAL', 'pad2d', () => `'value' must be a number (±Infinity included), got ${show(value)}`);
  const [top, bottom, left, right] = pads;
  const n = x.ndim;
  const shape = [...x.shape];
  shape[n - 2] += top + bottom;
  shape[n - 1] += left + right;
  const p = [top, bottom, left, right];
  const [y] = runOp('pad2d', [x], { pads: p, value }, [{ shape }], ['x']);
  record('pad2d', [x], [y], ([dy]) => runOp('pad2d_bwd', [dy!], { pads: p }, [{ shape: x.shape }], ['dy']));
  return y;
}
