/**
 * Constant padding of the last two dims by [top, bottom, left, right] (each ≥ 0), as
 * PyTorch `F.pad(x, (left, right, top, bottom), value=value)`. Asymmetric pads give
 * TF-style "same" convolutions (EfficientNet-b1-pruned). The vjp crops.
 *
 *   pad2d(x, [0, 1, 0, 1])
 */
import { record } from '../autograd/tape';
import { check, isList } from '../errors';
import { shapeStr, Tensor } from '../tensor';
import { checkArg, checkNumber, runOp } from './op';

export function pad2d(x: Tensor, pads: readonly [number, number, number, number] | readonly number[], value = 0): Tensor {
  checkArg('pad2d', 'x', x, { dtype: 'float32' });
  check(x.ndim >= 2, 'ESHAPE', 'pad2d', () => `'x' must have at least 2 dims, got shape ${shapeStr(x.shape)}`);
  check(isList(pads) && pads.length === 4 && pads.every((p) => Number.isInteger(p) && p >= 0), 'EINVAL', 'pad2d',
    () => `'pads' must be [top, bottom, left, right] of non-negative integers, got ${JSON.stringify(pads)}`);
  checkNumber('pad2d', 'value', value);
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
