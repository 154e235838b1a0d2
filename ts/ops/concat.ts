/**
 * Concatenation along `axis` (default 1, channels): DenseNet's feature stacking,
 * GoogLeNet's inception branches. Inputs agree in dtype and in every dim but `axis`.
 *
 *   concat([a, b, c])         // N×(Ca+Cb+Cc)×H×W
 */
import { record } from '../autograd/tape';
import { check } from '../errors';
import { shapeStr, Tensor } from '../tensor';
import { checkArg, normAxis, runOp } from './op';
import { split } from './split';

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
