import { record } from '../autograd/tape';
import { check, isList, show } from '../errors';
import { native } from '../native/binding';
import { shapeStr, Tensor } from '../tensor';
import { checkArg, notifyObservers } from './op';

/**
 * The same data with a new shape (a view: no copy). One dimension may be -1.
 *   reshape(x, [x.shape[0], -1])
 */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  checkArg('reshape', 'x', x);
  // a number was a raw TypeError (not iterable), and '6' was spread into ['6'], refused as "invalid shape [6]"
  check(isList(shape), 'EINVAL', 'reshape', () => `'shape' must be an array of integers (one may be -1), got ${show(shape)}`);
  const s = [...shape];
  const neg = s.filter((d) => d === -1).length;
  check(neg <= 1 && s.every((d) => Number.isInteger(d) && d >= -1), 'ESHAPE', 'reshape',
    () => `invalid shape ${show(s)}: integers >= 0, and at most one -1`);
  const known = s.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  if (neg) {
    check(known > 0 && x.size % known === 0, 'ESHAPE', 'reshape', () => `cannot reshape ${shapeStr(x.shape)} to ${shapeStr(s)}`);
    s[s.indexOf(-1)] = x.size / known;
  }
  check(s.reduce((a, b) => a * b, 1) === x.size, 'ESHAPE', 'reshape', () => `cannot reshape ${shapeStr(x.shape)} (${x.size} elements) to ${shapeStr(s)}`);
  const id = native().view(x.id, s);
  const y = new Tensor(id, s, x.dtype, x.device);
  notifyObservers({ op: 'reshape', inputs: [x], outputs: [y], attrs: { shape: s } });
  record('reshape', [x], [y], ([g]) => [reshape(g!, x.shape)]);
  return y;
}

/** Flattens dims [startDim, end) into one: flatten(x, 1) turns N×C×1×1 into N×C. */
export function flatten(x: Tensor, startDim = 1): Tensor {
  checkArg('flatten', 'x', x);
  // flatten(x, '1') and flatten(x, 1.5) ran (slice() coerces them)
  check(Number.isInteger(startDim), 'EINVAL', 'flatten', () => `startDim ${show(startDim)} is not an integer`);
  check(startDim >= 0 && startDim < Math.max(1, x.ndim), 'EINVAL', 'flatten', () => `startDim ${startDim} out of range for ${x.ndim} dims`);
  const lead = x.shape.slice(0, startDim);
  return reshape(x, [...lead, x.shape.slice(startDim).reduce((a, b) => a * b, 1)]);
}
